"""What segment inversion buys: reconstruction PSNR before adaptation with one code and with one code per
segment, on photos, and the segments' extra seconds. A control gives the single code the same extra steps
(the same optimisation with one segment), so a gain that is only "more steps" shows as such.

The PSNR of the edit-layer features counts the residual, which alone can reach most of what extra codes add.
Two figures say how much of the photo the codes themselves carry: the PSNR of the codes' render alone
(residual 0: the generator's own reach) and the residual's RMS relative to the features' RMS (the share of
the features outside the generator's vocabulary; smaller is more in-domain, which is what makes concept
edits behave).

Example::

    engine = EditEngine(load_model("synth-church"), caches=EditCaches(setup_store=None))
    photos = [load_photo(p, size=engine.resolution) for p in paths]
    figures = segment_metrics(engine, photos)   # {"psnr_single_code": 27.3, "psnr_segments": 31.1, ...}
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.metrics import psnr
from ganpaint_core.core.photo import Photo
from ganpaint_core.core.progress import Callback, report
from ganpaint_core.edit.composite import paste_alpha
from ganpaint_core.edit.direction_edit import DirectionSpec
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.invert import Inversion, invert
from ganpaint_core.edit.pipeline import edit_photo
from ganpaint_core.edit.segment_edit import SegmentEdit
from ganpaint_core.edit.segments import invert_segments, model_segment
from ganpaint_core.models.layers import run_tail


def codes_only_psnr(generator: nn.Module, image: torch.Tensor, *, layer: str, masks: torch.Tensor,
                    codes: torch.Tensor, latent: torch.Tensor) -> float:
    """PSNR of the render of ``Σ_k masks_k · head(codes_k)`` (masks [K, 1, h, w], codes [K, ...]) with no
    residual, against ``image`` [1, 3, S, S]; ``latent`` [1, ...] is the tail's."""
    head, tail = generator.split(layer)
    device = image.device
    with torch.no_grad():
        features = (masks.to(device) * head(codes.to(device))).sum(0, keepdim=True)  # [1, C, h, w]
        return psnr(run_tail(tail, features, latent=latent.to(device)), image)


def residual_share(inversion: Inversion) -> float:
    """RMS of the residual over RMS of the features: 0 is all generator, 1 is as large as the features."""
    return math.sqrt(inversion.residual.pow(2).mean().item() / max(inversion.features.pow(2).mean().item(), 1e-12))


def segment_metrics(engine: EditEngine, photos: Sequence[Photo], *, names: Sequence[str] | None = None,
                    callback: Callback | None = None) -> dict[str, Any]:
    """Medians over ``photos`` of ``psnr_single_code`` (the engine's inversion), ``psnr_segments`` (then
    segment inversion with ``engine.segment_cfg``), ``psnr_single_code_same_steps`` (the control: as many
    extra steps for the single code) and ``segments_s`` / ``same_steps_s`` (extra seconds), plus
    ``per_photo`` and ``segments_won`` (photos where segments beat the control).

    Diagnostics, medians too: ``psnr_<mode>_latent_only`` (the codes' render with the residual set to 0)
    and ``residual_rms_<mode>`` (:func:`residual_share`) for ``single`` (the first inversion), ``segments``
    and ``same_steps`` (the control). A segment inversion that only matches the control's PSNR but with a
    smaller residual has moved the photo into the generator's vocabulary: a real gain for edits."""
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

        def latent_only(masks: torch.Tensor, codes: torch.Tensor) -> float:
            return round(codes_only_psnr(generator, target, layer=engine.layer, masks=masks, codes=codes,
                                         latent=first.latent), 3)

        rows.append({"photo": name, "psnr_single_code": round(first.psnr, 3),
                     "psnr_segments": round(seg.inversion.psnr, 3),
                     "psnr_single_code_same_steps": round(control.inversion.psnr, 3),
                     "psnr_single_code_latent_only": latent_only(torch.ones(1, 1, 1, 1), first.latent),
                     "psnr_segments_latent_only": latent_only(seg.masks, seg.codes),
                     "psnr_same_steps_latent_only": latent_only(control.masks, control.codes),
                     "residual_rms_single": round(residual_share(first), 4),
                     "residual_rms_segments": round(residual_share(seg.inversion), 4),
                     "residual_rms_same_steps": round(residual_share(control.inversion), 4),
                     "invert_s": round(first.seconds, 2), "segments_s": round(seg.seconds, 2),
                     "same_steps_s": round(control.seconds, 2), "segments": list(seg.names),
                     "shares": list(seg.shares)})
        report(callback, i + 1, len(photos), stage="segment metrics", photo=name, psnr=seg.inversion.psnr)
    keys = ("psnr_single_code", "psnr_segments", "psnr_single_code_same_steps", "segments_s", "same_steps_s",
            "psnr_single_code_latent_only", "psnr_segments_latent_only", "psnr_same_steps_latent_only",
            "residual_rms_single", "residual_rms_segments", "residual_rms_same_steps")
    out: dict[str, Any] = {k: round(statistics.median(r[k] for r in rows), 4) for k in keys}
    out["segments_won"] = sum(r["psnr_segments"] > r["psnr_single_code_same_steps"] for r in rows)
    out["per_photo"] = rows
    return out


