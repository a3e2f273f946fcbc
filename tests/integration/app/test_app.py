"""The Gradio app, driven the way users and scripts drive it: ``build_demo`` and its wiring, then the
served app on 127.0.0.1 through ``gradio_client`` (the page's own endpoints and the stateless ``/edit``)."""
from __future__ import annotations

import base64
import dataclasses
import io
import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from ganpaint_core.core.photo import mask_to_square
from ganpaint_core.edit.spec import StrokeSpec
from ganpaint_core.page import session as S
from ganpaint_core.page.canvas import DISPLAY_SIDE
from ganpaint_core.page.page import SLIDER_SIDE, BrushChoice, EditPage, PageUpdate, StrokeList
from tests.helpers import (
    REPO,
    app_model_manifest,
    box_mask,
    dilate,
    free_port,
    held_setup,
    make_engine,
    scene_png,
    undissected_model,
    wait_for,
)
from tests.hub_server import HubStandIn

gradio = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402

import app  # noqa: E402
from app_binding import BINDING  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app on 127.0.0.1 in this process, plus a copy of its model that must be downloaded (from a
    stand-in server) to be used."""
    root = tmp_path_factory.mktemp("served")
    src = app_model_manifest().parent
    manifest = json.loads((src / "model.json").read_text())
    with HubStandIn({}) as hub:
        for f in manifest["files"].values():
            hub.plain[f["filename"]] = (src / f["filename"]).read_bytes()
            f["sources"] = [{"url": f"{hub.endpoint}/files/{f['filename']}"}]
        manifest["name"] = "synth-remote"
        models = root / "models"
        (models / "synth-remote").mkdir(parents=True)
        (models / "synth-remote" / "model.json").write_text(json.dumps(manifest))
        undissected_model(models)  # a model to be offered dissection
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("GANPAINT_MODELS_DIR", str(models))
            mp.setenv("GANPAINT_CACHE", str(root / "cache"))
            engine = make_engine()
            demo = app.build_demo(engine)
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        try:
            yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", engine=engine, demo=demo, models=models,
                                  cache=root / "cache", hub=hub, root=root)
        finally:
            demo.close()


def photo_file(folder: Path, seed: int, size=(256, 256), name: str | None = None) -> Path:
    path = folder / (name or f"church-{seed}.png")
    path.write_bytes(scene_png(seed, size))
    return path


def canvas_layer(folder: Path, mask: np.ndarray, name: str = "layer.png") -> Path:
    """What the paint canvas sends: an RGBA layer, translucent brush colour where painted."""
    rgba = np.zeros(mask.shape + (4,), np.uint8)
    rgba[mask > 0] = (255, 61, 165, 140)
    path = folder / name
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def editor_value(layer: Path | None) -> dict:
    return {"background": None, "layers": [handle_file(str(layer))] if layer else [], "composite": None}


OUT = {"preview": 0, "slider": 1, "status": 2, "png": 3, "json": 4, "strokes": 5}  # /render outputs


def render_via_client(client: Client, layer: Path | None, concept="tree", action="add", strength=1.0):
    return client.predict(editor_value(layer), concept, action, strength, "Default look", 0.75, api_name="/render")


def read_outputs(out) -> tuple[np.ndarray, dict]:
    png, record = out[OUT["png"]]["value"], out[OUT["json"]]["value"]
    return np.asarray(Image.open(png).convert("RGB")), json.loads(Path(record).read_text())


def region_in_photo(record: dict, photo_shape: tuple[int, int], engine) -> np.ndarray:
    """The paste region of a sidecar, as a boolean map over the photo, grown by one model pixel."""
    region = np.asarray(Image.open(io.BytesIO(base64.b64decode(record["paste_region_png_base64"])))) > 0
    l, t, r, b = record["photo"]["box"]
    big = Image.fromarray(region.astype(np.uint8) * 255).resize((r - l, b - t), Image.Resampling.NEAREST)
    big = np.asarray(big) > 0
    out = np.zeros(photo_shape, bool)
    out[max(t, 0):min(b, photo_shape[0]), max(l, 0):min(r, photo_shape[1])] = big[max(-t, 0):, max(-l, 0):][
        : min(b, photo_shape[0]) - max(t, 0), : min(r, photo_shape[1]) - max(l, 0)]
    return dilate(out, (r - l) // engine.resolution + 2)


# -- the page ---------------------------------------------------------------------------------------------
def test_build_demo_wires_a_queued_page_with_a_public_edit_endpoint(served):
    demo = served.demo
    assert isinstance(demo, gradio.Blocks)
    config = demo.get_config_file()
    named = {d["api_name"]: d for d in config["dependencies"] if d.get("api_name")}
    assert named["edit"]["api_visibility"] == "public"
    assert {"load_photo", "render", "add_stroke", "undo", "switch_model"} <= set(named)
    # Every long step can be cancelled from the page.
    cancels = [d for d in config["dependencies"] if d.get("cancels")]
    assert len(cancels) == 1
    ids = {d["id"] for d in config["dependencies"] if d.get("api_name") in ("load_photo", "switch_model")}
    assert ids <= set(cancels[0]["cancels"])
    assert demo._queue.max_size and demo._queue.default_concurrency_limit >= 2
    dropdown = next(c for c in config["components"] if c["props"].get("label") == "Model")
    labels = [c[0] for c in dropdown["props"]["choices"]]
    assert any(lab.startswith("synth-church") for lab in labels)
    assert any(lab.startswith("progan-church") for lab in labels)  # a registry model that is not here
    assert any(lab.startswith("synth-remote") and lab.endswith("downloadable") for lab in labels)


def test_quick_steps_flash_no_queue_timers_and_the_empty_editor_says_what_to_do(served):
    config = served.demo.get_config_file()
    named = {d["api_name"]: d for d in config["dependencies"] if d.get("api_name")}
    by_id = {c["id"]: c for c in config["components"]}
    elem = {c["props"].get("elem_id"): c["id"] for c in config["components"]}
    assert named["add_stroke"]["show_progress"] == "hidden" and named["preview"]["show_progress"] == "hidden"
    assert named["render"]["show_progress_on"] == [elem["result"]]  # not over the status and preview lines
    assert named["switch_model"]["show_progress_on"] == [elem["preview"]]  # the editor keeps the photo
    assert by_id[elem["editor"]]["props"]["label"] == app.EDITOR_EMPTY_LABEL


def test_every_page_update_field_is_bound_to_components_of_the_page(served, tmp_path, monkeypatch):
    monkeypatch.setenv("GANPAINT_MODELS_DIR", str(served.models))
    monkeypatch.setenv("GANPAINT_CACHE", str(served.cache))
    with gradio.Blocks():
        c = app._layout(EditPage(served.engine, out_dir=tmp_path), [])
    assert set(BINDING) == {f.name for f in dataclasses.fields(PageUpdate)}  # one table, no field left out
    targets = [name for rules in BINDING.values() for name, _ in rules]
    assert len(targets) == len(set(targets))  # each component is written by one field only
    assert all(isinstance(getattr(c, name), gradio.blocks.Block) for name in targets)
    out = c.show(PageUpdate(strokes=StrokeList(("1 add tree", "2 remove sky"), ("2 remove sky",), True),
                            brush_pick=2), BrushChoice(mode="Colour brush", morph=0.5))
    assert set(out) == {c.strokes, c.delete_choice, c.undo, c.stroke_strength, c.stroke_style_strength, c.brush}
    assert out[c.delete_choice]["value"] == "2 remove sky" and out[c.undo]["interactive"] is True
    assert out[c.stroke_strength]["visible"] is False  # a list without settings: the selected-stroke slider hidden
    assert out[c.brush] == BrushChoice(mode="Colour brush", morph=0.5, pick=2)


def walk_values(value, seen: set[int] | None = None):
    """Every object reachable from ``value`` through dataclass fields, attributes, mappings and sequences
    (each once), ``value`` first: what a gr.State holds, all the way down."""
    seen = set() if seen is None else seen
    if id(value) in seen or isinstance(value, (str, bytes, int, float, bool, type(None))):
        return
    seen.add(id(value))
    yield value
    if isinstance(value, (torch.Tensor, np.ndarray, torch.nn.Module)):
        return  # a leaf: a module is reported by the caller, not walked
    if isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        children = list(value)
    elif dataclasses.is_dataclass(value):
        children = [getattr(value, f.name) for f in dataclasses.fields(value)]
    else:
        children = list(getattr(value, "__dict__", {}).values())
    for child in children:
        yield from walk_values(child, seen)


def model_storages(model) -> set[int]:
    """Storage addresses of every parameter and buffer of the model's networks."""
    nets = [n for n in vars(model).values() if isinstance(n, torch.nn.Module)]
    return {t.untyped_storage().data_ptr() for net in nets for t in (*net.parameters(), *net.buffers())}


