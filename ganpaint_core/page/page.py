"""What the web page does, without gradio: each user action in, a ``PageUpdate`` out.

``app.py`` only lays out components and binds each update's fields to them; everything a click does
(which library call, which message, which file) lives here and is tested with plain Python. Renders go
through the one edit path (``ganpaint_core.edit.pipeline.edit_photo``), as the CLI's and ``/edit``'s do
(``api.py``: the stateless endpoints for scripts).

Example::

    page = EditPage(EditEngine(load_model("synth-church")))
    session = EditSession(model=page.default_model)
    for item in page.open_photo(session, "church.jpg", name="church.jpg"):
        ...  # JobUpdate while the photo is inverted and adapted, then a PageUpdate
    update = page.paint(item.session, layers, PaintSettings(concept="tree", action="add", strength=0.8))
    update.preview  # uint8 [h, w, 3]: the photo with the stroke rendered in
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image

from ganpaint_core.analysis.scene_segmenter import concept_names
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.photo import header_pixels
from ganpaint_core.edit.composite import outline_changed
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.pipeline import AnySpec
from ganpaint_core.hub.registry import Registry, model_status
from ganpaint_core.page.canvas import (  # noqa: F401 - SLIDER_SIDE: importable from here
    SLIDER_SIDE,
    display_image,
    shrink_for_slider,
    stroke_from_layers,
    upscale,
)
from ganpaint_core.page.catalog import SAMPLE_SEED_BASE, NotDissected, sample_images
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.modes import ModeActions
from ganpaint_core.page.other_modes import OtherModeActions
from ganpaint_core.page.session import (
    EditSession,
    add_stroke,
    check_stroke,
    clear_reference,
    clear_strokes,
    close_photo,
    delete_stroke,
    open_photo,
    render,
    reprepare,
    set_enabled,
    set_reference,
    stroke_labels,
    tune_stroke,
    undo,
)
from ganpaint_core.page.text import HOW_TO, fit_line, problem, progress_line, ready_text
from ganpaint_core.page.tools import ShareCompareActions
from ganpaint_core.page.values import (  # noqa: F401 - the page's value types, importable from here
    BRUSH_MODES,
    DIRECTION_WHERE,
    EDITOR_BRUSHES,
    STROKE_DEFAULTS,
    STYLE_KINDS,
    UNCHANGED,
    BrushChoice,
    Canvas,
    Choices,
    DirectionSettings,
    PageUpdate,
    PaintSettings,
    StrokeList,
    canvas_of,
    reports_problems,
    stroke_index,
    stroke_list,
)

log = logging.getLogger(__name__)

AVAILABILITY = "availability: bundled / local / cached / downloadable / missing"  # the Model list's help


class EditPage(ShareCompareActions, ModeActions, OtherModeActions):
    """The page's actions: photo, model, style and strokes here; sharing, comparing and inspecting units in
    ``tools.py``, colour / sketch brushes and directions in ``modes.py``, transformation, painting from nothing and
    edits of one segment in ``other_modes.py``; what they share in ``base.py``."""

    # -- what the page starts with ---------------------------------------------------------------------
    def model_choices(self) -> Choices:
        """Every registry model as "name · resolution · availability", the same availability ``python -m
        ganpaint_core models`` reports: a remote source is asked whether it answers (all at once, a few
        seconds at most), so that a model offline is "missing", not "downloadable"."""
        reg = Registry.scan()

        def status(item: tuple[str, Any]) -> tuple[str, str]:
            name, manifest = item
            mark = " · host's start" if self.start is not None and name == self.start.name else ""
            try:
                status = model_status(manifest, probe=True)["status"]
                return f"{name} · {manifest.resolution}px · {status}{mark}", name
            except GanpaintError as exc:  # a file failing its checksum, say: listed; loading says why
                log.warning("%s: %s", name, exc)
                return f"{name} · {manifest.resolution}px · unusable", name

        with ThreadPoolExecutor(max_workers=max(1, len(reg.manifests))) as pool:
            options = list(pool.map(status, reg.manifests.items()))
        if self.default_model not in reg.manifests:  # loaded from a manifest outside the registry (tests)
            engine = self.catalog.engine(self.default_model)
            options.insert(0, (f"{self.default_model} · {engine.resolution}px · loaded", self.default_model))
        info = AVAILABILITY
        if self.start is not None:
            info = f"{self.start.describe()}" + (
                f"; editing on {self.default_model} meanwhile" if self.start.name != self.default_model else "")
        return Choices(tuple(options), self.default_model, info)

    def sample_examples(self, count: int = 2) -> list[str]:
        """A couple of the default model's own samples as example photos (upscaled to be paintable)."""
        engine = self.catalog.engine(self.default_model)
        seeds = [SAMPLE_SEED_BASE + 900 + i for i in range(count)]
        paths = []
        for seed, arr in zip(seeds, sample_images(engine, seeds)):
            path = self.out_dir / f"{self.default_model}-sample-{seed}.png"
            Image.fromarray(upscale(arr, 256)).save(path)
            paths.append(str(path))
        return paths

    # -- photo and model -------------------------------------------------------------------------------
    def open_photo(self, session: EditSession, path: str | None, *, name: str = "photo", fit: str = "crop",
                   invert: str = "single") -> Iterator[JobUpdate | PageUpdate]:
        """Progress while the photo is inverted (``invert``: "single" code or "segments") and adapted, then
        the page with it (or the problem)."""
        if path is None:  # the photo was removed
            self.fits.cancel(self.engine(session), session.state)
            new = close_photo(session)
            yield PageUpdate(session=new, canvas=Canvas(None), preview=None, slider=None, status=HOW_TO, png=None,
                             sidecar=None, strokes=stroke_list(new), fit_note="", fit_poll=False)
            return
        if _already_open(session, path, fit, invert):  # the photo box filled by a share link or a recipe: no redo
            return
        engine = self.engine(session)
        self.fits.cancel(engine, session.state)  # a new photo: the last one's full fit is of no use now
        quick = not self.gpu.hosted  # a ZeroGPU Space fits in full inside its GPU call (seconds there)
        t0 = time.monotonic()
        try:
            def work(cb: Any) -> EditSession:  # a large photo waits for the heavy slot (memory: base.heavy)
                with self.heavy.held(header_pixels(path), callback=cb):
                    return self.gpu.setup(open_photo, engine, path, name=name, fit=fit, invert=invert, callback=cb,
                                          previous=session, quick=quick)
            new = yield from self._run(work, stage="open")
        except GanpaintError as exc:
            keep = " The previous photo stays loaded." if session.state is not None else ""
            yield PageUpdate(status=problem(f"{exc}.{keep}"))
            return
        self.fits.start(engine, new.state)
        yield PageUpdate(session=new, canvas=canvas_of(new), preview=display_image(new.photo), slider=None,
                         status=ready_text(new.photo_name, new.model, new.state, time.monotonic() - t0), png=None,
                         sidecar=None, strokes=stroke_list(new), candidates=[], **self._fit_fields(engine, new))

    def _fit_fields(self, engine: EditEngine, session: EditSession) -> dict[str, Any]:
        """The line saying which fit the preview shows, and whether the page polls the full fit."""
        quick = session.state is not None and session.state.fit == "quick"
        update = self.fits.poll(engine, session.state) if quick else None
        return {"fit_note": fit_line(session.state, update), "fit_poll": quick}

    def poll_fit(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
                 settings: PaintSettings) -> PageUpdate:
        """The page's timer while the photo shows its quick fit: the full fit's progress under the preview;
        once it is ready, the preview again on it (the kept strokes and the paint on the canvas) and the
        timer off. The session is not written here (an action running now may be writing it): each action
        takes the full fit itself (``current``)."""
        if session.state is None or session.state.fit == "full":
            return PageUpdate(fit_poll=False)
        engine = self.engine(session)
        update = self.fits.poll(engine, session.state)
        if update is None or not update.done:
            return PageUpdate(fit_note=fit_line(session.state, update), fit_poll=update is not None)
        new = self.current(session)
        try:
            pending = self._pending(new, layers, settings) if settings.brush == "concept" else None
        except GanpaintError:
            pending = None
        live = self._live(new, pending, "the full fit is ready")
        return PageUpdate(preview=live.preview, paint_info=live.paint_info, fit_note=fit_line(new.state),
                          fit_poll=False)

    def cancel(self, session: EditSession) -> str:
        """The Cancel button: the long jobs of the page stop (gradio cancels their events), and so does the
        photo's full fit."""
        stopped = self.fits.cancel(self.engine(session), session.state)
        return problem("Cancelled. Whatever was loaded before stays loaded." + (
            " The photo stays on its quick fit; a render or share sets up the full fit first." if stopped else ""))

    def switch_model(self, session: EditSession, name: str) -> Iterator[JobUpdate | PageUpdate]:
        """Load (download) another model, set the photo up on it again; on failure stay where we are."""
        current = session.model or self.default_model
        if not name or name == current:
            return
        yield from self._switch(session, name, lambda cb: self.catalog.engine(name, progress=cb))

    def dissect_model(self, session: EditSession, name: str | None) -> Iterator[JobUpdate | PageUpdate]:
        """Dissect a model that has no concept dictionary (once: the result is cached), then switch to it."""
        if not name:
            return
        yield from self._switch(session, name, lambda cb: self.gpu.dissect(self.catalog.dissect, name,
                                                                   cfg=self.dissect_cfg, progress=cb))

    def add_concepts(self, session: EditSession, names: str | None) -> Iterator[JobUpdate | PageUpdate]:
        """Concepts typed by name ("statue, cloud") measured on the open model (a cancellable job, minutes on a
        CPU; cached, so once per model), then offered in the Concept list, the first of them chosen."""
        try:
            wanted = concept_names(names or "")
        except GanpaintError as exc:
            yield PageUpdate(status=problem(str(exc)))
            return
        name = session.model or self.default_model
        try:
            engine = yield from self._run(lambda cb: self.gpu.dissect(
                self.catalog.add_concepts, name, wanted, cfg=self.dissect_cfg, progress=cb), stage="measure")
        except GanpaintError as exc:
            yield PageUpdate(status=problem(f"{exc}. The concept list stays as it was."))
            return
        names_now = engine.concepts.names()
        chosen = next((n for n in wanted if n in names_now), names_now[0])
        yield PageUpdate(concepts=Choices(tuple(names_now), chosen), gallery=self.gallery(session, chosen),
                         status=f"**{', '.join(wanted)}** can be painted on {name} now: chosen in Concept.")

    def _switch(self, session: EditSession, name: str,
                load: Callable[[Any], EditEngine]) -> Iterator[JobUpdate | PageUpdate]:
        current = session.model or self.default_model
        self.fits.cancel(self.engine(session), session.state)  # the photo's full fit on the model being left
        try:
            engine = yield from self._run(load, stage="load")
            new = EditSession(model=name)
            if session.state is not None:
                new = yield from self._run(lambda cb: self.gpu.setup(reprepare, engine, session, callback=cb,
                                                                     quick=not self.gpu.hosted), stage="open")
                self.fits.start(engine, new.state)
        except NotDissected as exc:
            yield PageUpdate(status=(f"{exc}\n\nPress **Dissect {name}** to run it here (a few minutes on a CPU "
                                     f"for a small model, much longer for a 256-px one; Cancel stops it and a later "
                                     f"run resumes), or pick another model. Staying on **{current}**."),
                             model=current, dissect=name)
            return
        except GanpaintError as exc:
            yield PageUpdate(status=problem(f"{exc}\n\nStaying on **{current}**."), model=current)
            return
        names = engine.concepts.names()
        text = (f"Switched to **{name}** ({engine.resolution}px). Your photo was set up again; its strokes were "
                "cleared (they belong to the other model)." if new.state is not None
                else f"Switched to **{name}** ({engine.resolution}px). Upload a photo.")
        yield PageUpdate(session=new, concepts=Choices(tuple(names), names[0]), status=text, canvas=canvas_of(new),
                         preview=display_image(new.photo) if new.state is not None else None, slider=None,
                         gallery=self.gallery(new, names[0]), style_seed=None, style_kind="Default look",
                         strokes=stroke_list(new), model=name, dissect=None, candidates=[],
                         directions=Choices((), None),  # the other model's directions are found on request
                         **self._fit_fields(engine, new))

    # -- style -----------------------------------------------------------------------------------------
    def gallery(self, session: EditSession, concept: str | None) -> list[tuple[np.ndarray, str]]:
        if concept not in self.engine(session).concepts.names():  # the dropdown between two models' lists
            return []
        samples = self.catalog.concept_samples(session.model or self.default_model, concept)
        return [(upscale(img, 128), f"#{seed}") for seed, img in samples]

    def concept_changed(self, session: EditSession, concept: str) -> PageUpdate:
        return PageUpdate(gallery=self.gallery(session, concept), style_seed=None)

    def gallery_picked(self, session: EditSession, concept: str, index: int) -> PageUpdate:
        seed = self.catalog.concept_samples(session.model or self.default_model, concept)[index][0]
        return PageUpdate(style_seed=seed, style_kind="Generated sample")

    @reports_problems
    def reference(self, session: EditSession, path: str | None, *, name: str = "reference") -> PageUpdate:
        if path is None:
            return PageUpdate(session=clear_reference(session), style_kind="Default look")
        new = set_reference(self.engine(session), session, path, name=name)
        return PageUpdate(session=new, style_kind="My reference",
                          status=f"Style reference **{new.reference.name}** loaded: added concepts copy its look.")

    # -- strokes ---------------------------------------------------------------------------------------
    def _pending(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
                 settings: PaintSettings) -> AnySpec | None:
        """The stroke painted on the canvas but not yet added (None if the canvas is blank or no photo): a
        concept stroke, or in a brush mode a colour / sketch brush."""
        if session.state is None:
            return None
        if settings.brush != "concept":
            return self._pending_brush(session, layers, settings)
        engine = self.engine(session)
        spec = stroke_from_layers(layers or [], session.photo, resolution=engine.resolution, concept=settings.concept,
                                  action=settings.action, strength=settings.strength, style=settings.style(session))
        return None if spec is None else check_stroke(engine, session, spec)

    @reports_problems
    def paint(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
              settings: PaintSettings) -> PageUpdate:
        """The live preview of the kept strokes plus what is painted on the canvas now."""
        if session.state is None:
            return PageUpdate()
        session = self.current(session)
        if settings.brush != "concept":
            return self._paint_brush(session, layers, settings)
        pending = self._pending(session, layers, settings)
        return self._live(session, pending, f"{settings.action} **{settings.concept}** under the paint (not added yet)"
                          if pending else "no stroke on the canvas")

    @reports_problems
    def add(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
            settings: PaintSettings) -> PageUpdate:
        """Keep the painted stroke and clear the canvas for the next one."""
        session = self.current(session)
        pending = self._pending(session, layers, settings)
        if pending is None:
            raise GanpaintError("the canvas is empty: paint over the part of the photo to change first"
                                if session.state is not None else
                                "no photo yet: upload a photo (or pick an example) first")
        session = add_stroke(session, pending)
        outcome = self.gpu.edit(render, self.engine(session), session, final=False)
        n = len(session.strokes)
        what = pending.describe()
        return PageUpdate(session=session, canvas=canvas_of(session), preview=self._preview(session, outcome),
                          paint_info=f"Canvas cleared · {n} stroke(s) kept", strokes=stroke_list(session),
                          status=f"Stroke {n} added: {what}. Paint the next one, or render full resolution.",
                          **_brush_done(pending))

    @reports_problems
    def render(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
               settings: PaintSettings) -> PageUpdate:
        """Keep any painted stroke, render at full resolution (on the full fit: asked for before it is ready,
        the render waits for it), write the PNG and its JSON record."""
        fields: dict[str, Any] = {}
        if session.state is not None and session.state.fit == "quick":
            session = self.full_session(session)
            fields.update(fit_note=fit_line(session.state), fit_poll=False)
        pending = self._pending(session, layers, settings)
        if pending is not None:
            session = add_stroke(session, pending)
            fields.update(canvas=canvas_of(session), strokes=stroke_list(session), **_brush_done(pending),
                          paint_info=f"Canvas cleared · {len(session.strokes)} stroke(s) kept")
        with self.heavy.held(session.photo.original.shape[0] * session.photo.original.shape[1]):
            outcome = self.gpu.edit(render, self.engine(session), session, final=True)
            png, record = self.save_render(session.photo_name, outcome)
        result = outcome.result
        before, after = shrink_for_slider(session.photo.original), shrink_for_slider(result.final)
        h, w = result.final.shape[:2]
        active = sum(1 for s in session.strokes if s.enabled)
        notes = "".join(f"<br>· {n}" for n in result.notes)
        return PageUpdate(session=session, slider=(before, after), preview=self._preview(session, outcome),
                          png=str(png), sidecar=str(record), outline=False, **fields,
                          status=f"Rendered {w}×{h} with {active} active stroke(s) in "
                                 f"{sum(result.timings.values()):.2f} s. Drag the slider to compare; download "
                                 f"below.{notes}")

    @reports_problems
    def outline(self, session: EditSession, on: bool) -> PageUpdate:
        """The before/after view again, with the changed area outlined (``on``) or plain: the final is
        rendered again from the kept setup (one tail pass and the composite), so it is the same image."""
        if session.state is None or not session.strokes:
            return PageUpdate()
        session = self.full_session(session)
        result = self.gpu.edit(render, self.engine(session), session, final=True).result
        after = outline_changed(result.final, result.changed) if on else result.final
        return PageUpdate(slider=(shrink_for_slider(session.photo.original), shrink_for_slider(after)))

    @reports_problems
    def change_strokes(self, session: EditSession, op: Callable[[EditSession], EditSession], *,
                       selected: int | None = None) -> PageUpdate:
        """A stroke-list change (switch, delete, undo, clear, a stroke changed in place), then a fresh preview;
        stroke ``selected`` (None: the last) in the "selected stroke" controls."""
        new = op(self.current(session))
        outcome = self.gpu.edit(render, self.engine(new), new, final=False)
        return PageUpdate(session=new, preview=self._preview(new, outcome), strokes=stroke_list(new, selected))

    def toggle(self, session: EditSession, selected: Sequence[str] | None, current: str | None = None) -> PageUpdate:
        """The strokes ticked in ``selected`` on, the others off; the stroke ``current`` stays the selected one."""
        labels = stroke_labels(session)
        keep = labels.index(current) if current in labels else None
        return self.change_strokes(session, lambda s: set_enabled(s, [lab in (selected or []) for lab in labels]),
                                   selected=keep)

    def delete(self, session: EditSession, label: str | None) -> PageUpdate:
        return self.change_strokes(session, lambda s: delete_stroke(s, stroke_index(s, label, to="to delete")))

    @reports_problems
    def select_stroke(self, session: EditSession, label: str | None) -> PageUpdate:
        """The stroke ``label`` in the "selected stroke" controls: its own strength (and look's strength)."""
        return PageUpdate(strokes=stroke_list(session, stroke_index(session, label, to="to change or delete")))

    @reports_problems
    def tune(self, session: EditSession, label: str | None, strength: float | None,
             style_strength: float | None) -> PageUpdate:
        """The selected stroke's own settings changed in place (only those it has), every other stroke as it was;
        a fresh preview. A new stroke still starts from the controls above (``STROKE_DEFAULTS`` once one is kept)."""
        index = stroke_index(session, label, to="to change")
        asked = {"strength": strength, "style_strength": style_strength}
        own = session.strokes[index].settings()
        values = {name: value for name, value in asked.items() if name in own and value is not None}
        update = self.change_strokes(session, lambda s: tune_stroke(s, index, values), selected=index)
        if update.session is UNCHANGED or update.session is session:
            return update
        now = update.session.strokes[index].label()
        return dataclasses.replace(update, status=f"Stroke {index + 1} is now {now}; the others are as they were.")

    def undo(self, session: EditSession) -> PageUpdate:
        return self.change_strokes(session, undo)

    def clear_all(self, session: EditSession) -> PageUpdate:
        return self.change_strokes(session, clear_strokes)

