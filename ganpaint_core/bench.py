"""Benchmarks: ``python -m ganpaint_core bench --model M --suite model|… [--seed S] --json OUT``.

``model`` measures a model suite against its own domain: the segmenter on held-out renders, samples
versus renders (Fréchet distance of segmenter features, concept shares), and the edit layer's
concept units (IoU counts, causal add/remove effects of the dictionary's top units). Held-out renders
and squares depend on ``--seed``; no training stage ever sees those seeds.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganpaint_core.dissect import DissectConfig, causal_effects, latents, measure_levels_and_iou
from ganpaint_core.loading import LoadedModel
from ganpaint_core.metrics import frechet_distance

log = logging.getLogger(__name__)

BENCH_CONCEPTS = ("sky", "cloud", "grass", "tree", "brick", "dome", "door")
ADD_UNITS = 12  # top units a full-strength "add" drives to their level (the dictionary's order)
REMOVE_UNITS = 24  # top units a full-strength "remove" zeroes


def _held_out_seeds(seed: int, offset: int, n: int) -> range:
    from ganpaint_core.synth.data import HELD_OUT_SEEDS

    start = HELD_OUT_SEEDS + seed * 1_000_000 + offset
    return range(start, start + n)


@torch.no_grad()
def _segment_features(segmenter: torch.nn.Module, images: torch.Tensor, batch: int = 100) -> tuple[np.ndarray, np.ndarray]:
    feats, labels = [], []
    for i in range(0, len(images), batch):
        x = images[i : i + batch]
        feats.append(segmenter.features(x).cpu().numpy())
        labels.append(segmenter.predict(x).cpu().numpy().astype(np.uint8))
    return np.concatenate(feats), np.concatenate(labels)


def _shares(labels: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    counts = np.bincount(labels.ravel(), minlength=len(names)) / labels.size
    return {n: float(counts[i]) for i, n in enumerate(names)}


def bench_model(model: LoadedModel, *, seed: int = 1, n: int = 1000, callback: Any = None) -> dict[str, Any]:
    """Figures of a model suite (generator + segmenter + dictionary) on held-out renders of ``seed``."""
    from ganpaint_core.synth.gan import to_unit_range
    from ganpaint_core.synth.scenes import LABELS, render_batch
    from ganpaint_core.synth.segmenter import evaluate_segmenter

    if model.segmenter is None or model.concepts is None:
        raise ValueError(f"{model.manifest.name} has no segmenter or no concept dictionary: the model suite needs both")
    G, seg, device = model.generator, model.segmenter, model.device
    res = model.manifest.resolution
    t0 = time.monotonic()
    renders_a, labels_a = render_batch(_held_out_seeds(seed, 0, n), resolution=res)
    renders_b, _ = render_batch(_held_out_seeds(seed, 500_000, n), resolution=res)
    miou = evaluate_segmenter(seg, renders_a, labels_a)["miou"]
    feat_a, pred_a = _segment_features(seg, to_unit_range(torch.from_numpy(renders_a)).to(device))
    feat_b, _ = _segment_features(seg, to_unit_range(torch.from_numpy(renders_b)).to(device))
    z = latents(n, G.latent_size, seed=10_000 + seed, device=device)
    with torch.no_grad():
        samples = torch.cat([G(z[i : i + 100]) for i in range(0, n, 100)]).clamp(-1, 1)
    feat_s, pred_s = _segment_features(seg, samples)
    share_s, share_r = _shares(pred_s, LABELS), _shares(pred_a, LABELS)
    log.info("bench: renders, segmenter and samples in %.1f s", time.monotonic() - t0)

    segment = lambda x: seg.predict(x.clamp(-1, 1))  # noqa: E731 - a one-line adapter
    layer = model.manifest.edit_layer
    cfg = DissectConfig(samples=n, seed=20_000 + seed, causal_samples=200)
    _, iou = measure_levels_and_iou(G, segment, layer=layer, num_labels=len(LABELS), cfg=cfg, device=device)
    levels = torch.tensor(model.concepts.levels)
    add_gain, remove_drop, units_iou = {}, {}, {}
    for i, concept in enumerate(BENCH_CONCEPTS):
        label = LABELS.index(concept)
        units_iou[concept] = int((iou[:, label] >= 0.10).sum())
        gain, _ = causal_effects(G, segment, layer=layer, units=model.concepts.top_units(concept, ADD_UNITS),
                                 label=label, levels=levels, cfg=cfg, device=device, seed=30_000 + seed + i)
        _, drop = causal_effects(G, segment, layer=layer, units=model.concepts.top_units(concept, REMOVE_UNITS),
                                 label=label, levels=levels, cfg=cfg, device=device, seed=30_000 + seed + i)
        add_gain[concept], remove_drop[concept] = gain, drop
    weights_bytes = sum(p.stat().st_size for p in model.manifest.folder.iterdir() if p.is_file())
    return {
        "resolution": res,
        "weights_mb": round(weights_bytes / 2**20, 2),
        "segmenter_miou": miou,
        "fd_samples": frechet_distance(feat_s, feat_a),
        "fd_floor": frechet_distance(feat_b, feat_a),
        "concept_share": {c: {"samples": share_s[c], "renders": share_r[c]} for c in BENCH_CONCEPTS},
        "units_iou_010": units_iou,
        "causal_add_gain": add_gain,
        "causal_remove_drop": remove_drop,
    }


def print_model_table(r: dict[str, Any]) -> None:
    print(f"resolution {r['resolution']}  weights {r['weights_mb']} MB  segmenter mIoU {r['segmenter_miou']:.3f}")
    print(f"FD samples {r['fd_samples']:.3f}  floor {r['fd_floor']:.3f}  ratio {r['fd_samples'] / max(r['fd_floor'], 1e-9):.2f}")
    print(f"{'concept':<8}{'share(s)':>10}{'share(r)':>10}{'rel.err':>9}{'IoU≥.1':>8}{'add':>8}{'remove':>8}")
    for c in BENCH_CONCEPTS:
        s, rr = r["concept_share"][c]["samples"], r["concept_share"][c]["renders"]
        print(f"{c:<8}{s:>10.3f}{rr:>10.3f}{abs(s - rr) / max(rr, 1e-9):>9.2f}{r['units_iou_010'][c]:>8}"
              f"{r['causal_add_gain'][c]:>8.3f}{r['causal_remove_drop'][c]:>8.3f}")
