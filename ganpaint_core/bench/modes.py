"""The other editing modes' benchmark: ``python -m ganpaint_core bench --suite modes [--model M] [--images DIR]
[--seed S] --json OUT`` (default model: the bundled synth-church).

- **Brushes** (iGAN): on every photo in ``--images`` (and ``--n`` held-out renders of the model), one colour
  brush (an ellipse painted in a colour far from the photo's there) and one sketch (a straight line):
  the constraint error of the inversion's render and of the best candidate (``brush_color_error_before`` /
  ``_after``: mean |render − colour| under the strokes, 0..255; ``brush_edge_error_*``: the share of the
  wanted edge missing under the line, 0..1), the time to the first candidate and to all K (warm: the first
  brush of the run is a warm-up, its times are given apart as ``brush_first_candidate_s_cold``), the mean
  pairwise distance between the K candidates inside the brush's region (0..255), and whether every pixel of
  the final photo beyond the region is the photo's own (``brush_outside_exact``).
- **Warp and flow transfer** (:mod:`ganpaint_core.bench.warp`): on ``2 · n`` held-out scene renders with a known
  free-standing object, dragged 6–10 model pixels: ``warp_centroid_error`` (model pixels between the dragged
  object's new centre and the target), ``warp_outside_exact`` and ``flow_detail_kept`` / ``delta_detail_kept``
  (the photo's own detail in the moved region, flow transfer vs delta compositing).
- **Directions**: :func:`ganpaint_core.analysis.directions.direction_metrics` (Spearman of each supervised direction's
  concept share against the amount, its largest side effect, PCA's explained variance).
- **Segment inversion**: :func:`ganpaint_core.bench.segments.segment_metrics` (PSNR before adaptation, one code
  vs segments, and the time it costs) and :func:`ganpaint_core.bench.segments.segment_edit_leak` (a direction
  on one segment's code: the change outside that segment as a share of the change inside).
- **Transformation** (:mod:`ganpaint_core.review.transform`): for every pair of photos, whether the frames'
  distance to B falls and to A rises at every step (``transform_monotone``: true when every pair is).
- **From nothing** (:mod:`ganpaint_core.edit.scratch`): ``--n``·2 held-out starts (blank and sample by turns), each
  painted with two colour ellipses far from the start's colours there: the colour error of the start and of
  the made image under the strokes (``scratch_color_error_before`` / ``_after``, 0..255).

Medians over photos; the per-photo rows are in the JSON.
"""
from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganpaint_core.bench.warp import bench_warp
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.photo import Photo, load_photo, to_uint8
from ganpaint_core.edit.brush import BrushConfig, BrushSpec, brush_region, color_error, edge_error
from ganpaint_core.edit.caches import EditCaches, SetupCache
from ganpaint_core.edit.composite import paste_alpha
from ganpaint_core.edit.engine import EditEngine, PhotoState
from ganpaint_core.edit.pipeline import edit_photo
from ganpaint_core.edit.scratch import paint_from_scratch, scratch_start
from ganpaint_core.edit.setup_store import SetupStore
from ganpaint_core.hub.loading import LoadedModel
from ganpaint_core.review.transform import transform_frames

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
PALETTE = {"sky blue": (90, 150, 220), "grass green": (70, 140, 50), "brick red": (150, 60, 40),
           "white": (235, 235, 230), "dark grey": (50, 50, 55), "yellow": (220, 190, 60)}
MIN_COLOUR_GAP = 60.0  # a painted colour differs from the render's mean there by at least this (0..255, L1 / 3)


def bench_photos(model: LoadedModel, *, images_dir: Path | None, n: int, seed: int) -> list[tuple[str, Photo]]:
    """The real photos of ``images_dir`` (sorted) and ``n`` held-out renders of the model, as model squares."""
    side = model.manifest.resolution
    photos: list[tuple[str, Photo]] = []
    if images_dir is not None:
        for path in sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES):
            photos.append((path.stem, load_photo(path, size=side)))
    if n:
        z = model.generator.sample_latents(n, seed=10_000 + seed, device=model.device)
        with torch.no_grad():
            renders = model.generator(z)
        for i in range(n):
            photos.append((f"render-{i}", load_photo(Image.fromarray(to_uint8(renders[i])), size=side)))
    return photos


