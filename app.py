"""GANPaint in the browser: upload a photo, paint where a concept should appear or go, render.

    python app.py [--model synth-church] [--device auto|cpu|cuda] [--host 127.0.0.1] [--port 7860] [--share]

Only the layout and its wiring live here: which event calls which action of ``page.page.EditPage`` (gradio-free,
tested alone; its ``PageUpdate`` mapped onto components by ``app_binding``; labels and ids: ``page.controls``).
The API (``/edit``, ``/edit_recipe``, ``/brush_candidates``; docs/api.md): ``page.api.Endpoints``, via ``gr.api``."""
from __future__ import annotations

# First, before anything can touch CUDA: on ZeroGPU this imports `spaces` (see ganpaint_core/page/hosting.py).
import ganpaint_core.page.hosting

# isort: split
import sys

if __name__ == "__main__":  # a busy port: one line and exit 2 at once, before gradio and torch load (seconds)
    ganpaint_core.page.hosting.exit_if_port_busy(sys.argv[1:])

# isort: split
import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from app_binding import (FIT_POLL_S, FIT_VIEWS, FRESH, MODEL_OUT, PAINT_IN, PHOTO_OUT, STROKE_VIEWS, Components,
                         refuse_server_paths, served, wire_other_modes)
from app_panels import stroke_panel, tool_panels
from ganpaint_core.core.device import DEVICE_CHOICES, pick_device
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.page.api import Endpoints, upload_path
from ganpaint_core.page.controls import CONTROLS as K
from ganpaint_core.page.hosting import port_problem, public_url, serving_address, share_possible
from ganpaint_core.page.page import EDITOR_BRUSHES, BrushChoice, EditPage, PageUpdate
from ganpaint_core.page.server_log import quiet_client_disconnects
from ganpaint_core.page.session import EditSession
from ganpaint_core.page.text import EDITOR_EMPTY_LABEL, EDITOR_PLACEHOLDER, HOW_IT_WORKS, INTRO
from ganpaint_core.page.values import canvas_of

log = logging.getLogger("ganpaint.app")

MAX_UPLOAD = "50mb"  # refused while streaming in (never fills the temp folder); a 40-MP JPEG is 10-25 MB
EXAMPLES_DIR = Path(__file__).resolve().parent / "docs" / "examples"


