"""A photo is editable on its quick fit at once, and the preview switches to the full fit by itself (issue
25), in a real browser (headless Chromium through Playwright).

The full fit is held until the test lets it go (its engine's ``prepare`` waits on an event, reporting
progress so that Cancel could still stop it): the quick-fit window is as long as the test needs, whatever
the machine's load, and no assertion depends on a sleep.
"""
from __future__ import annotations

import json
import threading

import pytest

from tests.helpers import BROWSER_MARKS, make_engine, scene_png
from tests.integration.browser.test_browser import browser_page, paint, serve

pytestmark = BROWSER_MARKS

SHOWN = ("Array.from(document.querySelectorAll('#preview img'))"
         ".map(img => img.complete ? img.src : 'loading').join(' ')")


@pytest.fixture(scope="module")
def held():
    """The app over an engine whose full fit waits for ``gate``; yields (url, gate)."""
    engine = make_engine()
    gate = threading.Event()
    real = engine.prepare

    def prepare(photo, *, callback=None, **kwargs):
        while callback is not None and not gate.wait(0.05):
            callback(0, 0, {"stage": "invert"})  # progress: the page's timer sees it; Cancel would stop it
        return real(photo, callback=callback, **kwargs)

    engine.prepare = prepare
    for url in serve(engine, examples=[]):
        yield url, gate


def test_a_stroke_previews_on_the_quick_fit_then_the_preview_takes_the_full_fit_by_itself(held, tmp_path):
    url, gate = held
    photo = tmp_path / "church.png"
    photo.write_bytes(scene_png(9_000_377, (320, 256)))  # a photo no other test sets up (a stored setup is reused)
    with browser_page(url, tmp_path, photo) as page:  # uploaded; the status says it is ready
        assert "on a quick fit" in page.inner_text("#status")
        page.wait_for_function("document.querySelector('#fit-note').innerText.includes('full fit in the "
                               "background')")
        paint(page, -50, -10, 50, 10)
        page.wait_for_function("document.querySelector('#paint-info').innerText.startsWith('Preview: add')",
                               timeout=120_000)
        page.wait_for_function(f"!({SHOWN}).includes('loading')")
        quick_preview = page.evaluate(SHOWN)
        assert not gate.is_set() and "Quick fit" in page.inner_text("#fit-note")  # previewed before the full fit
        gate.set()  # the full fit may end now; nothing is clicked from here on
        page.wait_for_function("document.querySelector('#fit-note').innerText.startsWith('Full fit')",
                               timeout=120_000)
        page.wait_for_function(f"(s => s !== {json.dumps(quick_preview)} && !s.includes('loading'))({SHOWN})",
                               timeout=60_000)
        assert "the full fit is ready" in page.inner_text("#paint-info")  # the paint re-previewed on it
