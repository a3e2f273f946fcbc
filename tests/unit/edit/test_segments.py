"""Segment inversion (one latent code per segment) on a tiny model: masks and the optimisation's guarantee."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from ganpaint_core.edit.invert import InversionConfig, invert
from ganpaint_core.edit.segments import SegmentConfig, SegmentError, invert_segments, model_segment, segment_masks
from tests.helpers import tiny_loaded_model

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


def test_model_segment_names_the_segmenter_or_none():
    assert model_segment(tiny_loaded_model()) == (None, None)
