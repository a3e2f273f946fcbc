"""Segment inversion (one latent code per segment): masks, the optimisation's guarantee, and the option
through the API, the CLI, records and the page."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganpaint_core.cli import main as cli
from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.caches import EditCaches
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.invert import InversionConfig, invert
from ganpaint_core.edit.pipeline import edit_photo
from ganpaint_core.edit.segments import SegmentConfig, SegmentError, invert_segments, model_segment, segment_masks
from ganpaint_core.edit.spec import EditOptions, StrokeSpec
from ganpaint_core.edit.strokes import StrokeError
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.page import UNCHANGED, EditPage, PageUpdate
from ganpaint_core.page.session import EditSession
from ganpaint_core.page.share import restore, share_bundle
from tests.helpers import box_mask, make_engine, scene_png, tiny_loaded_model

QUICK = SegmentConfig(joint_steps=6)


def test_masks_sum_to_one_and_follow_the_label_map():
    labels = torch.zeros(64, 64, dtype=torch.long)
    labels[:24] = 1  # "sky" on top
    labels[40:, :32] = 3  # "grass" bottom left
    labels[40:44, 60:] = 7  # a sliver of "door", below min_share: joins a neighbour
    names8 = ("other", "sky", "cloud", "grass", "tree", "brick", "dome", "door")
    masks, names, shares = segment_masks(labels, grid=16, cfg=SegmentConfig(softness=0.5), label_names=names8)
    assert masks.shape == (3, 1, 16, 16) and set(names) == {"sky", "other", "grass"}
    assert torch.allclose(masks.sum(0), torch.ones(1, 16, 16), atol=1e-5)
    assert abs(sum(shares) - 1) < 1e-3 and "door" not in names
    sky, grass = masks[names.index("sky"), 0], masks[names.index("grass"), 0]
    assert sky[:4].mean() > 0.9 and sky[12:].max() < 0.05  # top rows are sky, bottom rows are not
    assert grass[13:, :6].mean() > 0.9 and grass[13:, 10:].max() < 0.05
    hard, _, _ = segment_masks(labels, grid=16, cfg=SegmentConfig(softness=0))
    assert set(hard[:, 0, 0, 0].tolist()) == {0.0, 1.0}  # no blur: a corner cell is one segment's alone


def test_without_a_segmenter_the_grid_is_used_and_one_label_falls_back_to_it():
    masks, names, shares = segment_masks(None, grid=8, cfg=SegmentConfig(grid=(2, 3), softness=0))
    assert masks.shape == (6, 1, 8, 8) and names[0] == "row 1 col 1" and len(shares) == 6
    assert torch.allclose(masks.sum(0), torch.ones(1, 8, 8))
    assert masks[0, 0, 0, 0] == 1 and masks[5, 0, 7, 7] == 1
    one_label = torch.full((32, 32), 5)
    assert len(segment_masks(one_label, grid=8, cfg=SegmentConfig(grid=(2, 2)))[1]) == 4
    with pytest.raises(SegmentError, match="grid"):
        segment_masks(None, grid=8, cfg=SegmentConfig(grid=(0, 2)))


def first_inversion():
    """A tiny model's generator and edit layer, a random image and its quick first inversion."""
    model = tiny_loaded_model()
    G, layer = model.generator, model.manifest.edit_layer
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    return G, layer, image, invert(G, image, layer=layer, cfg=InversionConfig(latent_steps=4, joint_steps=4,
                                                                              candidates=2))


def test_segment_inversion_never_returns_a_lower_psnr_than_the_first():
    G, layer, image, first = first_inversion()
    seg = invert_segments(G, image, layer=layer, first=first, cfg=QUICK)
    assert seg.inversion.psnr >= first.psnr and len(seg.names) == 4  # the 2×2 grid: no segmenter
    assert torch.equal(seg.inversion.latent, first.latent)  # the tail keeps the first inversion's latent
    assert seg.inversion.psnr > first.psnr  # and here it gains
    # A rate that blows up: the best state seen is the first inversion itself, never worse.
    wild = invert_segments(G, image, layer=layer, first=first, cfg=dataclasses.replace(QUICK, latent_lr=1e6,
                                                                                       residual_lr=1e6))
    assert wild.inversion.psnr >= first.psnr


