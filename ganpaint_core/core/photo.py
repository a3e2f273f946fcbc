"""Photos in: anything Pillow reads becomes RGB, cropped or padded to the model's square, box remembered.

Refusals are short and say what to do: not an image, truncated, empty, under 32 px, over the pixel limit
(``max_pixels``, default 40 MP) or the encoded-size limit, checked from the header before any pixel is read.
"""
from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ganpaint_core.core.errors import GanpaintError

log = logging.getLogger(__name__)

MIN_SIDE = 32  # smaller photos hold too little to invert
DEFAULT_MAX_PIXELS = 40_000_000  # 40 MP; larger files are refused before decoding
MAX_ENCODED_BYTES = 64_000_000  # a 40-MP JPEG is ~10-20 MB, a 40-MP PNG up to ~50 MB; more is refused unread


class PhotoError(GanpaintError):
    """A photo (or mask, or reference) that cannot be used, with the reason."""


@dataclass(frozen=True)
class Photo:
    """A photo prepared for a model, with what is needed to paste results back.

    Example::

        photo = load_photo("church.jpg", size=256)        # centre crop by default
        x = photo.model_image                              # [1, 3, 256, 256] in [-1, 1]
    """

    original: np.ndarray  # full-resolution RGB uint8 [H, W, 3], as the user gave it (EXIF-rotated)
    model_image: torch.Tensor  # [1, 3, S, S] float in [-1, 1]: the square the model sees
    box: SquareBox  # that square in original pixels; may exceed the photo when padded
    fit: str  # "crop" or "pad"
    notes: tuple[str, ...] = ()  # what was done that the user should know (converted from CMYK, first frame of a GIF…)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the original."""
        return self.original.shape[1], self.original.shape[0]


def decode_image(source: str | Path | bytes | Image.Image, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                 what: str = "photo", max_bytes: int = MAX_ENCODED_BYTES,
                 size: tuple[int, int] | None = None) -> Image.Image:
    """Decode ``source`` fully, in its own mode; ``PhotoError`` if it is not a usable image.

    The one decoder for every image that enters (uploads, recipe and bundle paint, style references, CLI
    files), bounded before it allocates: the encoded bytes against ``max_bytes``, then the header's size
    against ``max_pixels`` and, where the caller knows it, the expected ``size`` (width, height); only then are
    the pixels read. A decompression bomb is "too large", never "corrupt".
    """
    if isinstance(source, Image.Image):
        img = source
    else:
        data = _encoded_bytes(source, what=what, max_bytes=max_bytes)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data))
                _check_pixels(img, max_pixels, what)
                _check_size(img, size, what)
                img.load()
        except PhotoError:
            raise
        except UnidentifiedImageError:
            raise PhotoError(f"{what}: not an image Pillow can read; upload a JPEG, PNG or WebP image") from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise PhotoError(_too_large(what)) from None
        except (OSError, SyntaxError, ValueError) as exc:
            if "too large" in str(exc).lower():  # PNG text / ICC chunks past Pillow's decompression limit
                raise PhotoError(_too_large(what)) from None
            raise PhotoError(f"{what}: the image is truncated or corrupt ({exc}); re-export it and try again") from None
    _check_pixels(img, max_pixels, what)
    _check_size(img, size, what)
    return img


