"""The peers bench's parts: the paper's adaptation network and the CLI's options."""
from __future__ import annotations

import torch

from ganpaint_core.bench.peer_methods import NoiseAdapter, PeersConfig


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
