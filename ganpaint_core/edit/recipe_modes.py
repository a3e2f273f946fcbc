"""Records and recipes of the other editing modes: colour / sketch brushes and latent directions.

A recipe stroke with ``"kind": "brush"`` carries its colour strokes and sketch on the model's square
(``color_png_base64``: RGBA, opaque where painted; ``sketch_png_base64``: white lines), as a record does, or
names images over the photo (``"color": "colours.png"``, ``"sketch": "lines.png"``, any scale of the photo),
with ``candidates``, ``pick``, ``morph`` and ``seed``. ``"kind": "direction"`` names a ``direction`` and an
``amount``, and optionally a mask (``mask`` / ``mask_png_base64``) to apply it only there.

Example::

    {"strokes": [{"kind": "brush", "color": "blue-sky.png", "candidates": 4, "pick": 0, "morph": 1.0},
                 {"kind": "direction", "direction": "tree", "amount": 1.5}]}
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ganpaint_core.core.errors import shown
from ganpaint_core.core.photo import Photo, decode_image, load_mask, mask_to_square
from ganpaint_core.edit.brush import BrushSpec, brush_from_images
from ganpaint_core.edit.direction_edit import DirectionSpec
from ganpaint_core.edit.spec import unit_interval
from ganpaint_core.edit.strokes import FeatureEdit, StrokeError

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine

BRUSH_KEYS = {"kind", "color", "color_png_base64", "sketch", "sketch_png_base64", "candidates", "pick", "morph", "seed",
              "enabled", "color_error", "edge_error", "candidate_s", "mask_share", "description"}
DIRECTION_KEYS = {"kind", "direction", "amount", "mask", "mask_png_base64", "enabled", "mask_share", "description"}


def _png_base64(image: np.ndarray, mode: str) -> str:
    from ganpaint_core.edit.record import encode_png_base64

    return encode_png_base64(Image.fromarray(image, mode))


def _png_array(text: Any, *, key: str, where: str) -> np.ndarray:
    from ganpaint_core.edit.record import image_from_png_base64

    return np.asarray(image_from_png_base64(text, key=key, where=where).convert("RGBA"))


# -- records ---------------------------------------------------------------------------------------
def brush_json(spec: BrushSpec, edit: FeatureEdit) -> dict[str, Any]:
    """A brush as a record's (and recipe's) stroke: its paint on the model's square and its choice."""
    out: dict[str, Any] = {"kind": "brush", "description": spec.describe(), "color_png_base64": None,
                           "sketch_png_base64": None}
    if spec.color_mask is not None and spec.color_mask.any():
        rgba = np.concatenate([np.clip(np.asarray(spec.color), 0, 255), np.asarray(spec.color_mask)[..., None] * 255], -1)
        out["color_png_base64"] = _png_base64(rgba.round().astype(np.uint8), "RGBA")
    if spec.sketch is not None and spec.sketch.any():
        out["sketch_png_base64"] = _png_base64((np.asarray(spec.sketch) * 255).round().astype(np.uint8), "L")
    return out | {"candidates": int(spec.candidates), "pick": int(spec.pick), "morph": float(spec.morph),
                  "seed": int(spec.seed), "enabled": bool(spec.enabled), **edit.info,
                  "mask_share": round(float((spec.mask > 0).mean()), 5)}


def direction_json(spec: DirectionSpec) -> dict[str, Any]:
    from ganpaint_core.edit.record import mask_png_base64

    out: dict[str, Any] = {"kind": "direction", "description": spec.describe(), "direction": spec.name,
                           "amount": float(spec.amount), "enabled": bool(spec.enabled)}
    if spec.mask is not None:
        out |= {"mask_png_base64": mask_png_base64(spec.mask), "mask_share": round(float(np.mean(spec.mask)), 5)}
    return out


# -- recipes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecipeBrush:
    """A recipe's brush as written: paint on the model's square (arrays) or images over the photo (paths)."""

    color: Path | np.ndarray | None  # RGBA uint8 [S, S, 4] on the square, or an image over the photo
    sketch: Path | np.ndarray | None  # uint8 [S, S] on the square, or an image over the photo
    candidates: int = 4
    pick: int = 0
    morph: float = 1.0
    seed: int = 0
    enabled: bool = True
    where: str = "brush"

    def to_spec(self, photo: Photo, engine: EditEngine, references: dict) -> tuple[BrushSpec, list[str]]:
        side = engine.resolution
        arrays = [p for p in (self.color, self.sketch) if isinstance(p, np.ndarray)]
        for a in arrays:
            if a.shape[:2] != (side, side):
                raise StrokeError(f"{self.where}: its paint is {a.shape[1]}×{a.shape[0]}, made for another model; "
                                  f"{engine.model.manifest.name} needs {side}×{side}")
        square = Photo(original=np.zeros((side, side, 3), np.uint8), model_image=photo.model_image,
                       box=type(photo.box)(0, 0, side, side), fit="crop")
        color = self.color if isinstance(self.color, np.ndarray) or self.color is None else _image(self.color, photo)
        sketch = self.sketch if isinstance(self.sketch, np.ndarray) or self.sketch is None else _image(self.sketch, photo)
        spec = brush_from_images(color, sketch, square if arrays else photo, resolution=side,
                                 candidates=self.candidates, pick=self.pick, morph=self.morph, seed=self.seed)
        return BrushSpec(**{**spec.__dict__, "enabled": self.enabled}), []


