"""Recipes: several strokes in a JSON file, applied to one photo or to a folder of photos.

``{"strokes": [{"mask": "sky.png", "concept": "cloud", "action": "add", "strength": 0.8,
                "style": "ref.jpg", "style_strength": 0.6, "enabled": true}, …]}``
Paths are relative to the recipe file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganpaint_core.errors import GanpaintError


@dataclass(frozen=True)
class StrokeSpec:
    """A stroke as the user wrote it, before it meets a photo."""

    mask: Path  # mask image (white or opaque = edit), any size: resized to the photo
    concept: str  # concept name
    action: str  # "add" or "remove"
    strength: float = 0.75  # [0, 1]
    style: Path | None = None  # optional reference image for "add"
    style_strength: float = 0.5  # [0, 1] blend of the reference's levels with the dictionary's
    enabled: bool = True  # off strokes are kept but skipped


def load_recipe(path: Path) -> list[StrokeSpec]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GanpaintError(f"recipe {path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GanpaintError(f"recipe {path}: not valid JSON ({exc})") from None
    strokes = data.get("strokes") if isinstance(data, dict) else None
    if not isinstance(strokes, list) or not strokes:
        raise GanpaintError(f"recipe {path}: needs a non-empty 'strokes' list")
    base = Path(path).parent
    return [_spec(raw, base, f"recipe {path} stroke {i + 1}") for i, raw in enumerate(strokes)]


def _spec(raw: Any, base: Path, where: str) -> StrokeSpec:
    if not isinstance(raw, dict):
        raise GanpaintError(f"{where}: must be an object")
    for key in ("mask", "concept", "action"):
        if key not in raw:
            raise GanpaintError(f"{where}: missing {key!r}")
    unknown = set(raw) - {"mask", "concept", "action", "strength", "style", "style_strength", "enabled"}
    if unknown:
        raise GanpaintError(f"{where}: unknown keys {sorted(unknown)}")
    return StrokeSpec(
        mask=base / raw["mask"], concept=str(raw["concept"]), action=str(raw["action"]),
        strength=float(raw.get("strength", 0.75)), style=base / raw["style"] if raw.get("style") else None,
        style_strength=float(raw.get("style_strength", 0.5)), enabled=bool(raw.get("enabled", True)),
    )
