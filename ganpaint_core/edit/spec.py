"""What a user asks for, before it meets a model: concept strokes with their styles, and the edit's options.

The page, the ``/edit`` endpoint, the CLI and recipes all describe an edit with these values and hand them
to :func:`ganpaint_core.edit.pipeline.edit_photo`; the checks of these values live here, so each way in
refuses the same things with the same words, before any setup runs. :class:`StrokeSpec` is the *concept*
stroke kind (:mod:`ganpaint_core.edit.kinds`: its check, application, record form and label); its recipe form
is :mod:`ganpaint_core.edit.concept_recipe`. Brushes and directions are kinds of their own
(:mod:`~ganpaint_core.edit.brush`, :mod:`~ganpaint_core.edit.direction_edit`).

Example::

    spec = StrokeSpec(mask=square, concept="tree", action="add", strength=0.8,
                      style=StyleSpec(kind="sample", seed=1000003, strength=0.6))
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
from PIL import Image

from ganpaint_core.core.errors import shown
from ganpaint_core.core.photo import Photo, load_photo, to_uint8
from ganpaint_core.edit.embedded import mask_png_base64
from ganpaint_core.edit.segments import INVERT_MODES
from ganpaint_core.edit.strokes import EditStroke, StrokeError, refuse_settings
from ganpaint_core.hub.concepts import ConceptDictionary

StyleKind = Literal["dictionary", "sample", "reference"]
STYLE_KINDS: tuple[str, ...] = ("dictionary", "sample", "reference")


def unit_interval(name: str, value: Any) -> float:
    """``value`` as a float in [0, 1]; ``StrokeError`` for anything else (NaN, inf, text, a list…)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise StrokeError(f"{name} must be a number in [0, 1], got {shown(value)}")
    value = float(value)
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise StrokeError(f"{name} must be a number in [0, 1], got {value}")
    return value


MAX_STROKES = 200  # strokes in one edit: a painter's session is tens; more is a script gone wrong (or an attack)


def check_stroke_count(count: int, *, where: str = "an edit") -> None:
    """``StrokeError`` when ``count`` strokes are more than one edit takes."""
    if count > MAX_STROKES:
        raise StrokeError(f"{where} has {count} strokes; one edit takes at most {MAX_STROKES}: merge strokes of the "
                          "same concept into one mask, or split the recipe")


MAX_SEED = 2**31 - 1  # every seed a user gives (style samples, brushes, directions) lies in [0, MAX_SEED]


def seed_value(name: str, value: Any) -> int:
    """``value`` as a seed in [0, MAX_SEED]; ``StrokeError`` for anything else (text, floats, bools, 2**70…)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) <= MAX_SEED:
        raise StrokeError(f"{name} must be a whole number in [0, {MAX_SEED}], got {shown(value)}")
    return int(value)


@dataclass(frozen=True)
class Reference:
    """A style reference, reduced to the model's square (all that style analysis reads)."""

    name: str  # file stem, for lists and records
    sha256: str  # of the square's pixels: names the reference in caches and records
    image: Photo  # the square (``original`` uint8 [S, S, 3], ``model_image`` [1, 3, S, S])

    @classmethod
    def load(cls, source: Any, *, resolution: int, name: str = "reference") -> Reference:
        """Read a reference image (``PhotoError`` says why it cannot be used)."""
        ref = load_photo(source, size=resolution, what="style reference")
        square = to_uint8(ref.model_image[0])
        image = Photo(original=square, model_image=ref.model_image, box=(0, 0, resolution, resolution), fit="crop")
        digest = hashlib.sha256(ref.model_image.numpy().tobytes()).hexdigest()
        return cls(name=name, sha256=digest, image=image)


@dataclass(frozen=True)
class StyleSpec:
    """Where an "add" stroke takes its look from."""

    kind: StyleKind = "dictionary"  # the dictionary's levels, a generated sample, or a reference image
    seed: int | None = None  # the sample's seed (kind == "sample")
    strength: float = 0.75  # in [0, 1]: 0 keeps the default levels, 1 copies the sample's / reference's
    reference: Reference | None = None  # kind == "reference"

    def check(self) -> None:
        if self.kind not in STYLE_KINDS:
            raise StrokeError(f"style must be one of {', '.join(STYLE_KINDS)}, got {shown(self.kind)}")
        unit_interval("style strength", self.strength)
        if self.kind == "sample" and self.seed is None:
            raise StrokeError("pick a sample in the style gallery first (or choose the default look)")
        if self.kind == "sample":
            seed_value("a sample style's seed", self.seed)
        if self.kind == "reference" and self.reference is None:
            raise StrokeError("upload a reference image first (or choose the default look)")

    @property
    def is_default(self) -> bool:
        """True when the stroke draws with the default levels (no style, or strength 0)."""
        return self.kind == "dictionary" or self.strength == 0

    def describe(self) -> str:
        if self.kind == "sample":
            return f"sample #{self.seed} at {self.strength:.2f}"
        if self.kind == "reference":
            name = self.reference.name if self.reference is not None else "reference"
            return f"reference {name} at {self.strength:.2f}"
        return "default look"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "strength": self.strength}
        if self.kind == "sample":
            out["seed"] = int(self.seed)
        if self.kind == "reference" and self.reference is not None:
            out.update(reference=self.reference.name, reference_sha256=self.reference.sha256)
        return out


