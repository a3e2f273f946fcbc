"""One user's editing session: the photo's setup and a stack of strokes with undo, as a small value.

A session is deep-copyable (CPU tensors and arrays only). Every operation returns a new session and leaves
the old one as it was, so a web app can keep one per browser tab and a failed step never leaves a
half-changed session behind. Rendering goes through :func:`ganpaint_core.edit.pipeline.edit_photo`, the
one edit path the CLI and the API use too.

Example::

    engine = EditEngine(load_model("synth-church"))
    session = open_photo(engine, "church.jpg")                          # invert + adapt, once
    spec = stroke_from_layers(layers, session.photo, resolution=engine.resolution, concept="tree",
                              action="add", strength=0.8)              # ganpaint_core.page.canvas
    session = add_stroke(session, spec)
    outcome = render(engine, session, final=True)                       # outcome.result.final, outcome.record
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.photo import DEFAULT_MAX_PIXELS, Photo, load_photo
from ganpaint_core.core.progress import Callback
from ganpaint_core.edit.engine import EditEngine, PhotoState
from ganpaint_core.edit.pipeline import AnySpec, EditOutcome, check_spec, edit_photo
from ganpaint_core.edit.spec import EditOptions, Reference
from ganpaint_core.edit.strokes import StrokeError

UNDO_DEPTH = 30  # stroke-list states kept for undo
NO_PHOTO = "no photo yet: upload a photo (or pick an example) first"


@dataclass(frozen=True)
class EditSession:
    """Everything one user's tab keeps between requests: small, deep-copyable, CPU only."""

    model: str | None = None  # the model the photo state belongs to
    state: PhotoState | None = None  # inversion + adaptation of the current photo (None: no photo yet)
    photo_name: str = "photo"  # file stem for downloads
    strokes: tuple[AnySpec, ...] = ()  # the edit, applied in order: concept strokes, brushes, directions
    undo_stack: tuple[tuple[AnySpec, ...], ...] = ()  # earlier stroke lists, newest last
    reference: Reference | None = None  # the user's style reference, reduced to the model's square

    @property
    def photo(self) -> Photo:
        return self.photo_state.photo

    @property
    def photo_state(self) -> PhotoState:
        if self.state is None:
            raise GanpaintError(NO_PHOTO)
        return self.state


# -- photo lifecycle --------------------------------------------------------------------------------
def open_photo(engine: EditEngine, source: str | Path | bytes | Image.Image, *, name: str = "photo",
               fit: Literal["crop", "pad"] = "crop", invert: Literal["single", "segments"] = "single",
               max_pixels: int = DEFAULT_MAX_PIXELS, callback: Callback | None = None,
               previous: EditSession | None = None, quick: bool = False) -> EditSession:
    """A new session on ``source``: the photo is read (``PhotoError`` if unusable), inverted (one code, or
    ``invert="segments"``: one per segment) and adapted; with ``quick``, only its quick fit
    (``EditEngine.quick_fit``: its full fit is the caller's to start). A style reference of ``previous`` on
    the same model is kept."""
    EditOptions(fit=fit, invert=invert).check()  # a bad value is refused before the photo is read
    photo = load_photo(source, size=engine.resolution, fit=fit, max_pixels=max_pixels)
    state = _fit(engine, photo, invert=invert, callback=callback, quick=quick)
    model = engine.model.manifest.name
    keep = previous.reference if previous is not None and previous.model == model else None
    return EditSession(model=model, state=state, photo_name=file_stem(name), reference=keep)


def close_photo(session: EditSession) -> EditSession:
    """The session without its photo (and strokes); the model and any style reference stay."""
    return dataclasses.replace(session, state=None, photo_name="photo", strokes=(), undo_stack=())


def reprepare(engine: EditEngine, session: EditSession, *, callback: Callback | None = None,
              quick: bool = False) -> EditSession:
    """The same photo on another model: inverted again (the same way; with ``quick`` its quick fit only);
    strokes and the style reference are dropped (they are in the other model's units)."""
    original = session.photo
    photo = load_photo(Image.fromarray(original.original), size=engine.resolution, fit=original.fit)
    state = _fit(engine, photo, invert=session.state.invert, callback=callback, quick=quick)
    return EditSession(model=engine.model.manifest.name, state=state, photo_name=session.photo_name)


def _fit(engine: EditEngine, photo: Photo, *, invert: str, callback: Callback | None, quick: bool) -> PhotoState:
    if quick:
        return engine.quick_fit(photo, invert=invert, callback=callback)
    return engine.prepare(photo, adapt=True, invert=invert, callback=callback)


def file_stem(name: str) -> str:
    """A safe file stem for downloads, from a user's file name."""
    stem = Path(str(name)).stem or "photo"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60]


