"""A kept stroke changed in place, in a real browser (headless Chromium): two strokes kept, the first selected
under the strokes list and its strength changed there; the list, the preview, the render's record and a share
link opened in a fresh context carry the new value, the second stroke and the new-stroke Strength stay as they
were. Needs the system Chromium and the Python Playwright package."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers import BROWSER_MARKS, VIEWPORT, browser_page, canvas_stroke, free_port, make_engine, scene_png

pytestmark = BROWSER_MARKS

TEXT = "document.querySelector('{}')?.innerText"
IMAGES = "Array.from(document.querySelectorAll('#preview img')).map(img => img.complete ? img.src : 'loading').join()"


def keep_stroke(page, n: int, dx0: float, dy0: float, dx1: float, dy1: float) -> None:
    canvas_stroke(page, dx0, dy0, dx1, dy1)
    page.wait_for_function(f"{TEXT.format('#paint-info')}.includes('not added yet')")
    page.click("#add-stroke")
    page.wait_for_function(f"{TEXT.format('#status')}.includes('Stroke {n} added')")


def download(page, selector: str) -> Path:
    with page.expect_download() as d:
        page.click(selector)
    return Path(d.value.path())


def test_a_kept_strokes_strength_is_changed_in_place_and_the_record_and_share_link_carry_it(tmp_path, monkeypatch):
    import app

    monkeypatch.setenv("GANPAINT_SHARE_DIR", str(tmp_path / "shares"))
    photo = tmp_path / "church.png"
    photo.write_bytes(scene_png(9_000_331, (320, 256)))
    demo = app.build_demo(make_engine(), examples=[])
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        with browser_page(url, tmp_path) as page:
            assert not page.is_visible("#stroke-strength")  # no stroke yet: nothing to change in place
            page.set_input_files("#photo input[type=file]", str(photo))
            page.wait_for_function(f"{TEXT.format('#status')}.includes('is ready on')")
            keep_stroke(page, 1, -80, -50, -20, -50)  # top left
            keep_stroke(page, 2, 20, 50, 80, 50)  # bottom right
            strokes = page.inner_text("#strokes")
            assert "1 · add" in strokes and "2 · add" in strokes and strokes.count("strength 0.75") == 2
            assert "Stroke 2 · its strength" in page.inner_text("#stroke-strength")  # the last kept, selected

            page.click("#delete-choice input")  # select stroke 1
            page.locator("[role=option]", has_text="1 · add").click()
            page.wait_for_function(f"{TEXT.format('#stroke-strength')}.includes('Stroke 1 · its strength')")
            before = page.evaluate(IMAGES)
            page.fill("#stroke-strength input[type=number]", "0.3")
            page.press("#stroke-strength input[type=number]", "Tab")  # the number box's release: on leaving it
            page.wait_for_function(f"{TEXT.format('#strokes')}.includes('strength 0.30')")
            strokes = page.inner_text("#strokes")
            assert "1 · add" in strokes.split("strength 0.30")[0] and strokes.count("strength 0.75") == 1  # 2: as was
            assert "Stroke 1 is now" in page.inner_text("#status")
            page.wait_for_function(f"(s => s !== {json.dumps(before)} && !s.includes('loading'))({IMAGES})")
            assert page.input_value("#strength input[type=number]") == "0.75"  # a new stroke: still the default
            assert page.input_value("#stroke-strength input[type=number]") == "0.3"

            page.click("#render")
            page.wait_for_function(f"{TEXT.format('#status')}.includes('Rendered 320×256')")
            rendered = np.asarray(Image.open(download(page, "#download-png")).convert("RGB"))
            page.click("#recipes button")  # open the panel
            record = json.loads(download(page, "#download-json").read_text())
            assert [s["strength"] for s in record["strokes"]] == [0.3, 0.75]
            page.click("#share")
            page.wait_for_function(f"{TEXT.format('#share-link')}.includes('?edit=')")
            link = page.locator("#share-link a").first.get_attribute("href")

            fresh = page.context.browser.new_context(viewport=VIEWPORT).new_page()  # no storage shared with the first
            fresh.set_default_timeout(120_000)
            fresh.goto(link)
            fresh.wait_for_function(f"{TEXT.format('#status')}.includes('Opened the shared edit')")
            strokes = fresh.inner_text("#strokes")
            assert "1 · add" in strokes.split("strength 0.30")[0] and strokes.count("strength 0.75") == 1
            opened = np.asarray(Image.open(download(fresh, "#download-png")).convert("RGB"))
            assert np.array_equal(opened, rendered)
    finally:
        demo.close()
