"""Images carried inside JSON as base64 PNG text: masks, a brush's paint, photos and references in records,
recipes and share bundles. One encoder and one reader, so every format writes and reads them alike.

Example::

    text = mask_png_base64(mask)                                # float [h, w] in [0, 1] -> greyscale PNG, base64
    again = mask_from_png_base64(text, where="stroke 1")        # float32 [h, w] in [0, 1]
"""
from __future__ import annotations

import base64
import binascii
import io
from typing import Any

import numpy as np
from PIL import Image

from ganpaint_core.core.errors import shown
from ganpaint_core.core.photo import PhotoError, decode_image
from ganpaint_core.edit.strokes import StrokeError


def encode_png_base64(img: Image.Image, *, optimize: bool = True) -> str:
    """``img`` as a PNG, base64 text (what records, recipes and share bundles carry)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=optimize)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def mask_png_base64(mask: np.ndarray) -> str:
    """float [h, w] in [0, 1] -> a greyscale PNG, base64 (white = edit); a bool mask -> a 1-bit PNG."""
    mask = np.asarray(mask)
    img = Image.fromarray(mask) if mask.dtype == bool else Image.fromarray(
        (mask.clip(0, 1) * 255).round().astype(np.uint8), "L")
    return encode_png_base64(img)


MAX_EMBEDDED_PIXELS = 4096 * 4096  # a mask or paint layer: model squares and canvases are far smaller
MAX_EMBEDDED_BYTES = 16_000_000  # its PNG, decoded from base64 (the text is a third longer)


def image_from_png_base64(text: Any, *, key: str, where: str) -> Image.Image:
    """The image in a recipe's base64 PNG field ``key``; ``StrokeError`` if it is not one. Bounded before it
    allocates (the text's length, then the PNG header's size, by :func:`~ganpaint_core.core.photo.decode_image`):
    a few-KB PNG that would decode to gigabytes is "too large", at once."""
    if not isinstance(text, str):
        raise StrokeError(f"{where}: {key!r} must be text, got {shown(text)}")
    if len(text) > MAX_EMBEDDED_BYTES * 4 // 3 + 4:
        raise StrokeError(f"{where}: {key!r}: the image is too large ({len(text) / 1e6:.0f} MB of text); "
                          "paint at the canvas's size")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise StrokeError(f"{where}: {key!r} is not a base64 PNG") from None
    try:
        return decode_image(data, what=f"{where}: {key!r}", max_pixels=MAX_EMBEDDED_PIXELS,
                            max_bytes=MAX_EMBEDDED_BYTES)
    except PhotoError as exc:
        raise StrokeError(str(exc).replace("upload a JPEG, PNG or WebP image", "embed a PNG")) from None


def mask_from_png_base64(text: Any, *, where: str, key: str = "mask_png_base64") -> np.ndarray:
    """The inverse of :func:`mask_png_base64` (float32 [h, w] in [0, 1]); ``StrokeError`` if it is not one."""
    return np.asarray(image_from_png_base64(text, key=key, where=where).convert("L"), dtype=np.float32) / 255


def rgba_from_png_base64(text: Any, *, key: str, where: str) -> np.ndarray:
    """uint8 [h, w, 4] of the image in ``key`` (any PNG mode converted)."""
    return np.asarray(image_from_png_base64(text, key=key, where=where).convert("RGBA"))
