"""Segment inversion on the app's model, through the API, the CLI, records and the page."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganpaint_core.cli import main as cli
from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.caches import EditCaches
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.pipeline import edit_photo
from ganpaint_core.edit.segments import SegmentConfig, SegmentError
from ganpaint_core.edit.spec import EditOptions, StrokeSpec
from ganpaint_core.edit.strokes import StrokeError
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.page import UNCHANGED, EditPage, PageUpdate
from ganpaint_core.page.session import EditSession
from ganpaint_core.page.share import restore, share_bundle
from tests.helpers import box_mask, make_engine, scene_png

QUICK = SegmentConfig(joint_steps=6)


@pytest.fixture(scope="module")
def engine() -> EditEngine:
    base = make_engine()  # the app's model: it has a segmenter and an encoder
    return EditEngine(base.model, inversion=base.inversion_cfg, adaptation=base.adapt_cfg, segments=QUICK,
                      use_lpips=False, caches=EditCaches(setup_store=None))


@pytest.fixture(scope="module")
def photo(engine):
    return load_photo(scene_png(9_000_701, (96, 80)), size=engine.resolution)


def _spec(engine) -> StrokeSpec:
    return StrokeSpec(mask=box_mask(engine.resolution, engine.resolution, 0.3, 0.7, 0.3, 0.7), concept="tree",
                      action="add", strength=0.9)


def test_edit_photo_with_segments_edits_and_the_setup_cache_tells_the_modes_apart(engine, photo):
    single = edit_photo(engine, photo, [_spec(engine)], options=EditOptions(adapt=False))
    seg = edit_photo(engine, photo, [_spec(engine)], options=EditOptions(adapt=False, invert="segments"))
    assert seg.state.invert == "segments" and single.state.invert == "single"
    assert "segments_s" in seg.state.timings and "segments_s" not in single.state.timings
    assert any(n.startswith("segment inversion: ") for n in seg.state.notes)
    assert seg.state.recon_psnr_before >= single.state.recon_psnr_before
    assert not torch.equal(seg.state.features, single.state.features)
    assert (seg.result.preview != seg.result.base).any()  # the stroke changed the render
    assert seg.record["options"]["invert"] == "segments" and "segments" in seg.record["parameters"]
    again = engine.prepare(photo, adapt=False, invert="segments")
    assert torch.equal(again.features, seg.state.features) and again.invert == "segments"
    assert any("set up before" in n for n in again.notes)


def test_a_bad_invert_value_is_refused_with_a_clear_message(engine, photo):
    for bad in ("bogus", None, 3):
        with pytest.raises(StrokeError, match="invert must be 'single'.*or 'segments'"):
            edit_photo(engine, photo, [_spec(engine)], options=EditOptions(invert=bad))
    with pytest.raises(SegmentError, match="invert must be one of single, segments"):
        engine.prepare(photo, invert="chunky")


def test_a_record_with_segments_round_trips_and_an_old_one_loads_as_single(engine, photo):
    out = edit_photo(engine, photo, [_spec(engine)], options=EditOptions(adapt=False, invert="segments"))
    bundle = json.loads(json.dumps(share_bundle(engine, out.state, [_spec(engine)], options=EditOptions(
        adapt=False, invert="segments"), record=out.record)))
    _, specs, options = restore(engine, bundle)
    assert options.invert == "segments" and not options.adapt and len(specs) == 1
    assert EditOptions.from_json(out.record["options"]) == EditOptions(adapt=False, invert="segments")
    old = bundle | {"options": {"fit": "crop", "adapt": True, "refit": False}}  # a record from before the option
    assert restore(engine, old)[2].invert == "single"
    with pytest.raises(StrokeError, match="invert must be"):
        restore(engine, bundle | {"options": {"invert": "chunks"}})


def _cli_files(tmp_path):
    photo, mask = tmp_path / "church.png", tmp_path / "mask.png"
    photo.write_bytes(scene_png(9_000_702, (96, 80)))
    Image.fromarray((box_mask(80, 96, 0.3, 0.7, 0.3, 0.7) * 255).astype(np.uint8)).save(mask)
    return ["edit", "--image", str(photo), "--mask", str(mask), "--concept", "tree", "--action", "add",
            "--no-adapt", "--out", str(tmp_path / "out.png"), "--report", str(tmp_path / "r.json")]


def test_the_cli_refuses_a_bogus_invert_in_one_line(tmp_path, capsys):
    assert cli.main([*_cli_files(tmp_path), "--invert", "bogus"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invert must be 'single'" in err and not (tmp_path / "out.png").exists()


@pytest.mark.slow  # the CLI's full-length inversion, then segments: a minute or more on a busy 2-core CPU
def test_the_cli_takes_invert_segments(tmp_path):
    assert cli.main([*_cli_files(tmp_path), "--invert", "segments"]) == 0
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["options"]["invert"] == "segments" and "segments_s" in record["timings_s"]
    assert np.asarray(Image.open(tmp_path / "out.png")).shape == (80, 96, 3)


def test_the_page_opens_a_photo_with_segments_and_renders_with_them(engine, tmp_path):
    page = EditPage(engine, out_dir=tmp_path / "renders")
    path = tmp_path / "church.png"
    path.write_bytes(scene_png(9_000_703, (96, 80)))
    items = list(page.open_photo(EditSession(model=page.default_model), str(path), name="c.png", invert="segments"))
    assert isinstance(items[-1], PageUpdate) and all(isinstance(i, JobUpdate) for i in items[:-1])
    session = items[-1].session
    assert session.state.invert == "segments"  # the quick fit first (one code), then the full fit, with segments
    full = page.full_session(session)
    assert full.state.fit == "full" and full.state.segments is not None and "segments_s" in full.state.timings
    bad = list(page.open_photo(session, str(path), name="c.png", invert="chunks"))
    assert "invert must be" in bad[-1].status and bad[-1].session is UNCHANGED  # the loaded photo stays
