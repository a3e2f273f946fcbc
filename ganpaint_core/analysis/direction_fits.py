"""The numerics behind latent directions: render and segment latents into concept shares, fit a concept's share
by ridge regression, principal components carried back to the latent (GANSpace), and rank correlation.

Example::

    z = sample_latents(G, 256, seed=0, device="cpu")                  # [256, L] (w for StyleGAN2)
    shares, features = observe(G, segmenter, z, feature_layer="layer1") # [256, K] float64, [256, F]
    direction, r2 = ridge_direction(z.double(), shares[:, 1])          # [L] in latent units

:mod:`ganpaint_core.analysis.directions` builds a model's :class:`~ganpaint_core.analysis.directions.Directions` from these.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

BATCH = 64  # samples per forward pass (64 px: ~0.5 s on one CPU core; 256 px StyleGAN2 on a GPU: ~1 GB)
RIDGE = 0.01  # ridge penalty per sample on standardised latents: defines the fit when samples < L, ~1 % shrink
MIN_PRESENCE = 0.01  # a concept present (≥ 1 pixel) in fewer samples than this share gets no direction: its
# fit would rest on a handful of images
LABEL_SAMPLES = 16  # samples moved ±LABEL_AMOUNT along each component to name it
LABEL_AMOUNT = 2.0  # std moved either way when naming a component
LABEL_TOP = 2  # concepts named per component
LABEL_MIN_CHANGE = 0.005  # a mean share change below this (half a percent of the image) is not named


def latent_space(generator: nn.Module) -> str:
    """The per-row latent directions live in: "w" for a family that inverts W+ (StyleGAN2), else "z"."""
    return "w" if getattr(generator, "inversion_space", "z") == "w+" else "z"


def sample_latents(generator: nn.Module, n: int, *, seed: int, device: torch.device | str) -> torch.Tensor:
    """``n`` reproducible latents ``[n, L]`` of the prior: ``z``, or ``w = mapping(z)`` for StyleGAN2."""
    z = generator.sample_latents(n, seed=seed, device=device)
    if latent_space(generator) == "w":
        with torch.no_grad():
            return generator.mapping(z)
    return z


@torch.no_grad()
def observe(generator: nn.Module, segmenter, latents: torch.Tensor, *, feature_layer: str | None = None,
            on_batch: Callable[[int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Render ``latents`` ``[N, L]`` in batches and segment them: per-label shares of the image ``[N, K]``
    (float64, CPU; K = ``len(segmenter.label_names)``) and, with ``feature_layer`` (z space only), that layer's
    output flattened ``[N, F]`` (float32, CPU). ``on_batch(samples_done)`` after each batch."""
    labels = len(segmenter.label_names)
    head = tail = None
    if feature_layer is not None:
        head, tail = generator.split(feature_layer)
    shares, features = [], []
    for i in range(0, len(latents), BATCH):
        x = latents[i : i + BATCH]
        if head is not None:
            f = head(x)  # [B, C, h, w]
            images = tail.run(f, latent=x)
            features.append(f.flatten(1).float().cpu())
        elif latent_space(generator) == "w":
            images = generator.synthesize(x)  # w [B, L] for every synthesis input
        else:
            images = generator(x)
        seg = segmenter.segment(images).flatten(1)  # [B, H·W] label ids
        offsets = torch.arange(len(seg), device=seg.device)[:, None] * labels
        counts = torch.bincount((seg + offsets).flatten(), minlength=len(seg) * labels).view(len(seg), labels)
        shares.append((counts.double() / seg.shape[1]).cpu())
        if on_batch is not None:
            on_batch(min(i + BATCH, len(latents)))
    return torch.cat(shares), (torch.cat(features) if features else None)


