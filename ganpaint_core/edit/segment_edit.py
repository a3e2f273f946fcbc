"""Edits of one segment (ChunkyGAN's local editing, Kocasari et al. 2022): a photo set up with segment inversion
(``invert="segments"``, :mod:`ganpaint_core.edit.segments`) has features ``Σ_k m_k · head(z_k) + residual``. A
direction or a brush that targets segment k moves ``z_k`` only: the inner edit is resolved from segment k's
own code, and its change of the features is kept under ``m_k`` (``m_k · (head(z_k') - head(z_k))`` for a
direction), so every other segment's code, and its part of the features, stays as it was. The photo takes
the render's change only where segment k is (its mask at pixel scale), as a masked direction takes it under
its mask.

A brush's candidates are searched from segment k's code (its region, colours and sketch as usual); what lies
outside the segment's mask is dropped afterwards, so strokes are best painted inside the segment. The tail
keeps the photo's latent (a ProGAN tail ignores it; a StyleGAN2 brush search renders its candidates with the
segment's code as the tail's latent, the final render with the photo's).

Example::

    state = engine.prepare(photo, invert="segments")                 # state.segments.names: ("sky", "brick"…)
    spec = SegmentEdit(segment="sky", edit=DirectionSpec(name="sky", amount=2.0))
    out = edit_photo(engine, state, [spec])                          # only the sky segment's code moved
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from torch.nn import functional as F

from ganpaint_core.core.errors import shown
from ganpaint_core.core.photo import Photo
from ganpaint_core.core.progress import Callback
from ganpaint_core.edit.recipe_rules import RecipeSource, enabled, refuse_unknown
from ganpaint_core.edit.segments import SegmentCodes, SegmentError
from ganpaint_core.edit.spec import Reference
from ganpaint_core.edit.strokes import FeatureEdit, StrokeError

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine, PhotoState

NESTABLE = ("direction", "brush")  # the kinds an edit of one segment may carry (their recipe "kind")
FEATHER = (0.25, 0.75)  # a segment's mask weight where the photo starts and fully takes its change


def photo_segments(state: PhotoState) -> SegmentCodes:
    """The segments of a photo's setup; ``StrokeError`` when it was set up with one code."""
    if state.segments is None:
        raise StrokeError("this photo was set up with one code: choose segment inversion (the page's Inversion "
                          "'segments', the CLI's --invert segments) to edit one segment")
    return state.segments


def segment_weight(segments: SegmentCodes, index: int, side: int) -> np.ndarray:
    """float32 [side, side] in [0, 1]: how much of a change of segment ``index``'s code the photo takes at each
    pixel (its soft edit-grid mask, upsampled, over the ``FEATHER`` band)."""
    up = F.interpolate(segments.masks[index:index + 1], size=(side, side), mode="bilinear", align_corners=False)
    # The masks are blurred (SegmentConfig.softness) so that codes meet without seams; the photo takes the
    # change from where the segment weighs a quarter (0) to three quarters (1): a narrower band, so a change
    # of one code does not spill half a cell into its neighbours.
    return ((up[0, 0] - FEATHER[0]) / (FEATHER[1] - FEATHER[0])).clamp(0, 1).numpy().astype(np.float32)


