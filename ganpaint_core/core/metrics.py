"""Image and segmentation metrics: Fréchet distance between feature sets, PSNR, confusion-based IoU.

Example::

    from ganpaint_core.core.metrics import frechet_distance, mean_iou, psnr

    fd = frechet_distance(feats_a, feats_b)          # [N, D] and [M, D] float arrays -> float >= 0
    db = psnr(reconstruction, target)                # float images in [-1, 1] -> dB
    miou, iou = mean_iou(pred, target, num_classes=8)  # integer label maps of equal shape
    margin = changed_margin(result, photo, stroke, side=512)  # how far an edit's changes reach past its stroke

Everything here is plain numpy/torch, float64 where precision matters, with no scipy dependency.
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["band_detail", "changed_margin", "confusion_matrix", "distance_to", "frechet_distance", "iou_from_confusion",
           "mean_iou", "psnr", "seam_ratio"]


def _gaussian(x: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and unbiased covariance [D, D] of features [N, D], in float64."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} has shape {x.shape}: pass features as a 2-D array [N, D]")
    if x.shape[0] < 2:
        raise ValueError(f"{name} has {x.shape[0]} rows: a covariance needs at least 2 feature vectors")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf: check the feature extractor's input")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix via eigh (round-off negatives clipped)."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` [N, D] and ``b`` [M, D].

    Example::

        fd = frechet_distance(seg.features(x).numpy(), seg.features(y).numpy())

    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2)``. The middle product is
    symmetric, so both square roots come from symmetric eigendecompositions; that is stable even for
    rank-deficient covariances (N < D), where the usual ``sqrtm(S_a S_b)`` turns complex. The result
    is clipped at 0 against round-off.
    """
    mu_a, cov_a = _gaussian(a, "a")
    mu_b, cov_b = _gaussian(b, "b")
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"feature sizes differ ({mu_a.shape[0]} vs {mu_b.shape[0]}): use the same extractor for both")
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    w = np.linalg.eigvalsh((middle + middle.T) / 2)
    cross = float(np.sqrt(np.clip(w, 0.0, None)).sum())
    diff = mu_a - mu_b
    fd = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)
    return max(fd, 0.0)


def psnr(a: torch.Tensor, b: torch.Tensor, *, data_range: float = 2.0) -> float:
    """Peak signal-to-noise ratio in dB over all elements of ``a`` and ``b`` (same shape).

    Example::

        psnr(reconstruction, target)                          # both float in [-1, 1]
        psnr(x_uint8.float(), y_uint8.float(), data_range=255)

    ``data_range`` is max minus min of the value range: 2 for [-1, 1], 1 for [0, 1], 255 for uint8.
    Identical inputs give ``inf``.
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ ({tuple(a.shape)} vs {tuple(b.shape)}): compare images of the same size")
    if data_range <= 0:
        raise ValueError(f"data_range is {data_range}: pass the width of the value range, e.g. 2.0 for [-1, 1]")
    mse = float(torch.mean((a.detach().double() - b.detach().double()) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def confusion_matrix(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [C, C] int64: row = target class, column = predicted class.

    Example::

        conf = confusion_matrix(seg_labels, true_labels, 8)
        conf.trace() / conf.sum()   # pixel accuracy
    """
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"shapes differ ({pred.shape} vs {target.shape}): pass label maps of the same size")
    p = pred.astype(np.int64, copy=False).ravel()
    t = target.astype(np.int64, copy=False).ravel()
    for name, v in (("pred", p), ("target", t)):
        if v.size and (v.min() < 0 or v.max() >= num_classes):
            raise ValueError(f"{name} holds label {int(v.max() if v.max() >= num_classes else v.min())}: "
                             f"labels must lie in 0..{num_classes - 1}")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(conf: np.ndarray) -> tuple[float, np.ndarray]:
    """(mean IoU, IoU per class [C] float64) from a confusion matrix; classes absent from both are NaN.

    Example::

        miou, iou = iou_from_confusion(conf_a + conf_b)   # accumulate over batches, then reduce
    """
    conf = np.asarray(conf, dtype=np.float64)
    inter = np.diag(conf)
    union = conf.sum(axis=0) + conf.sum(axis=1) - inter
    iou = np.full(conf.shape[0], np.nan)
    present = union > 0
    iou[present] = inter[present] / union[present]
    miou = float(iou[present].mean()) if present.any() else math.nan
    return miou, iou


def mean_iou(pred: np.ndarray, target: np.ndarray, num_classes: int) -> tuple[float, np.ndarray]:
    """(mean IoU, IoU per class [C]) of integer label maps of equal shape.

    Example::

        miou, iou = mean_iou(seg.predict(x).numpy(), labels, 8)

    A class that appears in neither ``pred`` nor ``target`` has IoU NaN and is left out of the mean;
    one that appears in only one of them has IoU 0.
    """
    return iou_from_confusion(confusion_matrix(pred, target, num_classes))


# -- how an edit sits in its photo ------------------------------------------------------------------
CHANGED_LEVELS = 2  # a pixel counts as changed when a channel moves by more than 2 levels of 255
DISTANCE_GRID = 1024  # distances on larger images are measured on a grid of at most this side (see distance_to)