def concept_columns(label_names: Sequence[str], shares: torch.Tensor) -> tuple[dict[str, int], dict[str, str]]:
    """``({concept: column of shares}, {concept: why skipped})`` over the labels other than "other": a concept
    present in fewer than ``MIN_PRESENCE`` of the samples is skipped."""
    present = (shares > 0).double().mean(dim=0)  # [K] share of samples where the label has any pixel
    columns, skipped = {}, {}
    for k, name in enumerate(label_names):
        if name == "other":
            continue
        if present[k] == 0:
            skipped[name] = f"the segmenter never saw {name} in {len(shares)} samples"
        elif present[k] < MIN_PRESENCE:
            skipped[name] = (f"{name} appears in only {int(round(float(present[k]) * len(shares)))} of "
                             f"{len(shares)} samples")
        else:
            columns[name] = k
    return columns, skipped


def ridge_direction(latents: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Ridge regression of ``target`` ``[N]`` on the standardised ``latents`` ``[N, L]`` (float64): the fit's
    gradient in latent units ``[L]`` (not normalised) and the fit's R² on the samples."""
    mean, std = latents.mean(dim=0), latents.std(dim=0).clamp_min(1e-8)
    x = (latents - mean) / std  # [N, L]
    y = target - target.mean()
    n, dim = x.shape
    beta = torch.linalg.solve(x.T @ x + RIDGE * n * torch.eye(dim, dtype=x.dtype), x.T @ y)  # [L]
    total = float((y**2).sum())
    r2 = 1.0 - float(((y - x @ beta) ** 2).sum()) / total if total > 0 else 0.0
    return beta / std, r2


def principal_directions(latents: torch.Tensor, features: torch.Tensor,
                         components: int) -> tuple[torch.Tensor, list[float]]:
    """GANSpace: the top ``components`` principal components of ``features`` ``[N, F]``, each carried to the
    latent by least-squares regression of the centred ``latents`` ``[N, L]`` on the component scores; returns
    the directions ``[components, L]`` (not normalised; sign arbitrary) and the explained-variance ratios of
    the top max(components, 10) components. With ``features`` = ``latents`` (w space) the directions are the
    principal axes themselves."""
    f = features.double() - features.double().mean(dim=0)  # [N, F]
    n, d = f.shape
    keep = min(max(components, 10), n, d)
    if n <= d:  # the N×N Gram matrix: its eigenvectors times the singular values are the scores
        values, vectors = torch.linalg.eigh(f @ f.T)
        values, vectors = values.flip(0), vectors.flip(1)
        scores = vectors[:, :components] * values[:components].clamp_min(0).sqrt()  # [N, k]
    else:
        values, vectors = torch.linalg.eigh(f.T @ f)
        values, vectors = values.flip(0), vectors.flip(1)
        scores = f @ vectors[:, :components]  # [N, k]
    ratios = (values[:keep].clamp_min(0) / values.clamp_min(0).sum()).tolist()
    x = latents.double() - latents.double().mean(dim=0)  # [N, L]
    directions = torch.linalg.lstsq(scores, x).solution  # [k, L]: x ≈ scores @ directions
    return directions, ratios


def scaled(direction: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """``direction`` ``[L]`` as a float32 CPU vector whose length is the std of ``latents`` ``[M, L]`` along it."""
    unit = direction.double().cpu() / direction.double().norm().clamp_min(1e-12)
    return (unit * (latents.double().cpu() @ unit).std()).float()


def component_label(changes: dict[str, float]) -> str:
    """The concepts whose mean share a component changes most, with the sign: ``"+sky −tree"``."""
    top = sorted(changes.items(), key=lambda kv: -abs(kv[1]))[:LABEL_TOP]
    words = [("+" if v > 0 else "\u2212") + name for name, v in top if abs(v) >= LABEL_MIN_CHANGE]
    return " ".join(words) or "no concept share changes"


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing their mean rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=r) / counts)[inverse]


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's ρ (ties averaged); 0 when either side does not vary."""
    ra, rb = ranks(np.asarray(a)), ranks(np.asarray(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(np.sqrt((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / den) if den > 0 else 0.0
