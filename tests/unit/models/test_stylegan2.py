"""The StyleGAN2 generator on tiny seeded configs: loading and refusals by key, mapping and synthesis,
the head/tail split at named layers, and the bundled manifest's stylegan2-church entry."""
from __future__ import annotations

import argparse
import re

import numpy as np
import pytest
import torch

from ganpaint_core.analysis.nethook import Trace
from ganpaint_core.core.errors import CheckpointError
from ganpaint_core.models.checkpoint import read_checkpoint
from ganpaint_core.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator, upfirdn2d
from tests.helpers import (
    REPO,
    TINY_STYLEGAN2,
    tiny_stylegan2,
    tiny_stylegan2_checkpoint,
)


def test_kernel_buffers_are_the_normalised_outer_product():
    G = StyleGAN2Generator(TINY_STYLEGAN2)
    expected = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 16
    assert torch.equal(G.convs[0].conv.blur.kernel, expected) and torch.equal(G.to_rgbs[0].upsample.kernel, expected)
    assert G.noises.noise_2.shape == (1, 1, 8, 8) and G.noises.noise_8.shape == (1, 1, 64, 64)


def test_missing_unexpected_and_misshapen_keys_are_refused_by_name(tmp_path):
    from ganpaint_core.hub.loading import load_generator_file

    good = tiny_stylegan2_checkpoint()
    cases = {
        "missing keys: noises.noise_3": lambda s: s.pop("noises.noise_3"),
        "unexpected keys: convs.0.extra": lambda s: s.__setitem__("convs.0.extra", torch.zeros(1)),
        "wrong shapes: convs.5.activate.bias (7,) (expected (16,))": lambda s: s.__setitem__(
            "convs.5.activate.bias", torch.zeros(7)),
    }
    for expected, damage in cases.items():
        state = dict(good["g_ema"])
        damage(state)
        with pytest.raises(ValueError, match=re.escape(expected)):
            StyleGAN2Generator.from_state_dict({"g_ema": state, "latent_avg": good["latent_avg"]})
        path = tmp_path / "broken.pt"
        torch.save({"g_ema": state}, path)
        with pytest.raises(CheckpointError, match=r"broken.pt: does not load strictly as a stylegan2 generator \(its keys "
                           r"describe a 64px generator with widths \[32, 32, 32, 16, 8\]; " + re.escape(expected)):
            load_generator_file(path)
    with pytest.raises(ValueError, match="'latent_avg' has 3 values"):
        StyleGAN2Generator.from_state_dict({"g_ema": good["g_ema"], "latent_avg": torch.zeros(3)})
    with pytest.raises(ValueError, match="holds 'g' but no 'g_ema'"):
        StyleGAN2Generator.from_state_dict({"g": good["g_ema"]})


def test_family_comes_from_the_keys_not_the_file_name(tmp_path):
    from ganpaint_core.hub.loading import load_generator_file

    path = tmp_path / "proggan_churchoutdoor.pth"  # a misleading name
    torch.save(tiny_stylegan2_checkpoint(), path)
    G = load_generator_file(path)
    assert isinstance(G, StyleGAN2Generator)
    with pytest.raises(CheckpointError, match="holds a stylegan2 generator, the manifest says progan"):
        load_generator_file(path, family="progan")


def test_a_training_checkpoint_is_refused_with_a_conversion_that_works(tmp_path):
    from ganpaint_core.hub.loading import load_generator_file

    ckpt = tiny_stylegan2_checkpoint()
    path = tmp_path / "train-050000.pt"
    torch.save({**ckpt, "g": ckpt["g_ema"], "args": argparse.Namespace(size=64)}, path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert "weights_only=True" in message and "argparse.Namespace" in message
    # The message's snippet converts the file; what it writes loads safely and renders the same images.
    snippet = "\n".join(line[4:] for line in message.splitlines() if line.startswith("    "))
    exec(snippet, {})  # noqa: S102 - the test runs the advice it gives users, on its own file
    converted = tmp_path / "train-050000-weights.safetensors"
    G = load_generator_file(converted)
    ref = StyleGAN2Generator.from_state_dict(ckpt)
    z = ref.sample_latents(2, seed=0)
    with torch.no_grad():
        assert torch.equal(G(z, truncation=0.5), ref(z, truncation=0.5))
    assert G.latent_avg_source == "checkpoint"


def test_without_latent_avg_the_mean_w_stands_in():
    G = StyleGAN2Generator.from_state_dict(tiny_stylegan2_checkpoint()["g_ema"])  # a flat g_ema state dict
    assert G.latent_avg_source == "estimated"
    torch.testing.assert_close(G.latent_avg, G.mean_latent(4096, seed=0)[0])


@pytest.mark.parametrize("config", [
    StyleGAN2Config(resolution=8, channels=(8, 8), style_dim=8, n_mlp=1),
    StyleGAN2Config(resolution=32, channels=(16, 16, 8, 8), style_dim=8, n_mlp=3),
    TINY_STYLEGAN2,
])
def test_any_power_of_two_resolution_round_trips(config):
    G = tiny_stylegan2(config=config)
    assert StyleGAN2Generator.config_from_state_dict(G.state_dict()) == config
    assert G.n_latent == 2 * int(np.log2(config.resolution)) - 2
    with torch.no_grad():
        assert G(torch.randn(2, config.style_dim)).shape == (2, 3, config.resolution, config.resolution)


def test_upfirdn2d_upsamples_a_constant_to_a_constant():
    k = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 16
    x = torch.ones(1, 2, 6, 6)
    up = upfirdn2d(x, k, up=2, pad=(2, 1))
    assert up.shape == (1, 2, 12, 12)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.ones(1, 2, 8, 8))  # away from the zero padding
    assert upfirdn2d(x, k / 4, pad=(1, 2), down=2).shape == (1, 2, 3, 3)


