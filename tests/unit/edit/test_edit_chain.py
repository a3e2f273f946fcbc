"""The edit chain on a tiny seeded ProGAN: inversion, adaptation, add / remove strokes, strength, styles,
refit, templates and refusals."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ganpaint_core.core.errors import ConceptDictionaryError
from ganpaint_core.core.photo import PhotoError, load_photo
from ganpaint_core.edit.adapt import AdaptConfig
from ganpaint_core.edit.composite import paste_alpha
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.invert import InversionConfig, invert
from ganpaint_core.edit.strokes import StrokeError, apply_strokes
from ganpaint_core.hub.concepts import ConceptDictionary
from ganpaint_core.synth.scenes import render_scene
from tests.helpers import tiny_loaded_model

FAST_INV = InversionConfig(latent_steps=20, joint_steps=30, candidates=4)
FAST_ADAPT = AdaptConfig(steps=60, refit_steps=10)


@pytest.fixture(scope="module")
def engine() -> EditEngine:
    torch.manual_seed(0)
    return EditEngine(tiny_loaded_model(), inversion=FAST_INV, adaptation=FAST_ADAPT, use_lpips=False)


@pytest.fixture(scope="module")
def photo():
    img = render_scene(5_000_123, resolution=160).image  # a held-out seed, cropped to a 160×120 "photo"
    return load_photo(_to_png(np.ascontiguousarray(img[:120])), size=64)


def _to_png(arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def state(engine, photo):
    return engine.prepare(photo)


def _mask(photo, box=(40, 30, 90, 80)) -> np.ndarray:
    m = np.zeros(photo.original.shape[:2], np.float32)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = 1
    return m


def test_adaptation_reproduces_the_photo_better_than_inversion(state):
    assert state.recon_psnr_after > state.recon_psnr_before + 1.0
    assert set(state.timings) == {"invert_s", "adapt_s"}


def test_state_is_small_cpu_and_deep_copyable(engine, state):
    twin = engine.copy_state(state)
    assert twin is not state and torch.equal(twin.features, state.features)
    assert all(v.device.type == "cpu" for v in state.adapter.values())


def test_edit_changes_inside_and_keeps_the_original_exactly_outside(engine, photo, state):
    stroke = engine.stroke(_mask(photo), concept="tree", action="add", strength=1.0, photo=photo)
    result = engine.render(state, [stroke])
    assert result.final.shape == photo.original.shape
    diff = np.abs(result.final.astype(int) - photo.original.astype(int)).max(axis=-1)
    assert diff[30:80, 40:90].mean() > 1.0  # something changed under the stroke
    # Outside the paste-back region (mapped to the photo), pixels are the original's, bit for bit.
    outside = paste_alpha(photo, result.region) == 0
    assert outside.sum() > 0.3 * outside.size  # the region stays local to the stroke
    assert not outside[30:80, 40:90].any()  # and covers it
    assert (diff[outside] == 0).all()


def test_strength_zero_empty_mask_and_disabled_strokes_are_no_ops(engine, photo, state):
    base = engine.render(state, []).final
    assert np.array_equal(base, photo.original)
    zero = engine.stroke(_mask(photo), concept="tree", action="add", strength=0.0, photo=photo)
    empty = engine.stroke(np.zeros(photo.original.shape[:2], np.float32), concept="tree", action="add", photo=photo)
    off = dataclasses.replace(engine.stroke(_mask(photo), concept="tree", action="add", photo=photo), enabled=False)
    for stroke in (zero, empty, off):
        result = engine.render(state, [stroke])
        assert np.array_equal(result.final, photo.original)
    assert any("mask is empty" in n for n in empty.notes)


def test_add_moves_units_towards_their_level_and_remove_to_zero(engine, state):
    d: ConceptDictionary = engine.concepts
    mask = np.ones((64, 64), np.float32)
    add = engine.stroke(mask, concept="tree", action="add", strength=1.0)
    remove = engine.stroke(mask, concept="tree", action="remove", strength=1.0)
    f = state.features
    units = list(d.top_units("tree", 12))
    added = apply_strokes(f, [add], d)
    assert torch.allclose(added[0, units], torch.tensor(d.levels)[units].view(-1, 1, 1).expand(-1, 8, 8))
    removed = apply_strokes(f, [remove], d)
    assert removed[0, list(d.top_units("tree", 24))].abs().max() == 0
    untouched = [u for u in range(32) if u not in d.top_units("tree", 24)]
    assert torch.equal(removed[0, untouched], f[0, untouched])


def test_remove_uses_the_dictionarys_removal_ranking_when_it_has_one(engine, state):
    from ganpaint_core.hub.concepts import ConceptRanking

    base: ConceptDictionary = engine.concepts
    erasers = (31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8)
    d = dataclasses.replace(base, removal={"tree": ConceptRanking("ace-remove", erasers, (1.0,) * 24)})
    mask = np.ones((64, 64), np.float32)
    removed = apply_strokes(state.features, [engine.stroke(mask, concept="tree", action="remove", strength=0.5)], d)
    changed = (removed != state.features).flatten(2).any(-1)[0].nonzero().flatten().tolist()
    assert changed == sorted(erasers[:12])  # ceil(0.5 · 24) units of the removal ranking, not the main one
    added = apply_strokes(state.features, [engine.stroke(mask, concept="tree", action="add", strength=0.5)], d)
    changed = (added != state.features).flatten(2).any(-1)[0].nonzero().flatten().tolist()
    assert changed == sorted(base.top_units("tree", 6))


def test_strength_sets_how_many_units_and_how_far(engine, state):
    d = engine.concepts
    mask = np.ones((64, 64), np.float32)
    weak = apply_strokes(state.features, [engine.stroke(mask, concept="tree", action="remove", strength=0.25)], d)
    changed = (weak != state.features).flatten(2).any(-1)[0].nonzero().flatten().tolist()
    assert changed == sorted(d.top_units("tree", 6))  # ceil(0.25 · 24) units
    assert torch.allclose(weak[0, changed], state.features[0, changed] * 0.5)  # min(1, 2 · 0.25) of the way


def test_two_references_give_different_styles(engine, photo, state):
    mask = _mask(photo)
    a = engine.style_from_sample(1, concept="tree", strength=1.0)
    b = engine.style_from_sample(2, concept="tree", strength=1.0)
    assert a != b
    ra = engine.render(state, [engine.stroke(mask, concept="tree", action="add", strength=1.0, style=a, photo=photo)])
    rb = engine.render(state, [engine.stroke(mask, concept="tree", action="add", strength=1.0, style=b, photo=photo)])
    assert np.abs(ra.preview.astype(int) - rb.preview.astype(int)).mean() > 0.5
    assert engine.style_from_sample(1, concept="tree", strength=0.0) == pytest.approx(engine.concepts.levels)


def test_bad_strokes_are_refused_with_what_to_do(engine, photo):
    mask = _mask(photo)
    with pytest.raises(ConceptDictionaryError, match="knows: tree, dome"):
        engine.stroke(mask, concept="unicorn", action="add", photo=photo)
    for strength in (-0.1, 1.5, float("nan")):
        with pytest.raises(StrokeError, match=r"strength must be a number in \[0, 1\]"):
            engine.stroke(mask, concept="tree", action="add", strength=strength, photo=photo)
    with pytest.raises(StrokeError, match="action must be"):
        engine.stroke(mask, concept="tree", action="paint", photo=photo)
    with pytest.raises(PhotoError, match=r"another shape\); paint on this photo's canvas or give a mask of the photo's size"):
        engine.stroke(np.ones((10, 10), np.float32), concept="tree", action="add", photo=photo)


def test_a_model_square_mask_of_another_size_is_resized_and_noted(engine):
    stroke = engine.stroke(np.ones((100, 100), np.float32), concept="tree", action="add")
    assert stroke.mask.shape == (64, 64) and any("resized" in n for n in stroke.notes)


def test_non_finite_loss_stops_and_keeps_the_last_good_state(engine):
    image = torch.zeros(1, 3, 64, 64)
    image[..., :8, :8] = float("nan")
    result = invert(engine.model.generator, image, layer="layer4", cfg=FAST_INV)
    assert result.stopped and "non-finite" in result.stopped
    assert torch.isfinite(result.latent).all() and torch.isfinite(result.features).all()


def test_refit_keeps_the_outside_close_to_the_photo(engine, photo, state):
    stroke = engine.stroke(_mask(photo), concept="tree", action="add", strength=1.0, photo=photo)
    plain = engine.render(state, [stroke], final=False)
    refit = engine.render(state, [stroke], final=False, refit=True)
    assert refit.preview.shape == plain.preview.shape
    assert not np.array_equal(refit.preview, plain.preview)


def test_an_add_of_a_template_concept_writes_the_template_over_the_strokes_box(engine, state):
    from ganpaint_core.hub.concepts import ConceptTemplate

    base: ConceptDictionary = engine.concepts
    pattern = torch.arange(32 * 2 * 2, dtype=torch.float32).view(32, 2, 2) / 10
    d = dataclasses.replace(base, templates={"dome": ConceptTemplate(2, tuple(pattern.flatten().tolist()))})
    mask = np.zeros((64, 64), np.float32)
    mask[16:32, 24:40] = 1  # cells 2..3 × 3..4 of the 8×8 grid: the template's own size
    f = state.features
    added = apply_strokes(f, [engine.stroke(mask, concept="dome", action="add", strength=1.0)], d)
    assert torch.allclose(added[0, :, 2:4, 3:5], pattern)  # every unit, the template's pattern
    outside = torch.ones(8, 8, dtype=torch.bool)
    outside[2:4, 3:5] = False
    assert torch.equal(added[0][:, outside], f[0][:, outside])
    half = apply_strokes(f, [engine.stroke(mask, concept="dome", action="add", strength=0.25)], d)
    assert torch.allclose(half[0, :, 2:4, 3:5], (f[0, :, 2:4, 3:5] + pattern) / 2, atol=1e-6)
    removed = apply_strokes(f, [engine.stroke(mask, concept="dome", action="remove", strength=1.0)], d)
    assert removed[0, list(d.top_units("dome", 24)), 2:4, 3:5].abs().max() == 0  # remove still zeroes units
    # A reference style moves each unit's template by its style level minus the template's mean.
    style = tuple(float(v) for v in pattern.mean(dim=(1, 2)) + 1)
    styled = apply_strokes(f, [engine.stroke(mask, concept="dome", action="add", strength=1.0, style=style)], d)
    assert torch.allclose(styled[0, :, 2:4, 3:5], pattern + 1)
    wide = mask.copy()
    wide[16:32, 8:56] = 1  # a box of 2 × 6 cells: the template is stretched over it
    stretched = apply_strokes(f, [engine.stroke(wide, concept="dome", action="add", strength=1.0)], d)
    assert stretched.shape == f.shape and not torch.equal(stretched[0, :, 2:4, 1:7], f[0, :, 2:4, 1:7])
