"""GAN Dissection of one layer: which units draw which concept (IoU), and which ones cause it (causal).

1. **Levels**: each unit's 0.99 activation quantile over generated samples (all positions) — the
   value GANPaint writes to "draw" with a unit.
2. **IoU**: a unit is "on" where its activation, upsampled to image size, exceeds a threshold; its IoU
   with a concept is measured against the segmenter's mask of that concept over all samples. As in GAN
   Dissection (Bau et al. 2019, §3.1) the threshold is chosen per unit *and concept*, here the best of
   the unit's quantiles in ``iou_quantiles``: a single 0.99 quantile switches a unit on over 1 % of all
   pixels, which caps its IoU with a concept covering 35 % of them (sky) at 0.03.
3. **Causal** unit sets, found as in GAN Dissection §3.2 (average causal effect, ACE): one coefficient
   α_u ∈ [0, 1] per unit is optimised by gradient descent through the generator's tail and the
   segmenter's class probabilities, with a penalty on Σα so that few units carry the effect.
   *Insertion*: features inside a random square move α_u of the way to each unit's level, and the
   concept's probability inside the square is maximised. *Ablation*: features are scaled by (1 − α_u)
   everywhere, and the concept's probability over the image is minimised. Units ranked by α form the
   concept's ``add`` ranking and its ``remove`` ranking; single units rarely cause a concept alone, so a
   joint search finds sets that one-unit tests miss.
4. **Verification**: the top sets are measured on fresh samples with hard edits (levels written inside
   squares, units zeroed), the figures the model benchmark reports.
5. **Template**: the mean features (every unit) of the most concept-rich squares of other samples, as a
   pattern over the square's cells, verified in the same squares. A small generator's tail renders a
   constant write as a texture, so objects with an outline (domes, doors) can be drawn by their template
   when no few units can; the dictionary keeps the template where its gain beats the units' by
   ``template_margin``, and *add* strokes of that concept write it.

Works for any generator with ``split(layer)`` and any :class:`~ganpaint_core.analysis.segmenters.SceneSegmenter`
(its ``segment`` for label maps, its differentiable ``probabilities`` for the causal search).
"""
from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.core.progress import Callback
from ganpaint_core.hub.concepts import ConceptDictionary, ConceptRanking, ConceptTemplate, template_target
from ganpaint_core.models.layers import run_tail

log = logging.getLogger(__name__)

SegmentFn = Callable[[torch.Tensor], torch.Tensor]  # images [N, 3, H, W] in [-1, 1] -> labels [N, H, W] int
ProbabilityFn = Callable[[torch.Tensor], torch.Tensor]  # images [N, 3, H, W] -> probabilities [N, K, H, W], differentiable


@dataclass(frozen=True)
class DissectConfig:
    """How much to sample and how to rank."""

    samples: int = 1000  # generated samples for levels and IoU
    batch: int = 50  # samples per forward pass
    quantile: float = 0.99  # a unit's level (the value an "add" writes)
    iou_quantiles: tuple[float, ...] = (0.6, 0.75, 0.85, 0.92, 0.96, 0.98, 0.99, 0.995)  # "on" thresholds tried
    ace_steps: int = 300  # gradient steps of each causal search (one for add, one for remove, per concept)
    ace_batch: int = 8  # samples per step of the causal search
    ace_lr: float = 0.05  # Adam step on the logits of α
    ace_penalty: float = 0.01  # cost of Σα against an effect measured as a share in [0, 1]
    causal_samples: int = 96  # samples on which the found sets are verified
    add_units: int = 12  # size of the verified "add" set (a full-strength add stroke's)
    remove_units: int = 24  # size of the verified "remove" set (a full-strength remove stroke's)
    square_fraction: float = 1 / 16  # area of the square the "add" test draws in
    keep: int = 40  # units kept per concept in the dictionary
    template_samples: int = 400  # samples whose most concept-rich squares average into the concept's template
    template_margin: float = 0.1  # keep the template when its verified add gain beats the units' by this much
    seed: int = 0  # latents and squares


