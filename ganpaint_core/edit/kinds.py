"""Stroke kinds: what every kind of stroke answers, and the one registry of kinds by name.

A stroke kind is two types in its own module(s): the stroke as the user gave it (a :class:`StrokeKind`: its
check, its application for a photo's setup, its record form, its label and what the page asks of it) and its
recipe form as written (a :class:`RecipeEntry`: read from a recipe's entry, turned into the stroke once the
photo and the model are known). The engine applies what :meth:`StrokeKind.resolve` returns (an
:class:`AppliedStroke`: :class:`~ganpaint_core.edit.strokes.EditStroke` or
:class:`~ganpaint_core.edit.strokes.FeatureEdit`). Nothing outside this module tells kinds apart by type:
adding a kind (a warp brush…) is its own module and one line in :data:`KINDS`.

Example::

    kind = kind_named("brush", where="stroke 2")            # Kind(name="brush", spec=BrushSpec, entry=RecipeBrush)
    entry = kind.entry.read(raw, RecipeSource(base=None), "stroke 2")
    spec, notes = entry.to_spec(photo, engine, {})
    spec.check_on(engine)                                   # StrokeError says what to change
    applied = spec.resolve(engine, state)                   # what engine.render applies
    record = spec.to_record(applied)                        # the record's (and recipe's) entry
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import torch

from ganpaint_core.core.errors import shown
from ganpaint_core.core.photo import Photo
from ganpaint_core.core.progress import Callback
from ganpaint_core.edit.brush import BrushSpec
from ganpaint_core.edit.brush_recipe import RecipeBrush
from ganpaint_core.edit.concept_recipe import RecipeStroke
from ganpaint_core.edit.direction_edit import DirectionSpec, RecipeDirection
from ganpaint_core.edit.recipe_rules import RecipeSource
from ganpaint_core.edit.segment_edit import RecipeSegment, SegmentEdit
from ganpaint_core.edit.spec import Reference, StrokeSpec
from ganpaint_core.edit.strokes import StrokeError
from ganpaint_core.edit.warp import WarpSpec
from ganpaint_core.edit.warp_recipe import RecipeWarp
from ganpaint_core.hub.concepts import ConceptDictionary

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine, PhotoState


# What a kept stroke may let change in place (``StrokeKind.settings``), each in [0, 1]: how strongly it edits, and
# how strongly its look (a generated sample's, a reference's) is copied. The page's "selected stroke" controls
# show the ones the selected stroke has; a brush's morph and a direction's amount stay as they were added.
SETTINGS = ("strength", "style_strength")


class AppliedStroke(Protocol):
    """A stroke resolved for one photo, as the engine applies it."""

    mask: np.ndarray  # float32 [S, S] in [0, 1]: what was painted (the render replaces the photo there)
    region: np.ndarray | None  # its own paste region [S, S], or None (the engine grows the mask)
    motion: np.ndarray | None  # [S, S, 2] its known displacement (a warp's), or None (the flow transfer estimates it)
    action: str  # "add" strokes get tone matching
    enabled: bool
    notes: tuple[str, ...]
    release_mode: str  # how its release alpha is upsampled to the render: "nearest" (cell by cell) or "bilinear"

    def validate(self, concepts: ConceptDictionary) -> None: ...
    def is_noop(self) -> bool: ...
    def apply_to(self, out: torch.Tensor, concepts: ConceptDictionary) -> torch.Tensor: ...
    def release_alpha(self, grid: int) -> torch.Tensor | None: ...


class StrokeKind(Protocol):
    """A stroke as the user gave it (on the model's square), one type per kind."""

    kind: ClassVar[str]  # its name in KINDS and its record's "kind"
    has_candidates: ClassVar[bool]  # offers results to pick from (``engine.brush_candidates``, ``pick``)
    needs_directions: ClassVar[bool]  # needs the model's directions found first (minutes, once per model)
    portable: ClassVar[bool]  # may be put on another model's square (compare across models)
    enabled: bool  # switched-off strokes stay in the list but change nothing

    @property
    def concepts(self) -> tuple[str, ...]: ...  # the concepts it names (none for brushes, directions)

    def check_on(self, engine: EditEngine, *, callback: Callback | None = None) -> None: ...
    def resolve(self, engine: EditEngine, state: PhotoState) -> AppliedStroke: ...
    def to_record(self, applied: Any) -> dict[str, Any]: ...
    def describe(self) -> str: ...  # short, for status lines: "add tree", "direction sky +1.5 · whole photo"
    def label(self) -> str: ...  # the stroke list's line (without its number)
    def references(self) -> dict[str, Reference]: ...  # style references by sha256 (a share bundle carries them)
    def with_strength(self, strength: float) -> StrokeKind: ...  # itself when it has no strength to vary
    def settings(self) -> dict[str, float]: ...  # what it lets change in place, by name (of SETTINGS); {}: none
    def with_settings(self, values: Mapping[str, float]) -> StrokeKind: ...  # those of settings() changed
    def on_square(self, resolution: int) -> StrokeKind: ...  # its mask on another square (portable kinds)


class RecipeEntry(Protocol):
    """A recipe's stroke as written, before it meets a photo and a model."""

    where: str  # "recipe R stroke N", for messages

    @classmethod
    def read(cls, raw: dict[str, Any], source: RecipeSource, where: str) -> RecipeEntry: ...
    def to_spec(self, photo: Photo, engine: EditEngine, references: dict) -> tuple[StrokeKind, list[str]]: ...


@dataclass(frozen=True)
class Kind:
    """One kind of stroke."""

    name: str  # a recipe entry's "kind"
    spec: type  # the stroke as the user gave it (a StrokeKind)
    entry: type  # its recipe form (a RecipeEntry)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("concept", StrokeSpec, RecipeStroke),
    Kind("brush", BrushSpec, RecipeBrush),
    Kind("direction", DirectionSpec, RecipeDirection),
    Kind("warp", WarpSpec, RecipeWarp),
    Kind("segment", SegmentEdit, RecipeSegment),
)}


def kind_named(name: Any, *, where: str) -> Kind:
    """The kind a recipe entry's ``"kind"`` names; ``StrokeError`` lists the known ones."""
    if not isinstance(name, str) or name not in KINDS:
        raise StrokeError(f"{where}: 'kind' must be {', '.join(list(KINDS)[:-1])} or {list(KINDS)[-1]}, "
                          f"got {shown(name)}")
    return KINDS[name]
