"""The served app's endpoints for brushes and directions, through ``gradio_client``: ``/brush_candidates`` and
``/edit_recipe`` (any recipe the CLI takes, its paint and masks inside), and their refusals."""
from __future__ import annotations

import base64
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.analysis.directions import find_directions
from tests.helpers import box_mask, free_port, make_engine, scene_png

gradio = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402

import app  # noqa: E402


@pytest.fixture(scope="module")
def served():
    """The app on 127.0.0.1; its engine holds synth-church's directions found on few samples (seconds)."""
    engine = make_engine()
    engine.use_directions(find_directions(engine.model, samples=256, components=2))
    demo = app.build_demo(engine, examples=[])
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield SimpleNamespace(client=Client(f"http://127.0.0.1:{port}/", verbose=False), engine=engine)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "church.png"
    path.write_bytes(scene_png(9_000_701, (320, 256)))
    return path


def png_b64(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_brush_candidates_are_finals_best_first_changed_only_around_the_paint(served, photo, tmp_path):
    colour = np.zeros((256, 320, 4), np.uint8)
    painted = box_mask(256, 320, 0.4, 0.6, 0.4, 0.6) > 0
    colour[painted] = (40, 90, 230, 255)
    strokes = tmp_path / "colour.png"
    Image.fromarray(colour).save(strokes)
    out = served.client.predict(handle_file(str(photo)), handle_file(str(strokes)), None, 2, 0,
                                api_name="/brush_candidates")
    assert len(out) == 2
    original = np.asarray(Image.open(photo).convert("RGB")).astype(int)
    finals = [np.asarray(Image.open(item if isinstance(item, str) else item["path"])).astype(int) for item in out]
    for final in finals:
        assert final.shape == original.shape
        assert np.abs(final - original)[painted].mean() > 5
        assert np.array_equal(final[:, :40], original[:, :40])
    assert not np.array_equal(finals[0], finals[1])


def test_a_recipe_with_a_brush_and_a_direction_edits_the_photo(served, photo):
    side = served.engine.resolution
    paint = np.zeros((side, side, 4), np.uint8)
    paint[side // 3: side // 2, side // 3: side // 2] = (230, 200, 40, 255)
    mask = (box_mask(side, side, 0.5, 0.9, 0.1, 0.5) * 255).astype(np.uint8)
    recipe = {"strokes": [{"kind": "brush", "color_png_base64": png_b64(paint), "candidates": 2, "pick": 1,
                           "morph": 0.8},
                          {"kind": "direction", "direction": "sky", "amount": 1.5, "mask_png_base64": png_b64(mask)}]}
    out = served.client.predict(handle_file(str(photo)), json.dumps(recipe), api_name="/edit_recipe")
    final = np.asarray(Image.open(out)).astype(int)
    original = np.asarray(Image.open(photo).convert("RGB")).astype(int)
    assert final.shape == original.shape and not np.array_equal(final, original)
    assert np.array_equal(final[:, :30], original[:, :30])  # outside the square (crop) nothing moves


@pytest.mark.parametrize("stroke, message", [
    ({"kind": "direction", "direction": "nope", "amount": 1.0}, "unknown direction"),
    ({"kind": "direction", "direction": "sky", "amount": 4.0}, "3"),
    ({"kind": "brush", "color": "/etc/passwd"}, "names a file"),
    ({"kind": "brush", "color_png_base64": None}, "a brush needs colour strokes"),
])
def test_bad_recipes_get_a_clear_message(served, photo, stroke, message):
    with pytest.raises(Exception) as err:
        served.client.predict(handle_file(str(photo)), json.dumps({"strokes": [stroke]}), api_name="/edit_recipe")
    assert message in str(err.value), str(err.value)


def test_a_brush_over_the_whole_photo_is_refused(served, photo, tmp_path):
    whole = tmp_path / "whole.png"
    Image.fromarray(np.full((64, 80, 3), 200, np.uint8)).save(whole)
    with pytest.raises(Exception) as err:
        served.client.predict(handle_file(str(photo)), handle_file(str(whole)), None, 2, 0, api_name="/brush_candidates")
    assert "cover" in str(err.value) and "direction" in str(err.value), str(err.value)
