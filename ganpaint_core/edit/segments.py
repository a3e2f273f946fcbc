"""Segment inversion (after ChunkyGAN, Kocasari et al. 2022): after the usual inversion, the photo is cut
into a few segments and each segment gets its own latent; the edit layer's features are the soft-masked
sum of the codes' features plus the residual, so one part of the photo no longer has to share its code
with every other part.

Example::

    first = invert(G, image, layer="layer6", encoder=E)                       # one code
    seg = invert_segments(G, image, layer="layer6", first=first, segment=model.segmenter.predict, encoder=E)
    seg.inversion.features                     # [1, C, h, w]: Σ_k m_k · head(latent_k) + residual
    seg.names, seg.shares                      # ("sky", "brick", "rest"), (0.31, 0.42, 0.27)

Segments come from the segmenter's label map of the first inversion's render (a render is what the
segmenter was trained on); a model without a segmenter uses a fixed grid. Everything after the edit layer
(the tail, edits, adaptation) takes one latent: the first inversion's, which the result keeps.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.metrics import psnr
from ganpaint_core.core.progress import Callback
from ganpaint_core.edit.invert import Inversion
from ganpaint_core.edit.losses import reconstruction_loss
from ganpaint_core.models.layers import run_tail

log = logging.getLogger(__name__)

Segment = Callable[[torch.Tensor], torch.Tensor]  # images [N, 3, S, S] in [-1, 1] -> labels int64 [N, S, S]
INVERT_MODES: tuple[str, ...] = ("single", "segments")  # EditOptions.invert's values


class SegmentError(GanpaintError):
    """A segment inversion setting that cannot work."""


@dataclass(frozen=True)
class SegmentConfig:
    """How the photo is cut into segments, and the optimisation of their codes."""

    max_segments: int = 6  # codes at most (the largest labels); more codes fit better but cost time per step
    min_share: float = 0.04  # a label covering less of the square joins its neighbour (too small to fit a code)
    grid: tuple[int, int] = (2, 2)  # rows, columns of the fixed grid used when the model has no segmenter
    softness: float = 1.0  # Gaussian blur of the masks, in edit-grid cells (0: hard edges; seams show)
    latent_steps: int = 0  # steps optimising the codes only (0: the residual is fitted already, go joint)
    joint_steps: int = 100  # then steps optimising the codes and the residual together
    latent_lr: float = 0.05  # Adam rate for the codes, in units of the latent's spread
    residual_lr: float = 0.02  # Adam rate for the residual
    # Measured on synth-church, 7 real photos + 3 renders (median): 0.02 gives 31.99 dB with a residual RMS of
    # 0.50 of the features', 1.0 gives 29.5 dB at 0.32; at either the control (one code, same steps) is within
    # 0.2 dB at the same residual, and the codes' own render stays at ~14.7 dB: the residual does the work.
    residual_penalty: float = 0.02  # weight of mean(residual²) relative to the features' mean square
    encoder_weight: float = 0.1  # weight of ||E(G(z_k)) - z_k||² per code, in units of the spread (with an encoder)
    # Every step cost K renders and encodings (2.8× the control's time); every 4th step (measured together with
    # optimised masks, at residual_penalty 1) kept the PSNR (29.50 → 29.52 dB) and cut 15.7 → 6.7 s (median).
    encoder_every: int = 4  # apply the encoder regulariser on every n-th step only (each costs K renders)
    # Optimising the masks (rate 0.05, smoothness 0.1; with encoder_every 4, same run as above) moved the PSNR by
    # +0.02 dB and the codes' render by +0.16 dB, and lost to the control on the renders: off, masks as cut.
    mask_lr: float = 0.0  # Adam rate for the masks' logits (0: the masks stay as the segmenter cut them)
    mask_smoothness: float = 0.0  # weight of the masks' squared differences between neighbouring cells
    mask_entropy: float = 0.0  # weight of the masks' mean entropy per cell (pushes each cell to one code)

    def check(self) -> None:
        if not (isinstance(self.max_segments, int) and self.max_segments >= 1):
            raise SegmentError(f"max_segments must be a whole number ≥ 1, got {self.max_segments!r}")
        if not 0 <= self.min_share < 1:
            raise SegmentError(f"min_share must be in [0, 1), got {self.min_share!r}")
        if len(self.grid) != 2 or min(self.grid) < 1:
            raise SegmentError(f"grid must be (rows, columns), each ≥ 1, got {self.grid!r}")
        if self.softness < 0 or self.latent_steps < 0 or self.joint_steps < 0:
            raise SegmentError("softness and step counts must be ≥ 0")
        if not (isinstance(self.encoder_every, int) and self.encoder_every >= 1):
            raise SegmentError(f"encoder_every must be a whole number ≥ 1, got {self.encoder_every!r}")
        if min(self.mask_lr, self.mask_smoothness, self.mask_entropy) < 0:
            raise SegmentError("mask_lr, mask_smoothness and mask_entropy must be ≥ 0")


@dataclass(frozen=True)
class SegmentCodes:
    """What a photo's setup keeps of its segment inversion, for edits of one segment (CPU tensors)."""

    codes: torch.Tensor  # [K, L] or [K, n, L]: segment k's latent
    masks: torch.Tensor  # [K, 1, h, w] soft masks at the edit grid, summing to 1 over K
    names: tuple[str, ...]  # segment k's name: a label ("sky") or a grid cell ("row 1 col 2")

    def index(self, name: str) -> int:
        """Segment ``name``'s index; ``SegmentError`` lists the photo's segments."""
        if name not in self.names:
            raise SegmentError(f"this photo has no segment {name!r}; its segments are: {', '.join(self.names)}")
        return self.names.index(name)

    def label_map(self, side: int) -> torch.Tensor:
        """int64 [side, side]: which segment weighs most at each pixel (the masks upsampled)."""
        up = F.interpolate(self.masks.permute(1, 0, 2, 3), size=(side, side), mode="bilinear",
                           align_corners=False)[0]  # [K, side, side]
        return up.argmax(0)