# The label order of the synth-church segmenter the shipped dictionary was measured with, when a concept's seed
# was 1000 × (its label id + 1): those names keep their seeds, so the shipped dictionary stays reproducible.
_SEEDED_BY_LABEL = ("other", "sky", "cloud", "grass", "tree", "brick", "dome", "door")


def concept_seed(concept: str) -> int:
    """Seed offset of a concept's causal searches, verification and template samples: a function of its name
    alone, so a concept gives one result whichever segmenter, label id or other concepts it is measured with
    (by label, or typed by name through a segmenter's text interface)."""
    if concept in _SEEDED_BY_LABEL:
        return 1000 * (_SEEDED_BY_LABEL.index(concept) + 1)
    return 1000 * (len(_SEEDED_BY_LABEL) + 1 + zlib.crc32(concept.encode("utf-8")) % 1_000_000)


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


def square_side(grid: int, fraction: float) -> int:
    """Side, in feature-grid cells, of the square that covers ``fraction`` of a ``grid``×``grid`` map."""
    return max(1, round(grid * fraction**0.5))


def random_squares(n: int, grid: int, *, fraction: float, seed: int) -> torch.Tensor:
    """Boxes ``[n, 4]`` (y0, x0, y1, x1) in feature-grid cells covering ``fraction`` of the area."""
    side = square_side(grid, fraction)
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


def square_rise(after: torch.Tensor, base: torch.Tensor, pmask: torch.Tensor, label: int) -> torch.Tensor:
    """Per sample, how much the label's share inside the square ``pmask`` [n, H, W] rose from ``base`` to
    ``after`` (label maps [n, H, W])."""
    area = pmask.flatten(1).sum(1).clamp(min=1)
    return (((after == label) & pmask).flatten(1).sum(1) - ((base == label) & pmask).flatten(1).sum(1)) / area


def richest_squares(labels: torch.Tensor, label: int, *, grid: int, side: int) -> tuple[torch.Tensor, ...]:
    """Per sample of the label maps ``labels`` [n, H, W], the ``side``×``side`` square (feature-grid cells of
    a ``grid``×``grid`` map) where the label's share is highest: that share [n] and the square's top-left
    cell, y [n] and x [n]."""
    px = labels.shape[-1] // grid
    share = F.avg_pool2d((labels == label).float()[:, None], side * px, stride=px)[:, 0]  # [n, g-k+1, g-k+1]
    value, where = share.flatten(1).max(1)
    return value, where // share.shape[-1], where % share.shape[-1]


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
        gains.append(square_rise(segment(run_tail(probe.tail, added, latent=zb)), base, pmask, label))
        removed = f.clone()
        removed[:, idx] = 0
        before_total += (base == label).sum().item()
        after_total += (segment(run_tail(probe.tail, removed, latent=zb)) == label).sum().item()
    gain = torch.cat(gains).float().mean().item()
    drop = (before_total - after_total) / before_total if before_total else 0.0
    return gain, drop