def test_optimised_masks_still_sum_to_one_move_and_never_cost_psnr():
    G, layer, image, first = first_inversion()
    fixed = invert_segments(G, image, layer=layer, first=first, cfg=QUICK)
    moved = invert_segments(G, image, layer=layer, first=first, cfg=dataclasses.replace(
        QUICK, mask_lr=0.2, mask_smoothness=0.1, mask_entropy=0.01, encoder_every=3))
    assert moved.masks.shape == fixed.masks.shape and moved.masks.min() >= 0
    assert torch.allclose(moved.masks.sum(0), torch.ones_like(moved.masks[0]), atol=1e-5)
    assert (moved.masks - fixed.masks).abs().max() > 1e-3  # the masks were optimised, not kept as cut
    assert moved.inversion.psnr >= first.psnr and moved.codes.shape == (4, *first.latent.shape[1:])
    with pytest.raises(SegmentError, match="encoder_every"):
        SegmentConfig(encoder_every=0).check()
    with pytest.raises(SegmentError, match="mask_lr"):
        SegmentConfig(mask_lr=-1).check()


def test_the_codes_only_render_and_the_residual_share_measure_what_they_name():
    from ganpaint_core.bench.segments import codes_only_psnr, residual_share

    model = tiny_loaded_model()
    G, layer = model.generator, model.manifest.edit_layer
    z = G.sample_latents(1, seed=3)
    with torch.no_grad():
        image = G(z)
    head, _ = G.split(layer)
    # A render of the generator is reached by its own code with no residual: a very high PSNR, and share 0.
    assert codes_only_psnr(G, image, layer=layer, masks=torch.ones(1, 1, 1, 1), codes=z, latent=z) > 60
    other = G.sample_latents(1, seed=4)
    assert codes_only_psnr(G, image, layer=layer, masks=torch.ones(1, 1, 1, 1), codes=other, latent=z) < 40
    features = head(z).detach()
    from ganpaint_core.edit.invert import Inversion

    none = Inversion(latent=z, features=features, residual=torch.zeros_like(features), psnr=0.0, seconds=0.0)
    half = dataclasses.replace(none, residual=features / 2)
    assert residual_share(none) == 0 and abs(residual_share(half) - 0.5) < 1e-4


@pytest.fixture(scope="module")
def engine() -> EditEngine:
    base = make_engine()  # the app's model: it has a segmenter and an encoder
    return EditEngine(base.model, inversion=base.inversion_cfg, adaptation=base.adapt_cfg, segments=QUICK,
                      use_lpips=False, caches=EditCaches(setup_store=None))


@pytest.fixture(scope="module")
def photo(engine):
    return load_photo(scene_png(9_000_701, (96, 80)), size=engine.resolution)


def _spec(engine) -> StrokeSpec:
    return StrokeSpec(mask=box_mask(engine.resolution, engine.resolution, 0.3, 0.7, 0.3, 0.7), concept="tree",
                      action="add", strength=0.9)


def test_edit_photo_with_segments_edits_and_the_setup_cache_tells_the_modes_apart(engine, photo):
    single = edit_photo(engine, photo, [_spec(engine)], options=EditOptions(adapt=False))
    seg = edit_photo(engine, photo, [_spec(engine)], options=EditOptions(adapt=False, invert="segments"))
    assert seg.state.invert == "segments" and single.state.invert == "single"
    assert "segments_s" in seg.state.timings and "segments_s" not in single.state.timings
    assert any(n.startswith("segment inversion: ") for n in seg.state.notes)
    assert seg.state.recon_psnr_before >= single.state.recon_psnr_before
    assert not torch.equal(seg.state.features, single.state.features)
    assert (seg.result.preview != seg.result.base).any()  # the stroke changed the render
    assert seg.record["options"]["invert"] == "segments" and "segments" in seg.record["parameters"]
    again = engine.prepare(photo, adapt=False, invert="segments")
    assert torch.equal(again.features, seg.state.features) and again.invert == "segments"
    assert any("set up before" in n for n in again.notes)


