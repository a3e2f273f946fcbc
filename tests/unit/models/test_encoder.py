"""The latent encoder network: shapes, batch independence, size checks and its file."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from ganpaint_core.core.errors import CheckpointError
from ganpaint_core.models.encoder import Encoder, load_encoder, save_encoder, to_sphere

WIDTHS = (16, 32, 64)  # three halvings: 32 px -> 4x4, the tiny generator's resolution


pytestmark = pytest.mark.usefixtures("one_thread")  # small convs run fastest single-threaded


def test_encoder_output_shape_and_norm():
    torch.manual_seed(0)
    enc = Encoder(resolution=32, latent_size=16, widths=WIDTHS)
    z = enc(torch.rand(5, 3, 32, 32) * 2 - 1)
    assert z.shape == (5, 16)
    torch.testing.assert_close(z.norm(dim=1), torch.full((5,), 4.0))  # sqrt(16)


def test_encoder_output_does_not_depend_on_the_rest_of_the_batch():
    torch.manual_seed(0)
    enc = Encoder(resolution=32, latent_size=16, widths=WIDTHS).train()
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(enc(x)[:1], enc(x[:1]), rtol=1e-5, atol=1e-5)


def test_encoder_refuses_wrong_sizes_with_a_fix():
    with pytest.raises(ValueError, match="needs 3 widths"):
        Encoder(resolution=32, latent_size=16, widths=(8, 16))
    enc = Encoder(resolution=32, latent_size=16, widths=WIDTHS)
    with pytest.raises(ValueError, match="resize to 32x32"):
        enc(torch.zeros(1, 3, 64, 64))


def test_to_sphere_keeps_direction_and_sets_norm():
    z = torch.randn(3, 16) * 7
    s = to_sphere(z)
    torch.testing.assert_close(s.norm(dim=1), torch.full((3,), 4.0))
    torch.testing.assert_close(F.cosine_similarity(s, z), torch.ones(3))


def test_save_load_round_trip_is_identical(tmp_path: Path):
    torch.manual_seed(1)
    enc = Encoder(resolution=32, latent_size=16, widths=WIDTHS)
    path = tmp_path / "enc.safetensors"
    save_encoder(enc, path)
    loaded = load_encoder(path)
    assert not loaded.training
    assert (loaded.resolution, loaded.latent_size, loaded.widths) == (32, 16, WIDTHS)
    for key, value in enc.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), enc(x))


def test_load_refuses_files_that_are_not_encoders(tmp_path: Path):
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(CheckpointError, match="save_encoder"):
        load_encoder(other)
    with pytest.raises(CheckpointError, match="no such file"):
        load_encoder(tmp_path / "missing.safetensors")
