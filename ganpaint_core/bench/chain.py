"""The edit-chain benchmark: ``python -m ganpaint_core bench --model M --suite chain [--images DIR] --json OUT``.

Each held-out render (and each photo in ``--images``) is inverted and adapted, then gets two edits with
random strokes: *add* a random concept in a random square (1/16 of the model's square) and *remove* a
concept that is there (its segmented region, dilated by one model pixel). The concept figures come from
the segmenter at model resolution; the compositing figures compare the final, full-resolution photo with
the original at the photo's own resolution (see :mod:`ganpaint_core.core.metrics`):

- ``changed_margin``: how far past the painted stroke pixels moved by more than 2 levels, as a share of
  the square's side (median over edits; ``changed_margin_max`` is the largest);
- ``band_detail``: the result's Laplacian energy over the photo's in the ring from the stroke to 1/8 of
  the side beyond it;
- ``seam_ratio``: the result's gradient along the stroke's boundary over the photo's own there.

Keys starting ``real_`` are over the photos; the others over the held-out renders.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganpaint_core.bench.common import (
    BENCH_CONCEPTS,
    device_name,
    dilate,
    held_out_seeds,
    segment_uint8,
    square_mask,
    time_forward,
)
from ganpaint_core.bench.speed256 import bench_church256
from ganpaint_core.core.metrics import band_detail, changed_margin, psnr, seam_ratio
from ganpaint_core.core.photo import Photo
from ganpaint_core.hub.loading import LoadedModel

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
RELIT_RENDERS = 4  # held-out renders also edited under a dusk light (tone matching's ground truth)
DUSK = (0.6, 0.55, 0.8)  # the dusk light: a gamma of 1.3, then these gains on R, G, B
TONE_SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)  # tone-matching strengths each edit is also composited with


def bench_chain(model: LoadedModel, *, seed: int = 1, n: int = 8, images_dir: Path | None = None,
                church: bool = True, callback: Any = None, baseline: bool = False) -> dict[str, Any]:
    """Medians over ``n`` held-out renders (and the photos in ``images_dir``) with random strokes.

    ``setup_s`` is the full fit's seconds (what the CLI and ``/edit`` wait), ``first_preview_s`` the page's
    wait from the photo to its first editable preview (the quick fit and one render); ``setups`` lists both
    per photo, and ``*_cpu_s`` are the same in this process's CPU seconds (with ``--threads 1``, the wall time
    on an idle core: comparable across a loaded machine's runs). With ``baseline`` the setup is the plan before issue 25 (``edit.plans.BEFORE_ISSUE_25``),
    which had no quick fit: its first preview came after the full setup.

    ``add_gain`` is the segmenter's share of the added concept inside the stroke after the edit, on the
    render; ``add_rise`` subtracts the share that was there before; ``remove_drop`` is the relative drop of
    a present concept's segmented area when it is painted over. ``*_final`` keys measure the same on the
    final photo brought back to the model's square (what the user gets, tone matching included)."""
    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.edit.caches import EditCaches
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.synth.scenes import LABELS, render_batch

    from ganpaint_core.edit.plans import BEFORE_ISSUE_25, FULL_FIT

    plan = BEFORE_ISSUE_25 if baseline else FULL_FIT
    engine = EditEngine(model, inversion=plan.inversion, adaptation=plan.adaptation,
                        caches=EditCaches(setup_store=None))  # setups are what it measures: none from disk
    rng = np.random.default_rng(seed)
    renders, labels = render_batch(held_out_seeds(seed, 900_000, n), resolution=engine.resolution)
    rows, edits, adds = [], [], []
    for i in range(n):
        photo = load_photo(Image.fromarray(renders[i]), size=engine.resolution)
        present = [c for c in BENCH_CONCEPTS if (labels[i] == LABELS.index(c)).mean() > 0.01]
        row, measured, add = _edit_photo(engine, photo, rng, seed=seed, present=present, name=f"render {i}",
                                         quick=not baseline)
        rows.append(row)
        edits += measured
        adds.append(add)
        if callback:
            callback(i + 1, n, {"stage": "chain"})
    out = _summary(rows, edits, prefix="")
    setups = [_setup_row(r) for r in rows]
    out.update(_relit_tone_errors(engine, renders[:RELIT_RENDERS], adds[:RELIT_RENDERS], seed=seed))
    out["forward_s"] = time_forward(model.generator, model.device)
    if images_dir is not None:
        photo_rng = np.random.default_rng(seed + 1)  # the renders' strokes stay those of earlier runs
        rows, photo_edits = [], []
        for path in sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES):
            row, measured, _ = _edit_photo(engine, load_photo(path, size=engine.resolution), photo_rng, seed=seed,
                                           present=None, name=path.name, quick=not baseline)
            rows.append(row)
            photo_edits += measured
        out.update(_summary(rows, photo_edits, prefix="real_"))
        setups += [_setup_row(r) for r in rows]
        edits += photo_edits
    if church:
        out.update(bench_church256(device=model.device, seed=seed))
    out["device"] = device_name(model.device)
    out["plan"] = plan.name
    out["setups"] = setups
    out["edits"] = edits
    return out


