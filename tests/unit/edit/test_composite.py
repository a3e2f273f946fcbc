"""The composite keeps the photo: exact pixels outside the change, its own detail around the stroke, the
render's content (and no ghost) inside, changes never far from the stroke, tone matching off at 0."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganpaint_core.core.metrics import band_detail, changed_margin, distance_to, seam_ratio
from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.composite import (
    CompositeConfig,
    change_region,
    composite,
    outline_changed,
    paste_alpha,
    upsample,
)

S = 16  # model square of these tests


def _photo(width: int = 240, height: int = 160, seed: int = 0, size: int = S):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    sky = np.stack([60 + 0.2 * y, 90 + 0.2 * y, 200 - 0.3 * y], -1)  # a smooth gradient...
    detail = rng.normal(0, 12, (height, width, 1))  # ...with fine grain the render cannot draw
    img = np.clip(sky + detail, 0, 255).astype(np.uint8)
    return load_photo(Image.fromarray(img), size=size)


def _renders(photo, *, change: float = 0.0):
    """(base, edited) [S, S, 3] float: the photo's square at model resolution, and it with a dark block
    painted at rows/cols 6..10 plus ``change`` levels everywhere (the tail's receptive field at its worst)."""
    base = (photo.model_image[0].permute(1, 2, 0).numpy() + 1) * 127.5
    edited = base + change
    edited[6:10, 6:10] = (20, 90, 30)
    painted = np.zeros((S, S), np.float32)
    painted[6:10, 6:10] = 1
    return base.astype(np.float32), np.clip(edited, 0, 255).astype(np.float32), painted


def _stroke_px(photo, painted):
    box = photo.box
    big = np.asarray(Image.fromarray((painted > 0).astype(np.uint8)).resize((box.side,) * 2, Image.Resampling.NEAREST))
    return box.place(big > 0, *photo.original.shape[:2])


def test_pixels_outside_the_region_are_the_photos_exactly_and_changed_says_which_differ():
    photo = _photo()
    base, edited, painted = _renders(photo, change=30.0)
    out = composite(photo, edited=edited, base=base, painted=painted)
    outside = paste_alpha(photo, change_region(painted, reach=CompositeConfig().reach)) == 0
    assert outside.mean() > 0.7
    assert np.array_equal(out.image[outside], photo.original[outside])
    assert np.array_equal(out.changed, (out.image != photo.original).any(-1))
    assert out.changed[_stroke_px(photo, painted)].mean() > 0.9


def test_changes_never_reach_farther_than_006_of_the_side_even_when_the_render_moved_everywhere():
    photo = _photo()
    base, edited, painted = _renders(photo, change=60.0)
    out = composite(photo, edited=edited, base=base, painted=painted)
    stroke = _stroke_px(photo, painted)
    side = photo.box.side
    assert distance_to(stroke)[out.changed].max() <= 0.06 * side
    assert changed_margin(out.image, photo.original, stroke, side=side) <= 0.06


def test_the_photos_detail_stays_around_the_stroke_and_no_seam_shows():
    photo = _photo()
    base, edited, painted = _renders(photo, change=10.0)
    out = composite(photo, edited=edited, base=base, painted=painted)
    stroke = _stroke_px(photo, painted)
    assert band_detail(out.image, photo.original, stroke, side=photo.box.side) > 0.9
    assert seam_ratio(out.image, photo.original, stroke) < 1.5


def test_inside_the_stroke_the_render_replaces_the_photo_so_a_removed_outline_leaves_no_ghost():
    photo = _photo()  # 240×160: the square is columns 40..200; the stroke covers square pixels 60..100
    original = photo.original.copy()
    original[70:90, 110:130] = 255  # a bright object under the stroke, with sharp edges the render lacks
    photo = type(photo)(original=original, model_image=photo.model_image, box=photo.box, fit=photo.fit)
    base, edited, painted = _renders(photo)
    out = composite(photo, edited=edited, base=base, painted=painted)
    render = np.clip(upsample(edited, 160, (66, 66, 94, 94)).round(), 0, 255)  # well inside the stroke
    assert np.abs(out.image[66:94, 106:134].astype(float) - render).max() <= 1


def test_upsampling_never_overshoots_and_keeps_constants():
    rng = np.random.default_rng(1)
    square = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
    big = upsample(square, 64, (0, 0, 64, 64))
    assert big.min() >= square.min() - 1e-4 and big.max() <= square.max() + 1e-4  # no ringing
    assert np.allclose(upsample(np.full((8, 8, 1), 7.0, np.float32), 50, (0, 0, 50, 50)), 7.0)
    assert np.array_equal(upsample(square, 64, (10, 5, 30, 40)), big[5:40, 10:30])  # a window is a slice


def test_tone_zero_is_off_and_tone_needs_the_latents_render():
    photo = _photo()
    base, edited, painted = _renders(photo)
    plain = composite(photo, edited=edited, base=base, painted=painted).image  # nothing added: no tone matching
    bright = base * 2.0  # the generator's own light: twice as bright as the photo
    assert np.array_equal(composite(photo, edited=edited, base=base, painted=painted, added=painted,
                                    latent_render=bright, cfg=CompositeConfig(tone=0.0)).image, plain)
    assert not np.array_equal(composite(photo, edited=edited, base=base, painted=painted, added=painted,
                                        latent_render=bright, cfg=CompositeConfig(tone=0.5)).image, plain)
    with pytest.raises(ValueError, match="latent_render"):
        composite(photo, edited=edited, base=base, painted=painted, added=painted, cfg=CompositeConfig(tone=0.5))


def test_tone_matching_moves_the_content_into_the_photos_light():
    photo = _photo()
    base, edited, painted = _renders(photo)
    bright = np.clip(base * 1.6 + 10, 0, 255)  # the generator renders this scene brighter than the photo is
    stroke = _stroke_px(photo, painted)
    luma = lambda img: (img[stroke].astype(float) @ [0.299, 0.587, 0.114]).mean()  # noqa: E731
    means = [luma(composite(photo, edited=edited, base=base, painted=painted, added=painted, latent_render=bright,
                            cfg=CompositeConfig(tone=t)).image) for t in (0.0, 0.5, 1.0)]
    assert means[0] > means[1] > means[2]  # darker as the tone control rises


def test_outline_is_drawn_just_outside_the_changed_area():
    image = np.zeros((40, 50, 3), np.uint8)
    changed = np.zeros((40, 50), bool)
    changed[10:20, 15:30] = True
    out = outline_changed(image, changed, colour=(255, 0, 0), width=2)
    drawn = (out != 0).any(-1)
    assert not drawn[changed].any()
    assert drawn[8, 20] and drawn[21, 20] and drawn[15, 13] and not drawn[0, 0]
    with pytest.raises(ValueError, match="changed is"):
        outline_changed(image, changed[:10])


def test_distance_to_is_exact_and_the_measures_are_neutral_on_the_photo_itself():
    rng = np.random.default_rng(3)
    mask = rng.random((23, 31)) > 0.97
    ys, xs = np.nonzero(mask)
    yy, xx = np.mgrid[0:23, 0:31]
    brute = np.sqrt(((yy[..., None] - ys) ** 2 + (xx[..., None] - xs) ** 2).min(-1))
    assert np.allclose(distance_to(mask), brute, atol=1e-4)
    pooled = distance_to(mask, max_side=8)  # a pooled grid of 4-px cells: off by at most one cell's diagonal
    assert np.abs(brute - pooled).max() <= 4 * 2**0.5 + 1e-4
    photo = _photo().original
    stroke = np.zeros(photo.shape[:2], bool)
    stroke[50:90, 80:140] = True
    assert changed_margin(photo, photo, stroke, side=160) == 0
    assert band_detail(photo, photo, stroke, side=160) == pytest.approx(1.0)
    assert seam_ratio(photo, photo, stroke) == pytest.approx(1.0)


def test_the_engine_reports_the_changed_area_and_keeps_it_near_the_stroke():
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig
    from tests.helpers import tiny_loaded_model

    torch.manual_seed(0)
    engine = EditEngine(tiny_loaded_model(), inversion=InversionConfig(latent_steps=5, joint_steps=5, candidates=2),
                        adaptation=AdaptConfig(steps=10), use_lpips=False)
    photo = _photo(width=192, height=128, size=64)
    state = engine.prepare(photo)
    mask = np.zeros((128, 192), np.float32)
    mask[40:80, 60:110] = 1
    result = engine.render(state, [engine.stroke(mask, concept="tree", action="add", strength=1.0, photo=photo)])
    assert np.array_equal(result.changed, (result.final != photo.original).any(-1))
    assert result.changed.any() and distance_to(mask > 0)[result.changed].max() <= 0.06 * photo.box.side
    assert result.base.shape == result.preview.shape and result.painted.shape == (64, 64)
    assert np.array_equal(result.added, result.painted)
    assert result.latent_render is not None and result.latent_render.shape == result.preview.shape  # default tone
    plain = engine.render(state, [engine.stroke(mask, concept="tree", action="add", strength=1.0, photo=photo)],
                          composite_cfg=CompositeConfig(tone=0.0))
    assert plain.latent_render is None  # tone off: no extra tail pass
    removed = engine.render(state, [engine.stroke(mask, concept="tree", action="remove", strength=1.0, photo=photo)])
    assert removed.latent_render is None and not removed.added.any()  # tone matching moves added content only
    # The latent's own render is a function of the photo's latent: one generator pass per photo, not per edit.
    heads = []
    engine.head = lambda z, _head=engine.head: heads.append(z) or _head(z)
    again = engine.render(state, [engine.stroke(mask * 0.5, concept="tree", action="add", strength=1.0, photo=photo)])
    assert heads == [] and np.array_equal(again.latent_render, result.latent_render)
    other = engine.prepare(_photo(width=128, height=128, seed=1, size=64))
    engine.render(other, [engine.stroke(mask[:, :128], concept="tree", action="add", strength=1.0, photo=other.photo)])
    assert len(heads) == 1  # another photo: its own


def test_the_paste_back_in_bands_gives_the_pixels_of_one_pass(monkeypatch):
    """Bands of a few rows (a 40-MP photo's paste-back in ~50 MB steps) change no pixel: each is computed alone."""
    from ganpaint_core.edit import composite as C

    photo = _photo(240, 160, seed=3)
    base, edited, painted = _renders(photo, change=12.0)
    whole = composite(photo, edited=edited, base=base, painted=painted, added=painted, latent_render=base * 0.9)
    monkeypatch.setattr(C, "BAND_PIXELS", 500)  # 3-4 rows at a time
    banded = composite(photo, edited=edited, base=base, painted=painted, added=painted, latent_render=base * 0.9)
    assert len(C._bands((0, 0, 160, 160))) > 40
    assert np.array_equal(whole.image, banded.image) and np.array_equal(whole.changed, banded.changed)
