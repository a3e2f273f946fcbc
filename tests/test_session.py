"""The app's session layer (gradio-free): masks from the canvas, the stroke stack, rendering, sidecars,
style references, bad inputs, cancellable jobs and the shared model catalogue."""
from __future__ import annotations

import copy
import dataclasses
import io
import json
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from ganpaint_core import session as S
from ganpaint_core.edit.strokes import StrokeError
from ganpaint_core.errors import GanpaintError
from ganpaint_core.photo import PhotoError
from ganpaint_core.synth.scenes import render_scene
from tests.helpers import box_mask, dilate, make_engine, scene_png


@pytest.fixture(scope="module")
def engine():
    torch.set_num_threads(1)
    return make_engine()


@pytest.fixture(scope="module")
def ready(engine):
    """A session on a 256×192 photo (crop mode), set up once."""
    return S.open_photo(engine, scene_png(9_000_101, (256, 192)), name="church.png")


# -- masks -------------------------------------------------------------------------------------------
def test_canvas_layers_become_a_binary_mask_from_their_alpha():
    layer = np.zeros((40, 60, 4), np.uint8)
    layer[5:10, 5:20] = (255, 0, 0, 140)  # a translucent brush
    layer[30, 30] = (255, 0, 0, 10)  # anti-aliasing fringe, below the threshold
    other = np.zeros((40, 60, 4), np.uint8)
    other[20:25, 40:50, 3] = 255
    mask = S.mask_from_layers([layer, None, other])
    assert mask.shape == (40, 60) and set(np.unique(mask)) == {0.0, 1.0}
    assert mask[5:10, 5:20].all() and mask[20:25, 40:50].all() and mask[30, 30] == 0
    assert mask.sum() == 5 * 15 + 5 * 10
    assert S.mask_from_layers([]) is None


def test_a_display_size_mask_maps_to_the_photos_square_by_ratio(engine, ready):
    photo = ready.photo  # 256×192 cropped to its centre 192×192 square
    s = engine.resolution
    full = box_mask(192, 256, 0.25, 0.75, 0.4, 0.6)  # centre of the photo
    half = Image.fromarray((full * 255).astype(np.uint8)).resize((128, 96), Image.Resampling.NEAREST)
    half = np.asarray(half) / 255.0
    a, b = S.mask_to_square(full, photo, s), S.mask_to_square(half, photo, s)
    assert np.array_equal(a, engine.mask_to_square(full, photo))  # at full size: the engine's own mapping
    # The same place at any scale: only cells on the border are covered a little more or less.
    iou = ((a > 0.5) & (b > 0.5)).sum() / ((a > 0.5) | (b > 0.5)).sum()
    assert iou > 0.85 and abs(a.sum() - b.sum()) <= 0.03 * a.sum()
    ys, xs = np.nonzero(a > 0.5)
    assert abs(ys.mean() / s - 0.5) < 0.06 and abs(xs.mean() / s - 0.5) < 0.06
    # Paint left of the crop box is outside the square the model sees.
    assert S.mask_to_square(box_mask(192, 256, 0, 1, 0, 0.12), photo, s).max() == 0
    with pytest.raises(StrokeError, match="another shape"):
        S.mask_to_square(np.ones((100, 100), np.float32), photo, s)