def distance_to(mask: np.ndarray, *, max_side: int = DISTANCE_GRID) -> np.ndarray:
    """float32 [H, W]: Euclidean distance in pixels from each pixel to the nearest pixel of ``mask``
    (bool [H, W]); 0 on it, ``inf`` everywhere when it is empty.

    Example::

        d = distance_to(stroke > 0.5)            # [H, W]
        ring = (d > 0) & (d <= side / 8)

    Exact (two separable passes) on images up to ``max_side``; a larger mask is first pooled (a cell counts
    as the mask when any of its pixels is) to at most ``max_side`` per side, so a distance there may be
    off by up to one cell's diagonal (0.14 % of a 1024-cell side).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask has shape {mask.shape}: pass a 2-D boolean array")
    h, w = mask.shape
    if not mask.any():
        return np.full((h, w), np.inf, np.float32)
    f = -(-max(h, w) // max_side)
    if f > 1:
        ph, pw = -(-h // f) * f, -(-w // f) * f
        pooled = np.zeros((ph, pw), bool)
        pooled[:h, :w] = mask
        coarse = pooled.reshape(ph // f, f, pw // f, f).any(axis=(1, 3))
        d = _exact_distance(coarse) * f
        return np.repeat(np.repeat(d, f, axis=0), f, axis=1)[:h, :w]
    return _exact_distance(mask)


def _exact_distance(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance transform: per column the distance to the nearest mask pixel, then per row
    the minimum over columns of (column distance)² + (column offset)²."""
    h, w = mask.shape
    rows = np.arange(h, dtype=np.float64)[:, None]
    above = np.maximum.accumulate(np.where(mask, rows, -np.inf), axis=0)
    below = np.minimum.accumulate(np.where(mask, rows, np.inf)[::-1], axis=0)[::-1]
    g2 = np.minimum(rows - above, below - rows) ** 2  # [H, W] squared distance within the column
    cols = np.arange(w, dtype=np.float64)
    offset2 = (cols[:, None] - cols[None, :]) ** 2  # [W, W]
    out = np.empty((h, w), np.float32)
    chunk = max(1, 2**22 // (w * w))
    for y in range(0, h, chunk):
        out[y : y + chunk] = np.sqrt((g2[y : y + chunk, None, :] + offset2[None]).min(axis=-1))
    return out


def _luma(image: np.ndarray) -> np.ndarray:
    x = np.asarray(image, dtype=np.float32)
    return x @ np.array([0.299, 0.587, 0.114], np.float32) if x.ndim == 3 else x


def changed_margin(result: np.ndarray, photo: np.ndarray, stroke: np.ndarray, *, side: int,
                   levels: int = CHANGED_LEVELS) -> float:
    """How far past the painted stroke the edit changed the photo: the largest distance from ``stroke``
    (bool [H, W]) of a pixel whose value moved by more than ``levels`` (uint8 [H, W, 3] images), as a share
    of ``side`` (the photo's model square). 0 when nothing changed outside the stroke."""
    changed = (np.abs(result.astype(np.int16) - photo.astype(np.int16)).max(axis=-1) > levels) & ~stroke
    if not changed.any():
        return 0.0
    return float(distance_to(stroke)[changed].max()) / side


def band_detail(result: np.ndarray, photo: np.ndarray, stroke: np.ndarray, *, side: int) -> float:
    """The result's high-frequency energy over the photo's in the ring from the stroke's edge to 1/8 of
    ``side`` beyond it: mean squared 4-neighbour Laplacian of luminance. 1 keeps the photo's detail; a
    blurred ring gives less, added edges or noise more."""
    d = distance_to(stroke)
    ring = ((d > 0) & (d <= side / 8))[1:-1, 1:-1]
    if not ring.any():
        return float("nan")
    energy = [float(np.mean(_laplacian(_luma(x))[ring] ** 2)) for x in (result, photo)]
    return energy[0] / max(energy[1], 1e-6)


def _laplacian(x: np.ndarray) -> np.ndarray:
    return x[:-2, 1:-1] + x[2:, 1:-1] + x[1:-1, :-2] + x[1:-1, 2:] - 4 * x[1:-1, 1:-1]


def seam_ratio(result: np.ndarray, photo: np.ndarray, stroke: np.ndarray) -> float:
    """Mean gradient magnitude of the result's luminance along the stroke's boundary (pixels with a
    4-neighbour on the other side) over the photo's own there. A gradient under one level per pixel counts
    as one, so a flat photo (a clear sky) does not turn any edge into an infinite ratio."""
    s = np.asarray(stroke, dtype=bool)
    edge = np.zeros_like(s)
    edge[:-1] |= s[:-1] != s[1:]
    edge[1:] |= s[:-1] != s[1:]
    edge[:, :-1] |= s[:, :-1] != s[:, 1:]
    edge[:, 1:] |= s[:, :-1] != s[:, 1:]
    if not edge.any():
        return float("nan")
    mags = []
    for x in (result, photo):
        gy, gx = np.gradient(_luma(x))
        mags.append(float(np.hypot(gx, gy)[edge].mean()))
    return mags[0] / max(mags[1], 1.0)
