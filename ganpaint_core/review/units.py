"""See what a stroke moves: the heatmap of a concept's top units over the inverted photo, the segmenter's map
of a render, and a ready mask from that map ("select the trees").

Example::

    heat = unit_heatmap(engine, state, "tree")            # float [S, S] in [0, 1]
    labels = segment(engine, render)                      # int [S, S] indices into segmenter.labels
    mask = concept_mask(engine, render, "tree")           # float32 [S, S] in {0, 1}: a stroke's mask
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.edit.engine import EditEngine, PhotoState

HEATMAP_UNITS = 12  # the units an "add" at strength 0.5 moves fully (ceil(0.5 * 12) = 6) and at 1 (12)
# One colour per label index (cycled), readable on a photo; index 0 is usually background.
PALETTE = np.array([(40, 40, 40), (70, 160, 60), (140, 200, 90), (230, 200, 70), (120, 170, 230), (235, 235, 245),
                    (170, 90, 60), (200, 120, 200), (90, 200, 200), (250, 140, 40), (160, 160, 160),
                    (90, 90, 200)], dtype=np.uint8)


def unit_heatmap(engine: EditEngine, state: PhotoState, concept: str, *, units: int = HEATMAP_UNITS,
                 action: str = "add") -> np.ndarray:
    """Mean activation of ``concept``'s top ``units`` (the ranking ``action`` uses) over the inverted photo,
    each unit divided by its insertion level and clipped to [0, 1]: float [S, S], 1 where they fire fully."""
    top = engine.concepts.top_units(concept, units, action)
    levels = torch.tensor([engine.concepts.levels[u] for u in top], dtype=torch.float32).clamp_min(1e-6)
    feats = state.features[0, top].float().cpu()  # [k, h, w]
    heat = (feats / levels.view(-1, 1, 1)).clamp(0, 1).mean(0)[None, None]
    up = F.interpolate(heat, size=(engine.resolution, engine.resolution), mode="bilinear", align_corners=False)
    return up[0, 0].clamp(0, 1).numpy()


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, *, alpha: float = 0.6) -> np.ndarray:
    """``heat`` [S, S] in [0, 1] as a black-red-yellow map over ``image`` (uint8 [S, S, 3], greyed)."""
    grey = image.astype(np.float32).mean(-1, keepdims=True).repeat(3, -1) * 0.6
    colour = np.stack([np.clip(heat * 2, 0, 1), np.clip(heat * 2 - 1, 0, 1), np.zeros_like(heat)], -1) * 255
    a = alpha * np.clip(heat * 1.5, 0, 1)[..., None]
    return np.clip(grey * (1 - a) + colour * a, 0, 255).round().astype(np.uint8)


def segment(engine: EditEngine, image: np.ndarray) -> np.ndarray:
    """The model's segmenter on ``image`` (uint8 [S, S, 3]): label indices int64 [S, S]."""
    seg = engine.model.segmenter
    if seg is None:
        raise GanpaintError(f"{engine.model.manifest.name} has no segmenter, so it cannot map or select concepts")
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(127.5).sub(1)
    with torch.no_grad():
        return seg.predict(x.to(engine.device))[0].cpu().numpy()


def segmentation_image(labels: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[tuple[str, str, float]]]:
    """A colour image of a label map (uint8 [S, S, 3]) and its legend: (name, "#rrggbb", share) per label
    present, largest first."""
    image = PALETTE[labels % len(PALETTE)]
    legend = []
    for idx in np.unique(labels):
        r, g, b = PALETTE[idx % len(PALETTE)]
        legend.append((names[idx] if idx < len(names) else str(idx), f"#{r:02x}{g:02x}{b:02x}",
                       float((labels == idx).mean())))
    legend.sort(key=lambda row: -row[2])
    return image, legend


def concept_mask(engine: EditEngine, image: np.ndarray, concept: str) -> np.ndarray:
    """float32 [S, S] in {0, 1}: where the segmenter sees ``concept`` in ``image`` (uint8 [S, S, 3]) — a
    stroke's mask that covers exactly what is there."""
    names = list(engine.model.segmenter.labels) if engine.model.segmenter is not None else []
    labels = segment(engine, image)
    if concept not in names:
        raise GanpaintError(f"the segmenter of {engine.model.manifest.name} does not know {concept!r}; it knows "
                            f"{', '.join(names)}")
    mask = (labels == names.index(concept)).astype(np.float32)
    if not mask.any():
        raise GanpaintError(f"the segmenter sees no {concept} in this render: paint the area by hand instead")
    return mask
