"""The other editing modes through the one edit path on the app's model: colour / sketch brushes (iGAN)
and latent directions, in the library, in records and recipes, and through the CLI."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.analysis.directions import load_directions
from ganpaint_core.cli import main as cli
from ganpaint_core.core.photo import load_photo, to_uint8
from ganpaint_core.edit.brush import brush_from_images, color_error
from ganpaint_core.edit.composite import paste_alpha
from ganpaint_core.edit.direction_edit import DirectionSpec
from ganpaint_core.edit.pipeline import edit_photo
from ganpaint_core.edit.recipe import parse_recipe
from ganpaint_core.edit.strokes import StrokeError
from tests.helpers import blue_brush, box_mask, make_engine, scene_png

S = 64


@pytest.fixture(scope="module")
def engine():
    return make_engine()


@pytest.fixture(scope="module")
def state(engine):
    return engine.prepare(load_photo(scene_png(9_000_701, (320, 240)), size=engine.resolution))


@pytest.fixture(scope="module")
def directions(engine):
    """A quick set (128 samples) that the engine then uses: the editor takes the directions held for its model."""
    return load_directions(engine.model, samples=128, components=2)




def test_brush_from_images_keeps_colours_and_thin_lines(state):
    photo = state.photo  # 320×240, its centre 240-px square is the model's
    paint = np.zeros((120, 160, 4), np.uint8)  # a half-size canvas layer
    paint[30:60, 60:100] = (200, 30, 30, 255)
    lines = np.zeros((120, 160), np.uint8)
    lines[90, 30:130] = 255  # one pixel thick at half size: 1/4 of a model pixel
    spec = brush_from_images(paint, lines, photo, resolution=S)
    inside = spec.color_mask > 0.99
    assert inside.sum() > 50 and np.allclose(spec.color[inside], (200, 30, 30), atol=1)
    row = spec.sketch.max(1)
    assert row.max() > 0.9 and (spec.sketch > 0.5).sum(0).max() <= 2  # kept, one or two model pixels thick
    spec.check(resolution=S)


def test_brush_candidates_meet_the_colour_and_stay_outside(engine, state):
    spec = blue_brush()
    found = engine.brush_candidates(state, spec)
    assert len(found) == 4 and [c.color_error for c in found] == sorted(c.color_error for c in found)
    before = color_error(to_uint8(state.base_render[0]), spec)
    assert found[0].color_error < 0.4 * before
    assert engine.brush_candidates(state, spec) is found  # kept: another pick or morph does not optimise again
    out = edit_photo(engine, state, [spec])
    final, photo = out.result.final, state.photo.original
    beyond = paste_alpha(state.photo, out.result.region) == 0
    assert beyond.mean() > 0.5 and np.array_equal(final[beyond], photo[beyond])
    box = state.photo.box  # inside the stroke the photo turns blue
    stroke = paste_alpha(state.photo, spec.color_mask) > 0.99
    assert final[stroke].astype(float).mean(0)[2] > photo[stroke].astype(float).mean(0)[2] + 20, box
    assert edit_photo(engine, state, [dataclasses.replace(spec, morph=0.0)]).result.final.tolist() == photo.tolist()


@pytest.mark.slow  # over 5 s: the full suite runs it, the fast lane does not
def test_brush_record_is_a_recipe_that_gives_the_same_pixels(engine, state):
    sketch = np.zeros((S, S), np.float32)
    sketch[44, 10:40] = 1
    spec = dataclasses.replace(blue_brush(), sketch=sketch, pick=2, morph=0.6)
    out = edit_photo(engine, state, [spec])
    entry = out.record["strokes"][0]
    assert entry["kind"] == "brush" and entry["pick"] == 2 and entry["morph"] == 0.6 and entry["color_error"] >= 0
    (again,) = parse_recipe(json.loads(json.dumps(out.record)), base=None)
    spec2, _ = again.to_spec(state.photo, engine, {})
    assert np.array_equal(edit_photo(engine, state, [spec2]).result.final, out.result.final)
    with pytest.raises(StrokeError, match="names a file"):
        parse_recipe({"strokes": [{"kind": "brush", "color": "/etc/passwd"}]}, base=None)
    with pytest.raises(StrokeError, match="needs colour strokes"):
        parse_recipe({"strokes": [{"kind": "brush"}]}, base=None)


def test_directions_change_the_whole_photo_or_only_under_a_mask(engine, state, directions):
    assert engine.directions() is directions
    whole = edit_photo(engine, state, [DirectionSpec(name="sky", amount=2.5)])
    assert whole.result.changed.mean() > 0.2
    mask = box_mask(S, S, 0.1, 0.4, 0.1, 0.4)
    masked = edit_photo(engine, state, [DirectionSpec(name="sky", amount=2.5, mask=mask)])
    beyond = paste_alpha(state.photo, masked.result.region) == 0
    assert masked.result.changed[~beyond].any() and not masked.result.changed[beyond].any()
    entry = masked.record["strokes"][0]
    assert entry["kind"] == "direction" and entry["direction"] == "sky" and entry["amount"] == 2.5
    (again,) = parse_recipe(json.loads(json.dumps(masked.record)), base=None)
    spec, _ = again.to_spec(state.photo, engine, {})
    assert np.array_equal(edit_photo(engine, state, [spec]).result.final, masked.result.final)
    for bad, message in ((DirectionSpec(name="steeple", amount=1), "unknown direction 'steeple'; this model has: sky"),
                         (DirectionSpec(name="sky", amount=3.5), r"amount must be a number in \[-3, 3\]"),
                         (DirectionSpec(name="sky", amount=float("nan")), "amount must be"),
                         (DirectionSpec(name="sky", amount=1, mask=np.zeros((S, S), np.float32)), "mask is empty")):
        with pytest.raises(StrokeError, match=message):
            edit_photo(engine, state, [bad])


@pytest.mark.slow  # over 5 s: the full suite runs it, the fast lane does not
def test_cli_brush_and_direction_flags(tmp_path, directions, capsys):
    photo = tmp_path / "church.png"
    photo.write_bytes(scene_png(9_000_702, (320, 240)))
    paint = np.zeros((240, 320, 4), np.uint8)
    paint[60:110, 150:220] = (40, 90, 200, 255)
    Image.fromarray(paint).save(tmp_path / "colour.png")
    out = tmp_path / "out.png"
    assert cli.main(["edit", "--image", str(photo), "--color-strokes", str(tmp_path / "colour.png"), "--candidates", "2",
                     "--save-candidates", "--direction", "sky=1", "--out", str(out), "--report",
                     str(tmp_path / "r.json")]) == 0
    record = json.loads((tmp_path / "r.json").read_text())
    assert [s["kind"] for s in record["strokes"]] == ["brush", "direction"]
    assert (tmp_path / "out-candidate-0.png").is_file() and (tmp_path / "out-candidate-1.png").is_file()
    capsys.readouterr()
    full = np.zeros((240, 320, 4), np.uint8)
    full[..., :] = (40, 90, 200, 255)
    Image.fromarray(full).save(tmp_path / "all.png")
    for args, message in ((["--color-strokes", str(tmp_path / "all.png")], "cover 100% of the photo"),
                          (["--direction", "sky=lots"], "write NAME=AMOUNT"),
                          (["--direction", "sky=9"], r"amount must be a number in \[-3, 3\]"),
                          (["--direction", "steeple=1"], "unknown direction"),
                          (["--sketch", str(tmp_path / "missing.png")], "no such file")):
        assert cli.main(["edit", "--image", str(photo), *args, "--out", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err or __import__("re").search(message, err), err
        assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_brush_and_direction_on_a_stylegan2(one_thread):
    """W+ latents: the brush's diverse starts move every row, a direction shifts w; the photo stays exact
    beyond the changed region."""
    from ganpaint_core.analysis.directions import find_directions
    from ganpaint_core.analysis.segmenters import segmenter_for
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.caches import EditCaches
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig
    from ganpaint_core.hub.loading import load_model
    from tests.helpers import tiny_stylegan2_model

    model = tiny_stylegan2_model()
    engine = EditEngine(model, inversion=InversionConfig(latent_steps=4, joint_steps=4), adaptation=AdaptConfig(steps=4),
                        use_lpips=False, caches=EditCaches(setup_store=None))
    engine.use_directions(find_directions(model, samples=64, components=1,
                                          segmenter=segmenter_for(load_model("synth-church"))))
    state = engine.prepare(load_photo(scene_png(9_000_703, (200, 200)), size=64))
    assert state.latent.dim() == 3  # W+
    name = engine.directions().names()[0]
    for spec in (blue_brush(candidates=3), DirectionSpec(name=name, amount=3.0, mask=box_mask(S, S, 0.5, 0.9, 0.5, 0.9))):
        out = edit_photo(engine, state, [spec])
        beyond = paste_alpha(state.photo, out.result.region) == 0
        assert out.result.changed.any() and np.array_equal(out.result.final[beyond], state.photo.original[beyond])


@pytest.mark.slow
def test_bench_modes_writes_every_key(tmp_path, directions, one_thread):
    """``bench --suite modes`` on one held-out render (the directions held for the model are used)."""
    out = tmp_path / "modes.json"
    assert cli.main(["bench", "--suite", "modes", "--model", "synth-church", "--n", "1", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    for key in ("brush_color_error_before", "brush_color_error_after", "brush_edge_error_before",
                "brush_edge_error_after", "brush_first_candidate_s", "brush_all_candidates_s", "brush_candidate_spread",
                "brush_outside_exact", "directions_spearman", "directions_max_side_effect",
                "pca_explained_variance_top10", "psnr_single_code", "psnr_segments", "segments_s"):
        assert key in r, key
    assert r["brush_outside_exact"] is True
    assert r["brush_color_error_after"] < r["brush_color_error_before"]
    assert set(r["directions_spearman"]) <= set(directions.names())
    assert r["psnr_segments"] >= r["psnr_single_code"]
