"""One edit path: for the same photo, mask, concept, action, strength and style, the page, the ``/edit``
endpoint (through gradio_client) and the CLI give bit-identical images.

Every concept of the bundled model (the template-drawn dome, door and brick too), add and remove, with no
style, a generated sample's style and a reference image's style at style strengths 0, 0.5 and 1. All three
use the product's default setup (one per path: the page and ``/edit`` share the app's engine, the CLI applies
every combination as a recipe of one run), so the figures are the ones a user gets.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

import app
from ganpaint_core.cli import main as cli
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.hub.loading import load_model
from ganpaint_core.hub.manifest import load_manifest
from ganpaint_core.page.page import EditPage, PaintSettings
from ganpaint_core.page.session import EditSession
from tests.helpers import BUNDLED, box_mask, free_port, scene_png

SAMPLE_SEED = 1_000_003
STYLE_STRENGTHS = (0.0, 0.5, 1.0)
STYLES = [("none", None)] + [("sample", s) for s in STYLE_STRENGTHS] + [("reference", s) for s in STYLE_STRENGTHS]


def combinations(concepts: list[str]) -> list[tuple[str, str, str, float | None]]:
    return [(c, a, kind, s) for c in concepts for a in ("add", "remove") for kind, s in STYLES]


def page_image(page: EditPage, session: EditSession, layers: list[np.ndarray], combo) -> np.ndarray:
    concept, action, kind, s = combo
    style_kind = {"none": "Default look", "sample": "Generated sample", "reference": "My reference"}[kind]
    settings = PaintSettings(concept=concept, action=action, strength=0.8, style_kind=style_kind,
                             style_strength=0.75 if s is None else s, style_seed=SAMPLE_SEED if kind == "sample" else None)
    update = page.render(session, layers, settings)
    assert update.png, update.status
    return np.asarray(Image.open(update.png))


def api_image(client: Client, files: dict[str, Path], combo) -> np.ndarray:
    concept, action, kind, s = combo
    out = client.predict(handle_file(str(files["photo"])), handle_file(str(files["mask"])), concept, action, 0.8,
                         handle_file(str(files["reference"])) if kind == "reference" else None,
                         0.75 if s is None else s, SAMPLE_SEED if kind == "sample" else None, api_name="/edit")
    return np.asarray(Image.open(out))


def cli_recipe(combo, files: dict[str, Path]) -> dict:
    concept, action, kind, s = combo
    stroke = {"mask": str(files["mask"]), "concept": concept, "action": action, "strength": 0.8}
    if kind == "sample":
        stroke["style"] = {"kind": "sample", "seed": SAMPLE_SEED, "strength": s}
    elif kind == "reference":
        stroke["style"] = {"kind": "reference", "path": str(files["reference"]), "strength": s}
    return {"strokes": [stroke]}


@pytest.mark.slow
def test_the_page_the_api_and_the_cli_give_identical_images(tmp_path):
    torch.set_num_threads(2)
    engine = EditEngine(load_model(load_manifest(BUNDLED, bundled=True), device="cpu"))
    concepts = engine.concepts.names()
    combos = combinations(concepts)
    assert {"dome", "door", "brick"} <= set(concepts) and len(combos) == len(concepts) * 2 * 7
    files = {"photo": tmp_path / "photo.png", "mask": tmp_path / "mask.png", "reference": tmp_path / "ref.png"}
    files["photo"].write_bytes(scene_png(9_000_311, (400, 400)))  # the canvas shows a 400-px photo as it is
    files["reference"].write_bytes(scene_png(9_000_312))
    mask = box_mask(400, 400, 0.30, 0.62, 0.25, 0.70)
    Image.fromarray((mask * 255).astype(np.uint8), "L").save(files["mask"])
    layer = np.zeros((400, 400, 4), np.uint8)
    layer[mask > 0] = (255, 61, 165, 140)  # the page's brush: its alpha is what counts

    # The page: one setup, one reference, then a render per combination.
    page = EditPage(engine, out_dir=tmp_path / "page")
    session = [u for u in page.open_photo(EditSession(model=page.default_model), str(files["photo"]),
                                          name="photo.png")][-1].session
    session = page.reference(session, str(files["reference"]), name="ref.png").session
    from_page = [page_image(page, session, [layer], c) for c in combos]

    # /edit through gradio_client, on a served app over the same engine.
    demo = app.build_demo(engine, examples=[], page=page)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        from_api = [api_image(client, files, c) for c in combos]
    finally:
        demo.close()

    # The CLI: every combination as a recipe of one run (one setup of the photo).
    recipes = []
    for i, combo in enumerate(combos):
        recipes += ["--recipe", str(tmp_path / f"r{i:03d}.json")]
        Path(recipes[-1]).write_text(json.dumps(cli_recipe(combo, files)))
    assert cli.main(["edit", "--image", str(files["photo"]), *recipes, "--out", str(tmp_path / "cli")]) == 0
    from_cli = [np.asarray(Image.open(tmp_path / "cli" / f"photo-r{i:03d}.png")) for i in range(len(combos))]

    for combo, a, b, c in zip(combos, from_page, from_api, from_cli):
        assert a.shape == (400, 400, 3)
        assert np.array_equal(a, b), f"page and /edit differ for {combo}"
        assert np.array_equal(a, c), f"page and CLI differ for {combo}"
    # The combinations are not all the same image: style and strength reach the pixels.
    by_combo = dict(zip(combos, from_page))
    for concept in concepts:
        plain = by_combo[(concept, "add", "none", None)]
        assert not np.array_equal(plain, by_combo[(concept, "remove", "none", None)])
        assert np.array_equal(plain, by_combo[(concept, "add", "sample", 0.0)])  # strength 0: the default look
    assert any(not np.array_equal(by_combo[(c, "add", "sample", 1.0)], by_combo[(c, "add", "reference", 1.0)])
               for c in concepts)
