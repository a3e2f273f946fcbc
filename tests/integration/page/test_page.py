"""The page's actions without a browser or gradio: what each click changes and says."""
from __future__ import annotations

import base64
import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.page.api import EDIT_ORPHAN_S, edit_file, edit_steps
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.page import UNCHANGED, Canvas, EditPage, PageUpdate, PaintSettings
from ganpaint_core.page.session import EditSession
from ganpaint_core.page.text import describe_progress
from tests.helpers import box_mask, held_setup, make_engine, scene_png, undissected_model
from tests.helpers import paint_layer as layer

TREE = PaintSettings(concept="tree", action="add", strength=1.0)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    return EditPage(make_engine(), out_dir=tmp_path_factory.mktemp("renders"))


def photo_file(tmp_path, seed, size=(320, 240)):
    path = tmp_path / f"scene-{seed}.png"
    path.write_bytes(scene_png(seed, size))
    return str(path)


def opened(page, session, path):
    items = list(page.open_photo(session, path, name="my church.png"))
    assert all(isinstance(i, JobUpdate) for i in items[:-1]) and isinstance(items[-1], PageUpdate)
    return items[-1]


def test_opening_a_photo_reports_progress_then_a_ready_page(page, tmp_path):
    update = opened(page, EditSession(model=page.default_model), photo_file(tmp_path, 9_000_501))
    assert "**my_church** (320×240) is ready on" in update.status and "dB PSNR" in update.status
    assert isinstance(update.canvas, Canvas) and update.canvas.background.shape[:2] == (300, 400)
    assert update.strokes.labels == () and update.png is None and update.session.state is not None


def test_a_painted_stroke_previews_is_kept_and_renders_with_downloads(page, tmp_path):
    session = opened(page, EditSession(model=page.default_model), photo_file(tmp_path, 9_000_502)).session
    canvas = [layer(box_mask(300, 400, 0.3, 0.7, 0.3, 0.7))]
    preview = page.paint(session, canvas, TREE)
    assert "add **tree** under the paint" in preview.paint_info
    assert not np.array_equal(preview.preview, page.paint(session, [], TREE).preview)  # the paint shows
    added = page.add(preview.session, canvas, TREE)
    assert added.status.startswith("Stroke 1 added: add tree") and added.strokes.labels[0].startswith("1 · add tree")
    assert added.strokes.can_undo and added.canvas.background is not None  # canvas cleared, photo kept
    final = page.render(added.session, [], TREE)
    assert final.status.startswith("Rendered 320×240 with 1 active stroke")
    png = np.asarray(Image.open(final.png))
    assert png.shape == (240, 320, 3)
    record = json.loads(open(final.sidecar).read())
    assert record["strokes"][0]["concept"] == "tree" and record["model"] == page.default_model
    undone = page.undo(added.session)
    assert undone.strokes.labels == ()


def test_the_changed_area_is_outlined_on_request_and_kept_in_the_record(page, tmp_path):
    session = opened(page, EditSession(model=page.default_model), photo_file(tmp_path, 9_000_504)).session
    final = page.render(session, [layer(box_mask(300, 400, 0.3, 0.6, 0.3, 0.6))], TREE)
    png = np.asarray(Image.open(final.png))
    record = json.loads(open(final.sidecar).read())
    changed = np.asarray(Image.open(io.BytesIO(base64.b64decode(record["changed_area_png_base64"])))) > 0
    original = np.asarray(Image.open(photo_file(tmp_path, 9_000_504)).convert("RGB"))
    assert np.array_equal(changed, (png != original).any(-1)) and 0 < record["changed_share"] < 0.5
    plain = page.outline(final.session, False).slider[1]
    assert np.array_equal(plain, png)  # the same render, again from the kept setup
    outlined = page.outline(final.session, True).slider[1]
    line = (outlined != png).any(-1)
    assert line.any() and not (line & changed).any()  # drawn just outside: every changed pixel stays visible
    assert (outlined[line] == (255, 0, 255)).all()
    assert page.outline(EditSession(model=page.default_model), True) == PageUpdate()  # nothing rendered: no change


def test_refusals_become_the_message_line_and_leave_the_session_alone(page, tmp_path):
    empty = EditSession(model=page.default_model)
    assert page.add(empty, [], TREE).status.startswith("**Problem:** no photo yet")
    session = opened(page, empty, photo_file(tmp_path, 9_000_503)).session
    update = page.add(session, [], TREE)
    assert update.status.startswith("**Problem:** the canvas is empty") and update.session is UNCHANGED
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    items = list(page.open_photo(session, str(bad), name="notes.png"))
    assert items[-1].status.startswith("**Problem:**") and "previous photo stays loaded" in items[-1].status
    assert items[-1].session is UNCHANGED
    unknown = page.add(session, [layer(box_mask(300, 400, 0.4, 0.6, 0.4, 0.6))],
                       PaintSettings(concept="banana", action="add", strength=0.5))
    assert "banana" in unknown.status and "tree" in unknown.status  # says which concepts exist
    assert page.delete(session, "7 · nothing").status == "**Problem:** pick a stroke to delete in the list first"


