"""GAN Dissection of one layer: which units draw which concept (IoU), and which ones cause it (causal).

1. **Levels**: each unit's 0.99 activation quantile over generated samples (all positions) — the
   value GANPaint writes to "draw" with a unit.
2. **IoU**: a unit is "on" where its activation, upsampled to image size, exceeds a threshold; its IoU
   with a concept is measured against the segmenter's mask of that concept over all samples. As in GAN
   Dissection (Bau et al. 2019, §3.1) the threshold is chosen per unit *and concept*, here the best of
   the unit's quantiles in ``iou_quantiles``: a single 0.99 quantile switches a unit on over 1 % of all
   pixels, which caps its IoU with a concept covering 35 % of them (sky) at 0.03.
3. **Causal** ranking of the best-IoU candidates: setting a unit to its level inside a random square
   raises the concept's share there (``add``), zeroing it everywhere lowers the concept's share
   (``remove``); the score is the sum of the two.

Works for any generator with ``split(layer)`` and any segmenter callable
``segment(images [-1, 1]) -> labels [N, H, W]`` with named labels.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.concepts import ConceptDictionary, ConceptRanking
from ganpaint_core.edit.layers import run_tail

log = logging.getLogger(__name__)

SegmentFn = Callable[[torch.Tensor], torch.Tensor]  # images [N, 3, H, W] in [-1, 1] -> labels [N, H, W] int
Callback = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True)
class DissectConfig:
    """How much to sample and how to rank."""

    samples: int = 1000  # generated samples for levels and IoU
    batch: int = 50  # samples per forward pass
    quantile: float = 0.99  # a unit's level (the value an "add" writes)
    iou_quantiles: tuple[float, ...] = (0.6, 0.75, 0.85, 0.92, 0.96, 0.98, 0.99, 0.995)  # "on" thresholds tried
    causal_candidates: int = 24  # best-IoU units per concept that are tested causally
    causal_samples: int = 96  # samples per causal test
    square_fraction: float = 1 / 16  # area of the square the "add" test draws in
    keep: int = 40  # units kept per concept in the dictionary
    seed: int = 0  # latents and squares


def latents(n: int, size: int, *, seed: int, device: torch.device) -> torch.Tensor:
    return torch.randn(n, size, generator=torch.Generator().manual_seed(seed)).to(device)


@torch.no_grad()
def measure_levels_and_iou(
    generator: nn.Module,
    segment: SegmentFn,
    *,
    layer: str,
    num_labels: int,
    cfg: DissectConfig,
    device: torch.device,
    callback: Callback | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Levels [C] and IoU [C, num_labels] of every unit of ``layer`` with every label (the best IoU over
    the thresholds ``cfg.iou_quantiles``)."""
    head, tail = generator.split(layer)
    z = latents(cfg.samples, generator.latent_size, seed=cfg.seed, device=device)
    feats, labels = [], []
    for i in range(0, cfg.samples, cfg.batch):
        zb = z[i : i + cfg.batch]
        f = head(zb)
        feats.append(f.cpu())
        labels.append(segment(run_tail(tail, f, latent=zb)).to(torch.uint8).cpu())
        if callback:
            callback(i + len(f), 2 * cfg.samples, {"stage": "sample"})
    features = torch.cat(feats)  # [N, C, h, w]
    seg = torch.cat(labels)  # [N, H, W]
    c = features.shape[1]
    per_unit = features.transpose(0, 1).reshape(c, -1)  # [C, N*h*w]
    k = max(1, int(round(cfg.quantile * per_unit.shape[1])))
    levels = per_unit.kthvalue(k, dim=1).values.clamp(min=0)  # [C]
    qs = torch.tensor(cfg.iou_quantiles, dtype=per_unit.dtype)
    # Quantiles from a subsample: exact enough for thresholds, and torch.quantile limits its input size.
    step = max(1, per_unit.shape[1] // 200_000)
    thresholds = torch.quantile(per_unit[:, ::step], qs, dim=1).T.contiguous()  # [C, T]
    t = thresholds.shape[1]
    inter = torch.zeros(c, t, num_labels, dtype=torch.float64)
    unit_area = torch.zeros(c, t, dtype=torch.float64)
    label_area = torch.zeros(num_labels, dtype=torch.float64)
    size = seg.shape[-1]
    for i in range(0, cfg.samples, cfg.batch):
        up = F.interpolate(features[i : i + cfg.batch], size=(size, size), mode="bilinear", align_corners=False)
        onehot = F.one_hot(seg[i : i + cfg.batch].long().flatten(1), num_labels).float()  # [B, P, K]
        label_area += onehot.sum(dim=(0, 1)).double()
        for j in range(t):
            on = (up > thresholds[:, j].view(1, -1, 1, 1)).float().flatten(2)  # [B, C, P]
            inter[:, j] += torch.bmm(on, onehot).sum(0).double()
            unit_area[:, j] += on.sum(dim=(0, 2)).double()
        if callback:
            callback(cfg.samples + i + len(up), 2 * cfg.samples, {"stage": "iou"})
    iou = inter / (unit_area[:, :, None] + label_area[None, None, :] - inter).clamp(min=1)  # [C, T, K]
    iou = iou.max(dim=1).values
    return levels, iou.float()


def random_squares(n: int, grid: int, *, fraction: float, seed: int) -> torch.Tensor:
    """Boxes ``[n, 4]`` (y0, x0, y1, x1) in feature-grid cells covering ``fraction`` of the area."""
    side = max(1, round(grid * fraction**0.5))
    g = torch.Generator().manual_seed(seed)
    y0 = torch.randint(0, grid - side + 1, (n,), generator=g)
    x0 = torch.randint(0, grid - side + 1, (n,), generator=g)
    return torch.stack([y0, x0, y0 + side, x0 + side], dim=1)


def box_mask(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Float masks ``[n, 1, size, size]`` for boxes given on a ``grid`` whose cells are ``size/grid`` px."""
    n = boxes.shape[0]
    mask = torch.zeros(n, 1, size, size)
    for i, (y0, x0, y1, x1) in enumerate(boxes.tolist()):
        mask[i, :, y0:y1, x0:x1] = 1
    return mask


@dataclass
class CausalProbe:
    """The samples a causal test edits, computed once and shared by every unit tested on them: per batch the
    latents, edit-layer features, random squares (feature grid and pixels) and the unedited segmentation."""

    tail: Callable[..., torch.Tensor]
    batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


@torch.no_grad()
def causal_probe(
    generator: nn.Module, segment: SegmentFn, *, layer: str, cfg: DissectConfig, device: torch.device, seed: int
) -> CausalProbe:
    head, tail = generator.split(layer)
    z = latents(cfg.causal_samples, generator.latent_size, seed=seed, device=device)
    batches = []
    for i in range(0, cfg.causal_samples, cfg.batch):
        zb = z[i : i + cfg.batch]
        f = head(zb)
        n, _, grid, _ = f.shape
        boxes = random_squares(n, grid, fraction=cfg.square_fraction, seed=seed + i)
        fmask = box_mask(boxes, grid).to(device)  # [n, 1, g, g]
        base = segment(run_tail(tail, f, latent=zb))
        size = base.shape[-1]
        pmask = F.interpolate(fmask, size=(size, size), mode="nearest")[:, 0].bool()
        batches.append((zb, f, fmask, pmask, base))
    return CausalProbe(tail=tail, batches=batches)


@torch.no_grad()
def causal_effects(
    generator: nn.Module,
    segment: SegmentFn,
    *,
    layer: str,
    units: Sequence[int],
    label: int,
    levels: torch.Tensor,
    cfg: DissectConfig,
    device: torch.device,
    seed: int,
    probe: CausalProbe | None = None,
) -> tuple[float, float]:
    """Mean rise of the label's share inside random squares when ``units`` are set to their level there,
    and mean relative drop of its share over the image when they are zeroed. Pass a ``probe`` made with
    the same ``layer``, ``cfg`` and ``seed`` to test many unit sets on one set of samples."""
    probe = probe or causal_probe(generator, segment, layer=layer, cfg=cfg, device=device, seed=seed)
    idx = torch.tensor(list(units), device=device)
    level = levels[idx].view(1, -1, 1, 1).to(device)
    gains, before_total, after_total = [], 0.0, 0.0
    for zb, f, fmask, pmask, base in probe.batches:
        added = f.clone()
        added[:, idx] = added[:, idx] * (1 - fmask) + level * fmask
        after_add = segment(run_tail(probe.tail, added, latent=zb))
        area = pmask.flatten(1).sum(1).clamp(min=1)
        share_before = ((base == label) & pmask).flatten(1).sum(1) / area
        share_after = ((after_add == label) & pmask).flatten(1).sum(1) / area
        gains.append(share_after - share_before)
        removed = f.clone()
        removed[:, idx] = 0
        before_total += (base == label).sum().item()
        after_total += (segment(run_tail(probe.tail, removed, latent=zb)) == label).sum().item()
    gain = torch.cat(gains).float().mean().item()
    drop = (before_total - after_total) / before_total if before_total else 0.0
    return gain, drop


def dissect(
    generator: nn.Module,
    segment: SegmentFn,
    *,
    layer: str,
    label_names: Sequence[str],
    concepts: Sequence[str],
    cfg: DissectConfig = DissectConfig(),
    device: torch.device | str = "cpu",
    callback: Callback | None = None,
    source: str = "",
    measured: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[ConceptDictionary, dict[str, Any]]:
    """A concept dictionary for ``layer`` and a report (per-concept IoU counts and causal figures).

    ``measured`` is ``(levels, iou)`` from :func:`measure_levels_and_iou` with the same ``cfg``, when the
    caller has them already (a run that dissects one concept at a time). A concept's causal samples depend
    on its label and ``cfg.seed`` only, so dissecting concepts one by one or together gives one result."""
    device = torch.device(device)
    if measured is None:
        measured = measure_levels_and_iou(generator, segment, layer=layer, num_labels=len(label_names), cfg=cfg,
                                          device=device, callback=callback)
    levels, iou = measured
    rankings: dict[str, ConceptRanking] = {}
    report: dict[str, Any] = {"units_iou_010": {}, "best_iou": {}, "causal": {}}
    for n, concept in enumerate(concepts):
        label = list(label_names).index(concept)
        order = torch.argsort(iou[:, label], descending=True).tolist()
        report["units_iou_010"][concept] = int((iou[:, label] >= 0.10).sum())
        report["best_iou"][concept] = float(iou[order[0], label])
        scored = []
        seed = cfg.seed + 1000 * (label + 1)
        probe = causal_probe(generator, segment, layer=layer, cfg=cfg, device=device, seed=seed)
        for u in order[: cfg.causal_candidates]:
            gain, drop = causal_effects(generator, segment, layer=layer, units=[u], label=label, levels=levels,
                                        cfg=cfg, device=device, seed=seed, probe=probe)
            scored.append((gain + drop, u, gain, drop))
        scored.sort(key=lambda t: -t[0])
        report["causal"][concept] = [{"unit": u, "add_gain": g, "remove_drop": d} for _, u, g, d in scored[:10]]
        tested = {u for _, u, _, _ in scored}
        # Causally tested units first (by effect), then the rest by IoU.
        units = [u for _, u, _, _ in scored] + [u for u in order if u not in tested]
        scores = [s for s, _, _, _ in scored] + [float(iou[u, label]) for u in order if u not in tested]
        rankings[concept] = ConceptRanking(metric="iou+causal", units=tuple(units[: cfg.keep]),
                                           scores=tuple(round(s, 6) for s in scores[: cfg.keep]))
        if callback:
            callback(n + 1, len(concepts), {"stage": "causal", "concept": concept})
    dictionary = ConceptDictionary(
        layer=layer, num_units=int(levels.numel()), level_quantile=cfg.quantile,
        levels=tuple(round(float(v), 6) for v in levels), concepts=rankings, source=source,
    )
    return dictionary, report