def optimize_unit_set(
    generator: nn.Module,
    probabilities: ProbabilityFn,
    *,
    layer: str,
    label: int,
    levels: torch.Tensor,
    action: str,
    cfg: DissectConfig,
    device: torch.device,
    seed: int,
    callback: Callback | None = None,
) -> torch.Tensor:
    """α [C] in [0, 1]: how much each unit of ``layer`` takes part in drawing (``action="add"``) or erasing
    (``"remove"``) the label, from GAN Dissection's ACE search (module docstring, step 3). Deterministic
    for a given ``seed`` on a deterministic device; runs with gradients even when called under no_grad."""
    if action not in ("add", "remove"):
        raise ValueError(f"action must be 'add' or 'remove', got {action!r}")
    head, tail = generator.split(layer)
    c = levels.numel()
    level = levels.to(device).view(1, -1, 1, 1)
    logits = torch.full((c,), -2.0, device=device, requires_grad=True)  # α starts at 0.12 for every unit
    opt = torch.optim.Adam([logits], lr=cfg.ace_lr)
    z_all = latents(cfg.ace_steps * cfg.ace_batch, generator.latent_size, seed=seed, device=device)
    base_share = None
    for step in range(cfg.ace_steps):
        zb = z_all[step * cfg.ace_batch : (step + 1) * cfg.ace_batch]
        with torch.no_grad():
            f = head(zb)  # [n, C, g, g]
            if action == "remove" and base_share is None:  # the effect is relative to the label's share
                base_share = float(probabilities(run_tail(tail, f, latent=zb))[:, label].mean())
                if base_share < 1e-4:
                    log.warning("label %d is (almost) never drawn; no removal set to find", label)
                    return torch.zeros(c)
        with torch.enable_grad():
            alpha = torch.sigmoid(logits).view(1, -1, 1, 1)
            if action == "add":
                fmask = box_mask(random_squares(len(zb), f.shape[-1], fraction=cfg.square_fraction,
                                                seed=seed + step), f.shape[-1]).to(device)  # [n, 1, g, g]
                p = probabilities(run_tail(tail, f + fmask * alpha * (level - f), latent=zb))[:, label]  # [n, H, W]
                pmask = F.interpolate(fmask, size=p.shape[-2:], mode="nearest")[:, 0]
                effect = -(p * pmask).sum() / pmask.sum()  # the label's share inside the squares, raised
            else:
                p = probabilities(run_tail(tail, f * (1 - alpha), latent=zb))[:, label]
                effect = p.mean() / base_share  # what is left of the label, lowered
            loss = effect + cfg.ace_penalty * alpha.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
        opt.step()
        if callback:
            callback(step + 1, cfg.ace_steps, {"stage": f"ace-{action}", "loss": float(loss.detach())})
    return torch.sigmoid(logits).detach().cpu()


