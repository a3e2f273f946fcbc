"""What the page says: progress lines for each stage of long work, the how-to, problem and ready lines.

Kept beside the page (``page.py``) so that wording changes in one place, without touching the library.
"""
from __future__ import annotations

from ganpaint_core.edit.engine import PhotoState
from ganpaint_core.page.jobs import JobUpdate

HOW_TO = "Upload a photo to start (or pick an example below it)."
INTRO = """# GANPaint
Paint over part of your photo, pick what should **appear** there or **go** (trees, grass, a dome, sky…) and the
result redraws just that part, in the style of the photo. **Render** for the full-size PNG; **Share** for a link."""
# The method, for whoever asks: in the page's closed "How it works" panel (and the README).
HOW_IT_WORKS = """When a photo is opened, the page finds the picture in a generative model (a GAN) that comes closest
to it, then fine-tunes a copy of that model until it redraws your photo faithfully. A quick fit comes first (about a
second on a small CPU; you can paint at once), the full fit follows in the background (about 5 s) and the preview
switches to it by itself; a photo opened before is reused. Each concept is a set of the model's internal units
that draw it (found once per model by *dissection*); a stroke switches those units on (add) or off (remove) under
the paint and the model redraws the photo in one pass. Only the painted area, slightly grown, is pasted back into
your full-size photo: the rest stays pixel for pixel. The colour and sketch brushes search for versions of the
photo that match your paint; directions move the whole photo (or the painted part) along a change the model
learned (more sky, older stone…)."""
# The editor has no upload area of its own (photos come in on the left): its label and placeholder say what to do
# while it is empty, instead of gradio's "select the draw tool to start".
EDITOR_LABEL = "2 · Paint over what to change"
EDITOR_EMPTY_LABEL = "2 · Upload a photo to start"  # short: the editor's tools cover a long label
EDITOR_PLACEHOLDER = "Upload a photo to start: on the left, or pick an example"
RECORD_NOTE = ("The JSON record holds the model and its weights' sha256, every stroke (where, what, how strong, its "
               "look), the settings and timings; open it below to edit the same way again, or give it to the CLI. "
               "Scripts: the `/edit`, `/edit_recipe` and `/brush_candidates` endpoints (see *Use via API* below).")
STAGE_NAMES = {"invert": "Finding your photo in the model", "adapt": "Fitting the model to your photo",
               "directions": "Finding the ways the whole photo can change (once per model, then kept)",
               "load": "Loading the model", "open": "Opening your photo", "start": "Starting",
               "measure": "Measuring the new concept on the model's own pictures",
               "queued": "Waiting for another large photo to finish (one at a time)"}
DISSECT_STAGES = ("concept", "sample", "iou", "causal", "ace-add", "ace-remove")  # dissect_run's stages


def problem(text: str) -> str:
    return f"**Problem:** {text}"


def describe_progress(update: JobUpdate) -> str:
    """One line for a progress bar: the stage, its step, and the reconstruction PSNR when known."""
    info = update.info
    stage = info.get("stage")
    if stage is None and "file" in info:
        total = f" of {update.total / 1e6:.1f} MB" if update.total else ""
        return f"Downloading {info['file']}: {update.step / 1e6:.1f} MB{total}"
    if stage in DISSECT_STAGES:
        return _dissect_line(stage, info.get("concept")) + (f" ({update.step}/{update.total})" if update.total else "")
    text = STAGE_NAMES.get(stage, str(stage).capitalize()) if stage else "Starting"
    if update.total:
        text += f" ({update.step}/{update.total})"
    if "psnr" in info:
        text += f", PSNR {float(info['psnr']):.1f} dB"
    return text


def _dissect_line(stage: str, concept: str | None) -> str:
    if stage in ("sample", "iou"):
        return "Dissecting: measuring every unit on generated samples"
    if stage == "ace-add":
        return f"Dissecting: units that draw {concept}"
    if stage == "ace-remove":
        return f"Dissecting: units that erase {concept}"
    if stage == "causal":
        return f"Dissecting: verifying {concept}'s units"
    return f"Dissecting: {concept}" if concept else "Dissecting: writing the dictionary"


def progress_line(update: JobUpdate) -> str:
    left = update.seconds_left()
    eta = f": about {left:.0f} s left in this stage" if left is not None and update.info.get("stage") else ""
    return f"**Working:** {describe_progress(update)}{eta} · {update.seconds:.0f} s so far (Cancel stops it)"


def ready_text(name: str, model: str, state: PhotoState, seconds: float) -> str:
    """The status line once a photo is set up (on its quick fit: the full fit follows)."""
    w, h = state.photo.size
    # the method's own notes (LPIPS offline) are for records and the CLI, not for someone editing a photo
    notes = "".join(f"<br>· {n}" for n in state.notes if not n.startswith("LPIPS unavailable"))
    fit = ("on a quick fit", "; the full fit follows by itself") if state.fit == "quick" else ("once fitted", "")
    return (f"**{name}** ({w}×{h}) is ready on {model} ({seconds:.1f} s): the model redraws it at "
            f"**{state.recon_psnr_after:.1f} dB PSNR** {fit[0]} ({state.recon_psnr_before:.1f} dB before{fit[1]}). "
            f"Now paint over what to change.{notes}")


FIT_STAGES = {"invert": "finding the photo", "adapt": "fitting its details"}  # a setup's stages, as the fit line says


def fit_line(state: PhotoState | None, update: JobUpdate | None = None) -> str:
    """The line under the preview that says which fit it shows: the quick fit (with the full fit's progress,
    ``update``; None: it is not being made) or the full fit."""
    if state is None:
        return ""
    if state.fit == "full":
        return f"Full fit ({state.recon_psnr_after:.1f} dB)"
    if update is None:
        return f"Quick fit ({state.recon_psnr_after:.1f} dB) · full fit stopped: Render or Share makes it first"
    stage = FIT_STAGES.get(update.info.get("stage", ""))  # steps are counted per stage: name the stage
    done = f": {' '.join(filter(None, (stage, f'{update.step}/{update.total}')))}" if update.total else ""
    return f"Quick fit ({state.recon_psnr_after:.1f} dB) · full fit in the background{done}"  # one short line


# The closed panels under the simple path: each label is the one line that says what is inside.
PANELS = {
    "brushes": "Colour and sketch brushes: paint colours or lines, then pick one of the versions found",
    "style": "Look of what is added: a generated sample, or your own reference photo",
    "directions": "Directions: change the whole photo (or the painted part) along a learned change: more sky, …",
    "photo_options": "Photo options: crop or pad to the model's square; find the photo part by part (closer, slower)",
    "recipes": "Records and recipes: the JSON of an edit, with or without its photo; open one to edit again",
    "compare": "Compare: the kept strokes at several strengths, with and without fitting, across models",
    "units": "Inside the model: which units a concept moves, and what the segmenter sees",
    "settings": "Settings: model, preparing a model, adding a concept by name",
    "transform": "Photo to photo: turn your photo into another one, frame by frame along the model's path",
    "scratch": "Start from nothing: paint colours on a blank or a random image; the model makes one that has them",
    "segment": "One segment: with Inversion 'segments', apply a direction or a brush to one part's code only",
}
