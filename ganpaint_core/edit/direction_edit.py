"""A latent direction as an edit: the photo's latent moved ``amount`` along a direction (supervised: more of a
concept; unsupervised: a principal component), applied to the whole photo or only under a painted mask.

The change is taken at the edit layer: ``head(shift(z0)) - head(z0)``, added to the photo's features (times
the mask's alpha on the edit grid when there is a mask), so the inversion's residual, the photo's adaptation
and the paste-back stay as for unit edits. The tail keeps the photo's latent: for StyleGAN2 the layers after
the edit layer keep the photo's own styles, and a direction acts through the layers up to the edit layer.

Example::

    spec = DirectionSpec(name="sky", amount=2.0)                 # the whole photo: more sky
    edit = direction_edit(engine, state, spec)                   # a FeatureEdit for engine.render
    spec = DirectionSpec(name="pc1", amount=-1.5, mask=square)   # only under the mask
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from ganpaint_core.core.errors import shown
from ganpaint_core.core.photo import Photo, load_mask, mask_to_square
from ganpaint_core.core.progress import Callback
from ganpaint_core.edit.composite import CompositeConfig, change_region
from ganpaint_core.edit.embedded import mask_png_base64
from ganpaint_core.edit.recipe_rules import RecipeSource, enabled, refuse_unknown
from ganpaint_core.edit.strokes import FeatureEdit, StrokeError, grid_alpha, refuse_settings

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine, PhotoState


@dataclass(frozen=True)
class DirectionSpec:
    """A direction as the user gave it."""

    name: str  # a direction of the model ("sky", "pc3"…): `python -m ganpaint_core directions --model NAME`
    amount: float  # in [-3, 3]: how far along it, in standard deviations of the model's samples
    mask: np.ndarray | None = None  # float32 [S, S] on the model's square; None = the whole photo
    enabled: bool = True

    def check(self, *, resolution: int, names: Sequence[str]) -> None:
        """Every cheap check, before any setup (``names``: the model's directions)."""
        from ganpaint_core.analysis.directions import DirectionError, check_amount

        if not isinstance(self.name, str) or self.name not in names:
            raise StrokeError(f"unknown direction {shown(self.name)}; this model has: {', '.join(names)}")
        try:
            check_amount(self.amount)
        except DirectionError as exc:
            raise StrokeError(str(exc)) from None
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.shape != (resolution, resolution) or not np.isfinite(mask).all():
                raise StrokeError(f"a direction's mask must be {resolution}×{resolution} (the model's square), got "
                                  f"{shown(mask.shape)}")
            if float(mask.max(initial=0)) <= 0:
                raise StrokeError("the direction's mask is empty: paint where it should apply (or apply it to the "
                                  "whole photo)")

    @property
    def whole(self) -> bool:
        return self.mask is None

    def describe(self) -> str:
        where = "whole photo" if self.whole else f"under the mask ({float(np.mean(self.mask)) * 100:.0f}% of the square)"
        return f"direction {self.name} {self.amount:+.1f} · {where}"

    # -- the stroke kind (ganpaint_core.edit.kinds.StrokeKind) -----------------------------------------
    kind: ClassVar[str] = "direction"
    has_candidates: ClassVar[bool] = False
    needs_directions: ClassVar[bool] = True  # the model's directions are found once (minutes): progress first
    portable: ClassVar[bool] = False  # a direction is one model's latent space
    concepts: ClassVar[tuple[str, ...]] = ()

    def check_on(self, engine: EditEngine, *, callback: Callback | None = None) -> None:
        self.check(resolution=engine.resolution, names=engine.directions(callback=callback).names())

    def resolve(self, engine: EditEngine, state: PhotoState) -> FeatureEdit:
        return direction_edit(engine, state, self)

    def to_record(self, applied: FeatureEdit) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "direction", "description": self.describe(), "direction": self.name,
                               "amount": float(self.amount), "enabled": bool(self.enabled)}
        if self.mask is not None:
            out |= {"mask_png_base64": mask_png_base64(self.mask), "mask_share": round(float(np.mean(self.mask)), 5)}
        return out

    def label(self) -> str:
        return self.describe()

    def references(self) -> dict[str, Any]:
        return {}

    def with_strength(self, strength: float) -> DirectionSpec:
        return self  # its amount is its own

    def settings(self) -> dict[str, float]:
        return {}

    def with_settings(self, values: Mapping[str, float]) -> DirectionSpec:
        refuse_settings(self.describe(), values)
        return self

    def on_square(self, resolution: int) -> DirectionSpec:
        return self


@torch.no_grad()
def direction_edit(engine: EditEngine, state: PhotoState, spec: DirectionSpec) -> FeatureEdit:
    """``spec`` on the photo as a feature edit (its change at the edit layer, masked when it has a mask)."""
    directions = engine.directions()
    latent = state.latent.to(engine.device)
    moved = directions.shift(latent, spec.name, float(spec.amount))
    delta = engine.head(moved) - engine.head(latent)  # [1, C, g, g]
    side = engine.resolution
    if spec.whole:
        mask = np.zeros((side, side), np.float32)
        region = np.ones((side, side), np.float32)
    else:
        mask = np.asarray(spec.mask, np.float32)
        delta = delta * grid_alpha(mask, delta.shape[-1]).to(delta.device)
        region = change_region(mask, reach=CompositeConfig().reach)
    return FeatureEdit(kind="direction", delta=delta.cpu(), mask=mask, region=region, whole=spec.whole,
                       enabled=bool(spec.enabled))


# -- its recipe form ---------------------------------------------------------------------------------
DIRECTION_KEYS = {"kind", "direction", "amount", "mask", "mask_png_base64", "enabled", "mask_share",
                  "description"}


@dataclass(frozen=True)
class RecipeDirection:
    """A recipe's ``{"kind": "direction", "direction": "sky", "amount": 1.5}`` as written, with an optional
    ``mask`` / ``mask_png_base64`` to apply it only there (rules: :mod:`ganpaint_core.edit.recipe_rules`)."""

    name: str
    amount: float
    mask: Path | np.ndarray | None = None  # None: the whole photo
    enabled: bool = True
    where: str = "direction"

    @classmethod
    def read(cls, raw: dict[str, Any], source: RecipeSource, where: str) -> RecipeDirection:
        from ganpaint_core.analysis.directions import DirectionError, check_amount

        refuse_unknown(raw, DIRECTION_KEYS, where)
        if not isinstance(raw.get("direction"), str) or not raw["direction"]:
            raise StrokeError(f"{where}: 'direction' must be a direction's name, got {shown(raw.get('direction'))}")
        try:
            amount = check_amount(raw.get("amount"))
        except DirectionError as exc:
            raise StrokeError(f"{where}: {exc}") from None
        mask = source.mask(raw, where=where, required=False)
        return cls(name=raw["direction"], amount=amount, mask=mask, enabled=enabled(raw, where), where=where)

    def to_spec(self, photo: Photo, engine: EditEngine, references: dict) -> tuple[DirectionSpec, list[str]]:
        notes: list[str] = []
        mask = self.mask
        if isinstance(mask, Path):
            full, notes = load_mask(mask, size=photo.size)
            mask = mask_to_square(full, photo, engine.resolution)
        return DirectionSpec(name=self.name, amount=self.amount, mask=mask, enabled=self.enabled), notes
