"""What the engine hands out: a photo's setup (:class:`PhotoState`, small, deep-copyable, what the setup store
keeps) and a rendered edit (:class:`RenderResult`). Types only; :mod:`ganpaint_core.edit.engine` makes them."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ganpaint_core.core.photo import Photo
from ganpaint_core.edit.segments import SegmentCodes


@dataclass
class PhotoState:
    """Everything one user's photo needs between requests: CPU tensors and arrays only."""

    photo: Photo  # original pixels, the model square and the paste-back box
    latent: torch.Tensor  # from inversion: z [1, L] (ProGAN) or W+ [1, n_latent, L] (StyleGAN2)
    features: torch.Tensor  # [1, C, h, w] edit-layer features (head(latent) + residual)
    adapter: dict[str, torch.Tensor]  # FineLayerAdapter state dict (empty when adaptation is off)
    recon_psnr_before: float  # tail(features) vs the photo's square, dB
    recon_psnr_after: float  # adapted render vs the photo's square, dB
    base_render: torch.Tensor  # [1, 3, S, S] the adapted render without edits (computed once)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    notes: list[str] = field(default_factory=list)  # what the user should know
    invert: str = "single"  # how it was inverted: "single" (one code) or "segments" (one code per segment)
    segments: SegmentCodes | None = None  # with invert="segments": each segment's code, mask and name
    fit: str = "full"  # which plan made it (edit.plans.FITS): "quick" (the page's first, never stored) or "full"


@dataclass
class RenderResult:
    """A rendered edit: the model-resolution preview and the full-resolution paste-back."""

    preview: np.ndarray  # uint8 [S, S, 3] adapted render with the edits
    final: np.ndarray | None  # uint8 [H, W, 3] the original with the edit composited (None for preview only)
    region: np.ndarray  # float [S, S] in [0, 1]: how much of the render's change the photo takes; 0 = photo's pixel
    timings: dict[str, float]  # seconds per stage
    notes: list[str]  # what was adjusted or skipped
    changed: np.ndarray | None = None  # bool [H, W] over the photo: pixels of ``final`` that differ from it
    base: np.ndarray | None = None  # uint8 [S, S, 3] the adapted render without edits (what ``preview`` changed)
    painted: np.ndarray | None = None  # float [S, S] in [0, 1]: the active strokes' masks, joined
    added: np.ndarray | None = None  # float [S, S] in [0, 1]: the active add strokes' masks, joined (tone matching)
    latent_render: np.ndarray | None = None  # uint8 [S, S, 3] the inverted latent alone, no residual nor adaptation:
    # the generator's own light, which tone matching maps to the photo's (None when tone is 0 or nothing is added)
