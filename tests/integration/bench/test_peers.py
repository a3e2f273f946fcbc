"""The peers bench: every method on the same photos and strokes, with the issue's figures and stated settings."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from ganpaint_core.bench.peer_methods import PeersConfig, pivotal_tuning
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
