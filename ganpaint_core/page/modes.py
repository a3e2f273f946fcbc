"""The page's colour / sketch brushes and latent directions, without gradio: each action returns a
``PageUpdate`` (or yields progress, then one), like the rest of :class:`ganpaint_core.page.page.EditPage`, which
inherits them (a :class:`~ganpaint_core.page.base.PageBase` with its engines, jobs and preview). Renders go
through the one edit path (``session.render`` -> ``edit_photo``).

Example::

    colour = PaintSettings(concept="tree", action="add", strength=1, mode="Colour brush")
    update = page.find_candidates(session, layers, colour)       # update.candidates: K finals, best first
    update = page.pick_candidate(session, layers, colour, 2)     # the preview with the third one
    update = page.add(session, layers, replace(colour, pick=2, morph=0.7))  # kept in the stroke list
    for item in page.find_directions(session): ...               # progress (the first time), then the list
    update = page.direction_preview(session, layers, DirectionSettings("sky", 1.5))
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence

import numpy as np

from ganpaint_core.analysis.directions import Directions
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.photo import Photo, mask_to_square
from ganpaint_core.edit.brush import MASK_ALPHA_THRESHOLD, BrushCandidate, BrushSpec, brush_from_images
from ganpaint_core.edit.brush_recipe import as_recorded as brush_as_recorded
from ganpaint_core.edit.composite import outline_changed
from ganpaint_core.edit.direction_edit import DirectionSpec
from ganpaint_core.edit.strokes import StrokeError
from ganpaint_core.edit.warp import WarpCandidate, WarpSpec
from ganpaint_core.page.base import PageBase
from ganpaint_core.page.canvas import mask_from_layers, preview_composite
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.session import EditSession, add_stroke, check_stroke, render
from ganpaint_core.page.text import problem
from ganpaint_core.page.values import (
    Choices,
    DirectionSettings,
    PageUpdate,
    PaintSettings,
    canvas_of,
    reports_problems,
    stroke_list,
)

OUTSIDE = ("the paint is outside the bright square the model sees; paint inside it, or load the photo with fit "
           "'pad' to edit all of it")
NO_BRUSH = "pick the colour, sketch or warp brush first: candidates are what a brush offers"
EMPTY = {"colour": "colour strokes", "sketch": "lines", "warp": "what moves (cyan) and a dot where it goes (red)"}
WARP_TARGET = (255, 32, 32)  # the warp brush's second colour: the dot where the painted region goes


def paint_layer(layers: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """The canvas's layers as one RGBA image (uint8 [h, w, 4]; per pixel the most opaque layer's paint)."""
    out = None
    for layer in layers:
        if layer is None:
            continue
        a = np.asarray(layer, np.uint8)
        if a.ndim == 2 or a.shape[-1] != 4:  # grey or RGB: painted where not black
            rgb = np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a
            a = np.concatenate([rgb, (rgb.max(-1, keepdims=True) > 0).astype(np.uint8) * 255], -1)
        out = a if out is None else np.where((a[..., 3] > out[..., 3])[..., None], a, out)
    return out


def as_recorded(spec: BrushSpec, session: EditSession, engine) -> BrushSpec:
    """``spec`` as its record stores it (colours in whole grey levels, strokes painted or not): what a shared
    link or a downloaded record reopens, so that the brush renders the same pixels there as here."""
    return brush_as_recorded(spec, session.photo, engine)


def candidate_caption(index: int, candidate: BrushCandidate | WarpCandidate, distance: float) -> str:
    """"#2 · off 31 · Δ 12": the candidate's constraint cost (its own caption: a brush's colour error or drawn
    edges, a warp's handle distance) and its distance from the photo (``distance``: the mean change where the
    stroke was painted, 0..255)."""
    return " · ".join(p for p in (f"#{index + 1}", candidate.caption(), f"Δ {distance:.0f}") if p)


def photo_distance(candidate: BrushCandidate | WarpCandidate, base: np.ndarray, mask: np.ndarray) -> float:
    """Mean |candidate − photo's render| (0..255) where the stroke was painted (``mask`` [S, S] > 0)."""
    diff = np.abs(candidate.preview.astype(np.float32) - base.astype(np.float32)).mean(-1)
    return float(diff[mask > 0].mean()) if (mask > 0).any() else 0.0


