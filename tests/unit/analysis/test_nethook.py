from __future__ import annotations

import pytest
import torch

from ganpaint_core.analysis.nethook import Trace, TraceDict
from tests.helpers import tiny_generator


def _hook_count(G) -> int:
    return sum(len(m._forward_hooks) for m in G.modules())


def test_trace_reads_the_layer_output():
    G = tiny_generator()
    head, _ = G.split("layer4")
    z = torch.randn(2, 16)
    with Trace(G, "layer4") as t, torch.no_grad():
        G(z)
        expected = head(z)
    torch.testing.assert_close(t.output, expected)


def test_edit_output_changes_the_image_only_inside_the_block():
    G = tiny_generator()
    z = torch.randn(1, 16)
    with torch.no_grad():
        before = G(z)
        with Trace(G, "layer4", edit_output=lambda out, layer: torch.zeros_like(out)):
            edited = G(z)
        after = G(z)
    assert not torch.allclose(edited, before)
    assert torch.equal(after, before)
    assert _hook_count(G) == 0


def test_hooks_are_removed_when_the_block_raises():
    G = tiny_generator()

    def broken(out, layer):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        with TraceDict(G, ["layer2", "layer4"], edit_output=broken), torch.no_grad():
            G(torch.randn(1, 16))
    assert _hook_count(G) == 0


def test_unknown_layer_names_the_valid_ones_and_leaves_no_hook():
    G = tiny_generator()
    with pytest.raises(KeyError, match="layer1"):
        TraceDict(G, ["layer2", "nope"])
    assert _hook_count(G) == 0
