"""``python -m ganpaint_core edit`` end to end: the photo and its record, which is a recipe."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.cli import main as cli
from tests.helpers import box_mask, scene_png


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {"photo": tmp_path / "church.png", "mask": tmp_path / "mask.png", "ref": tmp_path / "ref.png"}
    out["photo"].write_bytes(scene_png(9_000_601, (320, 240)))
    out["ref"].write_bytes(scene_png(9_000_602))
    Image.fromarray((box_mask(240, 320, 0.3, 0.7, 0.3, 0.7) * 255).astype(np.uint8)).save(out["mask"])
    return out


def edit(*args: str) -> int:
    return cli.main(["edit", *args])


@pytest.mark.slow
def test_an_edit_writes_the_photo_and_its_record_which_is_a_recipe(files, tmp_path, capsys):
    out, report = tmp_path / "out.png", tmp_path / "out.json"
    assert edit("--image", str(files["photo"]), "--mask", str(files["mask"]), "--concept", "tree", "--action", "add",
                "--strength", "0.9", "--style-seed", "1000003", "--style-strength", "0.5", "--out", str(out),
                "--report", str(report)) == 0
    edited, original = np.asarray(Image.open(out)), np.asarray(Image.open(files["photo"]).convert("RGB"))
    assert edited.shape == original.shape == (240, 320, 3)
    assert (edited != original).any(-1)[80:160, 110:210].mean() > 0.3
    assert np.array_equal(edited[:, :30], original[:, :30])  # outside the centre square: the photo's own
    record = json.loads(report.read_text())
    assert record["format"] == "ganpaint-edit/2" and record["files"]["output"] == str(out)
    assert record["options"] == {"fit": "crop", "adapt": True, "refit": False, "invert": "single",
                                 "transfer": "delta"}
    (stroke,) = record["strokes"]
    assert stroke["style"]["kind"] == "sample" and stroke["style"]["seed"] == 1000003 and stroke["style_levels"]
    assert "wrote" in capsys.readouterr().out
    # The record is a recipe: applied to the same photo it gives the same pixels (masks travel inside it).
    again = tmp_path / "again.png"
    assert edit("--image", str(files["photo"]), "--recipe", str(report), "--out", str(again)) == 0
    assert np.array_equal(np.asarray(Image.open(again)), edited)