@dataclass(frozen=True)
class RecipeDirection:
    """A recipe's direction as written."""

    name: str
    amount: float
    mask: Path | np.ndarray | None = None  # None: the whole photo
    enabled: bool = True
    where: str = "direction"

    def to_spec(self, photo: Photo, engine: EditEngine, references: dict) -> tuple[DirectionSpec, list[str]]:
        notes: list[str] = []
        mask = self.mask
        if isinstance(mask, Path):
            full, notes = load_mask(mask, size=photo.size)
            mask = mask_to_square(full, photo, engine.resolution)
        return DirectionSpec(name=self.name, amount=self.amount, mask=mask, enabled=self.enabled), notes


def _image(path: Path, photo: Photo) -> np.ndarray:
    """uint8 RGBA of an image file with transparency, else RGB (black or dark = not painted)."""
    img = decode_image(path, what="brush image")
    img = img.convert("RGBA" if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info else "RGB")
    if abs(img.width / img.height - photo.size[0] / photo.size[1]) > 0.02 * photo.size[0] / photo.size[1]:
        raise StrokeError(f"{path.name} is {img.width}×{img.height} but the photo is {photo.size[0]}×{photo.size[1]} "
                          "(another shape): paint over the photo, at any scale")
    return np.asarray(img)


def _whole_number(raw: dict[str, Any], key: str, default: int, where: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise StrokeError(f"{where}: {key!r} must be a whole number, got {shown(value)}")
    return value


def recipe_brush(raw: dict[str, Any], base: Path | None, where: str, file: Any) -> RecipeBrush:
    """A recipe's ``"kind": "brush"`` entry (``file(base, value, what)`` resolves and polices paths)."""
    unknown = set(raw) - BRUSH_KEYS
    if unknown:
        raise StrokeError(f"{where}: unknown keys {sorted(unknown)[:5]}")
    parts: dict[str, Path | np.ndarray | None] = {}
    for key in ("color", "sketch"):
        if raw.get(f"{key}_png_base64") is not None:
            arr = _png_array(raw[f"{key}_png_base64"], key=f"{key}_png_base64", where=where)
            parts[key] = arr if key == "color" else arr[..., :3].max(-1)
        elif isinstance(raw.get(key), str) and raw[key]:
            parts[key] = file(base, raw[key], f"{where}: {key!r}")
        elif raw.get(key) is not None:
            raise StrokeError(f"{where}: {key!r} must be an image's path, got {shown(raw[key])}")
        else:
            parts[key] = None
    if parts["color"] is None and parts["sketch"] is None:
        raise StrokeError(f"{where}: a brush needs colour strokes ('color' or 'color_png_base64') or a sketch "
                          "('sketch' or 'sketch_png_base64')")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise StrokeError(f"{where}: 'enabled' must be true or false, got {shown(enabled)}")
    try:
        morph = unit_interval("brush morph", raw.get("morph", 1.0))
    except StrokeError as exc:
        raise StrokeError(f"{where}: {exc}") from None
    return RecipeBrush(color=parts["color"], sketch=parts["sketch"], candidates=_whole_number(raw, "candidates", 4, where),
                       pick=_whole_number(raw, "pick", 0, where), morph=morph, seed=_whole_number(raw, "seed", 0, where),
                       enabled=enabled, where=where)


def recipe_direction(raw: dict[str, Any], base: Path | None, where: str, file: Any) -> RecipeDirection:
    """A recipe's ``"kind": "direction"`` entry."""
    from ganpaint_core.analysis.directions import DirectionError, check_amount
    from ganpaint_core.edit.record import mask_from_png_base64

    unknown = set(raw) - DIRECTION_KEYS
    if unknown:
        raise StrokeError(f"{where}: unknown keys {sorted(unknown)[:5]}")
    if not isinstance(raw.get("direction"), str) or not raw["direction"]:
        raise StrokeError(f"{where}: 'direction' must be a direction's name, got {shown(raw.get('direction'))}")
    try:
        amount = check_amount(raw.get("amount"))
    except DirectionError as exc:
        raise StrokeError(f"{where}: {exc}") from None
    mask: Path | np.ndarray | None = None
    if raw.get("mask_png_base64") is not None:
        mask = mask_from_png_base64(raw["mask_png_base64"], where=where)
    elif isinstance(raw.get("mask"), str) and raw["mask"]:
        mask = file(base, raw["mask"], f"{where}: 'mask'")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise StrokeError(f"{where}: 'enabled' must be true or false, got {shown(enabled)}")
    return RecipeDirection(name=raw["direction"], amount=amount, mask=mask, enabled=enabled, where=where)
