"""Bounded decoding and reading: every image and JSON text that enters is checked before it allocates."""
from __future__ import annotations

import io
import json
import resource
import time

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.files import check_writable, content_sha256, json_depth, parse_json, read_json
from ganpaint_core.core.photo import PhotoError, decode_image


def _bomb_png(side: int) -> bytes:
    """A 1-bit PNG of side × side pixels: a few KB on disk, side² bytes and more once decoded."""
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_small_png_bomb_is_refused_from_its_header_fast_and_without_memory():
    data = _bomb_png(12000)
    assert len(data) < 64_000  # the 32 KB file
    before, t0 = _rss_mb(), time.perf_counter()
    with pytest.raises(PhotoError, match="too large"):
        decode_image(data, what="mask")
    assert time.perf_counter() - t0 < 1.0
    assert _rss_mb() - before < 50


def test_an_image_of_the_wrong_size_is_refused_before_its_pixels_are_read():
    buf = io.BytesIO()
    Image.new("L", (640, 480)).save(buf, format="PNG")
    with pytest.raises(PhotoError, match=r"640×480, but this needs 64×64"):
        decode_image(buf.getvalue(), what="mask", size=(64, 64))
    assert decode_image(buf.getvalue(), what="mask", size=(640, 480)).size == (640, 480)


def test_encoded_bytes_are_bounded_before_decoding(tmp_path):
    with pytest.raises(PhotoError, match="too large"):
        decode_image(b"\x89PNG" + b"0" * 2000, what="photo", max_bytes=1000)
    path = tmp_path / "big.png"
    path.write_bytes(b"0" * 2000)
    with pytest.raises(PhotoError, match="too large"):
        decode_image(path, max_bytes=1000)


def test_a_text_chunk_bomb_is_too_large_not_corrupt():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("k", "x" * 20_000_000, zip=True)  # zTXt: compresses to ~20 KB
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, format="PNG", pnginfo=info)
    with pytest.raises(PhotoError, match="too large"):
        decode_image(buf.getvalue())


def test_json_depth_is_bounded_without_recursion():
    for depth in (40, 20_000, 100_000):
        with pytest.raises(GanpaintError, match="nested too deeply"):
            parse_json("[" * depth + "]" * depth, what="recipe")
    assert json_depth(parse_json(json.dumps({"a": [{"b": [1]}]}), what="recipe")) == 4
    with pytest.raises(GanpaintError, match="not valid JSON"):
        parse_json("{", what="recipe")


def test_read_json_refuses_deep_files(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(GanpaintError, match="nested too deeply"):
        read_json(path, what="recipe")


def test_content_digest_sees_a_flipped_bit_and_names():
    a = np.arange(100, dtype=np.float32).tobytes()
    b = bytearray(a)
    b[37] ^= 0x10
    assert content_sha256({"x": a}) != content_sha256({"x": bytes(b)})
    assert content_sha256({"x": a}) != content_sha256({"y": a})
    assert content_sha256({"x": a, "y": b"1"}) == content_sha256({"y": b"1", "x": a})


@pytest.mark.parametrize("bad", ["/proc/x.png", "/etc/passwd/x.png"])
def test_unwritable_outputs_are_one_sentence(bad):
    with pytest.raises(GanpaintError, match="choose another folder"):
        check_writable(bad)


def test_writable_output_leaves_nothing_behind(tmp_path):
    out = tmp_path / "new" / "x.png"
    assert check_writable(out) == out
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("bad", [2**70, -5, 1.5, "7", True, None])
def test_seeds_are_checked_to_one_range_everywhere(bad):
    from ganpaint_core.edit.brush import BrushSpec
    from ganpaint_core.edit.spec import MAX_SEED, StyleSpec, seed_value
    from ganpaint_core.edit.strokes import StrokeError

    with pytest.raises(StrokeError, match=rf"seed must be a whole number in \[0, {MAX_SEED}\]"):
        StyleSpec(kind="sample", seed=bad).check() if bad is not None else seed_value("seed", bad)
    mask = np.zeros((64, 64), np.float32)
    mask[10:20, 10:20] = 1
    with pytest.raises(StrokeError, match=rf"brush seed must be a whole number in \[0, {MAX_SEED}\]"):
        BrushSpec(color=np.zeros((64, 64, 3), np.float32), color_mask=mask, seed=bad).check(resolution=64)
    assert seed_value("seed", MAX_SEED) == MAX_SEED and seed_value("seed", 0) == 0


@pytest.mark.parametrize("argv", [
    ["edit", "--model", "no-such-model", "--image", "x.png", "--mask", "m.png", "--concept", "tree", "--out", "/proc/x.png"],
    ["edit", "--model", "no-such-model", "--image", "x.png", "--mask", "m.png", "--concept", "tree", "--out",
     "/etc/passwd/x.png"],
    ["compare", "--model", "no-such-model", "--image", "x.png", "--recipe", "r.json", "--vary", "strength=1", "--out",
     "/proc/x.png"],
    ["report", "--model", "no-such-model", "--images", ".", "--recipe", "r.json", "--out", "/etc/passwd/r"],
    ["dissect", "--model", "no-such-model", "--concepts", "tree", "--out", "/proc/c.json"],
    ["directions", "--model", "no-such-model", "--json", "/proc/d.json"],
    ["prepare", "--model", "no-such-model", "--out", "/etc/passwd/p"],
])
def test_unwritable_outputs_are_refused_before_anything_loads(argv, capsys):
    from ganpaint_core.cli.main import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --") and "cannot write there" in err or "is a file, not a folder" in err
    assert err.count("\n") == 1 and "no-such-model" not in err  # one line, before the model was looked for


@pytest.mark.parametrize("key", ["mask_png_base64", "color_png_base64"])
def test_a_png_bomb_in_a_recipe_field_is_refused_at_once(key):
    import base64

    from ganpaint_core.edit.recipe import parse_recipe
    from ganpaint_core.edit.strokes import StrokeError

    bomb = base64.b64encode(_bomb_png(12000)).decode()
    raw = ({"concept": "tree", "action": "add", "mask_png_base64": bomb} if key == "mask_png_base64"
           else {"kind": "brush", "color_png_base64": bomb})
    before, t0 = _rss_mb(), time.perf_counter()
    with pytest.raises(StrokeError, match="too large"):
        for entry in parse_recipe({"strokes": [raw]}, base=None):  # a brush reads its paint when it meets a photo
            getattr(entry, "color", None) is not None and entry.color.shape
    assert time.perf_counter() - t0 < 1.0 and _rss_mb() - before < 50


def test_an_edit_of_too_many_strokes_is_refused_before_any_paint_is_read():
    from ganpaint_core.edit.recipe import parse_recipe
    from ganpaint_core.edit.spec import MAX_STROKES
    from ganpaint_core.edit.strokes import StrokeError

    many = [{"concept": "tree", "action": "add", "mask_png_base64": "not even base64"}] * (MAX_STROKES + 1)
    with pytest.raises(StrokeError, match=f"at most {MAX_STROKES}"):
        parse_recipe({"strokes": many}, base=None)
