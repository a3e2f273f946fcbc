"""Shared edits without a browser: a link's edit opens on another page (another engine, as after a restart)
with the same output pixels; bad, unknown and other models' ids are refused in plain words; a recipe without
its photo applies to the open one."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.page.page import EditPage, PaintSettings
from ganpaint_core.page.session import EditSession
from tests.helpers import box_mask, make_engine, scene_png
from tests.helpers import last_update as last
from tests.helpers import paint_layer as layer

TREE = PaintSettings(concept="tree", action="add", strength=1.0)




@pytest.fixture
def shared(tmp_path, monkeypatch, one_thread):
    """A page with a rendered two-stroke edit, shared; (page, session, update, rendered pixels)."""
    monkeypatch.setenv("GANPAINT_SHARE_DIR", str(tmp_path / "shares"))
    page = EditPage(make_engine(), out_dir=tmp_path / "renders")
    path = tmp_path / "church.png"
    path.write_bytes(scene_png(9_200_001, (320, 240)))
    session = last(page.open_photo(EditSession(model=page.default_model), str(path), name="church.png")).session
    session = page.add(session, [layer(box_mask(300, 400, 0.3, 0.7, 0.3, 0.7))], TREE).session
    session = page.add(session, [layer(box_mask(300, 400, 0.1, 0.3, 0.6, 0.9))],
                       PaintSettings(concept="grass", action="remove", strength=0.6)).session
    rendered = page.render(session, [], TREE)
    update = page.share(rendered.session, "http://127.0.0.1:7860/")
    return page, rendered.session, update, np.asarray(Image.open(rendered.png))


@pytest.mark.slow  # a photo set up and rendered on two or three pages
def test_a_share_link_opens_on_another_page_with_the_same_pixels(shared, tmp_path):
    page, session, update, pixels = shared
    assert "http://127.0.0.1:7860/?edit=" in update.share
    share_id = update.share.split("?edit=")[1].split(")")[0].split("]")[0]
    assert len(share_id) == 64 and update.bundle.endswith(".json")
    restarted = EditPage(make_engine(), out_dir=tmp_path / "renders2")  # a new process: nothing in memory
    opened = last(restarted.open_shared(EditSession(model=restarted.default_model), share_id))
    assert opened.status.startswith("Opened the shared edit: **church**"), opened.status
    assert "setup was reused" in opened.status  # the disk setup cache
    assert np.array_equal(np.asarray(Image.open(opened.png)), pixels)
    assert len(opened.session.strokes) == 2 and opened.strokes.labels[1].startswith("2 · remove grass")
    # the download is the same edit: open it as a recipe (with its photo) on a third page
    third = EditPage(make_engine(), out_dir=tmp_path / "renders3")
    again = last(third.open_recipe(EditSession(model=third.default_model), update.bundle))
    assert np.array_equal(np.asarray(Image.open(again.png)), pixels)


@pytest.mark.slow  # a photo set up and rendered on two or three pages
def test_a_recipe_without_its_photo_applies_its_strokes_to_the_open_photo(shared, tmp_path):
    page, session, update, pixels = shared
    bundle = json.loads(open(update.bundle).read())
    del bundle["photo_png_base64"]
    (tmp_path / "bare.json").write_text(json.dumps(bundle))
    without_photo = last(page.open_recipe(EditSession(model=page.default_model), str(tmp_path / "bare.json")))
    assert "upload the photo first" in without_photo.status
    on_photo = last(page.open_recipe(session, str(tmp_path / "bare.json")))
    assert np.array_equal(np.asarray(Image.open(on_photo.png)), pixels)


@pytest.mark.slow  # a photo set up and rendered on two or three pages
def test_bad_unknown_and_other_models_ids_say_so(shared):
    page, session, update, _ = shared
    fresh = EditSession(model=page.default_model)
    for share_id, words in (("../../etc/passwd", "is not a share id"), ("ab" * 32, "no shared edit abababababab"),
                            ("", None)):
        items = list(page.open_shared(fresh, share_id))
        if words is None:
            assert items == []  # a page opened without ?edit= is left alone
        else:
            assert words in items[-1].status and items[-1].session is not None
    bundle = json.loads(open(update.bundle).read())
    store = page.shares
    other = store.put(bundle | {"model": "progan-church-xl"})
    assert "made with the model progan-church-xl, which this server cannot load" in last(
        page.open_shared(fresh, other)).status
    tampered = store.put(bundle | {"weights_sha256": {"generator": "0" * 64}})
    assert "made with other weights of" in last(page.open_shared(fresh, tampered)).status
