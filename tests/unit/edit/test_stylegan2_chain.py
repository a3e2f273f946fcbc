"""The edit chain on a tiny seeded StyleGAN2: W+ inversion, adaptation, edits, style and refit."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import (
    tiny_stylegan2_model,
)


# -- the edit chain ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine():
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig

    return EditEngine(tiny_stylegan2_model(), inversion=InversionConfig(latent_steps=20, joint_steps=30),
                      adaptation=AdaptConfig(steps=60, refit_steps=5), use_lpips=False)


@pytest.fixture(scope="module")
def photo():
    from PIL import Image

    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.synth.scenes import render_scene

    img = render_scene(5_000_321, resolution=128).image[:96]  # a held-out scene as a 128×96 "photo"
    return load_photo(Image.fromarray(np.ascontiguousarray(img)), size=64)


@pytest.fixture(scope="module")
def state(engine, photo):
    return engine.prepare(photo)


def test_inversion_optimises_wplus_from_latent_avg_and_adaptation_helps(engine, photo, state):
    from ganpaint_core.edit.invert import InversionConfig, invert

    G = engine.model.generator
    assert state.latent.shape == (1, G.n_latent, 16) and state.features.shape == (1, 32, 8, 8)
    start = invert(G, photo.model_image, layer="convs.1", cfg=InversionConfig(latent_steps=0, joint_steps=0))
    assert torch.equal(start.latent, G.initial_latent())  # no encoder: the mean w in every row
    assert not torch.equal(state.latent, start.latent)  # the rows were optimised
    assert state.recon_psnr_before > start.psnr
    assert state.recon_psnr_after > state.recon_psnr_before + 1.0


def test_an_encoders_z_starts_inversion_in_wplus(engine, photo):
    from ganpaint_core.edit.invert import InversionConfig, invert

    G = engine.model.generator
    z = G.sample_latents(1, seed=9)

    class FixedZ(torch.nn.Module):  # an encoder to z that always answers this z
        latent_space = "z"

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return z

    result = invert(G, photo.model_image, layer="convs.1", encoder=FixedZ(),
                    cfg=InversionConfig(latent_steps=0, joint_steps=0))
    torch.testing.assert_close(result.latent, G.to_wplus(G.mapping(z)))


def test_edit_changes_inside_and_keeps_the_photo_exactly_outside(engine, photo, state):
    from ganpaint_core.edit.composite import paste_alpha

    h, w = photo.original.shape[:2]
    mask = np.zeros((h, w), np.float32)
    mask[36:60, 52:76] = 1  # about one cell of the 8×8 edit grid
    result = engine.render(state, [engine.stroke(mask, concept="tree", action="add", strength=1.0, photo=photo)])
    assert result.final.shape == photo.original.shape
    diff = np.abs(result.final.astype(int) - photo.original.astype(int)).max(axis=-1)
    assert diff[36:60, 52:76].mean() > 1.0
    outside = paste_alpha(photo, result.region) == 0
    assert not outside[36:60, 52:76].any()
    assert outside[:, 16:112].sum() > 0.3 * outside[:, 16:112].size  # also inside the model's square
    assert (diff[outside] == 0).all()
    zero = engine.stroke(mask, concept="tree", action="add", strength=0.0, photo=photo)
    assert np.array_equal(engine.render(state, [zero]).final, photo.original)


def test_style_and_refit_run_through_the_same_engine(engine, photo, state):
    a = engine.style_from_sample(1, concept="tree", strength=1.0)
    b = engine.style_from_sample(2, concept="tree", strength=1.0)
    assert a != b and len(a) == 32
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1
    stroke = engine.stroke(mask, concept="tree", action="remove", strength=1.0)
    plain = engine.render(state, [stroke], final=False)
    refit = engine.render(state, [stroke], final=False, refit=True)
    assert not np.array_equal(plain.preview, refit.preview)
    styled = engine.render(state, [engine.stroke(mask, concept="tree", action="add", strength=1.0, style=a)],
                           final=False)
    assert styled.preview.shape == (64, 64, 3)
