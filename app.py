"""GANPaint in the browser: upload a photo, paint where a concept should appear or go, render.

    python app.py [--model synth-church] [--device auto|cpu|cuda] [--host 127.0.0.1] [--port 7860] [--share]

Only the layout and its wiring live here: every action is a method of ``ganpaint_core.page.page.EditPage``
(gradio-free, tested on its own) that returns a ``PageUpdate``; ``show`` binds its fields to components.
``/edit``, ``/edit_recipe`` and ``/brush_candidates`` are stateless endpoints for scripts (see docs/api.md),
registered with ``gr.api``.
"""
from __future__ import annotations

# First, before anything can touch CUDA: on ZeroGPU this imports `spaces` (see ganpaint_core/page/hosting.py).
import ganpaint_core.page.hosting  # noqa: F401

# isort: split
import argparse
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from ganpaint_core.core.device import DEVICE_CHOICES, pick_device
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.page.hosting import public_url, share_possible
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.page import (
    BRUSH_MODES,
    DIRECTION_WHERE,
    EDITOR_BRUSHES,
    STYLE_KINDS,
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
NO_BRUSH = ("Concept", 1.0, 0)  # (brush mode, morph, candidate picked)


def _path_of(payload: Any) -> tuple[str, str] | None:
    """(path, original file name) of an un-preprocessed image/file payload, or None."""
    data = payload if isinstance(payload, dict) else getattr(payload, "model_dump", lambda: {})() if payload else {}
    path = data.get("path")
    return (path, data.get("orig_name") or Path(path).name) if path else None


def _layout(page: EditPage, examples: Sequence[str]) -> SimpleNamespace:
    """Every component of the page, by name."""
    ui = SimpleNamespace(session=gr.State(EditSession(model=page.default_model)), style_seed=gr.State(None),
                         dissect_target=gr.State(None), canvas_reset=gr.State(None))
    models, concepts = page.model_choices(), page.catalog.engine(page.default_model).concepts.names()
    with gr.Row(equal_height=True):
        gr.Markdown(INTRO, elem_id="intro")
        with gr.Column(scale=0, min_width=300):
            ui.model = gr.Dropdown(list(models.options), value=models.value, label="Model",
                                   info="availability: bundled / local / cached / downloadable / missing")
            ui.dissect = gr.Button("Dissect", visible=False, size="sm", variant="primary", elem_id="dissect")
    ui.status = gr.Markdown(HOW_TO, elem_id="status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):  # 1 · the photo
            ui.photo = gr.Image(label="1 · Photo", type="filepath", sources=["upload", "clipboard"], height=220,
                                buttons=[], elem_id="photo")
            ui.fit = gr.Radio(["crop", "pad"], value="crop", label="Fit to the model's square",
                              info="crop: edit the centre square; pad: the whole photo, at lower detail")
            ui.invert = gr.Radio(["single", "segments"], value="single", label="Inversion", elem_id="invert",
                                 info="segments: one latent code per part of the photo; closer, slower setup")
            # The choice as state: /load_photo's API callers keep their (photo, fit) arguments.
            ui.invert_choice = gr.State("single")
            ui.cancel = gr.Button("Cancel setup", size="sm", variant="secondary")
            if examples:
                gr.Examples(examples=[[e] for e in examples], inputs=[ui.photo], label="Examples", examples_per_page=8)
        with gr.Column(scale=2, min_width=360):  # 2 · painting
            ui.editor = gr.ImageEditor(
                label=EDITOR_EMPTY_LABEL, type="numpy", image_mode="RGBA", sources=[], transforms=[],
                layers=False, canvas_size=(512, 512), brush=gr.Brush(**EDITOR_BRUSHES["concept"]),
                eraser=gr.Eraser(default_size=18), buttons=[], elem_id="editor", height=440)
            ui.mode = gr.Radio(list(BRUSH_MODES), value="Concept", label="Brush", elem_id="brush-mode",
                               info="concept: where a concept changes · colour: colours to match · sketch: edges")
            with gr.Group() as ui.concept_panel:
                with gr.Row():
                    ui.concept = gr.Dropdown(concepts, value=concepts[0], label="Concept", elem_id="concept")
                    ui.action = gr.Radio(["add", "remove"], value="add", label="Action", elem_id="action")
                ui.strength = gr.Slider(0, 1, value=0.75, step=0.05, label="Strength",
                                        info="0: nothing · 0.5: half the concept's units fully · 1: all of them")
            _brush_layout(ui)
            with gr.Row():
                ui.add = gr.Button("Add stroke", variant="secondary", elem_id="add-stroke")
                ui.clear = gr.Button("Clear canvas", variant="secondary")
            with gr.Accordion("Style of what is added", open=False):
                ui.style_kind = gr.Radio(list(STYLE_KINDS), value="Default look", label="Look",
                                         info="a generated sample rich in the concept, or your own reference")
                ui.gallery = gr.Gallery(None, columns=6, height=150, allow_preview=False, elem_id="style-gallery",
                                        label="Samples rich in the concept (click one)")
                ui.reference = gr.Image(label="My reference", type="filepath", height=160, elem_id="reference",
                                        sources=["upload", "clipboard"])
                ui.style_strength = gr.Slider(0, 1, value=0.75, step=0.05, label="Style strength")
            _directions_layout(ui)
        with gr.Column(scale=2, min_width=360):  # 3 · preview and strokes
            ui.preview = gr.Image(label="3 · Live preview (what the render will look like)", interactive=False,
                                  buttons=[], elem_id="preview", height=440)
            ui.paint_info = gr.Markdown("", elem_id="paint-info")
            ui.strokes = gr.CheckboxGroup([], label="Strokes kept (untick to switch one off)", elem_id="strokes")
            with gr.Row(equal_height=True):
                ui.delete_choice = gr.Dropdown([], label="Stroke to delete", scale=3, elem_id="delete-choice")
                with gr.Column(scale=1, min_width=110):
                    ui.delete = gr.Button("Delete", size="sm")
                    ui.undo = gr.Button("Undo", size="sm", interactive=False)
                    ui.clear_all = gr.Button("Clear all", size="sm")
            ui.render = gr.Button("Render full resolution", variant="primary", elem_id="render")
    with gr.Row(equal_height=False):  # 4 · the result
        ui.slider = gr.ImageSlider(label="Before / after (drag)", format="png", type="numpy", elem_id="result",
                                   max_height=520, scale=3)
        with gr.Column(scale=1, min_width=220):
            ui.outline = gr.Checkbox(False, label="Outline what changed", elem_id="outline",
                                     info="every pixel the edit touched, inside the line")
            ui.png = gr.DownloadButton("Download PNG", interactive=False, elem_id="download-png")
            ui.record = gr.DownloadButton("Download JSON record", interactive=False, elem_id="download-json")
            gr.Markdown(RECORD_NOTE)
    ui.stroke_views = [ui.strokes, ui.delete_choice, ui.undo]
    return ui


def _brush_layout(ui: SimpleNamespace) -> None:
    """A colour / sketch brush's candidates (finals, best first) and the morph from the photo to the picked one."""
    ui.brush = gr.State(NO_BRUSH)  # (mode, morph, pick) in one State: the stroke endpoints keep their parameters
    with gr.Group(visible=False) as ui.brush_panel:
        with gr.Row(equal_height=True):
            ui.morph = gr.Slider(0, 1, value=1, step=0.05, label="Morph: your photo (0) → the candidate (1)",
                                 elem_id="morph", scale=3)
            ui.find = gr.Button("Find candidates", variant="primary", elem_id="find-candidates", scale=1)
        ui.candidates = gr.Gallery(None, columns=4, height=130, allow_preview=False, elem_id="candidates",
                                   label="Candidates, best first (off: colour error; edges: lines drawn; click one)")


def _directions_layout(ui: SimpleNamespace) -> None:
    """The model's latent directions: one, an amount, the whole photo or under the paint."""
    with gr.Accordion("Latent directions (the whole photo, or under the paint)", open=False, elem_id="directions"):
        with gr.Row(equal_height=True):
            ui.direction = gr.Dropdown([], label="Direction", elem_id="direction", scale=3)
            ui.find_dirs = gr.Button("Find directions", elem_id="find-directions", scale=1)
        ui.amount = gr.Slider(-3, 3, value=1.5, step=0.1, label="Amount (standard deviations)", elem_id="amount")
        with gr.Row(equal_height=True):
            ui.where = gr.Radio(list(DIRECTION_WHERE), value="Whole photo", label="Where", elem_id="direction-where",
                                info="under the mask: paint it on the canvas, then move Amount to preview")
            ui.add_dir = gr.Button("Add direction", elem_id="add-direction")


def _binder(ui: SimpleNamespace):
    """``show(update)``: a PageUpdate's changed fields as gradio outputs."""
    plain = {"session": ui.session, "status": ui.status, "preview": ui.preview, "paint_info": ui.paint_info,
             "slider": ui.slider, "gallery": ui.gallery, "style_seed": ui.style_seed, "style_kind": ui.style_kind,
             "model": ui.model, "share": ui.share, "compare": ui.compare, "units": ui.units,
             "segmentation": ui.segmentation, "outline": ui.outline, "candidates": ui.candidates}

    def show(update: PageUpdate, brush: tuple | None = None) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for name, value in update.changed().items():
            if name == "brush_pick":  # into the (mode, morph, pick) State the handler read
                out[ui.brush] = (*(brush or NO_BRUSH)[:2], value)
            elif name == "canvas":
                layers = [] if value.paint is None else [value.paint]
                out[ui.editor] = gr.update(value=None, label=EDITOR_EMPTY_LABEL) if value.background is None else \
                    gr.update(value={"background": value.background, "layers": layers, "composite": None},
                              label=EDITOR_LABEL)
            elif name in ("png", "sidecar", "bundle"):
                button = {"png": ui.png, "sidecar": ui.record, "bundle": ui.bundle}[name]
                out[button] = gr.update(value=value, interactive=bool(value))
            elif name == "strokes":
                out[ui.strokes] = gr.update(choices=list(value.labels), value=list(value.enabled))
                out[ui.delete_choice] = gr.update(choices=list(value.labels), value=(value.labels or (None,))[-1])
                out[ui.undo] = gr.update(interactive=value.can_undo)
            elif name == "dissect":
                out[ui.dissect] = gr.update(visible=value is not None, value=f"Dissect {value} (once; cached)"
                                            if value else "Dissect")
                out[ui.dissect_target] = value
            elif name in ("concepts", "directions"):
                out[ui.concept if name == "concepts" else ui.direction] = gr.update(choices=list(value.options),
                                                                                    value=value.value)
            else:
                out[plain[name]] = value
        return out
    return show


def build_demo(engine: EditEngine, *, examples: Sequence[str | Path] | None = None,
               page: EditPage | None = None) -> gr.Blocks:
    """The page, over ``engine`` (the default model; others load on demand, once, shared). ``page``: an
    ``EditPage`` over the same engine, for a caller that wants to see its jobs."""
    page = page or EditPage(engine)
    if examples is None:
        examples = sorted(str(p) for p in EXAMPLES_DIR.glob("*.png")) + page.sample_examples()
    with gr.Blocks(title="GANPaint", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        ui = _layout(page, [str(e) for e in examples])
        _tools_layout(ui)
        show = _binder(ui)
        _wire_jobs(page, ui, show)
        _wire_strokes(demo, page, ui, show)
        _wire_modes(page, ui, show)
        _wire_tools(demo, page, ui, show)
        for name, endpoint in _endpoints(page).items():
            gr.api(endpoint, api_name=name, concurrency_id="setup")
    demo.queue(default_concurrency_limit=2, max_size=32)
    return demo


def _files(items: Iterator[Any]) -> Iterator[Any]:
    """An endpoint's job: None while it runs, then its PNG (or list of PNGs); a refusal as a message, not a
    traceback in the server log. Endpoints are generators: gradio closes one when its client cancels or goes
    away, which stops the job (``page.edit_steps``); a plain function's thread would run its setup to the end."""
    png = lambda p: FileData(path=str(p), orig_name=p.name, mime_type="image/png")  # noqa: E731
    try:
        for item in items:
            # a list as plain dicts: gradio moves files it finds in dicts (and in a bare FileData) into its cache
            yield [png(p).model_dump() for p in item] if isinstance(item, list) else png(item) if isinstance(
                item, Path) else None
    except GanpaintError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def _endpoints(page: EditPage) -> dict[str, Any]:
    """The stateless endpoints for scripts (docs/api.md), by name."""
    path = lambda payload: (_path_of(payload) or (None,))[0]  # noqa: E731

    def edit(image: FileData, mask: FileData, concept: str, action: str = "add", strength: float = 0.75,
             style: FileData | None = None, style_strength: float = 0.75,
             style_seed: int | None = None, invert: str = "single") -> FileData:  # type: ignore[misc]
        """Edit one photo start to finish: returns the edited photo at the input's size (PNG). ``style``: a
        reference image whose look an "add" copies; ``style_seed``: a generated sample's look instead;
        ``invert``: "single" (one latent code) or "segments" (one per segment: closer, slower)."""
        yield from _files(page.edit_steps(path(image), path(mask), concept=concept, action=action, strength=strength,
                                          style=path(style), style_strength=style_strength, style_seed=style_seed,
                                          invert=invert))

    def edit_recipe(image: FileData, recipe_json: str) -> FileData:  # type: ignore[misc]
        """Edit one photo with a recipe (JSON text as the CLI takes it: concept strokes, colour / sketch brushes,
        directions; masks and paint embedded as base64 PNGs, no file paths): the edited photo (PNG)."""
        yield from _files(page.edit_recipe_steps(path(image), recipe_json))

    def brush_candidates(image: FileData, color_strokes: FileData | None = None, sketch: FileData | None = None,
                         candidates: int = 4, seed: int = 0) -> list[FileData]:  # type: ignore[misc]
        """A colour / sketch brush's candidates on one photo, each as the edited photo (PNG), best first. Colour
        strokes: an image over the photo, opaque (or not black) where painted; sketch: lines likewise."""
        yield from _files(page.brush_candidate_steps(path(image), path(color_strokes), path(sketch),
                                                     candidates=candidates, seed=seed))
    return {"edit": edit, "edit_recipe": edit_recipe, "brush_candidates": brush_candidates}


def _streamer(ui: SimpleNamespace, show):
    """``stream(items, progress)``: a long job's progress lines (and the bar), then its page update."""
    def stream(items: Iterator[JobUpdate | PageUpdate], progress: gr.Progress) -> Iterator[dict[Any, Any]]:
        nothing = True
        for item in items:
            nothing = False
            if isinstance(item, JobUpdate):
                progress((item.step, item.total) if item.total else None, desc=describe_progress(item))
                yield {ui.status: progress_line(item)}
            else:
                yield show(item)
        if nothing:  # a generator that yields nothing would blank every output
            yield {ui.status: gr.skip()}
    return stream


def _wire_jobs(page: EditPage, ui: SimpleNamespace, show) -> None:
    """Long jobs (setup, model switch, dissection) stream their progress and can be cancelled."""
    stream = _streamer(ui, show)

    def on_photo(payload, fit, session, invert, progress=gr.Progress()):
        path, name = _path_of(payload) or (None, "photo")
        yield from stream(page.open_photo(session, path, name=name, fit=fit, invert=invert), progress)

    def on_model(name, session, progress=gr.Progress()):
        yield from stream(page.switch_model(session, name), progress)

    def on_dissect(name, session, progress=gr.Progress()):
        yield from stream(page.dissect_model(session, name), progress)

    def on_reference(payload, session):
        path, name = _path_of(payload) or (None, "reference")
        return show(page.reference(session, path, name=name))

    photo_out = [ui.session, ui.editor, ui.preview, ui.slider, ui.status, ui.png, ui.record, *ui.stroke_views,
                 ui.candidates]
    model_out = [ui.session, ui.concept, ui.status, ui.editor, ui.preview, ui.slider, ui.gallery, ui.style_seed,
                 ui.style_kind, ui.model, *ui.stroke_views, ui.dissect, ui.dissect_target, ui.candidates, ui.direction]
    # A photo's setup shows its progress over the editor (nothing to paint yet); a model switch over the preview,
    # so that the editor keeps the photo (and any unsaved paint) while the new model sets it up.
    setup = dict(concurrency_id="setup", show_progress_on=[ui.editor])
    switch = dict(concurrency_id="setup", show_progress_on=[ui.preview])
    photo_in = [ui.photo, ui.fit, ui.session, ui.invert_choice]
    long_jobs = [
        ui.photo.change(on_photo, photo_in, photo_out, preprocess=False, api_name="load_photo",
                        api_visibility="undocumented", **setup),
        ui.fit.input(on_photo, photo_in, photo_out, preprocess=False, api_visibility="private", **setup),
        ui.invert.input(lambda v: v, ui.invert, ui.invert_choice, api_visibility="private").then(
            on_photo, photo_in, photo_out, preprocess=False, api_visibility="private", **setup),
        ui.model.change(on_model, [ui.model, ui.session], model_out, api_name="switch_model",
                        api_visibility="undocumented", **switch),
        ui.dissect.click(on_dissect, [ui.dissect_target, ui.session], model_out, api_visibility="private", **switch),
        ui.reference.change(on_reference, [ui.reference, ui.session], [ui.session, ui.style_kind, ui.status],
                            preprocess=False, api_visibility="private", concurrency_id="setup"),
    ]
    ui.long_jobs = long_jobs  # the Cancel button stops them all (wired once the directions' job is there too)


def _canvas_later(ui: SimpleNamespace, out: dict[Any, Any]) -> dict[Any, Any]:
    """An event that reads the editor must not also write it (it can stay "processing"): its canvas goes to
    ``canvas_reset`` for a second step (``ui.reset``) to write. Its value only: with a label in the same update
    the editor kept the old paint (the label is the photo's already)."""
    update = out.pop(ui.editor, None)
    out[ui.canvas_reset] = None if update is None else {"value": update.get("value") if isinstance(update, dict)
                                                        else update}
    return out


def _wire_strokes(demo: gr.Blocks, page: EditPage, ui: SimpleNamespace, show) -> None:
    """Painting previews live; Add stroke and Render keep the stroke; the stroke list re-previews."""
    def stroke_action(method, *, reset_later: bool = False):
        def handler(layers_value, concept, action, strength, kind, style_strength, seed, brush, session):
            mode, morph, pick = brush or NO_BRUSH
            settings = PaintSettings(concept=concept, action=action, strength=strength, style_kind=kind,
                                     style_strength=style_strength, style_seed=seed, mode=mode, morph=morph, pick=pick)
            out = show(method(session, (layers_value or {}).get("layers") or [], settings), brush)
            return _canvas_later(ui, out) if reset_later else out or {ui.session: gr.skip()}
        return handler

    def on_gallery_select(concept, session, evt: gr.SelectData):
        return show(page.gallery_picked(session, concept, evt.index))

    paint_in = ui.paint_in = [ui.editor, ui.concept, ui.action, ui.strength, ui.style_kind, ui.style_strength,
                              ui.style_seed, ui.brush, ui.session]
    ui.stroke_action = stroke_action
    # One listener for every trigger, "always_last": at most one preview running and one waiting per tab, so
    # previews never arrive out of order. The editor triggers on `input` (the user's paint), not `change`.
    gr.on([ui.editor.input, ui.concept.change, ui.action.change, ui.strength.release, ui.style_kind.change,
           ui.style_strength.release], stroke_action(page.paint), paint_in,
          [ui.preview, ui.session, ui.paint_info, ui.status], trigger_mode="always_last", show_progress="hidden",
          show_progress_on=[ui.session],  # gr.on shows its timer despite "hidden"; on a State it shows nowhere
          api_name="preview", api_visibility="undocumented", concurrency_id="edit", concurrency_limit=4)
    for trigger in (ui.concept.change, demo.load):  # the gallery fills after the page is up
        trigger(lambda concept, s: show(page.concept_changed(s, concept)), [ui.concept, ui.session],
                [ui.gallery, ui.style_seed], api_visibility="private", show_progress="hidden")
    ui.gallery.select(on_gallery_select, [ui.concept, ui.session], [ui.style_seed, ui.style_kind],
                      api_visibility="private")
    reset = ui.reset = dict(fn=lambda pending: gr.skip() if pending is None else pending["value"],
                            inputs=ui.canvas_reset, outputs=ui.editor, api_visibility="private", show_progress="hidden")
    ui.add.click(stroke_action(page.add, reset_later=True), paint_in,
                 [ui.session, ui.canvas_reset, ui.preview, ui.status, *ui.stroke_views, ui.paint_info, ui.candidates,
                  ui.brush], api_name="add_stroke", api_visibility="undocumented", concurrency_id="edit",
                 show_progress="hidden").then(**reset)  # one tail pass: no queue timers flashing over the lines
    ui.render.click(stroke_action(page.render, reset_later=True), paint_in,
                    [ui.session, ui.canvas_reset, ui.preview, ui.slider, ui.status, ui.png, ui.record,
                     *ui.stroke_views, ui.paint_info, ui.outline, ui.candidates, ui.brush],
                    api_name="render", api_visibility="undocumented", concurrency_id="edit",
                    show_progress_on=[ui.slider]).then(**reset)  # the wait shows where the result will be
    ui.outline.input(lambda on, s: show(page.outline(s, on)) or {ui.slider: gr.skip()}, [ui.outline, ui.session],
                     [ui.slider, ui.status], api_visibility="private", concurrency_id="edit")
    ui.clear.click(lambda s: show(PageUpdate(canvas=canvas_of(s))), [ui.session], [ui.editor], api_visibility="private")
    list_out = [ui.session, ui.preview, ui.status, *ui.stroke_views]
    ui.strokes.input(lambda sel, s: show(page.toggle(s, sel)), [ui.strokes, ui.session], list_out,
                     api_visibility="private")
    ui.delete.click(lambda lab, s: show(page.delete(s, lab)), [ui.delete_choice, ui.session], list_out,
                    api_visibility="private")
    ui.undo.click(lambda s: show(page.undo(s)), [ui.session], list_out, api_name="undo", api_visibility="undocumented")
    ui.clear_all.click(lambda s: show(page.clear_all(s)), [ui.session], list_out, api_visibility="private")


def _wire_modes(page: EditPage, ui: SimpleNamespace, show) -> None:
    """The brush mode switches the editor's brush and panels; candidates are found and picked; directions are
    found (a job, with progress), previewed and added."""
    def on_mode(mode):
        kind = BRUSH_MODES.get(mode, "concept")
        return {ui.editor: gr.update(brush=gr.Brush(**EDITOR_BRUSHES[kind])), ui.concept_panel: gr.update(
            visible=kind == "concept"), ui.brush_panel: gr.update(visible=kind != "concept")}

    def on_brush(layers_value, *fields):  # the mode or the morph moved: the State follows, and the preview
        *settings, mode, morph, brush, session = fields
        brush = (mode, morph, (brush or NO_BRUSH)[2])
        return ui.stroke_action(page.paint)(layers_value, *settings, brush, session) | {ui.brush: brush}

    def on_pick(layers_value, concept, action, strength, kind, style_strength, seed, brush, session,
                evt: gr.SelectData):
        mode, morph, _ = brush or NO_BRUSH
        settings = PaintSettings(concept, action, strength, kind, style_strength, seed, mode=mode, morph=morph)
        return show(page.pick_candidate(session, (layers_value or {}).get("layers") or [], settings, evt.index),
                    (mode, morph, 0))

    def direction_action(method, reset_later: bool = False):
        def handler(layers_value, name, amount, where, session):
            out = show(method(session, (layers_value or {}).get("layers") or [], DirectionSettings(name, amount, where)))
            return _canvas_later(ui, out) if reset_later else out or {ui.session: gr.skip()}
        return handler

    def on_find_dirs(session, progress=gr.Progress()):
        yield from _streamer(ui, show)(page.find_directions(session), progress)

    quiet = dict(api_visibility="private", concurrency_id="edit", show_progress="hidden")
    ui.mode.change(on_mode, ui.mode, [ui.editor, ui.concept_panel, ui.brush_panel], queue=False,
                   api_visibility="private")
    picked = [ui.brush, ui.preview, ui.paint_info, ui.status, ui.session]
    gr.on([ui.mode.change, ui.morph.release], on_brush, [*ui.paint_in[:-2], ui.mode, ui.morph, ui.brush, ui.session],
          picked, trigger_mode="always_last", show_progress_on=[ui.session], **quiet)
    ui.find.click(ui.stroke_action(page.find_candidates), ui.paint_in, [ui.candidates, *picked],
                  api_visibility="private", concurrency_id="edit", show_progress_on=[ui.candidates])
    ui.candidates.select(on_pick, ui.paint_in, picked, **quiet)
    dir_in = [ui.editor, ui.direction, ui.amount, ui.where, ui.session]
    finding = ui.find_dirs.click(on_find_dirs, [ui.session], [ui.direction, ui.status], api_visibility="private",
                                 concurrency_id="setup", show_progress_on=[ui.direction])
    ui.cancel.click(lambda: problem("Cancelled. Whatever was loaded before stays loaded."), None, ui.status,
                    cancels=[*ui.long_jobs, finding], queue=False, api_visibility="private")
    gr.on([ui.direction.input, ui.amount.release, ui.where.input], direction_action(page.direction_preview), dir_in,
          [ui.preview, ui.paint_info, ui.status, ui.session], trigger_mode="always_last",
          show_progress_on=[ui.session], **quiet)
    ui.add_dir.click(direction_action(page.add_direction, reset_later=True), dir_in,
                     [ui.session, ui.canvas_reset, ui.preview, ui.status, *ui.stroke_views, ui.paint_info],
                     **quiet).then(**ui.reset)


def _tools_layout(ui: SimpleNamespace) -> None:
    """Share, open a recipe, compare settings, see a concept's units, select a concept (issue 18)."""
    with gr.Accordion("Share · compare · see the units", open=True, elem_id="tools"):
        with gr.Row(equal_height=False):
            with gr.Column(min_width=260):
                ui.share_button = gr.Button("Share this edit", variant="secondary", elem_id="share")
                ui.share = gr.Markdown("", elem_id="share-link")
                ui.bundle = gr.DownloadButton("Download the edit (JSON with the photo)", interactive=False,
                                              elem_id="download-share")
                ui.recipe = gr.File(label="Open a recipe: a downloaded JSON (with its photo: the edit as it was; "
                                          "without: its strokes on your photo)", file_types=[".json"],
                                    type="filepath", elem_id="open-recipe", height=90)
            with gr.Column(min_width=260):
                ui.compare_strengths = gr.Textbox("0.25, 0.5, 0.75, 1", label="Strengths to compare",
                                                  elem_id="compare-strengths")
                ui.compare_adapt = gr.Checkbox(True, label="with and without adaptation")
                ui.compare_models = gr.Checkbox(False, label="on every loaded model that has the concepts")
                ui.compare_button = gr.Button("Compare the kept strokes", elem_id="compare")
            with gr.Column(min_width=260):
                gr.Markdown("For the concept chosen above: which units a stroke moves, and what the segmenter "
                            "sees. *Select* paints its map on the canvas as a ready mask.")
                ui.units_button = gr.Button("See the concept's units", elem_id="see-units")
                ui.select_button = gr.Button("Select the concept where the segmenter sees it", elem_id="select")
        ui.compare = gr.Image(label="Comparison", show_label=False, format="png", interactive=False, buttons=[],
                              elem_id="compare-grid")  # no label badge: it would cover the first cell's label
        with gr.Row():
            ui.units = gr.Image(label="Top units over the inverted photo", format="png", interactive=False,
                                buttons=[], height=260, elem_id="units")
            ui.segmentation = gr.Image(label="Segmenter's map of the render", format="png", interactive=False,
                                       buttons=[], height=260, elem_id="segmentation")


def _wire_tools(demo: gr.Blocks, page: EditPage, ui: SimpleNamespace, show) -> None:
    """Share links (opened on page load from ?edit=<id>), recipes, the comparison grid, units, selection."""
    stream = _streamer(ui, show)

    def on_load(session, request: gr.Request, progress=gr.Progress()):
        yield from stream(page.open_shared(session, request.query_params.get("edit")), progress)

    def on_recipe(path, session, progress=gr.Progress()):
        yield from stream(page.open_recipe(session, path), progress)

    def on_share(session, request: gr.Request):
        return show(page.share(session, public_url(getattr(demo, "share_url", None), request.headers)))

    opened = [ui.session, ui.model, ui.concept, ui.editor, ui.preview, ui.slider, ui.status, ui.png, ui.record,
              *ui.stroke_views]
    demo.load(on_load, [ui.session], opened, api_visibility="private", concurrency_id="setup",
              show_progress_on=[ui.editor])
    ui.recipe.upload(on_recipe, [ui.recipe, ui.session], opened, api_visibility="private", concurrency_id="setup",
                     show_progress_on=[ui.editor])
    ui.share_button.click(on_share, [ui.session], [ui.share, ui.bundle, ui.status], api_visibility="private")
    ui.compare_button.click(
        lambda strengths, adapt, models, s: show(page.compare(s, strengths=strengths, adapt_both=adapt,
                                                              across_models=models)),
        [ui.compare_strengths, ui.compare_adapt, ui.compare_models, ui.session], [ui.compare, ui.status],
        api_visibility="private", concurrency_id="setup")
    ui.units_button.click(lambda concept, s: show(page.units(s, concept)), [ui.concept, ui.session],
                          [ui.units, ui.segmentation, ui.status], api_visibility="private")
    ui.select_button.click(lambda concept, s: show(page.select_concept(s, concept)), [ui.concept, ui.session],
                           [ui.editor, ui.status], api_visibility="private")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="GANPaint web app")
    p.add_argument("--model", default=None, help="model to start with (others load from the page); default: "
                   "$GANPAINT_MODEL, else stylegan2-church on a CUDA device that can get it, else synth-church")
    p.add_argument("--device", default="auto", choices=list(DEVICE_CHOICES))
    # A Hugging Face Space sets GRADIO_SERVER_NAME / _PORT (0.0.0.0:7860): an explicit default would override them.
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="address to serve on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--share", action="store_true", help="also serve on a public gradio.live link (needs internet)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ganpaint_core.hub.registry import Registry
    from ganpaint_core.page.start import choose_start_model, open_start_model

    try:
        device = pick_device(args.device)
        start = choose_start_model(flag=args.model, env=os.environ, device=device, registry=Registry.scan())
        log.info("%s", start.describe())
        model, preparation = open_start_model(start, device=device)
        engine = EditEngine(model)
    except GanpaintError as exc:
        log.error("cannot start on %s: %s", args.model or "the host's choice", exc)
        return 2
    preparation.start()  # the start model's missing files, in the background (status: preparation.status())
    share = args.share and share_possible()
    if args.share and not share:
        log.warning("--share: gradio's share service is unreachable (no internet?); serving locally only")
    log.info("serving %s on %s (http://%s:%d)", engine.model.manifest.name, device, args.host, args.port)
    # quiet unless sharing: gradio's own banner says "set `share=True`", which is this app's --share flag
    demo = build_demo(engine, page=EditPage(engine, start=start))
    demo.launch(server_name=args.host, server_port=args.port, share=share, footer_links=["api"],
                max_file_size=MAX_UPLOAD, quiet=not share)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
