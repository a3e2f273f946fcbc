"""A concept stroke's recipe form: ``{"mask": "sky.png" | "mask_png_base64": …, "concept", "action",
"strength", "enabled", "style"}``, read as written (:class:`RecipeStroke`) and turned into a
:class:`~ganpaint_core.edit.spec.StrokeSpec` once the photo and the model are known.

A style is ``"style": "ref.jpg"`` (a reference image's path, with ``"style_strength"`` beside it), or
``{"kind": "sample", "seed": 1000003, "strength": 0.6}``, ``{"kind": "reference", "path": "ref.jpg",
"strength": 0.6}`` (or, in a record or share bundle, ``"reference_sha256"`` naming its embedded image),
``{"kind": "dictionary"}``. The rules (files, types, defaults) are :mod:`ganpaint_core.edit.recipe_rules`'.

Example::

    entry = RecipeStroke.read({"mask": "sky.png", "concept": "cloud", "action": "add"}, RecipeSource(base=folder),
                              "stroke 1")
    spec, notes = entry.to_spec(photo, engine, {})
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganpaint_core.core.errors import shown
from ganpaint_core.core.photo import Photo, load_mask, mask_to_square
from ganpaint_core.edit.recipe_rules import (
    DEFAULT_STRENGTH,
    DEFAULT_STYLE_STRENGTH,
    RecipeSource,
    enabled,
    refuse_unknown,
    unit,
)
from ganpaint_core.edit.spec import Reference, StrokeSpec, StyleSpec, unit_interval
from ganpaint_core.edit.strokes import StrokeError

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine

STROKE_KEYS = {"kind", "mask", "mask_png_base64", "mask_share", "concept", "action", "strength", "style",
               "style_strength", "style_levels", "enabled"}


@dataclass(frozen=True)
class RecipeStroke:
    """A recipe's concept stroke as written, before it meets a photo and a model."""

    mask: Path | np.ndarray  # a mask file (any size: resized to the photo), or a mask on the model's square
    concept: str
    action: str
    strength: float = DEFAULT_STRENGTH
    style_kind: str = "dictionary"  # "dictionary" | "sample" | "reference"
    style_seed: int | None = None
    style_path: Path | None = None  # the reference image's file (kind "reference")
    style_strength: float = DEFAULT_STYLE_STRENGTH
    enabled: bool = True
    where: str = "stroke"  # "recipe R stroke N", for messages
    style_image: bytes | None = None  # the reference image embedded in a share bundle (kind "reference")
    style_name: str = "reference"  # the embedded reference's name, for lists and records

    @classmethod
    def read(cls, raw: dict[str, Any], source: RecipeSource, where: str) -> RecipeStroke:
        refuse_unknown(raw, STROKE_KEYS, where)
        for key in ("concept", "action"):
            if not isinstance(raw.get(key), str):
                raise StrokeError(f"{where}: {key!r} must be text, got {shown(raw.get(key))}")
        mask = source.mask(raw, where=where, required=True)
        is_enabled = enabled(raw, where)
        strength = unit("strength", raw.get("strength", DEFAULT_STRENGTH), where)
        try:
            style = _style_fields(raw, source)
        except StrokeError as exc:
            raise StrokeError(f"{where}: {exc}") from None
        return cls(mask=mask, concept=raw["concept"], action=raw["action"], strength=strength, enabled=is_enabled,
                   where=where, **style)

    def to_spec(self, photo: Photo, engine: EditEngine,
                references: dict[Any, Reference]) -> tuple[StrokeSpec, list[str]]:
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
            key, source = ((self.style_path, self.style_path) if self.style_path is not None
                           else (("embedded", self.style_image), self.style_image))
            if key not in references:
                name = self.style_path.stem if self.style_path is not None else self.style_name
                references[key] = Reference.load(source, resolution=engine.resolution, name=name)
            style = StyleSpec(kind="reference", strength=self.style_strength, reference=references[key])
        spec = StrokeSpec(mask=square, concept=self.concept, action=self.action, strength=self.strength, style=style,
                          enabled=self.enabled)
        return spec, notes


def _style_fields(raw: dict[str, Any], source: RecipeSource) -> dict[str, Any]:
    """The ``style_*`` fields of a :class:`RecipeStroke`."""
    style = raw.get("style")
    outer = raw.get("style_strength", DEFAULT_STYLE_STRENGTH)
    if style is None:  # a style strength without a style does nothing, but a bad one is still refused
        return {"style_strength": unit_interval("style strength", outer)}
    if isinstance(style, str):  # a reference image's path, with "style_strength" beside it
        return {"style_kind": "reference", "style_path": source.file(style, "'style'"),
                "style_strength": unit_interval("style strength", outer)}
    if not isinstance(style, dict):
        raise StrokeError(f"'style' must be a reference image's path or an object, got {shown(style)}")
    kind = style.get("kind", "dictionary")
    strength = unit_interval("style strength", style.get("strength", outer))
    if kind == "dictionary":
        return {"style_strength": strength}
    if kind == "sample":
        seed = style.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise StrokeError(f"a sample style needs a whole-number 'seed', got {shown(seed)}")
        return {"style_kind": "sample", "style_seed": seed, "style_strength": strength}
    if kind != "reference":
        raise StrokeError(f"style kind must be dictionary, sample or reference, got {shown(kind)}")
    if isinstance(style.get("path"), str):
        return {"style_kind": "reference", "style_path": source.file(style["path"], "the style's 'path'"),
                "style_strength": strength}
    image = source.reference(style.get("reference_sha256"))
    if image is not None:
        return {"style_kind": "reference", "style_image": image, "style_strength": strength,
                "style_name": str(style.get("reference", "reference"))}
    if source.base is None:
        raise StrokeError("its style reference is not in the record (share the edit again, or use the CLI with "
                          "the reference's path)")
    raise StrokeError(f"its style reference ({shown(style.get('reference', 'the reference'))}) is not in the recipe: "
                      "add its image's path as \"path\" in the style")
