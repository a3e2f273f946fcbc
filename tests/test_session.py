"""The app's session layer (gradio-free): masks from the canvas, the stroke stack, rendering through the one
edit path, records, style references, bad inputs, cancellable jobs and the shared model catalogue."""
from __future__ import annotations

import copy
import dataclasses
import io
import json
import time

import numpy as np
import pytest
import torch
from PIL import Image

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.photo import PhotoError, load_photo, mask_to_square
from ganpaint_core.edit.spec import StrokeSpec, StyleSpec
from ganpaint_core.edit.strokes import StrokeError
from ganpaint_core.page import session as S
from ganpaint_core.page.canvas import (
    DISPLAY_SIDE,
    canvas_image,
    display_image,
    mask_from_layers,
    preview_image,
    stroke_from_layers,
)
from ganpaint_core.page.catalog import SAMPLE_SEED_BASE, EngineCatalog, concept_samples, generate_samples
from ganpaint_core.page.jobs import JobBoard, JobUpdate, run_job
from ganpaint_core.page.text import describe_progress
from ganpaint_core.synth.scenes import render_scene
from tests.helpers import box_mask, dilate, make_engine, scene_png, wait_for


@pytest.fixture(scope="module")
def engine():
    torch.set_num_threads(1)
    return make_engine()


@pytest.fixture(scope="module")
def ready(engine):
    """A session on a 256×192 photo (crop mode), set up once."""
    return S.open_photo(engine, scene_png(9_000_101, (256, 192)), name="church.png")


def spec(engine, session, mask, **kw) -> StrokeSpec:
    """A checked stroke from a mask over the photo (any scale)."""
    kw.setdefault("strength", 0.8)
    sq = mask_to_square(mask, session.photo, engine.resolution)
    return S.check_stroke(engine, session, StrokeSpec(mask=sq, **kw))


# -- masks -------------------------------------------------------------------------------------------
def test_canvas_layers_become_a_binary_mask_from_their_alpha():
    layer = np.zeros((40, 60, 4), np.uint8)
    layer[5:10, 5:20] = (255, 0, 0, 140)  # a translucent brush
    layer[30, 30] = (255, 0, 0, 10)  # anti-aliasing fringe, below the threshold
    other = np.zeros((40, 60, 4), np.uint8)
    other[20:25, 40:50, 3] = 255
    mask = mask_from_layers([layer, None, other])
    assert mask.shape == (40, 60) and set(np.unique(mask)) == {0.0, 1.0}
    assert mask[5:10, 5:20].all() and mask[20:25, 40:50].all() and mask[30, 30] == 0
    assert mask.sum() == 5 * 15 + 5 * 10
    assert mask_from_layers([]) is None


def test_a_display_size_mask_maps_to_the_photos_square_by_ratio(engine, ready):
    photo = ready.photo  # 256×192 cropped to its centre 192×192 square
    s = engine.resolution
    full = box_mask(192, 256, 0.25, 0.75, 0.4, 0.6)  # centre of the photo
    half = Image.fromarray((full * 255).astype(np.uint8)).resize((128, 96), Image.Resampling.NEAREST)
    half = np.asarray(half) / 255.0
    a, b = mask_to_square(full, photo, s), mask_to_square(half, photo, s)
    box = photo.box
    direct = np.asarray(Image.fromarray((full[:, box.left:box.right] * 255).astype(np.uint8)).resize(
        (s, s), Image.Resampling.BOX), dtype=np.float32) / 255
    assert np.array_equal(a, direct)  # at full size: the crop, area-averaged to the model's square
    # The same place at any scale: only cells on the border are covered a little more or less.
    iou = ((a > 0.5) & (b > 0.5)).sum() / ((a > 0.5) | (b > 0.5)).sum()
    assert iou > 0.85 and abs(a.sum() - b.sum()) <= 0.03 * a.sum()
    ys, xs = np.nonzero(a > 0.5)
    assert abs(ys.mean() / s - 0.5) < 0.06 and abs(xs.mean() / s - 0.5) < 0.06
    # Paint left of the crop box is outside the square the model sees.
    assert mask_to_square(box_mask(192, 256, 0, 1, 0, 0.12), photo, s).max() == 0
    with pytest.raises(PhotoError, match="another shape"):
        mask_to_square(np.ones((100, 100), np.float32), photo, s)


