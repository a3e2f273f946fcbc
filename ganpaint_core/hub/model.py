"""A loaded model: the value every later stage receives (generator, dictionary, segmenter, encoder, files)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ganpaint_core.hub.concepts import ConceptDictionary
from ganpaint_core.hub.manifest import ModelManifest
from ganpaint_core.models.segmenter import Segmenter


@dataclass
class LoadedModel:
    """A model ready to use. Shared between users: never modify ``generator``'s weights.

    Example::

        model = load_model("synth-church", device="cpu")
        head, tail = model.generator.split(model.manifest.edit_layer)
    """

    manifest: ModelManifest  # what was loaded
    generator: nn.Module  # eval mode, parameters frozen
    concepts: ConceptDictionary | None  # None when the model has not been dissected yet
    device: torch.device  # where the generator's weights live
    segmenter: Segmenter | None = None  # labels images (.predict, .labels), for dissection and benchmarks (optional)
    encoder: nn.Module | None = None  # image -> latent, starts inversion (optional); .latent_space: "z" | "w+"
    sha256: dict[str, str] = field(default_factory=dict)  # role -> verified sha256 of the file used
    paths: dict[str, Path] = field(default_factory=dict)  # role -> local file used
