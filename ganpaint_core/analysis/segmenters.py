"""Scene segmenters for dissection, found through one registry: the bundled synth-church U-Net, a Hub SegFormer
(ADE20K) and CLIPSeg (any concept by name; :mod:`ganpaint_core.analysis.clipseg`).

Example::

    seg = load_scene_segmenter("synth-church", device="cpu")
    labels = seg.segment(images)          # [N, 3, H, W] in [-1, 1] -> [N, H, W] int64, ids into seg.label_names
    seg.concepts                          # what dissection ranks units for by default
    seg.sources["tree"]                   # the segmenter's own classes merged into "tree"

Dissection needs label maps whose names are the project's concepts (``tree``, ``grass``, ``door``, ``sky``,
``cloud``, ``brick``, ``dome``, plus whatever else a segmenter can see). Each segmenter maps its own
classes onto such names; label 0 is ``other``, everything it does not name.

``segformer-ade20k`` is SegFormer fine-tuned on ADE20K's 150 scene-parsing classes (NVIDIA, on the
Hugging Face Hub; needs ``pip install .[dissect]``). ADE20K-150 has no ``cloud`` (clouds are part of
``sky``), no ``dome`` and no ``brick`` (a material, not an object): :func:`with_text_segmenter` adds CLIPSeg
for those, and for any other name typed (see :mod:`ganpaint_core.analysis.scene_segmenter` for the protocol).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from ganpaint_core.analysis.clipseg import ClipSegSegmenter
from ganpaint_core.analysis.scene_segmenter import (
    GANPAINT_CONCEPTS,
    CompositeSegmenter,
    ConceptView,
    SceneSegmenter,
)
from ganpaint_core.analysis.segmenter_files import (
    checkpoint_folder,
    folder_fingerprint,
    require_transformers,
)
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.models.segmenter import Segmenter, load_segmenter

__all__ = ["GANPAINT_CONCEPTS", "SEGMENTERS", "ClipSegSegmenter", "CompositeSegmenter", "ConceptView",
           "SceneSegmenter", "SegformerADE20KSegmenter", "SynthChurchSegmenter", "load_scene_segmenter",
           "segmenter_for", "with_text_segmenter"]

log = logging.getLogger(__name__)

SEGFORMER_ADE20K_REPO = "nvidia/segformer-b0-finetuned-ade-512-512"  # 3.7 M parameters, ~15 MB; licence: NVIDIA's ("other")
SEGFORMER_ADE20K_REVISION = "main"

# Concept -> the ADE20K-150 class names (as in the checkpoint's id2label) merged into it. GANPaint's concepts
# first; then classes that church scenes show, so that a real church generator's other units get names too.
ADE20K_CONCEPTS: dict[str, tuple[str, ...]] = {
    "tree": ("tree", "palm"),
    "grass": ("grass",),
    "door": ("door",),
    "sky": ("sky",),
    "building": ("building", "house", "skyscraper"),
    "tower": ("tower",),
    "window": ("windowpane",),
    "wall": ("wall",),
    "column": ("column",),
    "road": ("road", "sidewalk", "path"),
    "stairs": ("stairs", "stairway", "step"),
    "fence": ("fence", "railing"),
    "plant": ("plant", "flower"),
    "field": ("field",),
    "earth": ("earth", "sand", "land"),
    "rock": ("rock",),
    "mountain": ("mountain", "hill"),
    "water": ("water", "sea", "river", "lake"),
    "person": ("person",),
    "car": ("car",),
}
ADE20K_DEFAULT_CONCEPTS = ("tree", "grass", "door", "sky", "building", "tower", "window")


# ----------------------------------------------------------------------------------------------
# synth-church: the bundled U-Net


class SynthChurchSegmenter(SceneSegmenter):
    """The U-Net trained with the synth-church suite; its labels are the scenes' concepts already.

    Example::

        seg = SynthChurchSegmenter.load(device="cpu")                  # the bundled file, sha256-verified
        seg = SynthChurchSegmenter.load(Path("runs/synth-church/segmenter.safetensors"))
    """

    def __init__(self, model: Segmenter, *, fingerprint: str) -> None:
        self.name = "synth-church"
        self.model = model.eval().requires_grad_(False)
        self.label_names = tuple(model.labels)  # from the file's metadata
        self.concepts = tuple(n for n in self.label_names if n != "other")
        self.sources = {c: (c,) for c in self.concepts}
        self.fingerprint = fingerprint
        self.device = next(model.parameters()).device

    @classmethod
    def load(cls, source: Path | None = None, *, device: torch.device | str = "cpu") -> "SynthChurchSegmenter":
        """From ``source`` (a segmenter .safetensors file), or the synth-church model's own (verified) file."""
        from ganpaint_core.hub.fetch import fetch, sha256_file, verify_file
        from ganpaint_core.hub.registry import Registry

        if source is None:
            manifest = Registry.scan().get("synth-church")
            if "segmenter" not in manifest.files:
                raise GanpaintError(f"{manifest.folder / 'model.json'} names no segmenter file")
            path = fetch(manifest, "segmenter")
            sha = verify_file(path, manifest, manifest.files["segmenter"])
        else:
            path = Path(source)
            sha = sha256_file(path)
        model = load_segmenter(path, device=device)
        return cls(model, fingerprint=f"synth-church-unet:{sha}")

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        # Generated images overshoot [-1, 1] a little; the U-Net was trained on renders inside it.
        return self.model.predict(images.to(self.device).clamp(-1, 1))

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images.to(self.device).clamp(-1, 1)).softmax(dim=1)