@dataclass(frozen=True)
class SegmentEdit:
    """A direction or a brush applied to one segment's code (the stroke kind ``"segment"``)."""

    segment: str  # the segment's name, as the photo's setup found it ("sky", "row 1 col 2")
    edit: Any  # a StrokeKind of NESTABLE's kinds (DirectionSpec, BrushSpec), on the model's square
    enabled: bool = True

    kind: ClassVar[str] = "segment"
    has_candidates: ClassVar[bool] = False  # a brush's candidates are picked in its recipe entry (pick)
    portable: ClassVar[bool] = False  # a photo's own segments

    @property
    def needs_directions(self) -> bool:
        return bool(self.edit.needs_directions)

    @property
    def concepts(self) -> tuple[str, ...]:
        return tuple(self.edit.concepts)

    def check_on(self, engine: EditEngine, *, callback: Callback | None = None) -> None:
        if not isinstance(self.segment, str) or not self.segment:
            raise StrokeError(f"an edit of one segment needs the segment's name, got {shown(self.segment)}")
        if getattr(self.edit, "kind", None) not in NESTABLE:
            kind = getattr(self.edit, "kind", None)
            raise StrokeError(f"one segment takes a direction or a brush, got {shown(kind)}")
        self.edit.check_on(engine, callback=callback)

    def resolve(self, engine: EditEngine, state: PhotoState) -> FeatureEdit:
        segments = photo_segments(state)
        try:
            k = segments.index(self.segment)
        except SegmentError as exc:
            raise StrokeError(str(exc)) from None
        view = dataclasses.replace(state, latent=segments.codes[k:k + 1])  # segment k's code as the photo's
        inner = self.edit.resolve(engine, view)
        weight = segment_weight(segments, k, engine.resolution)
        delta = inner.delta * segments.masks[k:k + 1].to(inner.delta.dtype)  # [1, C, h, w]: only m_k's share
        return dataclasses.replace(inner, delta=delta, region=(inner.region * weight).astype(np.float32),
                                   mask=(inner.mask * (weight >= 0.5)).astype(np.float32),
                                   enabled=bool(self.enabled and inner.enabled))

    def to_record(self, applied: Any) -> dict[str, Any]:
        return {"kind": "segment", "segment": self.segment, "description": self.describe(),
                "enabled": bool(self.enabled), "edit": self.edit.to_record(applied)}

    def describe(self) -> str:
        return f"segment {self.segment}: {self.edit.describe()}"

    def label(self) -> str:
        return self.describe()

    def references(self) -> dict[str, Reference]:
        return self.edit.references()

    def with_strength(self, strength: float) -> SegmentEdit:
        return dataclasses.replace(self, edit=self.edit.with_strength(strength))

    def settings(self) -> dict[str, float]:
        return self.edit.settings()  # what the wrapped edit lets change in place

    def with_settings(self, values: Mapping[str, float]) -> SegmentEdit:
        changed = self.edit.with_settings(values)
        return self if changed is self.edit else dataclasses.replace(self, edit=changed)

    def on_square(self, resolution: int) -> SegmentEdit:
        return self


def segment_at(state: PhotoState, x: float, y: float) -> str:
    """The name of the segment at ``(x, y)`` in [0, 1] over the model's square (a click on the page)."""
    segments = photo_segments(state)
    side = int(state.base_render.shape[-1])
    labels = segments.label_map(side)
    row, col = (min(side - 1, max(0, int(v * side))) for v in (y, x))
    return segments.names[int(labels[row, col])]


# -- its recipe form ---------------------------------------------------------------------------------
SEGMENT_KEYS = {"kind", "segment", "edit", "enabled", "description"}


@dataclass(frozen=True)
class RecipeSegment:
    """A recipe's ``{"kind": "segment", "segment": "sky", "edit": {"kind": "direction", ...}}``: the inner entry
    is read by the one recipe reader (``source.entry_reader``), with the same rules as at the top level."""

    segment: str
    edit: Any  # the inner RecipeEntry
    enabled: bool = True
    where: str = "segment"

    @classmethod
    def read(cls, raw: dict[str, Any], source: RecipeSource, where: str) -> RecipeSegment:
        refuse_unknown(raw, SEGMENT_KEYS, where)
        if not isinstance(raw.get("segment"), str) or not raw["segment"]:
            raise StrokeError(f"{where}: 'segment' must be a segment's name, got {shown(raw.get('segment'))}")
        inner = raw.get("edit")
        if not isinstance(inner, dict) or inner.get("kind") not in NESTABLE:
            raise StrokeError(f"{where}: 'edit' must be a direction or a brush entry ({{\"kind\": \"direction\", "
                              f"...}}), got {shown(inner if not isinstance(inner, dict) else inner.get('kind'))}")
        if source.entry_reader is None:
            raise StrokeError(f"{where}: read this recipe with ganpaint_core.edit.recipe (it reads nested entries)")
        return cls(segment=raw["segment"], edit=source.entry_reader(inner, source, f"{where} edit"),
                   enabled=enabled(raw, where), where=where)

    def to_spec(self, photo: Photo, engine: EditEngine, references: dict) -> tuple[SegmentEdit, list[str]]:
        inner, notes = self.edit.to_spec(photo, engine, references)
        return SegmentEdit(segment=self.segment, edit=inner, enabled=self.enabled), notes


__all__ = ["NESTABLE", "RecipeSegment", "SegmentEdit", "photo_segments", "segment_at", "segment_weight"]
