"""The record of an edit, and recipes: one JSON format for the CLI's ``--report``, the app's download and
``/edit``'s callers, whose ``strokes`` list is itself a recipe.

A recipe is ``{"strokes": [...]}``; each stroke names its mask as a file (``"mask": "sky.png"``, relative
to the recipe) or carries it (``"mask_png_base64"``, on the model's square, as records do), plus
``concept``, ``action``, ``strength``, ``enabled`` and a style: ``"style": "ref.jpg"`` with
``"style_strength"``, or ``"style": {"kind": "sample", "seed": 1000003, "strength": 0.6}`` /
``{"kind": "reference", "path": "ref.jpg", "strength": 0.6}`` / ``{"kind": "dictionary"}``.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ganpaint_core.core.errors import GanpaintError, shown
from ganpaint_core.core.files import read_json
from ganpaint_core.core.photo import Photo, load_mask, mask_to_square
from ganpaint_core.edit.spec import EditOptions, Reference, StrokeSpec, StyleSpec, unit_interval
from ganpaint_core.edit.strokes import EditStroke, FeatureEdit, StrokeError

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine, PhotoState, RenderResult

RECORD_FORMAT = "ganpaint-edit/2"
STROKE_KEYS = {"kind", "mask", "mask_png_base64", "mask_share", "concept", "action", "strength", "style",
               "style_strength", "style_levels", "enabled"}


def mask_png_base64(mask: np.ndarray) -> str:
    """float [h, w] in [0, 1] -> a greyscale PNG, base64 (white = edit); a bool mask -> a 1-bit PNG."""
    mask = np.asarray(mask)
    img = Image.fromarray(mask) if mask.dtype == bool else Image.fromarray(
        (mask.clip(0, 1) * 255).round().astype(np.uint8), "L")
    return encode_png_base64(img)


def encode_png_base64(img: Image.Image, *, optimize: bool = True) -> str:
    """``img`` as a PNG, base64 text (what records, recipes and share bundles carry)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=optimize)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def mask_from_png_base64(text: Any, *, where: str) -> np.ndarray:
    """The inverse of :func:`mask_png_base64` (float [h, w] in [0, 1]); ``StrokeError`` if it is not one."""
    return np.asarray(image_from_png_base64(text, key="mask_png_base64", where=where).convert("L"), dtype=np.float32) / 255


def image_from_png_base64(text: Any, *, key: str, where: str) -> Image.Image:
    """The image in a recipe's base64 PNG field ``key``; ``StrokeError`` if it is not one."""
    if not isinstance(text, str):
        raise StrokeError(f"{where}: {key!r} must be text, got {shown(text)}")
    try:
        img = Image.open(io.BytesIO(base64.b64decode(text, validate=True)))
        img.load()
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
        raise StrokeError(f"{where}: {key!r} is not a base64 PNG") from None
    return img


def edit_record(engine: EditEngine, state: PhotoState, specs: Sequence[Any], strokes: Sequence[EditStroke | FeatureEdit],
                result: RenderResult, *, options: EditOptions, name: str, timings: dict[str, float] | None = None,
                notes: Sequence[str] = ()) -> dict[str, Any]:
    """A JSON-ready record: model, weights, photo geometry, options, strokes, parameters, timings, notes."""
    manifest = engine.model.manifest
    return {
        "format": RECORD_FORMAT,
        "model": manifest.name,
        "family": manifest.family,
        "resolution": manifest.resolution,
        "edit_layer": manifest.edit_layer,
        "weights_sha256": dict(engine.model.sha256),
        "photo": {"name": name, "size": list(state.photo.size), "box": list(state.photo.box), "fit": state.photo.fit},
        "options": dataclasses.asdict(options),
        "reconstruction_psnr_db": {"inverted": round(state.recon_psnr_before, 3),
                                   "adapted": round(state.recon_psnr_after, 3)},
        "parameters": {"inversion": dataclasses.asdict(engine.inversion_cfg),
                       "adaptation": dataclasses.asdict(engine.adapt_cfg), "lpips": _lpips_used(state),
                       **({"segments": dataclasses.asdict(engine.segment_cfg)} if state.invert == "segments" else {})},
        "strokes": [_stroke_json(spec, st) for spec, st in zip(specs, strokes)],
        # How much of the render's change the photo takes ([S, S] over the square); the photo's pixels are
        # unchanged wherever this is black.
        "paste_region_png_base64": mask_png_base64(result.region),
        "paste_region_share": round(float((result.region > 0).mean()), 5),
        # Every pixel of the result that differs from the photo ([H, W] over the photo, white = changed);
        # only for a full-resolution result.
        **({} if result.changed is None else {"changed_area_png_base64": mask_png_base64(result.changed),
                                              "changed_share": round(float(result.changed.mean()), 6)}),
        "timings_s": {k: round(v, 4) for k, v in {**state.timings, **(timings or {}), **result.timings}.items()},
        "notes": list(dict.fromkeys([*state.notes, *notes, *result.notes])),
    }


