"""Image and segmentation metrics: Fréchet distance between feature sets, PSNR, confusion-based IoU.

Example::

    from ganpaint_core.metrics import frechet_distance, mean_iou, psnr

    fd = frechet_distance(feats_a, feats_b)          # [N, D] and [M, D] float arrays -> float >= 0
    db = psnr(reconstruction, target)                # float images in [-1, 1] -> dB
    miou, iou = mean_iou(pred, target, num_classes=8)  # integer label maps of equal shape

Everything here is plain numpy/torch, float64 where precision matters, with no scipy dependency.
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["confusion_matrix", "frechet_distance", "iou_from_confusion", "mean_iou", "psnr"]


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
