"""The values the page exchanges with ``app.py``: what an action changes (``PageUpdate``), the controls a
stroke is made with (``PaintSettings``, ``BrushChoice``, ``DirectionSettings``) and the views of a session the
page shows (``stroke_list``, ``canvas_of``). Plain data, no gradio."""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.edit.spec import StyleSpec
from ganpaint_core.page.canvas import canvas_image
from ganpaint_core.page.session import EditSession, stroke_labels
from ganpaint_core.page.text import problem

STYLE_KINDS = {"Default look": "dictionary", "Generated sample": "sample", "My reference": "reference"}
# What the canvas's paint is: where a concept changes, colours to match (iGAN's colour brush), or lines that
# should become edges (its sketch brush).
BRUSH_MODES = {"Concept": "concept", "Colour brush": "colour", "Sketch brush": "sketch", "Warp brush": "warp"}
# What every new stroke starts from (the controls go back to these once a stroke is kept, so a slider moved for one
# stroke never silently carries over to the next; a kept stroke keeps its own, shown in the list).
STROKE_DEFAULTS = {"strength": 0.75, "style_strength": 0.75}
SETTING_NAMES = {"strength": "strength", "style_strength": "look's strength"}  # kinds.SETTINGS, in the page's words
DIRECTION_WHERE = {"Whole photo": "whole", "Under the painted mask": "mask"}
# The editor's brush (gr.Brush's arguments) per brush mode: see-through pink marks where a concept changes; opaque
# colours (a palette, and the editor's own picker) are colours to match; thin dark lines are edges to draw.
EDITOR_BRUSHES = {"concept": {"colors": [("#ff3da5", 0.55)], "color_mode": "fixed", "default_size": 18},
                  "colour": {"colors": ["#3a6fd8", "#4c9a3c", "#f2f2ee", "#2a2a2a", "#a8643c", "#e6c24a"],
                             "color_mode": "defaults", "default_size": 14},
                  "sketch": {"colors": ["#161616"], "color_mode": "fixed", "default_size": 3},
                  # the warp: paint what moves (cyan), then a dot where it goes (red)
                  "warp": {"colors": ["#00e5ff", "#ff2020"], "color_mode": "defaults", "default_size": 12}}
UNCHANGED: Any = object()  # a PageUpdate field left as it is on the page


@dataclass(frozen=True)
class StrokeList:
    """The stroke list as the page shows it."""

    labels: tuple[str, ...]  # one line per stroke, in order
    enabled: tuple[str, ...]  # the labels of the strokes switched on
    can_undo: bool  # whether "Undo" has something to undo
    selected: int | None = None  # the stroke the "selected stroke" controls are on, 0-based (None: the last one)
    settings: Mapping[str, float] = field(default_factory=dict)  # its own, changeable in place (kinds.SETTINGS)

    @property
    def selected_label(self) -> str | None:
        """The selected stroke's line (None: no strokes)."""
        if not self.labels:
            return None
        return self.labels[-1 if self.selected is None else self.selected]

    def setting_label(self, name: str) -> str:
        """The label of the control for the selected stroke's setting ``name``: "Stroke 2 · its strength"."""
        number = len(self.labels) if self.selected is None else self.selected + 1
        return f"Stroke {number} · its {SETTING_NAMES[name]}"


@dataclass(frozen=True)
class Canvas:
    """What the paint canvas shows: the photo (display size, outside the model's square dimmed), no paint."""

    background: np.ndarray | None  # uint8 [h, w, 3]; None empties the canvas
    paint: np.ndarray | None = None  # uint8 RGBA [h, w, 4]: a ready mask shown as paint (select by concept)


@dataclass(frozen=True)
class Choices:
    """A dropdown's options (label, value) and its value."""

    options: tuple[Any, ...]
    value: Any
    info: str = ""  # the dropdown's help line ("": the layout's own)


@dataclass(frozen=True)
class PageUpdate:
    """What changes on the page after an action; fields left ``UNCHANGED`` stay as they are."""

    session: Any = UNCHANGED  # EditSession: the tab's new state
    status: Any = UNCHANGED  # str (markdown): the message line
    canvas: Any = UNCHANGED  # Canvas
    preview: Any = UNCHANGED  # uint8 [h, w, 3] | None
    paint_info: Any = UNCHANGED  # str: the line under the preview
    slider: Any = UNCHANGED  # (before, after) uint8 images | None
    outline: Any = UNCHANGED  # bool: whether the before/after view outlines the changed area
    png: Any = UNCHANGED  # str path of the rendered PNG | None (no download)
    sidecar: Any = UNCHANGED  # str path of its JSON record | None
    strokes: Any = UNCHANGED  # StrokeList
    concepts: Any = UNCHANGED  # Choices
    gallery: Any = UNCHANGED  # list of (uint8 image, caption)
    style_seed: Any = UNCHANGED  # int | None: the gallery sample picked for the look
    style_kind: Any = UNCHANGED  # str: a key of STYLE_KINDS
    model: Any = UNCHANGED  # str: the model the dropdown shows
    dissect: Any = UNCHANGED  # str | None: the model the "Dissect" button offers (None hides the button)
    share: Any = UNCHANGED  # str (markdown): the share link
    bundle: Any = UNCHANGED  # str path of the shared edit's JSON (record + photo) | None
    compare: Any = UNCHANGED  # uint8 [h, w, 3]: the comparison grid | None
    units: Any = UNCHANGED  # uint8 [S, S, 3]: the concept's units over the inverted photo
    segmentation: Any = UNCHANGED  # uint8 [S, S, 3]: the segmenter's map of the render
    candidates: Any = UNCHANGED  # list of (uint8 image, caption): a brush's candidates as finals, best first
    brush_pick: Any = UNCHANGED  # int: the candidate the brush uses (0 = the best)
    directions: Any = UNCHANGED  # Choices: the model's latent directions ("sky — more sky", name)
    photo: Any = UNCHANGED  # str path of the photo the photo box shows (a share link's, a recipe's) | None
    fit: Any = UNCHANGED  # str: "crop" | "pad", how the open photo was fitted to the model's square
    stroke_controls: Any = UNCHANGED  # dict like STROKE_DEFAULTS: the next stroke's strength and style strength
    transform: Any = UNCHANGED  # str path of the transformation's animation (GIF) | None
    transform_strip: Any = UNCHANGED  # str path of its frames side by side (PNG) | None
    segment_map: Any = UNCHANGED  # uint8 [s, s, 3]: the photo's segments in colours, to click
    segments: Any = UNCHANGED  # Choices: the photo's segments by name, and the one chosen (a click on the map)
    fit_note: Any = UNCHANGED  # str (markdown): which fit the preview shows (quick, with the full's progress; full)
    fit_poll: Any = UNCHANGED  # bool: whether the page's timer polls the photo's full fit (poll_fit)

    def changed(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not UNCHANGED}


