"""Compare grids (size, labels, what each cell is), the evaluation report on a folder with a corrupt file,
a concept's units and the segmenter's map, and select-by-concept masks (equal to the segmenter's map)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.cli import main as cli
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.photo import load_photo, mask_to_square
from ganpaint_core.edit.pipeline import edit_photo
from ganpaint_core.edit.recipe import load_recipe
from ganpaint_core.edit.spec import StrokeSpec
from ganpaint_core.page.canvas import mask_from_layers
from ganpaint_core.page.page import EditPage
from ganpaint_core.page.session import EditSession
from ganpaint_core.review.compare import LABEL_HEIGHT, compare_grid, parse_vary, without_adaptation
from ganpaint_core.review.report import write_report
from ganpaint_core.review.units import concept_mask, segment, unit_heatmap
from tests.helpers import box_mask, make_engine, scene_png


@pytest.fixture(scope="module")
def engine():
    return make_engine()


@pytest.mark.slow  # photos set up and rendered
def test_a_compare_grid_has_one_labelled_cell_per_setting(engine, one_thread):
    photo = load_photo(scene_png(9_400_001, (160, 120)), size=engine.resolution)
    spec = StrokeSpec(mask=box_mask(engine.resolution, engine.resolution, 0.3, 0.7, 0.3, 0.7), concept="tree",
                      action="add", strength=0.75)
    vary = parse_vary(["strength=0.25,0.5,1", "adapt=on,off"])
    grid = compare_grid({engine.model.manifest.name: engine}, photo, [spec], vary=vary, model=engine.model.manifest.name,
                        cell_side=128)
    assert (grid.rows, grid.cols) == (2, 3) and grid.cell_size == (128, 96)
    assert grid.image.shape == (2 * (96 + LABEL_HEIGHT), 3 * 128, 3)
    assert grid.labels == ("strength 0.25 · adapt on", "strength 0.50 · adapt on", "strength 1.00 · adapt on",
                           "strength 0.25 · adapt off", "strength 0.50 · adapt off", "strength 1.00 · adapt off")
    # each cell is the one edit path's render at that setting (adapt off: the setup without its adaptation)
    state = engine.prepare(photo)
    off = edit_photo(engine, without_adaptation(engine, state), [spec.__class__(**{**spec.__dict__, "strength": 0.5})])
    cell = grid.image[96 + 2 * LABEL_HEIGHT:, 128:256]
    expect = np.asarray(Image.fromarray(off.result.final).resize((128, 96), Image.Resampling.LANCZOS))
    assert np.array_equal(cell, expect)
    assert not np.array_equal(grid.image[LABEL_HEIGHT:LABEL_HEIGHT + 96, :128], grid.image[LABEL_HEIGHT:LABEL_HEIGHT + 96, 256:])
    unadapted = engine.prepare(photo, adapt=False)  # what "adapt off" stands for
    assert np.array_equal(without_adaptation(engine, state).base_render, unadapted.base_render)


def test_bad_vary_values_are_refused_in_one_line(tmp_path, capsys):
    for vary, words in (("speed=1", "AXIS one of strength, adapt, model"), ("strength=2", "strength must be"),
                        ("adapt=yes", "adapt takes on and off")):
        assert cli.main(["compare", "--image", "x.png", "--recipe", "r.json", "--vary", vary, "--out",
                         str(tmp_path / "g.png")]) == 2
        assert words in capsys.readouterr().err


@pytest.mark.slow  # photos set up and rendered
def test_the_report_skips_a_corrupt_photo_and_its_table_matches_the_json(engine, tmp_path, one_thread):
    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in (9_400_011, 9_400_012):
        (photos / f"scene-{seed}.png").write_bytes(scene_png(seed, (120, 96)))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    Image.fromarray((box_mask(64, 64, 0.3, 0.7, 0.3, 0.7) * 255).astype(np.uint8)).save(tmp_path / "m.png")
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"strokes": [{"mask": "m.png", "concept": "tree", "action": "add", "strength": 1},
                                              {"mask": "m.png", "concept": "grass", "action": "remove"}]}))
    name = engine.model.manifest.name
    report = write_report({name: engine}, photos, load_recipe(recipe), tmp_path / "report",
                          recipe_text=recipe.read_text())
    entry = report["models"][name]
    assert [p["photo"] for p in entry["photos"]] == ["scene-9400011.png", "scene-9400012.png"]
    assert entry["skipped"][0]["photo"] == "broken.jpg" and entry["skipped"][0]["reason"]
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Skipped <b>broken.jpg</b>" in page and "http" not in page.replace("http-equiv", "")  # offline
    for src in re.findall(r"src='([^']+)'", page):
        assert (tmp_path / "report" / src).is_file()
    rows = re.findall(r"<tr><td>(scene-[0-9]+\.png)</td>(.*?)</tr>", page)
    for (photo, cells), fig in zip(rows, entry["photos"]):
        per_photo = json.loads((tmp_path / "report" / "images" / f"{name}-{photo[:-4]}.json").read_text())
        values = re.findall(r"<td>([^<]*)</td>", cells)
        assert values[0] == f"{per_photo['recon_psnr_inverted_db']:.1f}" and values[2] == f"{per_photo['locality_psnr_db']:.1f}"
        assert per_photo["strokes"][0]["share_after"] is not None
    med = np.median([p["recon_psnr_adapted_db"] for p in entry["photos"]])
    assert entry["medians"]["recon_psnr_adapted_db"] == pytest.approx(med, abs=1e-3)
    assert f"<td>{med:.1f}</td>" in page.split("Per photo")[0]


@pytest.mark.slow  # photos set up and rendered
def test_units_and_select_by_concept_give_the_segmenters_map(engine, tmp_path, one_thread):
    page = EditPage(engine, out_dir=tmp_path / "renders")
    path = tmp_path / "scene.png"
    path.write_bytes(scene_png(9_400_021, (256, 256)))
    items = list(page.open_photo(EditSession(model=page.default_model), str(path)))
    session = items[-1].session
    heat = unit_heatmap(engine, session.state, "tree")
    assert heat.shape == (engine.resolution, engine.resolution) and 0 <= heat.min() and heat.max() <= 1
    render = page._render_square(session)
    labels = segment(engine, render)
    concept = engine.model.segmenter.labels[int(np.bincount(labels.ravel())[1:].argmax()) + 1]
    mask = concept_mask(engine, render, concept)
    assert np.array_equal(mask, (labels == list(engine.model.segmenter.labels).index(concept)).astype(np.float32))
    shown = page.units(session, concept)
    assert shown.units.shape[-1] == 3 and shown.segmentation.shape[-1] == 3 and concept in shown.status
    selected = page.select_concept(session, concept)
    painted = mask_from_layers([selected.canvas.paint])  # what "Add stroke" reads from the canvas
    square = mask_to_square(painted, session.photo, engine.resolution)
    assert np.array_equal(square > 0.5, mask > 0.5)
    with pytest.raises(GanpaintError, match="does not know"):
        concept_mask(engine, render, "spaceship")
