"""The record of an edit: one JSON format for the CLI's ``--report``, the app's download and ``/edit``'s
callers. Its ``strokes`` list is itself a recipe (:mod:`ganpaint_core.edit.recipe` reads it back): each
stroke kind writes its own entry (``to_record``, :mod:`ganpaint_core.edit.kinds`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ganpaint_core.edit.embedded import mask_png_base64
from ganpaint_core.edit.spec import EditOptions

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine, PhotoState, RenderResult
    from ganpaint_core.edit.kinds import AppliedStroke, StrokeKind

RECORD_FORMAT = "ganpaint-edit/2"


def edit_record(engine: EditEngine, state: PhotoState, specs: Sequence[StrokeKind], strokes: Sequence[AppliedStroke],
                result: RenderResult, *, options: EditOptions, name: str, timings: dict[str, float] | None = None,
                notes: Sequence[str] = ()) -> dict[str, Any]:
    """A JSON-ready record: model, weights, photo geometry, options, strokes, parameters, timings, notes."""
    manifest = engine.model.manifest
    quick = engine.quick_plan if state.fit == "quick" else None
    return {
        "format": RECORD_FORMAT,
        "model": manifest.name,
        "family": manifest.family,
        "resolution": manifest.resolution,
        "edit_layer": manifest.edit_layer,
        "weights_sha256": dict(engine.model.sha256),
        "photo": {"name": name, "size": list(state.photo.size), "box": list(state.photo.box), "fit": state.photo.fit},
        "options": dataclasses.asdict(options),
        "reconstruction_psnr_db": {"inverted": round(state.recon_psnr_before, 3),
                                   "adapted": round(state.recon_psnr_after, 3)},
        # Which setup the render used: "full", or "quick" (the page's first fit, before the full one was ready)
        "setup_fit": state.fit,
        "parameters": {"inversion": dataclasses.asdict(quick.inversion if quick else engine.inversion_cfg),
                       "adaptation": dataclasses.asdict(quick.adaptation if quick else engine.adapt_cfg),
                       "lpips": _lpips_used(state),
                       **({"segments": dataclasses.asdict(engine.segment_cfg)} if state.invert == "segments" else {})},
        "strokes": [spec.to_record(st) for spec, st in zip(specs, strokes)],  # each kind its own form
        # How much of the render's change the photo takes ([S, S] over the square); the photo's pixels are
        # unchanged wherever this is black.
        "paste_region_png_base64": mask_png_base64(result.region),
        "paste_region_share": round(float((result.region > 0).mean()), 5),
        # Every pixel of the result that differs from the photo ([H, W] over the photo, white = changed);
        # only for a full-resolution result.
        **({} if result.changed is None else {"changed_area_png_base64": mask_png_base64(result.changed),
                                              "changed_share": round(float(result.changed.mean()), 6)}),
        "timings_s": {k: round(v, 4) for k, v in {**state.timings, **(timings or {}), **result.timings}.items()},
        "notes": list(dict.fromkeys([*state.notes, *notes, *result.notes])),
    }


def _lpips_used(state: PhotoState) -> bool:
    """Whether the photo's setup used LPIPS (its notes say when it fell back)."""
    return not any(n.startswith("LPIPS unavailable") for n in state.notes)
