"""The hosted demo end to end, as a Space runs it: ``python app.py`` in a subprocess with ``SPACE_ID``,
``GANPAINT_MODEL=stylegan2-church`` and a persistent folder, over a stand-in Hugging Face Hub that serves a
small StyleGAN2 in the church file's layout (rosinality's ``{'g_ema', 'latent_avg'}``), an encoder in e4e's
released layout for it, and a segmenter (the bundled synth-church one), under the Hub names the real
``stylegan2-church`` manifest uses.

1. The first start has no dictionary: it serves the bundled model and prepares stylegan2-church in the
   background (``GANPAINT_PREPARE=background``, ``GANPAINT_PREPARE_SAMPLES`` small); then, in headless
   Chromium, the model is chosen, a photo uploaded, a stroke painted and rendered on it.
2. A second start over the same persistent folder serves stylegan2-church at once: no dissection.
3. ``prepare --push`` to the stand-in; a fresh start (empty persistent folder) whose manifest lists that repo,
   with the generator and encoder as local files, is ready at once, and ``/edit`` runs a setup on it.
4. Offline, with no dictionary and ``GANPAINT_PREPARE=off``: the bundled model serves, and the log says why
   in one line, with no traceback.

Each start's time is printed (``pytest -s``): the figures the README quotes. Needs the system Chromium and
Python Playwright, like tests/test_browser.py.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import (
    BROWSER_MARKS,
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    free_port,
    scene_png,
    tiny_e4e_checkpoint,
    tiny_stylegan2_checkpoint,
    wait_for,
)
from tests.hub_server import HubStandIn

pytestmark = BROWSER_MARKS

CHURCH = REPO / "weights" / "stylegan2-church" / "model.json"  # the real manifest: its Hub names, licence, kinds
SEGMENTER = REPO / "weights" / "synth-church" / "segmenter.safetensors"
SEGMENTER_REPO = "ganpaint-test/segmenters"
PREPARED_REPO = "ganpaint-test/stylegan2-church-prepared"
TOKEN = "hf_test_write_token"
SAMPLES = "24"  # GANPAINT_PREPARE_SAMPLES: a rough dictionary in seconds (the model is random anyway)
START_S = 240  # the longest wait for a start on a busy CI machine
# What the app's environment must not inherit from the test run (conftest's caches would win over the
# persistent folder; an offline flag would stop the downloads).
UNSET = ("GANPAINT_CACHE", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "GANPAINT_OFFLINE", "GANPAINT_MODEL",
         "GANPAINT_PREPARE", "GANPAINT_WEIGHTS_DIR", "GANPAINT_SHARE_DIR", "HF_TOKEN")


# -- the stand-in Hub and the manifests ---------------------------------------------------------------------------
def _hub_source(role: str) -> dict:
    manifest = json.loads(CHURCH.read_text())
    return next(s["hub"] for s in manifest["files"][role]["sources"] if "hub" in s)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    """The church model's files, small: role -> bytes, written as the real ones are laid out."""
    folder = tmp_path_factory.mktemp("church-files")
    checkpoint = tiny_stylegan2_checkpoint(seed=3)
    buf = io.BytesIO()
    torch.save(checkpoint, buf)
    encoder = tiny_e4e_checkpoint(folder / "e4e.pt", size=64, generator=checkpoint, seed=3)
    return {"generator": buf.getvalue(), "encoder": encoder.read_bytes(), "segmenter": SEGMENTER.read_bytes()}


@pytest.fixture(scope="module")
def hub(files):
    served = {(_hub_source(role)["repo_id"], _hub_source(role)["filename"]): files[role]
              for role in ("generator", "encoder")}
    served[(SEGMENTER_REPO, SEGMENTER.name)] = files["segmenter"]
    with HubStandIn(served, token=TOKEN) as stand_in:
        yield stand_in


