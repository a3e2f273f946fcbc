"""The page on a photo's quick fit: editable at once, the full fit in the background (its progress under
the preview), the preview switched to it by the page's timer, a render that waits for it, Cancel that stops
it. Without gradio (the browser's view of the same: tests/integration/browser/test_browser_fit.py)."""
from __future__ import annotations

import json
import threading

import pytest

from ganpaint_core.page.page import EditPage, PaintSettings
from ganpaint_core.page.session import EditSession
from tests.helpers import box_mask, last_update, make_engine, paint_layer, scene_png, wait_for

TREE = PaintSettings(concept="tree", action="add", strength=0.8)


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    """A page whose engine's full fit waits for ``gate`` (reporting progress, so that it can be stopped)."""
    engine = make_engine()
    gate = threading.Event()
    real = engine.prepare

    def prepare(photo, *, callback=None, **kwargs):
        while callback is not None and not gate.wait(0.02):
            callback(0, 0, {"stage": "invert"})
        return real(photo, callback=callback, **kwargs)

    engine.prepare = prepare
    folder = tmp_path_factory.mktemp("fit")
    return EditPage(engine, out_dir=folder / "out"), gate, folder


def open_photo(page: EditPage, folder, seed: int):
    path = folder / f"{seed}.png"
    path.write_bytes(scene_png(seed, (320, 240)))
    return last_update(page.open_photo(EditSession(model=page.default_model), str(path), name=path.name))


def test_the_preview_takes_the_full_fit_and_a_render_waits_for_it(held):
    page, gate, folder = held
    gate.clear()
    opened = open_photo(page, folder, 9_000_611)
    session = opened.session
    assert session.state.fit == "quick" and opened.fit_poll is True and "Quick fit" in opened.fit_note
    layers = [paint_layer(box_mask(240, 320, 0.3, 0.6, 0.3, 0.6))]
    assert page.paint(session, layers, TREE).preview is not None  # strokes preview on the quick fit
    ticking = page.poll_fit(session, layers, TREE)
    assert ticking.fit_poll is True and "full fit in the background" in ticking.fit_note
    assert "preview" not in ticking.changed() and "session" not in ticking.changed()
    gate.set()
    done = wait_for(lambda: (u := page.poll_fit(session, layers, TREE)).fit_poll is False and u, timeout=60,
                    message="the full fit never ended")
    assert done.fit_note.startswith("Full fit") and done.preview is not None
    rendered = page.render(session, layers, TREE)  # the tab's session still holds the quick fit: upgraded
    assert rendered.session.state.fit == "full" and rendered.fit_note.startswith("Full fit")
    assert json.loads(open(rendered.sidecar).read())["setup_fit"] == "full"


def test_cancel_stops_the_full_fit_and_the_photo_stays_on_its_quick_fit(held):
    page, gate, folder = held
    gate.clear()
    session = open_photo(page, folder, 9_000_612).session
    (fit,) = wait_for(page.jobs.running, timeout=30, message="the full fit never started")
    assert "stays on its quick fit" in page.cancel(session)
    assert fit.finished.wait(10), "the full fit kept running after Cancel"
    assert page.poll_fit(session, [], TREE).fit_poll is False
    gate.set()
    rendered = page.render(session, [paint_layer(box_mask(240, 320, 0.3, 0.6, 0.3, 0.6))], TREE)
    assert rendered.session.state.fit == "full"  # a render after Cancel sets the full fit up first