def _edit_photo(engine: Any, photo: Photo, rng: np.random.Generator, *, seed: int, present: list[str] | None,
                name: str, quick: bool = True) -> tuple[dict[str, float], list[dict[str, Any]], Any]:
    """Prepare ``photo`` (its quick fit first, timed to its first preview, when ``quick``), add a random
    concept in a random square, remove a present one (``present``: the concepts its true labels hold, or None
    to ask the segmenter); the figures of each edit, and the add."""
    from ganpaint_core.synth.scenes import LABELS

    res, seg, device = engine.resolution, engine.model.segmenter, engine.model.device
    first_preview = first_cpu = 0.0  # wall and CPU seconds (with one thread: the wall time on an idle core)
    if quick:
        t0, c0 = time.perf_counter(), time.process_time()
        engine.render(engine.quick_fit(photo, seed=seed), [], final=False)
        first_preview, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    state = engine.prepare(photo, seed=seed)
    row = {"setup": time.perf_counter() - t0, "setup_cpu": time.process_time() - c0, "before": state.recon_psnr_before,
           "after": state.recon_psnr_after, "photo": name}
    t0, c0 = time.perf_counter(), time.process_time()
    base = engine.render(state, [], final=False).preview
    # no quick fit (the baseline): the first preview came after the setup
    row["first_preview"] = first_preview or row["setup"] + time.perf_counter() - t0
    row["first_preview_cpu"] = first_cpu or row["setup_cpu"] + time.process_time() - c0
    base_pred = segment_uint8(seg, base[None], device)[0] if seg is not None else None
    if present is None and base_pred is not None:
        present = [c for c in BENCH_CONCEPTS if (base_pred == LABELS.index(c)).mean() > 0.01]
    concept = concept_added = BENCH_CONCEPTS[rng.integers(len(BENCH_CONCEPTS))]
    mask = square_mask(res, rng)
    stroke = engine.stroke(mask, concept=concept, action="add", strength=1.0)
    t0 = time.perf_counter()
    result = engine.render(state, [stroke], final=True)
    row["edit"] = time.perf_counter() - t0
    outside = dilate(mask, max(1, res // 16)) == 0
    a = torch.from_numpy(result.preview[outside].astype(np.float32) / 127.5 - 1)
    b = torch.from_numpy(base[outside].astype(np.float32) / 127.5 - 1)
    row["locality"] = psnr(a, b)
    edits = [_measure(engine, state, stroke, mask, name=name)]
    if seg is not None:
        label = LABELS.index(concept)
        inside = mask > 0
        share = [(p[inside] == label).mean() for p in (base_pred, segment_uint8(seg, result.preview[None], device)[0])]
        row["add"], row["add_rise"] = float(share[1]), float(share[1] - share[0])
        if present:
            concept = present[rng.integers(len(present))]
            label = LABELS.index(concept)
            region = dilate((base_pred == label).astype(np.float32), 1)
            if region.sum() > 0:
                stroke = engine.stroke(region, concept=concept, action="remove", strength=1.0)
                removed = engine.render(state, [stroke], final=False)
                after = (segment_uint8(seg, removed.preview[None], device)[0] == label).sum()
                row["remove"] = float(1 - after / max((base_pred == label).sum(), 1))
                edits.append(_measure(engine, state, stroke, region, name=name, before=base_pred == label))
    return row, edits, edits and (concept_added, mask, result.final)


def _segment_final(engine: Any, photo: Photo, final: np.ndarray) -> np.ndarray:
    """Label map [S, S] of the final photo's square brought back to the model's resolution."""
    from ganpaint_core.core.photo import to_model_tensor

    square = Image.fromarray(photo.box.crop(final))
    x = to_model_tensor(square, engine.resolution).to(engine.model.device)
    return engine.model.segmenter.predict(x).cpu().numpy()[0]


def _measure(engine: Any, state: Any, stroke: Any, mask: np.ndarray, *, name: str,
             before: np.ndarray | None = None) -> dict[str, Any]:
    """Figures of one edit's final photo, composited with the default settings and at each tone in
    ``TONE_SWEEP``: compositing at the photo's own resolution (``mask`` [S, S] on the model's square), and
    the concept on the final brought back to the model's square (an add's share under the stroke, a
    remove's relative drop from ``before``, the concept's segmented pixels)."""
    from ganpaint_core.edit.composite import CompositeConfig
    from ganpaint_core.synth.scenes import LABELS

    photo = state.photo
    box, (h, w) = photo.box, photo.original.shape[:2]
    big = np.asarray(Image.fromarray((mask > 0).astype(np.uint8) * 255).resize((box.side, box.side),
                                                                               Image.Resampling.NEAREST)) > 0
    stroke_px = box.place(big, h, w)
    far = (dilate(stroke_px.astype(np.float32), max(1, box.side // 16)) == 0) & box.place(
        np.ones((box.side, box.side), bool), h, w)
    label = LABELS.index(stroke.concept)
    out: dict[str, Any] = {"photo": name, "action": stroke.action, "concept": stroke.concept, "by_tone": {}}
    for tone in (None, *TONE_SWEEP):
        cfg = CompositeConfig() if tone is None else CompositeConfig(tone=tone)
        final = engine.render(state, [stroke], final=True, composite_cfg=cfg).final
        figures = {"changed_margin": changed_margin(final, photo.original, stroke_px, side=box.side),
                   "band_detail": band_detail(final, photo.original, stroke_px, side=box.side),
                   "seam_ratio": seam_ratio(final, photo.original, stroke_px),
                   "locality_final_psnr": psnr(torch.from_numpy(final[far].astype(np.float32) / 127.5 - 1),
                                               torch.from_numpy(photo.original[far].astype(np.float32) / 127.5 - 1)),
                   "tone_gap": _tone_gap(final, stroke_px, side=box.side)}
        if engine.model.segmenter is not None:
            pred = _segment_final(engine, photo, final) == label
            if stroke.action == "add":
                figures["add_gain_final"] = float(pred[mask > 0].mean())
            elif before is not None:
                figures["remove_drop_final"] = float(1 - pred.sum() / max(before.sum(), 1))
        if tone is None:
            out.update(figures)
        else:
            out["by_tone"][str(tone)] = figures
    return out


def _dusk(image: np.ndarray) -> np.ndarray:
    return ((image.astype(np.float32) / 255) ** 1.3 * np.array(DUSK, np.float32) * 255).round().astype(np.uint8)


def _relit_tone_errors(engine: Any, renders: np.ndarray, adds: list[Any], *, seed: int) -> dict[str, float]:
    """Tone matching against a known light: each render is dimmed to dusk (:func:`_dusk`) and gets the
    same add as in the daylight run. What the stroke should hold is the daylight final, dimmed the same way;
    ``relit_tone_error_T`` is the mean absolute difference from it inside the stroke (levels, median over
    renders) when composited at tone T, ``relit_add_gain_final_T`` the segmenter's share of the concept there."""
    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.edit.composite import CompositeConfig
    from ganpaint_core.synth.scenes import LABELS

    errors: dict[float, list[float]] = {t: [] for t in TONE_SWEEP}
    gains: dict[float, list[float]] = {t: [] for t in TONE_SWEEP}
    for render, add in zip(renders, adds):
        if not add:
            continue
        concept, mask, daylight = add
        photo = load_photo(Image.fromarray(_dusk(render)), size=engine.resolution)
        state = engine.prepare(photo, seed=seed)
        stroke = engine.stroke(mask, concept=concept, action="add", strength=1.0)
        truth = _dusk(daylight).astype(np.float32)
        inside = photo.box.place(np.asarray(Image.fromarray((mask > 0).astype(np.uint8)).resize(
            (photo.box.side,) * 2, Image.Resampling.NEAREST)) > 0, *photo.original.shape[:2])
        for tone in TONE_SWEEP:
            final = engine.render(state, [stroke], final=True, composite_cfg=CompositeConfig(tone=tone)).final
            errors[tone].append(float(np.abs(final.astype(np.float32) - truth)[inside].mean()))
            if engine.model.segmenter is not None:
                labels = _segment_final(engine, photo, final)
                gains[tone].append(float((labels == LABELS.index(concept))[mask > 0].mean()))
    out = {}
    for tone in TONE_SWEEP:
        out[f"relit_tone_error_{tone}"] = float(np.median(errors[tone])) if errors[tone] else float("nan")
        out[f"relit_add_gain_final_{tone}"] = float(np.median(gains[tone])) if gains[tone] else float("nan")
    return out


def _tone_gap(final: np.ndarray, stroke: np.ndarray, *, side: int) -> float:
    """Distance in levels between the mean YCbCr colour of the final inside the stroke and in the ring
    to 1/16 of the side around it: how far the stroke's content sits from its surroundings' light."""
    from ganpaint_core.core.metrics import distance_to
    from ganpaint_core.edit.composite import YCBCR

    d = distance_to(stroke)
    ring = (d > 0) & (d <= side / 16)
    if not ring.any() or not stroke.any():
        return float("nan")
    ycc = final.astype(np.float32) @ YCBCR.T
    return float(np.linalg.norm(ycc[stroke].mean(0) - ycc[ring].mean(0)))


def _setup_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"photo": row["photo"], "setup_s": row["setup"], "first_preview_s": row["first_preview"],
            "setup_cpu_s": row["setup_cpu"], "first_preview_cpu_s": row["first_preview_cpu"],
            "recon_psnr_after": row["after"]}


def _summary(rows: list[dict[str, float]], edits: list[dict[str, Any]], *, prefix: str) -> dict[str, float]:
    def med(values: list[float]) -> float:
        values = [v for v in values if v == v]  # NaN: a figure the edit had no pixels for
        return float(np.median(values)) if values else float("nan")

    col = lambda key: [r[key] for r in rows if key in r]  # noqa: E731 - a one-line column reader
    each = lambda key: [e[key] for e in edits if key in e]  # noqa: E731
    out = {"recon_psnr_before": med(col("before")), "recon_psnr_after": med(col("after")),
           "locality_psnr": med(col("locality")), "add_gain": med(col("add")), "add_rise": med(col("add_rise")),
           "remove_drop": med(col("remove")), "add_gain_final": med(each("add_gain_final")),
           "remove_drop_final": med(each("remove_drop_final")), "changed_margin": med(each("changed_margin")),
           "changed_margin_max": max(each("changed_margin"), default=float("nan")),
           "band_detail": med(each("band_detail")), "seam_ratio": med(each("seam_ratio")),
           "locality_final_psnr": med(each("locality_final_psnr")), "tone_gap": med(each("tone_gap")),
           "setup_s": med(col("setup")), "first_preview_s": med(col("first_preview")),
           "setup_cpu_s": med(col("setup_cpu")), "first_preview_cpu_s": med(col("first_preview_cpu")),
           "edit_s": med(col("edit"))}
    for tone in TONE_SWEEP:
        swept = [e["by_tone"][str(tone)] for e in edits]
        for key in ("add_gain_final", "remove_drop_final", "tone_gap", "changed_margin", "band_detail", "seam_ratio"):
            out[f"tone_{tone}_{key}"] = med([f[key] for f in swept if key in f])
    return {prefix + k: v for k, v in out.items()}


def print_chain_table(r: dict[str, Any]) -> None:
    for key, value in r.items():
        if isinstance(value, list):
            continue  # per-edit rows: in the JSON only
        print(f"{key:<26} {value:.4g}" if isinstance(value, float) else f"{key:<26} {value}")
