"""Training the scene segmenter (the U-Net of :mod:`ganpaint_core.models.segmenter`) on church renders.

Example::

    from pathlib import Path
    from ganpaint_core.models.segmenter import SegmenterConfig
    from ganpaint_core.synth.scenes import render_batch
    from ganpaint_core.training.segmenter import evaluate_segmenter, train_segmenter

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

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ganpaint_core.core.metrics import confusion_matrix, iou_from_confusion
from ganpaint_core.core.progress import Callback
from ganpaint_core.models.segmenter import Segmenter, SegmenterConfig
from ganpaint_core.synth.scenes import LABELS
from ganpaint_core.training.gan import to_unit_range  # re-exported: the segmenter's input convention
from ganpaint_core.training.loop import config_dict, resume_checkpoint, run_steps

__all__ = ["evaluate_segmenter", "train_segmenter", "to_unit_range"]

log = logging.getLogger(__name__)

_CHECKPOINT = "segmenter.pt"


# ----------------------------------------------------------------------------------------------
# Training


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


def train_segmenter(
    cfg: SegmenterConfig,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    out_dir: Path,
    device: torch.device | str = "cpu",
    resume: bool = True,
    checkpoint_every_s: float = 120.0,
    callback: Callback | None = None,
    label_names: Sequence[str] = LABELS,
) -> Segmenter:
    """Train on renders: images uint8 [N, R, R, 3], labels uint8 [N, R, R] with R = cfg.resolution.

    Example::

        seg = train_segmenter(SegmenterConfig(), images, labels, out_dir=Path("runs/segmenter"),
                              callback=lambda step, total, info: print(step, info["loss"]))

    Checkpoints go to ``out_dir/segmenter.pt`` every ``checkpoint_every_s`` seconds and at the end;
    with ``resume`` an existing checkpoint of the same config is continued (a finished one is just
    loaded). Batches and augmentation are drawn from ``(cfg.seed, step)``, so a resumed run repeats
    what an uninterrupted one would have done. ``label_names`` (label id -> name; the scenes' by default) go
    with the model, and into its file. Returns the model in eval mode, on ``device``.
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
    seg = Segmenter(cfg, labels=label_names).to(device)
    opt = torch.optim.AdamW(seg.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    identity = {"config": config_dict(cfg)}
    step = resume_checkpoint(ckpt, identity, seg, opt, device=device, what="segmenter") if resume else 0
    data_x = torch.from_numpy(images)
    data_y = torch.from_numpy(labels)

    def loss_at(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        rng = np.random.default_rng([cfg.seed, step])
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        idx = torch.from_numpy(rng.integers(0, len(images), cfg.batch))
        x, y = _augment(to_unit_range(data_x[idx]), data_y[idx].long(), cfg, rng, gen)
        return F.cross_entropy(seg(x.to(device)), y.to(device)), {}

    run_steps(seg, opt, loss_at, start=step, steps=cfg.steps, peak_lr=cfg.lr, batch=cfg.batch, checkpoint=ckpt,
              identity=identity, checkpoint_every_s=checkpoint_every_s, callback=callback, what="segmenter")
    return seg.eval()


# ----------------------------------------------------------------------------------------------
# Evaluation


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
    return {"miou": miou, "iou": {n: float(v) for n, v in zip(seg.labels, iou)},
            "pixel_accuracy": float(np.trace(conf) / max(conf.sum(), 1))}