def church_manifest(models: Path, files: dict[str, bytes], *, local: bool = False, prepared: dict | None = None,
                    dictionary: bool = True) -> Path:
    """``models/stylegan2-church/model.json``: the real manifest for the small files (Hub sources, or ``local``
    files beside it), the segmenter added; ``prepared``: a prepared repo to list."""
    data = json.loads(CHURCH.read_text())
    data.update(resolution=64, latent_size=16, edit_layer="convs.1", fine_layers=[f"convs.{i}" for i in range(2, 8)])
    folder = models / "stylegan2-church"
    folder.mkdir(parents=True)
    for role in ("generator", "encoder"):
        entry = data["files"][role]
        entry["size"] = None  # from the Hub, sha256 stays null: pinned on first use, as the real manifest's
        if local:  # a local file must name its sha256
            (folder / entry["filename"]).write_bytes(files[role])
            entry.update(sha256=hashlib.sha256(files[role]).hexdigest(), size=len(files[role]))
        entry["sources"] = [{"path": entry["filename"]}] if local else [{"hub": _hub_source(role)}]
    data["files"]["segmenter"] = {"filename": SEGMENTER.name, "format": "safetensors", "sha256": None, "size": None,
                                  "sources": [{"hub": {"repo_id": SEGMENTER_REPO, "filename": SEGMENTER.name,
                                                       "revision": "main"}}]}
    if local:
        shutil.copyfile(SEGMENTER, folder / SEGMENTER.name)
        data["files"]["segmenter"].update(sources=[{"path": SEGMENTER.name}], size=len(files["segmenter"]),
                                          sha256=hashlib.sha256(files["segmenter"]).hexdigest())
    if prepared is not None:
        data["prepared"] = prepared
    path = folder / "model.json"
    path.write_text(json.dumps(data, indent=1))
    return path


