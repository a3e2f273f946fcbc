"""One user's editing session, and the shared models it runs on: what the app does, without gradio.

A session is a small, deep-copyable value (the photo's ``PhotoState`` and a stack of strokes, CPU
tensors only). Every operation returns a new session and leaves the old one as it was, so a web app can
keep one per browser tab and a failed step never leaves a half-changed session behind.

Example::

    catalog = EngineCatalog(EditEngine(load_model("synth-church")))
    engine = catalog.engine("synth-church")
    session = open_photo(engine, "church.jpg")                         # invert + adapt, once
    mask = mask_to_square(painted, session.state.photo, engine.resolution)  # any size, the photo's aspect
    stroke, session = make_stroke(engine, session, mask, concept="tree", action="add", strength=0.8)
    session = add_stroke(session, stroke)
    result = render(engine, session, final=True)                       # full-resolution paste-back
    sidecar(engine, session, result)                                   # JSON-ready record of the edit
"""
from __future__ import annotations

import base64
import dataclasses
import io
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from ganpaint_core.edit.engine import EditEngine, PhotoState, RenderResult, paste_back
from ganpaint_core.edit.strokes import EditStroke, StrokeError
from ganpaint_core.errors import GanpaintError
from ganpaint_core.photo import DEFAULT_MAX_PIXELS, Photo, load_mask, load_photo

log = logging.getLogger(__name__)

Callback = Callable[[int, int, dict[str, Any]], None]
StyleKind = Literal["dictionary", "sample", "reference"]

DISPLAY_SIDE = 400  # longer side of the copy shown in the paint canvas (the mask maps back by ratio); about
# the size it is shown at, and the canvas uploads its layers after every stroke, so larger only costs time
UNDO_DEPTH = 30  # stroke-list states kept for undo
MASK_ALPHA_THRESHOLD = 16  # painted alpha (0-255) above which a canvas pixel counts as painted
SAMPLE_SEED_BASE = 1_000_000  # generated samples (gallery, examples) use seeds from here on
STAGE_NAMES = {"invert": "Inverting the photo into the GAN", "adapt": "Adapting the generator to the photo"}


class NotDissected(GanpaintError):
    """The model loads but has no concept dictionary yet: it can be dissected (``EngineCatalog.dissect``)."""

    def __init__(self, model: str) -> None:
        super().__init__(f"{model} has no concept dictionary yet, so it cannot edit: its units have to be dissected "
                         "first (which ones draw trees, domes, …). That runs once; the result is cached.")
        self.model = model


class JobCancelled(BaseException):
    """Raised inside a long job's callback once its caller stopped listening (the user pressed Cancel).

    A ``BaseException`` on purpose: library code that retries on ``Exception`` (one download source after
    another) must let it through, the way it lets ``KeyboardInterrupt`` through.
    """


# -- session values ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StyleChoice:
    """Where an "add" stroke takes its look from."""

    kind: StyleKind = "dictionary"  # the dictionary's levels, a generated sample, or the user's reference
    seed: int | None = None  # the sample's seed (kind == "sample")
    strength: float = 0.75  # in [0, 1]: 0 keeps the dictionary's levels, 1 copies the reference's

    def describe(self) -> str:
        if self.kind == "sample":
            return f"sample #{self.seed} at {self.strength:.2f}"
        if self.kind == "reference":
            return f"your reference at {self.strength:.2f}"
        return "default look"


@dataclass(frozen=True)
class SessionStroke:
    """A stroke in the list, with where its style came from (for the list and the sidecar)."""

    stroke: EditStroke  # the edit itself (mask on the model's square)
    style: StyleChoice = StyleChoice()  # how "add" looks


@dataclass(frozen=True)
class EditSession:
    """Everything one user's tab keeps between requests: small, deep-copyable, CPU only."""

    model: str | None = None  # the model the photo state belongs to
    state: PhotoState | None = None  # inversion + adaptation of the current photo (None: no photo yet)
    photo_name: str = "photo"  # file stem for downloads
    strokes: tuple[SessionStroke, ...] = ()  # the edit, applied in order
    undo_stack: tuple[tuple[SessionStroke, ...], ...] = ()  # earlier stroke lists, newest last
    reference: Photo | None = None  # the user's style reference, reduced to the model's square
    reference_name: str | None = None  # its file stem
    reference_levels: tuple[tuple[str, tuple[float, ...]], ...] = ()  # (concept, its levels at style strength 1)

    @property
    def photo(self) -> Photo:
        if self.state is None:
            raise GanpaintError("no photo yet: upload a photo (or pick an example) first")
        return self.state.photo