def header_pixels(source: str | Path | bytes) -> int:
    """Width × height as the file's header states it, without decoding a pixel (0 when it cannot be read:
    :func:`decode_image` then refuses it with its own sentence). What a server weighs a request by before
    it decides when to run it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
                return int(img.width) * int(img.height)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return 0


def _encoded_bytes(source: str | Path | bytes, *, what: str, max_bytes: int) -> bytes:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise PhotoError(f"{what}: no such file {path}")
        if path.stat().st_size > max_bytes:
            raise PhotoError(_too_large(what, f"the file is {path.stat().st_size / 1e6:.0f} MB, over "
                                              f"{max_bytes / 1e6:.0f} MB"))
        data = path.read_bytes()
    else:
        data = bytes(source)
    if not data:
        raise PhotoError(f"{what}: the file is empty; upload a JPEG, PNG or WebP image")
    if len(data) > max_bytes:
        raise PhotoError(_too_large(what, f"{len(data) / 1e6:.0f} MB, over {max_bytes / 1e6:.0f} MB"))
    return data


def _too_large(what: str, detail: str = "") -> str:
    return f"{what}: the image is too large{f' ({detail})' if detail else ''}; downscale it first"


def _check_size(img: Image.Image, size: tuple[int, int] | None, what: str) -> None:
    if size is not None and tuple(img.size) != tuple(size):
        raise PhotoError(f"{what}: {img.width}×{img.height}, but this needs {size[0]}×{size[1]}; "
                         "paint it on the same canvas as the photo")


def _check_pixels(img: Image.Image, max_pixels: int, what: str) -> None:
    if img.width * img.height > max_pixels:
        raise PhotoError(
            _too_large(what, f"{img.width}×{img.height} is {img.width * img.height / 1e6:.1f} MP, over the "
                             f"{max_pixels / 1e6:.0f} MP limit")
        )


def open_image(source: str | Path | bytes | Image.Image, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               what: str = "photo") -> tuple[Image.Image, list[str]]:
    """Decode ``source`` to an RGB image (EXIF orientation applied) and notes; ``PhotoError`` if unusable."""
    img = decode_image(source, max_pixels=max_pixels, what=what)
    notes: list[str] = []
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
        notes.append("used the first frame of an animated image")
    if _exif_rotated(img):
        notes.append("rotated upright from its EXIF orientation")
        img = ImageOps.exif_transpose(img)
    img = _to_rgb(img, notes)
    if min(img.size) < MIN_SIDE:
        raise PhotoError(f"{what}: {img.width}×{img.height} is too small; use one at least {MIN_SIDE} px on each side")
    return img, notes


def _exif_rotated(img: Image.Image) -> bool:
    try:
        return img.getexif().get(0x0112, 1) not in (1, None)
    except Exception:  # noqa: BLE001 - unreadable EXIF just means no rotation
        return False


def _to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray((arr / top * 255).round().clip(0, 255).astype(np.uint8), "L")
        notes.append("converted from 16-bit")
        mode = "L"
    if mode == "CMYK":
        notes.append("converted from CMYK")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("transparent areas filled with white")
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("L", "1"):
        notes.append("grayscale photo: edits are rendered in colour")
    return img.convert("RGB")


class SquareBox(NamedTuple):
    """The square the model sees, in a photo's pixels: (left, top, right, bottom), as wide as it is tall.

    A padded square reaches past the photo (negative left or top, right or bottom past its size). Every
    mapping between the photo (at any display scale) and the model's square goes through this type.

    Example::

        box = SquareBox.fitted(640, 480, fit="crop")      # (80, 0, 560, 480)
        small = box.scaled(400 / 640)                      # the same square on a 400-px copy
        square = small.crop(mask_on_copy)                  # [side, side]: zeros where it leaves the photo
    """

    left: int
    top: int
    right: int
    bottom: int

    @classmethod
    def fitted(cls, width: int, height: int, *, fit: Literal["crop", "pad"]) -> SquareBox:
        """Centred crop to the shorter side, or padding to the longer one."""
        side = min(width, height) if fit == "crop" else max(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        return cls(left, top, left + side, top + side)

    @property
    def side(self) -> int:
        return self.right - self.left

    def scaled(self, scale: float) -> SquareBox:
        """The same square on a copy of the photo scaled by ``scale`` (at least 1 px)."""
        left, top = round(self.left * scale), round(self.top * scale)
        side = max(1, round(self.side * scale))
        return SquareBox(left, top, left + side, top + side)

    def inside(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1): the part of the square that lies in a ``width`` × ``height`` photo."""
        return max(self.left, 0), max(self.top, 0), min(self.right, width), min(self.bottom, height)

    def crop(self, array: np.ndarray) -> np.ndarray:
        """The square's part of ``array`` [H, W, ...] as [side, side, ...]; zeros where it leaves the photo."""
        h, w = array.shape[:2]
        x0, y0, x1, y1 = self.inside(w, h)
        out = np.zeros((self.side, self.side) + array.shape[2:], array.dtype)
        out[y0 - self.top: y1 - self.top, x0 - self.left: x1 - self.left] = array[y0:y1, x0:x1]
        return out

    def place(self, square: np.ndarray, height: int, width: int) -> np.ndarray:
        """``square`` [side, side, ...] laid over a photo of ``height`` × ``width``: zeros outside the square
        (the part of the square that leaves the photo is dropped)."""
        x0, y0, x1, y1 = self.inside(width, height)
        out = np.zeros((height, width) + square.shape[2:], square.dtype)
        out[y0:y1, x0:x1] = square[y0 - self.top: y1 - self.top, x0 - self.left: x1 - self.left]
        return out


def to_model_tensor(img: Image.Image, size: int) -> torch.Tensor:
    """RGB image -> [1, 3, size, size] in [-1, 1] (area-averaged downscale)."""
    img = img.resize((size, size), Image.Resampling.LANCZOS if img.width < size else Image.Resampling.BOX)
    arr = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
    return arr.permute(2, 0, 1)[None].float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images [..., 3, H, W] in [-1, 1] -> uint8 [..., H, W, 3] (rounded, clipped), on the CPU."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return x.movedim(-3, -1).cpu().numpy()