# -- latent spaces and noise ------------------------------------------------------------------------------
def test_z_w_and_wplus_inputs_agree_and_truncation_pulls_to_latent_avg():
    G = tiny_stylegan2()
    z = G.sample_latents(3, seed=1)
    with torch.no_grad():
        image = G(z)
        w = G.mapping(z)
        assert w.shape == (3, 16) and G.to_wplus(w).shape == (3, G.n_latent, 16)
        assert torch.equal(G.synthesize(w), image) and torch.equal(G.synthesize(G.to_wplus(w)), image)
        assert torch.equal(G(z), image)  # stored noise: the same latent always renders the same image
        mean_image = G.synthesize(G.initial_latent())
        torch.testing.assert_close(G(z, truncation=0.0), mean_image.expand(3, -1, -1, -1))
        mixed = G.to_wplus(w).clone()
        mixed[:, 6:] = w.flip(0)[:, None]  # fine styles from another sample
        assert not torch.allclose(G.synthesize(mixed), image)
        fresh = G.random_noise(3, seed=5)
        assert torch.equal(G(z, noise=fresh), G(z, noise=G.random_noise(3, seed=5)))
        assert not torch.allclose(G(z, noise=fresh), image)
    with pytest.raises(ValueError, match=r"W\+ must be \[N, 10, 16\]"):
        G.synthesize(torch.zeros(1, 3, 16))
    with pytest.raises(ValueError, match="noise must be a list of 9 maps"):
        G(z, noise=fresh[:2])


@pytest.mark.parametrize("layer", ["conv1", "convs.0", "convs.1", "convs.4", "convs.6", "convs.7"])
def test_head_tail_split_equals_the_full_synthesis(layer):
    G = tiny_stylegan2()
    z = G.sample_latents(2, seed=2)
    wplus = G.to_wplus(G.mapping(z)) + 0.3 * torch.randn(2, G.n_latent, 16, generator=torch.Generator().manual_seed(0))
    head, tail = G.split(layer)
    shapes = {n: (c, s) for n, c, s in G.layer_shapes()}
    with torch.no_grad():
        for latent, image in ((z, G(z)), (wplus, G.synthesize(wplus))):
            features = head(latent)
            assert features.shape == (2, *shapes[layer][:1], shapes[layer][1], shapes[layer][1])
            torch.testing.assert_close(tail(features, latent), image, rtol=1e-5, atol=1e-5)
            seen = []
            out = tail.run(features, latent=latent, modify=lambda name, x: seen.append(name) or x)
            torch.testing.assert_close(out, image, rtol=1e-5, atol=1e-5)
            after = [n for n, _, _ in G.layer_shapes()]
            assert seen == after[after.index(layer) + 1:]  # every later layer, the output last
    assert head.generator is G and tail.generator.convs[7] is G.convs[7]  # shared weights, no copy


def test_split_refuses_unknown_layers_and_a_tail_without_latent():
    G = tiny_stylegan2()
    with pytest.raises(ValueError, match="choose one of conv1, convs.0"):
        G.split("to_rgbs.4")
    head, tail = G.split("convs.1")
    z = torch.randn(1, 16)
    with pytest.raises(ValueError, match=r"needs the latent its features came from: run_tail\(tail, features, latent="):
        tail(head(z))


def test_layers_are_hookable_by_dotted_name():
    G = tiny_stylegan2()
    z = G.sample_latents(1, seed=0)
    with torch.no_grad():
        before = G(z)
        with Trace(G, "convs.3") as t:
            G(z)
        assert t.output.shape == (1, 32, 16, 16)
        with Trace(G, "convs.3", edit_output=lambda out, layer: out * 0):
            edited = G(z)
        assert not torch.allclose(edited, before) and torch.equal(G(z), before)
        head, _ = G.split("convs.3")
        with Trace(head, "generator.convs.3") as t2:
            head(z)
        torch.testing.assert_close(t2.output, t.output)
        with Trace(G, "to_rgbs.3") as rgb:
            G(z)
        assert torch.equal(rgb.output, before)  # the last ToRGB's output is the image


# -- the edit chain ------------------------------------------------------------------------------------------


def test_the_church_manifest_names_the_hub_file_and_is_honest_offline(monkeypatch):
    from ganpaint_core.hub.manifest import load_manifest
    from ganpaint_core.hub.registry import model_status

    manifest = load_manifest(REPO / "weights" / "stylegan2-church" / "model.json", bundled=True)
    source = manifest.files["generator"].sources[-1]
    assert (source.repo_id, source.filename) == ("aaronb/StyleGAN2", "stylegan2-church-config-f.pt")
    assert manifest.family == "stylegan2" and manifest.resolution == 256 and "concepts" not in manifest.files
    G = StyleGAN2Generator(StyleGAN2Config.config_f(256))
    names = [n for n, _, _ in G.layer_shapes()]
    assert manifest.edit_layer in names[:-1]
    assert all(names.index(f) > names.index(manifest.edit_layer) for f in manifest.fine_layers)
    monkeypatch.setenv("GANPAINT_OFFLINE", "1")
    status = model_status(manifest, probe=False)
    assert status["status"] == "missing" and "aaronb/StyleGAN2" in status["reason"]
    assert status["concepts"] == []


def test_bench_offers_the_stylegan2_suite_and_asks_model_suites_for_a_model(capsys):
    from ganpaint_core.cli.main import build_parser, main

    args = build_parser().parse_args(["bench", "--suite", "stylegan2", "--threads", "1"])
    assert args.model is None and args.suite == "stylegan2"
    assert main(["bench", "--suite", "chain"]) == 2
    assert "--suite chain needs --model NAME" in capsys.readouterr().err
