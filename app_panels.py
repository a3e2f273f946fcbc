"""The page's panels beside and under the simple path (``app.py`` lays out the photo, the canvas and the result):
the kept strokes under the result (``stroke_panel``), and every other tool in a closed panel, one click away,
each panel's label the one line that says what is inside (``tool_panels``, ``PANELS``); the transformation,
painting from nothing and one segment's edits in ``other_mode_panels``.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from ganpaint_core.page.controls import CONTROLS as K
from ganpaint_core.page.page import EditPage
from ganpaint_core.page.text import PANELS, RECORD_NOTE


def stroke_panel(c: dict[str, Any]) -> None:
    """Lay out the kept strokes (under the result): the list, each switched on or off; the selected stroke, with
    Delete, Undo, Clear all; and its own settings, changed in place (shown where it has them)."""
    c["strokes"] = gr.CheckboxGroup(**K["strokes"])
    with gr.Row(equal_height=True):
        c["delete_choice"] = gr.Dropdown(**K["delete_choice"])
        with gr.Column(scale=1, min_width=110):
            c.update(delete=gr.Button(**K["delete"]), undo=gr.Button(**K["undo"]),
                     clear_all=gr.Button(**K["clear_all"]))
    with gr.Row(equal_height=True):
        c.update(stroke_strength=gr.Slider(**K["stroke_strength"]),
                 stroke_style_strength=gr.Slider(**K["stroke_style_strength"]))


# The closed panels' labels are the page's table of contents: set close together (a compact label row, a small
# gap), so the whole list stays on a laptop's screen below the simple path (issue 27: landing page ≤ 1,600 px).
COMPACT_PANELS = ("#tools {gap: 6px !important}"
                  " #tools > .gr-accordion.padded, #how-it-works.padded {padding: 6px 12px !important}")


def tool_panels(c: dict[str, Any], page: EditPage) -> None:
    """Lay out the closed panels, close together, adding their components to ``c`` by name."""
    with gr.Column(elem_id="tools"):
        gr.HTML(f"<style>{COMPACT_PANELS}</style>", padding=False)
        _panels(c, page)


def _panels(c: dict[str, Any], page: EditPage) -> None:
    models = page.model_choices()
    with gr.Accordion(PANELS["brushes"], open=False, elem_id="brushes"):
        c["mode"] = gr.Radio(**K["mode"])
    with gr.Accordion(PANELS["style"], open=False, elem_id="style"):
        c.update(style_kind=gr.Radio(**K["style_kind"]), gallery=gr.Gallery(**K["gallery"]),
                 reference=gr.Image(**K["reference"]), style_strength=gr.Slider(**K["style_strength"]))
    with gr.Accordion(PANELS["directions"], open=False, elem_id="directions"):
        with gr.Row(equal_height=True):
            c.update(direction=gr.Dropdown(**K["direction"]), find_dirs=gr.Button(**K["find_dirs"]))
        c["amount"] = gr.Slider(**K["amount"])
        with gr.Row(equal_height=True):
            c.update(where=gr.Radio(**K["where"]), add_dir=gr.Button(**K["add_dir"]))
    with gr.Accordion(PANELS["photo_options"], open=False, elem_id="photo-options"):
        c.update(fit=gr.Radio(**K["fit"]), invert=gr.Radio(**K["invert"]))
    with gr.Accordion(PANELS["recipes"], open=False, elem_id="recipes"):
        gr.Markdown(RECORD_NOTE)
        with gr.Row(equal_height=False):
            c.update(record=gr.DownloadButton(**K["record"]), bundle=gr.DownloadButton(**K["bundle"]))
        c["recipe"] = gr.File(**K["recipe"])
    with gr.Accordion(PANELS["compare"], open=False, elem_id="compare-panel"):
        with gr.Row(equal_height=True):
            c.update(compare_strengths=gr.Textbox(**K["compare_strengths"]),
                     compare_adapt=gr.Checkbox(**K["compare_adapt"]),
                     compare_models=gr.Checkbox(**K["compare_models"]), compare_button=gr.Button(**K["compare_button"]))
        c["compare"] = gr.Image(**K["compare"])
    with gr.Accordion(PANELS["units"], open=False, elem_id="units-panel"):
        with gr.Row():
            c.update(units_button=gr.Button(**K["units_button"]), select_button=gr.Button(**K["select_button"]))
        with gr.Row():
            c.update(units=gr.Image(**K["units"]), segmentation=gr.Image(**K["segmentation"]))
    other_mode_panels(c)
    with gr.Accordion(PANELS["settings"], open=False, elem_id="settings"):
        with gr.Row(equal_height=True):
            host = {"info": models.info} if models.info else {}  # the host's start model, and why
            c["model"] = gr.Dropdown(list(models.options), value=models.value, **K["model"] | host)
            c["dissect"] = gr.Button(**K["dissect"])
        c["preparation"] = gr.Markdown(page.preparation_status(), elem_id="preparation")
        with gr.Row(equal_height=False):
            c.update(concept_name=gr.Textbox(**K["concept_name"]), add_concept=gr.Button(**K["add_concept"]))


def other_mode_panels(c: dict[str, Any]) -> None:
    """Photo to photo, from nothing, one segment: closed panels, their components added to ``c`` by name."""
    with gr.Accordion(PANELS["transform"], open=False, elem_id="transform-panel"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=200):
                c.update(transform_photo=gr.Image(**K["transform_photo"]), frames=gr.Slider(**K["frames"]),
                         transform_button=gr.Button(**K["transform_button"]))
            c["transform"] = gr.Image(**K["transform"])
        c["transform_strip"] = gr.Image(**K["transform_strip"])
    with gr.Accordion(PANELS["scratch"], open=False, elem_id="scratch-panel"):
        with gr.Row(equal_height=True):
            c.update(scratch_start=gr.Radio(**K["scratch_start"]), scratch_seed=gr.Number(**K["scratch_seed"]))
        with gr.Row(equal_height=True):
            c.update(start_nothing=gr.Button(**K["start_nothing"]), make_from_paint=gr.Button(**K["make_from_paint"]))
    with gr.Accordion(PANELS["segment"], open=False, elem_id="segment-panel"):
        with gr.Row(equal_height=False):
            c["segment_map"] = gr.Image(**K["segment_map"])
            with gr.Column(scale=1, min_width=200):
                c.update(show_segments=gr.Button(**K["show_segments"]), segment=gr.Dropdown(**K["segment"]),
                         add_to_segment=gr.Button(**K["add_to_segment"]))