def set_reference(engine: EditEngine, session: EditSession, source: str | Path | bytes | Image.Image, *,
                  name: str = "reference") -> EditSession:
    """The session with the user's style reference (``PhotoError`` if unusable)."""
    ref = Reference.load(source, resolution=engine.resolution, name=file_stem(name))
    return dataclasses.replace(session, reference=ref)


def clear_reference(session: EditSession) -> EditSession:
    return dataclasses.replace(session, reference=None)


# -- the stroke stack -------------------------------------------------------------------------------
def check_stroke(engine: EditEngine, session: EditSession, spec: AnySpec) -> AnySpec:
    """``spec`` if the session can take it (``GanpaintError`` says what to change). A direction is checked
    against the model's directions, so they must have been found before (``engine.directions()``)."""
    if session.state is None:
        raise GanpaintError(NO_PHOTO)
    check_spec(engine, spec)
    return spec


def _push(session: EditSession, strokes: tuple[AnySpec, ...]) -> EditSession:
    undo_stack = (session.undo_stack + (session.strokes,))[-UNDO_DEPTH:]
    return dataclasses.replace(session, strokes=strokes, undo_stack=undo_stack)


def add_stroke(session: EditSession, stroke: AnySpec) -> EditSession:
    return _push(session, session.strokes + (stroke,))


def _check_index(session: EditSession, index: int) -> None:
    if not 0 <= index < len(session.strokes):
        raise StrokeError(f"there is no stroke {index + 1}; the list has {len(session.strokes)}")


def set_enabled(session: EditSession, enabled: Sequence[bool]) -> EditSession:
    """Switch strokes on and off (one flag per stroke, in order)."""
    if len(enabled) != len(session.strokes):
        raise StrokeError(f"got {len(enabled)} on/off flags for {len(session.strokes)} strokes")
    if all(bool(e) == s.enabled for e, s in zip(enabled, session.strokes)):
        return session
    return _push(session, tuple(dataclasses.replace(s, enabled=bool(e)) for s, e in zip(session.strokes, enabled)))


def toggle_stroke(session: EditSession, index: int) -> EditSession:
    _check_index(session, index)
    flags = [s.enabled for s in session.strokes]
    flags[index] = not flags[index]
    return set_enabled(session, flags)


def delete_stroke(session: EditSession, index: int) -> EditSession:
    _check_index(session, index)
    return _push(session, session.strokes[:index] + session.strokes[index + 1:])


def tune_stroke(session: EditSession, index: int, values: Mapping[str, float]) -> EditSession:
    """Stroke ``index`` with some of its own settings changed in place (``values`` by name, of its ``settings()``:
    its strength, its look's strength); every other stroke as it was. Undo brings the old values back."""
    _check_index(session, index)
    old = session.strokes[index]
    new = old.with_settings(values)
    if new.settings() == old.settings():
        return session
    return _push(session, session.strokes[:index] + (new,) + session.strokes[index + 1:])


def clear_strokes(session: EditSession) -> EditSession:
    return _push(session, ()) if session.strokes else session


def undo(session: EditSession) -> EditSession:
    """The stroke list before the last change (strokes added, deleted, switched, changed in place, cleared)."""
    if not session.undo_stack:
        raise StrokeError("nothing to undo")
    return dataclasses.replace(session, strokes=session.undo_stack[-1], undo_stack=session.undo_stack[:-1])


def stroke_labels(session: EditSession) -> list[str]:
    """One unique, readable line per stroke: "2 · add tree · strength 0.75 · 6% of the square · sample #…",
    "3 · colour brush · candidate 2 of 4 · morph 0.80 · 5% of the square", "4 · direction sky +1.5 · whole photo"."""
    return [f"{i + 1} · {s.label()}" for i, s in enumerate(session.strokes)]


# -- rendering --------------------------------------------------------------------------------------
def session_options(session: EditSession) -> EditOptions:
    """The options the session's photo was set up with (its fit and inversion), for renders and shares."""
    return EditOptions(fit=session.photo.fit, invert=session.photo_state.invert)


def render(engine: EditEngine, session: EditSession, *, pending: AnySpec | None = None,
           final: bool = True, extra_timings: dict[str, float] | None = None) -> EditOutcome:
    """The session's strokes (and an uncommitted ``pending`` one) through the one edit path: one tail
    pass, then the full-resolution paste-back when ``final``."""
    if session.state is None:
        raise GanpaintError(NO_PHOTO)
    strokes = session.strokes + ((pending,) if pending is not None else ())
    return edit_photo(engine, session.state, strokes, options=session_options(session), final=final,
                      name=session.photo_name, extra_timings=extra_timings)

