"""GANPaint in the browser: upload a photo, paint where a concept should appear or go, render.

    python app.py [--model synth-church] [--device auto|cpu|cuda] [--host 127.0.0.1] [--port 7860] [--share]

Only the layout and its wiring live here: every action is a method of ``ganpaint_core.page.EditPage``
(gradio-free, tested on its own) that returns a ``PageUpdate``; ``show`` binds its fields to components.
``/edit`` is a stateless endpoint for scripts (see docs/api.md).
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.errors import GanpaintError
from ganpaint_core.page import (
    HOW_TO, STYLE_KINDS, EditPage, PageUpdate, PaintSettings, canvas_of, problem, progress_line,
)
from ganpaint_core.session import EditSession, JobUpdate, describe_progress

log = logging.getLogger("ganpaint.app")

REPO = Path(__file__).resolve().parent
EXAMPLES_DIR = REPO / "docs" / "examples"
INTRO = """# GANPaint
Paint where a concept should **appear** or **disappear**, and a GAN redraws that part of your photo. The photo is
inverted into the GAN and the generator adapted to it once (a few seconds); each stroke then re-renders in one
pass, and only the painted area (slightly grown) is pasted back into your full-size photo."""


def _path_of(payload: Any) -> tuple[str, str] | None:
    """(path, original file name) of an un-preprocessed image/file payload, or None."""
    if not payload:
        return None
    data = payload if isinstance(payload, dict) else getattr(payload, "model_dump", lambda: {})()
    path = data.get("path")
    if not path:
        return None
    return path, data.get("orig_name") or Path(path).name


def build_demo(engine: EditEngine, *, examples: Sequence[str | Path] | None = None) -> gr.Blocks:
    """The page, over ``engine`` (the default model; others load on demand, once, shared)."""
    page = EditPage(engine)
    if examples is None:
        examples = sorted(str(p) for p in EXAMPLES_DIR.glob("*.png")) + page.sample_examples()
    concepts = engine.concepts.names()
    models = page.model_choices()

    # -- layout ----------------------------------------------------------------------------------
    with gr.Blocks(title="GANPaint", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        session_state = gr.State(EditSession(model=page.default_model))
        style_seed = gr.State(None)
        dissect_target = gr.State(None)  # the model the Dissect button offers
        canvas_reset = gr.State(None)  # {"value": editor value} from Add stroke / Render, applied in a second step
        with gr.Row(equal_height=True):
            gr.Markdown(INTRO, elem_id="intro")
            with gr.Column(scale=0, min_width=300):
                model_choice = gr.Dropdown(list(models.options), value=models.value, label="Model",
                                           info="availability: bundled / local / cached / downloadable / missing")
                dissect_btn = gr.Button("Dissect", visible=False, size="sm", variant="primary", elem_id="dissect")
        status = gr.Markdown(HOW_TO, elem_id="status")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=260):
                photo = gr.Image(label="1 · Photo", type="filepath", sources=["upload", "clipboard"], height=220,
                                 buttons=[], elem_id="photo")
                fit = gr.Radio(["crop", "pad"], value="crop", label="Fit to the model's square",
                               info="crop: edit the centre square; pad: the whole photo, at lower detail")
                cancel_btn = gr.Button("Cancel setup", size="sm", variant="secondary")
                if examples:
                    gr.Examples(examples=[[e] for e in examples], inputs=[photo], label="Examples", examples_per_page=8)
            with gr.Column(scale=2, min_width=360):
                editor = gr.ImageEditor(label="2 · Paint where to edit", type="numpy", image_mode="RGBA",
                                        sources=[], transforms=[], layers=False, canvas_size=(512, 512),
                                        brush=gr.Brush(colors=[("#ff3da5", 0.55)], color_mode="fixed",
                                                       default_size=18),
                                        eraser=gr.Eraser(default_size=18), buttons=[], elem_id="editor", height=440,
                                        placeholder="Upload a photo on the left first")
                with gr.Row():
                    concept_choice = gr.Dropdown(concepts, value=concepts[0], label="Concept", elem_id="concept")
                    action_choice = gr.Radio(["add", "remove"], value="add", label="Action", elem_id="action")
                strength = gr.Slider(0, 1, value=0.75, step=0.05, label="Strength",
                                     info="0: nothing · 0.5: half the concept's units fully · 1: all of them")
                with gr.Row():
                    add_btn = gr.Button("Add stroke", variant="secondary", elem_id="add-stroke")
                    clear_btn = gr.Button("Clear canvas", variant="secondary")
                with gr.Accordion("Style of what is added", open=False):
                    style_kind = gr.Radio(list(STYLE_KINDS), value="Default look", label="Look",
                                          info="a generated sample rich in the concept, or your own reference")
                    gallery = gr.Gallery(None, columns=6, height=150,
                                         allow_preview=False, label="Samples rich in the concept (click one)",
                                         elem_id="style-gallery")
                    reference = gr.Image(label="My reference", type="filepath", height=160, elem_id="reference",
                                         sources=["upload", "clipboard"])
                    style_strength = gr.Slider(0, 1, value=0.75, step=0.05, label="Style strength")
            with gr.Column(scale=2, min_width=360):
                preview = gr.Image(label="3 · Live preview (what the render will look like)", interactive=False,
                                   buttons=[], elem_id="preview", height=440)
                paint_info = gr.Markdown("", elem_id="paint-info")
                stroke_list = gr.CheckboxGroup([], label="Strokes kept (untick to switch one off)", elem_id="strokes")
                with gr.Row(equal_height=True):
                    delete_choice = gr.Dropdown([], label="Stroke to delete", scale=3, elem_id="delete-choice")
                    with gr.Column(scale=1, min_width=110):
                        delete_btn = gr.Button("Delete", size="sm")
                        undo_btn = gr.Button("Undo", size="sm", interactive=False)
                        clear_all_btn = gr.Button("Clear all", size="sm")
                render_btn = gr.Button("Render full resolution", variant="primary", elem_id="render")
        with gr.Row(equal_height=False):
            slider = gr.ImageSlider(label="Before / after (drag)", format="png", type="numpy", elem_id="result",
                                    max_height=520, scale=3)
            with gr.Column(scale=1, min_width=220):
                png_file = gr.DownloadButton("Download PNG", interactive=False, elem_id="download-png")
                json_file = gr.DownloadButton("Download JSON record", interactive=False, elem_id="download-json")
                gr.Markdown("The JSON records the model and its weights' sha256, every stroke (mask, concept, "
                            "strength, style), the parameters and timings. Scripts: the `/edit` endpoint "
                            "(see *Use via API* below).")

        # Hidden: the stateless endpoint for scripts (gradio_client), not part of the page.
        with gr.Column(visible=False):
            api_image = gr.Image(type="filepath", label="image")
            api_mask = gr.Image(type="filepath", label="mask")
            api_concept = gr.Textbox(value=concepts[0], label="concept")
            api_action = gr.Textbox(value="add", label="action")
            api_strength = gr.Number(value=0.75, label="strength")
            api_style = gr.Image(type="filepath", label="style")
            api_style_strength = gr.Number(value=0.75, label="style_strength")
            api_out = gr.Image(type="numpy", format="png", label="edited")
            api_btn = gr.Button()

        # -- binding: PageUpdate fields -> components ---------------------------------------------------
        def show(update: PageUpdate) -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for name, value in update.changed().items():
                if name == "canvas":
                    out[editor] = (None if value.background is None else
                                   {"background": value.background, "layers": [], "composite": None})
                elif name in ("png", "sidecar"):
                    out[png_file if name == "png" else json_file] = gr.update(value=value, interactive=bool(value))
                elif name == "strokes":
                    out[stroke_list] = gr.update(choices=list(value.labels), value=list(value.enabled))
                    out[delete_choice] = gr.update(choices=list(value.labels),
                                                   value=value.labels[-1] if value.labels else None)
                    out[undo_btn] = gr.update(interactive=value.can_undo)
                elif name == "dissect":
                    out[dissect_btn] = gr.update(visible=value is not None,
                                                 value=f"Dissect {value} (once; cached)" if value else "Dissect")
                    out[dissect_target] = value
                elif name == "concepts":
                    out[concept_choice] = gr.update(choices=list(value.options), value=value.value)
                else:
                    out[fields[name]] = value
            return out

        def stream(items: Iterator[JobUpdate | PageUpdate], progress: gr.Progress) -> Iterator[dict[Any, Any]]:
            """Progress lines (and the bar) while a long job runs, then its page update."""
            nothing = True
            for item in items:
                nothing = False
                if isinstance(item, JobUpdate):
                    progress((item.step, item.total) if item.total else None, desc=describe_progress(item))
                    yield {status: progress_line(item)}
                else:
                    yield show(item)
            if nothing:  # (e.g. the dropdown set back to the current model) a generator that yields nothing
                yield {status: gr.skip()}  # would blank every output

        def settings(concept: str, action: str, strength: float, kind: str, style_strength: float,
                     seed: int | None) -> PaintSettings:
            return PaintSettings(concept=concept, action=action, strength=float(strength), style_kind=kind,
                                 style_strength=float(style_strength), style_seed=seed)

        def on_photo(payload: Any, fit: str, session: EditSession, progress=gr.Progress()):
            path, name = _path_of(payload) or (None, "photo")
            yield from stream(page.open_photo(session, path, name=name, fit=fit), progress)

        def on_model(name: str, session: EditSession, progress=gr.Progress()):
            yield from stream(page.switch_model(session, name), progress)

        def on_dissect(name: str | None, session: EditSession, progress=gr.Progress()):
            yield from stream(page.dissect_model(session, name), progress)

        def on_reference(payload: Any, session: EditSession):
            path, name = _path_of(payload) or (None, "reference")
            return show(page.reference(session, path, name=name))

        def on_gallery_select(concept: str, session: EditSession, evt: gr.SelectData):
            return show(page.gallery_picked(session, concept, evt.index))

        def stroke_action(method, *, reset_later: bool = False):
            def handler(layers_value, concept, action, strength, kind, style_strength, seed, session):
                layers = (layers_value or {}).get("layers") or []
                out = show(method(session, layers, settings(concept, action, strength, kind, style_strength, seed)))
                if reset_later:  # see apply_canvas_reset
                    out[canvas_reset] = {"value": out.pop(editor)} if editor in out else None
                return out or {session_state: gr.skip()}  # nothing changed (gradio reads an empty dict as a value)
            return handler

        def apply_canvas_reset(pending: dict[str, Any] | None) -> Any:
            # An event that reads the editor must not also write it: the editor, still busy with the value it
            # just sent, can stay "processing" and ignore the next strokes. So Add stroke and Render hand the
            # cleared canvas over, and this second step writes it.
            return gr.skip() if pending is None else pending["value"]

        def api_edit(image: Any, mask: Any, concept: str, action: str = "add", strength: float = 0.75,
                     style: Any = None, style_strength: float = 0.75):
            """Edit one photo start to finish: returns the edited photo at the input's size (PNG)."""
            img, msk, ref = _path_of(image), _path_of(mask), _path_of(style)
            try:
                return page.edit(img and img[0], msk and msk[0], concept=concept, action=action, strength=strength,
                                 style=ref and ref[0], style_strength=style_strength)
            except GanpaintError as exc:
                raise gr.Error(str(exc)) from None
            except (TypeError, ValueError) as exc:
                raise gr.Error(f"bad parameter: {exc}") from None

        fields = {"session": session_state, "status": status, "preview": preview, "paint_info": paint_info,
                  "slider": slider, "gallery": gallery, "style_seed": style_seed, "style_kind": style_kind,
                  "model": model_choice}

        # -- wiring ----------------------------------------------------------------------------
        paint_inputs = [editor, concept_choice, action_choice, strength, style_kind, style_strength, style_seed,
                        session_state]
        stroke_outputs = [stroke_list, delete_choice, undo_btn]
        photo_outputs = [session_state, editor, preview, slider, status, png_file, json_file, *stroke_outputs]
        photo_evt = photo.change(on_photo, [photo, fit, session_state], photo_outputs, preprocess=False,
                                 api_name="load_photo", api_visibility="undocumented", concurrency_id="setup",
                                 show_progress_on=[editor])
        fit_evt = fit.input(on_photo, [photo, fit, session_state], photo_outputs, preprocess=False,
                            api_visibility="private", concurrency_id="setup", show_progress_on=[editor])
        model_outputs = [session_state, concept_choice, status, editor, preview, slider, gallery, style_seed,
                         style_kind, model_choice, *stroke_outputs, dissect_btn, dissect_target]
        model_evt = model_choice.change(on_model, [model_choice, session_state], model_outputs,
                                        api_name="switch_model", api_visibility="undocumented", concurrency_id="setup",
                                        show_progress_on=[editor])
        dissect_evt = dissect_btn.click(on_dissect, [dissect_target, session_state], model_outputs,
                                        api_visibility="private", concurrency_id="setup", show_progress_on=[editor])
        ref_evt = reference.change(on_reference, [reference, session_state], [session_state, style_kind, status],
                                   preprocess=False, api_visibility="private", concurrency_id="setup")
        cancel_btn.click(lambda: problem("Cancelled. Whatever was loaded before stays loaded."), None, status,
                         cancels=[photo_evt, fit_evt, model_evt, dissect_evt, ref_evt], queue=False,
                         api_visibility="private")

        # One listener for every trigger: with "always_last" a tab has at most one preview running and one
        # waiting, so previews never arrive out of order (separate listeners could overtake each other).
        # The editor triggers on `input` (the user's paint), not `change`: the page itself resets the canvas
        # after Add stroke and Render, and a preview reading the editor while it loads that new background
        # could leave it stuck "processing".
        gr.on([editor.input, concept_choice.change, action_choice.change, strength.release, style_kind.change,
               style_strength.release], stroke_action(page.paint), paint_inputs,
              [preview, session_state, paint_info, status], trigger_mode="always_last", show_progress="hidden",
              api_name="preview", api_visibility="undocumented", concurrency_id="edit", concurrency_limit=4)
        # The gallery fills after the page is up (sampling and segmenting the pool takes a moment, once per concept).
        for trigger in (concept_choice.change, demo.load):
            trigger(lambda concept, s: show(page.concept_changed(s, concept)), [concept_choice, session_state],
                    [gallery, style_seed], api_visibility="private", show_progress="hidden")
        gallery.select(on_gallery_select, [concept_choice, session_state], [style_seed, style_kind],
                       api_visibility="private")
        add_btn.click(stroke_action(page.add, reset_later=True), paint_inputs,
                      [session_state, canvas_reset, preview, status, *stroke_outputs, paint_info],
                      api_name="add_stroke", api_visibility="undocumented", concurrency_id="edit"
                      ).then(apply_canvas_reset, canvas_reset, editor, api_visibility="private", show_progress="hidden")
        clear_btn.click(lambda s: show(PageUpdate(canvas=canvas_of(s))), [session_state], [editor],
                        api_visibility="private")
        render_btn.click(stroke_action(page.render, reset_later=True), paint_inputs,
                         [session_state, canvas_reset, preview, slider, status, png_file, json_file, *stroke_outputs,
                          paint_info], api_name="render", api_visibility="undocumented", concurrency_id="edit"
                         ).then(apply_canvas_reset, canvas_reset, editor, api_visibility="private",
                                show_progress="hidden")
        list_outputs = [session_state, preview, status, *stroke_outputs]
        stroke_list.input(lambda sel, s: show(page.toggle(s, sel)), [stroke_list, session_state], list_outputs,
                          api_visibility="private")
        delete_btn.click(lambda lab, s: show(page.delete(s, lab)), [delete_choice, session_state], list_outputs,
                         api_visibility="private")
        undo_btn.click(lambda s: show(page.undo(s)), [session_state], list_outputs, api_name="undo",
                       api_visibility="undocumented")
        clear_all_btn.click(lambda s: show(page.clear_all(s)), [session_state], list_outputs, api_visibility="private")
        api_btn.click(api_edit, [api_image, api_mask, api_concept, api_action, api_strength, api_style,
                                 api_style_strength], api_out, api_name="edit", preprocess=False,
                      concurrency_id="setup")
    demo.queue(default_concurrency_limit=2, max_size=32)
    return demo


def share_possible(timeout: float = 3.0) -> bool:
    """Whether Gradio's share service can be reached (a share link needs the internet)."""
    try:
        socket.create_connection(("api.gradio.app", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _load_engine(name: str, device: str) -> EditEngine:
    from ganpaint_core.loading import load_model

    return EditEngine(load_model(name, device=device))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="GANPaint web app")
    p.add_argument("--model", default="synth-church", help="model to start with (others load from the page)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="also serve on a public gradio.live link (needs internet)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        log.error("--device cuda: torch sees no CUDA GPU here; use --device cpu (or auto)")
        return 2
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        engine = _load_engine(args.model, device)
    except GanpaintError as exc:
        log.error("cannot start on %s: %s", args.model, exc)
        return 2
    demo = build_demo(engine)
    share = args.share
    if share and not share_possible():
        log.warning("--share: gradio's share service is unreachable (no internet?); serving locally only")
        share = False
    log.info("serving %s on %s (http://%s:%d)", args.model, device, args.host, args.port)
    demo.launch(server_name=args.host, server_port=args.port, share=share, footer_links=["api"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
