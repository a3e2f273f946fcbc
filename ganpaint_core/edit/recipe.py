"""Recipes: the one reader of a recipe, an edit record and a share bundle, for every way in — the page's
*Open a recipe* and share links, the ``/edit_recipe`` endpoint, ``edit --recipe``, ``compare`` and ``report``.

A recipe is ``{"strokes": [...]}``: concept strokes (:mod:`~ganpaint_core.edit.concept_recipe`), brushes
(``"kind": "brush"``, :mod:`~ganpaint_core.edit.brush_recipe`), directions (``"kind": "direction"``,
:mod:`~ganpaint_core.edit.direction_edit`) and edits of one segment (``"kind": "segment"``, a direction or a brush
inside: :mod:`~ganpaint_core.edit.segment_edit`), in order. A record (``edit_photo``'s, the CLI's ``--report``, the
page's download) is one; a share bundle is a record with its photo and style references inside
(``references_png_base64``), which any reader uses. The callers differ only in ``base``: a local recipe's
folder, whose files it may name, or None for what arrives through the app (no path at all). Every default
and type rule is :mod:`ganpaint_core.edit.recipe_rules`'.

Example::

    strokes = load_recipe("strokes.json")                            # paths beside the recipe
    strokes = parse_recipe(json.loads(text), base=None)              # from the app: masks and paint inside
    out = edit_files(engine, "church.jpg", strokes)                  # ganpaint_core.edit.pipeline
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ganpaint_core.core.errors import GanpaintError, shown
from ganpaint_core.core.files import read_json
from ganpaint_core.edit.kinds import RecipeEntry, kind_named
from ganpaint_core.edit.recipe_rules import RecipeSource
from ganpaint_core.edit.spec import check_stroke_count
from ganpaint_core.edit.strokes import StrokeError


def load_recipe(path: str | Path) -> list[RecipeEntry]:
    """The strokes of a recipe or of an edit record (``GanpaintError`` says what is wrong, and where); paths in
    it are relative to its folder. A local CLI user's recipe may name any file they can read."""
    path = Path(path)
    return parse_recipe(read_json(path, what="recipe"), base=path.parent, name=f"recipe {path}")


def parse_recipe(data: Any, *, base: Path | None, name: str = "recipe") -> list[RecipeEntry]:
    """The strokes of a parsed recipe, record or share bundle. ``base=None`` refuses every file path (masks and
    paint must be embedded, reference styles in the bundle): the mode for a recipe that arrives from someone
    else (through the app), which must never make the server read a file."""
    strokes = data.get("strokes") if isinstance(data, dict) else None
    if not isinstance(strokes, list) or not strokes:
        raise GanpaintError(f"{name}: needs a non-empty 'strokes' list")
    check_stroke_count(len(strokes), where=name)  # before any stroke's paint is decoded
    references = data.get("references_png_base64") or {}
    if not isinstance(references, dict):
        raise GanpaintError(f"{name}: 'references_png_base64' must be an object (sha256: base64 PNG), got "
                            f"{shown(references)}")
    source = RecipeSource(base=base, references=references)
    return [read_stroke(raw, source, f"{name} stroke {i + 1}") for i, raw in enumerate(strokes)]


def read_stroke(raw: Any, source: RecipeSource, where: str) -> RecipeEntry:
    """One entry of a recipe, by its ``"kind"`` (default ``"concept"``)."""
    if not isinstance(raw, dict):
        raise StrokeError(f"{where}: must be an object")
    if source.entry_reader is None:  # an edit of one segment reads its inner entry with this function
        source = dataclasses.replace(source, entry_reader=read_stroke)
    return kind_named(raw.get("kind", "concept"), where=where).entry.read(raw, source, where)
