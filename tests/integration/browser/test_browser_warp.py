"""The warp brush in a real browser (headless Chromium): in the brushes panel, paint what moves, pick the red
swatch and put a dot where it goes, find candidates (captioned with their handle distance and change), pick
one, render: the photo changes around the drag and stays exact far from it."""
from __future__ import annotations

import numpy as np
from PIL import Image

from tests.helpers import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, canvas_stroke, free_port, make_engine, scene_png

pytestmark = BROWSER_MARKS


def test_warp_brush_drag_candidates_and_render_in_a_real_browser(tmp_path):
    import app
    from playwright.sync_api import sync_playwright

    photo = tmp_path / "church.png"
    photo.write_bytes(scene_png(9_000_312, (320, 256)))
    original = np.asarray(Image.open(photo).convert("RGB")).astype(int)
    demo = app.build_demo(make_engine(), examples=[])
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(120_000)
            try:
                page.goto(f"http://127.0.0.1:{port}/")
                page.set_input_files("#photo input[type=file]", str(photo))
                page.wait_for_function("document.querySelector('#status').innerText.includes('is ready on')")
                page.click("#brushes button")
                page.click("#brush-mode label:has-text('Warp brush')")
                page.wait_for_selector("#candidate-count", state="visible")
                page.locator("#editor").scroll_into_view_if_needed()
                canvas_stroke(page, -40, 70, -28, 70, moves=12)  # what moves: short, cyan, low left
                page.click("#editor button[aria-label='Color']")
                page.click("#editor button.color[style*='255, 32, 32']")
                page.click("#editor button[aria-label='Brush']")  # the palette closes
                canvas_stroke(page, 20, 70, 22, 70, moves=12)  # a red dot to its right
                page.wait_for_function("document.querySelector('#paint-info').innerText.includes('Find candidates')")
                page.click("#find-candidates")
                page.wait_for_function("document.querySelector('#status').innerText.includes('candidates in')")
                page.wait_for_function("document.querySelectorAll('#candidates img').length === 4")
                assert "px off" in page.inner_text("#candidates")
                page.locator("#candidates img").nth(1).click()
                page.wait_for_function("document.querySelector('#paint-info').innerText.includes('candidate 2 at morph')")
                page.click("#render")
                page.wait_for_function("document.querySelector('#status').innerText.includes('Rendered 320×256')")
                assert "1 · warp (" in page.inner_text("#strokes")
                with page.expect_download() as download:
                    page.click("#download-png")
                result = np.asarray(Image.open(download.value.path()).convert("RGB")).astype(int)
            except Exception:
                page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
                print("status:", page.inner_text("#status"), "| screenshot:", tmp_path / "failure.png")
                raise
            finally:
                browser.close()
    finally:
        demo.close()
    assert result.shape == original.shape
    assert np.abs(result[150:215, 110:210] - original[150:215, 110:210]).mean() > 1  # around the drag
    assert np.array_equal(result[:40, 40:90], original[:40, 40:90])  # the square's far corner: exact
