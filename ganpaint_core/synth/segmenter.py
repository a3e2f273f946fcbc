"""A small U-Net that labels church scenes (renders and GAN samples) with the scene's concept labels.

Example::

    from pathlib import Path
    from ganpaint_core.synth.scenes import render_batch
    from ganpaint_core.synth.segmenter import SegmenterConfig, evaluate_segmenter, train_segmenter

    images, labels = render_batch(range(1_000_000, 1_004_000), resolution=64)
    seg = train_segmenter(SegmenterConfig(), images, labels, out_dir=Path("runs/segmenter"))
    evaluate_segmenter(seg, *render_batch(range(5_000_000, 5_000_500), resolution=64))["miou"]

It stands in for the scene parser of GAN Dissection: it measures concept shares in GAN samples, gives
the concept masks that units are matched against, and its pooled bottleneck features feed a
Fréchet distance between samples and renders. Training adds mild colour jitter, blur, noise and
flips, so that the small artefacts of GAN samples do not throw it off, and pastes squares and shapes of
one render into another (copy-paste), so that it reads a region by what is in it rather than by where it
is: an edit that paints grass into the sky should be measured as grass.
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.checkpoint import read_with_config, save_with_config
from ganpaint_core.errors import CheckpointError
from ganpaint_core.metrics import confusion_matrix, iou_from_confusion
from ganpaint_core.synth.gan import to_unit_range  # re-exported: the segmenter's input convention
from ganpaint_core.synth.scenes import LABELS

__all__ = ["Segmenter", "SegmenterConfig", "evaluate_segmenter", "load_segmenter", "save_segmenter",
           "train_segmenter", "to_unit_range"]

log = logging.getLogger(__name__)

_CHECKPOINT = "segmenter.pt"


@dataclass(frozen=True)
class SegmenterConfig:
    """Architecture, training schedule and augmentation of the scene segmenter.

    Example::

        cfg = SegmenterConfig(steps=300, batch=16)      # a quick, rough model
        seg = Segmenter(cfg)
    """

    resolution: int = 64  # training side in pixels; at inference any side that is a multiple of 2**(len(widths) - 1)
    widths: tuple[int, ...] = (16, 32, 64, 128)  # channels per level, full side first; each next level halves the side
    num_classes: int = 8  # output labels (LABELS of synth.scenes)
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
        feats = seg.features(images)          # [N, 2 * widths[-1]] for Fréchet distances

    Level ``i`` runs at 1/2**i of the input side with ``widths[i]`` channels: two 3x3 conv-BN-ReLU
    layers, after a 2x max-pool for every level but the first. The last level is the bottleneck
    (1/8 of the side at the default four widths). Each decoder level projects the coarser map to the
    finer width, upsamples it, adds the skip connection and refines with one conv. Input sides must
    be multiples of :attr:`stride` (8 at the defaults). A narrow full-resolution level keeps it at
    about 2 ms per 64-px image on one CPU thread.
    """

    def __init__(self, config: SegmenterConfig | None = None) -> None:
        super().__init__()
        self.config = config or SegmenterConfig()
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


# ----------------------------------------------------------------------------------------------
# Training


def _lr_at(cfg: SegmenterConfig, step: int) -> float:
    """One-cycle schedule: linear warm-up over 5% of the steps, then cosine decay to zero."""
    warm = max(int(0.05 * cfg.steps), 1)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(cfg.steps - warm, 1)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))


_BLUR_KERNEL = torch.tensor([0.25, 0.5, 0.25])


