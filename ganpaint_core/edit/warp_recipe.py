"""A warp's recipe form (its record form is :meth:`WarpSpec.to_record
<ganpaint_core.edit.warp.WarpSpec.to_record>`).

A ``"kind": "warp"`` stroke drags ``handle`` to ``target`` (x, y), moving the disc of ``radius`` around the
handle or a painted ``region``. Coordinates are on the model's square (``"space": "square"``, as a record
writes them, with the region as ``region_png_base64``) or in the photo's own pixels (``"space": "photo"``, as
the CLI's ``--warp x0,y0,x1,y1[,radius]`` writes them, with the region as an image over the photo, any scale).

Example::

    {"kind": "warp", "space": "photo", "handle": [410, 300], "target": [470, 300], "radius": 40}
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganpaint_core.core.errors import shown
from ganpaint_core.core.photo import Photo, SquareBox, decode_image, mask_to_square
from ganpaint_core.edit.embedded import rgba_from_png_base64
from ganpaint_core.edit.recipe_rules import RecipeSource, enabled, refuse_unknown, unit, whole_number
from ganpaint_core.edit.strokes import StrokeError
from ganpaint_core.edit.warp import WarpSpec

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine

WARP_KEYS = {"kind", "space", "handle", "target", "radius", "region", "region_png_base64", "candidates", "pick",
             "morph", "seed", "enabled", "handle_error", "handle_end", "warp_steps", "candidate_s", "description"}
DEFAULT_RADIUS = 1 / 16  # of the square's side, when a recipe gives no radius


@dataclass(frozen=True)
class RecipeWarp:
    """A recipe's warp as written."""

    handle: tuple[float, float]
    target: tuple[float, float]
    radius: float | None  # None: DEFAULT_RADIUS of the side
    space: str  # "square" or "photo"
    region: Path | np.ndarray | None  # bool [S, S] on the square, or an image over the photo
    candidates: int = 4
    pick: int = 0
    morph: float = 1.0
    seed: int = 0
    enabled: bool = True
    where: str = "warp"

    @classmethod
    def read(cls, raw: dict[str, Any], source: RecipeSource, where: str) -> RecipeWarp:
        refuse_unknown(raw, WARP_KEYS, where)
        space = raw.get("space", "square")
        if space not in ("square", "photo"):
            raise StrokeError(f"{where}: 'space' must be 'square' (the model's pixels) or 'photo' (the photo's), "
                              f"got {shown(space)}")
        points = [_point(raw.get(k), k, where) for k in ("handle", "target")]
        radius = raw.get("radius")
        if radius is not None and (isinstance(radius, bool) or not isinstance(radius, (int, float))
                                   or not math.isfinite(radius) or radius <= 0):
            raise StrokeError(f"{where}: 'radius' must be a positive number of pixels, got {shown(radius)}")
        region: Path | np.ndarray | None = None
        if raw.get("region_png_base64") is not None:
            region = rgba_from_png_base64(raw["region_png_base64"], key="region_png_base64", where=where)[..., :3].max(-1) > 127
        elif isinstance(raw.get("region"), str) and raw["region"]:
            region = source.file(raw["region"], f"{where}: 'region'")
        elif raw.get("region") is not None:
            raise StrokeError(f"{where}: 'region' must be an image's path, got {shown(raw['region'])}")
        return cls(handle=points[0], target=points[1], radius=None if radius is None else float(radius), space=space,
                   region=region, candidates=whole_number(raw, "candidates", 4, where),
                   pick=whole_number(raw, "pick", 0, where), morph=unit("warp morph", raw.get("morph", 1.0), where),
                   seed=whole_number(raw, "seed", 0, where), enabled=enabled(raw, where), where=where)

    def to_spec(self, photo: Photo, engine: EditEngine, references: dict) -> tuple[WarpSpec, list[str]]:
        side = engine.resolution
        if self.space == "square":
            handle, target = self.handle, self.target
            radius = DEFAULT_RADIUS * side if self.radius is None else self.radius
        else:
            box = SquareBox(*photo.box)
            scale = side / box.side
            handle, target = ((round((x - box.left) * scale, 3), round((y - box.top) * scale, 3))
                              for x, y in (self.handle, self.target))
            radius = DEFAULT_RADIUS * side if self.radius is None else round(self.radius * scale, 3)
        region = None
        if isinstance(self.region, np.ndarray):
            if self.region.shape != (side, side):
                raise StrokeError(f"{self.where}: its region is {self.region.shape[1]}×{self.region.shape[0]}, made "
                                  f"for another model; {engine.model.manifest.name} needs {side}×{side}")
            region = self.region.astype(np.float32)
        elif self.region is not None:
            painted = np.asarray(decode_image(self.region, what="warp region").convert("L"), np.float32) > 127
            region = (mask_to_square(painted.astype(np.float32), photo, side) > 0.5).astype(np.float32)
        spec = WarpSpec(handle=tuple(map(float, handle)), target=tuple(map(float, target)), radius=float(radius),
                        source=region, resolution=side, candidates=self.candidates, pick=self.pick, morph=self.morph,
                        seed=self.seed, enabled=self.enabled)
        try:
            spec.check(resolution=side)
        except StrokeError as exc:
            raise StrokeError(f"{self.where}: {exc}") from None
        return spec, []


def _point(value: Any, key: str, where: str) -> tuple[float, float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise StrokeError(f"{where}: {key!r} must be [x, y], two numbers, got {shown(value)}")
    return float(value[0]), float(value[1])
