"""Latent directions of a model, found once per generator and cached: one per concept, and the top principal
components (GANSpace). Moving a latent along one changes the whole picture (more sky, a greener scene), where
a painted stroke changes one place.

Example::

    dirs = load_directions(model)                    # <cache>/derived/<model>/<sha[:16]>/directions.safetensors
    dirs.names()                                     # ["sky", "cloud", …, "pc1", …, "pc10"]
    z2 = dirs.shift(z, "sky", 1.5)                   # z [N, L] (or W+ [N, n, L]) moved 1.5 std towards more sky
    dirs.get("pc1").label                            # e.g. "+sky −tree": the concept shares it changes most

*Supervised* directions: latents are drawn from the prior (``w = mapping(z)`` for StyleGAN2), rendered and
segmented; each concept's share of the image is fitted by ridge regression on the standardised latents, and
the fit's gradient, back in latent units, is the direction. *PCA* directions (Härkönen et al., GANSpace,
NeurIPS 2020): the principal components of an early layer's features (ProGAN: the first layer) or of ``w``
itself (StyleGAN2), carried back to the latent by least-squares regression of the latents on the component
scores (GANSpace's recipe for generators without a mapping network). Every vector is scaled so that amount 1
moves a latent one standard deviation of the prior along it. The numerics are in :mod:`ganpaint_core.analysis.direction_fits`.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ganpaint_core.analysis import direction_fits as fits
from ganpaint_core.core.errors import GanpaintError, shown
from ganpaint_core.core.progress import Callback, report
from ganpaint_core.core.tensor_files import DamagedFileError, read_checked, write_checked
from ganpaint_core.hub import derived

if TYPE_CHECKING:
    from ganpaint_core.hub.loading import LoadedModel

log = logging.getLogger(__name__)

AMOUNT_LIMIT = 3.0  # |amount| in standard deviations: past 3 the samples leave the prior and fall apart
DIRECTIONS_FILE = derived.DIRECTIONS_FILE  # written by `python -m ganpaint_core directions`, in derived_dir
FILE_KIND = "ganpaint.directions"  # the safetensors metadata "kind" of a directions file
METHOD_VERSION = 1  # bump when the method changes: files found by another version are found again
DEFAULT_SAMPLES = 2048  # latents the directions are found from
DEFAULT_COMPONENTS = 10  # principal components kept
DEFAULT_SEED = 0  # the latents' seed (benchmarks use other seeds)
KINDS = ("supervised", "pca")


class DirectionError(GanpaintError):
    """A direction that does not exist, an amount out of range, or a directions file that cannot be used."""


def check_amount(value: Any) -> float:
    """``value`` as a float in [−AMOUNT_LIMIT, AMOUNT_LIMIT]; ``DirectionError`` for anything else."""
    bad = f"direction amount must be a number in [-{AMOUNT_LIMIT:g}, {AMOUNT_LIMIT:g}], got"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DirectionError(f"{bad} {shown(value)}")
    value = float(value)
    if not math.isfinite(value) or abs(value) > AMOUNT_LIMIT:
        raise DirectionError(f"{bad} {value}")
    return value


@dataclass(frozen=True)
class Direction:
    """One direction in the per-row latent space (``z`` for ProGAN, ``w`` for StyleGAN2).

    Example::

        d = dirs.get("sky")     # Direction(name="sky", kind="supervised", label="more sky", score=0.41, …)
        z + 2 * d.vector        # two standard deviations towards more sky
    """

    name: str  # supervised: the concept ("sky"); pca: "pc1", "pc2", …
    kind: str  # "supervised" or "pca"
    vector: torch.Tensor  # float32 [L] on the CPU; its length is the prior's std along it; never modify
    label: str  # for people: "more sky", or the shares a component changes most ("+sky −tree")
    score: float  # supervised: R² of the fit of the concept's share; pca: explained-variance ratio


@dataclass(frozen=True)
class Directions:
    """A model's directions, in a stable order (supervised in the segmenter's label order, then pc1, pc2…).

    Example::

        dirs = load_directions(model)
        for name in dirs.names(kind="supervised"):
            image = model.generator(dirs.shift(z, name, 2.0))      # z [N, L] -> [N, 3, R, R]
    """

    space: str  # the latent the vectors live in: "z" (ProGAN) or "w" (StyleGAN2; shift w [N, L] or W+)
    generator_sha256: str  # the generator they were found for; "" for one built in memory
    directions: dict[str, Direction]  # name -> direction, supervised first
    explained_variance_top10: list[float]  # share of the PCA input's variance along each top-10 component
    skipped: dict[str, str] = field(default_factory=dict)  # concept -> why it has no supervised direction
    settings: dict[str, Any] = field(default_factory=dict)  # samples, components, seed, segmenter, method
    seconds: float = 0.0  # how long finding them took

    def names(self, *, kind: str | None = None) -> list[str]:
        """Direction names in order; only those of ``kind`` ("supervised" or "pca") when given."""
        return [n for n, d in self.directions.items() if kind is None or d.kind == kind]

    def get(self, name: str) -> Direction:
        if not isinstance(name, str) or name not in self.directions:
            have = ", ".join(self.directions) or "none"
            raise DirectionError(f"unknown direction {shown(name)}; this model has: {have}")
        return self.directions[name]

    def shift(self, latent: torch.Tensor, name: str, amount: float) -> torch.Tensor:
        """``latent`` moved ``amount`` standard deviations along ``name``: ``z``/``w`` ``[N, L]``, or every row of
        W+ ``[N, n, L]`` (space "w" only). A new tensor on ``latent``'s device and dtype."""
        amount = check_amount(amount)
        vector = self.get(name).vector
        rows = (2, 3) if self.space == "w" else (2,)
        if latent.dim() not in rows or latent.shape[-1] != vector.numel():
            want = "w [N, L] or W+ [N, n, L]" if self.space == "w" else "z [N, L]"
            raise DirectionError(f"directions for this model shift {want} with L = {vector.numel()}, got a latent "
                                 f"of shape {list(latent.shape)}")
        return latent + amount * vector.to(latent.device, latent.dtype)

    def table(self) -> list[dict[str, Any]]:
        """One row per direction: name, kind, label, score (what the CLI prints and writes)."""
        return [{"name": d.name, "kind": d.kind, "label": d.label, "score": round(d.score, 4)}
                for d in self.directions.values()]

    # -- the file: vectors as tensors, everything else as JSON in the safetensors metadata ----------------
    def save(self, path: str | Path) -> None:
        """Write to ``path`` (safetensors), atomically."""
        tensors = {name: d.vector.detach().cpu().float().contiguous() for name, d in self.directions.items()}
        info = {"space": self.space, "generator_sha256": self.generator_sha256,
                "explained_variance_top10": self.explained_variance_top10, "skipped": self.skipped,
                "settings": self.settings, "seconds": self.seconds,
                "directions": [{"name": d.name, "kind": d.kind, "label": d.label, "score": d.score}
                               for d in self.directions.values()]}
        write_checked(path, tensors, {"kind": FILE_KIND, "directions": json.dumps(info)})

    @classmethod
    def load(cls, path: str | Path) -> "Directions":
        """Read a file written by :meth:`save`; ``DirectionError`` saying what is wrong with it otherwise."""
        where = f"directions file {path}"
        try:
            tensors, meta = read_checked(path, what="directions file")
        except (DamagedFileError, FileNotFoundError) as exc:
            raise DirectionError(f"{where}: {exc}") from None
        if meta.get("kind") != FILE_KIND:
            raise DirectionError(f"{where}: not a directions file (kind {meta.get('kind')!r})")
        try:
            info = json.loads(meta["directions"])
            rows = [Direction(name=r["name"], kind=r["kind"], vector=tensors[r["name"]].float(),
                              label=str(r["label"]), score=float(r["score"])) for r in info["directions"]]
            found = cls(space=info["space"], generator_sha256=info["generator_sha256"],
                        directions={d.name: d for d in rows},
                        explained_variance_top10=[float(v) for v in info["explained_variance_top10"]],
                        skipped=dict(info["skipped"]), settings=dict(info["settings"]),
                        seconds=float(info.get("seconds", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise DirectionError(f"{where}: malformed ({type(exc).__name__}: {shown(str(exc))})") from None
        sizes = {d.vector.shape for d in rows}
        if found.space not in ("z", "w") or len(sizes) > 1 or any(len(s) != 1 for s in sizes) or \
                any(d.kind not in KINDS for d in rows):
            raise DirectionError(f"{where}: malformed (space {found.space!r}, vector shapes {sorted(sizes)})")
        return found


# -- finding and measuring ------------------------------------------------------------------------------------
LABEL_SEED_OFFSET = 1000  # the samples that name components are drawn from seed + this (not the fit's samples)
SCALE_SEED_OFFSET = 2000  # …and the latents that measure one std along each direction
SCALE_SAMPLES = 4096  # latents (never rendered) that measure one std along each direction


def find_directions(model: "LoadedModel", *, samples: int = DEFAULT_SAMPLES, components: int = DEFAULT_COMPONENTS,
                    seed: int = DEFAULT_SEED, segmenter: Any = None, callback: Callback | None = None) -> Directions:
    """Find ``model``'s directions from ``samples`` latents (see the module's docstring); ``segmenter`` defaults
    to ``segmenter_for(model)``. Progress: ``callback(step, total, {"stage": "directions"})`` over the samples
    rendered (the fit's, then those that name the components). Nothing is cached: see :func:`load_directions`."""
    from ganpaint_core.analysis.segmenters import segmenter_for

    g = model.generator
    dim = g.latent_size
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 16:
        raise DirectionError(f"samples must be a whole number of at least 16, got {shown(samples)}")
    if isinstance(components, bool) or not isinstance(components, int) or not 1 <= components <= min(dim, samples):
        raise DirectionError(f"components must be a whole number in [1, {min(dim, samples)}], got {shown(components)}")
    segmenter = segmenter if segmenter is not None else segmenter_for(model, device=model.device)
    start = time.monotonic()
    space = fits.latent_space(g)
    total = samples + components * 2 * fits.LABEL_SAMPLES
    latents = fits.sample_latents(g, samples, seed=seed, device=model.device)  # [N, L]
    layer = None if space == "w" else g.layer_shapes()[0][0]  # GANSpace: the first layer's output, for ProGAN
    shares, features = fits.observe(g, segmenter, latents, feature_layer=layer,
                                    on_batch=lambda done: report(callback, done, total, stage="directions"))
    columns, skipped = fits.concept_columns(segmenter.label_names, shares)
    for concept, why in skipped.items():
        log.warning("%s: no %s direction (%s)", model.manifest.name, concept, why)
    x = latents.double().cpu()  # [N, L]
    # One std is measured on fresh latents of the prior: along a direction fitted to the samples, the samples'
    # own spread is biased (a fit leans on directions where they happen to vary little, PCA on those where
    # they vary much), by 20-50 % with a few hundred samples.
    prior = fits.sample_latents(g, SCALE_SAMPLES, seed=seed + SCALE_SEED_OFFSET, device=model.device)
    found: dict[str, Direction] = {}
    for concept, k in columns.items():
        vector, r2 = fits.ridge_direction(x, shares[:, k])
        found[concept] = Direction(name=concept, kind="supervised", vector=fits.scaled(vector, prior),
                                   label=f"more {concept}", score=r2)
    pcs, ratios = fits.principal_directions(x, x if features is None else features, components)
    base = fits.sample_latents(g, fits.LABEL_SAMPLES, seed=seed + LABEL_SEED_OFFSET, device=model.device)
    for i, pc in enumerate(pcs):
        vector = fits.scaled(pc, prior)
        changes = _share_changes(g, segmenter, base, vector, columns)
        strongest = max(changes.values(), key=abs, default=0.0)
        if strongest < 0:  # the sign of a component is arbitrary: make + raise the share it changes most
            vector, changes = -vector, {c: -v for c, v in changes.items()}
        found[f"pc{i + 1}"] = Direction(name=f"pc{i + 1}", kind="pca", vector=vector,
                                        label=fits.component_label(changes), score=ratios[i])
        report(callback, samples + (i + 1) * 2 * fits.LABEL_SAMPLES, total, stage="directions")
    seconds = time.monotonic() - start
    log.info("%s: %d supervised and %d PCA directions from %d samples in %.1f s", model.manifest.name,
             len(columns), components, samples, seconds)
    settings = direction_settings(model, samples=samples, components=components, seed=seed,
                                  segmenter=segmenter.fingerprint)
    return Directions(space=space, generator_sha256=model.sha256.get("generator", ""), directions=found,
                      explained_variance_top10=ratios[:10], skipped=skipped, settings=settings, seconds=seconds)


def _share_changes(generator: Any, segmenter: Any, base: torch.Tensor, vector: torch.Tensor,
                   columns: dict[str, int]) -> dict[str, float]:
    """Mean change of each concept's share from −LABEL_AMOUNT to +LABEL_AMOUNT along ``vector``."""
    step = fits.LABEL_AMOUNT * vector.to(base.device, base.dtype)
    shares, _ = fits.observe(generator, segmenter, torch.cat([base + step, base - step]))  # [2n, K]
    diff = shares[: len(base)].mean(dim=0) - shares[len(base) :].mean(dim=0)
    return {concept: float(diff[k]) for concept, k in columns.items()}


def direction_metrics(model: "LoadedModel", directions: Directions, *, samples: int = 64, seed: int = 1,
                      amounts: tuple[float, ...] = (-3, -2, -1, 0, 1, 2, 3), segmenter: Any = None,
                      callback: Callback | None = None) -> dict[str, Any]:
    """How well each supervised direction does what it says, over ``samples`` latents moved by each amount:

    ``directions_spearman`` {concept: ρ between the amounts and the concept's share averaged over samples},
    ``directions_spearman_per_sample`` {concept: mean per-sample ρ; a sample whose share does not vary: 0},
    ``directions_max_side_effect`` {concept: largest |change| of another concept's mean share from the first
    amount to the last} and ``directions_max_side_effect_on`` {concept: that other concept},
    ``directions_share_range`` {concept: [share at the first amount, at the last]}, ``directions_unmoved_samples``
    {concept: share of the samples whose share of it is the same at every amount (often 0: none to grow)},
    ``pca_explained_variance_top10`` and ``directions_skipped`` {concept: why it has no direction}."""
    from ganpaint_core.analysis.segmenters import segmenter_for

    amounts = tuple(check_amount(a) for a in amounts)
    g = model.generator
    segmenter = segmenter if segmenter is not None else segmenter_for(model, device=model.device)
    base = fits.sample_latents(g, samples, seed=seed, device=model.device)  # [S, L]
    concepts = [n for n in segmenter.label_names if n != "other"]
    column = {n: segmenter.label_names.index(n) for n in concepts}
    out: dict[str, Any] = {key: {} for key in (
        "directions_spearman", "directions_spearman_per_sample", "directions_max_side_effect",
        "directions_max_side_effect_on", "directions_share_range", "directions_unmoved_samples")}
    names = directions.names(kind="supervised")
    for i, name in enumerate(names):
        moved = torch.cat([directions.shift(base, name, a) for a in amounts])  # [A·S, L]
        shares = fits.observe(g, segmenter, moved)[0].view(len(amounts), samples, -1).numpy()  # [A, S, K]
        mean = shares.mean(axis=1)  # [A, K]
        k = column[name]
        per_sample = [fits.rank_correlation(amounts, shares[:, s, k]) for s in range(samples)]
        out["directions_spearman"][name] = round(fits.rank_correlation(amounts, mean[:, k]), 4)
        out["directions_spearman_per_sample"][name] = round(float(np.mean(per_sample)), 4)
        side = {o: abs(float(mean[-1, column[o]] - mean[0, column[o]])) for o in concepts if o != name}
        worst = max(side, key=side.get, default="")
        out["directions_max_side_effect"][name] = round(side.get(worst, 0.0), 4)
        out["directions_max_side_effect_on"][name] = worst
        out["directions_share_range"][name] = [round(float(mean[0, k]), 4), round(float(mean[-1, k]), 4)]
        out["directions_unmoved_samples"][name] = round(float((np.ptp(shares[:, :, k], axis=0) == 0).mean()), 4)
        report(callback, i + 1, len(names), stage="direction metrics", concept=name)
    out["pca_explained_variance_top10"] = [round(v, 4) for v in directions.explained_variance_top10]
    out["directions_skipped"] = dict(directions.skipped)
    return out


# -- once per model: the file in derived_dir, and this process's memory --------------------------------------
_LOCK = threading.Lock()
_BY_SHA: dict[tuple[str, str], Directions] = {}  # (generator sha256, settings) -> directions; read-only values
_IN_MEMORY: "weakref.WeakKeyDictionary[torch.nn.Module, dict[str, Directions]]" = weakref.WeakKeyDictionary()


def directions_path(model: "LoadedModel") -> Path | None:
    """Where ``model``'s directions are kept; None for a generator without a sha256 (built in memory)."""
    from ganpaint_core.hub.derived import derived_dir

    sha = model.sha256.get("generator")
    return derived_dir(model.manifest.name, sha) / DIRECTIONS_FILE if sha else None


def direction_settings(model: "LoadedModel", *, samples: int, components: int, seed: int,
                       segmenter: str) -> dict[str, Any]:
    """What decides a model's directions besides its generator: a cached file is used only when these match."""
    return {"samples": int(samples), "components": int(components), "seed": int(seed), "segmenter": segmenter,
            "method": METHOD_VERSION}


def expected_segmenter(model: "LoadedModel") -> str | None:
    """The fingerprint of the segmenter ``segmenter_for(model)`` gives, when it is known without loading it (a
    model that ships its own); None otherwise (SegFormer's is known once it is loaded)."""
    sha = model.sha256.get("segmenter")
    return f"synth-church-unet:{sha}" if sha else None


def forget_cached_directions() -> None:
    """Empty this process's memory of directions (files stay): the next load reads or finds them again."""
    with _LOCK:
        _BY_SHA.clear()
        _IN_MEMORY.clear()


def load_directions(model: "LoadedModel", *, callback: Callback | None = None, force: bool = False,
                    samples: int | None = None, components: int | None = None) -> Directions:
    """``model``'s directions: from memory, else from its file in ``derived_dir`` when that matches the generator
    and the settings, else found (``find_directions``; minutes for a large model) and written there. A file that
    is unreadable or made for something else is found again with a warning. ``force`` finds them again.

    Without ``samples`` and ``components`` (how the editor asks) any file found for this generator and
    segmenter is used, whatever its settings (``directions --samples N`` chose them); when there is none they
    are found with the defaults."""
    sha = model.sha256.get("generator", "")
    strict = samples is not None or components is not None
    wanted = direction_settings(model, samples=DEFAULT_SAMPLES if samples is None else samples,
                                components=DEFAULT_COMPONENTS if components is None else components,
                                seed=DEFAULT_SEED, segmenter="")
    samples, components = wanted["samples"], wanted["components"]
    key = json.dumps({k: v for k, v in wanted.items() if k != "segmenter"}, sort_keys=True) if strict else "any"
    with _LOCK:
        held = _BY_SHA.get((sha, key)) if sha else _IN_MEMORY.get(model.generator, {}).get(key)
    if held is not None and not force:
        return held
    path = directions_path(model)
    found = None
    if path is not None and path.is_file() and not force:
        found = _read_matching(path, sha=sha, wanted=wanted if strict else None, segmenter=expected_segmenter(model))
    if found is None:
        found = find_directions(model, samples=samples, components=components, seed=DEFAULT_SEED, callback=callback)
        if path is not None:
            found.save(path)
            log.info("%s: directions written to %s", model.manifest.name, path)
    with _LOCK:  # the editor's request (any settings) is answered by the first directions held for the generator
        held_by = _BY_SHA if sha else _IN_MEMORY.setdefault(model.generator, {})
        for k in (key, "any"):
            name = (sha, k) if sha else k
            if k == key or name not in held_by:
                held_by[name] = found
    return found


def _read_matching(path: Path, *, sha: str, wanted: dict[str, Any] | None, segmenter: str | None) -> Directions | None:
    """The directions in ``path`` when they were found for this generator with these settings (any settings
    when ``wanted`` is None); else None."""
    try:
        found = Directions.load(path)
    except DirectionError as exc:
        log.warning("%s; finding the directions again", exc)
        return None
    settings = {k: v for k, v in found.settings.items() if k != "segmenter"}
    if found.generator_sha256 != sha:
        log.warning("directions file %s was made for generator %s…, not %s…; finding the directions again",
                    path, found.generator_sha256[:12], sha[:12])
        return None
    if (wanted is not None and settings != {k: v for k, v in wanted.items() if k != "segmenter"}) or \
            (segmenter is not None and found.settings.get("segmenter") != segmenter):
        log.info("directions file %s was made with other settings (%s); finding the directions again", path,
                 found.settings)
        return None
    log.info("directions from %s", path)
    return found