# -- the app as a Space starts it -------------------------------------------------------------------------------------
class SpaceApp:
    """``python app.py`` in a subprocess with a Space's variables; its log in a file."""

    def __init__(self, root: Path, *, data: Path, models: Path, endpoint: str | None, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = root / f"app-{self.port}.log"
        full = {k: v for k, v in os.environ.items() if k not in UNSET}
        full.update(PYTHONPATH=str(REPO), SPACE_ID="ganpaint-test/demo", GANPAINT_MODEL="stylegan2-church",
                    GANPAINT_DATA_DIR=str(data), GANPAINT_MODELS_DIR=str(models), GRADIO_SERVER_PORT=str(self.port),
                    GRADIO_ANALYTICS_ENABLED="False", OMP_NUM_THREADS="1", GANPAINT_PREPARE="background",
                    GANPAINT_PREPARE_SAMPLES=SAMPLES)
        full.update(env)
        if endpoint:
            full["HF_ENDPOINT"] = endpoint
        self.t0 = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=full, stdout=log,
                                            stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _alive(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"app.py exited with {self.process.returncode}:\n{self.log()[-3000:]}")
        return True

    def _answers(self) -> bool:
        self._alive()
        try:
            with urllib.request.urlopen(self.url, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def serving(self) -> float:
        """Wait until the page answers; seconds since the start."""
        wait_for(self._answers, timeout=START_S, interval=0.2, message=f"app.py never served:\n{self.log()[-3000:]}")
        return time.monotonic() - self.t0

    def logged(self, text: str, timeout: float = START_S) -> float:
        """Wait until ``text`` is in the log; seconds since the start."""
        wait_for(lambda: self._alive() and text in self.log(), timeout=timeout,
                 interval=0.2, message=f"never logged {text!r}:\n{self.log()[-3000:]}")
        return time.monotonic() - self.t0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def derived_concepts(data: Path) -> list[Path]:
    return sorted(data.glob("ganpaint/derived/stylegan2-church/*/concepts.json"))


@pytest.fixture(scope="module")
def first_start(tmp_path_factory, files, hub):
    """The Space's first start: nothing prepared; the app serves the bundled model and prepares stylegan2-church."""
    root = tmp_path_factory.mktemp("space")
    church_manifest(root / "models", files)
    app = SpaceApp(root, data=root / "data", models=root / "models", endpoint=hub.endpoint)
    try:
        served = app.serving()
        prepared = app.logged("stylegan2-church prepared in")
        print(f"\nfirst start: page served in {served:.1f} s, stylegan2-church prepared in the background "
              f"{prepared:.1f} s after the start (GANPAINT_PREPARE_SAMPLES={SAMPLES})")
        yield root, app
    finally:
        app.stop()


# -- 1. the first start prepares in the background, then a stroke renders on the model ------------------------------
def test_the_first_start_prepares_in_the_background_then_a_stroke_renders_on_the_model(first_start, tmp_path):
    from playwright.sync_api import sync_playwright

    root, app = first_start
    log = app.log()
    assert "stylegan2-church lacks concept dictionary" in log and "serving synth-church" in log
    assert "Traceback" not in log and log.count("loaded stylegan2-church") == 1  # loaded once, then prepared
    assert len(derived_concepts(root / "data")) == 1  # made in the persistent folder
    assert (root / "data" / "huggingface" / "hub").is_dir()  # the downloads too
    photo = tmp_path / "church.png"
    photo.write_bytes(scene_png(9_000_401, (256, 256)))
    original = np.asarray(Image.open(photo).convert("RGB"))
    status = "document.querySelector('#status').innerText"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        marks = [("browser", time.monotonic())]
        try:
            page.goto(app.url)
            page.wait_for_selector("#settings button")
            page.click("#settings button")  # the model list lives in the closed settings panel
            page.wait_for_selector("#model input")
            marks.append(("page", time.monotonic()))
            page.click("#model input")
            page.click("[role=option]:has-text('stylegan2-church')")
            page.wait_for_function(f"{status}.includes('Switched to stylegan2-church')")
            marks.append(("switch", time.monotonic()))
            page.set_input_files("#photo input[type=file]", str(photo))
            page.wait_for_function(f"{status}.includes('is ready on stylegan2-church')")
            marks.append(("setup", time.monotonic()))
            page.locator("#editor").scroll_into_view_if_needed()
            box = page.locator("#editor canvas").first.bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(cx - 60, cy - 10)
            page.mouse.down()
            for k in range(1, 7):
                page.mouse.move(cx - 60 + 20 * k, cy - 10 + 20 * k / 6, steps=2)
            page.mouse.up()
            page.click("#render")  # Render takes what is painted: no need to wait for the live preview
            page.wait_for_function(f"{status}.includes('Rendered 256×256')")
            marks.append(("render", time.monotonic()))
            print("browser, seconds per step: " + ", ".join(
                f"{name} {t - marks[k][1]:.1f}" for k, (name, t) in enumerate(marks[1:])))
            with page.expect_download() as download:
                page.click("#download-png")
            result = np.asarray(Image.open(download.value.path()).convert("RGB"))
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print("status:", page.inner_text("#status"), "| screenshot:", tmp_path / "failure.png")
            print(app.log()[-3000:])
            raise
        finally:
            browser.close()
    assert result.shape == original.shape
    centre = (slice(118, 138), slice(118, 138))  # under the stroke
    assert (result[centre] != original[centre]).any(-1).mean() > 0.5
    assert np.array_equal(result[:, :16], original[:, :16])  # far from it: the photo's own pixels


# -- 2. a second start reuses the prepared files ------------------------------------------------------------------------
def test_a_second_start_over_the_same_persistent_folder_serves_the_model_at_once(first_start, hub):
    root, first = first_start
    first.stop()
    (concepts,) = derived_concepts(root / "data")
    made = concepts.stat().st_mtime_ns
    app = SpaceApp(root, data=root / "data", models=root / "models", endpoint=hub.endpoint)
    try:
        seconds = app.serving()
        log = app.log()
        assert "serving stylegan2-church" in log, log[-3000:]
        assert "lacks" not in log and "dissect" not in log.lower() and "Traceback" not in log
        assert concepts.stat().st_mtime_ns == made and derived_concepts(root / "data") == [concepts]
        print(f"\nsecond start (prepared files in the persistent folder): serving stylegan2-church in {seconds:.1f} s")
    finally:
        app.stop()


# -- 3. prepare --push, then a fresh start from the pushed repo ----------------------------------------------------------
def test_prepare_push_then_a_fresh_start_from_the_pushed_repo_is_ready_at_once(first_start, files, hub, tmp_path):
    root, first = first_start
    first.stop()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(PYTHONPATH=str(REPO), GANPAINT_DATA_DIR=str(root / "data"), GANPAINT_MODELS_DIR=str(root / "models"),
               HF_ENDPOINT=hub.endpoint, HF_TOKEN=TOKEN, OMP_NUM_THREADS="1")
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ganpaint_core", "prepare", "--model", "stylegan2-church",
                           "--push", PREPARED_REPO, "--device", "cpu", "--threads", "1"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"\nprepare --push (files already prepared by the Space): {time.monotonic() - t0:.1f} s")
    assert "dissect     skipped: already here" in done.stdout and "push        pushed" in done.stdout, done.stdout
    entry = json.loads(done.stdout.split('"prepared": ', 1)[1].splitlines()[0])
    assert entry["repo_id"] == PREPARED_REPO and {"concepts.json", "directions.safetensors"} <= {
        name for repo, name in hub.files if repo == PREPARED_REPO}
    concepts = sorted(json.loads(hub.files[(PREPARED_REPO, "concepts.json")])["concepts"])

    # Another Space: an empty persistent folder; the generator and encoder as local files (random weights in
    # the released layouts), the prepared files from the pushed repo.
    fresh = tmp_path / "fresh"
    church_manifest(fresh / "models", files, local=True, prepared=entry)
    app = SpaceApp(fresh, data=fresh / "data", models=fresh / "models", endpoint=hub.endpoint)
    try:
        seconds = app.serving()
        log = app.log()
        assert "serving stylegan2-church" in log and "prepared files from ganpaint-test/" in log, log[-3000:]
        assert "lacks" not in log and "Traceback" not in log
        assert not list((fresh / "data").glob("ganpaint/derived/stylegan2-church/*/work"))  # nothing dissected
        print(f"fresh start from the pushed repo: serving stylegan2-church in {seconds:.1f} s")

        from gradio_client import Client, handle_file

        photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
        photo.write_bytes(scene_png(9_000_402, (128, 96)))
        box = np.zeros((96, 128), np.uint8)
        box[30:66, 40:88] = 255
        Image.fromarray(box).save(mask)
        t0 = time.monotonic()
        out = Client(app.url, verbose=False).predict(handle_file(str(photo)), handle_file(str(mask)), concepts[0],
                                                     "add", 1.0, api_name="/edit")
        print(f"/edit on stylegan2-church (setup and render, 128×96): {time.monotonic() - t0:.1f} s")
        edited, original = np.asarray(Image.open(out).convert("RGB")), np.asarray(Image.open(photo).convert("RGB"))
        assert edited.shape == original.shape
        assert (edited != original).any(-1)[36:60, 46:82].mean() > 0.5
    finally:
        app.stop()


# -- 4. offline, no dictionary: the bundled model serves, one line says why -------------------------------------------
def test_offline_without_a_dictionary_the_bundled_model_serves_and_one_line_says_why(files, tmp_path):
    church_manifest(tmp_path / "models", files, local=True)
    app = SpaceApp(tmp_path, data=tmp_path / "data", models=tmp_path / "models", endpoint=None,
                   GANPAINT_OFFLINE="1", HF_HUB_OFFLINE="1", GANPAINT_PREPARE="off")
    try:
        app.serving()
        log = app.log()
    finally:
        app.stop()
    assert "serving synth-church" in log and "Traceback" not in log, log[-3000:]
    why = [line for line in log.splitlines() if "stylegan2-church" in line and "GANPAINT_PREPARE=off" in line]
    assert len(why) == 1, log[-3000:]
    assert "prepare --model stylegan2-church" in why[0]
