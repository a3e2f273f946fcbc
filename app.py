"""GANPaint in the browser: upload a photo, paint where a concept should appear or go, render.

    python app.py [--model synth-church] [--device auto|cpu|cuda] [--host 127.0.0.1] [--port 7860] [--share]

Only the layout and its wiring live here. Every action is a method of ``ganpaint_core.page.page.EditPage``
(gradio-free, tested on its own) that returns a ``PageUpdate``; ``BINDING`` says which components each of its
fields writes. ``/edit``, ``/edit_recipe`` and ``/brush_candidates`` (docs/api.md) are
``ganpaint_core.page.api.Endpoints``, registered with ``gr.api``.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import logging
import os
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import NoneType, SimpleNamespace
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from ganpaint_core.core.device import DEVICE_CHOICES, pick_device
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.page.api import Endpoints, File, upload_path
from ganpaint_core.page.controls import CONTROLS as K
from ganpaint_core.page.hosting import public_url, share_possible
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.page import (
    BRUSH_MODES,
    EDITOR_BRUSHES,
    BrushChoice,
    DirectionSettings,
    EditPage,
    PageUpdate,
    PaintSettings,
    canvas_of,
)
from ganpaint_core.page.session import EditSession
from ganpaint_core.page.text import (
    EDITOR_EMPTY_LABEL,
    EDITOR_LABEL,
    HOW_TO,
    INTRO,
    RECORD_NOTE,
    describe_progress,
    problem,
    progress_line,
)

log = logging.getLogger("ganpaint.app")

# Uploads above this are refused while they stream in (gradio stops reading and says so), so a huge file
# never fills the temp folder. A 40-megapixel JPEG (the photo loader's own limit) is 10-25 MB.
MAX_UPLOAD = "50mb"
EXAMPLES_DIR = Path(__file__).resolve().parent / "docs" / "examples"
# The inputs a painted stroke is made from, in the order the stroke handlers take them (``_painted``).
PAINT_IN = ("editor", "concept", "action", "strength", "style_kind", "style_strength", "style_seed", "brush", "session")
STROKE_VIEWS = ("strokes", "delete_choice", "undo")  # what a StrokeList writes


class Components(SimpleNamespace):
    """Every component of the page by name, as the layout built them; read-only after that."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the page's components are fixed once laid out ({name})")

    def __call__(self, *names: str) -> list[Any]:
        return [getattr(self, n) for n in names]


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


# Every PageUpdate field -> the components it writes, each with its rule: (the field's value, the brush the
# event read) -> the component's new value or update.
BINDING: dict[str, tuple[tuple[str, Callable[[Any, BrushChoice | None], Any]], ...]] = {
    **{name: ((name, _same),) for name in ("session", "status", "preview", "paint_info", "slider", "gallery", "model",
                                           "style_seed", "style_kind", "share", "compare", "units", "segmentation",
                                           "outline", "candidates")},
    "canvas": (("editor", _canvas_update),),
    "png": (("png", _download),), "sidecar": (("record", _download),), "bundle": (("bundle", _download),),
    "strokes": (("strokes", lambda v, _: gr.update(choices=list(v.labels), value=list(v.enabled))),
                ("delete_choice", lambda v, _: gr.update(choices=list(v.labels), value=(v.labels or (None,))[-1])),
                ("undo", lambda v, _: gr.update(interactive=v.can_undo))),
    "dissect": (("dissect", lambda v, _: gr.update(visible=v is not None, value=f"Dissect {v} (once; cached)"
                                                   if v else "Dissect")), ("dissect_target", _same)),
    "concepts": (("concept", _choices),), "directions": (("direction", _choices),),
    "brush_pick": (("brush", lambda pick, brush: dataclasses.replace(brush or BrushChoice(), pick=pick)),),
}


def _binder(c: Components) -> Callable[..., dict[Any, Any]]:
    """``show(update, brush)``: a PageUpdate's changed fields as gradio outputs, by ``BINDING``."""
    def show(update: PageUpdate, brush: BrushChoice | None = None) -> dict[Any, Any]:
        return {getattr(c, name): rule(value, brush) for field, value in update.changed().items()
                for name, rule in BINDING[field]}
    return show


