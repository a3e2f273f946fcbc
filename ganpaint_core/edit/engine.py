"""The edit engine: one read-only model, many photos. Per-photo state is small and deep-copyable.

Example::

    engine = EditEngine(load_model("synth-church"))
    state = engine.prepare(load_photo("church.jpg", size=engine.resolution))       # invert + adapt, once
    stroke = engine.stroke(mask, concept="tree", action="add", strength=0.8)   # mask on the model's square
    result = engine.render(state, [stroke])                                           # one tail pass
    result.final                                                                      # full-resolution RGB

Edits as users describe them (style specs, records, setup) go through
:func:`ganpaint_core.edit.pipeline.edit_photo`, which calls this engine.

The engine keeps the model and does the edit. What it remembers between requests (photo setups in memory
and on disk, style analyses, brush candidates, directions) lives in the
:class:`~ganpaint_core.edit.caches.EditCaches` it is given (``EditEngine(model, caches=...)``, new ones by
default), so callers may share or replace them. The brush's optimisation lives in
:mod:`ganpaint_core.edit.brush`, which this module does not import: the engine knows a brush only as a
:class:`CandidateSearch`.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from ganpaint_core.analysis.directions import Directions, load_directions
from ganpaint_core.core.memory import returns_free_memory
from ganpaint_core.core.metrics import psnr
from ganpaint_core.core.photo import Photo, mask_to_square, to_uint8
from ganpaint_core.core.progress import Callback
from ganpaint_core.edit.adapt import AdaptConfig, FineLayerAdapter, adapt_fine_layers, adapter_shapes, refit_outside
from ganpaint_core.edit.caches import EditCaches
from ganpaint_core.edit.composite import CompositeConfig, change_region, composite
from ganpaint_core.edit.flow import estimate_motion, flow_composite
from ganpaint_core.edit.invert import InversionConfig
from ganpaint_core.edit.invert import invert as invert_photo  # ``invert`` names prepare's option
from ganpaint_core.edit.losses import get_lpips
from ganpaint_core.edit.plans import QUICK_FIT, SetupPlan
from ganpaint_core.edit.segments import (
    INVERT_MODES,
    SegmentConfig,
    SegmentError,
    describe,
    invert_segments,
    model_segment,
)
from ganpaint_core.edit.setup_store import setup_key
from ganpaint_core.edit.spec import Reference, StyleSpec
from ganpaint_core.edit.state import PhotoState, RenderResult
from ganpaint_core.edit.strokes import EditStroke, FeatureEdit, apply_strokes
from ganpaint_core.edit.style import blend_levels, concept_region, style_levels
from ganpaint_core.hub.loading import LoadedModel
from ganpaint_core.models.layers import run_tail, tail_layer_shapes

log = logging.getLogger(__name__)

MOTION_FRAMES = 4  # the flow transfer estimates an edit's motion along this many frames (iGAN: frame by frame)


class CandidateSearch(Protocol):
    """What :meth:`EditEngine.brush_candidates` needs of a brush (``edit.brush.BrushSpec`` is one): the
    engine keeps the candidates by content and leaves the search to the brush."""

    def key(self) -> str:
        """A digest of everything the candidates depend on besides the photo."""
        ...

    def search(self, engine: EditEngine, state: PhotoState, *,
               on_candidate: Callable[[int, int, Any], None] | None = None) -> list[Any]:
        """The candidates on ``state``'s photo, best first (``on_candidate(i, n, candidate)`` as each is ready)."""
        ...


