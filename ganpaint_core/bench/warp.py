"""The warp's and the flow transfer's figures for ``bench --suite modes``, on held-out scene renders whose
objects are known (:mod:`ganpaint_core.synth.scenes`: exact per-pixel labels).

For each scene one object (a tree, a dome or a door: one connected piece of its label, with no other piece of
that label near it) is dragged by 6–10 model pixels in a random direction, with its own mask as the warp's
region. Then:

- ``warp_centroid_error``: the distance (model pixels) between the target (the object's centre, as the model's
  segmenter finds it on the unedited render, plus the drag) and the centre of that label on the edited render
  (the best candidate, morph 1) inside the source and target places grown by 3 pixels: content left behind or
  not moved far enough pulls it back toward the source. ``warp_centroid_error_before`` is the same on the unedited
  render (≈ the drag's length).
- ``warp_outside_exact``: every pixel of the final photo beyond the edit's region is the photo's own (both
  transfers).
- ``flow_detail_kept`` / ``delta_detail_kept``: the photo's high-frequency detail (the photo minus its Gaussian
  blur, σ = one model pixel at the photo's scale) inside the moved region of the final photo, correlated with
  the detail of the source region of the photo (Pearson, over the region's pixels and channels), for the flow
  transfer and for delta compositing of the same edit. The scenes are rendered at 4× the model's resolution,
  so the photo has detail the model does not draw.
"""
from __future__ import annotations

import logging
import statistics
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganpaint_core.core.metrics import distance_to
from ganpaint_core.core.photo import Photo, load_photo, to_uint8
from ganpaint_core.edit.brush import blur
from ganpaint_core.edit.composite import CompositeConfig, paste_alpha
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.warp import WarpConfig, WarpSpec, warp_edit, warp_region
from ganpaint_core.synth.scenes import LABELS, render_scene

log = logging.getLogger(__name__)

# Labels whose pieces stand free (a tree on the grass, a cloud in the sky): dragged sideways they stay where
# they belong. A dome or a door is part of the church; dragged off it, it has no place in a scene of the
# model's domain, and a piece of a far row of trees (one pixel tall) is no object to drag.
OBJECTS = ("tree", "cloud")
GROUND = [LABELS.index("sky"), LABELS.index("grass")]  # what a free-standing object has around it (3 pixels)
MAX_TILT = np.pi / 6  # drags within 30° of horizontal
SCENE_SEEDS = 900_000  # held-out: the suite's training scenes use small seeds
PHOTO_SCALE = 4  # the scene is rendered at this multiple of the model's side (the photo's detail)
DRAG_PX = (6.0, 10.0)  # the drag's length range, model pixels


def _components(mask: np.ndarray) -> list[np.ndarray]:
    """The 4-connected pieces of ``mask`` (bool [S, S])."""
    seen = np.zeros_like(mask, bool)
    pieces = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        piece, stack = np.zeros_like(mask, bool), [(y0, x0)]
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            piece[y, x] = True
            for yy, xx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= yy < mask.shape[0] and 0 <= xx < mask.shape[1] and mask[yy, xx] and not seen[yy, xx]:
                    seen[yy, xx] = True
                    stack.append((yy, xx))
        pieces.append(piece)
    return pieces


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()], np.float32)  # (x, y), pixel centres at +0.5 left out on both sides


def pick_object(labels: np.ndarray, rng: np.random.Generator) -> tuple[str, np.ndarray] | None:
    """A draggable object of ``labels`` [S, S]: a compact piece (16–250 pixels, at least 4 wide and tall,
    filling at least 40 % of its box) of a label in :data:`OBJECTS`, whole in the frame, with only sky or grass
    within 3 pixels and no other piece of its label within 6; None when the scene has none."""
    found = []
    for name in OBJECTS:
        whole = labels == LABELS.index(name)
        for piece in _components(whole):
            ys, xs = np.nonzero(piece)
            h, w = np.ptp(ys) + 1, np.ptp(xs) + 1
            d = distance_to(piece)
            ring = labels[(d > 0) & (d <= 3)]
            inside = ys.min() > 0 and xs.min() > 0 and ys.max() < labels.shape[0] - 1 and xs.max() < labels.shape[1] - 1
            if (16 <= piece.sum() <= 250 and min(h, w) >= 4 and piece.sum() >= 0.4 * h * w and inside
                    and not (whole & (d <= 6) & ~piece).any() and np.isin(ring, GROUND).all()):
                found.append((name, piece))
    return found[rng.integers(len(found))] if found else None


def warp_case(seed: int, *, resolution: int, rng: np.random.Generator) -> dict[str, Any] | None:
    """A held-out scene with its photo (rendered at ``PHOTO_SCALE`` × the model's side), the object, the drag."""
    scene = render_scene(seed, resolution=resolution)
    picked = pick_object(scene.labels, rng)
    if picked is None:
        return None
    name, piece = picked
    handle = _centroid(piece)
    for _ in range(20):
        angle, length = rng.uniform(-MAX_TILT, MAX_TILT) + np.pi * rng.integers(2), rng.uniform(*DRAG_PX)
        target = handle + length * np.array([np.cos(angle), np.sin(angle)], np.float32)
        if (target >= 8).all() and (target <= resolution - 8).all():
            break
    else:
        return None
    big = render_scene(seed, resolution=resolution * PHOTO_SCALE).image
    photo = load_photo(Image.fromarray(big), size=resolution)
    return {"seed": seed, "label": name, "piece": piece, "photo": photo, "handle": handle, "target": target}