def open_photo(engine: EditEngine, source: str | Path | bytes | Image.Image, *, name: str = "photo",
               fit: Literal["crop", "pad"] = "crop", max_pixels: int = DEFAULT_MAX_PIXELS,
               callback: Callback | None = None, previous: EditSession | None = None) -> EditSession:
    """A new session on ``source``: the photo is read (``PhotoError`` if unusable), inverted and adapted.
    A style reference of ``previous`` on the same model is kept."""
    photo = load_photo(source, size=engine.resolution, fit=fit, max_pixels=max_pixels)
    state = engine.prepare(photo, adapt=True, callback=callback)
    model = engine.model.manifest.name
    session = EditSession(model=model, state=state, photo_name=_stem(name))
    if previous is not None and previous.model == model and previous.reference is not None:
        session = dataclasses.replace(session, reference=previous.reference, reference_name=previous.reference_name,
                                      reference_levels=previous.reference_levels)
    return session


def close_photo(session: EditSession) -> EditSession:
    """The session without its photo (and strokes); the model and any style reference stay."""
    return dataclasses.replace(session, state=None, photo_name="photo", strokes=(), undo_stack=())


def reprepare(engine: EditEngine, session: EditSession, *, callback: Callback | None = None) -> EditSession:
    """The same photo on another model: inverted again; strokes and the style reference are dropped
    (they are in the other model's units)."""
    original = session.photo
    photo = load_photo(Image.fromarray(original.original), size=engine.resolution, fit=original.fit)
    state = engine.prepare(photo, adapt=True, callback=callback)
    return EditSession(model=engine.model.manifest.name, state=state, photo_name=session.photo_name)


def _stem(name: str) -> str:
    stem = Path(str(name)).stem or "photo"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60]


# -- masks ------------------------------------------------------------------------------------------
def display_image(photo: Photo, *, side: int = DISPLAY_SIDE) -> np.ndarray:
    """The photo scaled so its longer side is ``side`` (uint8 [h, w, 3]), for the paint canvas."""
    h, w = photo.original.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return photo.original
    resample = Image.Resampling.LANCZOS if scale > 1 else Image.Resampling.BOX
    return np.asarray(Image.fromarray(photo.original).resize(size, resample))


