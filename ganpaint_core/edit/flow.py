"""Flow-based edit transfer (iGAN's motion + colour flow): the photo's own pixels move as the render's content
moved, and only the colour change the motion does not explain is added, so a dragged object keeps the
photo's texture instead of the generator's.

Given the render without the edit (``base``), with it (``edited``) and the motion between them (``motion``
[S, S, 2], model pixels: the content at x came from x - motion(x); a warp knows it, otherwise
:func:`estimate_motion` finds it by block matching along a few frames of the edit), at the photo's resolution::

    moved = photo(x - up(motion)(x))                          # the photo's pixels, moved
    change = GF(up(region · (edited - base(x - motion))))      # the colour change, upsampled edge-aware
    out = up(a) · up(edited) + (1 - up(a)) · (moved + change)

``a`` is what the edit painted minus where moved content arrived (a warp's vacated place shows the render's
fill); ``GF`` is a guided filter (He et al. 2010) guided by the moved photo, so the change follows the
photo's edges; ``up`` is the composite's clamped bicubic. Where ``region`` is 0 the motion is 0 and the output
is the photo's pixel, exactly (as delta compositing, :mod:`ganpaint_core.edit.composite`).

Example::

    out = flow_composite(photo, edited=e, base=b, painted=m, region=r, motion=field)   # Composite
    field = estimate_motion([frame0, frame1, frame2, frame3])                          # [S, S, 2]
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ganpaint_core.core.photo import Photo, SquareBox
from ganpaint_core.edit.composite import Composite, paste_window, upsample

MATCH_REACH = 2  # block matching searches this many model pixels between consecutive frames
MATCH_PATCH = 2  # ... comparing (2·p + 1)² patches
GUIDE_EPS = 1e-3  # guided filter's regulariser (grey levels 0..1, squared)


def sample(image: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W]: ``image`` [N, C, H', W'] read at each output pixel x at ``x - field(x)`` (``field``
    [N, H, W, 2] in pixels of ``image``; bilinear, edges replicated)."""
    h, w = field.shape[1:3]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=field.dtype), torch.arange(w, dtype=field.dtype), indexing="ij")
    pos = torch.stack([xs, ys], -1)[None] - field + 0.5  # [N, H, W, 2] (x, y) pixel centres
    grid = pos / torch.tensor([image.shape[-1], image.shape[-2]], dtype=field.dtype) * 2 - 1
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def estimate_motion(frames: Sequence[np.ndarray], *, reach: int = MATCH_REACH, patch: int = MATCH_PATCH) -> np.ndarray:
    """float32 [S, S, 2]: the motion from the first of ``frames`` (float [S, S, 3]) to the last, composed
    frame to frame: between consecutive frames each pixel takes the whole-pixel shift within ``reach`` whose
    patch matches best (sum of squared differences; no shift wins ties, so still content stays still)."""
    total = torch.zeros(1, frames[0].shape[0], frames[0].shape[1], 2)
    as_t = lambda f: torch.from_numpy(np.asarray(f, np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    k = 2 * patch + 1
    for prev, nxt in zip(frames[:-1], frames[1:]):
        a, b = as_t(prev), as_t(nxt)
        best = torch.full(b.shape[-2:], float("inf"))
        step = torch.zeros(*b.shape[-2:], 2)
        for dy in range(-reach, reach + 1):
            for dx in range(-reach, reach + 1):
                moved = sample(a, torch.tensor([dx, dy], dtype=torch.float32).expand(1, *b.shape[-2:], 2))
                ssd = F.avg_pool2d((moved - b).pow(2).sum(1, keepdim=True), k, stride=1, padding=patch,
                                   count_include_pad=False)[0, 0] + 1e-3 * (dx * dx + dy * dy)
                better = ssd < best
                best = torch.where(better, ssd, best)
                step[better] = torch.tensor([dx, dy], dtype=torch.float32)
        # x in the next frame came from x - step(x) in this one, which came from there minus total there
        total = step[None] + sample(total.permute(0, 3, 1, 2), step[None]).permute(0, 2, 3, 1)
    return total[0].numpy().astype(np.float32)


def guided_filter(guide: np.ndarray, src: np.ndarray, *, radius: int, eps: float = GUIDE_EPS) -> np.ndarray:
    """float [H, W, C]: ``src`` [H, W, C] filtered edge-aware by the grey ``guide`` [H, W] in 0..1 (He et al.'s
    guided filter, box windows of ``radius``)."""
    if radius < 1:
        return src
    box = lambda x: F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)  # noqa: E731
    g = torch.from_numpy(np.ascontiguousarray(guide, np.float32))[None, None]  # [1, 1, H, W]
    p = torch.from_numpy(np.ascontiguousarray(src, np.float32)).permute(2, 0, 1)[None]  # [1, C, H, W]
    mg, mp = box(g), box(p)
    a = (box(g * p) - mg * mp) / (box(g * g) - mg * mg + eps)
    b = mp - a * mg
    return (box(a) * g + box(b))[0].permute(1, 2, 0).numpy()


def flow_composite(photo: Photo, *, edited: np.ndarray, base: np.ndarray, painted: np.ndarray, region: np.ndarray,
                   motion: np.ndarray) -> Composite:
    """The photo with the edit transferred by motion and colour change (see the module's formula): ``edited``,
    ``base`` [S, S, 3] 0..255, ``painted`` and ``region`` [S, S] as for ``composite``, ``motion`` [S, S, 2]."""
    original = photo.original
    h, w = original.shape[:2]
    box = SquareBox(*photo.box)
    s = region.shape[0]
    scale = box.side / s
    region = np.asarray(region, np.float32)
    motion = np.asarray(motion, np.float32) * (region > 0)[..., None]
    window = paste_window(region, box, w, h) if region.any() else None
    if window is None:
        return Composite(image=original.copy(), changed=np.zeros((h, w), bool), notes=[])
    x0, y0, x1, y1 = window
    edited, base = np.asarray(edited, np.float32), np.asarray(base, np.float32)
    t = lambda x: torch.from_numpy(np.ascontiguousarray(x, np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    moved_base = sample(t(base), torch.from_numpy(motion)[None])[0].permute(1, 2, 0).numpy()
    size = np.hypot(motion[..., 0], motion[..., 1])
    arrived = np.clip(size / max(float(size.max()), 1e-6), 0, 1) if size.max() > 0 else np.zeros_like(size)
    vacated = np.clip(painted, 0, 1) * (1 - arrived)
    # the motion at the photo's scale, over the window, and the photo's pixels moved by it
    field = upsample(motion, box.side, window) * scale  # [h, w, 2] photo pixels
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    src_x = np.clip(xs - field[..., 0] + box.left, 0, w - 1)
    src_y = np.clip(ys - field[..., 1] + box.top, 0, h - 1)
    moved_px = _bilinear(original.astype(np.float32), src_x, src_y)
    photo_px = original[y0 + box.top: y1 + box.top, x0 + box.left: x1 + box.left].astype(np.float32)
    moved_px = np.where((field != 0).any(-1, keepdims=True), moved_px, photo_px)  # no motion: the pixel itself
    change = upsample(region[..., None] * (edited - moved_base), box.side, window)
    support = upsample(region[..., None], box.side, window) > 0
    change = np.where(support, guided_filter(moved_px.mean(-1) / 255, change, radius=int(round(scale))), 0)
    a = upsample(vacated[..., None], box.side, window)
    out = a * upsample(edited, box.side, window) + (1 - a) * (moved_px + change)
    patch = np.clip(out.round(), 0, 255).astype(np.uint8)
    image = original.copy()
    image[y0 + box.top: y1 + box.top, x0 + box.left: x1 + box.left] = patch
    changed = np.zeros((h, w), bool)
    changed[y0 + box.top: y1 + box.top, x0 + box.left: x1 + box.left] = (patch != photo_px.astype(np.uint8)).any(-1)
    return Composite(image=image, changed=changed, notes=[])


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """float [h, w, C]: ``image`` [H, W, C] at pixel positions ``x``, ``y`` [h, w] (in range), bilinear."""
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, image.shape[1] - 1), np.minimum(y0 + 1, image.shape[0] - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
