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

from ganpaint_core.analysis.dissect import (
    DissectConfig,
    causal_effects,
    causal_probe,
    latents,
    measure_levels_and_iou,
    richest_squares,
    square_rise,
    square_side,
)
from ganpaint_core.core.metrics import frechet_distance
from ganpaint_core.hub.loading import LoadedModel

log = logging.getLogger(__name__)

BENCH_CONCEPTS = ("sky", "cloud", "grass", "tree", "brick", "dome", "door")
ADD_UNITS = 12  # top units a full-strength "add" drives to their level (the dictionary's order)
REMOVE_UNITS = 24  # top units a full-strength "remove" zeroes


def _held_out_seeds(seed: int, offset: int, n: int) -> range:
    from ganpaint_core.synth.data import HELD_OUT_SEEDS

    start = HELD_OUT_SEEDS + seed * 1_000_000 + offset
    return range(start, start + n)


@torch.no_grad()
def _segment_uint8(segmenter: torch.nn.Module, images: np.ndarray, device: torch.device) -> np.ndarray:
    """Label maps [N, H, W] of uint8 images [N, H, W, 3]."""
    from ganpaint_core.training.gan import to_unit_range

    return segmenter.predict(to_unit_range(np.ascontiguousarray(images)).to(device)).cpu().numpy()


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
    from ganpaint_core.synth.scenes import LABELS, render_batch
    from ganpaint_core.training.gan import to_unit_range
    from ganpaint_core.training.segmenter import evaluate_segmenter

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
        probe = causal_probe(G, segment, layer=layer, cfg=cfg, device=device, seed=30_000 + seed + i)
        gain, _ = causal_effects(G, segment, layer=layer, units=model.concepts.top_units(concept, ADD_UNITS),
                                 label=label, levels=levels, cfg=cfg, device=device, seed=30_000 + seed + i,
                                 probe=probe)
        erasers = model.concepts.top_units(concept, REMOVE_UNITS, "remove")
        _, drop = causal_effects(G, segment, layer=layer, units=erasers,
                                 label=label, levels=levels, cfg=cfg, device=device, seed=30_000 + seed + i,
                                 probe=probe)
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