def _label_centre(engine: EditEngine, image: np.ndarray, label: str, window: np.ndarray) -> np.ndarray | None:
    seg = engine.model.segmenter
    x = torch.from_numpy(image.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None].to(engine.device)
    with torch.no_grad():
        found = seg.predict(x)[0].cpu().numpy() == seg.labels.index(label)
    found &= window
    return _centroid(found) if found.any() else None


def detail(image: np.ndarray, sigma: float) -> np.ndarray:
    """float [H, W, 3]: ``image`` minus its Gaussian blur (σ pixels): its high-frequency detail."""
    t = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None]
    return (t - blur(t, sigma))[0].permute(1, 2, 0).numpy()


def detail_kept(photo: Photo, final: np.ndarray, piece: np.ndarray, shift: np.ndarray) -> float:
    """Pearson correlation of the final's detail over the moved region with the photo's detail over the source
    region (the piece, moved by ``shift`` model pixels, both at the photo's full resolution)."""
    box = photo.box
    scale = box.side / piece.shape[0]
    up = np.asarray(Image.fromarray(piece.astype(np.uint8) * 255).resize((box.side, box.side), Image.NEAREST)) > 0
    d = int(round(shift[0] * scale)), int(round(shift[1] * scale))
    ys, xs = np.nonzero(up)
    ys2, xs2 = ys + d[1], xs + d[0]
    ok = (ys2 >= 0) & (ys2 < box.side) & (xs2 >= 0) & (xs2 < box.side)
    src_d = detail(photo.original, scale)[ys[ok] + box.top, xs[ok] + box.left]
    out_d = detail(final, scale)[ys2[ok] + box.top, xs2[ok] + box.left]
    a, b = src_d.ravel() - src_d.mean(), out_d.ravel() - out_d.mean()
    return float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-9))


def warp_row(engine: EditEngine, case: dict[str, Any], *, candidates: int = 4, cfg: WarpConfig = WarpConfig()) -> dict[str, Any]:
    """One case's figures (see the module docstring)."""
    state = engine.prepare(case["photo"])
    spec = WarpSpec(handle=tuple(map(float, case["handle"])), target=tuple(map(float, case["target"])),
                    source=case["piece"].astype(np.float32), resolution=engine.resolution, candidates=candidates)
    spec.check(resolution=engine.resolution)
    found = engine.brush_candidates(state, spec)
    edit = warp_edit(engine, state, spec, found[0], cfg=cfg)
    base = to_uint8(state.base_render[0])
    window = distance_to(spec.mask > 0) <= 3
    before = _label_centre(engine, base, case["label"], distance_to(case["piece"]) <= 3)
    drag = np.asarray(spec.drag)
    target = (before if before is not None else case["handle"]) + drag
    after = _label_centre(engine, found[0].preview, case["label"], window)
    row: dict[str, Any] = {"seed": case["seed"], "label": case["label"], "drag_px": float(np.hypot(*drag)),
                           "handle_error": found[0].handle_error, "steps": found[0].steps,
                           "seconds": max(c.seconds for c in found),
                           "centroid_error_before": float(np.hypot(*(target - (before if before is not None else case["handle"])))),
                           "centroid_error": float(np.hypot(*(target - after))) if after is not None else float(np.hypot(*drag))}
    _, region = warp_region(spec, grid=state.features.shape[-1], spread=cfg.spread)
    beyond = paste_alpha(state.photo, region) == 0
    shift = np.subtract(found[0].handle_end, spec.handle)
    for transfer in ("flow", "delta"):
        final = engine.render(state, [edit], composite_cfg=CompositeConfig(transfer=transfer)).final
        row[f"{transfer}_detail_kept"] = detail_kept(state.photo, final, case["piece"], shift)
        row[f"{transfer}_outside_exact"] = bool(np.array_equal(final[beyond], state.photo.original[beyond]))
        row[f"{transfer}_final"] = final
    return row


def bench_warp(engine: EditEngine, *, n: int, seed: int, candidates: int = 4) -> dict[str, Any]:
    """The warp figures over ``n`` held-out scenes (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    s = SCENE_SEEDS + 1000 * seed
    while len(rows) < n and s < SCENE_SEEDS + 1000 * seed + 10 * n + 20:
        case = warp_case(s, resolution=engine.resolution, rng=rng)
        s += 1
        if case is None:
            continue
        row = warp_row(engine, case, candidates=candidates)
        for key in ("flow_final", "delta_final"):
            row.pop(key)
        rows.append(row)
        log.info("scene %d (%s, drag %.1f px): centroid %.2f -> %.2f px, handle %.2f px, %d steps; detail flow %.2f, "
                 "delta %.2f", row["seed"], row["label"], row["drag_px"], row["centroid_error_before"],
                 row["centroid_error"], row["handle_error"], row["steps"], row["flow_detail_kept"],
                 row["delta_detail_kept"])
    if not rows:
        raise ValueError(f"no held-out scene of seeds {SCENE_SEEDS + 1000 * seed}… has a free-standing object to drag: "
                         "try another --seed")
    med = lambda key: float(statistics.median([r[key] for r in rows if not np.isnan(r[key])] or [float("nan")]))  # noqa: E731
    return {"warp_centroid_error": med("centroid_error"), "warp_centroid_error_before": med("centroid_error_before"),
            "warp_centroid_error_max": max(r["centroid_error"] for r in rows),
            "warp_handle_error": med("handle_error"), "warp_candidates_s": med("seconds"),
            "warp_outside_exact": all(r["flow_outside_exact"] and r["delta_outside_exact"] for r in rows),
            "flow_detail_kept": med("flow_detail_kept"), "delta_detail_kept": med("delta_detail_kept"),
            "warp_candidates": candidates, "warp_per_scene": rows}