def _layout(page: EditPage, examples: Sequence[str]) -> Components:
    """Every component of the page, by name (their labels, choices and ids: ``CONTROLS``)."""
    c: dict[str, Any] = dict(session=gr.State(EditSession(model=page.default_model)), style_seed=gr.State(None),
                             dissect_target=gr.State(None), canvas_reset=gr.State(None),
                             # the choice as state: /load_photo's API callers keep their (photo, fit) arguments
                             invert_choice=gr.State("single"),
                             brush=gr.State(BrushChoice()))  # one State: the stroke endpoints keep their parameters
    models, concepts = page.model_choices(), page.catalog.engine(page.default_model).concepts.names()
    with gr.Row(equal_height=True):
        gr.Markdown(INTRO, elem_id="intro")
        with gr.Column(scale=0, min_width=300):
            c["model"] = gr.Dropdown(list(models.options), value=models.value, **K["model"])
            c["dissect"] = gr.Button(**K["dissect"])
    c["status"] = gr.Markdown(HOW_TO, elem_id="status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):  # 1 · the photo
            c["photo"] = gr.Image(**K["photo"])
            c.update(fit=gr.Radio(**K["fit"]), invert=gr.Radio(**K["invert"]), cancel=gr.Button(**K["cancel"]))
            if examples:
                gr.Examples(examples=[[e] for e in examples], inputs=[c["photo"]], label="Examples",
                            examples_per_page=8)
        with gr.Column(scale=2, min_width=360):  # 2 · painting
            c["editor"] = gr.ImageEditor(
                label=EDITOR_EMPTY_LABEL, type="numpy", image_mode="RGBA", sources=[], transforms=[],
                layers=False, canvas_size=(512, 512), brush=gr.Brush(**EDITOR_BRUSHES["concept"]),
                eraser=gr.Eraser(default_size=18), buttons=[], elem_id="editor", height=440)
            c["mode"] = gr.Radio(**K["mode"])
            with gr.Group() as c["concept_panel"]:
                with gr.Row():
                    c.update(concept=gr.Dropdown(concepts, value=concepts[0], **K["concept"]),
                             action=gr.Radio(**K["action"]))
                c["strength"] = gr.Slider(**K["strength"])
            with gr.Group(visible=False) as c["brush_panel"]:  # a colour / sketch brush's candidates, the morph
                with gr.Row(equal_height=True):
                    c.update(morph=gr.Slider(**K["morph"]), find=gr.Button(**K["find"]))
                c["candidates"] = gr.Gallery(**K["candidates"])
            with gr.Row():
                c.update(add=gr.Button(**K["add"]), clear=gr.Button(**K["clear"]))
            with gr.Accordion("Style of what is added", open=False):
                c.update(style_kind=gr.Radio(**K["style_kind"]), gallery=gr.Gallery(**K["gallery"]),
                         reference=gr.Image(**K["reference"]), style_strength=gr.Slider(**K["style_strength"]))
            with gr.Accordion("Latent directions (the whole photo, or under the paint)", open=False,
                              elem_id="directions"):
                with gr.Row(equal_height=True):
                    c.update(direction=gr.Dropdown(**K["direction"]), find_dirs=gr.Button(**K["find_dirs"]))
                c["amount"] = gr.Slider(**K["amount"])
                with gr.Row(equal_height=True):
                    c.update(where=gr.Radio(**K["where"]), add_dir=gr.Button(**K["add_dir"]))
        with gr.Column(scale=2, min_width=360):  # 3 · preview and strokes
            c.update(preview=gr.Image(**K["preview"]), paint_info=gr.Markdown(**K["paint_info"]),
                     strokes=gr.CheckboxGroup(**K["strokes"]))
            with gr.Row(equal_height=True):
                c["delete_choice"] = gr.Dropdown(**K["delete_choice"])
                with gr.Column(scale=1, min_width=110):
                    c.update(delete=gr.Button(**K["delete"]), undo=gr.Button(**K["undo"]),
                             clear_all=gr.Button(**K["clear_all"]))
            c["render"] = gr.Button(**K["render"])
    with gr.Row(equal_height=False):  # 4 · the result
        c["slider"] = gr.ImageSlider(**K["slider"])
        with gr.Column(scale=1, min_width=220):
            c.update(outline=gr.Checkbox(**K["outline"]), png=gr.DownloadButton(**K["png"]),
                     record=gr.DownloadButton(**K["record"]))
            gr.Markdown(RECORD_NOTE)
    with gr.Accordion("Share · compare · see the units", open=True, elem_id="tools"):
        with gr.Row(equal_height=False):
            with gr.Column(min_width=260):
                c.update(share_button=gr.Button(**K["share_button"]), share=gr.Markdown(**K["share"]),
                         bundle=gr.DownloadButton(**K["bundle"]), recipe=gr.File(**K["recipe"]))
            with gr.Column(min_width=260):
                c.update(compare_strengths=gr.Textbox(**K["compare_strengths"]),
                         compare_adapt=gr.Checkbox(**K["compare_adapt"]),
                         compare_models=gr.Checkbox(**K["compare_models"]),
                         compare_button=gr.Button(**K["compare_button"]))
            with gr.Column(min_width=260):
                gr.Markdown("For the concept chosen above: which units a stroke moves, and what the segmenter "
                            "sees. *Select* paints its map on the canvas as a ready mask.")
                c.update(units_button=gr.Button(**K["units_button"]), select_button=gr.Button(**K["select_button"]))
        c["compare"] = gr.Image(**K["compare"])
        with gr.Row():
            c.update(units=gr.Image(**K["units"]), segmentation=gr.Image(**K["segmentation"]))
    return Components(**c)


def _layers(editor_value: Any) -> list[Any]:
    return (editor_value or {}).get("layers") or []


def _painted(editor, concept, action, strength, style_kind, style_strength, style_seed, brush, session):
    """The ``PAINT_IN`` values as a stroke action's arguments: (session, canvas layers, settings)."""
    return session, _layers(editor), PaintSettings.of(brush, concept=concept, action=action, strength=strength,
                                                      style_kind=style_kind, style_strength=style_strength,
                                                      style_seed=style_seed)


def _canvas_later(c: Components, out: dict[Any, Any]) -> dict[Any, Any]:
    """An event that reads the editor must not also write it (it can stay "processing"): its canvas goes to
    ``canvas_reset`` for a second step (``_reset``) to write. Its value only: with a label in the same update
    the editor kept the old paint (the label is the photo's already)."""
    update = out.pop(c.editor, None)
    out[c.canvas_reset] = None if update is None else {"value": update.get("value") if isinstance(update, dict)
                                                       else update}
    return out


def _reset(c: Components) -> dict[str, Any]:
    """The second step of an event that cleared the canvas (``.then(**_reset(c))``)."""
    return dict(fn=lambda pending: gr.skip() if pending is None else pending["value"], inputs=c.canvas_reset,
                outputs=c.editor, api_visibility="private", show_progress="hidden")


def _action(c: Components, show, method, *, reset_later: bool = False) -> Callable[..., dict[Any, Any]]:
    """A handler over ``PAINT_IN`` for a stroke action of the page (paint, add, render, find candidates)."""
    def handler(*values: Any) -> dict[Any, Any]:
        out = show(method(*_painted(*values)), values[PAINT_IN.index("brush")])
        return _canvas_later(c, out) if reset_later else out or {c.session: gr.skip()}
    return handler


def _streamer(c: Components, show):
    """``stream(items, progress)``: a long job's progress lines (and the bar), then its page update."""
    def stream(items: Iterator[JobUpdate | PageUpdate], progress: gr.Progress) -> Iterator[dict[Any, Any]]:
        nothing = True
        for item in items:
            nothing = False
            if isinstance(item, JobUpdate):
                progress((item.step, item.total) if item.total else None, desc=describe_progress(item))
                yield {c.status: progress_line(item)}
            else:
                yield show(item)
        if nothing:  # a generator that yields nothing would blank every output
            yield {c.status: gr.skip()}
    return stream


def _wire_jobs(page: EditPage, c: Components, show) -> list[Any]:
    """Long jobs (setup, model switch, dissection) stream their progress; returns their events, to cancel."""
    stream = _streamer(c, show)

    def on_photo(payload, fit, session, invert, progress=gr.Progress()):
        path, name = upload_path(payload) or (None, "photo")
        yield from stream(page.open_photo(session, path, name=name, fit=fit, invert=invert), progress)

    def on_model(name, session, progress=gr.Progress()):
        yield from stream(page.switch_model(session, name), progress)

    def on_dissect(name, session, progress=gr.Progress()):
        yield from stream(page.dissect_model(session, name), progress)

    def on_reference(payload, session):
        path, name = upload_path(payload) or (None, "reference")
        return show(page.reference(session, path, name=name))

    photo_out = c("session", "editor", "preview", "slider", "status", "png", "record", *STROKE_VIEWS, "candidates")
    model_out = c("session", "concept", "status", "editor", "preview", "slider", "gallery", "style_seed", "style_kind",
                  "model", *STROKE_VIEWS, "dissect", "dissect_target", "candidates", "direction")
    # A photo's setup shows its progress over the editor (nothing to paint yet); a model switch over the preview,
    # so that the editor keeps the photo (and any unsaved paint) while the new model sets it up.
    setup = dict(concurrency_id="setup", show_progress_on=[c.editor])
    switch = dict(concurrency_id="setup", show_progress_on=[c.preview])
    photo_in = c("photo", "fit", "session", "invert_choice")
    return [
        c.photo.change(on_photo, photo_in, photo_out, preprocess=False, api_name="load_photo",
                       api_visibility="undocumented", **setup),
        c.fit.input(on_photo, photo_in, photo_out, preprocess=False, api_visibility="private", **setup),
        c.invert.input(lambda v: v, c.invert, c.invert_choice, api_visibility="private").then(
            on_photo, photo_in, photo_out, preprocess=False, api_visibility="private", **setup),
        c.model.change(on_model, c("model", "session"), model_out, api_name="switch_model",
                       api_visibility="undocumented", **switch),
        c.dissect.click(on_dissect, c("dissect_target", "session"), model_out, api_visibility="private", **switch),
        c.reference.change(on_reference, c("reference", "session"), c("session", "style_kind", "status"),
                           preprocess=False, api_visibility="private", concurrency_id="setup"),
    ]


def _wire_strokes(demo: gr.Blocks, page: EditPage, c: Components, show) -> None:
    """Painting previews live; Add stroke and Render keep the stroke; the stroke list re-previews."""
    paint_in, views, then_reset = c(*PAINT_IN), c(*STROKE_VIEWS), _reset(c)
    # One listener for every trigger, "always_last": at most one preview running and one waiting per tab, so
    # previews never arrive out of order. The editor triggers on `input` (the user's paint), not `change`.
    gr.on([c.editor.input, c.concept.change, c.action.change, c.strength.release, c.style_kind.change,
           c.style_strength.release], _action(c, show, page.paint), paint_in,
          c("preview", "session", "paint_info", "status"), trigger_mode="always_last", show_progress="hidden",
          show_progress_on=[c.session],  # gr.on shows its timer despite "hidden"; on a State it shows nowhere
          api_name="preview", api_visibility="undocumented", concurrency_id="edit", concurrency_limit=4)
    for trigger in (c.concept.change, demo.load):  # the gallery fills after the page is up
        trigger(lambda concept, s: show(page.concept_changed(s, concept)), c("concept", "session"),
                c("gallery", "style_seed"), api_visibility="private", show_progress="hidden")
    def on_gallery_select(concept, session, evt: gr.SelectData):
        return show(page.gallery_picked(session, concept, evt.index))

    c.gallery.select(on_gallery_select, c("concept", "session"), c("style_seed", "style_kind"), api_visibility="private")
    c.add.click(_action(c, show, page.add, reset_later=True), paint_in,
                [c.session, c.canvas_reset, c.preview, c.status, *views, *c("paint_info", "candidates", "brush")],
                api_name="add_stroke", api_visibility="undocumented", concurrency_id="edit",
                show_progress="hidden").then(**then_reset)  # one tail pass: no queue timers flashing over the lines
    c.render.click(_action(c, show, page.render, reset_later=True), paint_in,
                   [*c("session", "canvas_reset", "preview", "slider", "status", "png", "record"), *views,
                    *c("paint_info", "outline", "candidates", "brush")], api_name="render",
                   api_visibility="undocumented", concurrency_id="edit",
                   show_progress_on=[c.slider]).then(**then_reset)  # the wait shows where the result will be
    c.outline.input(lambda on, s: show(page.outline(s, on)) or {c.slider: gr.skip()}, c("outline", "session"),
                    c("slider", "status"), api_visibility="private", concurrency_id="edit")
    c.clear.click(lambda s: show(PageUpdate(canvas=canvas_of(s))), [c.session], [c.editor], api_visibility="private")
    list_out = [*c("session", "preview", "status"), *views]
    c.strokes.input(lambda sel, s: show(page.toggle(s, sel)), c("strokes", "session"), list_out,
                    api_visibility="private")
    c.delete.click(lambda lab, s: show(page.delete(s, lab)), c("delete_choice", "session"), list_out,
                   api_visibility="private")
    c.undo.click(lambda s: show(page.undo(s)), [c.session], list_out, api_name="undo", api_visibility="undocumented")
    c.clear_all.click(lambda s: show(page.clear_all(s)), [c.session], list_out, api_visibility="private")


def _wire_modes(page: EditPage, c: Components, show) -> Any:
    """The brush mode switches the editor's brush and panels; candidates are found and picked; directions are
    found (a job, with progress; returns its event, to cancel), previewed and added."""
    def on_mode(mode):
        kind = BRUSH_MODES.get(mode, "concept")
        return {c.editor: gr.update(brush=gr.Brush(**EDITOR_BRUSHES[kind])),
                c.concept_panel: gr.update(visible=kind == "concept"), c.brush_panel: gr.update(visible=kind != "concept")}

    def on_brush(*values):  # the mode or the morph moved: the State follows, and the preview
        *paint, mode, morph, brush, session = values
        brush = BrushChoice(mode=mode, morph=morph, pick=(brush or BrushChoice()).pick)
        return _action(c, show, page.paint)(*paint, brush, session) | {c.brush: brush}

    def on_pick(editor, concept, action, strength, style_kind, style_strength, style_seed, brush, session,
                evt: gr.SelectData):
        painted = _painted(editor, concept, action, strength, style_kind, style_strength, style_seed, brush, session)
        return show(page.pick_candidate(*painted, evt.index), brush)

    def direction_action(method, reset_later: bool = False):
        def handler(editor, name, amount, where, session):
            out = show(method(session, _layers(editor), DirectionSettings(name, amount, where)))
            return _canvas_later(c, out) if reset_later else out or {c.session: gr.skip()}
        return handler

    def on_find_dirs(session, progress=gr.Progress()):
        yield from _streamer(c, show)(page.find_directions(session), progress)

    quiet = dict(api_visibility="private", concurrency_id="edit", show_progress="hidden")
    c.mode.change(on_mode, c.mode, c("editor", "concept_panel", "brush_panel"), queue=False, api_visibility="private")
    picked = c("brush", "preview", "paint_info", "status", "session")
    gr.on([c.mode.change, c.morph.release], on_brush, c(*PAINT_IN[:-2], "mode", "morph", "brush", "session"),
          picked, trigger_mode="always_last", show_progress_on=[c.session], **quiet)
    c.find.click(_action(c, show, page.find_candidates), c(*PAINT_IN), [c.candidates, *picked],
                 api_visibility="private", concurrency_id="edit", show_progress_on=[c.candidates])
    c.candidates.select(on_pick, c(*PAINT_IN), picked, **quiet)
    dir_in = c("editor", "direction", "amount", "where", "session")
    gr.on([c.direction.input, c.amount.release, c.where.input], direction_action(page.direction_preview), dir_in,
          c("preview", "paint_info", "status", "session"), trigger_mode="always_last",
          show_progress_on=[c.session], **quiet)
    c.add_dir.click(direction_action(page.add_direction, reset_later=True), dir_in,
                    [*c("session", "canvas_reset", "preview", "status"), *c(*STROKE_VIEWS), c.paint_info],
                    **quiet).then(**_reset(c))
    return c.find_dirs.click(on_find_dirs, [c.session], c("direction", "status"), api_visibility="private",
                             concurrency_id="setup", show_progress_on=[c.direction])


def _wire_tools(demo: gr.Blocks, page: EditPage, c: Components, show) -> None:
    """Share links (opened on page load from ?edit=<id>), recipes, the comparison grid, units, selection."""
    stream = _streamer(c, show)

    def on_load(session, request: gr.Request, progress=gr.Progress()):
        yield from stream(page.open_shared(session, request.query_params.get("edit")), progress)

    def on_recipe(path, session, progress=gr.Progress()):
        yield from stream(page.open_recipe(session, path), progress)

    def on_share(session, request: gr.Request):
        return show(page.share(session, public_url(getattr(demo, "share_url", None), request.headers)))

    opened = c("session", "model", "concept", "editor", "preview", "slider", "status", "png", "record", *STROKE_VIEWS)
    setup = dict(api_visibility="private", concurrency_id="setup", show_progress_on=[c.editor])
    demo.load(on_load, [c.session], opened, **setup)
    c.recipe.upload(on_recipe, c("recipe", "session"), opened, **setup)
    c.share_button.click(on_share, [c.session], c("share", "bundle", "status"), api_visibility="private")
    c.compare_button.click(
        lambda strengths, adapt, models, s: show(page.compare(s, strengths=strengths, adapt_both=adapt,
                                                              across_models=models)),
        c("compare_strengths", "compare_adapt", "compare_models", "session"), c("compare", "status"),
        api_visibility="private", concurrency_id="setup")
    c.units_button.click(lambda concept, s: show(page.units(s, concept)), c("concept", "session"),
                         c("units", "segmentation", "status"), api_visibility="private")
    c.select_button.click(lambda concept, s: show(page.select_concept(s, concept)), c("concept", "session"),
                          c("editor", "status"), api_visibility="private")


def _served(endpoint: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """An ``api.Endpoints`` endpoint as gradio serves it: its ``File`` parameters typed as gradio's ``FileData``
    (so that the API page and clients upload them), a refusal as a message, not a traceback in the server log."""
    def served(*args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from endpoint(*args, **kwargs)
        except GanpaintError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def gradio_type(t: Any) -> Any:
        return FileData if t is File else FileData | None if typing.get_args(t) == (File, NoneType) else t

    hints, signature = typing.get_type_hints(endpoint), inspect.signature(endpoint)
    params = [p.replace(annotation=gradio_type(hints[p.name])) for p in signature.parameters.values()]
    functools.update_wrapper(served, endpoint)
    served.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    served.__annotations__ = {p.name: p.annotation for p in params}
    return served


def build_demo(engine: EditEngine, *, examples: Sequence[str | Path] | None = None,
               page: EditPage | None = None) -> gr.Blocks:
    """The page, over ``engine`` (the default model; others load on demand, once, shared). ``page``: an
    ``EditPage`` over the same engine, for a caller that wants to see its jobs."""
    page = page or EditPage(engine)
    if examples is None:
        examples = sorted(str(p) for p in EXAMPLES_DIR.glob("*.png")) + page.sample_examples()
    with gr.Blocks(title="GANPaint", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        c = _layout(page, [str(e) for e in examples])
        show = _binder(c)
        long_jobs = _wire_jobs(page, c, show)
        _wire_strokes(demo, page, c, show)
        finding = _wire_modes(page, c, show)
        _wire_tools(demo, page, c, show)
        c.cancel.click(lambda: problem("Cancelled. Whatever was loaded before stays loaded."), None, c.status,
                       cancels=[*long_jobs, finding], queue=False, api_visibility="private")
        for name, endpoint in Endpoints(page).named().items():
            gr.api(_served(endpoint), api_name=name, concurrency_id="setup")
    demo.queue(default_concurrency_limit=2, max_size=32)
    return demo


def _arguments() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="GANPaint web app")
    p.add_argument("--model", default="synth-church", help="model to start with (others load from the page)")
    p.add_argument("--device", default="auto", choices=list(DEVICE_CHOICES))
    # A Hugging Face Space sets GRADIO_SERVER_NAME / _PORT (0.0.0.0:7860): an explicit default would override them.
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="address to serve on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--share", action="store_true", help="also serve on a public gradio.live link (needs internet)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _arguments().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ganpaint_core.hub.loading import load_model

    try:
        device = pick_device(args.device)
        engine = EditEngine(load_model(args.model, device=device))
    except GanpaintError as exc:
        log.error("cannot start on %s: %s", args.model, exc)
        return 2
    share = args.share and share_possible()
    if args.share and not share:
        log.warning("--share: gradio's share service is unreachable (no internet?); serving locally only")
    log.info("serving %s on %s (http://%s:%d)", args.model, device, args.host, args.port)
    # quiet unless sharing: gradio's own banner says "set `share=True`", which is this app's --share flag
    build_demo(engine).launch(server_name=args.host, server_port=args.port, share=share, footer_links=["api"],
                              max_file_size=MAX_UPLOAD, quiet=not share)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