@dataclass
class SegmentInversion:
    """A segment inversion: the composed inversion and the segments it found."""

    inversion: Inversion  # latent = the first inversion's (the tail's); features = the composed features
    names: tuple[str, ...]  # segment k's name: a label ("sky"), or a grid cell ("row 1 col 2")
    shares: tuple[float, ...]  # segment k's share of the square, summing to 1
    masks: torch.Tensor  # [K, 1, h, w] soft masks at the edit grid, summing to 1 over K (as optimised)
    codes: torch.Tensor  # [K, L] or [K, n, L]: segment k's latent
    first_psnr: float  # the first inversion's PSNR, dB
    seconds: float  # wall time of the segment stage alone

    def kept(self) -> SegmentCodes:
        """What a photo's setup keeps: the codes, masks and names."""
        return SegmentCodes(codes=self.codes.detach().cpu(), masks=self.masks.detach().cpu(), names=tuple(self.names))


def _neighbour_merge(onehot: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """[L, S, S] one-hot labels -> [K, S, S] one-hot over the kept labels: a pixel of a dropped label goes to
    the kept label most present around it (a blur wide enough to reach across small regions)."""
    kept = onehot[keep]  # [K, S, S]
    side = onehot.shape[-1]
    radius = max(1, side // 8)
    near = F.avg_pool2d(kept[None], 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)[0]
    dropped = 1 - kept.sum(0, keepdim=True)  # [1, S, S]: 1 where the label was dropped
    # Dropped pixels far from every kept label (near is 0 everywhere) fall back to the largest kept label.
    near = near + 1e-6 * kept.sum(dim=(1, 2), keepdim=True) / kept.sum()
    winner = F.one_hot(near.argmax(0), kept.shape[0]).permute(2, 0, 1).to(kept.dtype)  # [K, S, S]
    return kept + dropped * winner


def _soft(hard: torch.Tensor, *, grid: int, softness: float) -> torch.Tensor:
    """[K, S, S] one-hot -> [K, 1, g, g] soft masks summing to 1: area-averaged to the grid, then blurred."""
    masks = F.interpolate(hard[:, None].float(), size=(grid, grid), mode="area")  # [K, 1, g, g]
    if softness > 0:
        radius = max(1, math.ceil(2 * softness))
        x = torch.arange(-radius, radius + 1, dtype=masks.dtype)
        k1 = torch.exp(-0.5 * (x / softness) ** 2)
        k1 = k1 / k1.sum()
        padded = F.pad(masks, (radius, radius, radius, radius), mode="replicate")
        masks = F.conv2d(F.conv2d(padded, k1.view(1, 1, 1, -1)), k1.view(1, 1, -1, 1))
    return masks / masks.sum(0, keepdim=True).clamp_min(1e-8)


def segment_masks(labels: torch.Tensor | None, *, grid: int, cfg: SegmentConfig = SegmentConfig(),
                  label_names: Sequence[str] | None = None, size: int | None = None,
                  ) -> tuple[torch.Tensor, tuple[str, ...], tuple[float, ...]]:
    """Soft masks ``[K, 1, grid, grid]`` summing to 1 over K, their names and shares of the square.

    ``labels`` is a label map int ``[S, S]`` (or ``[1, S, S]``): each label covering at least ``min_share``
    is a segment (the ``max_segments`` largest), the pixels of the others join a neighbouring segment.
    Fewer than two segments (or ``labels=None``: no segmenter) fall back to ``cfg.grid``'s cells over a
    ``size``-pixel square (default: the label map's, else the grid)."""
    cfg.check()
    if labels is not None:
        labels = labels.reshape(labels.shape[-2:]).long().cpu()
        n = int(labels.max()) + 1
        onehot = F.one_hot(labels, n).permute(2, 0, 1).float()  # [L, S, S]
        shares = onehot.mean(dim=(1, 2))
        order = [int(i) for i in shares.argsort(descending=True) if shares[i] >= cfg.min_share][: cfg.max_segments]
        if len(order) >= 2:
            hard = _neighbour_merge(onehot, torch.tensor(order))
            names = tuple(label_names[i] if label_names is not None and i < len(label_names) else f"label {i}"
                          for i in order)
            return _finish(hard, names, grid=grid, cfg=cfg)
        size = size or labels.shape[-1]
    rows, cols = cfg.grid
    side = size or grid
    ys = (torch.arange(side) * rows // side)[:, None]
    xs = (torch.arange(side) * cols // side)[None, :]
    cell = (ys * cols + xs).expand(side, side)
    hard = F.one_hot(cell, rows * cols).permute(2, 0, 1).float()
    names = tuple(f"row {r + 1} col {c + 1}" for r in range(rows) for c in range(cols))
    return _finish(hard, names, grid=grid, cfg=cfg)


def _finish(hard: torch.Tensor, names: tuple[str, ...], *, grid: int,
            cfg: SegmentConfig) -> tuple[torch.Tensor, tuple[str, ...], tuple[float, ...]]:
    shares = tuple(round(float(s), 4) for s in hard.mean(dim=(1, 2)))
    return _soft(hard, grid=grid, softness=cfg.softness), names, shares


def model_segment(model: object) -> tuple[Segment | None, tuple[str, ...] | None]:
    """A loaded model's segmenter as ``(labels of images, label names)``, or ``(None, None)`` without one."""
    seg = getattr(model, "segmenter", None)
    if seg is None:
        return None, None
    return seg.predict, tuple(seg.labels)


def _mask_penalty(masks: torch.Tensor, cfg: SegmentConfig) -> torch.Tensor | float:
    """Smoothness (squared differences between neighbouring cells) and entropy per cell of ``masks`` [K, 1, h, w]."""
    out: torch.Tensor | float = 0.0
    if cfg.mask_smoothness > 0:
        dy = (masks[..., 1:, :] - masks[..., :-1, :]).pow(2).sum(0).mean()
        dx = (masks[..., :, 1:] - masks[..., :, :-1]).pow(2).sum(0).mean()
        out = out + cfg.mask_smoothness * (dx + dy)
    if cfg.mask_entropy > 0:
        out = out + cfg.mask_entropy * -(masks * masks.clamp_min(1e-8).log()).sum(0).mean()
    return out


def _codes_loss(generator: nn.Module, head: nn.Module, tail: nn.Module, codes: torch.Tensor, *,
                encoder: nn.Module | None, weight: float, spread: float) -> torch.Tensor | float:
    """In-Domain regulariser per code: each code's own render, encoded, should give the code back."""
    if encoder is None or weight <= 0:
        return 0.0
    rendered = run_tail(tail, head(codes), latent=codes)  # [K, 3, S, S]
    predicted = generator.to_inversion_latent(encoder(rendered), space=encoder.latent_space)
    return weight * (predicted - codes).pow(2).mean() / spread**2


def invert_segments(
    generator: nn.Module,
    image: torch.Tensor,
    *,
    layer: str,
    first: Inversion,
    segment: Segment | None = None,
    label_names: Sequence[str] | None = None,
    encoder: nn.Module | None = None,
    cfg: SegmentConfig = SegmentConfig(),
    lpips_model: nn.Module | None = None,
    callback: Callback | None = None,
) -> SegmentInversion:
    """Refine ``first`` (an :func:`~ganpaint_core.edit.invert.invert` of ``image`` [1, 3, S, S] in [-1, 1])
    with one code per segment: features = Σ_k m_k · head(z_k) + residual, every z_k and the residual started
    from ``first``'s, optimised with invert()'s losses. The best state seen is kept, so the PSNR is never
    below ``first``'s. ``segment`` labels images (None: ``cfg.grid``'s cells)."""
    t0 = time.monotonic()
    cfg.check()
    head, tail = generator.split(layer)
    device = image.device
    latent = first.latent.to(device)  # the tail's latent, kept: edits and adaptation take one latent
    start = first.features.to(device)
    labels = None
    if segment is not None:
        with torch.no_grad():
            labels = segment(run_tail(tail, start, latent=latent))[0]  # [S, S]
    masks, names, shares = segment_masks(labels, grid=start.shape[-1], cfg=cfg, label_names=label_names,
                                         size=image.shape[-1])
    masks = masks.to(device)  # [K, 1, h, w]
    # Optimised masks are a softmax over segments of per-cell logits, so they always sum to 1 over K.
    logits = masks.clamp_min(1e-4).log().requires_grad_(cfg.mask_lr > 0)  # [K, 1, h, w]
    codes = latent.repeat(len(names), *[1] * (latent.dim() - 1)).clone().requires_grad_(True)  # [K, L] or [K, n, L]
    residual = first.residual.to(device).clone().requires_grad_(True)  # [1, C, h, w]
    spread = generator.latent_std()
    with torch.no_grad():
        scale = head(latent).pow(2).mean().item() + 1e-8
    opt_z = torch.optim.Adam([codes], lr=cfg.latent_lr * spread)
    opt_r = torch.optim.Adam([residual], lr=cfg.residual_lr * math.sqrt(scale))
    opt_m = torch.optim.Adam([logits], lr=cfg.mask_lr) if cfg.mask_lr > 0 else None
    total = cfg.latent_steps + cfg.joint_steps
    # The best state seen: never worse than the first (its codes are all the first latent, masks as cut).
    best = (first.psnr, start.detach().clone(), residual.detach().clone(), codes.detach().clone(), masks.clone())
    stopped = None
    for step in range(1, total + 2):  # the last pass only measures the final state
        joint = step > cfg.latent_steps
        weights = logits.softmax(0) if opt_m is not None else masks
        features = (weights * head(codes)).sum(0, keepdim=True) + (residual if joint else residual.detach())
        output = run_tail(tail, features, latent=latent)
        now = psnr(output.detach(), image)
        if now > best[0]:
            best = (now, features.detach().clone(), residual.detach().clone(), codes.detach().clone(),
                    weights.detach().clone())
        if step > total:
            break
        loss = reconstruction_loss(output, image, lpips_model=lpips_model)
        if joint:
            loss = loss + cfg.residual_penalty * residual.pow(2).mean() / scale
        if opt_m is not None:
            loss = loss + _mask_penalty(weights, cfg)
        if step % cfg.encoder_every == 0:
            loss = loss + _codes_loss(generator, head, tail, codes, encoder=encoder, weight=cfg.encoder_weight,
                                      spread=spread)
        if not math.isfinite(loss.item()):
            stopped = f"segment inversion stopped at step {step}: the loss became non-finite; kept the best state"
            log.warning(stopped)
            break
        _step(loss, opt_z, opt_r if joint else None, opt_m)
        if callback is not None and (step % 10 == 0 or step == total):
            callback(step, total, {"stage": "segments", "loss": loss.item(), "psnr": now, "segments": len(names)})
    seconds = time.monotonic() - t0
    inversion = Inversion(latent=first.latent, features=best[1].cpu(), residual=best[2].cpu(), psnr=best[0],
                          seconds=seconds, stopped=stopped)
    return SegmentInversion(inversion=inversion, names=names, shares=shares, masks=best[4].cpu(),
                            codes=best[3].cpu(), first_psnr=first.psnr, seconds=seconds)


def _step(loss: torch.Tensor, *optimisers: torch.optim.Optimizer | None) -> None:
    """One Adam step of every optimiser given (None: that one waits: its gradient is dropped)."""
    active = [o for o in optimisers if o is not None]
    for o in active:
        o.zero_grad(set_to_none=True)
    loss.backward()
    for o in active:
        o.step()


def describe(seg: SegmentInversion) -> str:
    """One line for the setup's notes: what was found and what it gained."""
    return (f"segment inversion: {len(seg.names)} segments ({', '.join(seg.names)}): "
            f"{seg.first_psnr:.1f} → {seg.inversion.psnr:.1f} dB in {seg.seconds:.1f} s")


__all__ = ["INVERT_MODES", "SegmentCodes", "SegmentConfig", "SegmentError", "SegmentInversion", "describe",
           "invert_segments",
           "model_segment", "segment_masks"]
