"""The one function that edits a photo: the page's preview and render, the ``/edit`` endpoint and the CLI
(one photo, a recipe, a folder) all call :func:`edit_photo`, so they cannot drift apart.

Example::

    engine = EditEngine(load_model("synth-church"))
    photo = load_photo("church.jpg", size=engine.resolution)
    spec = StrokeSpec(mask=mask_to_square(mask, photo, engine.resolution), concept="tree", action="add")
    out = edit_photo(engine, photo, [spec])           # setup (inversion + adaptation), then one tail pass
    out.result.final                                  # uint8 [H, W, 3], the photo's size
    out.record                                        # JSON-ready: model, weights, strokes, timings, notes
    again = edit_photo(engine, out.state, [spec2])    # the same photo again: no setup
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganpaint_core.core.photo import DEFAULT_MAX_PIXELS, Photo, load_photo
from ganpaint_core.core.progress import Callback
from ganpaint_core.edit.composite import CompositeConfig
from ganpaint_core.edit.engine import EditEngine, PhotoState, RenderResult
from ganpaint_core.edit.kinds import AppliedStroke, RecipeEntry, StrokeKind
from ganpaint_core.edit.record import edit_record
from ganpaint_core.edit.spec import EditOptions, Reference, check_stroke_count
from ganpaint_core.edit.strokes import StrokeError

AnySpec = StrokeKind  # a concept stroke, a colour / sketch brush, a latent direction (ganpaint_core.edit.kinds)


@dataclass(frozen=True)
class EditOutcome:
    """An edited photo: the setup it used, the render, the strokes as applied, and its record."""

    state: PhotoState  # the photo's inversion + adaptation: pass it back in to edit the same photo again
    result: RenderResult  # preview (model square) and, when final, the full-resolution paste-back
    strokes: tuple[AppliedStroke, ...]  # what the engine applied, in order (styles resolved to levels,
    # brushes and directions to their change of the edit layer's features)
    record: dict[str, Any]  # JSON-ready record (ganpaint_core.edit.record); its strokes are a recipe
    specs: tuple[AnySpec, ...] = ()  # the strokes as they were asked for


def check_spec(engine: EditEngine, spec: AnySpec, *, callback: Callback | None = None) -> None:
    """One stroke's checks, as its kind defines them (``StrokeError`` says what to change)."""
    spec.check_on(engine, callback=callback)


def check_request(engine: EditEngine, strokes: Sequence[AnySpec], options: EditOptions, *,
                  callback: Callback | None = None) -> None:
    """Every check that needs no setup: a bad value is refused before seconds of inversion are spent. A
    direction needs the model's directions (found once per model, reported to ``callback``)."""
    options.check()
    check_stroke_count(len(strokes))
    for i, spec in enumerate(strokes):
        try:
            check_spec(engine, spec, callback=callback)
        except StrokeError as exc:
            if len(strokes) == 1:
                raise
            raise StrokeError(f"stroke {i + 1}: {exc}") from None


def resolve_strokes(engine: EditEngine, state: PhotoState, strokes: Sequence[AnySpec]) -> tuple[AppliedStroke, ...]:
    """The engine's strokes for ``strokes`` on the photo set up as ``state``: each style resolved to insertion
    levels, each brush to its picked candidate, each direction to its change at the edit layer (styles and
    brush candidates are kept by content: a second render does not compute them again)."""
    return tuple(spec.resolve(engine, state) for spec in strokes)


def edit_photo(engine: EditEngine, photo: Photo | PhotoState, strokes: Sequence[AnySpec], *,
               options: EditOptions = EditOptions(), final: bool = True, name: str = "photo",
               callback: Callback | None = None, extra_timings: dict[str, float] | None = None,
               notes: Sequence[str] = ()) -> EditOutcome:
    """Edit ``photo`` with ``strokes`` (in order; switched-off ones are kept in the record but change nothing).

    ``photo`` is a loaded photo (set up here: inverted as ``options.invert`` says, and adapted unless
    ``options.adapt`` is off, with ``callback(step, total, info)`` reporting progress) or the state of an
    earlier call (no setup; its own inversion stands, and the record says which). With
    ``final`` the render is pasted back into the full-resolution photo; without it only the model-square
    preview is made. Bad values raise ``GanpaintError`` subclasses before any setup.
    """
    check_request(engine, strokes, options, callback=callback)
    timings = dict(extra_timings or {})
    if isinstance(photo, PhotoState):
        state = photo
    else:
        t0 = time.monotonic()
        state = engine.prepare(photo, adapt=options.adapt, invert=options.invert, callback=callback)
        timings["setup_s"] = time.monotonic() - t0
    options = dataclasses.replace(options, invert=state.invert)  # the record names the inversion the state has
    t0 = time.monotonic()
    resolved = resolve_strokes(engine, state, strokes)
    timings["style_s"] = time.monotonic() - t0
    result = engine.render(state, list(resolved), final=final, refit=options.refit,
                           composite_cfg=CompositeConfig(transfer=options.transfer))
    record = edit_record(engine, state, strokes, resolved, result, options=options, name=name, timings=timings,
                         notes=notes)
    return EditOutcome(state=state, result=result, strokes=resolved, record=record, specs=tuple(strokes))


def edit_files(engine: EditEngine, image: str | Path | bytes, strokes: Sequence[RecipeEntry], *,
               options: EditOptions = EditOptions(), max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None,
               references: dict[Any, Reference] | None = None, callback: Callback | None = None) -> EditOutcome:
    """:func:`edit_photo` on a photo file with strokes whose masks and style references are files (a recipe,
    the CLI's flags, the ``/edit`` endpoint's uploads). ``references`` keeps loaded references across calls
    (a folder of photos with one recipe reads each reference once)."""
    photo = load_photo(image, size=engine.resolution, fit=options.fit, max_pixels=max_pixels)
    references = {} if references is None else references
    specs, notes = [], []
    for stroke in strokes:
        spec, stroke_notes = stroke.to_spec(photo, engine, references)
        specs.append(spec)
        notes += stroke_notes
    if name is None:
        name = Path(image).stem if isinstance(image, (str, Path)) else "photo"
    return edit_photo(engine, photo, specs, options=options, name=name, callback=callback, notes=notes)
