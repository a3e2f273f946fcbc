"""Style from a reference: the units' own activations in the reference's concept region become the
insertion levels for "add", blended with the dictionary's levels by a style strength.

The reference (any photo, or a generated sample) is inverted quickly (encoder and a few steps). The
concept's region in it is found by the model's segmenter when it has one, else where the concept's top
units are active above half their level.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from ganpaint_core.concepts import ConceptDictionary
from ganpaint_core.edit.strokes import ADD_MAX_UNITS


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


def style_levels(
    features: torch.Tensor,
    region: torch.Tensor,
    concepts: ConceptDictionary,
    *,
    strength: float,
    concept: str | None = None,
) -> tuple[float, ...]:
    """Per-unit targets: (1 - strength) · default + strength · mean activation inside ``region``, where the
    default is the dictionary's level, or for a ``concept`` drawn by a template the template's mean (so
    strength 0 leaves the template as it is).

    Where the region is empty the defaults are kept (style strength has nothing to copy).
    """
    if not 0 <= strength <= 1:
        raise ValueError(f"style strength must be in [0, 1], got {strength}")
    template = concepts.template(concept) if concept is not None else None
    default = template.mean(dim=(1, 2)) if template is not None else torch.tensor(concepts.levels, dtype=torch.float32)
    if not region.any() or strength == 0:
        return tuple(default.tolist())
    f = features[0].detach().cpu().float()  # [C, h, w]
    inside = f[:, region.cpu()].mean(dim=1).clamp(min=0)  # [C]
    return tuple(((1 - strength) * default + strength * inside).tolist())
