"""Generator families. Each loads its checkpoints strictly and splits at a named layer.

A family class provides ``detect(state) -> bool``, ``from_state_dict(state)``, ``layer_shapes()``,
``split(layer) -> (head, tail)``, ``resolution`` and ``latent_size``.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ganpaint_core.models.progan import ProGANGenerator

FAMILIES: dict[str, Any] = {"progan": ProGANGenerator}


def generator_from_state_dict(state: dict[str, Any], *, family: str) -> nn.Module:
    """Build the family's generator and load ``state`` strictly."""
    if family not in FAMILIES:
        raise ValueError(f"unknown generator family {family!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[family].from_state_dict(state)


__all__ = ["FAMILIES", "ProGANGenerator", "generator_from_state_dict"]
