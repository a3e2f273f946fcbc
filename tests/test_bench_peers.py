"""The peers bench: every method on the same photos and strokes, with the issue's figures and stated settings."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from ganpaint_core.bench.peer_methods import NoiseAdapter, PeersConfig, pivotal_tuning
from ganpaint_core.bench.peers import FIGURES, METHODS, bench_peers
from ganpaint_core.edit.adapt import AdaptConfig
from ganpaint_core.edit.invert import InversionConfig
from tests.helpers import tiny_loaded_model

QUICK = PeersConfig(paper_steps_run=4, pti_steps_run=3, pti_pivot_steps=3)


class _MeanEncoder(nn.Module):
    """A stand-in encoder: image [N, 3, S, S] -> z [N, L] (pooled colour, projected)."""

    latent_space = "z"

    def __init__(self, latent: int) -> None:
        super().__init__()
        self.proj = nn.Linear(3, latent)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images.mean(dim=(2, 3)))


@pytest.mark.slow
def test_every_method_reports_every_figure_with_its_ratio_to_ours_and_settings(one_thread):
    model = tiny_loaded_model()
    model = dataclasses.replace(model, encoder=_MeanEncoder(model.generator.latent_size).requires_grad_(False))
    before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    r = bench_peers(model, n=1, cfg=QUICK, use_lpips=False, inversion=InversionConfig(latent_steps=3, joint_steps=3,
                                                                                    candidates=2),
                    adaptation=AdaptConfig(steps=3))
    assert set(r["methods"]) == set(METHODS)
    for name, figs in r["methods"].items():
        assert set(FIGURES) <= set(figs) and "settings" in figs, name
        assert figs["setup_s"] >= 0 and figs["edit_s"] > 0, name
        assert figs["recon_psnr"] > 0 and figs["locality_psnr"] > 0, name
        assert figs["ratio_to_ours"]["edit_s"] == figs["edit_s"] / r["methods"]["ours"]["edit_s"]
    assert r["methods"]["ours"]["ratio_to_ours"]["setup_s"] == 1
    paper = r["methods"]["paper"]["settings"]
    assert paper["steps_published"] == 1000 and paper["steps_run"] == 4 and "scaled" in paper["reduced"]
    assert r["methods"]["pti"]["settings"]["steps_run"] == 3
    assert r["device"].startswith("cpu") and r["photos"] == {**r["photos"], "renders": 1, "real": 0}
    for k, v in model.generator.state_dict().items():  # PTI tunes a copy; the shared generator is untouched
        assert torch.equal(v, before[k]), k


def test_without_an_encoder_the_encoder_method_says_it_was_skipped(one_thread):
    r = bench_peers(tiny_loaded_model(), n=1, cfg=QUICK, methods=("ours", "encoder"), use_lpips=False,
                    inversion=InversionConfig(latent_steps=2, joint_steps=2, candidates=2), adaptation=AdaptConfig(steps=2))
    assert "no encoder" in r["methods"]["encoder"]["settings"]["skipped"]


@pytest.mark.slow
def test_pivotal_tuning_fits_the_photo_on_a_copy():
    model = tiny_loaded_model()
    G = model.generator
    pivot = torch.randn(1, G.latent_size, generator=torch.Generator().manual_seed(3))
    target = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        start = (G(pivot) - target).abs().mean()
    tuned = pivotal_tuning(G, pivot, target, layer="layer4", lpips_model=None,
                           cfg=dataclasses.replace(QUICK, pti_steps_run=8, pti_lr=1e-2))
    with torch.no_grad():
        assert (tuned(pivot) - target).abs().mean() < start
    assert tuned is not G and not any(p.requires_grad for p in G.parameters())


def test_the_paper_adaptation_starts_as_the_identity_and_multiplies_by_one_plus_s():
    net = NoiseAdapter({"layer5": (8, 16)}, noise_channels=4, seed=0)
    x = torch.rand(1, 8, 16, 16)
    assert torch.equal(net("layer5", x), x) and torch.equal(net("layer9", x), x)
    with torch.no_grad():
        net.maps["layer5"].bias.fill_(0.5)
    assert torch.allclose(net("layer5", x), 1.5 * x)
    assert torch.isclose(net.penalty(), torch.tensor(0.25))


def test_the_cli_offers_the_peers_suite_with_its_step_settings_and_a_device():
    from ganpaint_core.cli.main import build_parser

    args = build_parser().parse_args(["bench", "--suite", "peers", "--model", "synth-church", "--images", "photos",
                                      "--n", "2", "--paper-steps", "50", "--pti-steps", "70", "--device", "cuda",
                                      "--json", "out.json"])
    assert (args.suite, args.n, args.paper_steps, args.pti_steps, args.device) == ("peers", 2, 50, 70, "cuda")
    defaults = build_parser().parse_args(["bench", "--suite", "peers", "--model", "synth-church"])
    assert (defaults.paper_steps, defaults.pti_steps) == (100, PeersConfig().pti_steps)