def test_the_canvas_dims_what_the_model_does_not_see(ready):
    canvas, shown = S.canvas_image(ready.photo), S.display_image(ready.photo)
    side = S.DISPLAY_SIDE
    assert canvas.shape == shown.shape == (side * 3 // 4, side, 3)  # 256×192 shown at DISPLAY_SIDE on its longer side
    left, right = side // 8, side - side // 8  # the centre square: 32 px of 256 on each side are cropped off
    assert np.array_equal(canvas[:, left:right], shown[:, left:right])
    assert (canvas[:, :left - 2] != shown[:, :left - 2]).any() and (canvas[:, right + 2:] != shown[:, right + 2:]).any()


def test_padded_photos_map_masks_into_the_padded_square(engine):
    photo = S.load_photo(scene_png(9_000_102, (256, 128)), size=engine.resolution, fit="pad")
    sq = S.mask_to_square(np.ones((64, 128), np.float32), photo, engine.resolution)
    # The photo fills the middle half of the padded square's rows.
    rows = sq.mean(axis=1)
    assert rows[: engine.resolution // 4 - 1].max() == 0 and rows[engine.resolution // 2] == 1


# -- strokes and the stack ---------------------------------------------------------------------------
def test_the_stroke_stack_adds_toggles_deletes_and_undoes_without_touching_older_sessions(engine, ready):
    sq = S.mask_to_square(box_mask(192, 256, 0.2, 0.5, 0.3, 0.7), ready.photo, engine.resolution)
    one, s1 = S.make_stroke(engine, ready, sq, concept="tree", action="add", strength=0.8)
    two, s1 = S.make_stroke(engine, s1, sq, concept="dome", action="remove", strength=0.5)
    a = S.add_stroke(S.add_stroke(s1, one), two)
    assert len(ready.strokes) == 0 and len(a.strokes) == 2
    labels = S.stroke_labels(a)
    assert labels[0].startswith("1 · add tree") and labels[1].startswith("2 · remove dome") and len(set(labels)) == 2
    off = S.toggle_stroke(a, 0)
    assert [s.stroke.enabled for s in off.strokes] == [False, True] and a.strokes[0].stroke.enabled
    gone = S.delete_stroke(off, 1)
    assert [s.stroke.concept for s in gone.strokes] == ["tree"]
    back = S.undo(gone)
    assert [s.stroke.concept for s in back.strokes] == ["tree", "dome"] and not back.strokes[0].stroke.enabled
    assert [s.stroke.enabled for s in S.undo(back).strokes] == [True, True]
    assert S.clear_strokes(a).strokes == () and S.undo(S.clear_strokes(a)).strokes == a.strokes
    with pytest.raises(StrokeError, match="nothing to undo"):
        S.undo(ready)
    with pytest.raises(StrokeError, match="no stroke 5"):
        S.delete_stroke(a, 4)
    # A switched-off stroke renders as if it were not there.
    base = S.render(engine, ready, final=False).preview
    assert np.array_equal(S.render(engine, S.set_enabled(a, [False, False]), final=False).preview, base)
    assert not np.array_equal(S.render(engine, a, final=False).preview, base)


def test_sessions_are_small_deep_copyable_and_cpu_only(engine, ready):
    sq = S.mask_to_square(box_mask(192, 256, 0.2, 0.5, 0.3, 0.7), ready.photo, engine.resolution)
    stroke, s = S.make_stroke(engine, ready, sq, concept="tree", action="add", strength=0.8)
    s = S.add_stroke(s, stroke)
    clone = copy.deepcopy(s)
    assert clone.state.latent is not s.state.latent and torch.equal(clone.state.latent, s.state.latent)
    tensors = [v for v in (s.state.latent, s.state.features, *s.state.adapter.values())]
    assert all(t.device.type == "cpu" for t in tensors)
    assert not any(isinstance(v, torch.nn.Module) for v in vars(s.state).values())
    nbytes = sum(t.numel() * t.element_size() for t in tensors) + s.state.photo.original.nbytes
    assert nbytes < 8e6, f"session holds {nbytes / 1e6:.1f} MB"


def test_empty_masks_and_unknown_concepts_are_refused_with_what_to_do(engine, ready):
    empty = np.zeros((engine.resolution, engine.resolution), np.float32)
    with pytest.raises(StrokeError, match="mask is empty: paint"):
        S.make_stroke(engine, ready, empty, concept="tree", action="add", strength=0.5)
    sq = np.ones_like(empty)
    with pytest.raises(GanpaintError, match="this model knows: sky"):
        S.make_stroke(engine, ready, sq, concept="banana", action="add", strength=0.5)
    with pytest.raises(StrokeError, match="'add' or 'remove'"):
        S.make_stroke(engine, ready, sq, concept="tree", action="paint", strength=0.5)
    with pytest.raises(GanpaintError, match="no photo yet"):
        S.make_stroke(engine, S.EditSession(), sq, concept="tree", action="add", strength=0.5)


def test_the_final_render_keeps_every_pixel_outside_the_paste_region(engine, ready):
    mask = box_mask(192, 256, 0.0, 0.35, 0.2, 0.5)  # top-left part of the square
    sq = S.mask_to_square(mask, ready.photo, engine.resolution)
    stroke, s = S.make_stroke(engine, ready, sq, concept="tree", action="add", strength=1.0)
    s = S.add_stroke(s, stroke)
    result = S.render(engine, s, final=True)
    original = ready.photo.original
    assert result.final.shape == original.shape
    changed = (result.final != original).any(-1)
    assert changed[mask > 0].mean() > 0.3, "the edit should change the painted area"
    l, t, r, b = ready.photo.box
    region = Image.fromarray((result.region > 0).astype(np.uint8) * 255)
    region = np.asarray(region.resize((r - l, b - t), Image.Resampling.NEAREST))
    outside = np.ones(changed.shape, bool)
    outside[t:b, l:r] = region == 0
    grow = (r - l) // engine.resolution + 2  # bilinear upsampling of the region spreads it by one model pixel
    inside = dilate(~outside, grow)
    assert (~inside).any(), "the paste region should leave part of the photo untouched"
    assert not changed[~inside].any(), "pixels outside the paste region must be the original's, exactly"
    assert not changed[:, :l].any() and not changed[:, r:].any(), "the crop's margins are never touched"


def test_the_preview_shows_the_edit_in_the_display_copy(engine, ready):
    sq = S.mask_to_square(box_mask(192, 256, 0.2, 0.6, 0.3, 0.7), ready.photo, engine.resolution)
    stroke, s = S.make_stroke(engine, ready, sq, concept="tree", action="add", strength=1.0)
    result = S.render(engine, ready, pending=stroke, final=False)
    assert result.final is None
    shown = S.preview_image(ready, result)
    display = S.display_image(ready.photo)
    assert shown.shape == display.shape and max(shown.shape[:2]) == S.DISPLAY_SIDE
    assert not np.array_equal(shown, display)
    assert np.array_equal(shown[:, :40], display[:, :40])  # the crop margin is the photo's own


def test_the_sidecar_records_model_weights_strokes_parameters_and_timings(engine, ready):
    sq = S.mask_to_square(box_mask(192, 256, 0.2, 0.6, 0.3, 0.7), ready.photo, engine.resolution)
    stroke, s = S.make_stroke(engine, ready, sq, concept="grass", action="remove", strength=0.6)
    s = S.add_stroke(s, stroke)
    record = json.loads(json.dumps(S.sidecar(engine, s, S.render(engine, s))))
    assert record["model"] == "synth-church"
    assert record["weights_sha256"]["generator"] == engine.model.sha256["generator"]
    assert record["photo"] == {"name": "church", "size": [256, 192], "box": [32, 0, 224, 192], "fit": "crop"}
    (st,) = record["strokes"]
    assert (st["concept"], st["action"], st["strength"], st["enabled"]) == ("grass", "remove", 0.6, True)
    mask = np.asarray(Image.open(io.BytesIO(__import__("base64").b64decode(st["mask_png_base64"])))) / 255
    assert np.abs(mask - sq).max() <= 1 / 255
    assert record["parameters"]["inversion"]["latent_steps"] == 8 and "tail_s" in record["timings_s"]
    assert 0 < record["paste_region_share"] <= 1


# -- style ---------------------------------------------------------------------------------------------
def test_reference_style_is_analysed_once_per_concept_and_blended_by_strength(engine, ready):
    s = S.set_reference(engine, ready, scene_png(9_000_103), name="ref.png")
    assert s.reference is not None and s.reference.original.shape == (engine.resolution,) * 2 + (3,)
    half = S.StyleChoice(kind="reference", strength=0.5)
    levels, s2 = S.style_levels_for(engine, s, "tree", half)
    assert [c for c, _ in s2.reference_levels] == ["tree"]
    direct = engine.style_from_reference(s.reference, concept="tree", strength=0.5)
    assert np.allclose(levels, direct, atol=1e-5)
    _, s3 = S.style_levels_for(engine, s2, "tree", S.StyleChoice(kind="reference", strength=0.9))
    assert s3 is s2  # cached: no second inversion
    assert S.style_levels_for(engine, s, "tree", S.StyleChoice())[0] is None
    with pytest.raises(StrokeError, match="upload a reference"):
        S.style_levels_for(engine, ready, "tree", half)
    with pytest.raises(StrokeError, match="pick a sample"):
        S.style_levels_for(engine, ready, "tree", S.StyleChoice(kind="sample"))
    sample = S.style_levels_for(engine, ready, "tree", S.StyleChoice(kind="sample", seed=5, strength=1.0))[0]
    assert len(sample) == engine.concepts.num_units
    # A new photo on the same model keeps the reference; a stroke with it records where its look came from.
    again = S.open_photo(engine, scene_png(9_000_104), previous=s2)
    assert again.reference_name == "ref" and again.reference_levels == s2.reference_levels
    sq = np.zeros((engine.resolution,) * 2, np.float32)
    sq[5:20, 5:20] = 1
    stroke, _ = S.make_stroke(engine, again, sq, concept="tree", action="add", strength=0.7, style=half)
    assert stroke.stroke.style_levels is not None
    assert "your reference at 0.50" in S.stroke_labels(S.add_stroke(again, stroke))[0]


def test_concept_samples_are_the_ones_richest_in_the_concept(engine):
    samples = S.concept_samples(engine, "sky", count=4, pool=16)
    assert len(samples) == 4 and len({seed for seed, _ in samples}) == 4
    assert all(img.shape == (engine.resolution, engine.resolution, 3) and img.dtype == np.uint8 for _, img in samples)
    seeds = [seed for seed, _ in samples]
    _, imgs = S.generate_samples(engine, range(S.SAMPLE_SEED_BASE, S.SAMPLE_SEED_BASE + 16))
    labels = engine.model.segmenter.predict(imgs.clamp(-1, 1))
    shares = (labels == 1).float().mean(dim=(1, 2))  # label 1 is sky
    picked = shares[[s - S.SAMPLE_SEED_BASE for s in seeds]]
    assert picked.min() >= shares.sort(descending=True).values[3] - 1e-6
    assert list(picked) == sorted(picked, reverse=True)


# -- bad inputs ------------------------------------------------------------------------------------------
def test_bad_photos_are_refused_with_a_message_and_the_session_stays_usable(engine, ready):
    for source, message in ((b"this is not an image", "not an image"), (b"", "empty"),
                            (scene_png(9_000_105, (20, 20)), "too small"),
                            (scene_png(9_000_105)[:300], "truncated or corrupt")):
        with pytest.raises(PhotoError, match=message):
            S.open_photo(engine, source)
    huge = io.BytesIO()
    Image.new("L", (8200, 5000)).save(huge, format="PNG")
    with pytest.raises(PhotoError, match="41.0 MP, over the 40 MP limit"):
        S.open_photo(engine, huge.getvalue())
    assert S.render(engine, ready).final.shape == ready.photo.original.shape  # nothing about it changed


@pytest.mark.slow
def test_a_12_megapixel_photo_edits_at_full_size(engine):
    img = Image.fromarray(render_scene(9_000_106, resolution=256).image).resize((4000, 3000), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    s = S.open_photo(engine, buf.getvalue(), name="big.jpg")
    assert s.photo.size == (4000, 3000)
    shown = S.display_image(s.photo)
    assert shown.shape == (S.DISPLAY_SIDE * 3 // 4, S.DISPLAY_SIDE, 3)
    canvas = box_mask(384, 512, 0.3, 0.6, 0.4, 0.6)
    stroke, s = S.make_stroke(engine, s, S.mask_to_square(canvas, s.photo, engine.resolution), concept="tree",
                              action="add", strength=1.0)
    result = S.render(engine, S.add_stroke(s, stroke))
    assert result.final.shape == (3000, 4000, 3)
    assert np.array_equal(result.final[:, :450], s.photo.original[:, :450])  # the crop margin is untouched
    assert (result.final[1200:1700, 1700:2300] != s.photo.original[1200:1700, 1700:2300]).any()


def test_the_stateless_edit_returns_the_inputs_size(engine):
    mask = Image.fromarray((box_mask(150, 200, 0.2, 0.6, 0.3, 0.7) * 255).astype(np.uint8))
    buf = io.BytesIO()
    mask.save(buf, format="PNG")
    final, record = S.edit_photo(engine, scene_png(9_000_107, (300, 225)), buf.getvalue(), concept="tree",
                                 action="add", strength=0.9, style=scene_png(9_000_108), style_strength=0.5)
    assert final.shape == (225, 300, 3) and final.dtype == np.uint8
    assert record["strokes"][0]["style"]["kind"] == "reference"


# -- long jobs and models ------------------------------------------------------------------------------------
def test_jobs_report_progress_then_their_result_and_raise_their_errors():
    def work(cb):
        for i in range(5):
            cb(i + 1, 5, {"stage": "invert", "psnr": 20.0 + i})
            time.sleep(0.02)  # not a wait: the job's work, steps that take time while the caller polls
        return "done"

    updates = list(S.run_job(work, poll_s=0.01))
    assert updates[-1].done and updates[-1].result == "done"
    assert any(not u.done and u.info.get("stage") == "invert" for u in updates)
    assert S.describe_progress(S.JobUpdate(3, 5, {"stage": "adapt", "psnr": 31.25})) == \
        "Adapting the generator to the photo (3/5), PSNR 31.2 dB"

    def broken(cb):
        raise GanpaintError("the photo is broken")

    with pytest.raises(GanpaintError, match="broken"):
        list(S.run_job(broken, poll_s=0.01))


def test_closing_a_job_stops_its_work_at_the_next_callback():
    steps: list[int] = []
    finished = threading.Event()

    def work(cb):
        try:
            for i in range(1000):
                cb(i, 1000, {})
                steps.append(i)
                time.sleep(0.01)  # not a wait: the job's work, which the test stops part-way
        finally:
            finished.set()

    job = S.run_job(work, poll_s=0.02)
    next(job)
    next(job)
    job.close()  # what a web server does when the user presses Cancel
    assert finished.wait(2), "the job kept running after it was cancelled"
    assert len(steps) < 200


def test_an_abandoned_job_stops_by_itself():
    finished = threading.Event()

    def work(cb):
        try:
            for i in range(1000):
                cb(i, 1000, {})
                time.sleep(0.01)  # not a wait: the job's work (10 s in all), which must stop long before its end
        finally:
            finished.set()

    job = S.run_job(work, poll_s=0.01, orphan_s=0.2)
    next(job)  # then nobody asks again
    assert finished.wait(3)
    del job


def test_the_catalog_keeps_the_current_model_when_another_cannot_load(engine, isolated_env):
    catalog = S.EngineCatalog(engine)
    with pytest.raises(GanpaintError, match="unknown model 'nope'; known models:"):
        catalog.engine("nope")
    folder = isolated_env / "models" / "broken"
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({
        "name": "broken", "family": "progan", "resolution": 32, "latent_size": 16, "edit_layer": "layer4",
        "fine_layers": ["layer5"], "files": {"generator": {
            "filename": "g.safetensors", "format": "safetensors", "sha256": "0" * 64,
            "sources": [{"path": "g.safetensors"}]}}}))
    with pytest.raises(GanpaintError, match="is not available. Tried") as exc:
        catalog.engine("broken")
    assert "To supply it" in str(exc.value)
    assert catalog.loaded() == ["synth-church"] and catalog.engine("synth-church") is engine


def test_a_photo_moves_to_another_model_without_its_strokes(engine, ready):
    sq = np.zeros((engine.resolution,) * 2, np.float32)
    sq[3:9, 3:9] = 1
    stroke, s = S.make_stroke(engine, ready, sq, concept="tree", action="add", strength=0.7)
    moved = S.reprepare(engine, S.add_stroke(s, stroke))
    assert moved.strokes == () and moved.photo_name == "church"
    assert np.array_equal(moved.photo.original, ready.photo.original)
    assert dataclasses.asdict(S.StyleChoice()) == {"kind": "dictionary", "seed": None, "strength": 0.75}


def test_closing_the_photo_keeps_the_model_and_the_reference(engine, ready):
    with_ref = S.set_reference(engine, ready, scene_png(9_000_109), name="ref.png")
    closed = S.close_photo(with_ref)
    assert closed.state is None and closed.strokes == () and closed.model == "synth-church"
    assert closed.reference_name == "ref"
    with pytest.raises(GanpaintError, match="no photo yet"):
        S.render(engine, closed)