@torch.no_grad()
def concept_template(
    generator: nn.Module, segment: SegmentFn, *, layer: str, label: int, cfg: DissectConfig, device: torch.device,
    seed: int,
) -> torch.Tensor:
    """Mean edit-layer features [C, k, k] of the most concept-rich k×k squares (k: the add test's side) in the
    top eighth of ``cfg.template_samples`` samples: the concept with its shape, which a constant write lacks."""
    head, tail = generator.split(layer)
    z = latents(cfg.template_samples, generator.latent_size, seed=seed, device=device)
    best_share, best_block = [], []
    for i in range(0, cfg.template_samples, cfg.batch):
        zb = z[i : i + cfg.batch]
        f = head(zb)
        labels = segment(run_tail(tail, f, latent=zb))
        side = square_side(f.shape[-1], cfg.square_fraction)
        value, ys, xs = richest_squares(labels, label, grid=f.shape[-1], side=side)
        for j, (y, x) in enumerate(zip(ys.tolist(), xs.tolist())):
            best_block.append(f[j, :, y : y + side, x : x + side].float().cpu())
        best_share.append(value.cpu())
    shares = torch.cat(best_share)
    top = shares.argsort(descending=True)[: max(1, cfg.template_samples // 8)]
    return torch.stack([best_block[int(i)] for i in top]).mean(0)


@torch.no_grad()
def template_effect(
    generator: nn.Module, segment: SegmentFn, *, layer: str, template: torch.Tensor, label: int,
    cfg: DissectConfig, device: torch.device, seed: int, probe: CausalProbe | None = None,
) -> float:
    """Mean rise of the label's share inside :func:`causal_effects`'s squares when the template is written
    there (every unit), as an add stroke of a template concept writes it."""

    probe = probe or causal_probe(generator, segment, layer=layer, cfg=cfg, device=device, seed=seed)
    t = template.to(device)
    gains = []
    for zb, f, fmask, pmask, base in probe.batches:
        added = f.clone()
        for j in range(len(f)):
            alpha = fmask[j : j + 1]
            added[j : j + 1] = added[j : j + 1] * (1 - alpha) + template_target(t.to(f.dtype), alpha) * alpha
        gains.append(square_rise(segment(run_tail(probe.tail, added, latent=zb)), base, pmask, label))
    return torch.cat(gains).float().mean().item()


def dissect(
    generator: nn.Module,
    segmenter: Any,
    *,
    layer: str,
    concepts: Sequence[str],
    cfg: DissectConfig = DissectConfig(),
    device: torch.device | str = "cpu",
    callback: Callback | None = None,
    source: str = "",
    measured: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[ConceptDictionary, dict[str, Any]]:
    """A concept dictionary for ``layer`` and a report (per-concept IoU counts and verified causal figures).

    ``segmenter`` is a :class:`~ganpaint_core.analysis.segmenters.SceneSegmenter` (``label_names``, ``segment``,
    ``probabilities``). ``measured`` is ``(levels, iou)`` from :func:`measure_levels_and_iou` with the same
    ``cfg``, when the caller has them already (a run that dissects one concept at a time). A concept's
    searches and verification samples depend on its name (:func:`concept_seed`) and ``cfg.seed`` only, so
    dissecting concepts one by one or together, by label or by name, gives one result."""
    device = torch.device(device)
    label_names = list(segmenter.label_names)
    if measured is None:
        measured = measure_levels_and_iou(generator, segmenter.segment, layer=layer, num_labels=len(label_names),
                                          cfg=cfg, device=device, callback=callback)
    levels, iou = measured
    rankings: dict[str, ConceptRanking] = {}
    removal: dict[str, ConceptRanking] = {}
    templates: dict[str, ConceptTemplate] = {}
    report: dict[str, Any] = {"units_iou_010": {}, "best_iou": {}, "causal": {}}
    for n, concept in enumerate(concepts):
        label = label_names.index(concept)
        report["units_iou_010"][concept] = int((iou[:, label] >= 0.10).sum())
        report["best_iou"][concept] = float(iou[:, label].max())
        seed = cfg.seed + concept_seed(concept)
        found = {}
        for action in ("add", "remove"):
            alpha = optimize_unit_set(generator, segmenter.probabilities, layer=layer, label=label, levels=levels,
                                      action=action, cfg=cfg, device=device, seed=seed + (0 if action == "add" else 500),
                                      callback=callback)
            # α ties (units the search never moved) fall back to IoU, so the order is total and meaningful.
            order = sorted(range(len(alpha)), key=lambda u: (-round(float(alpha[u]), 4), -float(iou[u, label])))
            found[action] = ConceptRanking(metric=f"ace-{action}" if action == "remove" else "ace",
                                           units=tuple(order[: cfg.keep]),
                                           scores=tuple(round(float(alpha[u]), 6) for u in order[: cfg.keep]))
        rankings[concept], removal[concept] = found["add"], found["remove"]
        probe = causal_probe(generator, segmenter.segment, layer=layer, cfg=cfg, device=device, seed=seed + 900)
        gain, _ = causal_effects(generator, segmenter.segment, layer=layer, units=found["add"].units[: cfg.add_units],
                                 label=label, levels=levels, cfg=cfg, device=device, seed=seed + 900, probe=probe)
        _, drop = causal_effects(generator, segmenter.segment, layer=layer,
                                 units=found["remove"].units[: cfg.remove_units], label=label, levels=levels, cfg=cfg,
                                 device=device, seed=seed + 900, probe=probe)
        template = concept_template(generator, segmenter.segment, layer=layer, label=label, cfg=cfg, device=device,
                                    seed=seed + 700)
        template_gain = template_effect(generator, segmenter.segment, layer=layer, template=template, label=label,
                                        cfg=cfg, device=device, seed=seed + 900, probe=probe)
        if template_gain > gain + cfg.template_margin:
            templates[concept] = ConceptTemplate(size=template.shape[-1],
                                                 values=tuple(round(float(v), 5) for v in template.flatten()))
        report["causal"][concept] = {"add_gain": gain, "add_units": cfg.add_units, "remove_drop": drop,
                                     "remove_units": cfg.remove_units, "template_add_gain": template_gain,
                                     "add_draws": "template" if concept in templates else "units"}
        if callback:
            callback(n + 1, len(concepts), {"stage": "causal", "concept": concept})
    dictionary = ConceptDictionary(
        layer=layer, num_units=int(levels.numel()), level_quantile=cfg.quantile,
        levels=tuple(round(float(v), 6) for v in levels), concepts=rankings, source=source, removal=removal,
        templates=templates,
    )
    return dictionary, report