@dataclass(frozen=True)
class StrokeSpec:
    """One stroke as the user gave it: a mask on the model's square, a concept, add or remove, how strongly."""

    mask: np.ndarray  # float32 [S, S] in [0, 1] over the model's square (photo.mask_to_square maps any mask)
    concept: str  # a concept of the model's dictionary
    action: str  # "add" | "remove"
    strength: float = 0.75  # in [0, 1]
    style: StyleSpec = StyleSpec()  # only "add" strokes use it
    enabled: bool = True  # switched-off strokes stay in the list but change nothing

    def check(self, concepts: ConceptDictionary, *, resolution: int) -> None:
        """Every cheap check, before any setup: ``StrokeError`` says what to change."""
        if not isinstance(self.action, str) or self.action not in ("add", "remove"):
            raise StrokeError(f"action must be 'add' or 'remove', got {shown(self.action)}")
        if not isinstance(self.concept, str):
            raise StrokeError(f"concept must be a name, got {shown(self.concept)}")
        if self.concept not in concepts.names():
            raise StrokeError(f"unknown concept {shown(self.concept)}; this model knows: {', '.join(concepts.names())}")
        unit_interval("strength", self.strength)
        unit_interval("style strength", self.style.strength)  # even where unused ("remove"): no value passes unchecked
        if self.action == "add":
            self.style.check()
        mask = np.asarray(self.mask)
        if mask.shape != (resolution, resolution):
            raise StrokeError(f"stroke mask must be {resolution}×{resolution} (the model's square), got {mask.shape}")
        if not np.isfinite(mask).all():
            raise StrokeError("the mask has values that are not numbers")
        if float(mask.max(initial=0)) <= 0:
            raise StrokeError("the mask is empty: paint over the part of the photo where the concept should change")

    @property
    def effective_style(self) -> StyleSpec:
        """The style the stroke draws with: "remove" strokes have none."""
        return self.style if self.action == "add" else StyleSpec()

    # -- the stroke kind (ganpaint_core.edit.kinds.StrokeKind) -----------------------------------------
    kind: ClassVar[str] = "concept"
    has_candidates: ClassVar[bool] = False
    needs_directions: ClassVar[bool] = False
    portable: ClassVar[bool] = True  # its mask is resized onto another model's square (compare across models)

    @property
    def concepts(self) -> tuple[str, ...]:
        return (self.concept,)

    def check_on(self, engine: ConceptEditor, *, callback: Any = None) -> None:
        self.check(engine.concepts, resolution=engine.resolution)

    def resolve(self, engine: ConceptEditor, state: Any) -> EditStroke:
        """The engine's stroke: the style resolved to insertion levels (kept by content in the engine)."""
        levels = engine.style_levels(self.effective_style, self.concept) if self.action == "add" else None
        return EditStroke(mask=self.mask.astype("float32", copy=False), concept=self.concept, action=self.action,
                          strength=float(self.strength), style_levels=levels, enabled=bool(self.enabled))

    def to_record(self, applied: EditStroke) -> dict[str, Any]:
        return {
            "concept": self.concept,
            "action": self.action,
            "strength": float(self.strength),
            "enabled": bool(self.enabled),
            "style": self.effective_style.to_json() | {"description": self.effective_style.describe()},
            "style_levels": None if applied.style_levels is None else [round(v, 5) for v in applied.style_levels],
            "mask_png_base64": mask_png_base64(self.mask),  # [S, S] on the model's square, white = edit
            "mask_share": round(float(np.asarray(self.mask).mean()), 5),
        }

    def describe(self) -> str:
        return f"{self.action} {self.concept}"

    def label(self) -> str:
        """"add tree · strength 0.75 · 6% of the square · sample #1000003 at 0.60"."""
        label = (f"{self.action} {self.concept} · strength {self.strength:.2f} · "
                 f"{float(self.mask.mean()) * 100:.0f}% of the square")
        return label + (f" · {self.effective_style.describe()}" if self.effective_style.kind != "dictionary" else "")

    def references(self) -> dict[str, Reference]:
        """The style reference it draws with, by sha256 (a share bundle carries its pixels)."""
        ref = self.effective_style.reference if self.effective_style.kind == "reference" else None
        return {} if ref is None else {ref.sha256: ref}

    def with_strength(self, strength: float) -> StrokeSpec:
        return dataclasses.replace(self, strength=strength)

    def settings(self) -> dict[str, float]:
        """Its strength, and its look's strength where it copies a look (an "add" with a sample or a reference)."""
        own = {"strength": float(self.strength)}
        if self.effective_style.kind != "dictionary":
            own["style_strength"] = float(self.style.strength)
        return own

    def with_settings(self, values: Mapping[str, float]) -> StrokeSpec:
        """The stroke with some of its ``settings()`` changed (each checked to lie in [0, 1]); the rest as it was."""
        refuse_settings(f"stroke {self.describe()}", {k: v for k, v in values.items() if k not in self.settings()})
        new = self
        if "strength" in values:
            new = dataclasses.replace(new, strength=unit_interval("strength", values["strength"]))
        if "style_strength" in values:
            style = dataclasses.replace(self.style, strength=unit_interval("style strength", values["style_strength"]))
            new = dataclasses.replace(new, style=style)
        return new

    def on_square(self, resolution: int) -> StrokeSpec:
        """The stroke with its mask on a ``resolution`` square (another model's)."""
        mask = np.asarray(self.mask, dtype=np.float32)
        if mask.shape != (resolution, resolution):
            img = Image.fromarray((mask * 255).round().astype(np.uint8)).resize(
                (resolution, resolution), Image.Resampling.BOX if mask.shape[0] > resolution
                else Image.Resampling.BILINEAR)
            mask = np.asarray(img, dtype=np.float32) / 255
        return dataclasses.replace(self, mask=mask)