def mask_to_square(mask: np.ndarray, photo: Photo, resolution: int) -> np.ndarray:
    """A mask over the photo at any scale (float [h, w] in [0, 1], the photo's aspect ratio) -> float [S, S]
    over the model's square (area-averaged).

    A paint canvas shows a scaled copy, so the photo's square is scaled the same way instead of blowing the
    mask up to the full photo (48 MB for 12 MP) first.
    """
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim != 2 or mask.size == 0:
        raise PhotoError(f"mask must be a 2-D image, got shape {mask.shape}")
    w, h = photo.size
    mh, mw = mask.shape
    if abs(mw / mh - w / h) > 0.02 * (w / h) + 2 / min(mh, mw):
        raise PhotoError(f"mask is {mw}×{mh} but the photo is {w}×{h} (another shape); paint on this photo's canvas "
                         "or give a mask of the photo's size")
    square = photo.box.scaled(mw / w).crop(mask.clip(0, 1))
    img = Image.fromarray((square * 255).round().astype(np.uint8))
    if img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.float32) / 255


def load_photo(
    source: str | Path | bytes | Image.Image,
    *,
    size: int,
    fit: Literal["crop", "pad"] = "crop",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    what: str = "photo",
) -> Photo:
    """Read a photo for a model of side ``size``; see :class:`Photo`. ``what`` names it in refusals."""
    if fit not in ("crop", "pad"):
        raise PhotoError(f"fit must be 'crop' or 'pad', got {fit!r}")
    img, notes = open_image(source, max_pixels=max_pixels, what=what)
    box = SquareBox.fitted(img.width, img.height, fit=fit)
    if fit == "pad":
        # Pad with the photo's edge colours (replicated border), not black, so the GAN is not asked for a frame.
        l, t, r, b = box
        square = Image.fromarray(np.pad(np.asarray(img), ((-t, b - img.height), (-l, r - img.width), (0, 0)),
                                        mode="edge"))
    else:
        square = img.crop(box)
    model_image = to_model_tensor(square, size)
    del square  # the full-resolution square goes before the photo's own pixels are copied out
    return Photo(original=pixels(img), model_image=model_image, box=box, fit=fit, notes=tuple(notes))


STRIP_BYTES = 1 << 22  # pixels copied out of a decoded image this many bytes at a time


def pixels(img: Image.Image) -> np.ndarray:
    """uint8 [H, W, C]: a writable copy of ``img``'s pixels, copied in strips of rows. ``np.asarray(img)`` goes
    through one ``tobytes()`` of the whole image, so a 40-MP photo would be held three times at once (Pillow's
    own, the bytes, the copy) instead of twice."""
    first = np.asarray(img.crop((0, 0, img.width, 1)))
    out = np.empty((img.height,) + first.shape[1:], first.dtype)
    step = max(1, STRIP_BYTES // max(first.nbytes, 1))
    for y in range(0, img.height, step):
        out[y: y + step] = np.asarray(img.crop((0, y, img.width, min(y + step, img.height))))
    return out


def load_mask(source: str | Path | bytes | Image.Image | np.ndarray, *, size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """A mask as float [H, W] in [0, 1] for a photo of ``size`` (width, height); white/opaque = edit.

    RGBA masks use alpha (painted strokes); others use their brightest channel, so a stroke painted in any
    full colour (red, blue…) counts as fully as white does (luminance would make pure blue a 0.11 mask and
    silently weaken the edit). A mask of another size is resized (and noted).
    """
    notes: list[str] = []
    if isinstance(source, np.ndarray):
        arr = source.astype(np.float32)
        if arr.ndim == 3:
            arr = arr[..., 3] if arr.shape[-1] == 4 else arr.max(-1)
        if arr.ndim != 2 or arr.size == 0:
            raise PhotoError(f"mask: expected a 2-D array, got shape {source.shape}")
        if arr.max() > 1.0:
            arr = arr / 255.0
        img = Image.fromarray((arr.clip(0, 1) * 255).round().astype(np.uint8), "L")
    else:
        raw = decode_image(source, what="mask")
        if raw.mode in ("RGBA", "LA"):
            img = raw.getchannel("A")
        else:
            img = Image.fromarray(np.asarray(raw.convert("RGB")).max(-1), "L")
    if img.size != tuple(size):
        notes.append(f"mask resized from {img.width}×{img.height} to the photo's {size[0]}×{size[1]}")
        img = img.resize(tuple(size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0, notes
