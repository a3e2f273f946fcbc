"""What the page says: progress lines for each stage of long work, the how-to, problem and ready lines.

Kept beside the page (``page.py``) so that wording changes in one place, without touching the library.
"""
from __future__ import annotations

from ganpaint_core.edit.engine import PhotoState
from ganpaint_core.page.jobs import JobUpdate

HOW_TO = ("**1** Upload a photo or pick an example. **2** Paint on it, choose a concept and *add* or *remove*: the "
          "preview follows. **Add stroke** keeps it and clears the canvas for the next one. Or pick the *colour* or "
          "*sketch* brush, paint, **Find candidates** and click one; or move the photo along a *latent direction*. "
          "**3** *Render full resolution* for the PNG and its JSON record.")
INTRO = """# GANPaint
Paint where a concept should **appear** or **disappear**, and a GAN redraws that part of your photo. The photo is
inverted into the GAN and the generator adapted to it once (15–30 s on a 2-core CPU; a photo set up before is
reused); each stroke then re-renders in one pass, and only the painted area (slightly grown) is pasted back into
your full-size photo. Or paint colours or sketch lines (the colour / sketch brush), or move the whole photo along
a latent direction."""
# The editor has no upload area of its own (photos come in on the left), so gradio never shows its placeholder:
# its label says what to do while it is empty.
EDITOR_LABEL = "2 · Paint where to edit"
EDITOR_EMPTY_LABEL = "2 · Paint where to edit (upload a photo on the left first)"
RECORD_NOTE = ("The JSON records the model and its weights' sha256, every stroke (mask, concept, strength, style; a "
               "brush's paint and pick; a direction and its amount), the parameters and timings; it is also a recipe "
               "for the CLI. Scripts: the `/edit`, `/edit_recipe` and `/brush_candidates` endpoints (see *Use via "
               "API* below).")
STAGE_NAMES = {"invert": "Inverting the photo into the GAN", "adapt": "Adapting the generator to the photo",
               "directions": "Finding the model's latent directions (once per model, then cached)"}
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
    text = STAGE_NAMES.get(stage, "Working") if stage else "Starting"
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
    eta = f", about {left:.0f} s left in this stage" if left is not None and update.info.get("stage") else ""
    return f"**Working:** {describe_progress(update)} · {update.seconds:.0f} s{eta} (Cancel stops it)"


def ready_text(name: str, model: str, state: PhotoState, seconds: float) -> str:
    """The status line once a photo is set up."""
    w, h = state.photo.size
    notes = "".join(f"<br>· {n}" for n in state.notes)
    return (f"**{name}** ({w}×{h}) is ready on {model} ({seconds:.1f} s). "
            f"Reconstruction: **{state.recon_psnr_after:.1f} dB PSNR** after adaptation "
            f"({state.recon_psnr_before:.1f} dB inverted). Paint on it now.{notes}")