class ConceptEditor(Protocol):
    """What a concept stroke asks of the engine (:class:`~ganpaint_core.edit.engine.EditEngine` is one)."""

    resolution: int  # the model's square
    concepts: ConceptDictionary

    def style_levels(self, style: StyleSpec, concept: str) -> tuple[float, ...] | None: ...


@dataclass(frozen=True)
class EditOptions:
    """How the photo is set up and the result rendered."""

    fit: Literal["crop", "pad"] = "crop"  # crop: the centre square; pad: all of the photo, at lower detail
    adapt: bool = True  # image-specific adaptation of the fine layers (off: the plain inversion)
    refit: bool = False  # a short warm-started refit outside the edit region, per render
    invert: Literal["single", "segments"] = "single"  # one latent code, or one per segment (edit.segments)
    transfer: Literal["delta", "flow"] = "delta"  # how the render's change reaches the photo: added (delta) or
    # with the photo's own pixels moved as the render's content moved (flow: edit.flow)

    def check(self) -> None:
        if self.fit not in ("crop", "pad"):
            raise StrokeError(f"fit must be 'crop' or 'pad', got {shown(self.fit)}")
        if self.invert not in INVERT_MODES:
            raise StrokeError(f"invert must be 'single' (one latent code) or 'segments' (one code per segment), "
                              f"got {shown(self.invert)}")
        if self.transfer not in ("delta", "flow"):
            raise StrokeError(f"transfer must be 'delta' (add the render's change) or 'flow' (move the photo's own "
                              f"pixels as the render's content moved), got {shown(self.transfer)}")

    def to_json(self) -> dict[str, Any]:
        """The options as a bundle keeps them; ``invert`` only when not the default, so that the ids of
        bundles made before the option existed stay the same."""
        out: dict[str, Any] = {"fit": self.fit, "adapt": self.adapt, "refit": self.refit}
        out = out if self.invert == "single" else out | {"invert": self.invert}
        return out if self.transfer == "delta" else out | {"transfer": self.transfer}

    @classmethod
    def from_json(cls, raw: Any) -> EditOptions:
        """The options a record or bundle saved (``"options"``), checked; missing keys (older records) take
        the defaults."""
        raw = raw if isinstance(raw, dict) else {}
        options = cls(fit=raw.get("fit", "crop"), adapt=bool(raw.get("adapt", True)),
                      refit=bool(raw.get("refit", False)), invert=raw.get("invert", "single"),
                      transfer=raw.get("transfer", "delta"))
        options.check()
        return options