def test_the_canvas_dims_what_the_model_does_not_see(ready):
    canvas, shown = canvas_image(ready.photo), display_image(ready.photo)
    side = DISPLAY_SIDE
    assert canvas.shape == shown.shape == (side * 3 // 4, side, 3)  # 256×192 shown at DISPLAY_SIDE on its longer side
    left, right = side // 8, side - side // 8  # the centre square: 32 px of 256 on each side are cropped off
    assert np.array_equal(canvas[:, left:right], shown[:, left:right])
    assert (canvas[:, :left - 2] != shown[:, :left - 2]).any() and (canvas[:, right + 2:] != shown[:, right + 2:]).any()


def test_padded_photos_map_masks_into_the_padded_square(engine):
    photo = load_photo(scene_png(9_000_102, (256, 128)), size=engine.resolution, fit="pad")
    sq = mask_to_square(np.ones((64, 128), np.float32), photo, engine.resolution)
    # The photo fills the middle half of the padded square's rows.
    rows = sq.mean(axis=1)
    assert rows[: engine.resolution // 4 - 1].max() == 0 and rows[engine.resolution // 2] == 1


def test_paint_outside_the_square_is_explained_and_a_blank_canvas_is_no_stroke(engine, ready):
    layer = np.zeros((300, 400, 4), np.uint8)
    assert stroke_from_layers([layer], ready.photo, resolution=engine.resolution, concept="tree", action="add",
                              strength=0.5) is None
    layer[:, :30, 3] = 255  # in the cropped-off margin
    with pytest.raises(StrokeError, match="outside the bright square"):
        stroke_from_layers([layer], ready.photo, resolution=engine.resolution, concept="tree", action="add",
                           strength=0.5)


# -- strokes and the stack ---------------------------------------------------------------------------
def test_the_stroke_stack_adds_toggles_deletes_and_undoes_without_touching_older_sessions(engine, ready):
    box = box_mask(192, 256, 0.2, 0.5, 0.3, 0.7)
    one = spec(engine, ready, box, concept="tree", action="add")
    two = spec(engine, ready, box, concept="dome", action="remove", strength=0.5)
    a = S.add_stroke(S.add_stroke(ready, one), two)
    assert len(ready.strokes) == 0 and len(a.strokes) == 2
    labels = S.stroke_labels(a)
    assert labels[0].startswith("1 · add tree") and labels[1].startswith("2 · remove dome") and len(set(labels)) == 2
    off = S.toggle_stroke(a, 0)
    assert [s.enabled for s in off.strokes] == [False, True] and a.strokes[0].enabled
    gone = S.delete_stroke(off, 1)
    assert [s.concept for s in gone.strokes] == ["tree"]
    back = S.undo(gone)
    assert [s.concept for s in back.strokes] == ["tree", "dome"] and not back.strokes[0].enabled
    assert [s.enabled for s in S.undo(back).strokes] == [True, True]
    assert S.clear_strokes(a).strokes == () and S.undo(S.clear_strokes(a)).strokes == a.strokes
    with pytest.raises(StrokeError, match="nothing to undo"):
        S.undo(ready)
    with pytest.raises(StrokeError, match="no stroke 5"):
        S.delete_stroke(a, 4)
    # A switched-off stroke renders as if it were not there.
    base = S.render(engine, ready, final=False).result.preview
    assert np.array_equal(S.render(engine, S.set_enabled(a, [False, False]), final=False).result.preview, base)
    assert not np.array_equal(S.render(engine, a, final=False).result.preview, base)


def test_sessions_are_small_deep_copyable_and_cpu_only(engine, ready):
    s = S.add_stroke(ready, spec(engine, ready, box_mask(192, 256, 0.2, 0.5, 0.3, 0.7), concept="tree", action="add"))
    clone = copy.deepcopy(s)
    assert clone.state.latent is not s.state.latent and torch.equal(clone.state.latent, s.state.latent)
    tensors = [v for v in (s.state.latent, s.state.features, *s.state.adapter.values())]
    assert all(t.device.type == "cpu" for t in tensors)
    assert not any(isinstance(v, torch.nn.Module) for v in vars(s.state).values())
    nbytes = sum(t.numel() * t.element_size() for t in tensors) + s.state.photo.original.nbytes
    assert nbytes < 8e6, f"session holds {nbytes / 1e6:.1f} MB"


def test_bad_strokes_are_refused_with_what_to_do(engine, ready):
    empty = np.zeros((engine.resolution, engine.resolution), np.float32)
    sq = np.ones_like(empty)
    cases = [(dict(mask=empty, concept="tree", action="add"), "mask is empty: paint"),
             (dict(mask=sq, concept="banana", action="add"), "this model knows: sky"),
             (dict(mask=sq, concept="tree", action="paint"), "'add' or 'remove'"),
             (dict(mask=sq, concept="tree", action="add", strength=float("nan")), "strength must be a number"),
             (dict(mask=sq, concept="tree", action="add", strength="0.5"), "strength must be a number"),
             (dict(mask=sq, concept="tree", action="add", style=StyleSpec(kind="sample", seed=3, strength=float("nan"))),
              "style strength must be a number in \\[0, 1\\], got nan"),
             (dict(mask=sq, concept="tree", action="add", style=StyleSpec(kind="sample", seed=3, strength=5)),
              "style strength must be a number in \\[0, 1\\], got 5"),
             (dict(mask=sq, concept="x" * 1_000_000, action="add"), "characters\\)")]
    for kw, message in cases:
        kw.setdefault("strength", 0.5)
        with pytest.raises(GanpaintError, match=message) as exc:
            S.check_stroke(engine, ready, StrokeSpec(**kw))
        assert len(str(exc.value)) < 400  # a huge value is never echoed whole
    with pytest.raises(GanpaintError, match="no photo yet"):
        S.check_stroke(engine, S.EditSession(), StrokeSpec(mask=sq, concept="tree", action="add"))


def test_the_final_render_keeps_every_pixel_outside_the_paste_region(engine, ready):
    mask = box_mask(192, 256, 0.0, 0.35, 0.2, 0.5)  # top-left part of the square
    s = S.add_stroke(ready, spec(engine, ready, mask, concept="tree", action="add", strength=1.0))
    result = S.render(engine, s, final=True).result
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
    stroke = spec(engine, ready, box_mask(192, 256, 0.2, 0.6, 0.3, 0.7), concept="tree", action="add", strength=1.0)
    result = S.render(engine, ready, pending=stroke, final=False).result
    assert result.final is None
    shown = preview_image(ready.photo, result)
    display = display_image(ready.photo)
    assert shown.shape == display.shape and max(shown.shape[:2]) == DISPLAY_SIDE
    assert not np.array_equal(shown, display)
    assert np.array_equal(shown[:, :40], display[:, :40])  # the crop margin is the photo's own


def test_the_record_holds_model_weights_strokes_parameters_and_timings(engine, ready):
    mask = box_mask(192, 256, 0.2, 0.6, 0.3, 0.7)
    s = S.add_stroke(ready, spec(engine, ready, mask, concept="grass", action="remove", strength=0.6))
    record = json.loads(json.dumps(S.render(engine, s).record))
    assert record["format"] == "ganpaint-edit/2" and record["model"] == "synth-church"
    assert record["weights_sha256"]["generator"] == engine.model.sha256["generator"]
    assert record["photo"] == {"name": "church", "size": [256, 192], "box": [32, 0, 224, 192], "fit": "crop"}
    (st,) = record["strokes"]
    assert (st["concept"], st["action"], st["strength"], st["enabled"]) == ("grass", "remove", 0.6, True)
    mask_back = np.asarray(Image.open(io.BytesIO(__import__("base64").b64decode(st["mask_png_base64"])))) / 255
    assert np.abs(mask_back - s.strokes[0].mask).max() <= 1 / 255
    assert record["parameters"]["inversion"]["latent_steps"] == 8 and "tail_s" in record["timings_s"]
    assert record["parameters"]["lpips"] is False  # this engine runs without LPIPS, and says so
    assert 0 < record["paste_region_share"] <= 1


# -- style ---------------------------------------------------------------------------------------------
def test_reference_style_is_analysed_once_per_concept_and_blended_by_strength(engine, ready):
    s = S.set_reference(engine, ready, scene_png(9_000_103), name="ref.png")
    assert s.reference is not None and s.reference.image.original.shape == (engine.resolution,) * 2 + (3,)
    half = StyleSpec(kind="reference", strength=0.5, reference=s.reference)
    before = len(engine.styles)
    levels = engine.style_levels(half, "tree")
    assert len(engine.styles) == before + 1
    full = engine.style_levels(dataclasses.replace(half, strength=1.0), "tree")
    assert len(engine.styles) == before + 1  # cached: no second inversion
    default = np.asarray(engine.concepts.levels)
    assert np.allclose(levels, 0.5 * default + 0.5 * np.asarray(full), atol=1e-5)
    assert engine.style_levels(StyleSpec(), "tree") is None
    assert engine.style_levels(dataclasses.replace(half, strength=0.0), "tree") is None
    with pytest.raises(StrokeError, match="upload a reference"):
        engine.style_levels(StyleSpec(kind="reference", strength=0.5), "tree")
    with pytest.raises(StrokeError, match="pick a sample"):
        engine.style_levels(StyleSpec(kind="sample"), "tree")
    sample = engine.style_levels(StyleSpec(kind="sample", seed=5, strength=1.0), "tree")
    assert len(sample) == engine.concepts.num_units
    # A new photo on the same model keeps the reference; a stroke with it says where its look came from.
    again = S.open_photo(engine, scene_png(9_000_104), previous=s)
    assert again.reference == s.reference
    sq = np.zeros((engine.resolution,) * 2, np.float32)
    sq[5:20, 5:20] = 1
    stroke = StrokeSpec(mask=sq, concept="tree", action="add", strength=0.7, style=half)
    assert "reference ref at 0.50" in S.stroke_labels(S.add_stroke(again, stroke))[0]
    assert S.render(engine, S.add_stroke(again, stroke)).strokes[0].style_levels == levels


def test_template_concepts_blend_a_style_with_the_templates_mean(engine):
    """Dome, door and brick draw from templates: a style at strength s moves them from the template's mean."""
    from ganpaint_core.edit.style import default_levels

    for concept in ("dome", "door"):
        template = engine.concepts.template(concept)
        assert template is not None
        full = np.asarray(engine.style_levels(StyleSpec(kind="sample", seed=7, strength=1.0), concept))
        half = np.asarray(engine.style_levels(StyleSpec(kind="sample", seed=7, strength=0.5), concept))
        mean = template.mean(dim=(1, 2)).numpy()
        assert np.allclose(default_levels(engine.concepts, concept).numpy(), mean)
        assert np.allclose(half, 0.5 * mean + 0.5 * full, atol=1e-5)


def test_concept_samples_are_the_ones_richest_in_the_concept(engine):
    samples = concept_samples(engine, "sky", count=4, pool=16)
    assert len(samples) == 4 and len({seed for seed, _ in samples}) == 4
    assert all(img.shape == (engine.resolution, engine.resolution, 3) and img.dtype == np.uint8 for _, img in samples)
    seeds = [seed for seed, _ in samples]
    _, imgs = generate_samples(engine, range(SAMPLE_SEED_BASE, SAMPLE_SEED_BASE + 16))
    labels = engine.model.segmenter.predict(imgs.clamp(-1, 1))
    shares = (labels == engine.model.segmenter.labels.index("sky")).float().mean(dim=(1, 2))
    picked = shares[[s - SAMPLE_SEED_BASE for s in seeds]]
    assert picked.min() >= shares.sort(descending=True).values[3] - 1e-6
    assert list(picked) == sorted(picked, reverse=True)


def test_changing_the_concept_generates_no_new_samples(engine, monkeypatch):
    import ganpaint_core.page.catalog as C

    catalog = EngineCatalog(engine)
    calls = []
    real = C.generate_samples
    monkeypatch.setattr(C, "generate_samples", lambda e, seeds: calls.append(len(seeds)) or real(e, seeds))
    first = catalog.concept_samples(catalog.default_name, "sky")
    again = concept_samples(engine, "sky")  # the same choice as without a catalog
    made = len(calls)
    assert made > 0 and [s for s, _ in first] == [s for s, _ in again]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, again))
    for concept in engine.concepts.names():
        assert len(catalog.concept_samples(catalog.default_name, concept)) == 6
    assert len(calls) == made  # every other concept ranked the same pool


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
    with pytest.raises(PhotoError, match="^style reference: not an image"):
        S.set_reference(engine, ready, b"not an image either")
    assert S.render(engine, ready).result.final.shape == ready.photo.original.shape  # nothing about it changed


