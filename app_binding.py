"""The gradio side of the page's values, for ``app.py``: the components by name (``Components``), a
``PageUpdate`` as outputs (one table, ``BINDING``), the paint controls as ``PaintSettings``, a long job as
progress, and ``ganpaint_core.page.api``'s endpoints served with gradio's file type. The library stays
gradio-free; ``app.py`` keeps the layout and which event calls which page action.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import typing
from collections.abc import Callable, Iterator
from types import NoneType, SimpleNamespace
from typing import Any

import gradio as gr
from gradio.data_classes import FileData
from gradio.exceptions import InvalidPathError

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.page.api import File
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.text import EDITOR_EMPTY_LABEL, EDITOR_LABEL, describe_progress, progress_line
from ganpaint_core.page.values import (
    BRUSH_MODES,
    EDITOR_BRUSHES,
    BrushChoice,
    DirectionSettings,
    PageUpdate,
    PaintSettings,
)

# The inputs a painted stroke is made from, in the order the stroke handlers take them (``_painted``).
PAINT_IN = ("editor", "concept", "action", "strength", "style_kind", "style_strength", "style_seed", "brush", "session")
STROKE_VIEWS = ("strokes", "delete_choice", "undo", "stroke_strength", "stroke_style_strength")  # a StrokeList's
FRESH = ("strength", "style_strength")  # what a kept stroke's ``stroke_controls`` resets for the next one
FIT_VIEWS = ("fit_note", "fit_timer")  # what a photo's fit writes: which fit the preview shows, the poll timer
FIT_POLL_S = 1.0  # how often the page asks whether the photo's full fit is ready
# What opening a photo and switching the model write.
PHOTO_OUT = ("session", "editor", "preview", "slider", "status", "png", "record", *STROKE_VIEWS, "candidates",
             *FIT_VIEWS)
MODEL_OUT = ("session", "concept", "status", "editor", "preview", "slider", "gallery", "style_seed", "style_kind",
             "model", *STROKE_VIEWS, "dissect", "dissect_target", "candidates", "direction", *FIT_VIEWS)

log = logging.getLogger("ganpaint.app")


def _canvas_update(canvas: Any, _: Any) -> Any:
    return gr.update(value=None, label=EDITOR_EMPTY_LABEL) if canvas.background is None else gr.update(
        value={"background": canvas.background, "layers": [] if canvas.paint is None else [canvas.paint],
               "composite": None}, label=EDITOR_LABEL)


def _same(value: Any, _: Any) -> Any:
    return value


def _choices(value: Any, _: Any) -> Any:
    return gr.update(choices=list(value.options), value=value.value)


def _download(path: Any, _: Any) -> Any:
    return gr.update(value=path, interactive=bool(path))


def _own_setting(name: str) -> Callable[[Any, Any], Any]:
    """The control of the selected stroke's own setting ``name``: shown, labelled for it and at its value where
    the stroke has that setting, hidden where it has not."""
    def rule(strokes: Any, _: Any) -> Any:
        if name not in strokes.settings:
            return gr.update(visible=False)
        return gr.update(visible=True, value=strokes.settings[name], label=strokes.setting_label(name))
    return rule


# Every PageUpdate field -> the components it writes, each with its rule: (the field's value, the brush the
# event read) -> the component's new value or update.
BINDING: dict[str, tuple[tuple[str, Callable[[Any, BrushChoice | None], Any]], ...]] = {
    **{name: ((name, _same),) for name in ("session", "status", "preview", "paint_info", "slider", "gallery", "model",
                                           "style_seed", "style_kind", "share", "compare", "units", "segmentation",
                                           "outline", "candidates", "photo", "fit")},
    "canvas": (("editor", _canvas_update),),
    "png": (("png", _download),), "sidecar": (("record", _download),), "bundle": (("bundle", _download),),
    "strokes": (("strokes", lambda v, _: gr.update(choices=list(v.labels), value=list(v.enabled))),
                ("delete_choice", lambda v, _: gr.update(choices=list(v.labels), value=v.selected_label)),
                ("undo", lambda v, _: gr.update(interactive=v.can_undo)),
                ("stroke_strength", _own_setting("strength")),
                ("stroke_style_strength", _own_setting("style_strength"))),
    "dissect": (("dissect", lambda v, _: gr.update(visible=v is not None, value=f"Dissect {v} (once; cached)"
                                                   if v else "Dissect")), ("dissect_target", _same)),
    "concepts": (("concept", _choices),), "directions": (("direction", _choices),),
    "stroke_controls": (("strength", lambda v, _: v["strength"]), ("style_strength", lambda v, _: v["style_strength"])),
    "brush_pick": (("brush", lambda pick, brush: dataclasses.replace(brush or BrushChoice(), pick=pick)),),
    **{name: ((name, _same),) for name in ("transform", "transform_strip", "segment_map")},
    "segments": (("segment", _choices),),
    "fit_note": (("fit_note", _same),), "fit_poll": (("fit_timer", lambda v, _: gr.Timer(active=bool(v))),),
}


def _layers(editor_value: Any) -> list[Any]:
    """The canvas's paint layers from the editor's value."""
    return (editor_value or {}).get("layers") or []


def _painted(editor, concept, action, strength, style_kind, style_strength, style_seed, brush, session):
    """The ``PAINT_IN`` values as a stroke action's arguments: (session, canvas layers, settings)."""
    return session, _layers(editor), PaintSettings.of(brush, concept=concept, action=action, strength=strength,
                                                     style_kind=style_kind, style_strength=style_strength,
                                                     style_seed=style_seed)


