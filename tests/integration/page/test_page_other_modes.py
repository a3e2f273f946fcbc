"""The page's transformation, painting from nothing and edits of one segment, without gradio."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.analysis.directions import load_directions
from ganpaint_core.edit.caches import EditCaches
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.segments import SegmentConfig
from ganpaint_core.page.page import UNCHANGED, EditPage, PageUpdate
from ganpaint_core.page.session import EditSession
from ganpaint_core.page.values import DirectionSettings
from tests.helpers import make_engine, scene_png


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> EditPage:
    base = make_engine()
    engine = EditEngine(base.model, inversion=base.inversion_cfg, adaptation=base.adapt_cfg,
                        segments=SegmentConfig(joint_steps=4), use_lpips=False, caches=EditCaches(setup_store=None))
    engine.use_directions(load_directions(engine.model, samples=128, components=2))
    return EditPage(engine, out_dir=tmp_path_factory.mktemp("renders"))


def _open(page: EditPage, path: Path, **kwargs) -> EditSession:
    items = list(page.open_photo(EditSession(model=page.default_model), str(path), name=path.name, **kwargs))
    return items[-1].session


def test_the_page_turns_the_photo_into_another(page, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(scene_png(9_400_001, (96, 80)))
    b.write_bytes(scene_png(9_400_002, (80, 96)))
    session = _open(page, a)
    items = list(page.transform(session, str(b), 4))
    done = items[-1]
    assert isinstance(done, PageUpdate) and done.transform.endswith(".gif"), done.status
    with Image.open(done.transform) as im:
        assert im.n_frames == 6  # A → B → A
    assert Image.open(done.transform_strip).size == (4 * 256, 256)
    assert "4 frames" in done.status
    refused = list(page.transform(session, None, 4))[-1]
    assert "upload the photo" in refused.status and refused.transform is UNCHANGED


@pytest.mark.slow  # the page's default optimisation (60 steps, 4 candidates): ~20 s on a busy 2-core CPU
def test_the_page_starts_from_nothing_and_makes_an_image_from_the_paint(page):
    empty = EditSession(model=page.default_model)
    started = page.start_from_nothing(empty, "sample", 5)
    assert started.session.state is not None and "Started from nothing" in started.status
    paint = np.zeros((512, 512, 4), np.uint8)
    paint[60:200, 100:400] = (40, 90, 200, 255)
    made = page.make_from_paint(started.session, [paint], "sample", 5)
    assert "Made from nothing" in made.status, made.status
    assert not np.array_equal(made.session.photo.original, started.session.photo.original)
    assert made.session.photo_name == "made-sample-5"
    assert "the canvas is empty" in page.make_from_paint(started.session, [], "sample", 5).status


@pytest.mark.slow  # over 5 s: the full suite runs it, the fast lane does not
def test_the_page_adds_a_direction_to_one_clicked_segment(page, tmp_path):
    path = tmp_path / "c.png"
    path.write_bytes(scene_png(9_400_003, (96, 80)))
    single = _open(page, path)
    assert "set up with one code" in page.show_segments(single).status
    quick = _open(page, path, invert="segments")  # opens on the quick fit (one code); segments wait for the full
    shown = page.show_segments(quick)
    session = page.full_session(quick)
    assert shown.segment_map.shape == (256, 256, 3) and len(shown.segments.options) >= 2
    name = shown.segments.options[-1]
    labels = session.state.segments.label_map(256).numpy()
    ys, xs = np.nonzero(labels == list(shown.segments.options).index(name))
    clicked = page.segment_clicked(session, float(xs[len(xs) // 2]), float(ys[len(ys) // 2]))
    assert clicked.segments.value == name and clicked.segments.options == shown.segments.options
    added = page.add_to_segment(session, [], name, DirectionSettings("pc1", 2.0), "Concept")
    assert added.session.strokes and added.session.strokes[0].segment == name, added.status
    assert f"segment {name}: direction pc1 +2.0" in added.status