def _lpips_used(state: PhotoState) -> bool:
    """Whether the photo's setup used LPIPS (its notes say when it fell back)."""
    return not any(n.startswith("LPIPS unavailable") for n in state.notes)


def _stroke_json(spec: Any, stroke: EditStroke | FeatureEdit) -> dict[str, Any]:
    from ganpaint_core.edit.recipe_modes import BrushSpec, DirectionSpec, brush_json, direction_json

    if isinstance(spec, BrushSpec):
        return brush_json(spec, stroke)
    if isinstance(spec, DirectionSpec):
        return direction_json(spec)
    return {
        "concept": spec.concept,
        "action": spec.action,
        "strength": float(spec.strength),
        "enabled": bool(spec.enabled),
        "style": spec.effective_style.to_json() | {"description": spec.effective_style.describe()},
        "style_levels": None if stroke.style_levels is None else [round(v, 5) for v in stroke.style_levels],
        "mask_png_base64": mask_png_base64(spec.mask),  # [S, S] on the model's square, white = edit
        "mask_share": round(float(np.asarray(spec.mask).mean()), 5),
    }


# -- recipes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecipeStroke:
    """A recipe's stroke as written, before it meets a photo and a model."""

    mask: Path | np.ndarray  # a mask file (any size: resized to the photo), or a mask on the model's square
    concept: str
    action: str
    strength: float = 0.75
    style_kind: str = "dictionary"  # "dictionary" | "sample" | "reference"
    style_seed: int | None = None
    style_path: Path | None = None  # the reference image (kind "reference")
    style_strength: float = 0.5
    enabled: bool = True
    where: str = "stroke"  # "recipe R stroke N", for messages

    def to_spec(self, photo: Photo, engine: EditEngine, references: dict[Path, Reference]) -> tuple[StrokeSpec, list[str]]:
        """The stroke on ``photo`` for ``engine`` (references loaded once into ``references``), and notes."""
        notes: list[str] = []
        if isinstance(self.mask, np.ndarray):
            square = self.mask
            if square.shape != (engine.resolution, engine.resolution):
                raise StrokeError(f"{self.where}: its mask is {square.shape[1]}×{square.shape[0]}, made for another "
                                  f"model; {engine.model.manifest.name} needs {engine.resolution}×{engine.resolution}")
        else:
            full, notes = load_mask(self.mask, size=photo.size)
            square = mask_to_square(full, photo, engine.resolution)
        style = StyleSpec()
        if self.style_kind == "sample":
            style = StyleSpec(kind="sample", seed=self.style_seed, strength=self.style_strength)
        elif self.style_kind == "reference":
            if self.style_path not in references:
                references[self.style_path] = Reference.load(self.style_path, resolution=engine.resolution,
                                                             name=self.style_path.stem)
            style = StyleSpec(kind="reference", strength=self.style_strength, reference=references[self.style_path])
        spec = StrokeSpec(mask=square, concept=self.concept, action=self.action, strength=self.strength, style=style,
                          enabled=self.enabled)
        return spec, notes


def load_recipe(path: str | Path) -> list[RecipeStroke]:
    """The strokes of a recipe or of an edit record (``GanpaintError`` says what is wrong, and where); paths in
    it are relative to its folder. A local CLI user's recipe may name any file they can read."""
    path = Path(path)
    return parse_recipe(read_json(path, what="recipe"), base=path.parent, name=f"recipe {path}")


