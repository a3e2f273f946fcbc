"""What segment inversion buys: reconstruction PSNR before adaptation with one code and with one code per
segment, on photos, and the segments' extra seconds. A control gives the single code the same extra steps
(the same optimisation with one segment), so a gain that is only "more steps" shows as such.

Example::

    engine = EditEngine(load_model("synth-church"), setup_store=None)
    photos = [load_photo(p, size=engine.resolution) for p in paths]
    figures = segment_metrics(engine, photos)   # {"psnr_single_code": 27.3, "psnr_segments": 31.1, ...}
"""
from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Any

from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.invert import invert
from ganpaint_core.edit.segments import invert_segments, model_segment
from ganpaint_core.errors import GanpaintError
from ganpaint_core.photo import Photo
from ganpaint_core.progress import Callback, report


def segment_metrics(engine: EditEngine, photos: Sequence[Photo], *, names: Sequence[str] | None = None,
                    callback: Callback | None = None) -> dict[str, Any]:
    """Medians over ``photos`` of ``psnr_single_code`` (the engine's inversion), ``psnr_segments`` (then
    segment inversion with ``engine.segment_cfg``), ``psnr_single_code_same_steps`` (the control: as many
    extra steps for the single code) and ``segments_s`` / ``same_steps_s`` (extra seconds), plus
    ``per_photo`` and ``segments_won`` (photos where segments beat the control)."""
    if not photos:
        raise GanpaintError("segment metrics need at least one photo")
    names = list(names) if names is not None else [f"photo {i + 1}" for i in range(len(photos))]
    generator, lpips_model = engine.model.generator, engine._lpips()
    segment, label_names = model_segment(engine.model)
    common = dict(layer=engine.layer, encoder=engine.model.encoder, lpips_model=lpips_model)
    rows = []
    for i, (name, photo) in enumerate(zip(names, photos)):
        target = photo.model_image.to(engine.device)
        first = invert(generator, target, cfg=engine.inversion_cfg, **common)
        seg = invert_segments(generator, target, first=first, segment=segment, label_names=label_names,
                              cfg=engine.segment_cfg, **common)
        control = invert_segments(generator, target, first=first, segment=None,
                                  cfg=dataclasses.replace(engine.segment_cfg, grid=(1, 1)), **common)
        rows.append({"photo": name, "psnr_single_code": round(first.psnr, 3),
                     "psnr_segments": round(seg.inversion.psnr, 3),
                     "psnr_single_code_same_steps": round(control.inversion.psnr, 3),
                     "invert_s": round(first.seconds, 2), "segments_s": round(seg.seconds, 2),
                     "same_steps_s": round(control.seconds, 2), "segments": list(seg.names),
                     "shares": list(seg.shares)})
        report(callback, i + 1, len(photos), stage="segment metrics", photo=name, psnr=seg.inversion.psnr)
    keys = ("psnr_single_code", "psnr_segments", "psnr_single_code_same_steps", "segments_s", "same_steps_s")
    out: dict[str, Any] = {k: round(statistics.median(r[k] for r in rows), 3) for k in keys}
    out["segments_won"] = sum(r["psnr_segments"] > r["psnr_single_code_same_steps"] for r in rows)
    out["per_photo"] = rows
    return out


__all__ = ["segment_metrics"]
