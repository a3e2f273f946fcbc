"""The ProGAN generator at full size, in GANPaint's church layout (the key table): strict loads,
wrapped and legacy containers, the head/tail split."""
from __future__ import annotations

import pytest
import torch

from ganpaint_core.models.progan import ProGANGenerator
from tests.helpers import church_state_dict


def test_church_key_table_loads_strictly_and_renders_256():
    state = church_state_dict()
    G = ProGANGenerator.from_state_dict(state)
    assert G.sizes == (512, 512, 512, 512, 256, 128, 64, 32)
    assert set(G.state_dict()) == set(state)  # nothing extra, nothing missing
    assert sum(p.numel() for p in G.parameters()) == 18_344_995
    with torch.no_grad():
        assert G(torch.randn(1, 512)).shape == (1, 3, 256, 256)


def test_wrapped_and_legacy_containers_load_to_the_same_generator():
    state = church_state_dict()
    legacy = {}
    for key, value in state.items():
        layer, rest = key.split(".", 1)
        if layer.startswith("layer"):
            legacy[f"features.{int(layer[5:]) - 1}.{rest}"] = value
        else:
            legacy[f"output.{rest}"] = value
    legacy["some.unrelated.buffer"] = torch.zeros(1)
    z = torch.randn(2, 512)
    with torch.no_grad():
        ref = ProGANGenerator.from_state_dict(state)(z)
        assert torch.equal(ProGANGenerator.from_state_dict({"state_dict": state})(z), ref)
        assert torch.equal(ProGANGenerator.from_state_dict(legacy)(z), ref)


def test_wrong_shape_is_refused():
    state = church_state_dict()
    state["layer5.wscale.b"] = torch.zeros(7)
    with pytest.raises(RuntimeError, match="layer5.wscale.b"):
        ProGANGenerator.from_state_dict(state)


def test_head_tail_split_equals_full_forward_and_shares_weights():
    G = ProGANGenerator.from_state_dict(church_state_dict())
    head, tail = G.split("layer4")
    z = torch.randn(2, 512)
    with torch.no_grad():
        features = head(z)
        assert features.shape == (2, 512, 8, 8)
        torch.testing.assert_close(tail(features), G(z), rtol=1e-5, atol=1e-5)
    assert head.layer4 is G.layer4 and tail.layer5 is G.layer5
    with torch.no_grad():
        G.layer5.wscale.b.add_(1.0)  # a change to G shows in the tail: no copy was made
    assert torch.equal(tail.layer5.wscale.b, G.layer5.wscale.b)