def _layout(page: EditPage, examples: Sequence[str]) -> Components:
    """Every component of the page, by name (labels, choices, ids: ``CONTROLS``). In front, the simple path (photo,
    canvas, concept, add / remove, strength, result, Render / Download / Share); every other tool closed below."""
    c: dict[str, Any] = dict(session=gr.State(EditSession(model=page.default_model)), style_seed=gr.State(None),
                             dissect_target=gr.State(None), canvas_reset=gr.State(None),
                             invert_choice=gr.State("single"),  # a State: /load_photo keeps its (photo, fit) API
                             brush=gr.State(BrushChoice()),  # one State: the stroke endpoints keep their parameters
                             fit_timer=gr.Timer(FIT_POLL_S, active=False))  # polls a photo's full fit (poll_fit)
    concepts = page.catalog.engine(page.default_model).concepts.names()
    gr.Markdown(INTRO, elem_id="intro")
    with gr.Accordion("How it works", open=False, elem_id="how-it-works"):
        gr.Markdown(HOW_IT_WORKS)
    c["status"] = gr.Markdown(page.welcome(), elem_id="status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=240):  # 1 · the photo
            c.update(photo=gr.Image(**K["photo"]), cancel=gr.Button(**K["cancel"]))
            if examples:
                gr.Examples(examples=[[e] for e in examples], inputs=[c["photo"]], label="Examples",
                            examples_per_page=8)
        with gr.Column(scale=2, min_width=360):  # 2 · painting
            c["editor"] = gr.ImageEditor(
                label=EDITOR_EMPTY_LABEL, type="numpy", image_mode="RGBA", sources=[], transforms=[],
                layers=False, canvas_size=(512, 512), brush=gr.Brush(**EDITOR_BRUSHES["concept"]),
                eraser=gr.Eraser(default_size=18), buttons=[], elem_id="editor", height=400,
                placeholder=EDITOR_PLACEHOLDER)
            with gr.Group() as c["concept_panel"]:
                with gr.Row():
                    c.update(concept=gr.Dropdown(concepts, value=concepts[0], **K["concept"]),
                             action=gr.Radio(**K["action"]))
                c["strength"] = gr.Slider(**K["strength"])
            with gr.Group(visible=False) as c["brush_panel"]:  # a colour / sketch brush's candidates, the morph
                with gr.Row(equal_height=True):
                    c.update(morph=gr.Slider(**K["morph"]), count=gr.Slider(**K["count"]), find=gr.Button(**K["find"]))
                c["candidates"] = gr.Gallery(**K["candidates"])
            with gr.Row():
                c.update(add=gr.Button(**K["add"]), clear=gr.Button(**K["clear"]))
        with gr.Column(scale=2, min_width=360):  # 3 · preview, result, strokes
            c.update(preview=gr.Image(**K["preview"]), paint_info=gr.Markdown(**K["paint_info"]),
                     fit_note=gr.Markdown(**K["fit_note"]), slider=gr.ImageSlider(**K["slider"]))
            with gr.Row(equal_height=True):
                c.update(render=gr.Button(**K["render"]), png=gr.DownloadButton(**K["png"]),
                         share_button=gr.Button(**K["share_button"]))
            c.update(share=gr.Markdown(**K["share"]), outline=gr.Checkbox(**K["outline"]))
            stroke_panel(c)  # the kept strokes: switched on / off, the selected one changed in place or deleted
    tool_panels(c, page)  # closed, below: every other tool, and the settings
    return Components(**c)


def _wire_jobs(page: EditPage, c: Components) -> list[Any]:
    """Long jobs (setup, model switch, dissection) stream their progress; returns their events, to cancel."""
    def on_photo(payload, fit, session, invert, progress=gr.Progress()):
        path, name = upload_path(payload) or (None, "photo")
        yield from c.stream(page.open_photo(session, path, name=name, fit=fit, invert=invert), progress)

    def on_reference(payload, session):
        path, name = upload_path(payload) or (None, "reference")
        return c.show(page.reference(session, path, name=name))

    photo_out, model_out = c(*PHOTO_OUT), c(*MODEL_OUT)
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
        c.model.change(c.job_handler(page.switch_model), c("model", "session"), model_out, api_name="switch_model",
                       api_visibility="undocumented", **switch),
        c.dissect.click(c.job_handler(page.dissect_model), c("dissect_target", "session"), model_out,
                        api_visibility="private", **switch),
        c.add_concept.click(c.job_handler(page.add_concepts), c("concept_name", "session"),
                            c("concept", "gallery", "status"), api_visibility="private", **switch),
        c.reference.change(on_reference, c("reference", "session"), c("session", "style_kind", "status"),
                           preprocess=False, api_visibility="private", concurrency_id="setup"),
    ]


def _wire_strokes(demo: gr.Blocks, page: EditPage, c: Components) -> None:
    """Painting previews live; Add stroke and Render keep the stroke; the stroke list (and the selected stroke's
    own settings, changed in place) re-previews."""
    paint_in, views, then_reset = c(*PAINT_IN), c(*STROKE_VIEWS), c.reset_step()
    # One listener for every trigger, "always_last": at most one preview running and one waiting per tab, so
    # previews never arrive out of order. The editor triggers on `input` (the user's paint), not `change`.
    gr.on([c.editor.input, c.concept.change, c.action.change, c.strength.release, c.style_kind.change,
           c.style_strength.release], c.stroke_handler(page.paint), paint_in,
          c("preview", "session", "paint_info", "status"), trigger_mode="always_last", show_progress="hidden",
          show_progress_on=[c.session],  # gr.on shows its timer despite "hidden"; on a State it shows nowhere
          api_name="preview", api_visibility="undocumented", concurrency_id="edit", concurrency_limit=4)
    for trigger in (c.concept.change, demo.load):  # the gallery fills after the page is up
        trigger(c.page_handler(page.concept_changed), c("concept", "session"), c("gallery", "style_seed"),
                api_visibility="private", show_progress="hidden")

    def on_gallery_select(concept, session, evt: gr.SelectData):
        return c.show(page.gallery_picked(session, concept, evt.index))

    c.gallery.select(on_gallery_select, c("concept", "session"), c("style_seed", "style_kind"),
                     api_visibility="private")
    c.add.click(c.stroke_handler(page.add, reset_later=True), paint_in,
                [*c("session", "canvas_reset", "preview", "status"), *views, *c("paint_info", "candidates", "brush",
                                                                                  *FRESH)],
                api_name="add_stroke", api_visibility="undocumented", concurrency_id="edit",
                show_progress="hidden").then(**then_reset)  # one tail pass: no queue timers flashing over the lines
    c.render.click(c.stroke_handler(page.render, reset_later=True), paint_in,
                   [*c("session", "canvas_reset", "preview", "slider", "status", "png", "record"), *views,
                    *c("paint_info", "outline", "candidates", "brush", *FRESH, *FIT_VIEWS)], api_name="render",
                   api_visibility="undocumented", concurrency_id="edit",
                   show_progress_on=[c.slider]).then(**then_reset)  # the wait shows where the result will be
    c.outline.input(lambda on, s: c.show(page.outline(s, on)) or {c.slider: gr.skip()}, c("outline", "session"),
                    c("slider", "status"), api_visibility="private", concurrency_id="edit")
    c.clear.click(lambda s: c.show(PageUpdate(canvas=canvas_of(s))), [c.session], [c.editor], api_visibility="private")
    c.fit_timer.tick(c.stroke_handler(page.poll_fit), paint_in, c("preview", "paint_info", "session", *FIT_VIEWS),
                     api_visibility="private", show_progress="hidden", concurrency_id="edit")  # to the full fit
    list_out, quiet = [*c("session", "preview", "status"), *views], dict(api_visibility="private")
    c.strokes.input(c.page_handler(page.toggle), c("strokes", "delete_choice", "session"), list_out, **quiet)
    c.delete.click(c.page_handler(page.delete), c("delete_choice", "session"), list_out, api_visibility="private")
    c.delete_choice.input(c.page_handler(page.select_stroke), c("delete_choice", "session"), list_out[2:], **quiet)
    gr.on([c.stroke_strength.release, c.stroke_style_strength.release], c.page_handler(page.tune),  # in place
          c("delete_choice", "stroke_strength", "stroke_style_strength", "session"), list_out, **quiet,
          trigger_mode="always_last")  # a second release while the first renders is not dropped
    c.undo.click(c.page_handler(page.undo), [c.session], list_out, api_name="undo", api_visibility="undocumented")
    c.clear_all.click(c.page_handler(page.clear_all), [c.session], list_out, api_visibility="private")