def _copy_paste(x: torch.Tensor, y: torch.Tensor, chance: float,
                rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste a random square of another image of the batch, pixels and labels, at a random place.

    Half of the pastes carry the whole square, half only the pixels of one label in it (a concept's
    shape without its surroundings). Scenes always put domes on churches and grass on the ground, so a
    segmenter trained on renders alone learns to read a region by its context; pasted content teaches
    it to read the region itself, which is what measuring an edit needs (a tree painted into the sky
    is a tree). x [B, 3, H, W] and y [B, H, W] are changed in place and returned.
    """
    b, _, h, w = x.shape
    if b < 2 or chance <= 0:
        return x, y
    src_x, src_y = x.clone(), y.clone()
    for i in np.flatnonzero(rng.random(b) < chance):
        j = int((i + rng.integers(1, b)) % b)  # another image of the batch
        side = int(rng.integers(max(h // 8, 1), max(h // 3, 2) + 1))
        sy, sx, dy, dx = (int(v) for v in rng.integers(0, [h - side + 1, w - side + 1] * 2))
        patch_x = src_x[j, :, sy:sy + side, sx:sx + side]
        patch_y = src_y[j, sy:sy + side, sx:sx + side]
        keep = torch.ones_like(patch_y, dtype=torch.bool)
        present = torch.unique(patch_y).tolist()
        if rng.random() < 0.5 and len(present) > 1:
            keep = patch_y == int(present[rng.integers(len(present))])
        region_x, region_y = x[i, :, dy:dy + side, dx:dx + side], y[i, dy:dy + side, dx:dx + side]
        region_x.copy_(torch.where(keep, patch_x, region_x))
        region_y.copy_(torch.where(keep, patch_y, region_y))
    return x, y


def _augment(x: torch.Tensor, y: torch.Tensor, cfg: SegmenterConfig, rng: np.random.Generator,
             gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy-paste, flip, colour jitter, blur and noise of a batch x [B, 3, H, W] in [-1, 1], labels y [B, H, W]."""
    b = x.shape[0]
    x, y = _copy_paste(x, y, cfg.paste, rng)

    def per_image(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(values.astype(np.float32)).view(b, -1, 1, 1)

    flip = torch.from_numpy(rng.random(b) < 0.5)
    x = torch.where(flip.view(b, 1, 1, 1), x.flip(-1), x)
    y = torch.where(flip.view(b, 1, 1), y.flip(-1), y)
    if cfg.jitter > 0:
        j = cfg.jitter
        grey = x.mean(dim=1, keepdim=True)
        x = grey + (x - grey) * per_image(rng.uniform(1 - 2 * j, 1 + 2 * j, b))  # saturation
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = mean + (x - mean) * per_image(rng.uniform(1 - j, 1 + j, b))  # contrast
        tint = per_image(rng.uniform(1 - j / 2, 1 + j / 2, (b, 3)))
        x = x * tint + per_image(rng.uniform(-j, j, b))  # per-channel tint, then brightness
    if cfg.blur > 0:
        k = (_BLUR_KERNEL[:, None] * _BLUR_KERNEL[None, :]).expand(3, 1, 3, 3)
        blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=3)
        amount = rng.uniform(0, 1, b) * (rng.random(b) < cfg.blur)
        a = per_image(amount)
        x = x * (1 - a) + blurred * a
    if cfg.noise > 0:
        x = x + torch.randn(x.shape, generator=gen) * per_image(rng.uniform(0, cfg.noise, b))
    return x.clamp_(-1.0, 1.0), y


def _config_dict(cfg: SegmenterConfig) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


def _config_from_dict(d: dict[str, Any]) -> SegmenterConfig:
    known = {f.name for f in fields(SegmenterConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise CheckpointError(f"segmenter config has unknown fields {unknown}: the file is from a newer version")
    return SegmenterConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _save_checkpoint(path: Path, cfg: SegmenterConfig, seg: Segmenter, opt: torch.optim.Optimizer,
                     step: int) -> None:
    """Atomic save of a resumable checkpoint (tensors and plain containers only)."""
    payload = {"config": _config_dict(cfg), "model": seg.state_dict(), "optimizer": opt.state_dict(), "step": step}
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def train_segmenter(
    cfg: SegmenterConfig,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    out_dir: Path,
    device: torch.device | str = "cpu",
    resume: bool = True,
    checkpoint_every_s: float = 120.0,
    callback: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> Segmenter:
    """Train on renders: images uint8 [N, R, R, 3], labels uint8 [N, R, R] with R = cfg.resolution.

    Example::

        seg = train_segmenter(SegmenterConfig(), images, labels, out_dir=Path("runs/segmenter"),
                              callback=lambda step, total, info: print(step, info["loss"]))

    Checkpoints go to ``out_dir/segmenter.pt`` every ``checkpoint_every_s`` seconds and at the end;
    with ``resume`` an existing checkpoint of the same config is continued (a finished one is just
    loaded). Batches and augmentation are drawn from ``(cfg.seed, step)``, so a resumed run repeats
    what an uninterrupted one would have done. Returns the model in eval mode, on ``device``.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    r = cfg.resolution
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (r, r, 3):
        raise ValueError(f"images are {images.dtype} {images.shape}: expected uint8 [N, {r}, {r}, 3] "
                         f"(render at cfg.resolution={r} or change it)")
    if labels.shape != images.shape[:3]:
        raise ValueError(f"labels have shape {labels.shape}, images {images.shape}: pass one label map per image")
    if labels.size and int(labels.max()) >= cfg.num_classes:
        raise ValueError(f"labels reach {int(labels.max())}: cfg.num_classes={cfg.num_classes} is too small")
    device = torch.device(device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / _CHECKPOINT

    torch.manual_seed(cfg.seed)
    seg = Segmenter(cfg).to(device)
    opt = torch.optim.AdamW(seg.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = 0
    if resume and ckpt.is_file():
        payload = torch.load(ckpt, map_location=device, weights_only=True)
        if payload["config"] != _config_dict(cfg):
            raise ValueError(f"{ckpt} was trained with another config: delete it or pass resume=False")
        seg.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
        step = int(payload["step"])
        log.info("resumed segmenter from %s at step %d/%d", ckpt, step, cfg.steps)

    data_x = torch.from_numpy(images)
    data_y = torch.from_numpy(labels)
    seg.train()
    last_save = t0 = time.monotonic()
    step0 = step
    while step < cfg.steps:
        rng = np.random.default_rng([cfg.seed, step])
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        idx = torch.from_numpy(rng.integers(0, len(images), cfg.batch))
        x, y = _augment(to_unit_range(data_x[idx]), data_y[idx].long(), cfg, rng, gen)
        lr = _lr_at(cfg, step)
        for group in opt.param_groups:
            group["lr"] = lr
        loss = F.cross_entropy(seg(x.to(device)), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"segmenter loss became non-finite at step {step}: lower cfg.lr")
        if callback is not None:
            rate = (step - step0) * cfg.batch / max(time.monotonic() - t0, 1e-6)
            callback(step, cfg.steps, {"loss": loss.item(), "lr": lr, "img_per_s": rate})
        if time.monotonic() - last_save > checkpoint_every_s and step < cfg.steps:
            _save_checkpoint(ckpt, cfg, seg, opt, step)
            last_save = time.monotonic()
    _save_checkpoint(ckpt, cfg, seg, opt, step)
    log.info("segmenter trained: %d steps in %.1f s", step - step0, time.monotonic() - t0)
    return seg.eval()


# ----------------------------------------------------------------------------------------------
# Evaluation and files


def evaluate_segmenter(seg: Segmenter, images: np.ndarray, labels: np.ndarray, *, batch: int = 64) -> dict[str, Any]:
    """Mean IoU, IoU per label and pixel accuracy on uint8 images [N, H, W, 3] with labels [N, H, W].

    Example::

        report = evaluate_segmenter(seg, *render_batch(range(5_000_000, 5_000_500), resolution=64))
        report["miou"], report["iou"]["door"], report["pixel_accuracy"]

    Labels absent from both prediction and truth get IoU NaN and are left out of the mean.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if labels.shape != images.shape[:3]:
        raise ValueError(f"labels have shape {labels.shape}, images {images.shape}: pass one label map per image")
    c = seg.config.num_classes
    device = next(seg.parameters()).device
    was_training = seg.training
    seg.eval()
    conf = np.zeros((c, c), dtype=np.int64)
    for start in range(0, len(images), batch):
        pred = seg.predict(to_unit_range(images[start:start + batch]).to(device)).cpu().numpy()
        conf += confusion_matrix(pred, labels[start:start + batch], c)
    seg.train(was_training)
    miou, iou = iou_from_confusion(conf)
    names = LABELS if c == len(LABELS) else tuple(str(i) for i in range(c))
    return {"miou": miou, "iou": {n: float(v) for n, v in zip(names, iou)},
            "pixel_accuracy": float(np.trace(conf) / max(conf.sum(), 1))}


def save_segmenter(seg: Segmenter, path: Path) -> None:
    """Write the weights as safetensors with the config (JSON) in the metadata; atomic."""
    save_with_config(seg, path, kind="ganpaint.segmenter", config=_config_dict(seg.config))


def load_segmenter(path: Path, *, device: torch.device | str = "cpu") -> Segmenter:
    """Read a file written by :func:`save_segmenter`: strict load, float32, eval mode, on ``device``."""
    path = Path(path)
    state, meta = read_with_config(path, missing_hint="train one with train_segmenter and save_segmenter")
    if "config" not in meta:
        raise CheckpointError(f"{path}: no segmenter config in its metadata; write it with save_segmenter")
    seg = Segmenter(_config_from_dict(json.loads(meta["config"])))
    try:
        seg.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the segmenter config ({exc})") from None
    return seg.to(device).eval()
