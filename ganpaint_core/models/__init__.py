"""Generator families, and the networks that work beside them (segmenter, encoder).

Each family class loads its checkpoints strictly and splits at a named layer; what it must provide is
written down as :class:`ganpaint_core.models.family.GeneratorFamily`, and what its tails provide as
:class:`~ganpaint_core.models.family.Tail` (``tail.run(features, latent=…, modify=…)``; a StyleGAN2 tail
needs the latent). :mod:`ganpaint_core.models.segmenter` and :mod:`ganpaint_core.models.encoder` hold the
scene segmenter and the inversion encoder that a model's manifest may name beside its generator;
:mod:`ganpaint_core.models.e4e` the pretrained e4e encoder (images -> W+) for a StyleGAN2. An encoder's
``latent_space`` ("z" or "w+") says what it returns.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ganpaint_core.core.errors import CheckpointError
from ganpaint_core.models.family import GeneratorFamily, Head, Modify, Tail
from ganpaint_core.models.progan import ProGANGenerator
from ganpaint_core.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

FAMILIES: dict[str, type[GeneratorFamily]] = {"progan": ProGANGenerator, "stylegan2": StyleGAN2Generator}


def generator_from_state_dict(state: dict[str, Any], *, family: str) -> nn.Module:
    """Build the family's generator and load ``state`` strictly."""
    if family not in FAMILIES:
        raise ValueError(f"unknown generator family {family!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[family].from_state_dict(state)


def detect_family(state: dict[str, Any]) -> str:
    """The generator family a checkpoint holds, from its keys (never from the file name)."""
    for name, cls in FAMILIES.items():
        if cls.detect(state):
            return name
    sample = ", ".join(list(state)[:5])
    raise CheckpointError(
        f"unrecognised checkpoint: keys begin {sample or '(none)'}; supported families: {', '.join(FAMILIES)}"
    )


from ganpaint_core.models.e4e import Encoder4Editing, convert_e4e_encoder, load_e4e_encoder

__all__ = ["Encoder4Editing", "FAMILIES", "GeneratorFamily", "Head", "Modify", "ProGANGenerator", "StyleGAN2Config",
           "StyleGAN2Generator", "Tail", "convert_e4e_encoder", "detect_family", "generator_from_state_dict",
           "load_e4e_encoder"]
