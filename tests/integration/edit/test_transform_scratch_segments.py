"""Issue 28's other modes on the app's model: edits of one segment (the stroke kind, records, the setup store, the
CLI), photo-to-photo transformation (frames, files, the CLI) and painting from nothing (library and CLI)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganpaint_core.analysis.directions import load_directions
from ganpaint_core.cli import main as cli
from ganpaint_core.core.photo import load_photo, to_uint8
from ganpaint_core.edit.brush import color_error
from ganpaint_core.edit.caches import EditCaches
from ganpaint_core.edit.direction_edit import DirectionSpec
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.pipeline import edit_photo
from ganpaint_core.edit.recipe import parse_recipe
from ganpaint_core.edit.scratch import ScratchConfig, paint_from_scratch, scratch_start
from ganpaint_core.edit.segment_edit import SegmentEdit, segment_at, segment_weight
from ganpaint_core.edit.segments import SegmentConfig
from ganpaint_core.edit.setup_store import SetupStore
from ganpaint_core.edit.spec import EditOptions, StrokeSpec
from ganpaint_core.edit.strokes import StrokeError
from ganpaint_core.page.share import restore, share_bundle
from ganpaint_core.review.transform import save_transformation, transform_frames
from tests.helpers import blue_brush, box_mask, make_engine, scene_png

QUICK_SCRATCH = ScratchConfig(steps=25, candidates=2)


@pytest.fixture(scope="module")
def engine() -> EditEngine:
    base = make_engine()
    engine = EditEngine(base.model, inversion=base.inversion_cfg, adaptation=base.adapt_cfg,
                        segments=SegmentConfig(joint_steps=6), use_lpips=False, caches=EditCaches(setup_store=None))
    engine.use_directions(load_directions(engine.model, samples=128, components=2))
    return engine


@pytest.fixture(scope="module")
def seg_state(engine):
    return engine.prepare(load_photo(scene_png(9_000_801, (96, 80)), size=engine.resolution), invert="segments")


# -- one segment -------------------------------------------------------------------------------------------
def test_a_direction_on_one_segment_moves_only_that_code_and_the_photo_keeps_the_rest(engine, seg_state):
    segments = seg_state.segments
    assert segments is not None and len(segments.names) >= 2 and segments.codes.shape[0] == len(segments.names)
    k = int(np.argmax([float(m.mean()) for m in segments.masks]))
    name = segments.names[k]
    spec = SegmentEdit(segment=name, edit=DirectionSpec(name="pc1", amount=3.0))
    out = edit_photo(engine, seg_state, [spec])
    applied = out.strokes[0]
    # The change of the features is segment k's code moved, under its mask, and nothing else.
    z = segments.codes[k:k + 1]
    moved = engine.directions().shift(z, "pc1", 3.0)
    expected = segments.masks[k:k + 1] * (engine.head(moved) - engine.head(z))
    assert torch.allclose(applied.delta, expected, atol=1e-5)
    weight = segment_weight(segments, k, engine.resolution)
    photo = seg_state.photo
    from ganpaint_core.edit.composite import paste_alpha

    untouched = paste_alpha(photo, weight) == 0
    assert untouched.any() and np.array_equal(out.result.final[untouched], photo.original[untouched])
    assert (out.result.final != photo.original).any()
    # its record is a recipe: read back, it gives the same pixels
    again = [e.to_spec(photo, engine, {})[0] for e in parse_recipe(json.loads(json.dumps(out.record)), base=None)]
    assert again[0].segment == name and np.array_equal(edit_photo(engine, seg_state, again).result.final,
                                                       out.result.final)
    assert out.record["strokes"][0]["kind"] == "segment" and out.record["strokes"][0]["edit"]["kind"] == "direction"
    assert segment_at(seg_state, *_centre_of(segments.label_map(engine.resolution) == k)) == name
    # a share bundle carries it too: restored, set up again the same way, the same pixels
    bundle = json.loads(json.dumps(share_bundle(engine, seg_state, [spec], options=EditOptions(invert="segments"),
                                                record=out.record)))
    photo_back, specs, options = restore(engine, bundle)
    assert options.invert == "segments" and specs[0].segment == name
    assert np.array_equal(edit_photo(engine, seg_state, specs).result.final, out.result.final)


def _centre_of(inside: torch.Tensor) -> tuple[float, float]:
    ys, xs = np.nonzero(inside.numpy())
    i = len(ys) // 2  # a pixel of the segment (its mean may fall outside a ring-shaped one)
    side = inside.shape[0]
    return (xs[i] + 0.5) / side, (ys[i] + 0.5) / side


def test_one_segment_is_refused_on_a_single_code_setup_and_for_an_unknown_segment(engine, seg_state):
    single = engine.prepare(seg_state.photo, adapt=False)
    with pytest.raises(StrokeError, match="set up with one code"):
        edit_photo(engine, single, [SegmentEdit(segment="sky", edit=DirectionSpec(name="pc1", amount=1.0))])
    with pytest.raises(StrokeError, match="its segments are"):
        edit_photo(engine, seg_state, [SegmentEdit(segment="moon", edit=DirectionSpec(name="pc1", amount=1.0))])
    bad = {"strokes": [{"kind": "segment", "segment": "sky", "edit": {"kind": "concept", "concept": "tree"}}]}
    with pytest.raises(StrokeError, match="a direction or a brush"):
        parse_recipe(bad, base=None)


def test_the_setup_store_keeps_the_segments(tmp_path, engine, seg_state):
    store = SetupStore(tmp_path, max_bytes=2**30)
    fields = {k: getattr(seg_state, k) for k in ("latent", "features", "adapter", "recon_psnr_before",
                                                  "recon_psnr_after", "base_render", "timings", "notes", "segments")}
    store.put("ab" * 32, fields)
    back = store.get("ab" * 32)
    assert back["segments"].names == seg_state.segments.names
    assert torch.equal(back["segments"].codes, seg_state.segments.codes)
    assert torch.equal(back["segments"].masks, seg_state.segments.masks)


# -- transformation ------------------------------------------------------------------------------------------
def test_a_transformation_starts_at_a_and_ends_at_b_and_is_written(tmp_path, engine):
    a = engine.prepare(load_photo(scene_png(9_000_802, (96, 80)), size=engine.resolution))
    b = engine.prepare(load_photo(scene_png(9_000_803, (80, 96)), size=engine.resolution))
    seq = transform_frames(engine, a, b, frames=5)
    assert len(seq.frames) == 5
    assert np.array_equal(seq.frames[0], to_uint8(a.base_render[0]))
    assert np.array_equal(seq.frames[-1], to_uint8(b.base_render[0]))
    assert seq.distance_to_a[0] == 0 and seq.distance_to_b[-1] == 0 and seq.distance_to_a[-1] > 5
    assert seq.monotone == all(x <= y for x, y in zip(seq.distance_to_a, seq.distance_to_a[1:])) and all(
        x >= y for x, y in zip(seq.distance_to_b, seq.distance_to_b[1:]))
    gif, strip = save_transformation(seq, tmp_path / "t.gif", size=32)
    with Image.open(gif) as im:
        assert im.n_frames == 8  # A → B → A
    assert Image.open(strip).size == (5 * 32, 32)


def test_the_transform_command_refuses_bad_values_in_one_line(tmp_path, capsys):
    photo = tmp_path / "a.png"
    photo.write_bytes(scene_png(9_000_804, (64, 64)))
    args = ["transform", "--from", str(photo), "--to", str(photo)]
    assert cli.main([*args, "--frames", "1", "--out", str(tmp_path / "t.gif")]) == 2
    assert cli.main([*args, "--out", str(tmp_path / "t.mp4")]) == 2
    err = capsys.readouterr().err
    assert "frames must be a whole number from 2" in err and "name it .gif or .webp" in err
    assert err.count("\n") == 2


# -- from nothing ----------------------------------------------------------------------------------------------
def test_painting_from_nothing_meets_the_colours_and_then_takes_strokes(engine):
    paint = blue_brush()
    made = paint_from_scratch(engine, paint, start="blank", seed=0, cfg=QUICK_SCRATCH)
    assert made.color_error_after < made.color_error_before / 2
    assert made.color_error_after == pytest.approx(color_error(made.state.photo.original, paint), abs=3)
    assert np.array_equal(scratch_start(engine, start="sample", seed=4).photo.original,
                          scratch_start(engine, start="sample", seed=4).photo.original)
    spec = StrokeSpec(mask=box_mask(64, 64, 0.5, 0.9, 0.1, 0.5), concept="tree", action="add", strength=0.9)
    out = edit_photo(engine, made.state, [spec])
    assert (out.result.final != made.state.photo.original).any()
    with pytest.raises(Exception, match="start must be blank or sample"):
        scratch_start(engine, start="noise")


def test_the_edit_command_refuses_a_segment_without_a_direction_or_brush(tmp_path, capsys):
    photo = tmp_path / "a.png"
    photo.write_bytes(scene_png(9_000_805, (64, 64)))
    assert cli.main(["edit", "--image", str(photo), "--segment", "sky", "--out", str(tmp_path / "o.png")]) == 2
    assert "--segment applies a --direction or a brush" in capsys.readouterr().err


@pytest.mark.slow  # the CLI's default optimisation (60 steps, 4 candidates): ~20 s on a busy 2-core CPU
def test_edit_from_scratch_on_the_command_line(tmp_path):
    paint = tmp_path / "paint.png"
    rgba = np.zeros((128, 128, 4), np.uint8)
    rgba[20:60, 30:100] = (40, 90, 200, 255)
    Image.fromarray(rgba).save(paint)
    out, report = tmp_path / "made.png", tmp_path / "made.json"
    assert cli.main(["edit", "--from-scratch", "--start", "blank", "--color-strokes", str(paint), "--out", str(out),
                     "--report", str(report)]) == 0
    record = json.loads(report.read_text())
    assert record["scratch"]["color_error_after"] < record["scratch"]["color_error_before"]
    assert np.asarray(Image.open(out)).shape == (64, 64, 3)
    assert cli.main(["edit", "--from-scratch", "--out", str(out)]) == 2
