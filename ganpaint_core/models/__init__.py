"""Generator families. Each loads its checkpoints strictly and splits at a named layer.

A family class provides ``detect(state) -> bool``, ``from_state_dict(state)``, ``layer_shapes()``,
``split(layer) -> (head, tail)``, ``sample_latents(n, seed=, device=)``, ``resolution`` and ``latent_size``
(the length of ``z``). ``head(z)`` gives the split layer's features; a tail runs through
``ganpaint_core.edit.layers.run_tail(tail, features, latent=…, modify=…)`` (a StyleGAN2 tail needs the latent).

What inversion optimises is the family's choice (``z`` for ProGAN, W+ for StyleGAN2), exposed as:
``inversion_space`` (a name), ``inversion_starts(n, seed=, device=)`` (starting latents to pick the best of),
``to_inversion_latent(latent)`` (an encoder's ``z`` in that space), ``latent_std()`` (its spread per
coordinate, which scales step sizes), and ``head(latent)`` accepting such a latent.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ganpaint_core.models.progan import ProGANGenerator
from ganpaint_core.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

FAMILIES: dict[str, Any] = {"progan": ProGANGenerator, "stylegan2": StyleGAN2Generator}


def generator_from_state_dict(state: dict[str, Any], *, family: str) -> nn.Module:
    """Build the family's generator and load ``state`` strictly."""
    if family not in FAMILIES:
        raise ValueError(f"unknown generator family {family!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[family].from_state_dict(state)


__all__ = ["FAMILIES", "ProGANGenerator", "StyleGAN2Config", "StyleGAN2Generator", "generator_from_state_dict"]
