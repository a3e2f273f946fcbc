"""A warp's displacement field and the edit layer's features moved by it (the warp's first guess, which
DragGAN's steps then refine: :mod:`ganpaint_core.edit.warp`).

Example::

    field = motion_field(moved, shift, falloff=4.0)        # [S, S, 2]: content at x came from x - field(x)
    f1 = move_features(f0, field, vacated=source_cells)    # [1, C, g, g]: moved, the vacated cells filled
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from ganpaint_core.core.metrics import distance_to

# The field moves this many model pixels around the moved region as it moves the region itself: the photo's
# detail at an object's outline is its contrast with what surrounds it, which must travel with it.
CARRY_PX = 2.0
FILL_STEPS = 200  # Jacobi steps of the vacated cells' harmonic fill (a 16-cell grid settles in far fewer)


def shifted(mask: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """bool [S, S]: ``mask`` moved by ``shift`` (dx, dy), rounded to whole pixels; what leaves the square is lost."""
    dx, dy = np.round(np.asarray(shift, np.float64)).astype(int)
    out = np.zeros(mask.shape, bool)
    ys, xs = np.nonzero(mask)
    ys, xs = ys + dy, xs + dx
    keep = (ys >= 0) & (ys < mask.shape[0]) & (xs >= 0) & (xs < mask.shape[1])
    out[ys[keep], xs[keep]] = True
    return out


def motion_field(moved: np.ndarray, shift: np.ndarray, *, falloff: float) -> np.ndarray:
    """float32 [S, S, 2]: ``shift`` (dx, dy, model pixels) over the ``moved`` region (bool [S, S], where the
    content arrives) and ``CARRY_PX`` around it, fading smoothly (a cosine) to 0 over ``falloff`` pixels."""
    d = np.maximum(distance_to(moved) - CARRY_PX, 0)
    w = 0.5 + 0.5 * np.cos(np.pi * np.clip(d / max(falloff, 1e-6), 0, 1))
    return (w[..., None] * np.asarray(shift, np.float32)[None, None]).astype(np.float32)


def move_features(f0: torch.Tensor, field: np.ndarray, *, vacated: np.ndarray) -> torch.Tensor:
    """[1, C, g, g]: the features ``f0`` read at ``x - field(x)`` (bilinear; ``field`` [S, S, 2] at the model's
    resolution, averaged per cell), with the ``vacated`` cells (bool [g, g]: the source left behind, nothing
    arrived) filled harmonically from the cells around them, as the background there would continue."""
    g, s = f0.shape[-1], field.shape[0]
    cell = torch.from_numpy(field).permute(2, 0, 1)[None]  # [1, 2, S, S]
    cell = F.adaptive_avg_pool2d(cell, g)[0].permute(1, 2, 0) * (g / s)  # [g, g, 2] in cells
    ys, xs = torch.meshgrid(torch.arange(g, dtype=torch.float32), torch.arange(g, dtype=torch.float32), indexing="ij")
    pos = torch.stack([xs, ys], -1) - cell + 0.5
    grid = (pos / g * 2 - 1)[None].to(f0.device, f0.dtype)
    out = F.grid_sample(f0, grid, mode="bilinear", padding_mode="border", align_corners=False)
    hole = torch.from_numpy(np.asarray(vacated, bool))[None, None].to(f0.device)
    if hole.any():
        kernel = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=f0.dtype, device=f0.device)[None, None] / 4
        kernel = kernel.expand(f0.shape[1], 1, 3, 3)
        for _ in range(FILL_STEPS):
            around = F.conv2d(F.pad(out, (1, 1, 1, 1), mode="replicate"), kernel, groups=f0.shape[1])
            out = torch.where(hole, around, out)
    return out