def _wire_modes(page: EditPage, c: Components) -> Any:
    """The brush mode switches the editor's brush and panels; candidates are found and picked; directions are
    found (a job, with progress; returns its event, to cancel), previewed and added."""
    def on_find_dirs(session, progress=gr.Progress()):
        yield from c.stream(page.find_directions(session), progress)

    quiet = dict(api_visibility="private", concurrency_id="edit", show_progress="hidden")
    c.mode.change(c.brush_mode, c.mode, c("editor", "concept_panel", "brush_panel"), queue=False,
                  api_visibility="private")
    picked = c("brush", "preview", "paint_info", "status", "session")
    gr.on([c.mode.change, c.morph.release, c.count.release], c.brush_handler(page.paint),
          c(*PAINT_IN[:-2], "mode", "morph", "count", "brush", "session"), picked, trigger_mode="always_last",
          show_progress_on=[c.session], **quiet)
    c.find.click(c.stroke_handler(page.find_candidates), c(*PAINT_IN), [c.candidates, *picked],
                 api_visibility="private", concurrency_id="edit", show_progress_on=[c.candidates])
    c.candidates.select(c.pick_handler(page.pick_candidate), c(*PAINT_IN), picked, **quiet)
    dir_in = c("editor", "direction", "amount", "where", "session")
    gr.on([c.direction.input, c.amount.release, c.where.input], c.direction_handler(page.direction_preview), dir_in,
          c("preview", "paint_info", "status", "session"), trigger_mode="always_last",
          show_progress_on=[c.session], **quiet)
    c.add_dir.click(c.direction_handler(page.add_direction, reset_later=True), dir_in,
                    [*c("session", "canvas_reset", "preview", "status"), *c(*STROKE_VIEWS), c.paint_info],
                    **quiet).then(**c.reset_step())
    return c.find_dirs.click(on_find_dirs, [c.session], c("direction", "status"), api_visibility="private",
                             concurrency_id="setup", show_progress_on=[c.direction])


