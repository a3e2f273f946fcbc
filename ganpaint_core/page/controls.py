"""The page's controls as data: per component its label, help line, choices or range, and ``elem_id`` — what
users read, and what the tests, the browser checks and docs/api.md address. ``app.py`` picks each one's gradio
type and places it (``gr.Slider(**CONTROLS["strength"])``); the wording changes here, without gradio.
"""
from __future__ import annotations

from typing import Any

from ganpaint_core.page.values import BRUSH_MODES, DIRECTION_WHERE, STROKE_DEFAULTS, STYLE_KINDS

_IMAGE_OUT = {"format": "png", "interactive": False, "buttons": []}  # a picture the page shows, not an input

CONTROLS: dict[str, dict[str, Any]] = {
    # the model
    "model": {"label": "Model", "info": "availability: bundled / local / cached / downloadable / missing",
              "elem_id": "model"},
    "concept_name": {"label": "Add a concept by name", "placeholder": "statue (several: statue, cloud)",
                     "elem_id": "concept-name", "scale": 3,
                     "info": "measured on this model once (minutes on a CPU), then in the Concept list"},
    "add_concept": {"value": "Add concept", "elem_id": "add-concept", "scale": 1},
    "dissect": {"value": "Dissect", "visible": False, "size": "sm", "variant": "primary", "elem_id": "dissect"},
    # 1 · the photo
    "photo": {"label": "1 · Your photo", "type": "filepath", "sources": ["upload", "clipboard"], "height": 220,
              "buttons": [], "elem_id": "photo"},
    "fit": {"choices": ["crop", "pad"], "value": "crop", "label": "Fit to the model's square", "elem_id": "fit",
            "info": "crop: edit the centre square; pad: the whole photo, at lower detail"},
    "invert": {"choices": ["single", "segments"], "value": "single", "label": "Inversion", "elem_id": "invert",
               "info": "segments: the photo found part by part; closer to it, slower to open"},
    "cancel": {"value": "Cancel", "size": "sm", "variant": "secondary", "elem_id": "cancel"},
    # 2 · painting: the concept, or a colour / sketch brush's candidates and the morph to the picked one
    "mode": {"choices": list(BRUSH_MODES), "value": "Concept", "label": "Brush", "elem_id": "brush-mode",
             "info": "concept: where a concept changes · colour: colours to match · sketch: edges · "
                     "warp: paint what moves (cyan), then a dot where it goes (red)"},
    "concept": {"label": "Concept", "elem_id": "concept"},
    "action": {"choices": ["add", "remove"], "value": "add", "label": "Add or remove", "elem_id": "action"},
    "strength": {"minimum": 0, "maximum": 1, "value": STROKE_DEFAULTS["strength"], "step": 0.05,
                 "label": "Strength", "elem_id": "strength",
                 "info": f"each new stroke starts at {STROKE_DEFAULTS['strength']}; a kept stroke keeps its own "
                         "(select it under the strokes to change it)"},
    "morph": {"minimum": 0, "maximum": 1, "value": 1, "step": 0.05, "elem_id": "morph", "scale": 3,
              "label": "Morph: your photo (0) → the candidate (1)"},
    "count": {"minimum": 1, "maximum": 16, "value": 4, "step": 1, "label": "How many", "elem_id": "candidate-count",
              "scale": 1},
    "find": {"value": "Find candidates", "variant": "primary", "elem_id": "find-candidates", "scale": 1},
    "candidates": {"value": None, "columns": 4, "height": 420, "allow_preview": True, "elem_id": "candidates",
                   "object_fit": "contain",
                   "label": "Candidates, best first, each with how far it is from your paint (off: colour error; "
                            "edges: lines drawn; px: the warp's handle to its target) and from your photo (Δ: the "
                            "mean change where you painted, 0-255); click one to use it (and see it large)"},
    "add": {"value": "Add stroke", "variant": "secondary", "elem_id": "add-stroke"},
    "clear": {"value": "Clear canvas", "variant": "secondary"},
    # the style of what is added
    "style_kind": {"choices": list(STYLE_KINDS), "value": "Default look", "label": "Look",
                   "info": "a generated sample rich in the concept, or your own reference"},
    "gallery": {"value": None, "columns": 6, "height": 150, "allow_preview": False, "elem_id": "style-gallery",
                "label": "Samples rich in the concept (click one)"},
    "reference": {"label": "My reference", "type": "filepath", "height": 160, "elem_id": "reference",
                  "sources": ["upload", "clipboard"]},
    "style_strength": {"minimum": 0, "maximum": 1, "value": STROKE_DEFAULTS["style_strength"], "step": 0.05,
                       "label": "Style strength", "elem_id": "style-strength",
                       "info": f"each new stroke starts at {STROKE_DEFAULTS['style_strength']}"},
    # latent directions
    "direction": {"choices": [], "label": "Direction", "elem_id": "direction", "scale": 3},
    "find_dirs": {"value": "Find directions", "elem_id": "find-directions", "scale": 1},
    "amount": {"minimum": -3, "maximum": 3, "value": 1.5, "step": 0.1, "label": "Amount (standard deviations)",
               "elem_id": "amount"},
    "where": {"choices": list(DIRECTION_WHERE), "value": "Whole photo", "label": "Where", "elem_id": "direction-where",
              "info": "under the mask: paint it on the canvas, then move Amount to preview"},
    "add_dir": {"value": "Add direction", "elem_id": "add-direction"},
    # 3 · preview and strokes
    "preview": {"label": "3 · Preview (follows your paint)", "interactive": False, "buttons": [],
                "elem_id": "preview", "height": 210},
    "paint_info": {"value": "", "elem_id": "paint-info"},
    "fit_note": {"value": "", "elem_id": "fit-note"},
    "strokes": {"choices": [], "label": "Strokes kept, each with its own strength and look (untick to switch one "
                                      "off)", "elem_id": "strokes"},
    "delete_choice": {"choices": [], "label": "Selected stroke", "scale": 3, "elem_id": "delete-choice",
                      "info": "pick one to change its own strength below, or to delete it"},
    # the selected stroke's own settings (kinds.SETTINGS), shown only where it has them; the label names the stroke.
    # No reset button: it would set the stroke to the slider's first value, not to the stroke's own (Undo does that).
    "stroke_strength": {"minimum": 0, "maximum": 1, "step": 0.05, "label": "The selected stroke's strength",
                        "elem_id": "stroke-strength", "visible": False, "buttons": [],
                        "info": "changes this stroke only; new strokes take the Strength above"},
    "stroke_style_strength": {"minimum": 0, "maximum": 1, "step": 0.05, "label": "The selected stroke's look",
                              "elem_id": "stroke-style-strength", "visible": False, "buttons": [],
                              "info": "how strongly this stroke copies its sample's or reference's look"},
    "delete": {"value": "Delete", "size": "sm"},
    "undo": {"value": "Undo", "size": "sm", "interactive": False},
    "clear_all": {"value": "Clear all", "size": "sm"},
    "render": {"value": "Render full size", "variant": "primary", "elem_id": "render", "scale": 2, "min_width": 150},
    # 4 · the result
    "slider": {"label": "4 · Result: before / after (drag)", "format": "png", "type": "numpy", "elem_id": "result",
               "max_height": 240},
    "outline": {"value": False, "label": "Outline what changed", "elem_id": "outline",
                "info": "every pixel the edit touched, inside the line"},
    "png": {"label": "Download PNG", "interactive": False, "elem_id": "download-png", "size": "sm",
            "min_width": 90},
    "record": {"label": "JSON record", "interactive": False, "elem_id": "download-json", "size": "sm"},
    # share · compare · see the units (issue 18)
    "share_button": {"value": "Share", "variant": "secondary", "elem_id": "share", "size": "sm", "min_width": 70},
    "share": {"value": "", "elem_id": "share-link"},
    "bundle": {"label": "Download the edit (JSON with the photo)", "interactive": False, "elem_id": "download-share"},
    "recipe": {"label": "Open a recipe: a downloaded JSON (with its photo: the edit as it was; without: its strokes "
                        "on your photo)", "file_types": [".json"], "type": "filepath", "elem_id": "open-recipe",
               "height": 150},
    "compare_strengths": {"value": "0.25, 0.5, 0.75, 1", "label": "Strengths to compare",
                          "elem_id": "compare-strengths"},
    "compare_adapt": {"value": True, "label": "with and without adaptation"},
    "compare_models": {"value": False, "label": "on every loaded model that has the concepts"},
    "compare_button": {"value": "Compare the kept strokes", "elem_id": "compare"},
    "units_button": {"value": "See the concept's units", "elem_id": "see-units"},
    "select_button": {"value": "Select the concept where the segmenter sees it", "elem_id": "select"},
    # no label badge on the grid: it would cover the first cell's label
    "compare": {"label": "Comparison", "show_label": False, "elem_id": "compare-grid", **_IMAGE_OUT},
    "units": {"label": "Top units over the inverted photo", "height": 260, "elem_id": "units", **_IMAGE_OUT},
    "segmentation": {"label": "Segmenter's map of the render", "height": 260, "elem_id": "segmentation", **_IMAGE_OUT},
    # photo to photo, from nothing, one segment (the advanced panels of issue 28)
    "transform_photo": {"label": "The other photo", "type": "filepath", "sources": ["upload", "clipboard"],
                        "height": 160, "buttons": [], "elem_id": "transform-photo"},
    "frames": {"minimum": 2, "maximum": 16, "step": 1, "value": 8, "label": "Frames", "elem_id": "frames",
               "info": "from your photo's reconstruction to the other's, both included"},
    "transform_button": {"value": "Transform", "variant": "primary", "elem_id": "transform-button"},
    "transform": {"label": "Your photo → the other (animation)", "type": "filepath", "interactive": False,
                  "buttons": [], "height": 256, "elem_id": "transform"},
    "transform_strip": {"label": "The frames side by side", "type": "filepath", "interactive": False, "buttons": [],
                        "elem_id": "transform-strip"},
    "scratch_start": {"choices": ["sample", "blank"], "value": "sample", "label": "Start from",
                      "info": "sample: a random image of the model (by number); blank: its average image",
                      "elem_id": "scratch-start"},
    "scratch_seed": {"value": 0, "precision": 0, "minimum": 0, "label": "Sample number", "elem_id": "scratch-seed"},
    "start_nothing": {"value": "Start from nothing", "elem_id": "start-nothing"},
    "make_from_paint": {"value": "Make it from the paint", "variant": "primary", "elem_id": "make-from-paint"},
    "show_segments": {"value": "Show segments", "elem_id": "show-segments"},
    "segment_map": {"label": "The photo's segments (click one)", "height": 256, "elem_id": "segment-map", **_IMAGE_OUT},
    "segment": {"choices": [], "label": "Segment", "allow_custom_value": False, "elem_id": "segment"},
    "add_to_segment": {"value": "Add to this segment", "variant": "primary", "elem_id": "add-to-segment"},
}