# ----------------------------------------------------------------------------------------------
# segformer-ade20k: a Hub SegFormer through transformers (optional extra)


class SegformerADE20KSegmenter(SceneSegmenter):
    """SegFormer (ADE20K-150) with its classes merged into concepts; batches on the device.

    Example::

        seg = SegformerADE20KSegmenter.load(device="cuda")                     # the Hub checkpoint
        seg = SegformerADE20KSegmenter.load("path/to/saved-model-folder")       # save_pretrained output

    Preprocessing follows the checkpoint's image processor (resize to its size, bilinear; ImageNet mean
    and std), done in torch so that a batch stays on the device. Logits are upsampled to the input size
    before the argmax over all classes, then mapped to concept ids.
    """

    def __init__(self, model: torch.nn.Module, *, size: tuple[int, int], mean: tuple[float, ...],
                 std: tuple[float, ...], fingerprint: str, concepts: dict[str, tuple[str, ...]] | None = None,
                 default_concepts: tuple[str, ...] = ADE20K_DEFAULT_CONCEPTS) -> None:
        self.name = "segformer-ade20k"
        self.model = model.eval().requires_grad_(False)
        self.device = next(model.parameters()).device
        self.size = size  # (height, width) the model sees
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self.sources = dict(concepts or ADE20K_CONCEPTS)
        id2label = {int(k): str(v).strip() for k, v in model.config.id2label.items()}
        by_name = {v: k for k, v in id2label.items()}
        missing = sorted({c for names in self.sources.values() for c in names} - set(by_name))
        if missing:
            raise GanpaintError(f"segformer-ade20k: the checkpoint has no class {', '.join(map(repr, missing))}: "
                                "it is not an ADE20K-150 SegFormer")
        self.label_names = ("other", *self.sources)
        lut = torch.zeros(max(id2label) + 1, dtype=torch.long)  # ADE class id -> concept label id, 0 = other
        for label, names in enumerate(self.sources.values(), start=1):
            for name in names:
                lut[by_name[name]] = label
        self.lut = lut.to(self.device)
        self.concepts = tuple(c for c in default_concepts if c in self.sources)
        self.fingerprint = fingerprint

    @classmethod
    def load(cls, source: str | Path | None = None, *, device: torch.device | str = "cpu") -> "SegformerADE20KSegmenter":
        """From a local folder (``save_pretrained`` output) or a Hub repo ``owner/name[@revision]``."""
        require_transformers("segformer-ade20k")
        folder = checkpoint_folder("segformer-ade20k", str(source or f"{SEGFORMER_ADE20K_REPO}@{SEGFORMER_ADE20K_REVISION}"),
                                   what="SegFormer", files=[("config.json",), ("preprocessor_config.json",)],
                                   size="about 15 MB",
                                   source_flag="--segmenter-source")
        from transformers import SegformerForSemanticSegmentation, SegformerImageProcessor  # slow import: last

        fingerprint = folder_fingerprint("segformer-ade20k", folder)  # also checks the weights are there
        try:
            model = SegformerForSemanticSegmentation.from_pretrained(str(folder), local_files_only=True)
            processor = SegformerImageProcessor.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise GanpaintError(f"segformer-ade20k: cannot load {folder} ({str(exc).splitlines()[0][:160]})") from None
        size = processor.size
        size = (int(size["height"]), int(size["width"]))
        return cls(model.to(device), size=size, mean=tuple(processor.image_mean), std=tuple(processor.image_std),
                   fingerprint=fingerprint)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``[N, 3, H, W]`` in [-1, 1] -> the model's ``pixel_values`` ``[N, 3, size]`` (what its processor does)."""
        x = (images.to(self.device, torch.float32).clamp(-1, 1) + 1) / 2  # [N, 3, H, W] in [0, 1]
        h, w = x.shape[-2:]
        x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False,
                          antialias=self.size[0] < h or self.size[1] < w)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        x = self.preprocess(images)
        classes = self.lut.numel()
        # Upsampled logits are [n, classes, h, w] floats: keep each chunk under ~256 MB.
        chunk = max(1, (1 << 28) // (classes * h * w * 4))
        out = []
        for i in range(0, n, chunk):
            logits = self.model(pixel_values=x[i : i + chunk]).logits  # [c, classes, size/4, size/4]
            logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
            out.append(self.lut[logits.argmax(dim=1)])
        return torch.cat(out)  # [N, H, W]

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        probs = self.model(pixel_values=self.preprocess(images)).logits.softmax(dim=1)  # [N, classes, h', w']
        merged = probs.new_zeros(n, len(self.label_names), *probs.shape[-2:])
        merged = merged.index_add(1, self.lut, probs)  # each ADE class's probability goes to its concept
        return F.interpolate(merged, size=(h, w), mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------------------------

SEGMENTERS: dict[str, type[SceneSegmenter]] = {
    "synth-church": SynthChurchSegmenter,
    "segformer-ade20k": SegformerADE20KSegmenter,
    "clipseg": ClipSegSegmenter,
}
TEXT_SEGMENTERS = tuple(k for k, kind in SEGMENTERS.items() if kind.open_vocabulary)  # those that read names


def load_scene_segmenter(name: str, *, source: str | Path | None = None,
                         device: torch.device | str = "cpu") -> SceneSegmenter:
    """The segmenter called ``name`` (see :data:`SEGMENTERS`), from its default weights or ``source``."""
    if name not in SEGMENTERS:
        raise GanpaintError(f"unknown segmenter {name!r}; choose one of {', '.join(SEGMENTERS)}")
    return SEGMENTERS[name].load(source, device=device)


def segmenter_for(model: Any, *, device: torch.device | str = "cpu") -> SceneSegmenter:
    """The segmenter to dissect ``model`` with: the one its manifest ships (a synth-church U-Net, labels =
    the scenes' concepts), else SegFormer ADE20K (``pip install .[dissect]``; downloaded once)."""
    path = getattr(model, "paths", {}).get("segmenter")
    if path is not None:
        return SynthChurchSegmenter.load(Path(path), device=device)
    return SegformerADE20KSegmenter.load(None, device=device)


def with_text_segmenter(segmenter: SceneSegmenter, names: Sequence[str], *, text: SceneSegmenter | None = None,
                        text_kind: str = "clipseg", text_source: str | Path | None = None) -> SceneSegmenter:
    """``segmenter`` when it knows every name in ``names``, else it composed with an open-vocabulary segmenter
    for the rest: ``text``, or the one :data:`SEGMENTERS` calls ``text_kind`` (loaded from ``text_source`` or
    its Hub checkpoint). One error, saying how to get the text segmenter, when it cannot be loaded."""
    unknown = [n for n in names if not segmenter.knows(n)]
    if not unknown:
        return segmenter
    if text is None:
        if text_kind not in TEXT_SEGMENTERS:
            raise GanpaintError(f"{text_kind!r} cannot read concept names; choose one of {', '.join(TEXT_SEGMENTERS)}")
        try:
            text = load_scene_segmenter(text_kind, source=text_source, device=segmenter.device)
        except GanpaintError as exc:
            raise GanpaintError(f"the {segmenter.name} segmenter has no {', '.join(unknown)}, and the text segmenter "
                                f"that would find {'it' if len(unknown) == 1 else 'them'} by name is not available: "
                                f"{exc}") from None
    return CompositeSegmenter(segmenter, text)