def warp_from_paint(paint: np.ndarray, photo: Photo, resolution: int, settings: PaintSettings) -> WarpSpec:
    """The warp painted on the canvas (uint8 [h, w, 4]): the region in any colour but red moves to the red dot
    (its centre to the dot's centre); coordinates on the model's square, rounded as its record keeps them."""
    painted = paint[..., 3] > MASK_ALPHA_THRESHOLD
    red = painted & (np.abs(paint[..., :3].astype(int) - WARP_TARGET).max(-1) < 60)
    region = mask_to_square((painted & ~red).astype(np.float32), photo, resolution) > 0.25
    dot = mask_to_square(red.astype(np.float32), photo, resolution)
    if not region.any() or not (dot > 0).any():
        raise StrokeError("a warp needs both: paint what moves (cyan), then put a red dot where it should go")
    ys, xs = np.nonzero(region)
    w = dot / dot.sum()
    yy, xx = np.mgrid[:resolution, :resolution]
    handle = (round(float(xs.mean()), 3), round(float(ys.mean()), 3))
    target = (round(float((xx * w).sum()), 3), round(float((yy * w).sum()), 3))
    spec = WarpSpec(handle=handle, target=target, source=region.astype(np.float32), resolution=resolution,
                    candidates=settings.candidates, pick=settings.pick, morph=settings.morph, seed=settings.seed)
    spec.check(resolution=resolution)
    return spec


def direction_choices(directions: Directions) -> Choices:
    """"sky — more sky", "pc3 — +grass −cloud": one option per direction, by name."""
    options = tuple((f"{n} — {directions.get(n).label}", n) for n in directions.names())
    return Choices(options, options[0][1] if options else None)


