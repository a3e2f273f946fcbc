"""One recipe reader: the same hand-written recipe opened on the page (*Open a recipe*) and given to the CLI
(``edit --recipe``) gives the same strokes and the same pixels, and both refuse the same bad values in the
same words. The recipe leaves the style strength out (0.75 everywhere) and has a brush beside its concept
strokes; ``enabled`` as 0 / 1 is refused by both (a JSON boolean only)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.cli import main as cli
from ganpaint_core.edit.embedded import encode_png_base64, mask_png_base64
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.hub.loading import load_model
from ganpaint_core.hub.manifest import load_manifest
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.page import EditPage, PageUpdate
from ganpaint_core.page.session import EditSession
from tests.helpers import BUNDLED, box_mask, scene_png

TIMINGS = {"candidate_s"}  # a brush's seconds: the same stroke, another run


def last(items) -> PageUpdate:
    items = list(items)
    assert all(isinstance(i, JobUpdate) for i in items[:-1])
    return items[-1]


def hand_written(side: int, *, enabled=True) -> dict:
    """Two concept strokes (one with a sample style and no style strength) and a colour brush, masks and paint
    embedded on the model's square, as a user would write them."""
    colour = np.zeros((side, side, 4), np.uint8)
    colour[side // 8:side // 4, side // 2:side - side // 8] = (40, 90, 230, 255)  # a blue band in the sky
    return {"strokes": [
        {"mask_png_base64": mask_png_base64(box_mask(side, side, 0.5, 0.9, 0.1, 0.5)), "concept": "tree",
         "action": "add", "strength": 0.8, "style": {"kind": "sample", "seed": 1_000_003}},
        {"mask_png_base64": mask_png_base64(box_mask(side, side, 0.6, 1.0, 0.5, 0.9)), "concept": "grass",
         "action": "remove", "enabled": enabled},
        {"kind": "brush", "color_png_base64": encode_png_base64(Image.fromarray(colour, "RGBA")), "candidates": 2,
         "pick": 1, "morph": 0.7},
    ]}


def strokes_of(record: dict) -> list[dict]:
    return [{k: v for k, v in s.items() if k not in TIMINGS} for s in record["strokes"]]


@pytest.mark.slow  # one photo set up with the product's settings (the CLI's), then reused from disk by the CLI
def test_the_page_and_the_cli_read_one_recipe_alike(tmp_path, one_thread, capsys):
    engine = EditEngine(load_model(load_manifest(BUNDLED, bundled=True), device="cpu"))  # the CLI's model and settings
    side = engine.resolution
    photo = tmp_path / "church.png"
    photo.write_bytes(scene_png(9_000_901, (320, 240)))
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(hand_written(side)))

    page = EditPage(engine, out_dir=tmp_path / "page")
    session = last(page.open_photo(EditSession(model=page.default_model), str(photo), name="church.png")).session
    opened = last(page.open_recipe(session, str(recipe)))
    assert opened.png, opened.status
    assert [s.kind for s in opened.session.strokes] == ["concept", "concept", "brush"]
    assert opened.session.strokes[0].style.strength == 0.75  # omitted: StyleSpec's, the page's and /edit's
    page_record = json.loads(Path(opened.sidecar).read_text())

    out = tmp_path / "cli.png"
    assert cli.main(["edit", "--image", str(photo), "--recipe", str(recipe), "--out", str(out),
                     "--report", str(tmp_path / "cli.json")]) == 0
    cli_record = json.loads((tmp_path / "cli.json").read_text())
    assert strokes_of(cli_record) == strokes_of(page_record)
    assert cli_record["strokes"][0]["style"]["strength"] == 0.75
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(opened.png)))

    # 0 / 1 for `enabled` is refused by both, in the same words, before any render
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(hand_written(side, enabled=1)))
    refused = last(page.open_recipe(session, str(bad)))
    assert "'enabled' must be true or false, got 1" in refused.status
    capsys.readouterr()
    assert cli.main(["edit", "--image", str(photo), "--recipe", str(bad), "--out", str(tmp_path / "bad.png")]) == 2
    assert "'enabled' must be true or false, got 1" in capsys.readouterr().err
    assert not (tmp_path / "bad.png").exists()


STROKE_TYPES = ("StrokeSpec", "BrushSpec", "DirectionSpec", "EditStroke", "FeatureEdit", "RecipeStroke", "RecipeBrush",
                "RecipeDirection")


def test_stroke_kinds_are_told_apart_only_in_the_registry():
    import ast

    from tests.helpers import REPO

    found = []
    for path in [*(REPO / "ganpaint_core").rglob("*.py"), REPO / "app.py"]:
        if path.name == "kinds.py" and path.parent.name == "edit":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "issubclass"):
                names = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", None) for n in ast.walk(node.args[1])}
                if names & set(STROKE_TYPES):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not found, f"isinstance over stroke kinds outside edit/kinds.py: {found}"


def test_every_kind_answers_the_stroke_protocol():
    from ganpaint_core.edit.kinds import KINDS

    for name, kind in KINDS.items():
        assert kind.spec.kind == name
        for member in ("check_on", "resolve", "to_record", "describe", "label", "references", "with_strength",
                       "settings", "with_settings", "on_square", "concepts", "has_candidates", "needs_directions",
                       "portable"):
            assert hasattr(kind.spec, member), f"{kind.spec.__name__} lacks {member}"
        assert callable(kind.entry.read) and callable(kind.entry.to_spec)


@pytest.mark.parametrize("base", [None, "folder"])
def test_one_reader_one_set_of_rules_with_or_without_a_folder(base, tmp_path):
    from ganpaint_core.edit.recipe import parse_recipe
    from ganpaint_core.edit.strokes import StrokeError

    folder = None if base is None else tmp_path
    concept, grass, brush = parse_recipe(hand_written(8), base=folder)
    assert (concept.style_kind, concept.style_seed, concept.style_strength) == ("sample", 1_000_003, 0.75)
    assert grass.style_strength == 0.75 and grass.enabled is True and brush.pick == 1 and brush.morph == 0.7
    for bad in (0, 1, "false", None):
        with pytest.raises(StrokeError, match="recipe stroke 2: 'enabled' must be true or false"):
            parse_recipe(hand_written(8, enabled=bad), base=folder)
