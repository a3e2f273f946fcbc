from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.core.photo import PhotoError, load_mask, load_photo


def _png_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _photo(w: int = 120, h: int = 80) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "CMYK", "P", "I;16"])
def test_every_common_mode_becomes_rgb_at_model_size(mode):
    img = _photo()
    if mode == "I;16":
        img = Image.fromarray((np.asarray(img.convert("L"), dtype=np.uint16) * 257))
    else:
        img = img.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    photo = load_photo(_png_bytes(img, fmt), size=64)
    assert photo.model_image.shape == (1, 3, 64, 64)
    assert -1.0 <= photo.model_image.min() and photo.model_image.max() <= 1.0
    assert photo.original.shape == (80, 120, 3) and photo.original.dtype == np.uint8


def test_centre_crop_and_pad_boxes():
    crop = load_photo(_photo(), size=64)
    assert crop.box == (20, 0, 100, 80) and crop.fit == "crop"
    pad = load_photo(_photo(), size=64, fit="pad")
    assert pad.box == (0, -20, 120, 100)


def test_exif_rotation_is_applied_and_noted():
    img = _photo(120, 80)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    photo = load_photo(_png_bytes(img, "JPEG", exif=exif), size=64)
    assert photo.original.shape[:2] == (120, 80)
    assert any("EXIF" in n for n in photo.notes)


def test_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    photo = load_photo(buf.getvalue(), size=32)
    assert photo.original[0, 0, 0] > 200 and photo.original[0, 0, 2] < 50
    assert any("first frame" in n for n in photo.notes)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"%PDF-1.4 not an image at all", "not an image"),
        (_png_bytes(_photo())[:200], "truncated or corrupt"),
        (_png_bytes(_photo(20, 200)), "too small"),
    ],
)
def test_bad_photos_are_refused_with_a_reason(data, message):
    with pytest.raises(PhotoError, match=message):
        load_photo(data, size=64)


def test_over_the_pixel_limit_is_refused_before_decoding():
    big = _png_bytes(Image.new("RGB", (3000, 2000)))
    with pytest.raises(PhotoError, match="6.0 MP, over the 5 MP limit"):
        load_photo(big, size=64, max_pixels=5_000_000)


def test_masks_use_alpha_or_luminance_and_are_resized_with_a_note():
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[10:20, 10:30, 3] = 255
    mask, notes = load_mask(_png_bytes(Image.fromarray(rgba)), size=(120, 80))
    assert mask.shape == (80, 120) and notes and "resized" in notes[0]
    assert mask[30, 40] == 1.0 and mask[70, 100] == 0.0
    grey = Image.new("L", (120, 80), 0)
    grey.paste(255, (0, 0, 60, 80))
    mask, notes = load_mask(_png_bytes(grey), size=(120, 80))
    assert not notes and mask[:, :60].min() == 1.0 and mask[:, 60:].max() == 0.0


def test_a_mask_painted_in_any_colour_counts_as_fully_as_white():
    for colour in [(255, 255, 255), (255, 0, 0), (0, 0, 255), (0, 255, 0)]:
        rgb = np.zeros((20, 30, 3), np.uint8)
        rgb[5:15, 10:20] = colour
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")
        for source in (buf.getvalue(), rgb):
            mask, _ = load_mask(source, size=(30, 20))
            assert mask[5:15, 10:20].min() == 1.0 and mask.sum() == 100, colour