LEAK_EDITS = (("pc1", 2.0), ("pc2", -2.0))  # the directions applied to each segment (global ones: they change
# every part of a photo when applied to its single code, so what stays outside the segment is the edit's locality)


def _leak(change: np.ndarray, inside: np.ndarray, within: np.ndarray) -> float:
    """Mean change per pixel outside the segment (within ``within``) over the mean change inside it."""
    outside = within & ~inside
    return float(change[outside].mean() / max(change[inside].mean(), 1e-9)) if outside.any() else 0.0


def segment_edit_leak(engine: EditEngine, photos: Sequence[Photo], *, names: Sequence[str] | None = None,
                      callback: Callback | None = None) -> dict[str, Any]:
    """A direction on one segment's code (:class:`~ganpaint_core.edit.segment_edit.SegmentEdit`), for every segment
    of every photo set up with segment inversion (and adapted, as the app does) and each of ``LEAK_EDITS``:
    ``segment_edit_leak`` is the median of the mean change per pixel outside the segment over the mean change
    inside it, on the final photo (inside: where the segment's mask weighs most, at the photo's scale; outside:
    the rest of the model's square); ``segment_edit_leak_render`` the same on the render before paste-back
    (what the generator itself spreads); ``_max`` the largest."""
    names = list(names) if names is not None else [f"photo {i + 1}" for i in range(len(photos))]
    rows = []
    for i, (name, photo) in enumerate(zip(names, photos)):
        state = engine.prepare(photo, invert="segments")
        labels = state.segments.label_map(engine.resolution).numpy()
        box = paste_alpha(photo, np.ones(labels.shape, np.float32)) > 0
        for k, segment in enumerate(state.segments.names):
            inside_sq = labels == k
            if not inside_sq.any():
                continue
            inside = (paste_alpha(photo, inside_sq.astype(np.float32)) >= 0.5) & box
            for direction, amount in LEAK_EDITS:
                out = edit_photo(engine, state, [SegmentEdit(segment=segment, edit=DirectionSpec(direction, amount))])
                final = np.abs(out.result.final.astype(np.float32) - photo.original.astype(np.float32)).mean(-1)
                render = np.abs(out.result.preview.astype(np.float32) - out.result.base.astype(np.float32)).mean(-1)
                rows.append({"photo": name, "segment": segment, "share": round(float(inside_sq.mean()), 4),
                             "direction": direction, "amount": amount, "leak": round(_leak(final, inside, box), 5),
                             "leak_render": round(_leak(render, inside_sq, np.ones_like(inside_sq)), 5)})
        report(callback, i + 1, len(photos), stage="segment edit leak", photo=name)
    if not rows:
        raise GanpaintError("no segment to edit: the photos gave no segments")
    return {"segment_edit_leak": statistics.median(r["leak"] for r in rows),
            "segment_edit_leak_max": max(r["leak"] for r in rows),
            "segment_edit_leak_render": statistics.median(r["leak_render"] for r in rows),
            "segment_edit_leak_edits": len(rows), "segment_edit_leak_per_edit": rows}


__all__ = ["LEAK_EDITS", "codes_only_psnr", "residual_share", "segment_edit_leak", "segment_metrics"]