def test_a_missing_model_keeps_the_current_one(page, tmp_path, isolated_env):
    session = EditSession(model=page.default_model)
    items = list(page.switch_model(session, "progan-church"))
    assert items[-1].model == page.default_model and "Staying on" in items[-1].status


@pytest.mark.slow
def test_a_model_without_a_dictionary_is_offered_dissection_and_the_result_is_cached(tmp_path, monkeypatch):
    from ganpaint_core.analysis.dissect import DissectConfig

    undissected_model(tmp_path / "models")
    monkeypatch.setenv("GANPAINT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GANPAINT_CACHE", str(tmp_path / "cache"))
    quick = DissectConfig(samples=40, batch=20, ace_steps=2, ace_batch=4, causal_samples=20)
    page = EditPage(make_engine(), out_dir=tmp_path / "renders", dissect_cfg=quick)
    session = opened(page, EditSession(model=page.default_model), photo_file(tmp_path, 9_000_520)).session

    offer = list(page.switch_model(session, "synth-raw"))[-1]
    assert offer.dissect == "synth-raw" and offer.model == page.default_model
    assert "has no concept dictionary yet" in offer.status and "Dissect synth-raw" in offer.status

    items = list(page.dissect_model(session, "synth-raw"))
    lines = [describe_progress(i) for i in items if isinstance(i, JobUpdate)]
    assert any(line.startswith("Dissecting") for line in lines)  # progress while it dissects
    done = items[-1]
    assert done.model == "synth-raw" and done.dissect is None and "Switched to **synth-raw**" in done.status
    assert set(done.concepts.options) == {"sky", "cloud", "grass", "tree", "brick", "dome", "door"}
    assert done.session.state is not None  # the photo was set up again on the dissected model
    assert list((tmp_path / "cache").rglob("concepts.json"))  # cached: a new app finds it without dissecting
    fresh = EditPage(make_engine(), out_dir=tmp_path / "renders2", dissect_cfg=quick)
    again = list(fresh.switch_model(EditSession(model=fresh.default_model), "synth-raw"))[-1]
    assert again.model == "synth-raw" and again.dissect is None


@pytest.mark.slow
def test_an_edit_nobody_waits_for_stops_its_setup(tmp_path, monkeypatch):
    engine = make_engine()
    calls: list[str] = []
    monkeypatch.setattr(engine, "prepare", held_setup(engine, calls))
    page = EditPage(engine, out_dir=tmp_path / "out")
    mask = tmp_path / "mask.png"
    Image.fromarray((box_mask(200, 300, 0.2, 0.6, 0.2, 0.6) * 255).astype(np.uint8)).save(mask)
    steps = edit_steps(page, photo_file(tmp_path, 9_000_560, (300, 200)), str(mask), concept="tree")
    assert isinstance(next(steps), JobUpdate)  # the setup is under way; then the caller goes silent
    (job,) = page.jobs.running()
    assert job.finished.wait(EDIT_ORPHAN_S + 5), "an abandoned /edit kept its setup running"
    closed = edit_steps(page, photo_file(tmp_path, 9_000_561, (300, 200)), str(mask), concept="tree")
    next(closed)
    t0 = time.monotonic()
    closed.close()  # what gradio does when the client cancels or disconnects
    assert all(j.finished.wait(2) for j in page.jobs.running()) and time.monotonic() - t0 < 2
    assert calls == ["start", "end", "start", "end"]
    out = edit_file(page, photo_file(tmp_path, 9_000_562), str(mask), concept="tree")  # the next one runs as usual
    assert out.suffix == ".png"


def test_the_model_list_calls_an_unreachable_model_missing_as_the_cli_does(tmp_path, isolated_env):
    from tests.helpers import free_port, tiny_generator, write_model_folder

    write_model_folder(isolated_env / "models" / "far", generator=tiny_generator(), write_file=False,
                       sources=[{"url": f"http://127.0.0.1:{free_port()}/generator.safetensors"}])
    labels = [label for label, _ in EditPage(make_engine(), out_dir=tmp_path).model_choices().options]
    assert any(lab.startswith("far ·") and lab.endswith("· missing") for lab in labels), labels


@pytest.mark.parametrize("field,value", [("strength", float("nan")), ("strength", 2.0), ("style_strength", float("nan")),
                                         ("style_strength", -3.0), ("style_strength", float("inf"))])
@pytest.mark.parametrize("action", ["add", "remove"])
def test_every_number_the_page_sends_is_checked(page, tmp_path, field, value, action):
    session = opened(page, EditSession(model=page.default_model), photo_file(tmp_path, 9_000_503)).session
    settings = PaintSettings(**{"concept": "tree", "action": action, "strength": 0.5, field: value})
    canvas = [layer(box_mask(300, 400, 0.3, 0.7, 0.3, 0.7))]
    for act in (page.paint, page.add, page.render):
        update = act(session, canvas, settings)
        assert update.status.startswith("**Problem:**") and "must be a number in [0, 1]" in update.status
        assert update.preview is UNCHANGED and update.png is UNCHANGED
