"""Edits as a stack of strokes: where (a mask), what (a concept), add or remove, how strongly.

A stroke's mask is reduced to the edit layer's grid as a soft alpha: the painted share of each cell,
doubled and clipped, so a cell half covered is fully edited (GANPaint max-pools the mask; a soft alpha
gives smoother borders for partly covered cells).

Strength s ∈ [0, 1] sets how many units and how far:
  - units: the concept's top ``ceil(s · max_units)`` (``max_units`` is 12 for add, 24 for remove, the
    counts the model benchmark uses at full strength), from the dictionary's removal ranking for remove
    when it has one;
  - amount: ``min(1, 2 s)`` of the way from each unit's current value to its target (its level for add,
    0 for remove), times the mask's alpha.
So s = 0 is a no-op, s = 0.5 moves half the units all the way, s = 1 drives every one of them.

An *add* of a concept whose dictionary entry has a template (a shape, e.g. a dome, that a constant write
of a few units does not draw) moves **every** unit ``min(1, 2 s)`` of the way to the template, resized to
the box of the stroke's cells; a reference style shifts each unit's template by the difference between the
style's level and the template's mean.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.hub.concepts import ConceptDictionary, template_target

ADD_MAX_UNITS = 12
REMOVE_MAX_UNITS = 24
Action = Literal["add", "remove"]


class StrokeError(GanpaintError):
    """A stroke that cannot be applied, with what to change."""


def refuse_settings(what: str, values: Mapping[str, float]) -> None:
    """``StrokeError`` when ``values`` asks to change a setting that the stroke ``what`` does not have (a
    kind's ``with_settings``: a brush's morph and a direction's amount are not settings in place)."""
    if values:
        raise StrokeError(f"{what} has no {' or '.join(sorted(values))} to change: it keeps the settings it was "
                          "added with")


@dataclass(frozen=True)
class EditStroke:
    """One edit. Masks live at the model's square resolution, so a stroke is small and deep-copyable.

    Example::

        stroke = EditStroke(mask=m, concept="tree", action="add", strength=0.8)
    """

    mask: np.ndarray  # float32 [S, S] in [0, 1] over the model's square
    concept: str  # a name in the model's concept dictionary
    action: Action  # "add" draws the concept, "remove" erases it
    strength: float = 0.75  # in [0, 1]: how many units and how far (see module docstring)
    style_levels: tuple[float, ...] | None = None  # per-unit targets for "add" from a reference, or None for the dictionary's levels
    enabled: bool = True  # switched-off strokes stay in the stack but do nothing
    notes: tuple[str, ...] = field(default=())  # what was adjusted (mask resized…)

    def validate(self, concepts: ConceptDictionary) -> None:
        if self.action not in ("add", "remove"):
            raise StrokeError(f"action must be 'add' or 'remove', got {self.action!r}")
        if not isinstance(self.strength, (int, float)) or not math.isfinite(self.strength) or not 0 <= self.strength <= 1:
            raise StrokeError(f"strength must be a number in [0, 1], got {self.strength!r}")
        concepts.ranking(self.concept)  # raises with the list of known concepts
        if self.mask.ndim != 2 or self.mask.shape[0] != self.mask.shape[1]:
            raise StrokeError(f"stroke mask must be a square 2-D array, got shape {self.mask.shape}")
        if self.style_levels is not None and len(self.style_levels) != concepts.num_units:
            raise StrokeError(f"style levels have {len(self.style_levels)} values, the edit layer has {concepts.num_units} units")

    def is_noop(self) -> bool:
        return not self.enabled or self.strength == 0 or float(self.mask.max(initial=0)) == 0

    # What every applied stroke answers (FeatureEdit too), so the engine needs no case per kind.
    region = None  # a concept stroke's paste region is its mask's (the engine grows it), none of its own
    motion = None  # no known displacement: the flow transfer estimates it
    # The adaptation lets go on exactly the cells the stroke writes: released half a cell further (bilinear), the
    # photo's correction changed there too and that spread past the stroke (locality +1 dB on training scenes).
    release_mode = "nearest"

    def release_alpha(self, grid: int) -> torch.Tensor:
        """[1, 1, g, g]: how much the photo's adaptation lets go on the edit grid (what the stroke changes)."""
        return grid_alpha(self.mask, grid) * min(1.0, 2 * self.strength)

    def apply_to(self, out: torch.Tensor, concepts: ConceptDictionary) -> torch.Tensor:
        """Edit-layer features [1, C, g, g] with this stroke applied (``out`` may be changed in place)."""
        grid = out.shape[-1]
        alpha = grid_alpha(self.mask, grid).to(out.device) * min(1.0, 2 * self.strength)  # [1, 1, g, g]
        template = concepts.template(self.concept) if self.action == "add" else None
        if template is not None:
            template = template.to(device=out.device, dtype=out.dtype)
            if self.style_levels is not None:
                style = torch.tensor(self.style_levels, dtype=out.dtype, device=out.device)
                template = template + (style - template.mean(dim=(1, 2))).view(-1, 1, 1)
            target = template_target(template, alpha)
            return out + alpha * (target - out)
        units = units_for(concepts, self.concept, self.action, self.strength)
        idx = torch.tensor(units, device=out.device)
        current = out[:, idx]
        if self.action == "add":
            target_levels = torch.tensor(concepts.levels if self.style_levels is None else self.style_levels,
                                         dtype=out.dtype, device=out.device)
            target = target_levels[idx].view(1, -1, 1, 1).expand_as(current)
        else:
            target = torch.zeros_like(current)
        out[:, idx] = current + alpha * (target - current)
        return out


@dataclass(frozen=True)
class FeatureEdit:
    """A change of the edit layer's features computed from the photo's own latent: a colour / sketch brush's
    picked candidate, or a latent direction. Resolved for one photo (its ``delta`` depends on the inversion).

    Example::

        edit = FeatureEdit(kind="direction", delta=head(z + 2 * n) - head(z), mask=none, region=ones, whole=True)
        features = apply_strokes(features, [edit], concepts)          # features + delta
    """

    kind: str  # "brush" | "warp" | "direction"
    delta: torch.Tensor  # [1, C, h, w] added to the edit layer's features (0 outside what it may change)
    mask: np.ndarray  # float32 [S, S] in [0, 1]: what the user painted (the render's content replaces the photo there)
    region: np.ndarray  # float32 [S, S] in [0, 1]: how much of the render's change the photo takes (1 = all)
    whole: bool = False  # a whole-photo edit: the adaptation stays on everywhere, the photo takes the change everywhere
    enabled: bool = True
    notes: tuple[str, ...] = field(default=())
    action: str = "change"  # not "add": tone matching is for added concepts only
    info: dict = field(default_factory=dict)  # JSON-ready figures for the record (a brush's constraint errors…)
    motion: np.ndarray | None = None  # float32 [S, S, 2] (dx, dy) model pixels: a warp's known displacement (the
    # content at x came from x - motion(x)), for the flow transfer (edit.flow); None: estimated when asked for

    def validate(self, concepts: ConceptDictionary) -> None:
        if self.delta.dim() != 4 or self.delta.shape[1] != concepts.num_units:
            raise StrokeError(f"a {self.kind} edit's change has shape {list(self.delta.shape)}, the edit layer has "
                              f"{concepts.num_units} units")

    def is_noop(self) -> bool:
        return not self.enabled or not bool(self.delta.abs().max() > 0)

    # Released softly, half a cell beyond its cells: a brush's or a warp's change is optimised through the tail and
    # reaches past the cells it writes (cell by cell, the warp's centroid error doubled: 2.2 → 4.1 px).
    release_mode = "bilinear"

    def release_alpha(self, grid: int) -> torch.Tensor | None:
        """What the adaptation lets go: under what was painted; a whole-photo edit releases nothing (its change
        is mild and everywhere, and the adaptation keeps the photo's own detail under it)."""
        return None if self.whole else grid_alpha(self.mask, grid)

    def apply_to(self, out: torch.Tensor, concepts: ConceptDictionary) -> torch.Tensor:
        return out + self.delta.to(device=out.device, dtype=out.dtype)


def units_for(concepts: ConceptDictionary, concept: str, action: Action, strength: float) -> list[int]:
    top = ADD_MAX_UNITS if action == "add" else REMOVE_MAX_UNITS
    return concepts.top_units(concept, math.ceil(top * strength), action)


def grid_alpha(mask: np.ndarray, grid: int) -> torch.Tensor:
    """Soft alpha [1, 1, grid, grid]: painted share of each cell, doubled and clipped to [0, 1]."""
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    return (F.adaptive_avg_pool2d(m, grid) * 2).clamp(0, 1)


def apply_strokes(features: torch.Tensor, strokes: list[EditStroke | FeatureEdit], concepts: ConceptDictionary) -> torch.Tensor:
    """Edit-layer features [1, C, h, w] with every enabled stroke applied in order (a new tensor)."""
    out = features.clone()
    for stroke in strokes:
        if not stroke.is_noop():
            out = stroke.apply_to(out, concepts)
    return out
