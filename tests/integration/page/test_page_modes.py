"""The page's colour / sketch brushes and latent directions without a browser: what each click changes and says,
and that every refusal leaves the session usable."""
from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.analysis.directions import find_directions
from ganpaint_core.edit.brush import BrushSpec
from ganpaint_core.edit.direction_edit import DirectionSpec
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.page import DirectionSettings, EditPage, PageUpdate, PaintSettings
from ganpaint_core.page.session import EditSession, stroke_labels
from tests.helpers import box_mask, make_engine, scene_png

COLOUR = PaintSettings(concept="tree", action="add", strength=1.0, mode="Colour brush", candidates=3)
SKETCH = dataclasses.replace(COLOUR, mode="Sketch brush")
SKY = DirectionSettings(name="sky", amount=2.0)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A page whose engine already holds synth-church's directions, found on few samples (seconds, not the
    minute or two the default takes): the page's own job then reads them at once."""
    engine = make_engine()
    engine.use_directions(find_directions(engine.model, samples=256, components=2))
    return EditPage(engine, out_dir=tmp_path_factory.mktemp("renders"))


@pytest.fixture(scope="module")
def photo(page, tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "church.png"
    path.write_bytes(scene_png(9_000_601, (320, 240)))
    items = list(page.open_photo(EditSession(model=page.default_model), str(path), name="church.png"))
    return str(path), items[-1].session


def colour_layer(mask: np.ndarray, rgb=(40, 90, 230)) -> np.ndarray:
    """A canvas layer: opaque paint in ``rgb`` where ``mask``."""
    out = np.zeros((*mask.shape, 4), np.uint8)
    out[mask > 0] = (*rgb, 255)
    return out


def stroke_box() -> np.ndarray:
    return box_mask(300, 400, 0.35, 0.55, 0.35, 0.6)  # on the 400×300 canvas, inside the model's square


def test_a_colour_brush_finds_candidates_picks_morphs_adds_and_renders(page, photo):
    path, session = photo
    canvas = [colour_layer(stroke_box())]
    before = page.paint(session, canvas, COLOUR)
    assert "press **Find candidates**" in before.paint_info  # no optimisation on every stroke painted
    found = page.find_candidates(session, canvas, COLOUR)
    assert "status" in found.changed() and "3 candidates" in found.status, found.status
    assert len(found.candidates) == 3 and found.brush_pick == 0
    assert all(img.shape == (300, 400, 3) for img, _ in found.candidates)  # finals at display size
    assert found.candidates[0][1].startswith("#1 · off ")
    assert np.array_equal(found.preview, found.candidates[0][0])
    picked = page.pick_candidate(session, canvas, COLOUR, 2)
    assert picked.brush_pick == 2 and np.array_equal(picked.preview, found.candidates[2][0])
    half = page.paint(session, canvas, dataclasses.replace(COLOUR, pick=2, morph=0.5))
    assert "candidate 3 at morph 0.50" in half.paint_info
    start = page.paint(session, canvas, dataclasses.replace(COLOUR, pick=2, morph=0.0))
    assert not np.array_equal(half.preview, picked.preview) and not np.array_equal(half.preview, start.preview)

    added = page.add(session, canvas, dataclasses.replace(COLOUR, pick=2, morph=0.5))
    assert added.strokes.labels[0].startswith("1 · colour brush · candidate 3 of 3 · morph 0.50"), added.strokes
    assert added.candidates == [] and added.brush_pick == 0 and added.canvas.background is not None
    assert isinstance(added.session.strokes[0], BrushSpec)
    final = page.render(added.session, [], COLOUR)
    assert final.status.startswith("Rendered 320×240 with 1 active stroke"), final.status
    png = np.asarray(Image.open(final.png)).astype(int)
    original = np.asarray(Image.open(path).convert("RGB")).astype(int)
    stroke = np.asarray(Image.fromarray(stroke_box().astype(np.uint8) * 255).resize((320, 240))) > 0
    assert np.abs(png - original)[stroke].mean() > 5  # it changed under the paint
    assert np.array_equal(png[:, :40], original[:, :40])  # and not far from it
    record = json.loads(open(final.sidecar).read())
    assert record["strokes"][0]["kind"] == "brush" and record["strokes"][0]["pick"] == 2


@pytest.mark.slow  # over 4 s: the full suite runs it, the fast lane does not
def test_a_shared_brush_and_direction_reopen_to_the_same_pixels(page, photo, monkeypatch, tmp_path):
    monkeypatch.setenv("GANPAINT_SHARE_DIR", str(tmp_path / "shares"))
    page._shares = None
    _, session = photo
    list(page.find_directions(session))
    canvas = [colour_layer(stroke_box(), rgb=(250, 250, 40))]
    session = page.add(session, canvas, dataclasses.replace(SKETCH, pick=1)).session
    session = page.add_direction(session, [], SKY).session
    assert [type(s) for s in session.strokes] == [BrushSpec, DirectionSpec]
    final = page.render(session, [], COLOUR)
    shared = page.share(final.session, "http://127.0.0.1:7860")
    assert shared.share.startswith("**Link to this edit:**"), shared.status
    share_id = re.search(r"\?edit=([0-9a-f]{64})", shared.share).group(1)
    items = list(page.open_shared(EditSession(model=page.default_model), share_id))
    reopened = items[-1]
    assert isinstance(reopened, PageUpdate) and reopened.status.startswith("Opened the shared edit"), reopened.status
    assert np.array_equal(np.asarray(Image.open(reopened.png)), np.asarray(Image.open(final.png)))
    assert reopened.strokes.labels == tuple(stroke_labels(session))
    page._shares = None
    grid = page.compare(session, strengths="0.5, 1", adapt_both=True, across_models=True)  # no strength to vary
    assert grid.status.startswith("Compared 4 settings") and grid.compare is not None, grid.status


def test_bad_brushes_are_refused_and_the_session_stays_usable(page, photo):
    _, session = photo
    empty = page.find_candidates(session, [np.zeros((300, 400, 4), np.uint8)], COLOUR)
    assert empty.status.startswith("**Problem:** the canvas is empty") and "session" not in empty.changed()
    whole = page.find_candidates(session, [colour_layer(np.ones((300, 400)))], COLOUR)
    assert whole.status.startswith("**Problem:** the brush strokes cover") and "use a direction" in whole.status
    assert page.add(session, [colour_layer(np.ones((300, 400)))], COLOUR).status.startswith("**Problem:**")
    concept = page.find_candidates(session, [colour_layer(stroke_box())], dataclasses.replace(COLOUR, mode="Concept"))
    assert "pick the colour, sketch or warp brush" in concept.status
    bad_pick = page.pick_candidate(session, [colour_layer(stroke_box())], COLOUR, 7)
    assert bad_pick.status.startswith("**Problem:** there is no candidate 7")
    ok = page.find_candidates(session, [colour_layer(stroke_box())], SKETCH)  # still usable
    assert len(ok.candidates) == 3 and ok.candidates[0][1].startswith("#1 · edges ")


def test_directions_are_found_with_progress_previewed_added_and_checked(page, photo):
    _, session = photo
    fresh = EditPage(page.catalog.engine(page.default_model), out_dir=page.out_dir)  # has not found them yet
    early = fresh.direction_preview(session, [], SKY)
    assert "press **Find directions** first" in early.status
    items = list(fresh.find_directions(session))
    ready = items[-1]
    assert all(isinstance(i, JobUpdate) for i in items[:-1])
    assert ("sky — more sky", "sky") in ready.directions.options and ready.directions.options[-1][1] == "pc2"
    assert "directions of **" in ready.status
    plain = fresh.paint(session, [], PaintSettings(concept="tree", action="add", strength=1.0)).preview
    more = fresh.direction_preview(session, [], SKY)
    assert "direction sky +2.0 · whole photo (not added yet)" in more.paint_info
    assert not np.array_equal(more.preview, plain)
    where = DirectionSettings(name="pc1", amount=-1.5, where="Under the painted mask")
    needs_paint = fresh.direction_preview(session, [], where)
    assert "paint where the direction should apply" in needs_paint.status
    masked = fresh.add_direction(session, [colour_layer(stroke_box())], where)
    assert masked.strokes.labels[0].startswith("1 · direction pc1 -1.5 · under the mask"), masked.strokes
    assert masked.canvas.background is not None  # the mask was used up
    unknown = fresh.direction_preview(session, [], DirectionSettings(name="nope", amount=1.0))
    assert unknown.status.startswith("**Problem:** unknown direction 'nope'") and "session" not in unknown.changed()
    far = fresh.add_direction(session, [], DirectionSettings(name="sky", amount=3.5))
    assert far.status.startswith("**Problem:**") and "3" in far.status and "session" not in far.changed()
    again = fresh.add_direction(masked.session, [], SKY)  # still usable
    assert len(again.strokes.labels) == 2


def test_a_warp_brush_drags_the_painted_region_to_the_red_dot(page, photo):
    """Paint what moves (cyan), put a red dot where it goes; K candidates (the count control), each captioned
    with its handle distance and its change from the photo, then kept as a warp stroke."""
    _, session = photo
    region = box_mask(300, 400, 0.40, 0.50, 0.40, 0.47)
    dot = box_mask(300, 400, 0.44, 0.46, 0.56, 0.58)
    canvas = [colour_layer(region, (0, 229, 255)), colour_layer(dot, (255, 32, 32))]
    warp = dataclasses.replace(COLOUR, mode="Warp brush", candidates=5)
    found = page.find_candidates(session, canvas, warp)
    assert len(found.candidates) == 5 and "5 candidates" in found.status, found.status
    assert re.fullmatch(r"#1 · handle \d+\.\d px off · Δ \d+", found.candidates[0][1]), found.candidates[0][1]
    added = page.add(session, canvas, warp)
    assert added.strokes.labels[0].startswith("1 · warp ("), added.strokes
    (spec,) = added.session.strokes
    assert spec.kind == "warp" and spec.target[0] - spec.handle[0] > 5  # dragged to the right, on the square
    empty = page.find_candidates(session, [colour_layer(region, (0, 229, 255))], warp)
    assert "red dot" in empty.status
