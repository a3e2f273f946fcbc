"""The page as a newcomer meets it (issue 27): a new stroke starts from the stated defaults, a share link fills
the photo box without setting the photo up again, and a busy port or a missing model is one line at start."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import gradio
import numpy as np
import pytest
from PIL import Image

from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.page import EditPage, PageUpdate, PaintSettings
from ganpaint_core.page.session import EditSession
from ganpaint_core.page.values import STROKE_DEFAULTS
from tests.helpers import REPO, box_mask, dilate, make_engine, scene_png
from tests.helpers import last_update as last
from tests.helpers import paint_layer as layer


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    return EditPage(make_engine(), out_dir=tmp_path_factory.mktemp("renders"))


@pytest.fixture(scope="module")
def opened(page, tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "church.png"
    path.write_bytes(scene_png(9_400_001, (320, 240)))
    return last(page.open_photo(EditSession(model=page.default_model), str(path), name="church.png")).session


def test_a_stroke_added_after_another_strokes_strength_was_changed_gets_the_default(page, opened):
    import app

    with gradio.Blocks():
        c = app._layout(page, [])
    assert f"each new stroke starts at {STROKE_DEFAULTS['strength']}" in c.strength.info  # the rule, stated
    first = page.add(opened, [layer(box_mask(300, 400, 0.3, 0.7, 0.3, 0.7))],
                     PaintSettings(concept="tree", action="add", strength=0.3))
    shown = c.show(first)
    assert shown[c.strength] == STROKE_DEFAULTS["strength"] != 0.3  # the slider moved for stroke 1 goes back
    assert shown[c.style_strength] == STROKE_DEFAULTS["style_strength"]
    # the next stroke is made from what the controls now show: the default, not stroke 1's 0.3
    second = page.add(first.session, [layer(box_mask(300, 400, 0.1, 0.3, 0.6, 0.9))],
                      PaintSettings(concept="grass", action="remove", strength=shown[c.strength]))
    labels = second.strokes.labels
    assert "strength 0.30" in labels[0] and f"strength {STROKE_DEFAULTS['strength']:.2f}" in labels[1]  # each its own
    rendered = page.render(second.session, [layer(box_mask(300, 400, 0.6, 0.8, 0.1, 0.3))],
                           PaintSettings(concept="tree", action="add", strength=0.9))
    assert rendered.stroke_controls == STROKE_DEFAULTS  # Render keeps a painted stroke: the same rule
    assert page.render(rendered.session, [], PaintSettings(concept="tree", action="add", strength=0.9)) \
        .stroke_controls is not STROKE_DEFAULTS  # nothing kept: the controls stay as they are


def test_a_kept_strokes_strength_changes_in_place_and_the_render_record_and_share_link_follow(page, opened, tmp_path,
                                                                                             monkeypatch):
    """Select stroke 1, change its strength: stroke 2 stays as it was, the render changes only around stroke 1,
    the selected-stroke slider shows stroke 1's new value under its name, and the record, a share link and undo
    carry it; the control for new strokes still says (and gives) the default."""
    import json

    import app
    from ganpaint_core.page.session import render

    monkeypatch.setenv("GANPAINT_SHARE_DIR", str(tmp_path / "shares"))
    monkeypatch.setattr(page, "_shares", None)  # the module's page opens its store here, and forgets it after
    with gradio.Blocks():
        c = app._layout(page, [])
    near, far = box_mask(300, 400, 0.1, 0.35, 0.2, 0.4), box_mask(300, 400, 0.65, 0.9, 0.6, 0.8)
    one = page.add(opened, [layer(near)], PaintSettings(concept="tree", action="add", strength=0.8))
    two = page.add(one.session, [layer(far)], PaintSettings(concept="grass", action="add", strength=0.6))
    shown = c.show(two)
    assert shown[c.stroke_strength]["label"] == "Stroke 2 · its strength" and shown[c.stroke_strength]["value"] == 0.6
    assert shown[c.stroke_style_strength]["visible"] is False  # the default look: no look's strength to change
    first = two.strokes.labels[0]
    picked = c.show(page.select_stroke(two.session, first))
    assert picked[c.delete_choice]["value"] == first and picked[c.stroke_strength]["value"] == 0.8
    assert picked[c.stroke_strength]["label"] == "Stroke 1 · its strength"

    tuned = page.tune(two.session, first, 0.3, 0.75)
    before, after = two.session.strokes, tuned.session.strokes
    assert after[0].strength == 0.3 and after[1] is before[1]  # stroke 2 untouched
    assert tuned.strokes.selected == 0 and tuned.strokes.labels[0].startswith("1 · add tree · strength 0.30")
    assert c.show(tuned)[c.stroke_strength]["value"] == 0.3 and "Stroke 1 is now add tree" in tuned.status
    assert tuned.preview is not None and not np.array_equal(tuned.preview, two.preview)
    engine = page.engine(opened)
    old, new = (render(engine, s, final=True).result.final.astype(int) for s in (two.session, tuned.session))
    changed = (old != new).any(-1)  # [240, 320]: the photo's own pixels
    stroke1 = box_mask(240, 320, 0.1, 0.35, 0.2, 0.4) > 0
    stroke2 = box_mask(240, 320, 0.65, 0.9, 0.6, 0.8) > 0
    assert changed[stroke1].mean() > 0.2 and not changed[stroke2].any()
    assert not changed[~dilate(stroke1, 16)].any(), "the change reaches beyond stroke 1 and its seam"

    rendered = page.render(tuned.session, [], PaintSettings(concept="tree", action="add", strength=0.75))
    record = json.loads(open(rendered.sidecar).read())
    assert [s["strength"] for s in record["strokes"]] == [0.3, 0.6]
    share_id = page.share(rendered.session, "http://127.0.0.1:7860/").share.split("?edit=")[1][:64]
    other = EditPage(make_engine(), out_dir=tmp_path / "other")
    opened_link = last(other.open_shared(EditSession(model=other.default_model), share_id))
    assert [s.strength for s in opened_link.session.strokes] == [0.3, 0.6]
    assert np.array_equal(np.asarray(Image.open(opened_link.png).convert("RGB")),
                          np.asarray(Image.open(rendered.png).convert("RGB")))  # the same pixels
    assert [s.strength for s in page.undo(tuned.session).session.strokes] == [0.8, 0.6]  # undo brings 0.8 back
    off = page.toggle(tuned.session, [tuned.strokes.labels[0]], tuned.strokes.labels[0])  # stroke 2 switched off
    assert off.strokes.selected == 0 and not off.session.strokes[1].enabled  # stroke 1 stays the selected one
    assert page.tune(two.session, "no such stroke", 0.3, 0.75).status.startswith("**Problem:** pick a stroke")
    assert f"each new stroke starts at {STROKE_DEFAULTS['strength']}" in c.strength.info  # stated on the control
    assert "stroke_controls" not in tuned.changed()  # changing a kept stroke leaves the new-stroke controls alone

    # a stroke with a generated sample's look: its look's strength shows under its name and changes in place too
    styled = page.add(two.session, [layer(box_mask(300, 400, 0.65, 0.9, 0.2, 0.4))],
                      PaintSettings(concept="tree", action="add", strength=0.75, style_kind="Generated sample",
                                    style_seed=1_000_003, style_strength=0.6))
    look = c.show(styled)[c.stroke_style_strength]
    assert look["visible"] is True and look["value"] == 0.6 and look["label"] == "Stroke 3 · its look's strength"
    looked = page.tune(styled.session, styled.strokes.labels[2], 0.75, 0.2).session.strokes
    assert (looked[2].style.strength, looked[2].strength, looked[2].style.seed) == (0.2, 0.75, 1_000_003)
    assert all(a is b for a, b in zip(looked[:2], styled.session.strokes))  # strokes 1 and 2: the same as before


def test_a_share_link_fills_the_photo_box_and_opening_that_photo_again_changes_nothing(page, opened, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setenv("GANPAINT_SHARE_DIR", str(tmp_path / "shares"))
    session = page.add(opened, [layer(box_mask(300, 400, 0.3, 0.7, 0.3, 0.7))],
                       PaintSettings(concept="tree", action="add", strength=0.8)).session
    rendered = page.render(session, [], PaintSettings(concept="tree", action="add", strength=0.8))
    share_id = page.share(rendered.session, "http://127.0.0.1:7860/").share.split("?edit=")[1][:64]
    other = EditPage(make_engine(), out_dir=tmp_path / "other")
    shown = last(other.open_shared(EditSession(model=other.default_model), share_id))
    assert shown.photo is not None and shown.fit == "crop"  # the photo box shows the photo, not "Drop Image Here"
    assert np.array_equal(np.asarray(Image.open(shown.photo).convert("RGB")), opened.photo.original)
    assert len(shown.strokes.labels) == 1 and shown.strokes.labels[0].startswith("1 · add tree · strength 0.80")
    # the photo box's change event brings the same photo back: the edit stays (no new setup, strokes kept)
    assert list(other.open_photo(shown.session, shown.photo, name="church.png", fit="crop")) == []
    assert last(other.open_photo(shown.session, shown.photo, name="church.png", fit="pad")).session.strokes == ()


def _start(*args: str, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, str(REPO / "app.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, check=False)
    return done, time.monotonic() - t0


def test_a_busy_port_is_one_line_and_exit_2_before_anything_loads():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done, seconds = _start("--port", str(busy.getsockname()[1]), timeout=60)
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, lines
    assert "is in use" in lines[0] and "--port" in lines[0]
    assert seconds < 5, f"{seconds:.1f} s: the port must be checked before gradio and the model load"


@pytest.mark.slow  # imports gradio and torch in a fresh process
def test_an_unknown_model_is_one_line_and_exit_2(isolated_env):
    from tests.helpers import free_port

    done, _ = _start("--model", "no-such-model", "--port", str(free_port()), timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in out, out[-2000:]
    error = [ln for ln in out.splitlines() if "cannot start" in ln]
    assert len(error) == 1 and "unknown model 'no-such-model'" in error[0] and "Add one as" in error[0], out


def test_a_slow_first_step_is_named_at_once_and_the_progress_moves_every_second():
    """A job whose work reports nothing for 2.5 s (a slowed fake step: a model loading, say): its first poll
    already names the work, and the progress line changes at least every second while it waits."""
    from ganpaint_core.page.jobs import run_job
    from ganpaint_core.page.text import progress_line

    def slow(callback):
        time.sleep(2.5)  # the slowed step: nothing reported meanwhile
        callback(1, 2, {"stage": "invert"})
        return "done"

    seen: list[tuple[float, str]] = []
    t0 = time.monotonic()
    for update in run_job(slow, poll_s=0.1, first={"stage": "load"}):
        if not update.done:
            seen.append((time.monotonic() - t0, progress_line(update)))
    assert seen and seen[0][0] < 1 and "Loading the model" in seen[0][1] and "Starting" not in seen[0][1]
    changes = [t for (t, line), (_, before) in zip(seen[1:], seen) if line != before]
    gaps = np.diff([0.0, *changes, seen[-1][0]])
    assert gaps.max() <= 2, f"the progress line sat unchanged for {gaps.max():.1f} s"


def test_report_shows_each_photos_stage_and_steps_as_it_runs(tmp_path):
    """``report``'s callback hears a photo start at once (stage "photo"), then that photo's setup stages."""
    import json

    from ganpaint_core.edit.recipe import load_recipe
    from ganpaint_core.review.report import write_report

    images = tmp_path / "photos"
    images.mkdir()
    (images / "a.png").write_bytes(scene_png(9_400_011, (96, 80)))
    recipe = tmp_path / "recipe.json"
    mask = tmp_path / "mask.png"
    Image.fromarray((box_mask(80, 96, 0.3, 0.7, 0.3, 0.7) * 255).astype(np.uint8)).save(mask)
    recipe.write_text(json.dumps({"strokes": [{"mask": str(mask), "concept": "tree", "action": "add"}]}))
    heard: list[dict] = []
    write_report({"synth-church": make_engine()}, images, load_recipe(recipe), tmp_path / "out",
                 callback=lambda step, total, info: heard.append(dict(info, step=step, total=total)))
    assert heard[0] == {"stage": "photo", "photo": "a.png", "model": "synth-church", "step": 0, "total": 1}
    stages = {h["stage"] for h in heard[1:]}
    assert {"invert", "adapt"} <= stages and all(h["photo"] == "a.png" for h in heard)


def test_a_concept_typed_by_name_is_measured_as_a_job_then_offered_or_refused_in_one_sentence(tmp_path,
                                                                                             monkeypatch):
    page = EditPage(make_engine(), out_dir=tmp_path)
    session = EditSession(model=page.default_model)
    shipped = page.engine(session).concepts.names()
    known = last(page.add_concepts(session, " Dome "))  # the dictionary has it: nothing to measure
    assert known.concepts.value == "dome" and known.concepts.options == tuple(shipped)
    assert "can be painted" in known.status
    monkeypatch.setenv("GANPAINT_OFFLINE", "1")  # statue: only a text segmenter knows it, and none is here
    items = list(page.add_concepts(session, "statue"))
    assert all(isinstance(i, JobUpdate) for i in items[:-1]) and isinstance(items[-1], PageUpdate)
    refused = items[-1]
    assert refused.status.startswith("**Problem:**") and "statue" in refused.status and "\n" not in refused.status
    assert refused.changed().keys() == {"status"}  # the concept list stays as it was
    assert page.engine(session).concepts.names() == shipped
    assert last(page.add_concepts(session, " , ")).status.startswith("**Problem:** no concept named")


@pytest.mark.slow  # over 5 s: the full suite runs it, the fast lane does not
def test_a_directions_extent_is_outlined_and_said_before_it_is_kept(page, opened):
    import re

    from ganpaint_core.analysis.directions import find_directions
    from ganpaint_core.page.values import DirectionSettings

    engine = page.engine(opened)
    engine.use_directions(find_directions(engine.model, samples=256, components=2))  # few samples: seconds
    page.directions_found.add(page.default_model)
    shown = page.direction_preview(opened, [], DirectionSettings(name="sky", amount=1.5))
    share = re.search(r"changes \*\*(\d+)% of the photo\*\* \(outlined\)", shown.paint_info)
    assert share and 0 < int(share.group(1)) <= 100, shown.paint_info
    assert (shown.preview == (255, 0, 255)).all(-1).any()  # the outline around what it changes
    assert "session" in shown.changed() and "strokes" not in shown.changed()  # previewed, not kept


def test_the_settings_panel_says_the_hosts_choice_and_the_background_preparation(tmp_path):
    import app
    from ganpaint_core.page.preparation import Preparation
    from ganpaint_core.page.start import StartChoice

    engine = make_engine()
    prep = Preparation("stylegan2-church", serving=engine.model.manifest.name, blocked="no GPU here")
    page = EditPage(engine, out_dir=tmp_path, start=StartChoice("stylegan2-church", "GANPAINT_MODEL=stylegan2-church"),
                    preparation=prep)
    with gradio.Blocks():
        c = app._layout(page, [])
    assert c.model.info.startswith("this host starts on stylegan2-church (GANPAINT_MODEL=")  # the host's reason
    assert "stylegan2-church is not ready: no GPU here" in c.preparation.value
    assert c.status.value.startswith("Upload a photo to start") and "not ready: no GPU here" in c.status.value
