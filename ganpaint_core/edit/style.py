"""Style from a reference: the units' own activations in the reference's concept region become the
insertion levels for "add", blended with the defaults by a style strength (:func:`blend_levels`, the only
place that does it).

The reference (any photo, or a generated sample) is inverted quickly (encoder and a few steps). The
concept's region in it is found by the model's segmenter when it has one, else where the concept's top
units are active above half their level.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from ganpaint_core.edit.strokes import ADD_MAX_UNITS
from ganpaint_core.hub.concepts import ConceptDictionary


def concept_region(
    features: torch.Tensor,
    concepts: ConceptDictionary,
    concept: str,
    *,
    image: torch.Tensor | None = None,
    segment=None,
    label: int | None = None,
) -> torch.Tensor:
    """Boolean region [h, w] on the feature grid where the reference shows the concept."""
    grid = features.shape[-1]
    if segment is not None and image is not None and label is not None:
        labels = segment(image)  # [1, H, W]
        share = F.adaptive_avg_pool2d((labels == label).float()[:, None], grid)[0, 0]
        region = share >= 0.5
        if region.any():
            return region
    units = concepts.top_units(concept, ADD_MAX_UNITS)
    levels = torch.tensor(concepts.levels, dtype=features.dtype)[units].view(-1, 1, 1)
    active = (features[0, units].cpu() > 0.5 * levels).float().mean(0)  # share of top units firing per cell
    return active >= 0.5


def default_levels(concepts: ConceptDictionary, concept: str) -> torch.Tensor:
    """The per-unit targets [C] an "add" of ``concept`` uses without a style: the dictionary's levels, or
    for a concept drawn by a template the template's mean (so a style at strength 0 leaves it as it is)."""
    template = concepts.template(concept)
    return template.mean(dim=(1, 2)) if template is not None else torch.tensor(concepts.levels, dtype=torch.float32)


def blend_levels(concepts: ConceptDictionary, concept: str, full: Sequence[float], strength: float) -> tuple[float, ...]:
    """``(1 - strength) · default + strength · full``: a style's levels at ``strength``, from its levels at
    strength 1 (``full``). The one place a style strength is applied, for every way in (page, API, CLI)."""
    if not 0 <= strength <= 1:
        raise ValueError(f"style strength must be in [0, 1], got {strength}")
    default = default_levels(concepts, concept)
    full_t = torch.tensor(tuple(full), dtype=torch.float32)
    return tuple(((1 - strength) * default + strength * full_t).tolist())


def style_levels(
    features: torch.Tensor,
    region: torch.Tensor,
    concepts: ConceptDictionary,
    *,
    concept: str,
) -> tuple[float, ...]:
    """Per-unit levels at style strength 1: the mean activation inside ``region`` (clamped at 0). Where the
    region is empty the defaults are kept (the style has nothing to copy); :func:`blend_levels` applies a
    strength."""
    if not region.any():
        return tuple(default_levels(concepts, concept).tolist())
    f = features[0].detach().cpu().float()  # [C, h, w]
    return tuple(f[:, region.cpu()].mean(dim=1).clamp(min=0).tolist())