def brush_strokes(base: np.ndarray, rng: np.random.Generator) -> tuple[BrushSpec, BrushSpec]:
    """A colour brush (an ellipse covering about 3–6 % of the square, in a palette colour at least
    ``MIN_COLOUR_GAP`` from the render there, drawn at random among those) and a sketch (a straight line a
    third of the side long), at random places of the square ``base`` uint8 [S, S, 3]."""
    s = base.shape[0]
    yy, xx = np.mgrid[:s, :s]
    cy, cx = rng.uniform(0.25, 0.75, 2) * s
    ry, rx = rng.uniform(0.08, 0.14, 2) * s
    mask = ((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1).astype(np.float32)
    here = base[mask > 0].astype(np.float32).mean(0)
    far = [c for c in PALETTE.values() if np.abs(np.array(c) - here).mean() >= MIN_COLOUR_GAP]
    colour = np.array(far[rng.integers(len(far))] if far else max(PALETTE.values(), key=lambda c: np.abs(np.array(c) - here).mean()),
                      np.float32)
    color = np.broadcast_to(colour, (s, s, 3)).astype(np.float32)
    sketch = np.zeros((s, s), np.float32)
    y0, x0 = rng.uniform(0.2, 0.8, 2) * s
    angle = rng.uniform(0, np.pi)
    for t in np.linspace(0, s / 3, 4 * s):
        y, x = int(round(y0 + t * np.sin(angle))), int(round(x0 + t * np.cos(angle)))
        if 0 <= y < s and 0 <= x < s:
            sketch[y, x] = 1
    return BrushSpec(color=color, color_mask=mask), BrushSpec(sketch=sketch)


def _brush_row(engine: EditEngine, state: PhotoState, spec: BrushSpec) -> dict[str, Any]:
    base = to_uint8(state.base_render[0])
    t0 = time.monotonic()
    found = engine.brush_candidates(state, spec)
    total = time.monotonic() - t0
    best = found[0]
    out = edit_photo(engine, state, [spec]).result.final
    _, region = brush_region(spec, grid=state.features.shape[-1], spread=BrushConfig().spread)
    beyond = paste_alpha(state.photo, region) == 0
    previews = [c.preview.astype(np.float32) for c in found]
    inside = region > 0
    spread = [np.abs(a - b)[inside].mean() for i, a in enumerate(previews) for b in previews[i + 1:]]
    return {"color_before": color_error(base, spec), "color_after": best.color_error,
            "edge_before": edge_error(base, spec), "edge_after": best.edge_error,
            "first_s": min(c.seconds for c in found), "all_s": total, "spread": float(np.mean(spread)),
            "outside_exact": bool(np.array_equal(out[beyond], state.photo.original[beyond]))}


def bench_brushes(engine: EditEngine, photos: list[tuple[str, Photo]], *, seed: int) -> dict[str, Any]:
    """The brush figures (see the module docstring) over ``photos``."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    cold: float | None = None
    for name, photo in photos:
        state = engine.prepare(photo)
        color, sketch = brush_strokes(to_uint8(state.base_render[0]), rng)
        if cold is None:  # the run's first brush pays for warming up (allocations, the encoder's first call)
            warm = BrushSpec(color=color.color, color_mask=np.roll(color.color_mask, 7, axis=1), seed=99)
            cold = min(c.seconds for c in engine.brush_candidates(state, warm))
        c, s = _brush_row(engine, state, color), _brush_row(engine, state, sketch)
        rows.append({"photo": name, "color": c, "sketch": s})
        log.info("%s: colour %.1f -> %.1f, edge %.3f -> %.3f, first %.2f s, all %.2f s", name, c["color_before"],
                 c["color_after"], s["edge_before"], s["edge_after"], c["first_s"], c["all_s"])
    med = lambda values: float(statistics.median(values))  # noqa: E731
    both = [r[k] for r in rows for k in ("color", "sketch")]
    return {
        "brush_color_error_before": med([r["color"]["color_before"] for r in rows]),
        "brush_color_error_after": med([r["color"]["color_after"] for r in rows]),
        "brush_color_error_reduction": med([1 - r["color"]["color_after"] / r["color"]["color_before"] for r in rows]),
        "brush_edge_error_before": med([r["sketch"]["edge_before"] for r in rows]),
        "brush_edge_error_after": med([r["sketch"]["edge_after"] for r in rows]),
        "brush_first_candidate_s": med([b["first_s"] for b in both]),
        "brush_first_candidate_s_cold": cold,
        "brush_all_candidates_s": med([b["all_s"] for b in both]),
        "brush_all_candidates_s_max": max(b["all_s"] for b in both),
        "brush_candidate_spread": med([b["spread"] for b in both]),
        "brush_outside_exact": all(b["outside_exact"] for b in both),
        "brush_candidates": 4,
        "brush_per_photo": rows,
    }


def bench_transform(engine: EditEngine, photos: list[tuple[str, Photo]], *, frames: int = 8) -> dict[str, Any]:
    """Every unordered pair of ``photos`` turned one into the other: monotone or not, and the smallest step."""
    states = [(name, engine.prepare(photo)) for name, photo in photos]
    if len(states) < 2:
        return {"transform_monotone": None, "transform_pairs": 0, "transform_pairs_monotone": 0,
                "transform_frames": frames, "transform_smallest_step": None, "transform_per_pair": []}
    rows = []
    for i, (name_a, a) in enumerate(states):
        for name_b, b in states[i + 1:]:
            seq = transform_frames(engine, a, b, frames=frames)
            steps = [y - x for x, y in zip(seq.distance_to_a, seq.distance_to_a[1:])]
            steps += [x - y for x, y in zip(seq.distance_to_b, seq.distance_to_b[1:])]
            rows.append({"from": name_a, "to": name_b, "monotone": seq.monotone, "smallest_step": min(steps),
                         "distance_to_a": seq.distance_to_a, "distance_to_b": seq.distance_to_b})
    return {"transform_monotone": all(r["monotone"] for r in rows), "transform_pairs": len(rows),
            "transform_pairs_monotone": sum(r["monotone"] for r in rows), "transform_frames": frames,
            "transform_smallest_step": min(r["smallest_step"] for r in rows), "transform_per_pair": rows}


def scratch_paint(base: np.ndarray, rng: np.random.Generator) -> BrushSpec:
    """Two of :func:`brush_strokes`' colour ellipses on ``base`` (the later one on top where they meet)."""
    (first, _), (second, _) = brush_strokes(base, rng), brush_strokes(base, rng)
    mask = np.maximum(first.color_mask, second.color_mask)
    color = np.where(second.color_mask[..., None] > 0, second.color, first.color).astype(np.float32)
    return BrushSpec(color=color, color_mask=mask)


def bench_scratch(engine: EditEngine, *, n: int, seed: int) -> dict[str, Any]:
    """Images made from nothing (see the module docstring), seeds held out from every other part of the suite."""
    rng = np.random.default_rng(20_000 + seed)
    rows = []
    for i in range(n):
        start, start_seed = ("blank", "sample")[i % 2], 20_000 + seed * 100 + i
        paint = scratch_paint(to_uint8(scratch_start(engine, start=start, seed=start_seed).base_render[0]), rng)
        made = paint_from_scratch(engine, paint, start=start, seed=start_seed)
        rows.append({"start": start, "seed": start_seed, **made.summary()})
        log.info("from nothing %s %d: colour %.1f -> %.1f", start, start_seed, made.color_error_before,
                 made.color_error_after)
    med = lambda key: float(statistics.median(r[key] for r in rows))  # noqa: E731
    return {"scratch_color_error_before": med("color_error_before"),
            "scratch_color_error_after": med("color_error_after"),
            "scratch_color_error_ratio": float(statistics.median(r["color_error_before"] / r["color_error_after"]
                                                                 for r in rows)),
            "scratch_s": med("seconds"), "scratch_per_start": rows}


PARTS = ("brushes", "warp", "directions", "segments", "segment_edit", "transform", "scratch")  # --parts' names


def parse_parts(text: str | None) -> tuple[str, ...]:
    """``--parts``' comma-separated names (None: every part); an unknown one is refused."""
    if not text:
        return PARTS
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise GanpaintError(f"--parts: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(PARTS)}")
    return parts


def bench_modes(model: LoadedModel, *, seed: int = 1, n: int = 4, images_dir: Path | None = None,
                parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """Every figure of the modes suite (see the module docstring), or those of ``parts``."""
    from ganpaint_core.analysis.directions import direction_metrics
    from ganpaint_core.bench.segments import segment_edit_leak, segment_metrics

    # Every photo's setup is kept in memory; on disk too (the default store) unless a part that times its work
    # runs: no figure here is a setup's time, and a second run, of other parts, needs not set the photos up again.
    store = None if {"brushes", "warp", "segments"} & set(parts) else SetupStore.default()
    engine = EditEngine(model, caches=EditCaches(setup_store=store, setups=SetupCache(64)))
    photos = bench_photos(model, images_dir=images_dir, n=n, seed=seed)
    if not photos:
        raise ValueError("no photos to measure: give --images DIR or --n above 0")
    result: dict[str, Any] = {"suite": "modes", "model": model.manifest.name, "seed": seed, "parts": list(parts),
                              "photos": [name for name, _ in photos], "threads": torch.get_num_threads()}
    if "brushes" in parts:
        result |= bench_brushes(engine, photos, seed=seed)
    if "warp" in parts:
        result |= bench_warp(engine, n=2 * n, seed=seed)
    if "directions" in parts or "segment_edit" in parts:  # one segment's edits are directions
        t0 = time.monotonic()
        directions = engine.directions()
        result["directions_find_s"] = time.monotonic() - t0
    if "directions" in parts:
        result |= direction_metrics(model, directions, seed=seed)
    real = [(name, photo) for name, photo in photos if not name.startswith("render-")] or photos
    if "segments" in parts:
        segments = segment_metrics(engine, [p for _, p in real], names=[n for n, _ in real])
        result |= {("segments_per_photo" if k == "per_photo" else k): v for k, v in segments.items()}
    if "segment_edit" in parts:
        result |= segment_edit_leak(engine, [p for _, p in real], names=[n for n, _ in real])
    if "transform" in parts:
        result |= bench_transform(engine, photos)
    if "scratch" in parts:
        result |= bench_scratch(engine, n=max(2, 2 * n), seed=seed)
    return result


def print_modes_table(r: dict[str, Any]) -> None:
    print(f"modes · {r['model']} · seed {r['seed']} · {len(r['photos'])} photos · {r['threads']} threads")
    if "brush_color_error_before" in r:
        _print_brushes(r)
    _print_rest(r)


def _print_brushes(r: dict[str, Any]) -> None:
    print(f"  brush colour error  {r['brush_color_error_before']:.1f} -> {r['brush_color_error_after']:.1f} "
          f"({r['brush_color_error_reduction']:.0%} less)")
    print(f"  brush edge error    {r['brush_edge_error_before']:.3f} -> {r['brush_edge_error_after']:.3f}")
    print(f"  candidates          first {r['brush_first_candidate_s']:.2f} s (cold {r['brush_first_candidate_s_cold']:.2f} s), "
          f"all {r['brush_all_candidates_s']:.2f} s; spread {r['brush_candidate_spread']:.1f}; outside exact: "
          f"{r['brush_outside_exact']}")


def _print_rest(r: dict[str, Any]) -> None:
    if "warp_centroid_error" in r:
        print(f"  warp centroid error {r['warp_centroid_error_before']:.2f} -> {r['warp_centroid_error']:.2f} px "
              f"(median, max {r['warp_centroid_error_max']:.2f}); outside exact: {r['warp_outside_exact']}")
        print(f"  detail kept         flow {r['flow_detail_kept']:.2f} · delta {r['delta_detail_kept']:.2f}")
    for concept, rho in r.get("directions_spearman", {}).items():
        side = r.get("directions_max_side_effect", {}).get(concept, float("nan"))
        print(f"  direction {concept:<8} Spearman {rho:+.2f} · largest side effect {side:.3f}")
    if "pca_explained_variance_top10" in r:
        print(f"  PCA top 10 explain {sum(r['pca_explained_variance_top10']):.0%} of the variance")
    if r.get("transform_pairs"):
        print(f"  transformation      monotone on {r['transform_pairs_monotone']} of {r['transform_pairs']} pairs "
              f"({r['transform_frames']} frames; smallest step {r['transform_smallest_step']:.1f})")
    if "scratch_color_error_before" in r:
        print(f"  from nothing        colour error {r['scratch_color_error_before']:.1f} -> "
              f"{r['scratch_color_error_after']:.1f} ({r['scratch_color_error_ratio']:.1f}× less, median)")
    if "segment_edit_leak" in r:
        print(f"  one segment's edit  leak {r['segment_edit_leak']:.3f} (max {r['segment_edit_leak_max']:.3f}; "
              f"the render's own, before paste-back: {r['segment_edit_leak_render']:.3f})")
    if "psnr_segments" in r:
        print(f"  inversion PSNR      one code {r['psnr_single_code']:.2f} dB, segments {r['psnr_segments']:.2f} dB "
              f"(+{r['segments_s']:.1f} s)")
