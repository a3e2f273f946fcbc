"""A colour / sketch brush's recipe form (the brush kind's record form is :meth:`BrushSpec.to_record
<ganpaint_core.edit.brush.BrushSpec.to_record>`).

A ``"kind": "brush"`` stroke carries its colour strokes and sketch on the model's square
(``color_png_base64``: RGBA, opaque where painted; ``sketch_png_base64``: white lines), as a record does, or
names images over the photo (``"color": "colours.png"``, ``"sketch": "lines.png"``, any scale of the photo),
with ``candidates``, ``pick``, ``morph`` and ``seed``. The rules (files, types) are
:mod:`ganpaint_core.edit.recipe_rules`'.

Example::

    {"kind": "brush", "color": "blue-sky.png", "candidates": 4, "pick": 0, "morph": 1.0}
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from ganpaint_core.core.errors import shown
from ganpaint_core.core.photo import Photo, decode_image
from ganpaint_core.edit.brush import BrushSpec, brush_from_images
from ganpaint_core.edit.embedded import rgba_from_png_base64
from ganpaint_core.edit.recipe_rules import RecipeSource, enabled, refuse_unknown, unit, whole_number
from ganpaint_core.edit.strokes import StrokeError

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine

BRUSH_KEYS = {"kind", "color", "color_png_base64", "sketch", "sketch_png_base64", "candidates", "pick", "morph", "seed",
              "enabled", "color_error", "edge_error", "candidate_s", "mask_share", "description"}


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

    @classmethod
    def read(cls, raw: dict[str, Any], source: RecipeSource, where: str) -> RecipeBrush:
        refuse_unknown(raw, BRUSH_KEYS, where)
        parts: dict[str, Path | np.ndarray | None] = {}
        for key in ("color", "sketch"):
            if raw.get(f"{key}_png_base64") is not None:
                arr = rgba_from_png_base64(raw[f"{key}_png_base64"], key=f"{key}_png_base64", where=where)
                parts[key] = arr if key == "color" else arr[..., :3].max(-1)
            elif isinstance(raw.get(key), str) and raw[key]:
                parts[key] = source.file(raw[key], f"{where}: {key!r}")
            elif raw.get(key) is not None:
                raise StrokeError(f"{where}: {key!r} must be an image's path, got {shown(raw[key])}")
            else:
                parts[key] = None
        if parts["color"] is None and parts["sketch"] is None:
            raise StrokeError(f"{where}: a brush needs colour strokes ('color' or 'color_png_base64') or a sketch "
                              "('sketch' or 'sketch_png_base64')")
        is_enabled = enabled(raw, where)
        morph = unit("brush morph", raw.get("morph", 1.0), where)
        return cls(color=parts["color"], sketch=parts["sketch"], candidates=whole_number(raw, "candidates", 4, where),
                   pick=whole_number(raw, "pick", 0, where), morph=morph, seed=whole_number(raw, "seed", 0, where),
                   enabled=is_enabled, where=where)

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


def as_recorded(spec: BrushSpec, photo: Photo, engine: EditEngine) -> BrushSpec:
    """``spec`` as its record stores it (colours in whole grey levels, strokes painted or not): what a shared
    link or a downloaded record reopens, so that the brush renders the same pixels there as here."""
    raw = spec.to_record(SimpleNamespace(info={}))
    return RecipeBrush.read(raw, RecipeSource(base=None), "brush").to_spec(photo, engine, {})[0]


def _image(path: Path, photo: Photo) -> np.ndarray:
    """uint8 RGBA of an image file with transparency, else RGB (black or dark = not painted)."""
    img = decode_image(path, what="brush image")
    img = img.convert("RGBA" if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info else "RGB")
    if abs(img.width / img.height - photo.size[0] / photo.size[1]) > 0.02 * photo.size[0] / photo.size[1]:
        raise StrokeError(f"{path.name} is {img.width}×{img.height} but the photo is {photo.size[0]}×{photo.size[1]} "
                          "(another shape): paint over the photo, at any scale")
    return np.asarray(img)
