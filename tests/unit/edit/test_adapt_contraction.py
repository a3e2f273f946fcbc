"""The adaptation's contraction penalty: the corrected layers learn not to amplify a change of their content."""
from __future__ import annotations

import dataclasses

import torch

from ganpaint_core.edit.adapt import AdaptConfig, FineLayerAdapter, adapt_fine_layers, adapter_shapes
from ganpaint_core.edit.plans import FULL_FIT
from ganpaint_core.models.layers import run_tail, tail_layer_shapes
from tests.helpers import tiny_loaded_model


def _fit(cfg: AdaptConfig):
    model = tiny_loaded_model()
    head, tail = model.generator.split(model.manifest.edit_layer)
    with torch.no_grad():
        features = head(model.generator.sample_latents(1, seed=3)) * 1.1  # off the generator's own images
        target = run_tail(tail, head(model.generator.sample_latents(1, seed=4)))
    shapes = adapter_shapes(tail_layer_shapes(model.generator, model.manifest.edit_layer), model.manifest.fine_layers)
    adapter, _ = adapt_fine_layers(tail, features, target, shapes=shapes, cfg=cfg)
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str, out: torch.Tensor) -> torch.Tensor:
        if name in adapter.names:
            outputs[name] = out
        return adapter(name, out)

    with torch.no_grad():
        run_tail(tail, features, modify=keep)
        sensitivity = adapter.sensitivity(outputs, torch.Generator().manual_seed(7)).item()
    return adapter, sensitivity, shapes


def test_the_contraction_lowers_the_correction_sensitivity_and_the_fit_stays_deterministic():
    cfg = dataclasses.replace(FULL_FIT.adaptation, steps=30)
    loose, loose_sensitivity, shapes = _fit(dataclasses.replace(cfg, contraction=0.0))
    tight, tight_sensitivity, _ = _fit(cfg)
    again, again_sensitivity, _ = _fit(cfg)
    identity = FineLayerAdapter(shapes)  # no correction: a change passes through unchanged, |J v|² ≈ |v|² = 1
    outputs = {n: torch.randn(1, c, s, s) for n, (c, s) in shapes.items()}
    assert abs(identity.sensitivity(outputs, torch.Generator().manual_seed(1)).item() - 1) < 0.05
    assert tight_sensitivity < loose_sensitivity
    assert again_sensitivity == tight_sensitivity  # the random directions are seeded: one photo, one setup
    assert all(torch.equal(a, b) for a, b in zip(tight.state_dict().values(), again.state_dict().values()))
