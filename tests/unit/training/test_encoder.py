"""Encoder training on tiny generators: it leaves the generator alone, learns, resumes and refuses
what it cannot use."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from ganpaint_core.models.encoder import Encoder, to_sphere
from ganpaint_core.synth.scenes import render_batch
from ganpaint_core.training.encoder import EncoderConfig, reconstruction_psnr, train_encoder
from tests.helpers import tiny_generator

WIDTHS = (16, 32, 64)  # three halvings: 32 px -> 4x4, the tiny generator's resolution


pytestmark = pytest.mark.usefixtures("one_thread")  # small convs run fastest single-threaded


@pytest.fixture(scope="module")
def renders() -> np.ndarray:
    images, _ = render_batch(range(1_000_000, 1_000_024), resolution=32)
    return images


def tiny_config(**overrides) -> EncoderConfig:
    return EncoderConfig(**{"widths": WIDTHS, "steps": 4, "batch": 8, "lr": 2e-3, **overrides})


def test_training_never_changes_the_generator(tmp_path: Path, renders: np.ndarray):
    G = tiny_generator(0)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    flags = [p.requires_grad for p in G.parameters()]
    train_encoder(tiny_config(steps=3), G, renders=renders, edit_layer="layer4", out_dir=tmp_path)
    for key, value in G.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert [p.requires_grad for p in G.parameters()] == flags
    assert all(p.grad is None for p in G.parameters())
    assert not G.training


def test_checkpoint_loads_with_weights_only(tmp_path: Path):
    train_encoder(tiny_config(steps=2), tiny_generator(0), renders=None, edit_layer="layer4", out_dir=tmp_path)
    payload = torch.load(tmp_path / "encoder.pt", weights_only=True)
    assert payload["step"] == 2 and payload["edit_layer"] == "layer4"


def test_short_training_lowers_latent_error_and_raises_psnr(tmp_path: Path, renders: np.ndarray):
    G = tiny_generator(0)
    z = to_sphere(G.sample_latents(64, seed=123))  # held out: training draws latents from (seed, step)
    with torch.no_grad():
        x = G(z)
    cfg = tiny_config(steps=60, batch=16, lr=3e-3)
    torch.manual_seed(cfg.seed)
    untrained = Encoder(resolution=32, latent_size=16, widths=WIDTHS).eval()
    trained = train_encoder(cfg, G, renders=renders, edit_layer="layer4", out_dir=tmp_path)
    with torch.no_grad():
        err0, err1 = F.mse_loss(untrained(x), z).item(), F.mse_loss(trained(x), z).item()
    psnr0, psnr1 = reconstruction_psnr(untrained, G, x), reconstruction_psnr(trained, G, x)
    assert err1 < 0.6 * err0, (err0, err1)
    assert psnr1 > psnr0 + 1.5, (psnr0, psnr1)


class Interrupted(Exception):
    pass


def test_resume_continues_from_the_checkpoint_step(tmp_path: Path, renders: np.ndarray):
    G = tiny_generator(0)
    cfg = tiny_config(steps=6)

    def stop_at_3(step: int, total: int, info: dict) -> None:
        if step == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_encoder(cfg, G, renders=renders, edit_layer="layer4", out_dir=tmp_path / "a",
                      checkpoint_every_s=0.0, callback=stop_at_3)
    saved = torch.load(tmp_path / "a" / "encoder.pt", weights_only=True)["step"]
    assert saved == 3

    seen: list[int] = []
    resumed = train_encoder(cfg, G, renders=renders, edit_layer="layer4", out_dir=tmp_path / "a",
                            callback=lambda step, total, info: seen.append(step))
    assert seen == [4, 5, 6]

    # Batches come from (seed, step) and the optimiser state is restored: same result as one unbroken run.
    straight = train_encoder(cfg, G, renders=renders, edit_layer="layer4", out_dir=tmp_path / "b")
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-5, atol=1e-6)

    seen.clear()  # a finished checkpoint is loaded, not retrained
    again = train_encoder(cfg, G, renders=renders, edit_layer="layer4", out_dir=tmp_path / "a",
                          callback=lambda step, total, info: seen.append(step))
    assert seen == []
    for key, value in resumed.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key


def test_resume_refuses_a_checkpoint_of_another_generator(tmp_path: Path):
    cfg = tiny_config(steps=2)
    train_encoder(cfg, tiny_generator(0), renders=None, edit_layer="layer4", out_dir=tmp_path)
    with pytest.raises(ValueError, match="resume=False"):
        train_encoder(cfg, tiny_generator(1), renders=None, edit_layer="layer4", out_dir=tmp_path)
    enc = train_encoder(cfg, tiny_generator(1), renders=None, edit_layer="layer4", out_dir=tmp_path, resume=False)
    with torch.no_grad():
        assert math.isfinite(float(enc(torch.zeros(1, 3, 32, 32)).sum()))


def test_train_encoder_refuses_renders_of_the_wrong_size(tmp_path: Path):
    wrong = np.zeros((4, 64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match=r"uint8 \[N, 32, 32, 3\]"):
        train_encoder(tiny_config(), tiny_generator(0), renders=wrong, edit_layer="layer4", out_dir=tmp_path)
