"""The paint canvas: the photo shown at display size, masks painted on it, and previews drawn into it.

Every mapping between the canvas and the model's square goes through the photo's ``SquareBox``.

Example::

    shown = canvas_image(photo)                      # uint8 [h, w, 3], outside the model's square dimmed
    spec = stroke_from_layers(layers, photo, resolution=64, concept="tree", action="add", strength=0.8)
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from ganpaint_core.core.photo import Photo, mask_to_square
from ganpaint_core.edit.composite import Composite, composite
from ganpaint_core.edit.engine import RenderResult
from ganpaint_core.edit.spec import StrokeSpec, StyleSpec
from ganpaint_core.edit.strokes import StrokeError

DISPLAY_SIDE = 400  # longer side of the copy shown in the paint canvas (the mask maps back by ratio); about
# the size it is shown at, and the canvas uploads its layers after every stroke, so larger only costs time
MASK_ALPHA_THRESHOLD = 16  # painted alpha (0-255) above which a canvas pixel counts as painted
SLIDER_SIDE = 1600  # before/after shown up to this side; the download is full size


def display_image(photo: Photo, *, side: int = DISPLAY_SIDE) -> np.ndarray:
    """The photo scaled so its longer side is ``side`` (uint8 [h, w, 3]), for the paint canvas."""
    h, w = photo.original.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return photo.original
    resample = Image.Resampling.LANCZOS if scale > 1 else Image.Resampling.BOX
    return np.asarray(Image.fromarray(photo.original).resize(size, resample))


def display_box(photo: Photo, shown: np.ndarray):
    """The photo's square on its display copy ``shown``."""
    return photo.box.scaled(shown.shape[1] / photo.original.shape[1])


def canvas_image(photo: Photo, *, side: int = DISPLAY_SIDE) -> np.ndarray:
    """The display copy with everything outside the model's square dimmed: where painting does nothing."""
    shown = display_image(photo, side=side).copy()
    box = display_box(photo, shown)
    square = np.ones((box.side, box.side), bool)
    outside = ~box.place(square, *shown.shape[:2])
    shown[outside] = (shown[outside].astype(np.uint16) * 2 // 5 + 96).astype(np.uint8)  # 40 % photo, grey veil
    return shown


def mask_from_layers(layers: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """Painted canvas layers (RGBA or grey uint8 [h, w(, c)]) -> float [h, w] in {0, 1}; None if none."""
    alpha = None
    for layer in layers:
        if layer is None:
            continue
        a = np.asarray(layer)
        a = a[..., 3] if a.ndim == 3 and a.shape[-1] == 4 else (a.max(-1) if a.ndim == 3 else a)
        alpha = a if alpha is None else np.maximum(alpha, a)
    if alpha is None:
        return None
    return (alpha > MASK_ALPHA_THRESHOLD).astype(np.float32)


def stroke_from_layers(layers: Sequence[np.ndarray | None], photo: Photo, *, resolution: int, concept: str,
                       action: str, strength: float, style: StyleSpec = StyleSpec()) -> StrokeSpec | None:
    """The stroke painted on the canvas (its layers at any scale of the photo), or None when nothing is
    painted; ``StrokeError`` when the paint lies wholly outside the square the model sees."""
    mask = mask_from_layers(layers)
    if mask is None or not mask.any():
        return None
    square = mask_to_square(mask, photo, resolution)
    if not square.any():
        raise StrokeError("the paint is outside the bright square the model sees; paint inside it, or load the "
                          "photo with fit 'pad' to edit all of it")
    return StrokeSpec(mask=square, concept=concept, action=action, strength=strength, style=style)


def preview_image(photo: Photo, result: RenderResult, *, side: int = DISPLAY_SIDE) -> np.ndarray:
    """The render composited into the display copy of the photo as the final is into the photo (the same
    :func:`~ganpaint_core.edit.composite.composite`): what the final will look like."""
    return preview_composite(photo, result, side=side).image


def preview_composite(photo: Photo, result: RenderResult, *, side: int = DISPLAY_SIDE) -> Composite:
    """:func:`preview_image` with the pixels it changes (``changed``, bool [h, w] at display size)."""
    shown = display_image(photo, side=side)
    small = Photo(original=shown, model_image=photo.model_image, box=display_box(photo, shown), fit=photo.fit)
    return composite(small, edited=result.preview, base=result.base, painted=result.painted, added=result.added,
                     latent_render=result.latent_render, region=result.region)  # region: what brushes and
    # directions change beyond their paint (the whole photo for a whole-photo direction), as in the final


def upscale(image: np.ndarray, side: int) -> np.ndarray:
    """A small render enlarged (bicubic) for display; larger ones are returned as they are."""
    h, w = image.shape[:2]
    if max(h, w) >= side:
        return image
    return np.asarray(Image.fromarray(image).resize((side * w // max(h, w), side * h // max(h, w)),
                                                    Image.Resampling.BICUBIC))


def shrink_for_slider(image: np.ndarray, side: int = SLIDER_SIDE) -> np.ndarray:
    """The image with its longer side at most ``side`` (area-averaged) for the before/after view."""
    h, w = image.shape[:2]
    if max(h, w) <= side:
        return image
    size = (round(w * side / max(h, w)), round(h * side / max(h, w)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))
