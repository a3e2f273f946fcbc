"""The ProGAN generator on tiny seeded sizes: resolutions, z scaling, the head/tail split, layer shapes."""
from __future__ import annotations

import pytest
import torch

from ganpaint_core.models.progan import ProGANGenerator
from tests.helpers import tiny_generator


@pytest.mark.parametrize("sizes, resolution", [((32, 32, 32, 16, 8), 32), ((16, 16, 16, 8, 8, 8), 64), ((8,) * 7, 128)])
def test_any_power_of_two_resolution_round_trips(sizes, resolution):
    G = tiny_generator(sizes=sizes)
    assert G.resolution == resolution
    assert ProGANGenerator.sizes_from_state_dict(G.state_dict()) == list(sizes)
    with torch.no_grad():
        assert G(torch.randn(1, sizes[0])).shape == (1, 3, resolution, resolution)


def test_output_ignores_positive_rescaling_of_z():
    G = tiny_generator()
    z = torch.randn(3, 16)
    with torch.no_grad():
        torch.testing.assert_close(G(z), G(z * 7.5), rtol=1e-4, atol=1e-5)


def test_split_at_unknown_or_output_layer_is_refused():
    G = tiny_generator()
    with pytest.raises(ValueError, match="choose one of"):
        G.split("layer99")
    with pytest.raises(ValueError, match="choose one of"):
        G.split("output_32x32")


def test_layer_shapes_match_the_traced_outputs():
    from ganpaint_core.analysis.nethook import TraceDict

    G = tiny_generator()
    names = G.layer_names()
    with TraceDict(G, names) as td, torch.no_grad():
        G(torch.randn(1, 16))
    for name, channels, size in G.layer_shapes():
        assert td[name].output.shape == (1, channels, size, size)
