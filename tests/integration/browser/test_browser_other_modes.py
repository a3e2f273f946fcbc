"""Issue 28's panels in a real browser (headless Chromium), once each on one page: a direction added to one
clicked segment, the photo turned into another, and an image made from paint on nothing. Needs the system
Chromium and Python Playwright."""
from __future__ import annotations

import time

from tests.helpers import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, free_port, make_engine, scene_png

pytestmark = BROWSER_MARKS

STATUS = "document.querySelector('#status').innerText"


def serve() -> str:
    import app
    from ganpaint_core.analysis.directions import find_directions
    from ganpaint_core.edit.caches import EditCaches
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.scratch import ScratchConfig
    from ganpaint_core.edit.segments import SegmentConfig
    from ganpaint_core.page.page import EditPage

    base = make_engine()
    engine = EditEngine(base.model, inversion=base.inversion_cfg, adaptation=base.adapt_cfg,
                        segments=SegmentConfig(joint_steps=4), use_lpips=False, caches=EditCaches(setup_store=None))
    engine.use_directions(find_directions(engine.model, samples=256, components=2))
    page = EditPage(engine)
    page.scratch_cfg = ScratchConfig(steps=12, candidates=2)  # the wiring is under test here, not the quality
    demo = app.build_demo(engine, examples=[], page=page)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return f"http://127.0.0.1:{port}/"


def paint(page) -> None:
    page.locator("#editor").scroll_into_view_if_needed()
    box = page.locator("#editor canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 40, cy - 10)
    page.mouse.down()
    for k in range(1, 17):
        page.mouse.move(cx - 40 + 80 * k / 16, cy - 10 + 20 * k / 16, steps=2)
    page.mouse.up()


def test_one_segment_photo_to_photo_and_from_nothing_in_a_real_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(scene_png(9_500_001, (320, 256)))
    b.write_bytes(scene_png(9_500_002, (256, 256)))
    url = serve()
    t0 = time.perf_counter()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(120_000)
        try:
            page.goto(url)
            page.wait_for_selector("#editor")
            for panel in ("#transform-panel", "#scratch-panel", "#segment-panel"):
                assert page.is_visible(f"{panel} button")  # closed panels, one click away
            page.click("#photo-options button")
            page.click("#invert label:has-text('segments')")
            page.set_input_files("#photo input[type=file]", str(a))
            page.wait_for_function(f"{STATUS}.includes('is ready on')")
            # one segment: shown, clicked, and a direction added to it only
            page.click("#segment-panel button")
            page.click("#show-segments")
            page.wait_for_function(f"{STATUS}.includes(\"The photo's segments\")")
            page.locator("#segment-map img").click()
            page.wait_for_function(f"{STATUS}.includes('chosen')")
            page.click("#directions button")
            page.click("#find-directions")
            page.wait_for_function(f"{STATUS}.includes('directions of')")
            page.click("#direction input")
            page.click("[role=option][aria-label='sky — more sky']")
            page.click("#add-to-segment")
            page.wait_for_function("document.querySelector('#strokes').innerText.includes('segment ')")
            assert "direction sky" in page.inner_text("#strokes")
            # photo to photo
            page.click("#transform-panel button")
            page.set_input_files("#transform-photo input[type=file]", str(b))
            page.click("#transform-button")
            page.wait_for_function(f"{STATUS}.includes(\"frames from your photo's reconstruction\")")
            page.wait_for_selector("#transform img")
            page.wait_for_selector("#transform-strip img")
            # from nothing: a start, paint over it, the image made from the paint
            page.click("#scratch-panel button")
            page.click("#start-nothing")
            page.wait_for_function(f"{STATUS}.includes('Started from nothing')")
            page.wait_for_timeout(1000)  # the editor takes its new background before it is painted on
            paint(page)  # the live preview says the paint arrived (the new photo has no strokes kept)
            page.wait_for_function("document.querySelector('#paint-info').innerText.includes('0 stroke(s) kept')")
            page.click("#make-from-paint")
            page.wait_for_function(f"{STATUS}.includes('Made from nothing')")
            assert "It is now your photo" in page.inner_text("#status")
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print("status:", page.inner_text("#status"), "| screenshot:", tmp_path / "failure.png")
            raise
        finally:
            browser.close()
    print(f"issue 28's panels in the browser: {time.perf_counter() - t0:.1f} s")
