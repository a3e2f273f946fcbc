"""The page's transformation, painting from nothing and edits of one segment, without gradio: each action returns
a ``PageUpdate`` (or yields progress, then one), like the rest of :class:`ganpaint_core.page.page.EditPage`, which
inherits them. The work is the library's: :mod:`ganpaint_core.review.transform`, :mod:`ganpaint_core.edit.scratch`
and :mod:`ganpaint_core.edit.segment_edit`; renders go through the one edit path (``session.render``).

Example::

    for item in page.transform(session, "other.jpg", 8): ...     # progress (B's setup), then the animation
    update = page.start_from_nothing(session, "sample", 3)       # a generated start to paint over
    update = page.make_from_paint(session, layers, "sample", 3)  # the image that meets the paint
    update = page.show_segments(session)                          # the photo's segments, to click
    update = page.add_to_segment(session, layers, "sky", DirectionSettings("pc1", 1.5), "Concept")
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.brush import brush_from_images
from ganpaint_core.edit.direction_edit import DirectionSpec
from ganpaint_core.edit.scratch import ScratchConfig, paint_from_scratch, scratch_start
from ganpaint_core.edit.segment_edit import SegmentEdit, photo_segments, segment_at
from ganpaint_core.page.base import PageBase
from ganpaint_core.page.canvas import display_image, upscale
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.modes import OUTSIDE, paint_layer
from ganpaint_core.page.session import EditSession, add_stroke, check_stroke, file_stem, render
from ganpaint_core.page.text import problem
from ganpaint_core.page.values import BRUSH_MODES, Choices, DirectionSettings, PageUpdate, canvas_of, stroke_list
from ganpaint_core.review.transform import check_frames, save_transformation, transform_frames
from ganpaint_core.review.units import segmentation_image

MAP_SIDE = 256  # the segment map is shown at this side (clicks are read as shares of it)
NO_PHOTO = "no photo yet: upload a photo (or pick an example) first"


class OtherModeActions(PageBase):
    """Transformation, painting from nothing, edits of one segment."""

    scratch_cfg: ScratchConfig = ScratchConfig()  # how an image is made from the paint (a page may set its own)

    # -- photo to photo --------------------------------------------------------------------------------
    def transform(self, session: EditSession, path: str | None, frames: int) -> Iterator[JobUpdate | PageUpdate]:
        """The open photo turned into ``path``'s: B set up (progress), then the frames as an animation and a strip
        (from the open photo's full fit, waited for: the first frame is its reconstruction)."""
        try:
            session = self.full_session(session)
            if session.state is None:
                raise GanpaintError(NO_PHOTO)
            if not path:
                raise GanpaintError("upload the photo to turn yours into first")
            frames = check_frames(int(frames))
            engine = self.engine(session)
            photo = load_photo(path, size=engine.resolution, fit=session.photo.fit)
            t0 = time.monotonic()
            other = yield from self._run(lambda cb: self.gpu.setup(engine.prepare, photo, adapt=True,
                                                                   invert=session.state.invert, callback=cb),
                                         stage="open")
            seq = self.gpu.edit(transform_frames, engine, session.state, other, frames=frames)
            name = f"{session.photo_name}-to-{file_stem(Path(path).name)}-{time.time_ns()}.gif"
            animation, strip = save_transformation(seq, Path(self.out_dir) / name, size=MAP_SIDE)
        except GanpaintError as exc:
            yield PageUpdate(status=problem(str(exc)))
            return
        steady = "each frame further from yours and closer to the other" if seq.monotone else \
            "not every frame moves steadily from one to the other"
        yield PageUpdate(transform=str(animation), transform_strip=str(strip),
                         status=f"{frames} frames from your photo's reconstruction to the other's "
                                f"({time.monotonic() - t0:.1f} s): {steady}.")

    # -- from nothing ----------------------------------------------------------------------------------
    def start_from_nothing(self, session: EditSession, start: str, seed: float | int) -> PageUpdate:
        """A generated start (a blank or sample ``seed``) as the photo, to paint colours and lines over."""
        try:
            engine = self.engine(session)
            state = self.gpu.edit(scratch_start, engine, start=start, seed=int(seed))
        except GanpaintError as exc:
            return PageUpdate(status=problem(str(exc)))
        new = EditSession(model=engine.model.manifest.name, state=state, photo_name=f"nothing-{start}-{int(seed)}",
                          reference=session.reference)
        return PageUpdate(session=new, canvas=canvas_of(new), preview=display_image(new.photo), slider=None,
                          png=None, sidecar=None, strokes=stroke_list(new),
                          status=f"Started from nothing ({state.notes[0].removeprefix('made from nothing: ')}). "
                                 "Paint colours (and lines) over it, then press **Make it from the paint**.")

    def make_from_paint(self, session: EditSession, layers: Sequence[np.ndarray | None] | None, start: str,
                        seed: float | int) -> PageUpdate:
        """The image that meets the canvas's paint (its colours; thin dark lines are not told apart here),
        made from ``start``; it becomes the photo, ready for concept strokes."""
        try:
            engine = self.engine(session)
            base = session.state or scratch_start(engine, start=start, seed=int(seed))
            paint = paint_layer(layers or [])
            if paint is None or not (paint[..., 3] > 0).any():
                raise GanpaintError("the canvas is empty: paint the colours the new image should have first")
            spec = brush_from_images(paint, None, base.photo, resolution=engine.resolution)
            if spec.color_mask is None or not spec.color_mask.any():
                raise GanpaintError(OUTSIDE)
            made = self.gpu.edit(paint_from_scratch, engine, spec, start=start, seed=int(seed), cfg=self.scratch_cfg)
        except GanpaintError as exc:
            return PageUpdate(status=problem(str(exc)))
        new = EditSession(model=engine.model.manifest.name, state=made.state,
                          photo_name=f"made-{start}-{int(seed)}", reference=session.reference)
        return PageUpdate(session=new, canvas=canvas_of(new), preview=display_image(new.photo), slider=None,
                          png=None, sidecar=None, strokes=stroke_list(new),
                          status=f"Made from nothing in {made.seconds:.1f} s: the colours are off by "
                                 f"{made.color_error_after:.0f} (0..255; the start was off by "
                                 f"{made.color_error_before:.0f}). It is now your photo: add concepts as usual.")

    # -- one segment -----------------------------------------------------------------------------------
    def show_segments(self, session: EditSession) -> PageUpdate:
        """The photo's segments (segment inversion) as a map to click, and as choices."""
        try:
            session = self.full_session(session)  # segments are the full fit's (the quick fit has one code)
            if session.state is None:
                raise GanpaintError(NO_PHOTO)
            segments = photo_segments(session.state)
        except GanpaintError as exc:
            return PageUpdate(status=problem(str(exc)))
        labels = segments.label_map(int(session.state.base_render.shape[-1])).numpy()
        image, legend = segmentation_image(labels, list(segments.names))
        names = list(segments.names)
        shares = " · ".join(f"<span style='color:{c}'>■</span> {n} {s:.0%}" for n, c, s in legend if s > 0)
        return PageUpdate(segment_map=upscale(image, MAP_SIDE), segments=Choices(tuple(names), names[0]),
                          status=f"The photo's segments: {shares}. Click one (or choose it), then add a direction "
                                 "or the painted brush to it.")

    def segment_clicked(self, session: EditSession, x: float, y: float) -> PageUpdate:
        """The segment under a click on the map (``x``, ``y`` in its pixels)."""
        try:
            session = self.full_session(session)  # segments are the full fit's (the quick fit has one code)
            if session.state is None:
                raise GanpaintError(NO_PHOTO)
            name = segment_at(session.state, x / MAP_SIDE, y / MAP_SIDE)
        except GanpaintError as exc:
            return PageUpdate(status=problem(str(exc)))
        return PageUpdate(segments=Choices(tuple(session.state.segments.names), name),
                          status=f"Segment **{name}** chosen.")

    def add_to_segment(self, session: EditSession, layers: Sequence[np.ndarray | None] | None, segment: str | None,
                       direction: DirectionSettings, mode: str) -> PageUpdate:
        """Keep, on ``segment``'s code only, the canvas's paint as a brush when ``mode`` (a key of BRUSH_MODES) is a
        colour or sketch brush and something is painted; else the directions panel's direction (whole photo)."""
        try:
            session = self.full_session(session)  # segments are the full fit's (the quick fit has one code)
            if session.state is None:
                raise GanpaintError(NO_PHOTO)
            if not segment:
                raise GanpaintError("choose a segment first: press **Show segments**, then click one")
            engine = self.engine(session)
            drawn = paint_layer(layers or [])
            brush = BRUSH_MODES.get(mode, "concept")
            if drawn is not None and (drawn[..., 3] > 0).any() and brush != "concept":
                colour, sketch = (drawn, None) if brush == "colour" else (None, drawn)
                inner = brush_from_images(colour, sketch, session.photo, resolution=engine.resolution)
            elif direction.name:
                inner = DirectionSpec(name=direction.name, amount=direction.amount)
            else:
                raise GanpaintError("pick a direction (Directions panel) or paint with the colour or sketch brush")
            spec = check_stroke(engine, session, SegmentEdit(segment=segment, edit=inner))
            new = add_stroke(session, spec)
            outcome = self.gpu.edit(render, engine, new, final=False)
        except GanpaintError as exc:
            return PageUpdate(status=problem(str(exc)))
        return PageUpdate(session=new, preview=self._preview(new, outcome), strokes=stroke_list(new),
                          canvas=canvas_of(new), paint_info=f"{len(new.strokes)} stroke(s) kept",
                          status=f"Stroke {len(new.strokes)} added: {spec.describe()}.")