class ModeActions(PageBase):
    """Brushes and directions: the page's actions for the colour / sketch brush and the latent directions."""

    # -- colour and sketch brushes ---------------------------------------------------------------------
    def _pending_brush(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
                       settings: PaintSettings) -> BrushSpec | None:
        """The brush painted on the canvas (None when nothing is painted), as its record will keep it."""
        paint = paint_layer(layers or [])
        if paint is None or mask_from_layers([paint]) is None or not mask_from_layers([paint]).any():
            return None
        engine = self.engine(session)
        if settings.brush == "warp":
            return check_stroke(engine, session, warp_from_paint(paint, session.photo, engine.resolution, settings))
        colour, sketch = (paint, None) if settings.brush == "colour" else (None, paint)
        spec = brush_from_images(colour, sketch, session.photo, resolution=engine.resolution,
                                 candidates=settings.candidates, pick=settings.pick, morph=settings.morph,
                                 seed=settings.seed)
        if not spec.mask.any():
            raise StrokeError(OUTSIDE)
        spec.check(resolution=engine.resolution)  # before the record's rounding, which needs sane numbers
        return check_stroke(engine, session, as_recorded(spec, session, engine))

    @reports_problems
    def _paint_brush(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
                     settings: PaintSettings) -> PageUpdate:
        """The live preview in a brush mode: the picked candidate at the morph once candidates were found for
        this paint; before that the kept strokes, and what to press (nothing without a photo)."""
        if session.state is None:
            return PageUpdate()
        session = self.current(session)  # candidates are found on the full fit
        pending = self._pending_brush(session, layers, settings)
        ready = pending is not None and self.engine(session).has_brush_candidates(session.state, pending)
        kind = f"{settings.brush} brush"
        what = (f"{kind}, candidate {settings.pick + 1} at morph {settings.morph:.2f} (not added yet)" if ready else
                f"{kind} painted: press **Find candidates**" if pending is not None else f"nothing painted ({kind})")
        return self._live(session, pending if ready else None, what)

    @reports_problems
    def find_candidates(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
                        settings: PaintSettings) -> PageUpdate:
        """The brush's candidates, each shown as the final will look (at display size), best first; the
        preview shows the best one at the morph."""
        if settings.brush == "concept":
            raise GanpaintError(NO_BRUSH)
        if session.state is None:
            raise GanpaintError("no photo yet: upload a photo (or pick an example) first")
        settings = dataclasses.replace(settings, pick=0)
        session = self.full_session(session)  # candidates are searched once, on the full fit (it waits for it)
        spec = self._pending_brush(session, layers, settings)
        if spec is None:
            raise GanpaintError(f"the canvas is empty: paint {EMPTY[settings.brush]} over the photo first")
        engine = self.engine(session)
        t0 = time.monotonic()
        found = self.gpu.edit(engine.brush_candidates, session.state, spec)
        seconds = time.monotonic() - t0
        shown = [self._preview(session, self.gpu.edit(render, engine, session, final=False,
                                                      pending=dataclasses.replace(spec, pick=i, morph=1.0)))
                 for i in range(len(found))]
        preview = shown[0] if spec.morph == 1 else self._preview(
            session, self.gpu.edit(render, engine, session, pending=spec, final=False))
        base = session.state.base_render[0].permute(1, 2, 0).numpy() * 127.5 + 127.5
        captions = [candidate_caption(i, c, photo_distance(c, base, spec.mask)) for i, c in enumerate(found)]
        return PageUpdate(candidates=list(zip(shown, captions)),
                          brush_pick=0, preview=preview, session=session,
                          paint_info=f"Preview: {settings.brush} brush, candidate 1 at morph {spec.morph:.2f} (not "
                                     f"added yet) · {len(session.strokes)} stroke(s) kept",
                          status=f"{len(found)} candidates in {seconds:.1f} s, best first. Click one to use it; "
                                 "**Morph** goes from your photo (0) to it (1). **Add stroke** keeps it, **Render** "
                                 "renders it.")

    def pick_candidate(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
                       settings: PaintSettings, index: int) -> PageUpdate:
        """The preview with candidate ``index`` (0 = the best)."""
        if not isinstance(index, int) or not 0 <= index < settings.candidates:
            return PageUpdate(status=problem(f"there is no candidate {index}: pick one of the {settings.candidates}"))
        if settings.brush == "concept":
            return PageUpdate(status=problem(NO_BRUSH))
        update = self._paint_brush(session, layers, dataclasses.replace(settings, pick=index))
        return dataclasses.replace(update, brush_pick=index) if "status" not in update.changed() else update

    # -- latent directions -----------------------------------------------------------------------------
    def find_directions(self, session: EditSession) -> Iterator[JobUpdate | PageUpdate]:
        """The model's directions for the panel: found once per model (a minute or two on a CPU, with
        progress; Cancel stops it), then read from the cache."""
        engine = self.engine(session)
        name = session.model or self.default_model
        t0 = time.monotonic()
        try:
            directions = yield from self._run(lambda cb: self.gpu.setup(engine.directions, callback=cb),
                                                stage="directions")
        except GanpaintError as exc:
            yield PageUpdate(status=problem(f"the directions of {name} could not be found: {exc}"))
            return
        self.directions_found.add(name)
        choices = direction_choices(directions)
        supervised = len(directions.names(kind="supervised"))
        yield PageUpdate(directions=choices, status=(
            f"{len(choices.options)} directions of **{name}** ready ({time.monotonic() - t0:.1f} s): {supervised} "
            "that add a concept, the rest principal components. Pick one and move **Amount**: the preview follows. "
            "**Add direction** keeps it."))

    def _pending_direction(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
                           settings: DirectionSettings) -> DirectionSpec:
        if (session.model or self.default_model) not in self.directions_found:
            raise GanpaintError("press **Find directions** first (once per model; then they are cached)")
        if session.state is None:
            raise GanpaintError("no photo yet: upload a photo (or pick an example) first")
        if not settings.name:
            raise GanpaintError("pick a direction in the list first")
        engine = self.engine(session)
        mask = None
        if not settings.whole:
            painted = mask_from_layers(layers or [])
            if painted is None or not painted.any():
                raise GanpaintError("the canvas is empty: paint where the direction should apply, or apply it to the "
                                    "whole photo")
            mask = mask_to_square(painted, session.photo, engine.resolution)
            if not mask.any():
                raise StrokeError(OUTSIDE)
        return check_stroke(engine, session, DirectionSpec(name=settings.name, amount=settings.amount, mask=mask))

    @reports_problems
    def direction_preview(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
                          settings: DirectionSettings) -> PageUpdate:
        """The live preview of the kept strokes plus the direction at its amount (not added yet), the area it
        changes outlined and its share of the photo said: its extent is seen before it is kept."""
        session = self.current(session)
        spec = self._pending_direction(session, layers, settings)
        outcome = self.gpu.edit(render, self.engine(session), session, pending=spec, final=False)
        shown = preview_composite(session.photo, outcome.result)
        return PageUpdate(preview=outline_changed(shown.image, shown.changed), session=session,
                          paint_info=f"Preview: {spec.describe()} (not added yet) · changes "
                                     f"**{shown.changed.mean():.0%} of the photo** (outlined) · "
                                     f"{len(session.strokes)} stroke(s) kept")

    @reports_problems
    def add_direction(self, session: EditSession, layers: Sequence[np.ndarray | None] | None,
                      settings: DirectionSettings) -> PageUpdate:
        """Keep the direction in the stroke list (under the mask: the canvas is cleared for the next one)."""
        session = self.current(session)
        spec = self._pending_direction(session, layers, settings)
        session = add_stroke(session, spec)
        outcome = self.gpu.edit(render, self.engine(session), session, final=False)
        n = len(session.strokes)
        fields = {} if spec.whole else {"canvas": canvas_of(session)}
        return PageUpdate(session=session, preview=self._preview(session, outcome), strokes=stroke_list(session),
                          paint_info=f"{n} stroke(s) kept", **fields,
                          status=f"Stroke {n} added: {spec.describe()}. Add more, or render full resolution.")
