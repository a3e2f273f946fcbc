"""What an edit engine keeps between requests, as objects it is given: the caller decides whether engines
share them, replace them or keep them off the disk.

Example::

    caches = EditCaches()                                   # fresh memory caches + the setup store on disk
    engine = EditEngine(load_model("synth-church"), caches=caches)
    other = EditEngine(load_model("stylegan2-church"), caches=caches)    # shares them: keys name the model
    bench = EditEngine(model, caches=EditCaches(setup_store=None))        # memory only (setups are measured)
    len(engine.caches.styles)                               # style analyses held

Every key names content, never a session: a photo setup by the setup store's key (the model's weights, the
model square's sha256, the settings), a style analysis, brush candidates, directions and a latent's render by
the model's weights and what they were computed from. So engines of different models may share one
:class:`EditCaches` without meeting each other's entries. Each cache is a bounded
:class:`~ganpaint_core.core.lru.LRUCache`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ganpaint_core.analysis.directions import Directions
from ganpaint_core.core.lru import LRUCache
from ganpaint_core.edit.setup_store import SetupStore

SETUP_CACHE_SIZE = 8  # photo setups kept in memory (a few MB each at 256 px), oldest dropped first
STYLE_CACHE_SIZE = 256  # style analyses: a tuple of C floats each
BRUSH_CACHE_SIZE = 32  # brush candidate lists: K latents and feature offsets each (a few MB at 256 px)
DIRECTIONS_CACHE_SIZE = 4  # models whose directions are held (one per model an engine edits)
LATENT_RENDER_CACHE_SIZE = 8  # photos' latent renders ([1, 3, S, S] floats: 0.8 MB each at 256 px)


class SetupCache(LRUCache[str, dict[str, Any]]):
    """Photo setups in memory: a PhotoState's fields but the photo, by the setup store's key
    (:func:`~ganpaint_core.edit.setup_store.setup_key`), so memory and disk name a setup alike."""

    def __init__(self, capacity: int = SETUP_CACHE_SIZE) -> None:
        super().__init__(capacity)


class StyleAnalyses(LRUCache[tuple, tuple[float, ...]]):
    """A style's insertion levels at strength 1, by (model, style source, concept): a reference (by its
    sha256) is inverted once per concept, however many strokes, renders or users use it."""

    def __init__(self, capacity: int = STYLE_CACHE_SIZE) -> None:
        super().__init__(capacity)


class BrushCandidates(LRUCache[tuple, list[Any]]):
    """A brush's candidates (``edit.brush.BrushCandidate``, best first), by (model, the photo's setup, the
    brush's strokes): another pick or morph renders again without optimising again."""

    def __init__(self, capacity: int = BRUSH_CACHE_SIZE) -> None:
        super().__init__(capacity)


class ModelDirections(LRUCache[tuple, Directions]):
    """A model's latent directions (found or loaded once), by the model."""

    def __init__(self, capacity: int = DIRECTIONS_CACHE_SIZE) -> None:
        super().__init__(capacity)


class LatentRenders(LRUCache[tuple, Any]):
    """A photo's inverted latent rendered alone (no residual, no adaptation: the light tone matching maps to
    the photo's), by (model, the latent's sha256): one generator pass per photo, not one per edit."""

    def __init__(self, capacity: int = LATENT_RENDER_CACHE_SIZE) -> None:
        super().__init__(capacity)


@dataclass(frozen=True)
class EditCaches:
    """The caches and the store an :class:`~ganpaint_core.edit.engine.EditEngine` uses; each field defaults
    to a new, empty one (the store: ``SetupStore.default()``, read from the environment when this is made)."""

    setups: SetupCache = field(default_factory=SetupCache)  # photo setups in memory, read through to the store
    setup_store: SetupStore | None = field(default_factory=SetupStore.default)  # setups on disk (None: memory only)
    styles: StyleAnalyses = field(default_factory=StyleAnalyses)  # style levels at strength 1
    brushes: BrushCandidates = field(default_factory=BrushCandidates)  # brush candidates
    directions: ModelDirections = field(default_factory=ModelDirections)  # latent directions per model
    latent_renders: LatentRenders = field(default_factory=LatentRenders)  # tone matching's light per photo