def _already_open(session: EditSession, path: str, fit: str, invert: str) -> bool:
    """Whether ``path`` holds exactly the photo the session has open, fitted and inverted the same way."""
    if session.state is None or session.photo.fit != fit or session.state.invert != invert:
        return False
    try:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("RGB"))
    except (OSError, ValueError):
        return False  # not readable here: the setup says why
    return pixels.shape == session.photo.original.shape and np.array_equal(pixels, session.photo.original)


def _brush_done(pending: AnySpec) -> dict[str, Any]:
    """A stroke once kept: the next starts from the defaults (``STROKE_DEFAULTS``), never from a slider moved for
    this one; a brush's candidates leave the page, and the next brush starts from the best one."""
    fresh = {"stroke_controls": dict(STROKE_DEFAULTS)}
    return fresh | ({"candidates": [], "brush_pick": 0} if pending.has_candidates else {})


__all__ = ["EditPage", "PageUpdate", "PaintSettings", "DirectionSettings", "StrokeList", "Canvas", "Choices",
           "BrushChoice", "STYLE_KINDS", "BRUSH_MODES", "DIRECTION_WHERE", "EDITOR_BRUSHES", "HOW_TO", "UNCHANGED",
           "problem", "progress_line", "stroke_list", "canvas_of"]