def parse_recipe(data: Any, *, base: Path | None, name: str = "recipe") -> list[RecipeStroke]:
    """The strokes of a parsed recipe. ``base=None`` refuses every file path (masks must be embedded, styles
    samples): the mode for a recipe that arrives from someone else (through the app), which must never make
    the server read a file."""
    strokes = data.get("strokes") if isinstance(data, dict) else None
    if not isinstance(strokes, list) or not strokes:
        raise GanpaintError(f"{name}: needs a non-empty 'strokes' list")
    return [recipe_stroke(raw, base, f"{name} stroke {i + 1}") for i, raw in enumerate(strokes)]


def _file(base: Path | None, value: str, what: str) -> Path:
    if base is None:
        raise StrokeError(f"{what} names a file ({shown(value)}), which a shared recipe may not: embed the mask as "
                          "'mask_png_base64' (an edit record does) and use a sample style")
    return base / value


def recipe_stroke(raw: Any, base: Path | None, where: str) -> Any:
    """One stroke of a recipe (paths relative to ``base``; ``base=None``: paths refused): a concept stroke
    (:class:`RecipeStroke`), or by its ``kind`` a brush or a direction (:mod:`ganpaint_core.edit.recipe_modes`)."""
    if not isinstance(raw, dict):
        raise StrokeError(f"{where}: must be an object")
    kind = raw.get("kind", "concept")
    if kind in ("brush", "direction"):
        from ganpaint_core.edit.recipe_modes import recipe_brush, recipe_direction

        return (recipe_brush if kind == "brush" else recipe_direction)(raw, base, where, _file)
    if kind != "concept":
        raise StrokeError(f"{where}: 'kind' must be concept, brush or direction, got {shown(kind)}")
    unknown = set(raw) - STROKE_KEYS
    if unknown:
        raise StrokeError(f"{where}: unknown keys {sorted(unknown)[:5]}")
    for key in ("concept", "action"):
        if not isinstance(raw.get(key), str):
            raise StrokeError(f"{where}: {key!r} must be text, got {shown(raw.get(key))}")
    if "mask_png_base64" in raw:
        mask: Path | np.ndarray = mask_from_png_base64(raw["mask_png_base64"], where=where)
    elif isinstance(raw.get("mask"), str) and raw["mask"]:
        mask = _file(base, raw["mask"], f"{where}: 'mask'")
    else:
        raise StrokeError(f"{where}: needs 'mask' (a mask image's path) or 'mask_png_base64'")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise StrokeError(f"{where}: 'enabled' must be true or false, got {shown(enabled)}")
    try:
        strength = unit_interval("strength", raw.get("strength", 0.75))
        kind, seed, ref, style_strength = _style_fields(raw, base)
    except StrokeError as exc:
        raise StrokeError(f"{where}: {exc}") from None
    return RecipeStroke(mask=mask, concept=raw["concept"], action=raw["action"], strength=strength, style_kind=kind,
                        style_seed=seed, style_path=ref, style_strength=style_strength, enabled=enabled, where=where)


def _style_fields(raw: dict[str, Any], base: Path | None) -> tuple[str, int | None, Path | None, float]:
    style = raw.get("style")
    if style is None:  # a style strength without a style does nothing, but a bad one is still refused
        return "dictionary", None, None, unit_interval("style strength", raw.get("style_strength", 0.5))
    if isinstance(style, str):  # a reference image's path, with "style_strength" beside it
        return "reference", None, _file(base, style, "'style'"), unit_interval("style strength", raw.get("style_strength", 0.5))
    if not isinstance(style, dict):
        raise StrokeError(f"'style' must be a reference image's path or an object, got {shown(style)}")
    kind = style.get("kind", "dictionary")
    strength = unit_interval("style strength", style.get("strength", raw.get("style_strength", 0.5)))
    if kind == "dictionary":
        return "dictionary", None, None, strength
    if kind == "sample":
        seed = style.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise StrokeError(f"a sample style needs a whole-number 'seed', got {shown(seed)}")
        return "sample", seed, None, strength
    if kind == "reference":
        if not isinstance(style.get("path"), str):
            name = style.get("reference", "the reference")
            raise StrokeError(f"its style reference ({shown(name)}) is not in the recipe: add its image's path as "
                              "\"path\" in the style")
        return "reference", None, _file(base, style["path"], "the style's 'path'"), strength
    raise StrokeError(f"style kind must be dictionary, sample or reference, got {shown(kind)}")
