"""The page's share, compare and inspect actions (issue 18), without gradio: each returns a ``PageUpdate``
(or yields progress, then one), like the rest of :class:`ganpaint_core.page.page.EditPage`, which inherits them
(a :class:`~ganpaint_core.page.base.PageBase` with its engines, jobs and saved renders).

Example::

    update = page.share(session, "http://127.0.0.1:7860")      # update.share: the link; update.bundle: JSON
    for item in page.open_shared(EditSession(), share_id): ...  # setup progress (skipped when cached), then
    update = page.compare(session, strengths="0.25,0.5,1", adapt_both=True, across_models=False)
    update = page.units(session, "tree")                        # update.units, update.segmentation
    update = page.select_concept(session, "tree")               # update.canvas: the map as paint
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.files import read_json, write_json
from ganpaint_core.core.photo import to_uint8
from ganpaint_core.page.base import PageBase
from ganpaint_core.page.canvas import canvas_image, display_box, display_image, shrink_for_slider, upscale
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.session import EditSession, file_stem, render, session_options
from ganpaint_core.page.share import ShareStore, check_bundle, check_model, restore, share_bundle
from ganpaint_core.page.text import fit_line, problem
from ganpaint_core.page.values import UNCHANGED, Canvas, Choices, PageUpdate, canvas_of, stroke_list
from ganpaint_core.review.compare import compare_grid, parse_vary
from ganpaint_core.review.units import concept_mask, heatmap_overlay, segment, segmentation_image, unit_heatmap

SELECT_RGBA = (255, 61, 165, 140)  # the brush's colour, so a selection looks like paint (and can be erased)
INSPECT_SIDE = 256  # unit heatmaps and segmentation maps are shown at this side


class ShareCompareActions(PageBase):
    """Share, open shared edits and recipes, compare, see units, select by concept."""

    _shares: ShareStore | None = None

    @property
    def shares(self) -> ShareStore:
        if self._shares is None:
            self._shares = ShareStore.default()
        return self._shares

    # -- share ---------------------------------------------------------------------------------------
    def share(self, session: EditSession, base_url: str) -> PageUpdate:
        """Store the edit (photo, strokes, model, options) and give its link and its JSON bundle."""
        try:
            if session.state is None or not session.strokes:
                raise GanpaintError("add a stroke first: a shared edit is a photo with its strokes")
            session = self.full_session(session)  # asked for before the full fit: it waits for it
            engine = self.engine(session)
            outcome = self.gpu.edit(render, engine, session, final=False)
            options = session_options(session)
            bundle = share_bundle(engine, session.state, session.strokes, options=options, record=outcome.record)
            share_id = self.shares.put(bundle)
        except GanpaintError as exc:
            return PageUpdate(status=problem(str(exc)))
        folder = Path(tempfile.mkdtemp(dir=self.out_dir))
        path = folder / f"{session.photo_name}-ganpaint-share.json"
        write_json(path, bundle)
        link = f"{base_url.rstrip('/')}/?edit={share_id}"
        return PageUpdate(share=f"**Link to this edit:** [{link}]({link})", bundle=str(path),
                       status="Shared: anyone who opens the link sees this photo with these strokes, rendered the "
                              "same. The JSON download holds the same edit (open it with *Open a recipe*).")

    def open_shared(self, session: EditSession, share_id: str | None) -> Iterator[JobUpdate | PageUpdate]:
        """Open a share link's edit: its model, photo (set up, or its setup reused) and strokes, rendered."""
        if not share_id:
            return
        try:
            bundle = self.shares.get(share_id)
        except GanpaintError as exc:
            yield PageUpdate(status=problem(f"this share link cannot be opened: {exc}"))
            return
        yield from self._open_bundle(session, bundle, what="shared edit")

    def open_recipe(self, session: EditSession, path: str | None) -> Iterator[JobUpdate | PageUpdate]:
        """A downloaded record (with its photo: the edit as it was; without: its strokes on the open photo)."""
        if not path:
            return
        try:
            bundle = read_json(path, what="recipe")
        except GanpaintError as exc:
            yield PageUpdate(status=problem(str(exc)))
            return
        yield from self._open_bundle(session, bundle, what="recipe")

    def _open_bundle(self, session: EditSession, bundle: Any, *, what: str) -> Iterator[JobUpdate | PageUpdate]:
        t0 = time.monotonic()
        try:
            check_bundle(bundle, what=what)
            name = bundle.get("model") or session.model or self.default_model
            if name not in self.catalog.loaded() and "photo_png_base64" not in bundle:
                name = session.model or self.default_model  # a bare recipe goes onto the open model
            try:
                engine = yield from self._run(lambda cb: self.catalog.engine(name, progress=cb),
                                              stage="load")
            except GanpaintError as exc:
                raise GanpaintError(f"this {what} was made with the model {name}, which this server cannot load "
                                    f"({exc})") from None
            if "model" in bundle:
                check_model(engine, bundle)
            same_model = session.model == name and session.state is not None
            photo, specs, options = restore(engine, bundle, photo=session.state.photo if same_model else None)
            if any(s.needs_directions for s in specs):  # found once per model: progress, not a freeze
                yield from self._run(lambda cb: engine.directions(callback=cb), stage="directions")
                self.directions_found.add(name)
            if "photo_png_base64" in bundle:
                state = yield from self._run(lambda cb: engine.prepare(
                    photo, adapt=options.adapt, invert=options.invert, callback=cb), stage="open")
                photo_name = file_stem(str((bundle.get("photo") or {}).get("name", "photo")))
            else:  # onto the open photo, on its full fit (waited for: what is rendered is never the quick fit)
                state = yield from self._run(lambda cb: self.full_session(session, callback=cb).state, stage="open")
                photo_name = session.photo_name
            new = EditSession(model=name, state=state, photo_name=photo_name, strokes=tuple(specs))
            outcome = self.gpu.edit(render, engine, new, final=True)
        except GanpaintError as exc:
            yield PageUpdate(status=problem(f"{exc}."))
            return
        png, sidecar = self.save_render(new.photo_name, outcome)
        shown = self.photo_file(new) if "photo_png_base64" in bundle else UNCHANGED  # the photo box, filled
        names = engine.concepts.names()
        reused = any("set up before" in n for n in state.notes)
        concept = next((c for s in specs for c in s.concepts), names[0])
        yield PageUpdate(session=new, model=name, concepts=Choices(tuple(names), concept), canvas=canvas_of(new),
                      preview=self._preview(new, outcome), strokes=stroke_list(new), png=str(png),
                      sidecar=str(sidecar), photo=shown, fit=new.photo.fit, fit_note=fit_line(new.state),
                      fit_poll=False,
                      slider=(shrink_for_slider(new.photo.original), shrink_for_slider(outcome.result.final)),
                      status=f"Opened the {what}: **{new.photo_name}** on {name} with {len(specs)} stroke(s), rendered "
                             f"in {time.monotonic() - t0:.1f} s" + (" (its setup was reused)." if reused else "."))

    # -- compare -------------------------------------------------------------------------------------
    def compare_models(self, session: EditSession) -> list[str]:
        """Loaded models that know every concept of the session's strokes (only the session's own model when
        it has a brush or a direction: those are made on its square, in its latent space)."""
        if not all(s.portable for s in session.strokes):
            return [session.model or self.default_model]
        concepts = {c for s in session.strokes for c in s.concepts}
        return [n for n in self.catalog.loaded() if concepts <= set(self.catalog.engine(n).concepts.names())]

    def compare(self, session: EditSession, *, strengths: str = "0.25,0.5,0.75,1", adapt_both: bool = True,
                across_models: bool = False) -> PageUpdate:
        """A grid of the current strokes rendered at several strengths, with and without adaptation, and on
        the other loaded models that have their concepts."""
        try:
            session = self.full_session(session)  # a comparison, like a render, is of the full fit
            if session.state is None or not session.strokes:
                raise GanpaintError("add a stroke first: the comparison renders the kept strokes")
            vary = parse_vary([f"strength={strengths}"])
            if adapt_both:
                vary["adapt"] = [True, False]
            models = self.compare_models(session) if across_models else []
            if len(models) > 1:
                vary["model"] = models
            model = session.model or self.default_model
            grid = compare_grid(self.catalog.engine, session.photo, session.strokes, vary=vary, model=model,
                                states={model: session.state})
        except GanpaintError as exc:
            return PageUpdate(status=problem(str(exc)))
        note = "" if not across_models or len(models) > 1 else " (no other loaded model has these concepts)"
        return PageUpdate(compare=grid.image, status=f"Compared {len(grid.labels)} settings: columns are strengths, rows "
                                                   f"{'adaptation on / off' if adapt_both else 'the settings'}{note}.")

    # -- units and concept selection -----------------------------------------------------------------
    def _render_square(self, session: EditSession) -> np.ndarray:
        """The model-square render of the kept strokes (the reconstruction when there are none)."""
        return self.gpu.edit(render, self.engine(session), session, final=False).result.preview

    def units(self, session: EditSession, concept: str) -> PageUpdate:
        """The concept's top units over the inverted photo, and the segmenter's map of the render."""
        try:
            if session.state is None:
                raise GanpaintError("no photo yet: upload a photo (or pick an example) first")
            engine = self.engine(session)
            square = self._render_square(session)
            heat = unit_heatmap(engine, session.state, concept)
            peak = float(heat.max())  # shown scaled to its peak, so that weak firing is still visible
            overlay = heatmap_overlay(to_uint8(session.state.base_render[0]), heat / max(peak, 1e-6))
            labels = segment(engine, square)
            seg_img, legend = segmentation_image(labels, list(engine.model.segmenter.labels))
        except GanpaintError as exc:
            return PageUpdate(status=problem(str(exc)))
        units = engine.concepts.top_units(concept, 12)
        shares = " · ".join(f"<span style='color:{c}'>■</span> {n} {s:.0%}" for n, c, s in legend if s >= 0.005)
        return PageUpdate(units=upscale(overlay, INSPECT_SIDE), segmentation=upscale(seg_img, INSPECT_SIDE),
                       status=f"**{concept}**: units {', '.join(map(str, units))}. Left: where they fire on your "
                              f"inverted photo (scaled to its peak, {peak:.0%} of their insertion level; mean "
                              f"{heat.mean():.0%}). Right: the segmenter's map of the render: {shares}")

    def select_concept(self, session: EditSession, concept: str) -> PageUpdate:
        """Paint the canvas where the segmenter sees ``concept`` in the render: a ready mask for a stroke."""
        try:
            if session.state is None:
                raise GanpaintError("no photo yet: upload a photo (or pick an example) first")
            mask = concept_mask(self.engine(session), self._render_square(session), concept)
        except GanpaintError as exc:
            return PageUpdate(status=problem(str(exc)))

        return PageUpdate(canvas=Canvas(canvas_image(session.photo), paint=selection_layer(session, mask)),
                       status=f"Selected the **{concept}** the segmenter sees ({mask.mean():.0%} of the square). "
                              "Paint or erase to adjust, then pick add / remove and **Add stroke**.")


def selection_layer(session: EditSession, mask: np.ndarray) -> np.ndarray:
    """A mask on the model's square as an RGBA paint layer over the canvas's display copy of the photo."""
    shown = display_image(session.photo)
    box = display_box(session.photo, shown)
    big = np.asarray(Image.fromarray((mask > 0.5).astype(np.uint8) * 255).resize((box.side, box.side),
                                                                                  Image.Resampling.NEAREST)) > 0
    placed = box.place(big, *shown.shape[:2])
    layer = np.zeros((*shown.shape[:2], 4), np.uint8)
    layer[placed] = SELECT_RGBA
    return layer

