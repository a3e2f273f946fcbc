"""The scene segmenter network: a small U-Net that labels images, and its weight file.

Example::

    seg = load_segmenter(Path("weights/synth-church/segmenter.safetensors"))
    ids = seg.predict(images)          # [N, 3, H, W] in [-1, 1] -> [N, H, W] int64
    seg.labels                         # ("other", "sky", "cloud", …): label id -> name, from the file

The file carries the config and the label names in its safetensors metadata, so whoever loads it needs
nothing else to read its output. Training lives in :mod:`ganpaint_core.training.segmenter`.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.core.errors import CheckpointError
from ganpaint_core.models.checkpoint import read_with_config, save_with_config

__all__ = ["Segmenter", "SegmenterConfig", "load_segmenter", "save_segmenter"]

KIND = "ganpaint.segmenter"  # the metadata "kind" of a segmenter file


@dataclass(frozen=True)
class SegmenterConfig:
    """Architecture, training schedule and augmentation of the scene segmenter.

    Example::

        cfg = SegmenterConfig(steps=300, batch=16)      # a quick, rough model
        seg = Segmenter(cfg)
    """

    resolution: int = 64  # training side in pixels; at inference any side that is a multiple of 2**(len(widths) - 1)
    widths: tuple[int, ...] = (16, 32, 64, 128)  # channels per level, full side first; each next level halves the side
    num_classes: int = 8  # output labels (the bundled model: the scenes' eight labels)
    steps: int = 1500  # optimiser steps (~5 min on one CPU thread at the defaults)
    batch: int = 32  # images per step
    lr: float = 3e-3  # peak AdamW learning rate (one-cycle: warm-up, then cosine decay to 0)
    weight_decay: float = 1e-4  # AdamW weight decay
    jitter: float = 0.1  # strength of brightness/contrast/saturation jitter (0 disables)
    blur: float = 0.5  # chance that an image is blurred by a random amount in [0, 1] of a 3x3 Gaussian
    noise: float = 0.04  # largest std of additive Gaussian noise, in [-1, 1] units
    paste: float = 0.5  # chance that an image gets a square from another image pasted in (copy-paste), labels and all
    seed: int = 0  # seeds initialisation, batch order and augmentation

    def __post_init__(self) -> None:
        if not self.widths:
            raise ValueError("widths is empty: give at least one encoder width, e.g. (32, 64, 128)")
        if self.resolution % (2 ** (len(self.widths) - 1)):
            raise ValueError(f"resolution {self.resolution} is not a multiple of {2 ** (len(self.widths) - 1)} "
                             f"(2**(len(widths) - 1)): pick another resolution or fewer widths")


def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class _Up(nn.Module):
    """Decoder level: upsample the coarser map 2x, add the skip connection, refine with one conv."""

    def __init__(self, c_coarse: int, c_skip: int) -> None:
        super().__init__()
        # Project before upsampling (cheap at the coarse scale), then add: no wide concatenation at full res.
        self.project = nn.Sequential(nn.Conv2d(c_coarse, c_skip, 1, bias=False), nn.BatchNorm2d(c_skip))
        self.refine = nn.Sequential(*_conv_bn_relu(c_skip, c_skip))

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.project(coarse), scale_factor=2.0, mode="nearest")
        return self.refine(torch.relu(up + skip))


class Segmenter(nn.Module):
    """U-Net scene parser: images in [-1, 1] -> per-pixel logits over the scene labels.

    Example::

        seg = load_segmenter(Path("runs/segmenter/segmenter.safetensors"))
        labels = seg.predict(images)          # [N, 3, H, W] in [-1, 1] -> [N, H, W] int64
        seg.labels[labels[0, 10, 20]]         # e.g. "sky": label id -> name, from the file's metadata
        feats = seg.features(images)          # [N, 2 * widths[-1]] for Fréchet distances

    Level ``i`` runs at 1/2**i of the input side with ``widths[i]`` channels: two 3x3 conv-BN-ReLU
    layers, after a 2x max-pool for every level but the first. The last level is the bottleneck
    (1/8 of the side at the default four widths). Each decoder level projects the coarser map to the
    finer width, upsamples it, adds the skip connection and refines with one conv. Input sides must
    be multiples of :attr:`stride` (8 at the defaults). A narrow full-resolution level keeps it at
    about 2 ms per 64-px image on one CPU thread.
    """

    def __init__(self, config: SegmenterConfig | None = None, *, labels: Sequence[str] | None = None) -> None:
        super().__init__()
        self.config = config or SegmenterConfig()
        n = self.config.num_classes
        # label id -> name; a segmenter built without names calls its labels by number
        self.labels: tuple[str, ...] = tuple(labels) if labels is not None else tuple(str(i) for i in range(n))
        if len(self.labels) != n:
            raise ValueError(f"{len(self.labels)} label names for {n} classes: give one name per class")
        w = self.config.widths
        self.encoders = nn.ModuleList(
            nn.Sequential(*_conv_bn_relu(c_in, c_out), *_conv_bn_relu(c_out, c_out))
            for c_in, c_out in zip((3, *w[:-1]), w)
        )
        self.decoders = nn.ModuleList(_Up(w[i + 1], w[i]) for i in reversed(range(len(w) - 1)))
        self.head = nn.Conv2d(w[0], self.config.num_classes, 1)

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** (len(self.config.widths) - 1)

    def _check(self, images: torch.Tensor) -> None:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [N, 3, H, W] in [-1, 1], got shape {tuple(images.shape)}")
        h, w = images.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(f"image size {h}x{w} is not a multiple of {self.stride}: resize or crop it")

    def _encode(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        self._check(images)
        skips = []
        x = images.contiguous(memory_format=torch.channels_last)  # oneDNN's fast layout on CPU
        for i, enc in enumerate(self.encoders):
            x = enc(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        return x, skips[:-1]  # bottleneck [N, widths[-1], H / stride, W / stride], finer levels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images float [N, 3, H, W] in [-1, 1] -> logits [N, num_classes, H, W]."""
        x, skips = self._encode(images)
        for dec, skip in zip(self.decoders, reversed(skips)):
            x = dec(x, skip)
        return self.head(x).contiguous()  # [N, num_classes, H, W], standard layout

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Images [N, 3, H, W] in [-1, 1] -> [N, 2 * widths[-1]]: spatial mean and std of the bottleneck."""
        with torch.no_grad():
            x, _ = self._encode(images)
            return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3), unbiased=False)], dim=1)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Images [N, 3, H, W] in [-1, 1] -> labels [N, H, W] int64 (argmax of the logits)."""
        with torch.no_grad():
            return self(images).argmax(dim=1)