class Components(SimpleNamespace):
    """Every component of the page by name, as the layout built them (read-only after that), and how the page's
    values reach them."""

    def __init__(self, **components: Any) -> None:
        clash = set(components) & set(dir(type(self)))
        if clash:  # a component named like a method would hide it
            raise ValueError(f"component names taken by Components' methods: {sorted(clash)}")
        super().__init__(**components)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the page's components are fixed once laid out ({name})")

    def __call__(self, *names: str) -> list[Any]:
        return [getattr(self, n) for n in names]

    def show(self, update: PageUpdate, brush: BrushChoice | None = None) -> dict[Any, Any]:
        """A PageUpdate's changed fields as gradio outputs, by ``BINDING`` (``brush``: what the event read)."""
        return {getattr(self, name): rule(value, brush) for field, value in update.changed().items()
                for name, rule in BINDING[field]}

    def page_handler(self, method: Callable[..., PageUpdate]) -> Callable[..., dict[Any, Any]]:
        """A handler over (inputs..., session) for ``method(session, inputs...)``, a page action."""
        return lambda *values: self.show(method(values[-1], *values[:-1]))

    def canvas_later(self, out: dict[Any, Any]) -> dict[Any, Any]:
        """An event that reads the editor must not also write it (it can stay "processing"): its canvas goes to
        ``canvas_reset`` for a second step (``reset_step``) to write. Its value only: with a label in the same
        update the editor kept the old paint (the label is the photo's already)."""
        update = out.pop(self.editor, None)
        out[self.canvas_reset] = None if update is None else {
            "value": update.get("value") if isinstance(update, dict) else update}
        return out

    def reset_step(self) -> dict[str, Any]:
        """The second step of an event that cleared the canvas (``.then(**c.reset_step())``)."""
        return dict(fn=lambda pending: gr.skip() if pending is None else pending["value"], inputs=self.canvas_reset,
                    outputs=self.editor, api_visibility="private", show_progress="hidden")

    def stroke_handler(self, method: Callable[..., PageUpdate], *, reset_later: bool = False) -> Callable[..., Any]:
        """A handler over ``PAINT_IN`` for a stroke action of the page (paint, add, render, find candidates)."""
        def handler(*values: Any) -> dict[Any, Any]:
            out = self.show(method(*_painted(*values)), values[PAINT_IN.index("brush")])
            return self.canvas_later(out) if reset_later else out or {self.session: gr.skip()}
        return handler

    def pick_handler(self, method: Callable[..., PageUpdate]) -> Callable[..., Any]:
        """A handler over ``PAINT_IN`` for picking a brush candidate (the gallery's index) with ``method``."""
        def handler(editor, concept, action, strength, style_kind, style_strength, style_seed, brush, session,
                    evt: gr.SelectData):
            args = _painted(editor, concept, action, strength, style_kind, style_strength, style_seed, brush, session)
            return self.show(method(*args, evt.index), brush)
        return handler

    def brush_handler(self, method: Callable[..., PageUpdate]) -> Callable[..., Any]:
        """A handler over ``PAINT_IN`` less the brush and session, then the mode, the morph, the candidates' count,
        the brush and the session: one of them moved, so the brush State follows, and the preview (``method``)."""
        def handler(*values: Any) -> dict[Any, Any]:
            *paint, mode, morph, count, brush, session = values
            brush = BrushChoice(mode=mode, morph=morph, pick=(brush or BrushChoice()).pick, count=int(count))
            return self.stroke_handler(method)(*paint, brush, session) | {self.brush: brush}
        return handler

    def brush_mode(self, mode: str) -> dict[Any, Any]:
        """The editor's brush and the visible panel for a brush mode (a key of BRUSH_MODES)."""
        kind = BRUSH_MODES.get(mode, "concept")
        return {self.editor: gr.update(brush=gr.Brush(**EDITOR_BRUSHES[kind])),
                self.concept_panel: gr.update(visible=kind == "concept"),
                self.brush_panel: gr.update(visible=kind != "concept")}

    def direction_handler(self, method: Callable[..., PageUpdate], *, reset_later: bool = False) -> Callable[..., Any]:
        """A handler over (editor, direction, amount, where, session) for a direction action of the page."""
        def handler(editor, name, amount, where, session):
            out = self.show(method(session, _layers(editor), DirectionSettings(name, amount, where)))
            return self.canvas_later(out) if reset_later else out or {self.session: gr.skip()}
        return handler

    def job_handler(self, method: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[dict[Any, Any]]]:
        """A handler over (value, session) for a long page action ``method(session, value)``."""
        def handler(value, session, progress=gr.Progress()):
            yield from self.stream(method(session, value), progress)
        return handler

    def stream(self, items: Iterator[JobUpdate | PageUpdate], progress: gr.Progress) -> Iterator[dict[Any, Any]]:
        """A long job's progress lines (and the bar), then its page update."""
        nothing = True
        for item in items:
            nothing = False
            if isinstance(item, JobUpdate):
                # the seconds in the description: the display moves every second, even through a slow step
                progress((item.step, item.total) if item.total else None,
                         desc=f"{describe_progress(item)} · {item.seconds:.0f} s")
                yield {self.status: progress_line(item)}
            else:
                yield self.show(item)
        if nothing:  # a generator that yields nothing would blank every output
            yield {self.status: gr.skip()}