def canvas_image(photo: Photo, *, side: int = DISPLAY_SIDE) -> np.ndarray:
    """The display copy with everything outside the model's square dimmed: where painting does nothing."""
    shown = display_image(photo, side=side).copy()
    h, w = photo.original.shape[:2]
    sy, sx = shown.shape[0] / h, shown.shape[1] / w
    l, t, r, b = photo.box
    L, T, R, B = max(round(l * sx), 0), max(round(t * sy), 0), round(r * sx), round(b * sy)
    outside = np.ones(shown.shape[:2], bool)
    outside[T:B, L:R] = False
    shown[outside] = (shown[outside].astype(np.uint16) * 2 // 5 + 96).astype(np.uint8)  # 40 % photo, grey veil
    return shown


def mask_from_layers(layers: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """Painted canvas layers (RGBA or grey uint8 [h, w(, c)]) -> float [h, w] in {0, 1}; None if none."""
    alpha = None
    for layer in layers:
        if layer is None:
            continue
        a = np.asarray(layer)
        a = a[..., 3] if a.ndim == 3 and a.shape[-1] == 4 else (a.max(-1) if a.ndim == 3 else a)
        alpha = a if alpha is None else np.maximum(alpha, a)
    if alpha is None:
        return None
    return (alpha > MASK_ALPHA_THRESHOLD).astype(np.float32)


def mask_to_square(mask: np.ndarray, photo: Photo, resolution: int) -> np.ndarray:
    """A mask over the photo at any scale (same aspect ratio) -> float [S, S] over the model's square.

    The paint canvas shows a scaled copy, so the photo's square (crop or pad box) is scaled the same way
    instead of blowing the mask up to the full photo (48 MB for 12 MP) first.
    """
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim != 2:
        raise StrokeError(f"mask must be 2-D, got shape {mask.shape}")
    h, w = photo.original.shape[:2]
    mh, mw = mask.shape
    if abs(mw / mh - w / h) > 0.02 * (w / h) + 2 / min(mh, mw):
        raise StrokeError(f"mask is {mw}×{mh} but the photo is {w}×{h} (another shape); paint on this photo's canvas")
    sx, sy = mw / w, mh / h
    l, t, r, b = photo.box
    L, T = round(l * sx), round(t * sy)
    R, B = max(round(r * sx), L + 1), max(round(b * sy), T + 1)
    padded = np.zeros((B - T, R - L), np.float32)
    src = mask[max(T, 0): min(B, mh), max(L, 0): min(R, mw)]
    padded[max(-T, 0): max(-T, 0) + src.shape[0], max(-L, 0): max(-L, 0) + src.shape[1]] = src
    img = Image.fromarray((padded.clip(0, 1) * 255).round().astype(np.uint8))
    img = img.resize((resolution, resolution), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.float32) / 255


# -- strokes ----------------------------------------------------------------------------------------
def set_reference(engine: EditEngine, session: EditSession, source: str | Path | bytes | Image.Image, *,
                  name: str = "reference") -> EditSession:
    """The session with the user's style reference (``PhotoError`` if unusable). Only the model-size square
    is kept; it is analysed per concept when a stroke first needs it."""
    ref = load_photo(source, size=engine.resolution)
    square = ((ref.model_image[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    small = Photo(original=square, model_image=ref.model_image, box=(0, 0, engine.resolution, engine.resolution),
                  fit="crop")
    return dataclasses.replace(session, reference=small, reference_name=_stem(name), reference_levels=())


def clear_reference(session: EditSession) -> EditSession:
    return dataclasses.replace(session, reference=None, reference_name=None, reference_levels=())


def style_levels_for(engine: EditEngine, session: EditSession, concept: str,
                     style: StyleChoice) -> tuple[tuple[float, ...] | None, EditSession]:
    """Insertion levels for ``style`` (None for the dictionary's), and the session with any newly cached
    reference levels: a reference is inverted once per concept, its strength is a linear blend after."""
    if style.kind == "dictionary" or style.strength == 0:
        return None, session
    if style.kind == "sample":
        if style.seed is None:
            raise StrokeError("pick a sample in the style gallery first (or choose the default look)")
        return engine.style_from_sample(style.seed, concept=concept, strength=style.strength), session
    if session.reference is None:
        raise StrokeError("upload a reference image first (or choose the default look)")
    cached = dict(session.reference_levels)
    if concept not in cached:
        cached[concept] = engine.style_from_reference(session.reference, concept=concept, strength=1.0)
        session = dataclasses.replace(session, reference_levels=tuple(cached.items()))
    full = np.asarray(cached[concept], dtype=np.float64)
    default = np.asarray(engine.concepts.levels, dtype=np.float64)
    return tuple(((1 - style.strength) * default + style.strength * full).tolist()), session


def make_stroke(engine: EditEngine, session: EditSession, square_mask: np.ndarray, *, concept: str,
                action: str, strength: float, style: StyleChoice = StyleChoice()) -> tuple[SessionStroke, EditSession]:
    """A validated stroke from a mask on the model's square (``StrokeError`` says what to change), and the
    session with any style analysis it cached."""
    if session.state is None:
        raise GanpaintError("no photo yet: upload a photo (or pick an example) first")
    if float(np.max(square_mask, initial=0)) == 0:
        raise StrokeError("the mask is empty: paint over the part of the photo where the concept should change")
    engine.concepts.ranking(concept)  # unknown concept: says which ones the model knows
    levels = None
    if action == "add":
        levels, session = style_levels_for(engine, session, concept, style)
    stroke = engine.stroke(square_mask, concept=concept, action=action, strength=float(strength), style=levels)
    return SessionStroke(stroke=stroke, style=style if action == "add" else StyleChoice()), session


def stroke_from_layers(engine: EditEngine, session: EditSession, layers: Sequence[np.ndarray | None], *,
                       concept: str, action: str, strength: float,
                       style: StyleChoice = StyleChoice()) -> tuple[SessionStroke | None, EditSession]:
    """The stroke painted on the canvas (its layers at any scale of the photo), or None when nothing is
    painted; ``StrokeError`` when the paint lies wholly outside the square the model sees."""
    mask = mask_from_layers(layers)
    if session.state is None or mask is None or not mask.any():
        return None, session
    square = mask_to_square(mask, session.photo, engine.resolution)
    if not square.any():
        raise StrokeError("the paint is outside the bright square the model sees; paint inside it, or load the "
                          "photo with fit 'pad' to edit all of it")
    return make_stroke(engine, session, square, concept=concept, action=action, strength=strength, style=style)


def _push(session: EditSession, strokes: tuple[SessionStroke, ...]) -> EditSession:
    undo = (session.undo_stack + (session.strokes,))[-UNDO_DEPTH:]
    return dataclasses.replace(session, strokes=strokes, undo_stack=undo)


def add_stroke(session: EditSession, stroke: SessionStroke) -> EditSession:
    return _push(session, session.strokes + (stroke,))


def _check_index(session: EditSession, index: int) -> None:
    if not 0 <= index < len(session.strokes):
        raise StrokeError(f"there is no stroke {index + 1}; the list has {len(session.strokes)}")


def set_enabled(session: EditSession, enabled: Sequence[bool]) -> EditSession:
    """Switch strokes on and off (one flag per stroke, in order)."""
    if len(enabled) != len(session.strokes):
        raise StrokeError(f"got {len(enabled)} on/off flags for {len(session.strokes)} strokes")
    if all(bool(e) == s.stroke.enabled for e, s in zip(enabled, session.strokes)):
        return session
    strokes = tuple(dataclasses.replace(s, stroke=dataclasses.replace(s.stroke, enabled=bool(e)))
                    for s, e in zip(session.strokes, enabled))
    return _push(session, strokes)


def toggle_stroke(session: EditSession, index: int) -> EditSession:
    _check_index(session, index)
    flags = [s.stroke.enabled for s in session.strokes]
    flags[index] = not flags[index]
    return set_enabled(session, flags)


def delete_stroke(session: EditSession, index: int) -> EditSession:
    _check_index(session, index)
    return _push(session, session.strokes[:index] + session.strokes[index + 1:])


def clear_strokes(session: EditSession) -> EditSession:
    return _push(session, ()) if session.strokes else session


def undo(session: EditSession) -> EditSession:
    """The stroke list before the last change (strokes added, deleted, switched, cleared)."""
    if not session.undo_stack:
        raise StrokeError("nothing to undo")
    return dataclasses.replace(session, strokes=session.undo_stack[-1], undo_stack=session.undo_stack[:-1])


def stroke_labels(session: EditSession) -> list[str]:
    """One unique, readable line per stroke: "2 · add tree · 0.75 · sample #1000003 at 0.60"."""
    out = []
    for i, s in enumerate(session.strokes):
        st = s.stroke
        cover = float(st.mask.mean()) * 100
        label = f"{i + 1} · {st.action} {st.concept} · strength {st.strength:.2f} · {cover:.0f}% of the square"
        if st.action == "add" and s.style.kind != "dictionary":
            label += f" · {s.style.describe()}"
        out.append(label)
    return out


# -- rendering --------------------------------------------------------------------------------------
def render(engine: EditEngine, session: EditSession, *, pending: SessionStroke | None = None,
           final: bool = True) -> RenderResult:
    """Render the session's strokes (and an uncommitted ``pending`` one): one tail pass, then the
    full-resolution paste-back when ``final``."""
    if session.state is None:
        raise GanpaintError("no photo yet: upload a photo (or pick an example) first")
    strokes = [s.stroke for s in session.strokes] + ([pending.stroke] if pending is not None else [])
    return engine.render(session.state, strokes, final=final)


def preview_image(session: EditSession, result: RenderResult, *, side: int = DISPLAY_SIDE) -> np.ndarray:
    """The preview render pasted into the display-size copy of the photo: what the final will look like."""
    photo = session.photo
    shown = display_image(photo, side=side)
    h, w = photo.original.shape[:2]
    sy, sx = shown.shape[0] / h, shown.shape[1] / w
    l, t, r, b = photo.box
    L, T = round(l * sx), round(t * sy)
    side_px = max(1, round((r - l) * sx))
    small = Photo(original=shown, model_image=photo.model_image, box=(L, T, L + side_px, T + side_px), fit=photo.fit)
    return paste_back(small, result.preview, result.region)


def mask_png_base64(mask: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray((np.asarray(mask).clip(0, 1) * 255).round().astype(np.uint8), "L").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def sidecar(engine: EditEngine, session: EditSession, result: RenderResult, *,
            extra_timings: dict[str, float] | None = None) -> dict[str, Any]:
    """A JSON-ready record of the edit: model, weights, photo geometry, strokes, parameters, timings."""
    state = session.state
    if state is None:
        raise GanpaintError("no photo yet: upload a photo (or pick an example) first")
    manifest = engine.model.manifest
    strokes = []
    for s in session.strokes:
        st = s.stroke
        strokes.append({
            "concept": st.concept,
            "action": st.action,
            "strength": st.strength,
            "enabled": st.enabled,
            "style": dataclasses.asdict(s.style) | {"description": s.style.describe()},
            "style_levels": None if st.style_levels is None else [round(v, 5) for v in st.style_levels],
            "mask_png_base64": mask_png_base64(st.mask),  # [S, S] on the model's square, white = edit
            "mask_share": round(float(st.mask.mean()), 5),
        })
    return {
        "format": "ganpaint-edit/1",
        "model": manifest.name,
        "family": manifest.family,
        "resolution": manifest.resolution,
        "edit_layer": manifest.edit_layer,
        "weights_sha256": dict(engine.model.sha256),
        "photo": {"name": session.photo_name, "size": list(state.photo.size), "box": list(state.photo.box),
                  "fit": state.photo.fit},
        "reconstruction_psnr_db": {"inverted": round(state.recon_psnr_before, 3),
                                   "adapted": round(state.recon_psnr_after, 3)},
        "parameters": {"inversion": dataclasses.asdict(engine.inversion_cfg),
                       "adaptation": dataclasses.asdict(engine.adapt_cfg), "lpips": engine.use_lpips},
        "strokes": strokes,
        # Where the render was pasted into the photo ([S, S] over the square, white = render); the photo's
        # pixels are unchanged wherever this is black.
        "paste_region_png_base64": mask_png_base64(result.region),
        "paste_region_share": round(float((result.region > 0).mean()), 5),
        "timings_s": {k: round(v, 4) for k, v in {**state.timings, **result.timings, **(extra_timings or {})}.items()},
        "notes": list(state.notes) + list(result.notes),
    }


# -- the stateless edit (API and CLI-like use) -------------------------------------------------------
def edit_photo(engine: EditEngine, image: str | Path | bytes | Image.Image, mask: Any, *, concept: str,
               action: str, strength: float = 0.75, style: Any = None, style_strength: float = 0.75,
               callback: Callback | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """One edit start to finish: the edited photo (uint8 [H, W, 3], the input's size) and its sidecar.

    ``mask`` is an image (white or opaque = edit) or an array of any size with the photo's aspect ratio.
    """
    session = open_photo(engine, image, callback=callback)
    photo = session.photo
    if isinstance(mask, np.ndarray):
        arr = mask.astype(np.float32)
        arr = arr / 255.0 if arr.max(initial=0) > 1 else arr
        if arr.ndim == 3:
            arr = arr[..., 3] if arr.shape[-1] == 4 else arr.mean(-1)
        square = mask_to_square(arr, photo, engine.resolution)
    else:
        full, _ = load_mask(mask, size=photo.size)
        square = mask_to_square(full, photo, engine.resolution)
    choice = StyleChoice()
    if style is not None and action == "add":
        session = set_reference(engine, session, style)
        choice = StyleChoice(kind="reference", strength=float(style_strength))
    stroke, session = make_stroke(engine, session, square, concept=concept, action=action, strength=strength,
                                  style=choice)
    session = add_stroke(session, stroke)
    result = render(engine, session, final=True)
    return result.final, sidecar(engine, session, result)


# -- shared models ----------------------------------------------------------------------------------
class EngineCatalog:
    """The models the app has loaded (once each, read-only, shared by every session) and their derived,
    read-only data (concept-rich sample galleries).

    Example::

        catalog = EngineCatalog(engine)                 # the default model, already loaded
        engine = catalog.engine("progan-church", progress=cb)   # loads (downloads) on first use
    """

    def __init__(self, default: EditEngine, *, device: torch.device | str | None = None) -> None:
        self.default_name = default.model.manifest.name
        self._engines: dict[str, EditEngine] = {self.default_name: default}
        self._device = torch.device(device) if device is not None else default.device
        self._inversion = default.inversion_cfg
        self._adaptation = default.adapt_cfg
        self._lpips = default.use_lpips
        self._lock = threading.Lock()  # one model load at a time; lookups do not wait on it
        self._samples: dict[tuple[str, str, int], list[tuple[int, np.ndarray]]] = {}
        self._undissected: dict[str, Any] = {}  # loaded models waiting for a dissection (not loaded twice)

    def loaded(self) -> list[str]:
        return list(self._engines)

    def engine(self, name: str, *, progress: Callback | None = None) -> EditEngine:
        """The engine for model ``name``, loading it on first use (``GanpaintError`` with how to supply it)."""
        if name in self._engines:
            return self._engines[name]
        from ganpaint_core.loading import load_model

        with self._lock:
            if name not in self._engines:
                model = self._undissected.pop(name, None) or load_model(name, device=self._device, progress=progress)
                if model.concepts is None:
                    self._undissected[name] = model
                    raise NotDissected(name)
                self._add(model)
            return self._engines[name]

    def dissect(self, name: str, *, cfg: Any = None, progress: Callback | None = None) -> EditEngine:
        """Dissect model ``name`` (its own segmenter, else SegFormer ADE20K), cache the dictionary where
        ``load_model`` finds it, and return its engine. Resumes an interrupted dissection."""
        from ganpaint_core.dissect import DissectConfig
        from ganpaint_core.dissect_run import run_dissection
        from ganpaint_core.loading import load_model
        from ganpaint_core.segmenters import segmenter_for

        with self._lock:
            if name in self._engines:
                return self._engines[name]
            model = self._undissected.get(name) or load_model(name, device=self._device, progress=progress)
            if model.concepts is None:
                run_dissection(model, segmenter_for(model, device=self._device), cfg=cfg or DissectConfig(),
                               callback=progress)
                model = load_model(name, device=self._device)  # now with the cached dictionary
            self._undissected.pop(name, None)
            return self._add(model)

    def _add(self, model: Any) -> EditEngine:
        engine = EditEngine(model, inversion=self._inversion, adaptation=self._adaptation, use_lpips=self._lpips)
        self._engines[model.manifest.name] = engine
        return engine

    def concept_samples(self, name: str, concept: str, *, count: int = 6,
                        pool: int = 48) -> list[tuple[int, np.ndarray]]:
        """``count`` generated samples (seed, uint8 [S, S, 3]) where ``concept`` covers the most area: by the
        model's segmenter when it has one, else by how many of the concept's top units fire."""
        key = (name, concept, count)
        if key not in self._samples:
            self._samples[key] = concept_samples(self.engine(name), concept, count=count, pool=pool)
        return self._samples[key]


def sample_images(engine: EditEngine, seeds: Sequence[int]) -> list[np.ndarray]:
    """Generated samples as uint8 [S, S, 3], one per seed."""
    _, images = generate_samples(engine, seeds)
    return [((im.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy() for im in images]


@torch.no_grad()
def generate_samples(engine: EditEngine, seeds: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Edit-layer features [N, C, h, w] and images [N, 3, S, S] in [-1, 1] for ``seeds``."""
    G = engine.model.generator
    z = torch.stack([torch.randn(G.latent_size, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
    features = engine.head(z.to(engine.device))
    from ganpaint_core.edit.layers import run_tail

    return features, run_tail(engine.tail, features, latent=z.to(engine.device))


def concept_samples(engine: EditEngine, concept: str, *, count: int = 6, pool: int = 48,
                    seed_base: int = SAMPLE_SEED_BASE) -> list[tuple[int, np.ndarray]]:
    """See :meth:`EngineCatalog.concept_samples`."""
    ranking = engine.concepts.ranking(concept)
    seeds = list(range(seed_base, seed_base + pool))
    shares: list[float] = []
    images: list[np.ndarray] = []
    for start in range(0, pool, 16):
        chunk = seeds[start: start + 16]
        features, imgs = generate_samples(engine, chunk)
        seg = engine.model.segmenter
        label = _segmenter_label(concept) if seg is not None else None
        if label is not None:
            labels = seg.predict(imgs.clamp(-1, 1))  # [n, S, S]
            shares += (labels == label).float().mean(dim=(1, 2)).tolist()
        else:
            units = list(ranking.units[:12])
            levels = torch.tensor(engine.concepts.levels, dtype=features.dtype, device=features.device)[units]
            firing = (features[:, units] > 0.5 * levels.view(1, -1, 1, 1)).float().mean(dim=1)  # [n, h, w]
            shares += (firing >= 0.5).float().mean(dim=(1, 2)).tolist()
        images += [((im.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy() for im in imgs]
    order = sorted(range(pool), key=lambda i: -shares[i])[:count]
    return [(seeds[i], images[i]) for i in order]


def _segmenter_label(concept: str) -> int | None:
    from ganpaint_core.synth.scenes import LABELS

    return LABELS.index(concept) if concept in LABELS else None


def upscale(image: np.ndarray, side: int) -> np.ndarray:
    """A small render enlarged (bicubic) for display; larger ones are returned as they are."""
    h, w = image.shape[:2]
    if max(h, w) >= side:
        return image
    return np.asarray(Image.fromarray(image).resize((side * w // max(h, w), side * h // max(h, w)),
                                                    Image.Resampling.BICUBIC))


# -- long jobs ---------------------------------------------------------------------------------------
@dataclass
class JobUpdate:
    """Progress of a long job, or its result (``done``)."""

    step: int = 0  # last step reported
    total: int = 0  # steps in the current stage (0: unknown)
    info: dict[str, Any] = field(default_factory=dict)  # the job's own details ("stage", "psnr", "file"…)
    done: bool = False  # True on the last update, which carries ``result``
    result: Any = None  # what the job returned
    seconds: float = 0.0  # since the job started


def run_job(work: Callable[[Callback], Any], *, poll_s: float = 0.25, orphan_s: float = 15.0) -> Iterator[JobUpdate]:
    """Run ``work(callback)`` in a thread and yield its progress every ``poll_s``, then its result.

    Stopping the iteration (closing the generator, as a web app does when the user cancels) makes the
    job's next callback raise :class:`JobCancelled`; so does not asking for ``orphan_s`` seconds (a caller
    that went away without closing). Errors inside the job are raised here.
    """
    cancel = threading.Event()
    latest = JobUpdate()
    polled = [time.monotonic()]
    box: dict[str, Any] = {}
    t0 = time.monotonic()

    def callback(step: int, total: int, info: dict[str, Any]) -> None:
        if cancel.is_set() or time.monotonic() - polled[0] > orphan_s:
            raise JobCancelled()
        latest.step, latest.total, latest.info = int(step), int(total), dict(info)

    def target() -> None:
        try:
            box["result"] = work(callback)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below, re-raised there
            box["error"] = exc

    thread = threading.Thread(target=target, name="ganpaint-job", daemon=True)
    thread.start()
    try:
        while True:
            thread.join(poll_s)
            polled[0] = time.monotonic()
            if not thread.is_alive():
                break
            yield JobUpdate(latest.step, latest.total, dict(latest.info), seconds=time.monotonic() - t0)
        if "error" in box:
            raise box["error"]
        yield JobUpdate(latest.step, latest.total, dict(latest.info), done=True, result=box["result"],
                        seconds=time.monotonic() - t0)
    finally:
        cancel.set()


def describe_progress(update: JobUpdate) -> str:
    """One line for a progress bar: the stage, its step, and the reconstruction PSNR when known."""
    info = update.info
    stage = info.get("stage")
    if stage is None and "file" in info:
        total = f" of {update.total / 1e6:.1f} MB" if update.total else ""
        return f"Downloading {info['file']}: {update.step / 1e6:.1f} MB{total}"
    if stage in ("concept", "sample", "iou", "causal", "ace-add", "ace-remove"):  # dissection (dissect_run)
        concept = info.get("concept")
        text = ("Dissecting: measuring every unit on generated samples" if stage in ("sample", "iou")
                else f"Dissecting: units that draw {concept}" if stage == "ace-add"
                else f"Dissecting: units that erase {concept}" if stage == "ace-remove"
                else f"Dissecting: verifying {concept}'s units" if stage == "causal"
                else f"Dissecting: {concept}" if concept else "Dissecting: writing the dictionary")
        return text + (f" ({update.step}/{update.total})" if update.total else "")
    text = STAGE_NAMES.get(stage, "Working") if stage else "Starting"
    if update.total:
        text += f" ({update.step}/{update.total})"
    if "psnr" in info:
        text += f", PSNR {float(info['psnr']):.1f} dB"
    return text
