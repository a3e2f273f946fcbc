"""GANPaint in the browser: upload a photo, paint where a concept should appear or go, render.

    python app.py [--model synth-church] [--device auto|cpu|cuda] [--host 127.0.0.1] [--port 7860] [--share]

The page is wired to ``ganpaint_core.session`` (gradio-free, tested on its own); this file only builds
components and turns library results and errors into what the page shows. ``/edit`` is a stateless
endpoint for scripts (see docs/api.md).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.errors import GanpaintError
from ganpaint_core.registry import Registry, model_status
from ganpaint_core.session import (
    SAMPLE_SEED_BASE, EditSession, EngineCatalog, StyleChoice, add_stroke, canvas_image, clear_reference,
    clear_strokes, close_photo, delete_stroke, describe_progress, display_image, edit_photo, open_photo,
    preview_image, render, reprepare, run_job, sample_images, set_enabled, set_reference, sidecar,
    stroke_from_layers, stroke_labels, undo, upscale,
)

log = logging.getLogger("ganpaint.app")

REPO = Path(__file__).resolve().parent
EXAMPLES_DIR = REPO / "docs" / "examples"
STYLE_KINDS = {"Default look": "dictionary", "Generated sample": "sample", "My reference": "reference"}
SLIDER_SIDE = 1600  # before/after shown up to this side; the download is full size
INTRO = """# GANPaint
Paint where a concept should **appear** or **disappear**, and a GAN redraws that part of your photo. The photo is
inverted into the GAN and the generator adapted to it once (a few seconds); each stroke then re-renders in one
pass, and only the painted area (slightly grown) is pasted back into your full-size photo."""
HOW_TO = ("**1** Upload a photo or pick an example. **2** Paint on it, choose a concept and *add* or *remove*: the "
          "preview follows. **Add stroke** keeps it and clears the canvas for the next one. **3** *Render full "
          "resolution* for the PNG and its JSON record.")


def _ok(text: str) -> str:
    return text


def _problem(text: str) -> str:
    return f"**Problem:** {text}"


def _path_of(payload: Any) -> tuple[str, str] | None:
    """(path, original file name) of an un-preprocessed image/file payload, or None."""
    if not payload:
        return None
    data = payload if isinstance(payload, dict) else getattr(payload, "model_dump", lambda: {})()
    path = data.get("path")
    if not path:
        return None
    return path, data.get("orig_name") or Path(path).name


def _model_choices(current: EditEngine) -> list[tuple[str, str]]:
    """Every registry model as "name · resolution · availability" (no network: nothing is probed)."""
    reg = Registry.scan()
    out = []
    for name, manifest in reg.manifests.items():
        try:
            status = model_status(manifest, probe=False)["status"]
        except GanpaintError as exc:  # a file that fails its checksum, say: listed, and loading will say why
            log.warning("%s: %s", name, exc)
            status = "unusable"
        out.append((f"{name} · {manifest.resolution}px · {status}", name))
    name = current.model.manifest.name
    if name not in reg.manifests:  # loaded from a manifest outside the registry (tests, scripts)
        out.insert(0, (f"{name} · {current.resolution}px · loaded", name))
    return out


def _sample_examples(engine: EditEngine, folder: Path, count: int = 2) -> list[str]:
    """A couple of the model's own samples as example photos (upscaled to be paintable)."""
    seeds = [SAMPLE_SEED_BASE + 900 + i for i in range(count)]
    paths = []
    for seed, arr in zip(seeds, sample_images(engine, seeds)):
        path = folder / f"{engine.model.manifest.name}-sample-{seed}.png"
        Image.fromarray(upscale(arr, 256)).save(path)
        paths.append(str(path))
    return paths


def _prune(folder: Path, *, max_age_s: float = 3600) -> None:
    """Delete renders (PNG + JSON folders) older than ``max_age_s``: downloads are served from here."""
    now = time.time()
    for sub in folder.iterdir():
        if sub.is_dir() and now - sub.stat().st_mtime > max_age_s:
            shutil.rmtree(sub, ignore_errors=True)