def wire_other_modes(page: Any, c: Components) -> None:
    """Photo to photo (a job: the other photo's setup streams its progress), from nothing, one segment."""
    def on_transform(path, frames, session, progress=gr.Progress()):
        yield from c.stream(page.transform(session, path, frames), progress)

    def on_make(editor, start, seed, session):
        return c.canvas_later(c.show(page.make_from_paint(session, _layers(editor), start, seed)))

    def on_add(editor, segment, direction, amount, mode, session):
        out = c.show(page.add_to_segment(session, _layers(editor), segment, DirectionSettings(direction, amount), mode))
        return c.canvas_later(out)

    def on_map(session, evt: gr.SelectData):
        return c.show(page.segment_clicked(session, *evt.index))

    private = dict(api_visibility="private")
    opened = c("session", "editor", "preview", "slider", "png", "record", "status", *STROKE_VIEWS)
    reset = [c.canvas_reset if x is c.editor else x for x in opened]
    c.transform_button.click(on_transform, c("transform_photo", "frames", "session"),
                             c("transform", "transform_strip", "status"), concurrency_id="setup",
                             show_progress_on=[c.transform], **private)
    c.start_nothing.click(c.page_handler(page.start_from_nothing), c("scratch_start", "scratch_seed", "session"),
                          opened, concurrency_id="edit", **private)
    c.make_from_paint.click(on_make, c("editor", "scratch_start", "scratch_seed", "session"), reset,
                            concurrency_id="edit", **private).then(**c.reset_step())
    c.show_segments.click(c.page_handler(page.show_segments), [c.session], c("segment_map", "segment", "status"),
                          **private)
    c.segment_map.select(on_map, [c.session], c("segment", "status"), **private)
    c.add_to_segment.click(on_add, c("editor", "segment", "direction", "amount", "mode", "session"),
                           [*c("session", "canvas_reset", "preview", "paint_info", "status"), *c(*STROKE_VIEWS)],
                           concurrency_id="edit", **private).then(**c.reset_step())


def served(endpoint: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """An ``api.Endpoints`` endpoint as gradio serves it: its ``File`` parameters typed as gradio's ``FileData``
    (so that the API page and clients upload them), a refusal as a message, not a traceback in the server log."""
    def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from endpoint(*args, **kwargs)
        except GanpaintError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def gradio_type(t: Any) -> Any:
        return FileData if t is File else FileData | None if typing.get_args(t) == (File, NoneType) else t

    hints, signature = typing.get_type_hints(endpoint), inspect.signature(endpoint)
    params = [p.replace(annotation=gradio_type(hints[p.name])) for p in signature.parameters.values()]
    functools.update_wrapper(call, endpoint)
    call.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in params}
    return call


SERVER_PATH_REFUSED = ("a file in this request was not uploaded to this app (a path on the server was named): "
                       "upload the file itself")


def refuse_server_paths(demo: gr.Blocks) -> None:
    """Gradio refuses a request that names a file on the server instead of uploading it (``/etc/passwd``) before
    any code of ours runs, and prints a traceback for it. Through this wrapper of the demo's ``process_api`` the
    client gets one sentence and the server log one line."""
    process_api = demo.process_api

    @functools.wraps(process_api)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await process_api(*args, **kwargs)
        except InvalidPathError as exc:
            log.info("refused a request naming a server file: %s", str(exc).split(" because ")[0])
            raise gr.Error(SERVER_PATH_REFUSED, print_exception=False) from None

    demo.process_api = guarded  # type: ignore[method-assign]