def _config_from_dict(d: dict[str, Any]) -> SegmenterConfig:
    known = {f.name for f in fields(SegmenterConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise CheckpointError(f"segmenter config has unknown fields {unknown}: the file is from a newer version")
    return SegmenterConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def save_segmenter(seg: Segmenter, path: Path) -> None:
    """Write the weights as safetensors with the config and the label names (JSON) in the metadata; atomic."""
    save_with_config(seg, path, kind=KIND, config=asdict(seg.config), labels=json.dumps(list(seg.labels)))


def load_segmenter(path: Path, *, device: torch.device | str = "cpu",
                   labels: Sequence[str] | None = None) -> Segmenter:
    """Read a file written by :func:`save_segmenter`: strict load, float32, eval mode, on ``device``.

    The label names come from the file; ``labels`` names them for a file written before they were saved
    (save it again with :func:`save_segmenter` to keep them).
    """
    path = Path(path)
    state, meta = read_with_config(path, missing_hint="train one with train_segmenter and save_segmenter")
    if "config" not in meta:
        raise CheckpointError(f"{path}: no segmenter config in its metadata; write it with save_segmenter")
    if "labels" in meta:
        labels = json.loads(meta["labels"])
    elif labels is None:
        raise CheckpointError(f"{path}: no label names in its metadata (a file from before they were saved); "
                              "load it with load_segmenter(path, labels=[...]) and save it again with save_segmenter")
    config = _config_from_dict(json.loads(meta["config"]))
    try:
        seg = Segmenter(config, labels=labels)
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    try:
        seg.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the segmenter config ({exc})") from None
    return seg.to(device).eval()