class EditEngine:
    """Inversion, adaptation, edits and paste-back over a shared, read-only model.

    Example::

        engine = EditEngine(load_model("synth-church"), caches=EditCaches(setup_store=None))
        state = engine.prepare(photo)                 # set up once (or found in engine.caches)
        engine.render(state, [engine.stroke(mask, concept="tree", action="add")]).final
    """

    def __init__(self, model: LoadedModel, *, inversion: InversionConfig = InversionConfig(),
                 adaptation: AdaptConfig = AdaptConfig(), segments: SegmentConfig = SegmentConfig(),
                 use_lpips: bool = True, caches: EditCaches | None = None, quick: SetupPlan = QUICK_FIT) -> None:
        if model.concepts is None:
            raise ValueError(f"{model.manifest.name} has no concept dictionary; run dissection first")
        self.model = model
        self.concepts = model.concepts
        self.device = model.device
        self.layer = model.manifest.edit_layer
        self.head, self.tail = model.generator.split(self.layer)
        self.resolution = model.manifest.resolution
        self.inversion_cfg = inversion
        self.adapt_cfg = adaptation
        self.quick_plan = quick  # the quick fit's settings (quick_fit)
        self.segment_cfg = segments
        self.use_lpips = use_lpips
        self._shapes = adapter_shapes(tail_layer_shapes(model.generator, self.layer), model.manifest.fine_layers)
        self._lock = threading.Lock()  # torch ops are thread-safe; this guards lazy LPIPS creation
        # Setups (memory and disk), style analyses, brush candidates, directions: keyed by content and model,
        # so several engines may share them.
        self.caches = caches if caches is not None else EditCaches()
        self._params_sha256: str | None = None  # a model built in memory: its generator's parameters, once

    # -- per photo ------------------------------------------------------------------------------
    def _lpips(self):
        with self._lock:
            return get_lpips(self.device) if self.use_lpips else None

    def prepare(self, photo: Photo, *, adapt: bool = True, invert: str = "single", callback: Callback | None = None,
                seed: int = 0) -> PhotoState:
        """Invert the photo (one code, or with ``invert="segments"`` one per segment: :mod:`.segments`) and fit
        its adaptation, once; the state then serves every edit.

        A photo whose model square was set up recently with this model and these settings (the same pixels,
        another request: the API called again, a page reload, another crop of the same square) reuses that
        setup, from ``caches.setups`` or ``caches.setup_store``: it is deterministic, so the result is the
        same, minus seconds of inversion."""
        cached = self.cached_setup(photo, adapt=adapt, invert=invert, seed=seed)
        if cached is not None:
            return cached
        state = self._setup(photo, adapt=adapt, invert=invert, callback=callback, seed=seed)
        fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state) if f.name != "photo"}
        key = self.setup_key(photo, adapt=adapt, seed=seed, invert=invert)
        self.caches.setups.put(key, fields)
        if self.caches.setup_store is not None:
            self.caches.setup_store.put(key, fields)
        return dataclasses.replace(state, notes=[*photo.notes, *state.notes])

    def cached_setup(self, photo: Photo, *, adapt: bool = True, invert: str = "single",
                     seed: int = 0) -> PhotoState | None:
        """``photo``'s full setup when it was made before (in ``caches.setups`` or ``caches.setup_store``), else
        None; nothing is computed."""
        if invert not in INVERT_MODES:
            raise SegmentError(f"invert must be one of {', '.join(INVERT_MODES)}, got {invert!r}")
        key = self.setup_key(photo, adapt=adapt, seed=seed, invert=invert)
        setups, store = self.caches.setups, self.caches.setup_store
        cached = setups.get(key)
        if cached is None and store is not None:  # set up by an earlier process (CLI call, app run)
            cached = store.get(key)
            if cached is not None:
                setups.put(key, cached)
        if cached is None:
            return None
        notes = [*photo.notes, *cached["notes"], "set up before: the inversion and adaptation were reused"]
        return PhotoState(photo=photo, **(cached | {"notes": notes, "timings": dict(cached["timings"]),
                                                    "invert": invert, "fit": "full"}))

    def quick_fit(self, photo: Photo, *, invert: str = "single", callback: Callback | None = None,
                  seed: int = 0) -> PhotoState:
        """A first, cheap setup of ``photo`` (``quick_plan``: the encoder's guess, a few joint steps, a short
        adaptation; one code even for ``invert="segments"``) that strokes can preview on while the full
        setup (:meth:`prepare`) runs. Its state says ``fit="quick"`` and is never cached or stored; a photo
        whose full setup is at hand gets that instead."""
        cached = self.cached_setup(photo, invert=invert, seed=seed)
        if cached is not None:
            return cached
        state = self._setup(photo, adapt=True, invert="single", callback=callback, seed=seed, plan=self.quick_plan)
        # ``invert`` is the full fit's (what the page starts next); the quick fit itself is one code
        return dataclasses.replace(state, notes=[*photo.notes, *state.notes], fit="quick", invert=invert)

    def setup_key(self, photo: Photo, *, adapt: bool, seed: int, invert: str) -> str:
        """The key of ``photo``'s setup, in memory and on disk: the sha256 of its model square, the weights'
        sha256 and every setting the setup depends on, so setups of other models or settings never meet."""
        square = hashlib.sha256(photo.model_image.numpy().tobytes()).hexdigest()
        settings = {"adapt": bool(adapt), "seed": int(seed), "inversion": dataclasses.asdict(self.inversion_cfg),
                    "adaptation": dataclasses.asdict(self.adapt_cfg), "lpips": self.use_lpips,
                    "device": self.device.type, "layer": self.layer}
        if invert != "single":  # only then: single-code setups stored before the option existed stay valid
            settings |= {"invert": invert, "segments": dataclasses.asdict(self.segment_cfg)}
        return setup_key(square_sha256=square, weights_sha256=self.weights_sha256(), settings=settings)

    def weights_sha256(self) -> dict[str, str]:
        """The model's files' sha256 by role; a model built in memory (no files) is named by its generator's
        parameters instead, so that two such models never share a setup."""
        if self.model.sha256:
            return dict(self.model.sha256)
        if self._params_sha256 is None:
            h = hashlib.sha256()
            for name, t in sorted(self.model.generator.state_dict().items()):
                h.update(name.encode())
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
            self._params_sha256 = h.hexdigest()
        return {"generator_parameters": self._params_sha256}

    def model_key(self) -> str:
        """What names this engine's model in the shared caches' keys: the weights' sha256, the edit layer and
        the device kind (analyses on another device differ in the last bits)."""
        blob = json.dumps({"weights": self.weights_sha256(), "layer": self.layer, "device": self.device.type},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    @returns_free_memory  # a setup frees hundreds of MB: handed back, also when it is cancelled
    def _setup(self, photo: Photo, *, adapt: bool, invert: str, callback: Callback | None, seed: int,
               plan: SetupPlan | None = None) -> PhotoState:
        """Inversion and adaptation of ``photo``'s square (by ``plan``; None: the engine's full fit); the
        state's notes are the setup's own."""
        inversion_cfg = plan.inversion if plan is not None else self.inversion_cfg
        adapt_cfg = plan.adaptation if plan is not None else self.adapt_cfg
        target = photo.model_image.to(self.device)
        lpips_model = self._lpips()
        inv = invert_photo(self.model.generator, target, layer=self.layer, encoder=self.model.encoder,
                           cfg=inversion_cfg, lpips_model=lpips_model, seed=seed, callback=callback)
        notes: list[str] = []
        if lpips_model is None:
            notes.append("LPIPS unavailable: reconstruction used L1 + image gradients")
        if inv.stopped:
            notes.append(inv.stopped)
        timings = {"invert_s": inv.seconds}
        segments = None
        if invert == "segments":
            segment, label_names = model_segment(self.model)
            seg = invert_segments(self.model.generator, target, layer=self.layer, first=inv, segment=segment,
                                  label_names=label_names, encoder=self.model.encoder, cfg=self.segment_cfg,
                                  lpips_model=lpips_model, callback=callback)
            inv, segments = seg.inversion, seg.kept()
            timings["segments_s"] = seg.seconds
            notes.append(describe(seg) + ("" if segment is not None else " (no segmenter: a fixed grid)"))
            if inv.stopped:
                notes.append(inv.stopped)
        adapter_state: dict[str, torch.Tensor] = {}
        after = inv.psnr
        latent = inv.latent.to(self.device)
        with torch.no_grad():
            base = run_tail(self.tail, inv.features.to(self.device), latent=latent)
        if adapt:
            adapter, info = adapt_fine_layers(self.tail, inv.features.to(self.device), target, shapes=self._shapes,
                                              latent=latent, cfg=adapt_cfg, lpips_model=lpips_model,
                                              callback=callback)
            timings["adapt_s"] = info["seconds"]
            if info["stopped"]:
                notes.append(info["stopped"])
            adapter_state = {k: v.detach().cpu() for k, v in adapter.state_dict().items()}
            with torch.no_grad():
                base = run_tail(self.tail, inv.features.to(self.device), latent=latent, modify=adapter)
                after = psnr(base, target)
        return PhotoState(photo=photo, latent=inv.latent, features=inv.features, adapter=adapter_state,
                          recon_psnr_before=inv.psnr, recon_psnr_after=after, base_render=base.cpu(),
                          timings=timings, notes=notes, invert=invert, segments=segments)

    def adapter_for(self, state: PhotoState) -> FineLayerAdapter | None:
        if not state.adapter:
            return None
        adapter = FineLayerAdapter(self._shapes)
        adapter.load_state_dict(state.adapter)
        return adapter.to(self.device).requires_grad_(False)

    # -- strokes --------------------------------------------------------------------------------
    def stroke(self, mask: np.ndarray, *, concept: str, action: str, strength: float = 0.75,
               style: tuple[float, ...] | None = None, photo: Photo | None = None) -> EditStroke:
        """A validated stroke. ``mask`` is float [H, W] in [0, 1] over the photo at any scale (with ``photo``),
        or over the model's square."""
        notes: list[str] = []
        square = mask_to_square(mask, photo, self.resolution) if photo is not None else mask
        if square.shape != (self.resolution, self.resolution):
            notes.append(f"mask resized from {square.shape[1]}×{square.shape[0]} to {self.resolution}×{self.resolution}")
            square = np.asarray(Image.fromarray((square * 255).astype(np.uint8)).resize(
                (self.resolution, self.resolution), Image.Resampling.BILINEAR), dtype=np.float32) / 255
        if float(square.max(initial=0)) == 0:
            notes.append("the mask is empty: nothing to change (paint where the concept should change)")
        s = EditStroke(mask=square.astype(np.float32), concept=concept, action=action, strength=strength,
                       style_levels=style, notes=tuple(notes))
        s.validate(self.concepts)
        return s

    # -- style ----------------------------------------------------------------------------------
    def style_levels(self, style: StyleSpec, concept: str) -> tuple[float, ...] | None:
        """The insertion levels ``style`` gives an "add" of ``concept`` (None: the defaults). The one
        resolver of a style for every way in; analysis at strength 1 is cached by content."""
        style.check()
        if style.is_default:
            return None
        if style.kind == "sample":
            return self.style_from_sample(int(style.seed), concept=concept, strength=style.strength)
        return self.style_from_reference(style.reference, concept=concept, strength=style.strength)

    def style_from_reference(self, reference: Reference, *, concept: str, strength: float,
                             steps: int = 40) -> tuple[float, ...]:
        """Insertion levels copied from ``reference``'s concept region (quick inversion), blended by ``strength``."""
        self.concepts.ranking(concept)
        full = self.caches.styles.get_or_compute((self.model_key(), "reference", reference.sha256, concept, steps),
                                                 lambda: self._reference_levels(reference.image, concept, steps))
        return blend_levels(self.concepts, concept, full, strength)

    def _reference_levels(self, image: Photo, concept: str, steps: int) -> tuple[float, ...]:
        target = image.model_image.to(self.device)
        quick = InversionConfig(latent_steps=steps, joint_steps=0, candidates=8)
        inv = invert_photo(self.model.generator, target, layer=self.layer, encoder=self.model.encoder, cfg=quick)
        seg = self.model.segmenter
        label = seg.labels.index(concept) if seg is not None and concept in seg.labels else None
        with torch.no_grad():
            region = concept_region(inv.features, self.concepts, concept, image=target,
                                    segment=seg.predict if seg is not None else None, label=label)
        return style_levels(inv.features, region, self.concepts, concept=concept)

    def style_from_sample(self, seed: int, *, concept: str, strength: float) -> tuple[float, ...]:
        """Insertion levels from a generated sample (its own features, no inversion needed)."""
        self.concepts.ranking(concept)
        full = self.caches.styles.get_or_compute((self.model_key(), "sample", int(seed), concept),
                                                 lambda: self._sample_levels(int(seed), concept))
        return blend_levels(self.concepts, concept, full, strength)

    @torch.no_grad()
    def _sample_levels(self, seed: int, concept: str) -> tuple[float, ...]:
        z = torch.randn(1, self.model.generator.latent_size, generator=torch.Generator().manual_seed(seed))
        features = self.head(z.to(self.device))
        region = concept_region(features, self.concepts, concept)
        return style_levels(features, region, self.concepts, concept=concept)

    # -- render ---------------------------------------------------------------------------------
    @torch.no_grad()
    def render(self, state: PhotoState, strokes: Sequence[EditStroke | FeatureEdit], *, final: bool = True,
               refit: bool = False, composite_cfg: CompositeConfig = CompositeConfig()) -> RenderResult:
        """Apply the strokes and render with the photo's adaptation; composite into the original if ``final``
        (:mod:`ganpaint_core.edit.composite`: the photo keeps its pixels and takes the edit's change)."""
        t0 = time.monotonic()
        notes = [n for s in strokes for n in s.notes]
        for s in strokes:
            s.validate(self.concepts)
        active = [s for s in strokes if not s.is_noop()]
        adapter = self.adapter_for(state)
        features = state.features.to(self.device)
        latent = state.latent.to(self.device)
        base = state.base_render.to(self.device)
        if not active:
            notes.append("no active stroke: the render is the reconstruction")
            edited = base
        else:
            edited_features = apply_strokes(features, active, self.concepts)
            release = self.release_mask(active, grid=features.shape[-1])
            if refit and adapter is not None:
                mask = torch.from_numpy(np.maximum.reduce([s.mask for s in active]))[None, None].to(self.device)
                with torch.enable_grad():
                    adapter = refit_outside(adapter, self.tail, edited_features, state.photo.model_image.to(self.device),
                                            mask, latent=latent, cfg=self.adapt_cfg, lpips_model=self._lpips())
                base = run_tail(self.tail, features, latent=latent, modify=adapter)
            if adapter is not None:
                adapter.release = release
            edited = run_tail(self.tail, edited_features, latent=latent, modify=adapter)
        timings = {"tail_s": time.monotonic() - t0}
        empty = np.zeros((self.resolution, self.resolution), np.float32)
        painted = np.maximum.reduce([s.mask for s in active] + [empty])
        added = np.maximum.reduce([s.mask for s in active if s.action == "add"] + [empty])
        region = np.maximum.reduce([change_region(painted, reach=composite_cfg.reach)]
                                   + [s.region for s in active if s.region is not None])
        out = changed = latent_render = None
        if composite_cfg.tone > 0 and added.any():  # the latent's own light: one pass per photo (caches)
            key = (self.model_key(), _content_sha256(state.latent))
            latent_render = self.caches.latent_renders.get_or_compute(
                key, lambda: run_tail(self.tail, self.head(latent), latent=latent)).to(self.device)
        if final:
            t1 = time.monotonic()
            as_float = lambda x: ((x[0].float().clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).cpu().numpy()  # noqa: E731
            light = None if latent_render is None else as_float(latent_render)
            if composite_cfg.transfer == "flow":
                motion = self._motion(active, features, edited_features, base, latent, adapter) if active else None
                result = flow_composite(state.photo, edited=as_float(edited), base=as_float(base), painted=painted,
                                        region=region, motion=np.zeros((*painted.shape, 2), np.float32)
                                        if motion is None else motion)
                if added.any():
                    result.notes.append("the flow transfer does no tone matching: added content keeps the model's light")
            else:
                result = composite(state.photo, edited=as_float(edited), base=as_float(base), painted=painted,
                                   added=added, latent_render=light, region=region, cfg=composite_cfg)
            out, changed = result.image, result.changed
            notes += result.notes
            timings["paste_s"] = time.monotonic() - t1
        return RenderResult(preview=to_uint8(edited[0]), final=out, region=region, timings=timings, notes=notes,
                            changed=changed, base=to_uint8(base[0]), painted=painted, added=added,
                            latent_render=None if latent_render is None else to_uint8(latent_render[0]))

    def _motion(self, active: Sequence[EditStroke | FeatureEdit], features: torch.Tensor, edited: torch.Tensor,
                base: torch.Tensor, latent: torch.Tensor, adapter: FineLayerAdapter | None) -> np.ndarray:
        """[S, S, 2]: how the render's content moved under the strokes: the strokes' own known displacements
        (a warp's) when they have them, else estimated along ``MOTION_FRAMES`` frames of the edit."""
        known = [s.motion for s in active if s.motion is not None]
        if known:
            return np.sum(known, axis=0).astype(np.float32)
        as_float = lambda x: ((x[0].float().clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).cpu().numpy()  # noqa: E731
        frames = [as_float(base)]
        for t in np.linspace(0, 1, MOTION_FRAMES)[1:]:
            frames.append(as_float(run_tail(self.tail, features + float(t) * (edited - features), latent=latent,
                                            modify=adapter)))
        return estimate_motion(frames)

    def brush_candidates(self, state: PhotoState, spec: CandidateSearch, *,
                         on_candidate: Callable[[int, int, Any], None] | None = None) -> list[Any]:
        """The brush's candidates on the photo (``spec.search``: :func:`~ganpaint_core.edit.brush.brush_candidates`),
        kept by content in ``caches.brushes``: picking another candidate or moving the morph slider renders
        again without optimising again."""
        return self.caches.brushes.get_or_compute(self._brush_key(state, spec),
                                                  lambda: spec.search(self, state, on_candidate=on_candidate))

    def has_brush_candidates(self, state: PhotoState, spec: CandidateSearch) -> bool:
        """Whether :meth:`brush_candidates` would answer from its cache (no optimisation): a page previews a
        brush live only once its candidates were asked for."""
        return self._brush_key(state, spec) in self.caches.brushes

    def _brush_key(self, state: PhotoState, spec: CandidateSearch) -> tuple[str, str, str]:
        return self.model_key(), _content_sha256(state.latent, state.features, *state.adapter.values()), spec.key()

    def directions(self, *, callback: Callback | None = None) -> Directions:
        """The model's latent directions (:func:`ganpaint_core.analysis.directions.load_directions`: found once per
        generator and kept on disk; the first call for a model may take a minute, reported to ``callback``),
        held in ``caches.directions``."""
        return self.caches.directions.get_or_compute((self.model_key(),),
                                                     lambda: load_directions(self.model, callback=callback))

    def use_directions(self, directions: Directions) -> None:
        """Edit with ``directions`` (found elsewhere: another segmenter, other settings) instead of loading them."""
        self.caches.directions.put((self.model_key(),), directions)

    def release_mask(self, strokes: Sequence[EditStroke | FeatureEdit], *, grid: int) -> torch.Tensor:
        """[1, 1, S, S]: the strokes' edit-grid alpha (what the edit layer changes), upsampled as each kind says
        (``release_mode``: a concept stroke's cell by cell, a feature edit's bilinear). A whole-photo edit
        releases nothing: its change is mild and everywhere, and the adaptation keeps the photo's detail."""
        alpha = torch.zeros(1, 1, self.resolution, self.resolution)
        for mode in sorted({s.release_mode for s in strokes}):
            released = [a for s in strokes if s.release_mode == mode and (a := s.release_alpha(grid)) is not None]
            if released:
                up = F.interpolate(torch.stack(released).amax(0), size=alpha.shape[-2:], mode=mode,
                                   **({} if mode == "nearest" else {"align_corners": False}))
                alpha = torch.maximum(alpha, up)
        return alpha.to(self.device)

    def copy_state(self, state: PhotoState) -> PhotoState:
        return copy.deepcopy(state)


def _content_sha256(*tensors: torch.Tensor) -> str:
    """The tensors' bytes, in order, as one sha256: what the engine's caches key a photo's own values by."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()
