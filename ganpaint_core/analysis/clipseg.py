"""CLIPSeg: where a concept typed by name is, for dissecting concepts no closed-set segmenter has.

Example::

    seg = ClipSegSegmenter.load(device="cuda")                   # CIDAS/clipseg-rd64-refined, downloaded once
    masks = seg.segment_text(images, ["dome", "statue"])         # bool [N, 2, H, W]
    seg.measurer("statue")                                      # what dissection measures "statue" with

CLIPSeg (Lüddecke & Ecker, CVPR 2022) conditions a small transformer decoder on a CLIP ViT-B/16's
activations and a text prompt; it answers one sigmoid mask per (image, prompt), so masks of several names
overlap freely. Through ``transformers`` (``pip install .[dissect]``); the Hub checkpoint
``CIDAS/clipseg-rd64-refined`` is Apache-2.0 (its model card), ~150 M parameters, a 603 MB
``pytorch_model.bin`` (read ``weights_only`` by transformers). The prompt is the concept's name as typed.

``transformers``' own forward runs the CLIP image encoder under ``torch.no_grad``; dissection's causal
search needs gradients with respect to the image, so :meth:`ClipSegSegmenter.logits` calls the same parts
itself (image encoder with its hidden states, text encoder, decoder) — equal to the library's forward,
which a test checks — and runs the image encoder once for all the names asked.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.nn import functional as F

from ganpaint_core.analysis.scene_segmenter import SceneSegmenter
from ganpaint_core.analysis.segmenter_files import checkpoint_folder, folder_fingerprint, require_transformers
from ganpaint_core.core.errors import GanpaintError

CLIPSEG_REPO = "CIDAS/clipseg-rd64-refined"  # Apache-2.0 (Hub model card); ~150 M parameters, 603 MB
CLIPSEG_REVISION = "main"
CLIPSEG_FILES = (("config.json",), ("preprocessor_config.json",), ("tokenizer_config.json",), ("vocab.json",),
                 ("merges.txt",), ("special_tokens_map.json",))  # what the Hub repo holds besides the weights
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")
THRESHOLD = 0.5  # CLIPSeg is trained with a per-pixel binary cross-entropy: 0.5 is its own decision boundary
SEGMENT_CHUNK = 16  # images per no-grad pass of segment_text (352 px, ViT-B/16: ~1 GB of activations)

Tokenize = Callable[[Sequence[str]], tuple[torch.Tensor, torch.Tensor]]  # names -> input_ids, attention_mask [K, L]


class ClipSegSegmenter(SceneSegmenter):
    """Open-vocabulary segmenter: a mask for any concept name; it has no labels of its own (only ``other``).

    Example::

        seg = ClipSegSegmenter.load("path/to/clipseg-folder")     # save_pretrained output, or a Hub repo id
        seg.text_probabilities(images, ["cloud"])                # [N, 1, H, W], differentiable
    """

    open_vocabulary = True

    def __init__(self, model: torch.nn.Module, tokenize: Tokenize, *, size: tuple[int, int],
                 mean: tuple[float, ...], std: tuple[float, ...], fingerprint: str,
                 threshold: float = THRESHOLD) -> None:
        self.name = "clipseg"
        self.model = model.eval().requires_grad_(False)
        self.tokenize = tokenize  # names -> (input_ids, attention_mask); the checkpoint's tokenizer by default
        self.device = next(model.parameters()).device
        self.size = size  # (height, width) the model sees
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self.threshold = threshold  # sigmoid probability above which a pixel shows the concept
        self.label_names = ("other",)
        self.concepts = ()
        self.sources = {}
        self.fingerprint = f"{fingerprint}|threshold={threshold:g}"

    @classmethod
    def load(cls, source: str | Path | None = None, *, device: torch.device | str = "cpu") -> "ClipSegSegmenter":
        """From a local folder (``save_pretrained`` output with its tokenizer and image processor) or a Hub repo
        ``owner/name[@revision]`` (default :data:`CLIPSEG_REPO`)."""
        require_transformers("clipseg")
        folder = checkpoint_folder("clipseg", str(source or f"{CLIPSEG_REPO}@{CLIPSEG_REVISION}"), what="CLIPSeg",
                                   files=CLIPSEG_FILES, size="about 600 MB", source_flag="--text-segmenter-source")
        from transformers import AutoTokenizer, CLIPSegForImageSegmentation, ViTImageProcessor  # slow import: last

        fingerprint = folder_fingerprint("clipseg", folder, extra=TOKENIZER_FILES)  # also checks the weights
        try:
            model = CLIPSegForImageSegmentation.from_pretrained(str(folder), local_files_only=True)
            processor = ViTImageProcessor.from_pretrained(str(folder), local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise GanpaintError(f"clipseg: cannot load {folder} ({str(exc).splitlines()[0][:160]})") from None
        model = model.to(device)

        def tokenize(names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
            enc = tokenizer(list(names), padding=True, return_tensors="pt")
            return enc["input_ids"].to(model.device), enc["attention_mask"].to(model.device)

        size = (int(processor.size["height"]), int(processor.size["width"]))
        return cls(model, tokenize, size=size, mean=tuple(processor.image_mean), std=tuple(processor.image_std),
                   fingerprint=fingerprint)

    def knows(self, name: str) -> bool:
        return bool(name.strip())

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``[N, 3, H, W]`` in [-1, 1] -> ``pixel_values`` ``[N, 3, size]`` (its ViT image processor's
        resize, rescale and normalisation, in torch so that a batch stays on the device and keeps its gradient)."""
        x = (images.to(self.device, torch.float32).clamp(-1, 1) + 1) / 2  # [N, 3, H, W] in [0, 1]
        h, w = x.shape[-2:]
        x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False,
                          antialias=self.size[0] < h or self.size[1] < w)
        return (x - self.mean) / self.std

    def logits(self, images: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
        """Mask logits ``[N, len(names), size]`` at the model's resolution; differentiable w.r.t. ``images``."""
        m = self.model
        n, k = images.shape[0], len(names)
        vision = m.clip.vision_model(pixel_values=self.preprocess(images), interpolate_pos_encoding=True,
                                     output_hidden_states=True)
        # hidden_states[0] is the patch embedding, so layer i's output is [i + 1] (as CLIPSeg's forward reads it)
        activations = [vision.hidden_states[i + 1].repeat_interleave(k, dim=0) for i in m.extract_layers]
        input_ids, attention_mask = self.tokenize(names)
        with torch.no_grad():
            text = m.clip.get_text_features(input_ids, attention_mask=attention_mask).pooler_output  # [K, D]
        logits = m.decoder(activations, text.repeat(n, 1)).logits  # [N*K, h, w], sample-major
        return logits.reshape(n, k, *logits.shape[-2:])

    def text_probabilities(self, images: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
        p = torch.sigmoid(self.logits(images, names))  # [N, K, size]
        return F.interpolate(p, size=images.shape[-2:], mode="bilinear", align_corners=False)

    @torch.no_grad()
    def segment_text(self, images: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
        return torch.cat([self.text_probabilities(images[i : i + SEGMENT_CHUNK], names) > self.threshold
                          for i in range(0, len(images), SEGMENT_CHUNK)])

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """Every pixel ``other``: CLIPSeg has no classes of its own (ask by name with :meth:`segment_text`)."""
        n, _, h, w = images.shape
        return torch.zeros(n, h, w, dtype=torch.long, device=self.device)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        return torch.ones(n, 1, h, w, device=self.device)
