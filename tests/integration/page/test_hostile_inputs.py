"""The issue-26 faults, reproduced through the doors a stranger uses: ``/edit_recipe`` and ``/edit`` (the API's
functions) and *Open a recipe* on the page. A 32 KB PNG bomb in any base64 image field is refused in under a
second with under 50 MB of memory; every malformed record, deep JSON, bad seed or oversized PNG is a sentence,
never a bare error."""
from __future__ import annotations

import base64
import io
import json
import os
import time

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.bench.service_probes import RssWatch, bomb_png, png_header_only
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.page.api import edit_recipe_steps, edit_steps
from ganpaint_core.page.page import EditPage
from ganpaint_core.page.session import EditSession
from tests.helpers import last_update, make_engine, scene_png

REF = "0" * 64


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    return EditPage(make_engine(), out_dir=tmp_path_factory.mktemp("renders"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    photo = folder / "church.png"
    photo.write_bytes(scene_png(9_260_001, (96, 80)))
    mask = np.zeros((80, 96), np.uint8)
    mask[20:50, 30:70] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    return folder


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _small_mask() -> str:
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(buf, format="PNG")
    return _b64(buf.getvalue())


def _bomb_recipe(field: str, side: int = 12000) -> dict:
    bomb = _b64(bomb_png(side))
    concept = {"concept": "tree", "action": "add"}
    if field == "mask":
        return {"strokes": [concept | {"mask_png_base64": bomb}]}
    if field in ("color", "sketch"):
        return {"strokes": [{"kind": "brush", f"{field}_png_base64": bomb}]}
    return {"strokes": [concept | {"mask_png_base64": _small_mask(), "style": {"kind": "reference",
                                                                             "reference_sha256": REF}}],
            "references_png_base64": {REF: bomb}}


def _refusal(steps) -> str:
    with pytest.raises(GanpaintError) as caught:
        for _ in steps:
            pass
    return str(caught.value)


@pytest.mark.parametrize("field", ["mask", "color", "sketch", "reference"])
def test_a_png_bomb_in_any_recipe_field_is_refused_by_the_edit_recipe_endpoint_at_once(page, files, field):
    recipe = json.dumps(_bomb_recipe(field))
    assert len(recipe) < 64_000  # the 32 KB file, as base64
    with RssWatch(os.getpid(), settle_s=0.0) as watch:
        t0 = time.monotonic()
        message = _refusal(edit_recipe_steps(page, str(files / "church.png"), recipe))
        seconds = time.monotonic() - t0
    assert "too large" in message and "\n" not in message
    assert seconds < 1.0 and watch.peak_mb - watch.before_mb < 50, (seconds, watch.figures())


@pytest.mark.parametrize("field", ["mask", "color", "reference", "photo"])
def test_a_png_bomb_in_an_opened_recipe_is_a_sentence_at_once(page, tmp_path, field):
    bundle = (_bomb_recipe(field) | {"photo_png_base64": _b64(scene_png(9_260_002, (96, 80)))} if field != "photo"
              else {"strokes": [{"concept": "tree", "action": "add", "mask_png_base64": _small_mask()}],
                    "photo_png_base64": _b64(bomb_png(12000))})
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(bundle))
    with RssWatch(os.getpid(), settle_s=0.0) as watch:
        t0 = time.monotonic()
        update = last_update(page.open_recipe(EditSession(model=page.default_model), str(path)))
        seconds = time.monotonic() - t0
    assert update.status.startswith("**Problem:**") and "too large" in update.status, update.status
    assert seconds < 1.0 and watch.peak_mb - watch.before_mb < 50, (seconds, watch.figures())


@pytest.mark.parametrize("bundle,words", [
    ({"model": ["synth-church"], "strokes": [{"concept": "tree"}]}, "'model' must be text"),
    ({"model": "synth-church", "weights_sha256": "abc", "strokes": [{"concept": "tree"}]},
     "'weights_sha256' must be an object"),
    ("[" * 20_000 + "]" * 20_000, "nested too deeply"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("photo over Pillow's bomb limit", "too large"),
])
def test_every_malformed_recipe_opened_on_the_page_is_a_sentence(page, tmp_path, bundle, words):
    if bundle == "photo over Pillow's bomb limit":  # 30000² (900 MP): Pillow's DecompressionBombError before
        bundle = {"strokes": [{"concept": "tree", "mask_png_base64": _small_mask()}],
                  "photo_png_base64": _b64(png_header_only(30000, 30000))}
    path = tmp_path / "recipe.json"
    path.write_text(bundle if isinstance(bundle, str) else json.dumps(bundle))
    update = last_update(page.open_recipe(EditSession(model=page.default_model), str(path)))
    assert update.status.startswith("**Problem:**") and words in update.status, update.status


@pytest.mark.parametrize("depth", [20_000, 100_000])
def test_deep_json_through_the_edit_recipe_endpoint_is_a_sentence(page, files, depth):
    message = _refusal(edit_recipe_steps(page, str(files / "church.png"), "[" * depth + "]" * depth))
    assert "nested too deeply" in message


@pytest.mark.parametrize("seed", [2**70, -5])
def test_a_style_seed_out_of_range_is_refused_by_the_edit_endpoint(page, files, seed):
    message = _refusal(edit_steps(page, str(files / "church.png"), str(files / "mask.png"), concept="tree",
                                  style_seed=seed))
    assert "whole number in [0, 2147483647]" in message


def test_a_photo_over_pillows_bomb_limit_is_too_large_not_an_error(page, files):
    bomb = files / "bomb.png"
    bomb.write_bytes(png_header_only(30000, 30000))  # 900 MP: past Pillow's own DecompressionBombError
    message = _refusal(edit_steps(page, str(bomb), str(files / "mask.png"), concept="tree"))
    assert "too large" in message
    message = _refusal(edit_steps(page, str(files / "church.png"), str(bomb), concept="tree"))
    assert "too large" in message