@dataclass(frozen=True)
class BrushChoice:
    """What the canvas's paint is and, for a colour / sketch brush, which candidate at which morph: one value
    (one ``gr.State``) that the brush controls change together, so the stroke endpoints keep their parameters."""

    mode: str = "Concept"  # a key of BRUSH_MODES
    morph: float = 1.0  # in [0, 1]: from the photo's inversion (0) to the picked candidate (1)
    pick: int = 0  # the candidate, best first
    count: int = 4  # how many candidates to find (1..16)


@dataclass(frozen=True)
class PaintSettings:
    """The controls a stroke is made with."""

    concept: str  # a concept of the model's dictionary
    action: str  # "add" | "remove"
    strength: float  # in [0, 1]
    style_kind: str = "Default look"  # a key of STYLE_KINDS
    style_strength: float = STROKE_DEFAULTS["style_strength"]  # in [0, 1]
    style_seed: int | None = None  # the gallery sample for "Generated sample"
    mode: str = "Concept"  # a key of BRUSH_MODES: what the canvas's paint is
    candidates: int = 4  # how many results a colour / sketch brush offers
    pick: int = 0  # the brush's candidate, best first
    morph: float = 1.0  # in [0, 1]: from the photo's inversion (0) to the picked candidate (1)
    seed: int = 0  # seeds the brush's diverse starts

    @classmethod
    def of(cls, brush: BrushChoice | None, *, concept: str, action: str, strength: float, style_kind: str,
           style_strength: float, style_seed: int | None) -> PaintSettings:
        """The settings of the page's controls: the concept panel's, the style's and the brush's."""
        brush = brush or BrushChoice()
        return cls(concept=concept, action=action, strength=strength, style_kind=style_kind,
                   style_strength=style_strength, style_seed=style_seed, mode=brush.mode, morph=brush.morph,
                   pick=brush.pick, candidates=brush.count)

    @property
    def brush(self) -> str:
        """"concept", "colour" or "sketch"."""
        return BRUSH_MODES.get(self.mode, "concept")

    def style(self, session: EditSession) -> StyleSpec:
        """The look these settings ask for (the session's reference for "My reference")."""
        kind = STYLE_KINDS.get(self.style_kind, "dictionary")
        return StyleSpec(kind=kind, seed=self.style_seed, strength=self.style_strength,
                         reference=session.reference if kind == "reference" else None)


@dataclass(frozen=True)
class DirectionSettings:
    """The direction panel's controls."""

    name: str | None  # a direction of the model ("sky", "pc3"); None before the directions are found
    amount: float  # in [-3, 3]: standard deviations of the model's samples along it
    where: str = "Whole photo"  # a key of DIRECTION_WHERE

    @property
    def whole(self) -> bool:
        return DIRECTION_WHERE.get(self.where, "whole") == "whole"


def stroke_list(session: EditSession, selected: int | None = None) -> StrokeList:
    """The session's strokes as the stroke list shows them, stroke ``selected`` (0-based; None or gone: the last)
    in the "selected stroke" controls with its own settings."""
    labels = stroke_labels(session)
    on = tuple(lab for lab, s in zip(labels, session.strokes) if s.enabled)
    if selected is None or not 0 <= selected < len(labels):
        selected = len(labels) - 1 if labels else None
    own = session.strokes[selected].settings() if selected is not None else {}
    return StrokeList(labels=tuple(labels), enabled=on, can_undo=bool(session.undo_stack), selected=selected,
                      settings=own)


def stroke_index(session: EditSession, label: str | None, *, to: str) -> int:
    """The stroke a list line names (``GanpaintError`` asks to pick one, ``to``: "to delete", "to change")."""
    labels = stroke_labels(session)
    if label not in labels:
        raise GanpaintError(f"pick a stroke {to} in the list first")
    return labels.index(label)


def canvas_of(session: EditSession) -> Canvas:
    """The canvas with the session's photo and no paint (empty without a photo)."""
    return Canvas(canvas_image(session.photo) if session.state is not None else None)


def reports_problems(method: Callable[..., PageUpdate]) -> Callable[..., PageUpdate]:
    """A library refusal becomes the page's message line; the session stays as it was."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> PageUpdate:
        try:
            return method(*args, **kwargs)
        except GanpaintError as exc:
            return PageUpdate(status=problem(str(exc)))
    return wrapper
