"""A share link in real browsers (headless Chromium): one context uploads, paints, renders and shares; the
app is restarted (a new engine and page over the same share folder, nothing in memory); a second, fresh
browser context opens the link and downloads the same PNG, pixel for pixel. Also times opening the link
(printed: the figure the README quotes). Needs the system Chromium and Python Playwright."""
from __future__ import annotations

import time

import numpy as np
from PIL import Image

from tests.helpers import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, free_port, make_engine, scene_png

pytestmark = BROWSER_MARKS




def serve() -> tuple[object, str]:
    import app

    demo = app.build_demo(make_engine(), examples=[])
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/"


def download(page, selector: str) -> np.ndarray:
    with page.expect_download() as d:
        page.click(selector)
    return np.asarray(Image.open(d.value.path()).convert("RGB"))


def test_a_share_link_gives_the_same_pixels_in_a_fresh_context_after_a_restart(tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("GANPAINT_SHARE_DIR", str(tmp_path / "shares"))
    photo = tmp_path / "church.png"
    photo.write_bytes(scene_png(9_300_001, (320, 256)))
    demo, url = serve()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            first = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            first.set_default_timeout(120_000)
            first.goto(url)
            first.set_input_files("#photo input[type=file]", str(photo))
            first.wait_for_function("document.querySelector('#status')?.innerText.includes('is ready on')")
            box = first.locator("#editor canvas").first.bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            first.mouse.move(cx - 50, cy)
            first.mouse.down()
            for k in range(1, 25):
                first.mouse.move(cx - 50 + 100 * k / 24, cy + 10 * k / 24, steps=2)
            first.mouse.up()
            first.click("#render")
            first.wait_for_function("document.querySelector('#status')?.innerText.includes('Rendered 320×256')")
            rendered = download(first, "#download-png")
            first.click("#share")
            first.wait_for_function("document.querySelector('#share-link')?.innerText.includes('?edit=')")
            link = first.locator("#share-link a").first.get_attribute("href")
            assert link.startswith(url.rstrip("/")) and len(link.split("?edit=")[1]) == 64

            demo.close()  # restart: a new engine and page, the same share folder
            demo, url2 = serve()
            link2 = url2.rstrip("/") + "/?edit=" + link.split("?edit=")[1]
            second = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # no shared storage
            second.set_default_timeout(120_000)
            t0 = time.perf_counter()
            second.goto(link2)
            second.wait_for_function("document.querySelector('#status')?.innerText.includes('Opened the shared edit')")
            seconds = time.perf_counter() - t0
            opened = download(second, "#download-png")
            assert np.array_equal(opened, rendered)
            assert "1 · add" in second.inner_text("#strokes")
            # the whole page as it was: the photo in the photo box (not "Drop Image Here"), set up only once
            second.wait_for_selector("#photo img")
            assert "Drop Image Here" not in second.inner_text("#photo")
            assert "Opened the shared edit" in second.inner_text("#status")  # no second setup replaced it
            print(f"share link opened to its render in a fresh context after a restart: {seconds:.2f} s")

            bad = browser.new_context().new_page()
            bad.goto(url2.rstrip("/") + "/?edit=" + "0" * 64)
            bad.wait_for_function("document.querySelector('#status')?.innerText.includes('no shared edit')",
                                  timeout=60_000)
        finally:
            browser.close()
            demo.close()