@pytest.mark.slow
def test_a_12_megapixel_photo_edits_at_full_size(engine):
    img = Image.fromarray(render_scene(9_000_106, resolution=256).image).resize((4000, 3000), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    s = S.open_photo(engine, buf.getvalue(), name="big.jpg")
    assert s.photo.size == (4000, 3000)
    shown = display_image(s.photo)
    assert shown.shape == (DISPLAY_SIDE * 3 // 4, DISPLAY_SIDE, 3)
    stroke = spec(engine, s, box_mask(384, 512, 0.3, 0.6, 0.4, 0.6), concept="tree", action="add", strength=1.0)
    result = S.render(engine, S.add_stroke(s, stroke)).result
    assert result.final.shape == (3000, 4000, 3)
    assert np.array_equal(result.final[:, :450], s.photo.original[:, :450])  # the crop margin is untouched
    assert (result.final[1200:1700, 1700:2300] != s.photo.original[1200:1700, 1700:2300]).any()


def test_a_photo_set_up_once_is_not_set_up_again(engine):
    png = scene_png(9_000_110)
    calls: list[str] = []
    first = S.open_photo(engine, png, callback=lambda step, total, info: calls.append(info.get("stage")))
    assert calls, "the first setup reports its progress"
    calls.clear()
    second = S.open_photo(engine, png, callback=lambda step, total, info: calls.append(info.get("stage")))
    assert calls == [] and "set up before" in second.state.notes[-1]
    assert torch.equal(first.state.features, second.state.features) and first.state.adapter.keys() == \
        second.state.adapter.keys()


# -- long jobs and models ------------------------------------------------------------------------------------
def test_jobs_report_progress_then_their_result_and_raise_their_errors():
    def work(cb):
        for i in range(5):
            cb(i + 1, 5, {"stage": "invert", "psnr": 20.0 + i})
            time.sleep(0.02)  # not a wait: the job's work, steps that take time while the caller polls
        return "done"

    updates = list(run_job(work, poll_s=0.01))
    assert updates[-1].done and updates[-1].result == "done"
    assert any(not u.done and u.info.get("stage") == "invert" for u in updates)
    assert describe_progress(JobUpdate(3, 5, {"stage": "adapt", "psnr": 31.25})) == \
        "Fitting the model to your photo (3/5), PSNR 31.2 dB"

    def broken(cb):
        raise GanpaintError("the photo is broken")

    with pytest.raises(GanpaintError, match="broken"):
        list(run_job(broken, poll_s=0.01))


def test_closing_a_job_stops_its_work_at_the_next_callback():
    steps: list[int] = []
    board = JobBoard()

    def work(cb):
        for i in range(1000):
            cb(i, 1000, {})
            steps.append(i)
            time.sleep(0.01)  # not a wait: the job's work, which the test stops part-way

    updates = run_job(work, poll_s=0.02, board=board)
    next(updates)
    (job,) = board.running()  # the handle of the job just started
    next(updates)
    updates.close()  # what a web server does when the user presses Cancel
    assert job.cancelled and job.finished.wait(2), "the job kept running after it was cancelled"
    assert len(steps) < 200 and board.running() == []


def test_an_abandoned_job_stops_by_itself():
    board = JobBoard()

    def work(cb):
        for i in range(1000):
            cb(i, 1000, {})
            time.sleep(0.01)  # not a wait: the job's work (10 s in all), which must stop long before its end

    updates = run_job(work, poll_s=0.01, orphan_s=0.2, board=board)
    next(updates)  # then nobody asks again
    (job,) = board.running()
    assert job.finished.wait(3)
    wait_for(lambda: not board.running(), timeout=1)
    del updates


def test_the_catalog_keeps_the_current_model_when_another_cannot_load(engine, isolated_env):
    catalog = EngineCatalog(engine)
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
    stroke = S.check_stroke(engine, ready, StrokeSpec(mask=sq, concept="tree", action="add", strength=0.7))
    moved = S.reprepare(engine, S.add_stroke(ready, stroke))
    assert moved.strokes == () and moved.photo_name == "church"
    assert np.array_equal(moved.photo.original, ready.photo.original)


def test_closing_the_photo_keeps_the_model_and_the_reference(engine, ready):
    with_ref = S.set_reference(engine, ready, scene_png(9_000_109), name="ref.png")
    closed = S.close_photo(with_ref)
    assert closed.state is None and closed.strokes == () and closed.model == "synth-church"
    assert closed.reference.name == "ref"
    with pytest.raises(GanpaintError, match="no photo yet"):
        S.render(engine, closed)