def test_no_model_ever_lives_in_session_state(served, tmp_path):
    """After an upload, a kept stroke and a render, the values gradio keeps for that session (every
    gr.State, walked to the bottom) hold the photo's small CPU state, and no network or model weight."""
    client = Client(served.url, verbose=False)
    client.predict(handle_file(str(photo_file(tmp_path, 9_000_230))), "crop", api_name="/load_photo")
    layer = canvas_layer(tmp_path, box_mask(512, 512, 0.2, 0.5, 0.2, 0.5))
    client.predict(editor_value(layer), "tree", "add", 0.9, "Default look", 0.75, api_name="/add_stroke")
    assert "with 1 active stroke" in render_via_client(client, None)[OUT["status"]]
    kept = served.demo.state_holder.session_data[client.session_hash].state_data  # {block id: value}
    defaults = [b.value for b in served.demo.blocks.values() if isinstance(b, gradio.State)]
    found = [v for root in [*kept.values(), *defaults] for v in walk_values(root)]
    sessions = [v for v in found if isinstance(v, S.EditSession) and v.state is not None]
    assert sessions and len(sessions[0].strokes) == 1, "the walk must reach the session the actions changed"
    assert not [type(v).__name__ for v in found if isinstance(v, torch.nn.Module)], "a network in session state"
    tensors = [v for v in found if isinstance(v, torch.Tensor)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    weights = model_storages(served.engine.model)
    assert not [t.shape for t in tensors if t.untyped_storage().data_ptr() in weights], "a model tensor in state"
    total = sum(t.numel() * t.element_size() for t in tensors) + sum(v.nbytes for v in found
                                                                     if isinstance(v, np.ndarray))
    assert total < 32 * 2**20, f"session state holds {total / 2**20:.1f} MB: more than one photo's setup"


# -- end to end through gradio_client ------------------------------------------------------------------------
def test_upload_stroke_render_changes_the_mask_and_keeps_the_rest_exactly(served, tmp_path):
    client = Client(served.url, verbose=False)
    photo = photo_file(tmp_path, 9_000_201, (320, 240))
    status = client.predict(handle_file(str(photo)), "crop", api_name="/load_photo")[3]
    assert "is ready on synth-church" in status and "dB PSNR" in status
    shown = (DISPLAY_SIDE * 3 // 4, DISPLAY_SIDE)  # the canvas shows the photo at DISPLAY_SIDE px
    mask = box_mask(*shown, 0.05, 0.4, 0.3, 0.55)  # upper left of the centre square
    out = render_via_client(client, canvas_layer(tmp_path, mask))
    assert "Rendered 320×240 with 1 active stroke" in out[OUT["status"]]
    final, record = read_outputs(out)
    original = np.asarray(Image.open(photo).convert("RGB"))
    assert final.shape == original.shape
    changed = (final != original).any(-1)
    painted = np.asarray(Image.fromarray((mask * 255).astype(np.uint8)).resize((320, 240))) > 127
    assert changed[painted].mean() > 0.3, "the edit should change the painted area"
    inside = region_in_photo(record, original.shape[:2], served.engine)
    assert (~inside).mean() > 0.1 and not changed[~inside].any(), "outside the paste region the photo is untouched"
    assert record["model"] == "synth-church" and record["strokes"][0]["concept"] == "tree"
    assert record["weights_sha256"]["generator"] == served.engine.model.sha256["generator"]
    # The before/after pair is the photo and the result.
    before, after = (np.asarray(Image.open(p).convert("RGB")) for p in out[OUT["slider"]])
    assert np.array_equal(before, original) and np.array_equal(after, final)


@pytest.mark.slow
def test_four_clients_at_once_each_get_their_own_result(served, tmp_path):
    engine = served.engine
    jobs = []
    for i in range(4):
        photo = photo_file(tmp_path, 9_000_210 + i, (256, 256))
        mask = box_mask(512, 512, 0.1 + 0.1 * i, 0.4 + 0.1 * i, 0.2, 0.6)
        jobs.append(SimpleNamespace(photo=photo, mask=mask, layer=canvas_layer(tmp_path, mask, f"layer{i}.png"),
                                    concept=("tree", "dome", "grass", "sky")[i], result=None, error=None))

    def run(job):
        try:
            client = Client(served.url, verbose=False)
            client.predict(handle_file(str(job.photo)), "crop", api_name="/load_photo")
            job.result = read_outputs(render_via_client(client, job.layer, concept=job.concept))[0]
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            job.error = exc

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for job in jobs:
        assert job.error is None, job.error
        # The same edit done here, directly with the library, on this client's photo.
        session = S.open_photo(engine, job.photo.read_bytes())
        stroke = StrokeSpec(mask=mask_to_square(job.mask, session.photo, engine.resolution), concept=job.concept,
                            action="add", strength=1.0)
        expected = S.render(engine, S.add_stroke(session, stroke)).result.final
        assert np.abs(job.result.astype(int) - expected).max() <= 2, "a client got another edit than its own"
        for other in jobs:
            if other is not job:
                assert np.abs(job.result.astype(int) - other.result).mean() > 5, "two clients got the same image"


@pytest.mark.slow  # over 4 s: the full suite runs it, the fast lane does not
def test_a_painted_stroke_previews_through_the_client(served, tmp_path):
    """The live preview of a painted (not yet kept) stroke; prints its round-trip time (upload of the
    canvas layer, tail pass, paste into the display copy, download), the figure the README reports."""
    client = Client(served.url, verbose=False)
    client.predict(handle_file(str(photo_file(tmp_path, 9_000_215, (320, 240)))), "crop", api_name="/load_photo")
    blank = client.predict(editor_value(None), "tree", "add", 1.0, "Default look", 0.75, None, api_name="/preview")
    assert "no stroke on the canvas" in blank[1]
    layer = canvas_layer(tmp_path, box_mask(300, 400, 0.3, 0.7, 0.35, 0.65))
    render_via_client(client, None)  # a render waits for the photo's full fit: the timed previews are on it
    seconds = []
    for _ in range(7):
        t0 = time.perf_counter()
        out = client.predict(editor_value(layer), "tree", "add", 1.0, "Default look", 0.75, None, api_name="/preview")
        seconds.append(time.perf_counter() - t0)
    assert "add **tree** under the paint (not added yet) · 0 stroke(s) kept" in out[1]
    painted, plain = (np.asarray(Image.open(o[0]).convert("RGB")).astype(int) for o in (out, blank))
    assert painted.shape == plain.shape == (300, 400, 3)
    # The preview comes back as lossy WebP: compare means. Left of the model's square (x < 50) is the photo.
    inside, outside = painted[100:200, 150:250] - plain[100:200, 150:250], painted[:, :40] - plain[:, :40]
    assert np.abs(inside).mean() > 8 and np.abs(outside).mean() < 2  # the stroke shows where painted only
    print(f"preview after a stroke (gradio_client, {len(seconds)} calls): median {np.median(seconds) * 1000:.0f} ms")


def test_strokes_are_kept_toggled_and_undone_per_session(served, tmp_path):
    client = Client(served.url, verbose=False)
    client.predict(handle_file(str(photo_file(tmp_path, 9_000_220))), "crop", api_name="/load_photo")
    layer = canvas_layer(tmp_path, box_mask(512, 512, 0.2, 0.5, 0.2, 0.5))
    out = client.predict(editor_value(layer), "dome", "remove", 0.5, "Default look", 0.75, api_name="/add_stroke")
    assert "Stroke 1 added: remove dome" in out[1]  # (the browser test sees the canvas cleared after it)
    out = client.predict(editor_value(layer), "tree", "add", 0.9, "Default look", 0.75, api_name="/add_stroke")
    assert [c[0][:12] for c in out[2]["choices"]] == ["1 · remove d", "2 · add tree"]
    out = client.predict(api_name="/undo")
    assert [c[0][:12] for c in out[2]["choices"]] == ["1 · remove d"]
    final = render_via_client(client, None)
    assert "with 1 active stroke" in final[OUT["status"]]


def test_cancel_stops_a_running_setup_and_the_server_stays_up(served):
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig
    from ganpaint_core.edit.plans import SetupPlan

    endless = InversionConfig(latent_steps=1_000_000, joint_steps=0)  # the quick fit too: the upload's own job
    slow = EditEngine(served.engine.model, inversion=endless, adaptation=AdaptConfig(steps=2), use_lpips=False,
                      quick=SetupPlan("quick", endless, AdaptConfig(steps=2)))
    page = EditPage(slow)
    demo = app.build_demo(slow, examples=[], page=page)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        job = client.submit(handle_file(str(REPO / "docs" / "examples" / "church-9000002.png")), "crop",
                            api_name="/load_photo")
        (setup,) = wait_for(page.jobs.running, timeout=60, interval=0.05, message="the setup never started")
        # Cancel once the setup has reported progress (its work is under way), not while it is starting.
        wait_for(lambda: job.status().progress_data, timeout=60, interval=0.05,
                 message="the setup never reported progress")
        job.cancel()  # what the page's Cancel button does
        assert setup.finished.wait(20), "the inversion kept running after Cancel"
        assert setup.cancelled and page.jobs.running() == []
        out = client.predict(editor_value(None), "tree", "add", 0.5, "Default look", 0.75, api_name="/add_stroke")
        assert "no photo yet" in out[1]  # the session never got a half-set-up photo
    finally:
        demo.close()


@pytest.mark.slow
def test_cancelled_edit_requests_stop_their_setups_and_free_the_server(tmp_path, monkeypatch):
    engine = make_engine()
    calls: list[str] = []
    prepare = held_setup(engine, calls)  # 300×200 photos never finish unless stopped
    monkeypatch.setattr(engine, "prepare", prepare)
    page = EditPage(engine, out_dir=tmp_path / "out")
    demo = app.build_demo(engine, examples=[], page=page)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        held, mask = photo_file(tmp_path, 9_000_280, (300, 200)), tmp_path / "mask.png"
        Image.fromarray((box_mask(200, 300, 0.1, 0.5, 0.35, 0.65) * 255).astype(np.uint8)).save(mask)
        jobs = [client.submit(handle_file(str(held)), handle_file(str(mask)), "tree", "add", 1.0, api_name="/edit")
                for _ in range(6)]
        wait_for(lambda: calls.count("start") >= 2, timeout=60, message="the held setups never started")
        for job in jobs:
            job.cancel()
        wait_for(lambda: calls.count("end") == calls.count("start") and not page.jobs.running(), timeout=8,
                 message=f"cancelled /edit setups kept running: {calls}")
        t0 = time.monotonic()
        out = client.predict(handle_file(str(photo_file(tmp_path, 9_000_281))), handle_file(str(mask)), "tree",
                             "add", 1.0, api_name="/edit")
        assert Path(out).suffix == ".png" and time.monotonic() - t0 < 30
        assert calls.count("start") == calls.count("end")  # no cancelled request started later
    finally:
        demo.close()


# -- bad inputs ------------------------------------------------------------------------------------------------
def test_bad_uploads_show_a_message_and_leave_the_session_usable(served, tmp_path):
    client = Client(served.url, verbose=False)
    good = photo_file(tmp_path, 9_000_230)
    assert "is ready" in client.predict(handle_file(str(good)), "crop", api_name="/load_photo")[3]
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    tiny = photo_file(tmp_path, 9_000_231, (20, 20), name="tiny.png")
    for upload, message in ((text, "not an image Pillow can read"), (tiny, "20×20 is too small")):
        status = client.predict(handle_file(str(upload)), "crop", api_name="/load_photo")[3]
        assert status.startswith("**Problem:**") and message in status and "previous photo stays loaded" in status
        assert "Traceback" not in status
    # An empty canvas, then a stroke outside the model's square: both explained, nothing changes.
    status = client.predict(editor_value(None), "tree", "add", 0.8, "Default look", 0.75, api_name="/add_stroke")[1]
    assert "the canvas is empty: paint over" in status
    # The first photo is still there and edits.
    out = render_via_client(client, canvas_layer(tmp_path, box_mask(512, 512, 0.3, 0.6, 0.3, 0.6)))
    assert "Rendered 256×256" in out[OUT["status"]]


@pytest.mark.slow
def test_a_12_megapixel_upload_is_edited_at_full_size(served, tmp_path):
    client = Client(served.url, verbose=False)
    big = tmp_path / "big.jpg"
    Image.fromarray(np.asarray(Image.open(io.BytesIO(scene_png(9_000_240))))).resize((4000, 3000)).save(big, quality=90)
    status = client.predict(handle_file(str(big)), "crop", api_name="/load_photo")[3]
    assert "(4000×3000) is ready" in status
    out = render_via_client(client, canvas_layer(tmp_path, box_mask(384, 512, 0.3, 0.6, 0.4, 0.6)))
    final, record = read_outputs(out)
    assert final.shape == (3000, 4000, 3) and record["photo"]["size"] == [4000, 3000]
    before, after = (Image.open(p) for p in out[OUT["slider"]])
    assert max(after.size) == SLIDER_SIDE  # the comparison is scaled down; the download is full size


# -- models ------------------------------------------------------------------------------------------------------
def test_a_model_that_cannot_load_shows_how_to_supply_it_and_keeps_the_current_one(served, tmp_path, monkeypatch):
    monkeypatch.setenv("GANPAINT_OFFLINE", "1")  # progan-church's weights are not here; never try the network
    client = Client(served.url, verbose=False)
    client.predict(handle_file(str(photo_file(tmp_path, 9_000_250))), "crop", api_name="/load_photo")
    out = client.predict("progan-church", api_name="/switch_model")
    status, model = out[1], out[7]
    assert "progan-church: the generator file 'proggan_churchoutdoor-7e701dd5.pth' is not available" in status
    assert "To supply it" in status and "Staying on **synth-church**" in status
    assert model == "synth-church"
    layer = canvas_layer(tmp_path, box_mask(512, 512, 0.3, 0.6, 0.3, 0.6))
    assert "Rendered" in render_via_client(client, layer)[OUT["status"]]


def test_a_model_without_a_dictionary_offers_the_dissect_button(served, tmp_path, monkeypatch):
    monkeypatch.setenv("GANPAINT_MODELS_DIR", str(served.models))
    client = Client(served.url, verbose=False)
    out = client.predict("synth-raw", api_name="/switch_model")
    status, model = out[1], out[7]  # (gradio_client leaves buttons out; the page test checks the offer itself)
    assert "synth-raw has no concept dictionary yet" in status and "Press **Dissect synth-raw**" in status
    assert model == "synth-church"


@pytest.mark.slow  # over 5 s: the full suite runs it, the fast lane does not
def test_a_downloadable_model_is_fetched_on_demand_and_the_photo_moves_to_it(served, tmp_path, monkeypatch):
    monkeypatch.setenv("GANPAINT_MODELS_DIR", str(served.models))
    monkeypatch.setenv("GANPAINT_CACHE", str(served.cache))
    client = Client(served.url, verbose=False)
    client.predict(handle_file(str(photo_file(tmp_path, 9_000_260))), "crop", api_name="/load_photo")
    job = client.submit("synth-remote", api_name="/switch_model")
    out = job.result(timeout=300)
    assert "Switched to **synth-remote**" in out[1] and "set up again" in out[1]
    assert any(path.startswith("/files/generator") for _, path in served.hub.requests)
    layer = canvas_layer(tmp_path, box_mask(512, 512, 0.3, 0.6, 0.3, 0.6))
    final, record = read_outputs(render_via_client(client, layer))
    assert record["model"] == "synth-remote" and final.shape == (256, 256, 3)


# -- the stateless endpoint ------------------------------------------------------------------------------------------
def test_the_edit_endpoint_returns_the_edited_photo_at_the_inputs_size(served, tmp_path):
    client = Client(served.url, verbose=False)
    photo = photo_file(tmp_path, 9_000_270, (300, 200))
    mask = tmp_path / "mask.png"
    Image.fromarray((box_mask(200, 300, 0.1, 0.5, 0.35, 0.65) * 255).astype(np.uint8)).save(mask)
    result = client.predict(handle_file(str(photo)), handle_file(str(mask)), "tree", "add", 1.0, api_name="/edit")
    assert Path(result).suffix == ".png"
    edited, original = np.asarray(Image.open(result).convert("RGB")), np.asarray(Image.open(photo).convert("RGB"))
    assert edited.shape == original.shape
    assert (edited != original).any(-1)[20:100, 105:195].mean() > 0.3
    assert np.array_equal(edited[:, :40], original[:, :40])  # outside the centre square, untouched
    styled = client.predict(handle_file(str(photo)), handle_file(str(mask)), "tree", "add", 1.0,
                            handle_file(str(photo_file(tmp_path, 9_000_271))), 1.0, api_name="/edit")
    assert np.asarray(Image.open(styled)).shape == original.shape
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="unknown concept 'banana'; this model knows: sky"):
        client.predict(handle_file(str(photo)), handle_file(str(mask)), "banana", "add", 1.0, api_name="/edit")
    with pytest.raises(AppError, match="photo: not an image"):
        client.predict(handle_file(str(_text_file(tmp_path))), handle_file(str(mask)), "tree", "add", 1.0,
                       api_name="/edit")


def _text_file(folder: Path) -> Path:
    path = folder / "text.png"
    path.write_text("hello")
    return path


def test_share_without_internet_is_reported_and_served_locally(monkeypatch, caplog):
    monkeypatch.setattr(app, "share_possible", lambda timeout=3.0: False)
    launched = {}

    class FakeDemo:
        def launch(self, **kwargs):
            launched.update(kwargs)

    monkeypatch.setattr(app, "build_demo", lambda engine, page=None: FakeDemo())
    model = make_engine().model
    monkeypatch.setattr("ganpaint_core.hub.loading.load_model", lambda name, device: model)
    with caplog.at_level("WARNING"):
        assert app.main(["--share", "--port", "7999"]) == 0
    assert launched["share"] is False and launched["server_port"] == 7999
    assert launched["max_file_size"] == app.MAX_UPLOAD
    assert launched["quiet"] is True  # no gradio banner telling the user to "set `share=True`"
    assert "share service is unreachable" in caplog.text


@pytest.mark.slow
def test_an_upload_over_the_limit_is_refused_before_it_is_stored(served, tmp_path):
    import httpx

    demo = app.build_demo(served.engine, examples=[])
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                max_file_size=app.MAX_UPLOAD)
    try:
        limit = demo.max_file_size
        assert limit == 50 * 1024 * 1024
        big = tmp_path / "big.png"
        with open(big, "wb") as f:
            f.truncate(limit + 1024)
        with open(big, "rb") as f:
            r = httpx.post(f"http://127.0.0.1:{port}/gradio_api/upload", files={"files": ("big.png", f)}, timeout=60)
        assert r.status_code == 413 and "exceeded maximum allowed size" in r.text
    finally:
        demo.close()
