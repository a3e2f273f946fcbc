"""The rules every stroke kind's recipe reader applies, so that a recipe means one thing wherever it is read
(the page's *Open a recipe* and share links, ``/edit_recipe``, ``edit --recipe``, ``compare`` and ``report``).

- Files: a local CLI recipe names them relative to its folder (``base``); anything that arrives through the
  app (``base=None``) may name none: masks and paint are embedded as base64 PNGs, a reference style's image is
  in the bundle's ``references_png_base64`` (by its ``reference_sha256``).
- Types: ``enabled`` is a JSON boolean (``true`` / ``false``; 0, 1 or text are refused, never coerced);
  strengths are numbers in [0, 1]; counts and seeds whole numbers; unknown keys are refused.
- Defaults: ``strength`` 0.75, style strength 0.75 (as :class:`~ganpaint_core.edit.spec.StyleSpec`, the page and
  ``/edit``), ``enabled`` true.

Example::

    source = RecipeSource(base=Path("recipes"))                     # a local recipe: paths beside it
    mask = source.mask(raw, where="stroke 1", required=True)       # a Path, or float32 [S, S] from the PNG
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganpaint_core.core.errors import shown
from ganpaint_core.edit.embedded import mask_from_png_base64
from ganpaint_core.edit.spec import unit_interval
from ganpaint_core.edit.strokes import StrokeError

DEFAULT_STRENGTH = 0.75
DEFAULT_STYLE_STRENGTH = 0.75  # StyleSpec's, the page's and /edit's: an omitted style strength is the same everywhere


@dataclass(frozen=True)
class RecipeSource:
    """Where a recipe's strokes may take files and references from."""

    base: Path | None  # the folder relative paths are read from (a local recipe); None: no file may be named
    references: Mapping[str, Any] = field(default_factory=dict)  # reference sha256 -> base64 PNG (a share bundle's)
    # How an entry nested in another (an edit of one segment) is read: ganpaint_core.edit.recipe.read_stroke,
    # which sets it (passed in, so that kinds need not import the reader that imports them)
    entry_reader: Callable[[Any, RecipeSource, str], Any] | None = None

    def file(self, value: str, what: str) -> Path:
        if self.base is None:
            raise StrokeError(f"{what} names a file ({shown(value)}), which a shared recipe may not: embed the mask "
                              "as 'mask_png_base64' (an edit record does) and use a sample style")
        return self.base / value

    def mask(self, raw: dict[str, Any], *, where: str, required: bool) -> Path | np.ndarray | None:
        """``mask_png_base64`` (float32 on the model's square) or ``mask`` (a file's path), or None."""
        if raw.get("mask_png_base64") is not None:
            return mask_from_png_base64(raw["mask_png_base64"], where=where)
        if isinstance(raw.get("mask"), str) and raw["mask"]:
            return self.file(raw["mask"], f"{where}: 'mask'")
        if required:
            raise StrokeError(f"{where}: needs 'mask' (a mask image's path) or 'mask_png_base64'")
        return None

    def reference(self, sha256: Any) -> bytes | None:
        """The embedded reference image ``sha256`` names (PNG bytes), or None when the recipe has none."""
        if not isinstance(sha256, str) or sha256 not in self.references:
            return None
        text = self.references[sha256]
        try:
            if not isinstance(text, str):
                raise ValueError
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise StrokeError("its style reference's image is not base64 PNG text") from None


def refuse_unknown(raw: dict[str, Any], known: set[str], where: str) -> None:
    unknown = set(raw) - known
    if unknown:
        raise StrokeError(f"{where}: unknown keys {sorted(unknown)[:5]}")


def enabled(raw: dict[str, Any], where: str) -> bool:
    """``enabled`` (default true): a JSON boolean, nothing else (``bool("false")`` is true)."""
    value = raw.get("enabled", True)
    if not isinstance(value, bool):
        raise StrokeError(f"{where}: 'enabled' must be true or false, got {shown(value)}")
    return value


def whole_number(raw: dict[str, Any], key: str, default: int, where: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise StrokeError(f"{where}: {key!r} must be a whole number, got {shown(value)}")
    return value


def unit(name: str, value: Any, where: str) -> float:
    """:func:`~ganpaint_core.edit.spec.unit_interval` with ``where`` in its message."""
    try:
        return unit_interval(name, value)
    except StrokeError as exc:
        raise StrokeError(f"{where}: {exc}") from None