def _wire_tools(demo: gr.Blocks, page: EditPage, c: Components) -> None:
    """Share links (opened on page load from ?edit=<id>), recipes, the comparison grid, units, selection."""
    def on_load(session, request: gr.Request, progress=gr.Progress()):
        yield from c.stream(page.open_shared(session, request.query_params.get("edit")), progress)

    def on_share(session, request: gr.Request):
        return c.show(page.share(session, public_url(getattr(demo, "share_url", None), request.headers)))

    opened = c("session", "model", "concept", "editor", "preview", "slider", "status", "png", "record", "photo", "fit",
               *STROKE_VIEWS, *FIT_VIEWS)
    setup = dict(api_visibility="private", concurrency_id="setup", show_progress_on=[c.editor])
    demo.load(on_load, [c.session], opened, **setup)
    c.recipe.upload(c.job_handler(page.open_recipe), c("recipe", "session"), opened, **setup)
    c.share_button.click(on_share, [c.session], c("share", "bundle", "status"), api_visibility="private")
    c.compare_button.click(c.page_handler(lambda s, strengths, adapt, models: page.compare(
        s, strengths=strengths, adapt_both=adapt, across_models=models)), c("compare_strengths", "compare_adapt",
        "compare_models", "session"), c("compare", "status"), api_visibility="private", concurrency_id="setup")
    c.units_button.click(c.page_handler(page.units), c("concept", "session"), c("units", "segmentation", "status"),
                         api_visibility="private")
    c.select_button.click(c.page_handler(page.select_concept), c("concept", "session"), c("editor", "status"),
                          api_visibility="private")


def build_demo(engine: EditEngine, *, examples: Sequence[str | Path] | None = None,
               page: EditPage | None = None) -> gr.Blocks:
    """The page, over ``engine`` (the default model; others load on demand, once, shared). ``page``: an
    ``EditPage`` over the same engine, for a caller that wants to see its jobs."""
    page = page or EditPage(engine)
    if examples is None:
        examples = sorted(str(p) for p in EXAMPLES_DIR.glob("*.png")) + page.sample_examples()
    with gr.Blocks(title="GANPaint", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        c = _layout(page, [str(e) for e in examples])
        long_jobs = _wire_jobs(page, c)
        _wire_strokes(demo, page, c)
        finding = _wire_modes(page, c)
        _wire_tools(demo, page, c)
        wire_other_modes(page, c)  # photo to photo, from nothing, one segment
        c.cancel.click(page.cancel, c.session, c.status, cancels=[*long_jobs, finding], queue=False,
                       api_visibility="private")  # the photo's full fit stops too
        if page.preparing():  # the start model's preparation, for every visitor: its stage and time left
            gr.Timer(5).tick(page.preparation_status, None, c.preparation, api_visibility="private",
                             show_progress="hidden")
        for name, endpoint in Endpoints(page).named().items():
            gr.api(served(endpoint), api_name=name, concurrency_id="setup")
    demo.queue(default_concurrency_limit=2, max_size=32)
    refuse_server_paths(demo)
    return demo


def _arguments() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="GANPaint web app")
    p.add_argument("--model", default=None, help="model to start with (others load from the page); default: "
                   "$GANPAINT_MODEL, else stylegan2-church on a CUDA device that can get it, else synth-church")
    p.add_argument("--device", default="auto", choices=list(DEVICE_CHOICES))
    host, port = serving_address([])  # a Space sets GRADIO_SERVER_NAME / _PORT: 0.0.0.0:7860
    p.add_argument("--host", default=host, help="address to serve on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=port)
    p.add_argument("--share", action="store_true", help="also serve on a public gradio.live link (needs internet)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _arguments().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ganpaint_core.hub.registry import Registry
    from ganpaint_core.page.start import choose_start_model, open_start_model

    quiet_client_disconnects()  # a visitor closing the tab mid-upload: one INFO line, not two tracebacks
    busy = port_problem(args.host, args.port)  # before the model loads: a minute saved, one line
    if busy is not None:
        log.error("%s", busy)
        return 2
    try:
        device = pick_device(args.device)
        start = choose_start_model(flag=args.model, env=os.environ, device=device, registry=Registry.scan())
        log.info("%s", start.describe())
        model, preparation = open_start_model(start, device=device)
        engine = EditEngine(model)
    except (GanpaintError, OSError) as exc:  # no model, unreadable weights: one line, not a traceback
        log.error("cannot start on %s: %s", args.model or "the host's choice", exc)
        return 2
    preparation.start()  # the start model's missing files, in the background (status: preparation.status())
    share = args.share and share_possible()
    if args.share and not share:
        log.warning("--share: gradio's share service is unreachable (no internet?); serving locally only")
    log.info("serving %s on %s (http://%s:%d)", engine.model.manifest.name, device, args.host, args.port)
    demo = build_demo(engine, page=EditPage(engine, start=start, preparation=preparation))
    demo.launch(server_name=args.host, server_port=args.port, share=share, footer_links=["api"],
                max_file_size=MAX_UPLOAD, quiet=not share)  # quiet: gradio's banner names its own share flag
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
