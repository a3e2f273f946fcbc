"""The warping brush through the one edit path on the app's model: candidates, the record as a recipe, the
flow transfer's exact paste-back, the CLI's ``--warp``."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ganpaint_core.cli import main as cli
from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.composite import CompositeConfig, paste_alpha
from ganpaint_core.edit.pipeline import edit_photo
from ganpaint_core.edit.recipe import parse_recipe
from ganpaint_core.edit.spec import EditOptions
from ganpaint_core.edit.strokes import StrokeError
from ganpaint_core.edit.warp import WarpSpec
from tests.helpers import make_engine, scene_png


@pytest.fixture(scope="module")
def engine():
    return make_engine()


@pytest.fixture(scope="module")
def state(engine):
    return engine.prepare(load_photo(scene_png(9_000_711, (320, 240)), size=engine.resolution))


def test_warp_candidates_track_the_handle_and_keep_the_photo_outside(engine, state):
    spec = WarpSpec(handle=(22.0, 30.0), target=(30.0, 30.0), radius=4.0, candidates=3)
    found = engine.brush_candidates(state, spec)
    assert len(found) == 3 and [c.handle_error for c in found] == sorted(c.handle_error for c in found)
    assert found[0].handle_error < 8.0  # the tracked handle moved toward the target
    base = edit_photo(engine, state, []).result.final
    for transfer in ("delta", "flow"):
        out = edit_photo(engine, state, [spec], options=EditOptions(transfer=transfer))
        region = out.strokes[0].region
        beyond = paste_alpha(state.photo, region) == 0
        assert beyond.mean() > 0.5 and np.array_equal(out.result.final[beyond], state.photo.original[beyond])
        assert not np.array_equal(out.result.final, base)
    assert np.abs(out.strokes[0].motion[30, 30] - np.subtract(found[0].handle_end, spec.handle)).max() < 1e-5


def test_warp_record_is_a_recipe_that_gives_the_same_pixels(engine, state):
    region = np.zeros((64, 64), np.float32)
    region[26:34, 18:26] = 1
    spec = WarpSpec(handle=(22.0, 30.0), target=(28.0, 26.0), source=region, candidates=2, pick=1, morph=0.5)
    out = edit_photo(engine, state, [spec], options=EditOptions(transfer="flow"))
    entry = out.record["strokes"][0]
    assert entry["kind"] == "warp" and entry["pick"] == 1 and entry["morph"] == 0.5 and "region_png_base64" in entry
    assert out.record["options"]["transfer"] == "flow"
    (again,) = parse_recipe(json.loads(json.dumps(out.record)), base=None)
    spec2, _ = again.to_spec(state.photo, engine, {})
    assert np.array_equal(spec2.source > 0, region > 0) and spec2.handle == spec.handle
    assert np.array_equal(edit_photo(engine, state, [spec2], options=EditOptions(transfer="flow")).result.final,
                          out.result.final)
    for raw, message in (({"handle": [1, 2]}, "'target' must be"),
                         ({"handle": [1, 2], "target": [1.2, 2]}, "shorter than a model pixel"),
                         ({"handle": [1, 2], "target": [9, 2], "space": "screen"}, "'space' must be"),
                         ({"handle": [1, 2], "target": [9, 2], "region": "/etc/passwd"}, "names a file")):
        with pytest.raises(StrokeError, match=message):
            (entry,) = parse_recipe({"strokes": [{"kind": "warp", **raw}]}, base=None)
            entry.to_spec(state.photo, engine, {})


def test_flow_transfer_of_a_brush_equals_delta_where_nothing_moves(engine, state):
    """A colour brush moves little: its estimated motion is small and the flow result stays near delta's."""
    from tests.helpers import blue_brush

    spec = blue_brush()
    delta = edit_photo(engine, state, [spec]).result.final.astype(int)
    flow = edit_photo(engine, state, [spec], options=EditOptions(transfer="flow")).result.final.astype(int)
    assert np.abs(delta - flow).mean() < 3.0


def test_cli_warp_flag(tmp_path, capsys):
    photo = tmp_path / "church.png"
    photo.write_bytes(scene_png(9_000_712, (320, 240)))
    out = tmp_path / "out.png"
    assert cli.main(["edit", "--image", str(photo), "--warp", "130,120,160,120,16", "--candidates", "1",
                     "--transfer", "flow", "--no-adapt", "--out", str(out), "--report", str(tmp_path / "r.json")]) == 0
    record = json.loads((tmp_path / "r.json").read_text())
    (entry,) = record["strokes"]
    # photo pixels → the model's square: the 240-px centre square of a 320-px-wide photo, 64 model pixels
    assert entry["kind"] == "warp" and entry["handle"] == [24.0, 32.0]
    assert entry["radius"] == pytest.approx(16 * 64 / 240, abs=1e-3)
    capsys.readouterr()
    for args, message in ((["--warp", "1,2,3"], "write X0,Y0,X1,Y1"),
                          (["--warp", "100,100,100.5,100"], "shorter than a model pixel")):
        assert cli.main(["edit", "--image", str(photo), *args, "--out", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_composite_config_names_the_transfer():
    assert CompositeConfig().transfer == "delta"
    with pytest.raises(StrokeError, match="transfer must be"):
        EditOptions(transfer="optical").check()
    assert EditOptions.from_json(EditOptions(transfer="flow").to_json()).transfer == "flow"
    assert "transfer" not in EditOptions().to_json()
    assert dataclasses.replace(EditOptions(), transfer="flow").to_json()["transfer"] == "flow"