def bench_paste_bound(model: LoadedModel, *, seed: int = 1, n: int = 400) -> dict[str, Any]:
    """The ``causal_add_gain`` a perfect insertion would get: per concept, the most concept-rich square of a
    held-out render (the causal test's size, 1/16 of the image) pasted into a random square of another held-out
    render, its real pixels, scored by the same segmenter. ``labels`` is the share the pasted pixels truly
    have (from the renders' label maps), ``segmenter`` the rise the segmenter reports, which is lower where
    it judges pixels by their surroundings (one trained without copy-paste saw little grass in the sky).
    ``features`` does the same inside the generator, in ``causal_add_gain``'s own samples and squares: the
    edit-layer features of the most concept-rich square of another sample are pasted there and rendered by
    the tail. It says whether the tail can draw the concept from features that really hold it; when it can
    and ``causal_add_gain`` still falls short, no small set of units at constant levels is such a feature."""
    from ganpaint_core.synth.scenes import LABELS, render_batch

    if model.segmenter is None:
        raise ValueError(f"{model.manifest.name} has no segmenter: the paste bound needs one")
    res = model.manifest.resolution
    side = max(1, round(res * 0.25))  # the causal test's squares cover 1/16 of the image
    targets, _ = render_batch(_held_out_seeds(seed, 0, n), resolution=res)
    donors, donor_labels = render_batch(_held_out_seeds(seed, 500_000, n), resolution=res)
    rng = np.random.default_rng(seed)
    before = _segment_uint8(model.segmenter, targets, model.device)
    out: dict[str, Any] = {"resolution": res, "square_px": side, "concepts": {}}
    for concept in BENCH_CONCEPTS:
        label = LABELS.index(concept)
        area = np.pad((donor_labels == label).cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))  # [N, R+1, R+1]
        share = (area[:, side:, side:] - area[:, :-side, side:] - area[:, side:, :-side] + area[:, :-side, :-side])
        flat = share.reshape(n, -1)
        ys, xs = np.unravel_index(flat.argmax(1), share.shape[1:])
        richest = np.argsort(-flat.max(1))[: max(1, n // 8)]  # the donors richest in the concept
        pasted, boxes, true_share = targets.copy(), [], []
        for i in range(n):
            d = richest[rng.integers(len(richest))]
            y, x = rng.integers(0, res - side + 1, 2)
            pasted[i, y : y + side, x : x + side] = donors[d, ys[d] : ys[d] + side, xs[d] : xs[d] + side]
            true_share.append(share[d, ys[d], xs[d]] / side**2)
            boxes.append((y, x))
        after = _segment_uint8(model.segmenter, pasted, model.device)
        gains = [(after[i, y : y + side, x : x + side] == label).mean() - (before[i, y : y + side, x : x + side]
                                                                          == label).mean()
                 for i, (y, x) in enumerate(boxes)]
        out["concepts"][concept] = {"labels": float(np.mean(true_share)), "segmenter": float(np.mean(gains))}
    for concept, gain in _feature_paste_gains(model, seed=seed, donors=n, samples=min(200, n)).items():
        out["concepts"][concept]["features"] = gain
    return out


@torch.no_grad()
def _feature_paste_gains(model: LoadedModel, *, seed: int, donors: int, samples: int = 200) -> dict[str, float]:
    """Per concept, the rise of its share in :func:`bench_model`'s add-test squares (its 200 samples and
    squares, or the first ``samples`` of them) when the edit-layer features of the most concept-rich square
    of a donor sample are pasted there."""
    from ganpaint_core.models.layers import run_tail
    from ganpaint_core.synth.scenes import LABELS

    G, seg, device = model.generator, model.segmenter, model.device
    segment = lambda x: seg.predict(x.clamp(-1, 1))  # noqa: E731 - a one-line adapter
    layer = model.manifest.edit_layer
    head, tail = G.split(layer)
    z = latents(donors, G.latent_size, seed=40_000 + seed, device=device)
    feats = torch.cat([head(z[i : i + 100]) for i in range(0, donors, 100)])
    labels = torch.cat([segment(run_tail(tail, feats[i : i + 100], latent=z[i : i + 100]))
                        for i in range(0, donors, 100)])
    cfg = DissectConfig(seed=20_000 + seed, causal_samples=samples)  # bench_model's causal test (200 samples)
    side = square_side(feats.shape[-1], cfg.square_fraction)
    gains: dict[str, float] = {}
    for i, concept in enumerate(BENCH_CONCEPTS):
        label = LABELS.index(concept)
        share, ys, xs = richest_squares(labels, label, grid=feats.shape[-1], side=side)
        richest = share.argsort(descending=True)[: max(1, donors // 8)]
        probe = causal_probe(G, segment, layer=layer, cfg=cfg, device=device, seed=30_000 + seed + i)
        pick = torch.Generator().manual_seed(seed + i)
        rises = []
        for zb, f, fmask, pmask, base in probe.batches:
            pasted = f.clone()
            for j in range(len(f)):
                d = richest[torch.randint(len(richest), (1,), generator=pick)].item()
                dy, dx = int(ys[d]), int(xs[d])
                y = int(fmask[j, 0].any(1).nonzero()[0, 0])
                x = int(fmask[j, 0].any(0).nonzero()[0, 0])
                pasted[j, :, y : y + side, x : x + side] = feats[d, :, dy : dy + side, dx : dx + side]
            rises.append(square_rise(segment(run_tail(probe.tail, pasted, latent=zb)), base, pmask, label))
        gains[concept] = torch.cat(rises).float().mean().item()
    return gains


def print_paste_table(r: dict[str, Any]) -> None:
    print(f"pasting the most concept-rich {r['square_px']}×{r['square_px']} px square of a render into random squares")
    print(f"{'concept':<8}{'pasted share':>14}{'segmenter gain':>16}{'feature paste gain':>20}")
    for c, v in r["concepts"].items():
        print(f"{c:<8}{v['labels']:>14.3f}{v['segmenter']:>16.3f}{v['features']:>20.3f}")


def print_model_table(r: dict[str, Any]) -> None:
    print(f"resolution {r['resolution']}  weights {r['weights_mb']} MB  segmenter mIoU {r['segmenter_miou']:.3f}")
    print(f"FD samples {r['fd_samples']:.3f}  floor {r['fd_floor']:.3f}  ratio {r['fd_samples'] / max(r['fd_floor'], 1e-9):.2f}")
    print(f"{'concept':<8}{'share(s)':>10}{'share(r)':>10}{'rel.err':>9}{'IoU≥.1':>8}{'add':>8}{'remove':>8}")
    for c in BENCH_CONCEPTS:
        s, rr = r["concept_share"][c]["samples"], r["concept_share"][c]["renders"]
        print(f"{c:<8}{s:>10.3f}{rr:>10.3f}{abs(s - rr) / max(rr, 1e-9):>9.2f}{r['units_iou_010'][c]:>8}"
              f"{r['causal_add_gain'][c]:>8.3f}{r['causal_remove_drop'][c]:>8.3f}")


# -- the edit chain ---------------------------------------------------------------------------------
def _square_mask(size: int, rng: np.random.Generator, *, fraction: float = 1 / 16) -> np.ndarray:
    side = max(2, round(size * fraction**0.5))
    y, x = rng.integers(0, size - side + 1, 2)
    m = np.zeros((size, size), np.float32)
    m[y : y + side, x : x + side] = 1
    return m


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    t = torch.from_numpy(mask)[None, None]
    return torch.nn.functional.max_pool2d(t, 2 * r + 1, stride=1, padding=r)[0, 0].numpy()


def _time_forward(G: torch.nn.Module, device: torch.device, repeats: int = 10) -> float:
    z = torch.randn(1, G.latent_size, device=device)
    times = []
    with torch.no_grad():
        G(z)
        for _ in range(repeats):
            t0 = time.perf_counter()
            G(z)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_chain(model: LoadedModel, **kwargs: Any) -> dict[str, Any]:
    """The edit-chain suite; it lives in :mod:`ganpaint_core.bench.chain` (see there for its keys)."""
    from ganpaint_core.bench.chain import bench_chain as run

    return run(model, **kwargs)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {torch.get_num_threads()} threads"


def bench_church256(*, device: torch.device, seed: int = 1, probe_steps: int = 5) -> dict[str, float]:
    """GANPaint's church-size generator (256², random weights in its layout): forward, per-edit and
    per-photo setup time. Setup is measured over ``probe_steps`` inversion and adaptation steps and
    scaled to the default step counts (a full run takes minutes on a CPU)."""
    from PIL import Image

    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.caches import EditCaches
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig
    from ganpaint_core.hub.concepts import ConceptDictionary, ConceptRanking
    from ganpaint_core.hub.loading import LoadedModel
    from ganpaint_core.hub.manifest import ModelManifest
    from ganpaint_core.models.progan import ProGANGenerator

    torch.manual_seed(seed)
    G = ProGANGenerator([512, 512, 512, 512, 256, 128, 64, 32]).to(device).requires_grad_(False).eval()
    concepts = ConceptDictionary(layer="layer4", num_units=512, level_quantile=0.99, levels=(5.0,) * 512,
                                 concepts={"tree": ConceptRanking("iou", tuple(range(40)), (1.0,) * 40)})
    manifest = ModelManifest(name="church256-random", family="progan", resolution=256, latent_size=512,
                             edit_layer="layer4", fine_layers=tuple(f"layer{k}" for k in range(5, 15)), licence="",
                             citation="", description="", files={}, folder=Path("."))
    model = LoadedModel(manifest=manifest, generator=G, concepts=concepts, device=device)
    full_inv, full_adapt = InversionConfig(), AdaptConfig()
    probe = EditEngine(model, inversion=InversionConfig(latent_steps=probe_steps, joint_steps=probe_steps, candidates=2),
                       adaptation=AdaptConfig(steps=2 * probe_steps), use_lpips=False,
                       caches=EditCaches(setup_store=None))
    rng = np.random.default_rng(seed)
    photo = load_photo(Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)), size=256)
    state = probe.prepare(photo)
    per_inv = state.timings["invert_s"] / (2 * probe_steps)
    per_adapt = state.timings["adapt_s"] / (2 * probe_steps)
    setup = per_inv * (full_inv.latent_steps + full_inv.joint_steps) + per_adapt * full_adapt.steps
    stroke = probe.stroke(_square_mask(256, rng), concept="tree", action="add", strength=1.0)
    edits = []
    for _ in range(5):
        t0 = time.perf_counter()
        probe.render(state, [stroke], final=True)
        edits.append(time.perf_counter() - t0)
    return {"church256_forward_s": _time_forward(G, device, repeats=5), "church256_setup_s": setup,
            "church256_edit_s": float(np.median(edits))}


def bench_stylegan2_256(*, device: torch.device, seed: int = 1, probe_steps: int = 3) -> dict[str, Any]:
    """StyleGAN2 at 256² (random weights in the config-f layout of ``stylegan2-church``): forward, per-edit
    and per-photo setup time, with that model's edit and fine layers. Setup is timed over ``probe_steps``
    inversion steps of each kind and ``2 · probe_steps`` adaptation steps, scaled to the default step
    counts; fixed costs of the probe are counted in, so the scaled figure errs high. Figures ending in
    ``_cpu_s`` are this process's CPU seconds (with one thread: the wall time on an idle core)."""
    from PIL import Image

    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.caches import EditCaches
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig
    from ganpaint_core.hub.concepts import ConceptDictionary, ConceptRanking
    from ganpaint_core.hub.manifest import load_manifest
    from ganpaint_core.hub.registry import bundled_weights_dir
    from ganpaint_core.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

    church = load_manifest(bundled_weights_dir() / "stylegan2-church" / "model.json", bundled=True)
    torch.manual_seed(seed)
    G = StyleGAN2Generator(StyleGAN2Config.config_f(256, channel_multiplier=2))
    G.latent_avg.copy_(G.mean_latent(1024, seed=seed)[0])
    G = G.to(device).requires_grad_(False).eval()
    units = dict((n, c) for n, c, _ in G.layer_shapes())[church.edit_layer]
    concepts = ConceptDictionary(layer=church.edit_layer, num_units=units, level_quantile=0.99, levels=(2.0,) * units,
                                 concepts={"tree": ConceptRanking("iou", tuple(range(40)), (1.0,) * 40)})
    model = LoadedModel(manifest=church, generator=G, concepts=concepts, device=device)
    full_inv, full_adapt = InversionConfig(), AdaptConfig()
    probe = EditEngine(model, inversion=InversionConfig(latent_steps=probe_steps, joint_steps=probe_steps),
                       adaptation=AdaptConfig(steps=2 * probe_steps), use_lpips=False,
                       caches=EditCaches(setup_store=None))
    rng = np.random.default_rng(seed)
    photo = load_photo(Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)), size=256)
    # Wall time, and this process's CPU time: on a shared machine with one thread the CPU time is what the
    # wall time would be on an idle core.
    cpu0 = time.process_time()
    state = probe.prepare(photo)
    cpu_share = (time.process_time() - cpu0) / (state.timings["invert_s"] + state.timings["adapt_s"])
    per_inv = state.timings["invert_s"] / (2 * probe_steps)
    per_adapt = state.timings["adapt_s"] / (2 * probe_steps)
    setup = per_inv * (full_inv.latent_steps + full_inv.joint_steps) + per_adapt * full_adapt.steps
    stroke = probe.stroke(_square_mask(256, rng), concept="tree", action="add", strength=1.0)
    edits, edits_cpu, forwards, forwards_cpu = [], [], [], []
    z = G.sample_latents(1, seed=seed, device=device)
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        probe.render(state, [stroke], final=True)
        edits.append(time.perf_counter() - t0)
        edits_cpu.append(time.process_time() - c0)
        with torch.no_grad():
            t0, c0 = time.perf_counter(), time.process_time()
            G(z)
            if device.type == "cuda":
                torch.cuda.synchronize()
            forwards.append(time.perf_counter() - t0)
            forwards_cpu.append(time.process_time() - c0)
    adapter_values = sum(v.numel() for v in state.adapter.values())
    return {"stylegan2_256_forward_s": float(np.median(forwards)),
            "stylegan2_256_edit_s": float(np.median(edits)),
            "stylegan2_256_setup_s": setup,
            "stylegan2_256_invert_step_s": per_inv,
            "stylegan2_256_adapt_step_s": per_adapt,
            "stylegan2_256_forward_cpu_s": float(np.median(forwards_cpu)),
            "stylegan2_256_edit_cpu_s": float(np.median(edits_cpu)),
            "stylegan2_256_setup_cpu_s": setup * cpu_share,
            "stylegan2_256_adapter_mb": round(adapter_values * 4 / 2**20, 1),
            "edit_layer": church.edit_layer,
            "setup_steps": f"{full_inv.latent_steps}+{full_inv.joint_steps} inversion, {full_adapt.steps} adaptation "
                           f"(scaled from {probe_steps}+{probe_steps} and {2 * probe_steps})",
            "device": _device_name(device)}


def print_chain_table(r: dict[str, Any]) -> None:
    from ganpaint_core.bench.chain import print_chain_table as show

    show(r)