def build_demo(engine: EditEngine, *, examples: Sequence[str | Path] | None = None) -> gr.Blocks:
    """The page, over ``engine`` (the default model; others load on demand, once, shared)."""
    catalog = EngineCatalog(engine)
    out_dir = Path(tempfile.mkdtemp(prefix="ganpaint-app-"))
    if examples is None:
        examples = sorted(str(p) for p in EXAMPLES_DIR.glob("*.png")) + _sample_examples(engine, out_dir)
    concepts = engine.concepts.names()

    def engine_of(session: EditSession) -> EditEngine:
        return catalog.engine(session.model or catalog.default_name)

    def editor_value(session: EditSession) -> dict[str, Any] | None:
        if session.state is None:
            return None
        return {"background": canvas_image(session.photo), "layers": [], "composite": None}

    def strokes_update(session: EditSession) -> dict[Any, Any]:
        labels = stroke_labels(session)
        on = [lab for lab, s in zip(labels, session.strokes) if s.stroke.enabled]
        return {stroke_list: gr.update(choices=labels, value=on),
                delete_choice: gr.update(choices=labels, value=labels[-1] if labels else None),
                undo_btn: gr.update(interactive=bool(session.undo_stack))}

    def ready_text(session: EditSession, seconds: float) -> str:
        s = session.state
        w, h = s.photo.size
        notes = "".join(f"<br>· {n}" for n in s.notes)
        return _ok(f"**{session.photo_name}** ({w}×{h}) is ready on {session.model} ({seconds:.1f} s). "
                   f"Reconstruction: **{s.recon_psnr_after:.1f} dB PSNR** after adaptation "
                   f"({s.recon_psnr_before:.1f} dB inverted). Paint on it now.{notes}")

    def style_choice(kind_label: str, strength: float, seed: int | None) -> StyleChoice:
        return StyleChoice(kind=STYLE_KINDS.get(kind_label, "dictionary"), seed=seed, strength=float(strength))

    def pending_stroke(editor: Any, session: EditSession, concept: str, action: str, strength: float,
                       style: StyleChoice):
        """The stroke painted on the canvas but not yet added (None if the canvas is blank)."""
        return stroke_from_layers(engine_of(session), session, (editor or {}).get("layers") or [], concept=concept,
                                  action=action, strength=strength, style=style)

    def job_loop(work, progress: gr.Progress):
        """Yield status lines while ``work(callback)`` runs; the last item is ("done", result)."""
        job = run_job(work)
        try:
            for update in job:
                if update.done:
                    yield "done", update.result
                    return
                text = describe_progress(update)
                progress((update.step, update.total) if update.total else None, desc=text)
                yield "progress", f"**Working:** {text} · {update.seconds:.0f} s (Cancel stops it)"
        finally:
            job.close()

    # -- handlers --------------------------------------------------------------------------------
    def on_photo(payload: Any, fit: str, session: EditSession, progress=gr.Progress()):
        found = _path_of(payload)
        if found is None:  # the photo was removed
            new = close_photo(session)
            yield {session_state: new, editor: None, preview: None, slider: None, status: HOW_TO,
                   png_file: gr.update(value=None, interactive=False),
                   json_file: gr.update(value=None, interactive=False), **strokes_update(new)}
            return
        path, name = found
        eng = engine_of(session)
        t0 = time.monotonic()
        try:
            for kind, value in job_loop(lambda cb: open_photo(eng, path, name=name, fit=fit, callback=cb,
                                                              previous=session), progress):
                if kind == "progress":
                    yield {status: value}
                else:
                    new = value
        except GanpaintError as exc:
            keep = " The previous photo stays loaded." if session.state is not None else ""
            yield {status: _problem(f"{exc}.{keep}")}
            return
        yield {session_state: new, editor: editor_value(new), preview: display_image(new.photo), slider: None,
               status: ready_text(new, time.monotonic() - t0), png_file: gr.update(value=None, interactive=False),
               json_file: gr.update(value=None, interactive=False), **strokes_update(new)}

    def on_model(name: str, session: EditSession, progress=gr.Progress()):
        current = session.model or catalog.default_name
        if not name or name == current:
            return
        try:
            eng = None
            for kind, value in job_loop(lambda cb: catalog.engine(name, progress=cb), progress):
                if kind == "progress":
                    yield {status: value}
                else:
                    eng = value
            new = EditSession(model=name)
            if session.state is not None:
                for kind, value in job_loop(lambda cb: reprepare(eng, session, callback=cb), progress):
                    if kind == "progress":
                        yield {status: value}
                    else:
                        new = value
        except GanpaintError as exc:
            yield {status: _problem(f"{exc}\n\nStaying on **{current}**."), model_choice: current}
            return
        names = eng.concepts.names()
        concept = names[0]
        text = (_ok(f"Switched to **{name}** ({eng.resolution}px). Your photo was set up again; its strokes were "
                    "cleared (they belong to the other model).") if new.state is not None
                else _ok(f"Switched to **{name}** ({eng.resolution}px). Upload a photo."))
        yield {session_state: new, concept_choice: gr.update(choices=names, value=concept), status: text,
               editor: editor_value(new), preview: display_image(new.photo) if new.state is not None else None,
               slider: None, gallery: gallery_items(name, concept), style_seed: None,
               style_kind: "Default look", **strokes_update(new)}

    def gallery_items(model: str, concept: str) -> list[tuple[np.ndarray, str]]:
        return [(upscale(img, 128), f"#{seed}") for seed, img in catalog.concept_samples(model, concept)]

    def on_concept(concept: str, session: EditSession):
        return {gallery: gallery_items(session.model or catalog.default_name, concept), style_seed: None}

    def on_gallery_select(concept: str, session: EditSession, evt: gr.SelectData):
        samples = catalog.concept_samples(session.model or catalog.default_name, concept)
        seed = samples[evt.index][0]
        return {style_seed: seed, style_kind: "Generated sample"}

    def on_reference(payload: Any, session: EditSession):
        found = _path_of(payload)
        if found is None:
            return {session_state: clear_reference(session), style_kind: "Default look"}
        try:
            new = set_reference(engine_of(session), session, found[0], name=found[1])
        except GanpaintError as exc:
            return {status: _problem(str(exc))}
        return {session_state: new, style_kind: "My reference",
                status: _ok(f"Style reference **{new.reference_name}** loaded: added concepts copy its look.")}

    def on_paint(editor_v, concept, action, strength, kind, style_strength, seed, session: EditSession):
        if session.state is None:
            return {}
        try:
            pending, session = pending_stroke(editor_v, session, concept, action, strength,
                                              style_choice(kind, style_strength, seed))
            result = render(engine_of(session), session, pending=pending, final=False)
        except GanpaintError as exc:
            return {status: _problem(str(exc))}
        what = f"{action} **{concept}** under the paint (not added yet)" if pending else "no stroke on the canvas"
        return {preview: preview_image(session, result), session_state: session,
                paint_info: f"Preview: {what} · {len(session.strokes)} stroke(s) kept · "
                            f"{result.timings['tail_s'] * 1000:.0f} ms"}

    def on_add(editor_v, concept, action, strength, kind, style_strength, seed, session: EditSession):
        try:
            pending, session = pending_stroke(editor_v, session, concept, action, strength,
                                              style_choice(kind, style_strength, seed))
            if pending is None:
                raise GanpaintError("the canvas is empty: paint over the part of the photo to change first"
                                    if session.state is not None else
                                    "no photo yet: upload a photo (or pick an example) first")
            session = add_stroke(session, pending)
            result = render(engine_of(session), session, final=False)
        except GanpaintError as exc:
            return {status: _problem(str(exc))}
        n = len(session.strokes)
        return {session_state: session, editor: editor_value(session), preview: preview_image(session, result),
                paint_info: f"Canvas cleared · {n} stroke(s) kept",
                status: _ok(f"Stroke {n} added: {action} {concept}. Paint the next one, or render full resolution."),
                **strokes_update(session)}

    def on_render(editor_v, concept, action, strength, kind, style_strength, seed, session: EditSession):
        out: dict[Any, Any] = {}
        try:
            pending, session = pending_stroke(editor_v, session, concept, action, strength,
                                              style_choice(kind, style_strength, seed))
            if pending is not None:
                session = add_stroke(session, pending)
                out.update({editor: editor_value(session), **strokes_update(session),
                            paint_info: f"Canvas cleared · {len(session.strokes)} stroke(s) kept"})
            eng = engine_of(session)
            result = render(eng, session, final=True)
        except GanpaintError as exc:
            return {status: _problem(str(exc))}
        t0 = time.monotonic()
        _prune(out_dir)
        folder = Path(tempfile.mkdtemp(dir=out_dir))
        png = folder / f"{session.photo_name}-ganpaint.png"
        Image.fromarray(result.final).save(png)
        record = sidecar(eng, session, result, extra_timings={"save_png_s": time.monotonic() - t0})
        side = folder / f"{session.photo_name}-ganpaint.json"
        side.write_text(json.dumps(record, indent=1) + "\n")
        before, after = session.photo.original, result.final
        h, w = after.shape[:2]
        if max(h, w) > SLIDER_SIDE:
            size = (round(w * SLIDER_SIDE / max(h, w)), round(h * SLIDER_SIDE / max(h, w)))
            before = np.asarray(Image.fromarray(before).resize(size, Image.Resampling.BOX))
            after = np.asarray(Image.fromarray(after).resize(size, Image.Resampling.BOX))
        active = sum(1 for s in session.strokes if s.stroke.enabled)
        notes = "".join(f"<br>· {n}" for n in result.notes)
        out.update({session_state: session, slider: (before, after), preview: preview_image(session, result),
                    png_file: gr.update(value=str(png), interactive=True),
                    json_file: gr.update(value=str(side), interactive=True),
                    status: _ok(f"Rendered {w}×{h} with {active} active stroke(s) in "
                                f"{sum(result.timings.values()):.2f} s. Drag the slider to compare; download "
                                f"below.{notes}")})
        return out

    def stroke_op(op):
        """A handler for a stroke-list change: ``op(*inputs, session)`` -> the new session, then a preview."""
        def handler(*args: Any):
            *values, session = args
            try:
                new = op(*values, session)
                result = render(engine_of(new), new, final=False)
            except GanpaintError as exc:
                return {status: _problem(str(exc))}
            return {session_state: new, preview: preview_image(new, result), **strokes_update(new)}
        return handler

    def toggle(selected: list[str], session: EditSession) -> EditSession:
        return set_enabled(session, [lab in (selected or []) for lab in stroke_labels(session)])

    def delete(label: str | None, session: EditSession) -> EditSession:
        labels = stroke_labels(session)
        if label not in labels:
            raise GanpaintError("pick a stroke to delete in the list first")
        return delete_stroke(session, labels.index(label))

    def api_edit(image: Any, mask: Any, concept: str, action: str = "add", strength: float = 0.75,
                 style: Any = None, style_strength: float = 0.75) -> np.ndarray:
        """Edit one photo start to finish: returns the edited photo at the input's size (PNG)."""
        img, msk, ref = _path_of(image), _path_of(mask), _path_of(style)
        if img is None or msk is None:
            raise gr.Error("give both an image and a mask image (white or opaque where to edit)")
        try:
            final, _ = edit_photo(engine, img[0], msk[0], concept=str(concept), action=str(action),
                                  strength=float(strength), style=ref[0] if ref else None,
                                  style_strength=float(style_strength))
        except GanpaintError as exc:
            raise gr.Error(str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise gr.Error(f"bad parameter: {exc}") from None
        return final

    # -- layout ----------------------------------------------------------------------------------
    with gr.Blocks(title="GANPaint", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        session_state = gr.State(EditSession(model=catalog.default_name))
        style_seed = gr.State(None)
        with gr.Row(equal_height=True):
            gr.Markdown(INTRO, elem_id="intro")
            with gr.Column(scale=0, min_width=300):
                model_choice = gr.Dropdown(_model_choices(engine), value=catalog.default_name, label="Model",
                                           info="availability: bundled / local / cached / downloadable / missing")
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
        model_evt = model_choice.change(on_model, [model_choice, session_state],
                                        [session_state, concept_choice, status, editor, preview, slider, gallery,
                                         style_seed, style_kind, model_choice, *stroke_outputs],
                                        api_name="switch_model", api_visibility="undocumented", concurrency_id="setup",
                                        show_progress_on=[editor])
        ref_evt = reference.change(on_reference, [reference, session_state], [session_state, style_kind, status],
                                   preprocess=False, api_visibility="private", concurrency_id="setup")
        cancel_btn.click(lambda: _problem("Cancelled. Whatever was loaded before stays loaded."), None, status,
                         cancels=[photo_evt, fit_evt, model_evt, ref_evt], queue=False, api_visibility="private")

        preview_outputs = [preview, session_state, paint_info, status]
        # One listener for every trigger: with "always_last" a tab has at most one preview running and one
        # waiting, so previews never arrive out of order (separate listeners could overtake each other).
        gr.on([editor.change, concept_choice.change, action_choice.change, strength.release, style_kind.change,
               style_strength.release], on_paint, paint_inputs, preview_outputs, trigger_mode="always_last",
              show_progress="hidden", api_visibility="private", concurrency_id="edit", concurrency_limit=4)
        concept_choice.change(on_concept, [concept_choice, session_state], [gallery, style_seed],
                              api_visibility="private", show_progress="hidden")
        # Filled after the page is up (generating and segmenting the sample pool takes a moment, once per concept).
        demo.load(on_concept, [concept_choice, session_state], [gallery, style_seed], api_visibility="private",
                  show_progress="hidden")
        gallery.select(on_gallery_select, [concept_choice, session_state], [style_seed, style_kind],
                       api_visibility="private")
        add_btn.click(on_add, paint_inputs, [session_state, editor, preview, status, *stroke_outputs, paint_info],
                      api_name="add_stroke", api_visibility="undocumented", concurrency_id="edit")
        clear_btn.click(lambda s: editor_value(s), [session_state], [editor], api_visibility="private")
        render_btn.click(on_render, paint_inputs,
                         [session_state, editor, preview, slider, status, png_file, json_file, *stroke_outputs,
                          paint_info], api_name="render", api_visibility="undocumented", concurrency_id="edit")
        list_outputs = [session_state, preview, status, *stroke_outputs]
        stroke_list.input(stroke_op(toggle), [stroke_list, session_state], list_outputs, api_visibility="private")
        delete_btn.click(stroke_op(delete), [delete_choice, session_state], list_outputs, api_visibility="private")
        undo_btn.click(stroke_op(undo), [session_state], list_outputs, api_name="undo", api_visibility="undocumented")
        clear_all_btn.click(stroke_op(clear_strokes), [session_state], list_outputs, api_visibility="private")
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
