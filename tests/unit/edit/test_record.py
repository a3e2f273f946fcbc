"""Recipes: what a shared recipe (one that arrives through the app) may and may not name."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ganpaint_core.edit.embedded import mask_png_base64
from ganpaint_core.edit.recipe import parse_recipe
from ganpaint_core.edit.strokes import StrokeError

EMBEDDED = mask_png_base64(np.ones((8, 8), np.float32))


@pytest.mark.parametrize("stroke", [
    {"mask": "../../etc/passwd", "concept": "tree", "action": "add"},
    {"mask": "/etc/passwd", "concept": "tree", "action": "add"},
    {"mask_png_base64": EMBEDDED, "concept": "tree", "action": "add", "style": "/etc/hostname"},
    {"mask_png_base64": EMBEDDED, "concept": "tree", "action": "add",
     "style": {"kind": "reference", "path": "../ref.jpg", "strength": 0.5}},
])
def test_a_shared_recipe_never_names_a_file(stroke):
    with pytest.raises(StrokeError, match="names a file .* which a shared recipe may not: embed the mask"):
        parse_recipe({"strokes": [stroke]}, base=None, name="shared recipe")


def test_a_shared_recipe_with_embedded_masks_and_sample_styles_parses():
    (stroke,) = parse_recipe({"strokes": [{"mask_png_base64": EMBEDDED, "concept": "tree", "action": "add",
                                           "style": {"kind": "sample", "seed": 7, "strength": 0.4}}]}, base=None)
    assert isinstance(stroke.mask, np.ndarray) and stroke.style_kind == "sample" and stroke.style_seed == 7


def test_a_local_recipe_reads_paths_beside_it(tmp_path):
    (stroke,) = parse_recipe({"strokes": [{"mask": "m.png", "concept": "tree", "action": "add"}]}, base=tmp_path)
    assert stroke.mask == tmp_path / "m.png"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.1, 1.5, "0.5", [0.5], None])
def test_every_strength_in_a_recipe_is_checked(bad):
    for field in ("strength", "style_strength"):
        with pytest.raises(StrokeError, match=f"{field.replace('_', ' ')} must be a number in \\[0, 1\\]"):
            parse_recipe({"strokes": [{"mask_png_base64": EMBEDDED, "concept": "tree", "action": "add", field: bad}]},
                         base=Path("."))
