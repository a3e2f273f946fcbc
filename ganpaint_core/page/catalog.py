"""The models an app has loaded (once each, read-only, shared by every session) and their derived,
read-only data: concept-rich sample galleries.

Example::

    catalog = EngineCatalog(engine)                          # the default model, already loaded
    engine = catalog.engine("progan-church", progress=cb)    # loads (downloads) on first use
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.photo import to_uint8
from ganpaint_core.core.progress import Callback
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.models.layers import run_tail

SAMPLE_SEED_BASE = 1_000_000  # generated samples (gallery, examples) use seeds from here on


class NotDissected(GanpaintError):
    """The model loads but has no concept dictionary yet: it can be dissected (``EngineCatalog.dissect``)."""

    def __init__(self, model: str) -> None:
        super().__init__(f"{model} has no concept dictionary yet, so it cannot edit: its units have to be dissected "
                         "first (which ones draw trees, domes, …). That runs once; the result is cached.")
        self.model = model


class EngineCatalog:
    """Loaded engines by model name, and their sample galleries."""

    def __init__(self, default: EditEngine, *, device: torch.device | str | None = None) -> None:
        self.default_name = default.model.manifest.name
        self._engines: dict[str, EditEngine] = {self.default_name: default}
        self._device = torch.device(device) if device is not None else default.device
        self._inversion = default.inversion_cfg
        self._adaptation = default.adapt_cfg
        self._quick = default.quick_plan
        self._lpips = default.use_lpips
        self._lock = threading.Lock()  # one model load at a time; lookups do not wait on it
        self._samples: dict[tuple[str, str, int], list[tuple[int, np.ndarray]]] = {}
        self._pools: dict[tuple[str, int], SamplePool] = {}  # per model: the samples every concept ranks
        self._pool_lock = threading.Lock()
        self._undissected: dict[str, Any] = {}  # loaded models waiting for a dissection (not loaded twice)

    def loaded(self) -> list[str]:
        return list(self._engines)

    def engine(self, name: str, *, progress: Callback | None = None) -> EditEngine:
        """The engine for model ``name``, loading it on first use (``GanpaintError`` with how to supply it)."""
        if name in self._engines:
            return self._engines[name]
        from ganpaint_core.hub.derived import attach_derived_files
        from ganpaint_core.hub.loading import load_model

        with self._lock:
            if name not in self._engines:
                model = self._undissected.pop(name, None)
                if model is None:
                    model = load_model(name, device=self._device, progress=progress)  # attaches derived files
                else:  # loaded earlier without a dictionary: one made since (a background preparation, `dissect`)
                    attach_derived_files(model)
                if model.concepts is None:
                    self._undissected[name] = model
                    raise NotDissected(name)
                self._add(model)
            return self._engines[name]

    def dissect(self, name: str, *, cfg: Any = None, progress: Callback | None = None) -> EditEngine:
        """Dissect model ``name`` (its own segmenter, else SegFormer ADE20K), cache the dictionary where
        ``load_model`` finds it, and return its engine. Resumes an interrupted dissection."""
        from ganpaint_core.analysis.dissect import DissectConfig
        from ganpaint_core.analysis.dissect_run import run_dissection
        from ganpaint_core.analysis.segmenters import segmenter_for
        from ganpaint_core.hub.loading import load_model

        with self._lock:
            if name in self._engines:
                return self._engines[name]
            model = self._undissected.get(name) or load_model(name, device=self._device, progress=progress)
            if model.concepts is None:
                run_dissection(model, segmenter_for(model, device=self._device), cfg=cfg or DissectConfig(),
                               callback=progress)
                model = load_model(name, device=self._device)  # now with the cached dictionary
            self._undissected.pop(name, None)
            return self._add(model)

    def add_concepts(self, name: str, names: Sequence[str], *, cfg: Any = None,
                     progress: Callback | None = None) -> EditEngine:
        """Dissect the concepts ``names`` on model ``name`` (those its dictionary lacks; by their names, through a
        text segmenter for those its segmenter lacks), cache them with its dictionary, and return the engine
        that has them (it replaces the model's engine: the same generator, a longer dictionary)."""
        from ganpaint_core.analysis.concepts_by_name import dissect_concepts
        from ganpaint_core.analysis.dissect import DissectConfig

        engine = self.engine(name, progress=progress)
        concepts = dissect_concepts(engine.model, list(names), cfg=cfg or DissectConfig(), callback=progress)
        if concepts is engine.concepts:
            return engine  # nothing was missing
        with self._lock:
            return self._add(replace(engine.model, concepts=concepts))

    def _add(self, model: Any) -> EditEngine:
        engine = EditEngine(model, inversion=self._inversion, adaptation=self._adaptation, use_lpips=self._lpips,
                            quick=self._quick)
        self._engines[model.manifest.name] = engine
        return engine

    def concept_samples(self, name: str, concept: str, *, count: int = 6,
                        pool: int = 48) -> list[tuple[int, np.ndarray]]:
        """``count`` generated samples (seed, uint8 [S, S, 3]) where ``concept`` covers the most area: by the
        model's segmenter when it has one, else by how many of the concept's top units fire."""
        key = (name, concept, count)
        if key not in self._samples:
            engine = self.engine(name)
            with self._pool_lock:
                if (name, pool) not in self._pools:
                    self._pools[(name, pool)] = sample_pool(engine, pool=pool)
            self._samples[key] = concept_samples(engine, concept, count=count, samples=self._pools[(name, pool)])
        return self._samples[key]


@torch.no_grad()
def generate_samples(engine: EditEngine, seeds: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Edit-layer features [N, C, h, w] and images [N, 3, S, S] in [-1, 1] for ``seeds``."""
    G = engine.model.generator
    z = torch.stack([torch.randn(G.latent_size, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
    features = engine.head(z.to(engine.device))
    return features, run_tail(engine.tail, features, latent=z.to(engine.device))


def sample_images(engine: EditEngine, seeds: Sequence[int]) -> list[np.ndarray]:
    """Generated samples as uint8 [S, S, 3], one per seed."""
    return list(to_uint8(generate_samples(engine, seeds)[1]))


@dataclass(frozen=True)
class SamplePool:
    """Generated samples a style gallery picks from, made once per model: every concept ranks the same pool,
    so changing the concept costs no generation."""

    seeds: list[int]
    images: list[np.ndarray]  # uint8 [S, S, 3] each
    features: torch.Tensor  # edit-layer features [N, C, h, w]
    labels: torch.Tensor | None  # the segmenter's labels [N, S, S], when the model has one


@torch.no_grad()
def sample_pool(engine: EditEngine, *, pool: int = 48, seed_base: int = SAMPLE_SEED_BASE) -> SamplePool:
    seeds = list(range(seed_base, seed_base + pool))
    seg = engine.model.segmenter
    images: list[np.ndarray] = []
    features, labels = [], []
    for start in range(0, pool, 16):
        feats, imgs = generate_samples(engine, seeds[start: start + 16])
        features.append(feats.cpu())
        if seg is not None:
            labels.append(seg.predict(imgs.clamp(-1, 1)).to(torch.int16).cpu())  # [n, S, S]
        images += list(to_uint8(imgs))
    return SamplePool(seeds=seeds, images=images, features=torch.cat(features),
                      labels=torch.cat(labels) if labels else None)


def concept_samples(engine: EditEngine, concept: str, *, count: int = 6, pool: int = 48,
                    seed_base: int = SAMPLE_SEED_BASE, samples: SamplePool | None = None) -> list[tuple[int, np.ndarray]]:
    """See :meth:`EngineCatalog.concept_samples` (``samples``: a pool made before, else one is made)."""
    samples = samples or sample_pool(engine, pool=pool, seed_base=seed_base)
    ranking = engine.concepts.ranking(concept)
    seg = engine.model.segmenter
    label = seg.labels.index(concept) if seg is not None and concept in seg.labels else None
    if label is not None and samples.labels is not None:
        shares = (samples.labels == label).float().mean(dim=(1, 2)).tolist()
    else:
        units = list(ranking.units[:12])
        levels = torch.tensor(engine.concepts.levels, dtype=samples.features.dtype)[units]
        firing = (samples.features[:, units] > 0.5 * levels.view(1, -1, 1, 1)).float().mean(dim=1)  # [n, h, w]
        shares = (firing >= 0.5).float().mean(dim=(1, 2)).tolist()
    order = sorted(range(len(shares)), key=lambda i: -shares[i])[:count]
    return [(samples.seeds[i], samples.images[i]) for i in order]