def test_a_bad_invert_value_is_refused_with_a_clear_message(engine, photo):
    for bad in ("bogus", None, 3):
        with pytest.raises(StrokeError, match="invert must be 'single'.*or 'segments'"):
            edit_photo(engine, photo, [_spec(engine)], options=EditOptions(invert=bad))
    with pytest.raises(SegmentError, match="invert must be one of single, segments"):
        engine.prepare(photo, invert="chunky")


def test_a_record_with_segments_round_trips_and_an_old_one_loads_as_single(engine, photo):
    out = edit_photo(engine, photo, [_spec(engine)], options=EditOptions(adapt=False, invert="segments"))
    bundle = json.loads(json.dumps(share_bundle(engine, out.state, [_spec(engine)], options=EditOptions(
        adapt=False, invert="segments"), record=out.record)))
    _, specs, options = restore(engine, bundle)
    assert options.invert == "segments" and not options.adapt and len(specs) == 1
    assert EditOptions.from_json(out.record["options"]) == EditOptions(adapt=False, invert="segments")
    old = bundle | {"options": {"fit": "crop", "adapt": True, "refit": False}}  # a record from before the option
    assert restore(engine, old)[2].invert == "single"
    with pytest.raises(StrokeError, match="invert must be"):
        restore(engine, bundle | {"options": {"invert": "chunks"}})


def _cli_files(tmp_path):
    photo, mask = tmp_path / "church.png", tmp_path / "mask.png"
    photo.write_bytes(scene_png(9_000_702, (96, 80)))
    Image.fromarray((box_mask(80, 96, 0.3, 0.7, 0.3, 0.7) * 255).astype(np.uint8)).save(mask)
    return ["edit", "--image", str(photo), "--mask", str(mask), "--concept", "tree", "--action", "add",
            "--no-adapt", "--out", str(tmp_path / "out.png"), "--report", str(tmp_path / "r.json")]


def test_the_cli_refuses_a_bogus_invert_in_one_line(tmp_path, capsys):
    assert cli.main([*_cli_files(tmp_path), "--invert", "bogus"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invert must be 'single'" in err and not (tmp_path / "out.png").exists()


@pytest.mark.slow  # the CLI's full-length inversion, then segments: a minute or more on a busy 2-core CPU
def test_the_cli_takes_invert_segments(tmp_path):
    assert cli.main([*_cli_files(tmp_path), "--invert", "segments"]) == 0
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["options"]["invert"] == "segments" and "segments_s" in record["timings_s"]
    assert np.asarray(Image.open(tmp_path / "out.png")).shape == (80, 96, 3)


def test_the_page_opens_a_photo_with_segments_and_renders_with_them(engine, tmp_path):
    page = EditPage(engine, out_dir=tmp_path / "renders")
    path = tmp_path / "church.png"
    path.write_bytes(scene_png(9_000_703, (96, 80)))
    items = list(page.open_photo(EditSession(model=page.default_model), str(path), name="c.png", invert="segments"))
    assert isinstance(items[-1], PageUpdate) and all(isinstance(i, JobUpdate) for i in items[:-1])
    session = items[-1].session
    assert session.state.invert == "segments" and "segments_s" in session.state.timings
    bad = list(page.open_photo(session, str(path), name="c.png", invert="chunks"))
    assert "invert must be" in bad[-1].status and bad[-1].session is UNCHANGED  # the loaded photo stays


def test_model_segment_names_the_segmenter_or_none():
    assert model_segment(tiny_loaded_model()) == (None, None)
