"""``python -m ganpaint_core edit``: every bad value refused in one line, before the photo's setup."""
from __future__ import annotations

import json
import time
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


def test_bad_values_end_in_one_line_before_any_setup(files, tmp_path, capsys):
    base = ["--image", str(files["photo"]), "--mask", str(files["mask"]), "--concept", "tree", "--action", "add"]
    recipe = tmp_path / "r.json"
    cases = [
        (base + ["--strength", "nan", "--out", str(tmp_path / "o.png")], "strength must be a number in [0, 1], got nan"),
        (base + ["--style-strength", "5", "--out", str(tmp_path / "o.png")], "style strength must be a number"),
        (base + ["--style", str(files["ref"]), "--style-seed", "3", "--out", str(tmp_path / "o.png")], "not both"),
        (base + ["--out", str(tmp_path / "o.xyz")], "unknown image type '.xyz'"),
        (base + ["--out", str(tmp_path)], "is a folder; give a file name"),
        (["--image", str(files["photo"]), "--mask", str(tmp_path / "blank.png"), "--concept", "tree", "--action", "add",
          "--out", str(tmp_path / "o.png")], "the mask is empty"),
        (base[:4] + ["--concept", "x" * 100_000, "--action", "add", "--out", str(tmp_path / "o.png")],
         "unknown concept"),
    ]
    Image.new("L", (320, 240)).save(tmp_path / "blank.png")
    for strokes, message in ({"strokes": [{"mask": "mask.png", "concept": "tree", "action": "add", "strength": "a"}]},
                             "strength must be a number in [0, 1], got 'a'"), \
                            ({"strokes": [{"mask": 3, "concept": "tree", "action": "add"}]}, "needs 'mask'"), \
                            ({"strokes": [{"mask": "m.png", "concept": "tree", "action": "add",
                                           "style": {"kind": "sample", "seed": 2, "strength": float("nan")}}]},
                             "style strength must be a number"), \
                            ({"strokes": [{"mask": "m.png", "concept": "tree", "action": "add", "strength": [1]}]},
                             "got [1]"):
        cases.append((["--image", str(files["photo"]), "--recipe", str(recipe), "--out", str(tmp_path / "o.png")],
                      message, strokes))
    for case in cases:
        args, message = case[0], case[1]
        if len(case) == 3:
            recipe.write_text(json.dumps(case[2]))
        t0 = time.monotonic()
        assert edit(*args) == 2, message
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err) < 600, err
        assert time.monotonic() - t0 < 10, f"{message}: refused only after a setup"
    assert not (tmp_path / "o.png").exists()
