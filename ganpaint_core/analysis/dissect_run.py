"""Dissect a loaded model with a scene segmenter: resumable, and kept where ``load_model`` finds it.

Example::

    model = load_model("stylegan2-church", device="cuda")
    seg = load_scene_segmenter("segformer-ade20k", device="cuda")
    path = run_dissection(model, seg, samples=1000, seed=0)
    # <cache>/derived/stylegan2-church/<sha[:16]>/concepts.json (+ concepts.report.json beside it)

The measuring is :func:`ganpaint_core.analysis.dissect.dissect`'s; this module runs it once per concept and keeps
each concept's result in a work folder keyed by everything that decides it (generator sha256, layer,
segmenter weights and labels, dissection settings, the dissection code itself). An interrupted run
therefore continues at the concept it was on, and the result does not depend on where it stopped: every
concept is measured the same way whether it runs first, last or after a restart. A concept typed by name
that the segmenter has no class for is measured with ``segmenter.measurer(name)`` (a two-label view of an
open-vocabulary segmenter's text interface), whose work folder is its own. Levels and IoU are
measured once per run and kept in the work folder too; each concept then costs two
causal searches (``ace_steps × ace_batch`` tail passes with gradients each) and a verification on
``causal_samples`` samples.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from ganpaint_core.analysis import dissect as dissect_module
from ganpaint_core.analysis.dissect import DissectConfig, dissect, measure_levels_and_iou
from ganpaint_core.analysis.scene_segmenter import SceneSegmenter, concept_names
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.files import DamagedFileError, read_checked_json, write_checked_json, write_json
from ganpaint_core.core.progress import Callback, report
from ganpaint_core.core.tensor_files import read_checked, write_checked
from ganpaint_core.hub.concepts import ConceptDictionary
from ganpaint_core.hub.derived import CONCEPTS_FILE, derived_dir, report_path
from ganpaint_core.hub.loading import LoadedModel

log = logging.getLogger(__name__)

WORK_FORMAT = "ganpaint-dissect-work/1"


def work_identity(model: LoadedModel, segmenter: SceneSegmenter, *, layer: str, cfg: DissectConfig) -> dict[str, Any]:
    """Everything a concept's result depends on; its hash names the work folder."""
    return {
        "format": WORK_FORMAT,
        "model": model.manifest.name,
        "generator_sha256": model.sha256.get("generator", ""),
        "layer": layer,
        "segmenter": segmenter.fingerprint,
        "labels": list(segmenter.label_names),
        "config": asdict(cfg),
        # A change to the measuring code must not reuse results measured by the old one.
        "dissect_code_sha256": hashlib.sha256(inspect.getsource(dissect_module).encode()).hexdigest(),
    }


def work_dir_for(identity: dict[str, Any]) -> Path:
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return derived_dir(identity["model"], identity["generator_sha256"]) / "work" / f"dissect-{key}"


def run_dissection(
    model: LoadedModel,
    segmenter: SceneSegmenter,
    *,
    layer: str | None = None,
    concepts: Sequence[str] | None = None,
    samples: int | None = None,
    seed: int | None = None,
    cfg: DissectConfig = DissectConfig(),
    out: Path | None = None,
    restart: bool = False,
    callback: Callback | None = None,
) -> Path:
    """Dissect ``layer`` (default: the manifest's edit layer) for ``concepts`` and write ``concepts.json``.

    Example::

        path = run_dissection(model, seg, samples=200, callback=lambda s, t, info: print(s, t, info))

    ``samples`` and ``seed`` override the fields of ``cfg``. ``concepts`` defaults to the segmenter's
    own list; each is measured with ``segmenter.measurer(concept)`` (the segmenter itself for its labels, a
    view of its text interface for a name it reads). The dictionary goes to ``out`` or, by default, to the
    model's derived folder, where :func:`ganpaint_core.hub.loading.load_model` uses it when the manifest names
    no dictionary; a JSON report (per-concept IoU counts and causal figures, timings, what was resumed) is
    written beside it. ``callback`` as :func:`measure_concepts`'. Returns the dictionary's path.
    """
    cfg = replace(cfg, **{k: v for k, v in (("samples", samples), ("seed", seed)) if v is not None})
    dictionary, run_report = measure_concepts(model, segmenter, layer=layer, concepts=concepts, cfg=cfg,
                                              own_file=out is not None, restart=restart, callback=callback)
    out = Path(out) if out is not None else derived_dir(model.manifest.name, run_report["generator_sha256"]) / CONCEPTS_FILE
    dictionary.save(out)
    write_json(report_path(out), run_report)
    log.info("wrote %s (%d concepts, %d resumed) in %.1f s", out, len(run_report["concepts"]),
             len(run_report["resumed"]), run_report["total_seconds"])
    return out


def measure_concepts(
    model: LoadedModel,
    segmenter: SceneSegmenter,
    *,
    layer: str | None = None,
    concepts: Sequence[str] | None = None,
    cfg: DissectConfig = DissectConfig(),
    own_file: bool = False,
    restart: bool = False,
    callback: Callback | None = None,
) -> tuple[ConceptDictionary, dict[str, Any]]:
    """The dictionary of ``concepts`` and its report, each concept kept in (and resumed from) its work folder.

    ``callback(step, total, info)`` receives dissect's own progress with ``info["concept"]`` added, and
    ``stage="concept"`` as each concept starts (``step`` = concepts finished; ``info["resumed"]`` when it
    comes from an earlier run) and once at the end (``concept`` None). ``restart`` ignores finished concepts
    of an earlier run. ``own_file``: the dictionary is for a file of its own, so may be for another layer."""
    t0 = time.monotonic()
    manifest = model.manifest
    layer, concepts = _check_request(model, segmenter, layer=layer, concepts=concepts, own_file=own_file)
    measurers = {c: segmenter.measurer(c) for c in concepts}
    works = {}
    for c, m in measurers.items():
        identity = work_identity(model, m, layer=layer, cfg=cfg)
        works[c] = work_dir_for(identity)
        works[c].mkdir(parents=True, exist_ok=True)
        write_json(works[c] / "identity.json", identity)
    log.info("dissecting %s %s with %s for %s", manifest.name, layer, segmenter.name, ", ".join(concepts))
    parts, resumed = _dissect_concepts(works, model, measurers, layer=layer, cfg=cfg, restart=restart,
                                       callback=callback)
    dictionary, merged = _merge(parts, concepts, source=(
        f"ganpaint_core dissect: {manifest.name} {layer}, segmenter {segmenter.name}, {cfg.samples} samples "
        f"(seed {cfg.seed}), causal unit sets from {cfg.ace_steps}-step ACE searches"))
    run_report = {
        "model": manifest.name,
        "generator_sha256": model.sha256.get("generator", ""),
        "layer": layer,
        "segmenter": {"name": segmenter.name, "fingerprint": segmenter.fingerprint,
                      "sources": {c: list(segmenter.sources.get(c, (c,))) for c in concepts},
                      "measured_by": {c: m.name for c, m in measurers.items()},
                      "cannot_see": list(segmenter.missing_concepts)},
        "config": asdict(cfg),
        "device": str(model.device),
        "torch": torch.__version__,
        "concepts": concepts,
        "resumed": resumed,
        "seconds": {c: round(parts[c]["seconds"], 2) for c in concepts},
        "total_seconds": round(time.monotonic() - t0, 2),
        "work_dirs": {c: str(w) for c, w in works.items()},
        **merged,
    }
    return dictionary, run_report


def _check_request(model: LoadedModel, segmenter: SceneSegmenter, *, layer: str | None,
                   concepts: Sequence[str] | None, own_file: bool) -> tuple[str, list[str]]:
    """The layer and concepts to dissect (defaults filled in), or the error that says what to ask instead."""
    manifest = model.manifest
    if not model.sha256.get("generator"):
        raise GanpaintError(f"{manifest.name}: no sha256 for the generator; load the model with load_model")
    layer = layer or manifest.edit_layer
    layers = dict((n, c) for n, c, _ in model.generator.layer_shapes())
    if layer not in layers:
        raise GanpaintError(f"{manifest.name} has no layer {layer!r}; layers: {', '.join(layers)}")
    if not own_file and layer != manifest.edit_layer:
        raise GanpaintError(f"a dictionary for {layer} would not fit {manifest.name}'s edit layer "
                            f"{manifest.edit_layer}, so load_model could not use it: pass an output path")
    if concepts is None and not segmenter.concepts:
        raise GanpaintError(f"the {segmenter.name} segmenter has no concepts of its own: name those to dissect "
                            "(e.g. --concepts 'dome, statue')")
    concepts = concept_names(list(concepts) if concepts is not None else list(segmenter.concepts))
    for c in concepts:
        segmenter.measurer(c)  # the segmenter's own error when it cannot see c
    return layer, concepts


def _dissect_concepts(works: dict[str, Path], model: LoadedModel, measurers: dict[str, SceneSegmenter], *,
                      layer: str, cfg: DissectConfig, restart: bool,
                      callback: Callback | None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each concept's part (dictionary, report, seconds), from its work folder when an earlier run finished it
    (unless ``restart``), else measured with its segmenter and saved there; and the concepts that were resumed."""
    parts: dict[str, dict[str, Any]] = {}
    resumed: list[str] = []
    measured: dict[Path, tuple[torch.Tensor, torch.Tensor]] = {}  # per work folder (segmenter): levels and IoU
    concepts = list(measurers)
    for index, concept in enumerate(concepts):
        work, segmenter = works[concept], measurers[concept]
        part_path = work / f"concept-{concept}.json"
        finished = None if restart else _finished_part(part_path)
        report(callback, index, len(concepts), stage="concept", concept=concept, resumed=finished is not None)
        if finished is not None:
            parts[concept] = finished
            resumed.append(concept)
            continue

        def forward(step: int, total: int, info: dict[str, Any], concept: str = concept) -> None:
            report(callback, step, total, **{**info, "concept": concept})

        t1 = time.monotonic()
        if work not in measured:  # levels and IoU serve every concept of a segmenter: measured once, kept
            measured[work] = _levels_and_iou(work, model, segmenter, layer=layer, cfg=cfg, callback=forward,
                                             restart=restart)
        dictionary, part_report = dissect(model.generator, segmenter, layer=layer, concepts=[concept], cfg=cfg,
                                          device=model.device, callback=forward, measured=measured[work])
        parts[concept] = {"concept": concept, "dictionary": dictionary.to_json(), "report": part_report,
                          "seconds": time.monotonic() - t1}
        write_checked_json(part_path, parts[concept])
    report(callback, len(concepts), len(concepts), stage="concept", concept=None, resumed=False)
    return parts, resumed


def _finished_part(path: Path) -> dict[str, Any] | None:
    """A concept's part from an earlier run (verified by its digest), or None: none there, or damaged (logged
    and removed, so that it is measured again)."""
    if not path.is_file():
        return None
    try:
        return read_checked_json(path, what="dissection work file", error=GanpaintError)[0]
    except DamagedFileError as exc:
        log.warning("%s; removed, the concept is measured again", exc)
        path.unlink(missing_ok=True)
        return None


def _levels_and_iou(work: Path, model: LoadedModel, segmenter: SceneSegmenter, *, layer: str, cfg: DissectConfig,
                    callback: Callback, restart: bool) -> tuple[torch.Tensor, torch.Tensor]:
    path = work / "levels_iou.safetensors"
    if path.is_file() and not restart:
        try:
            saved, _ = read_checked(path, what="dissection work file")
            return saved["levels"].to(model.device), saved["iou"]
        except (DamagedFileError, KeyError) as exc:  # damaged, or written before checksums: measured again
            log.warning("%s: %s; removed, measured again", path, exc)
            path.unlink(missing_ok=True)
    levels, iou = measure_levels_and_iou(model.generator, segmenter.segment, layer=layer,
                                         num_labels=len(segmenter.label_names), cfg=cfg, device=model.device,
                                         callback=callback)
    write_checked(path, {"levels": levels, "iou": iou}, {"kind": "dissection levels and IoU"})
    return levels, iou


def _merge(parts: dict[str, dict[str, Any]], concepts: list[str], *, source: str) -> tuple[ConceptDictionary, dict]:
    """One dictionary and one report from the per-concept results."""
    dictionaries = {c: ConceptDictionary.from_json(parts[c]["dictionary"], where=f"dissection of {c}") for c in concepts}
    first = dictionaries[concepts[0]]
    for c, d in dictionaries.items():
        # Every concept's run measures the levels on the same samples; they differ only if the device is not
        # deterministic (some GPU kernels), by float noise.
        spread = max((abs(a - b) for a, b in zip(d.levels, first.levels)), default=0.0)
        if spread > 1e-3 * max(max(first.levels, default=1.0), 1.0):
            log.warning("levels measured for %s differ from %s's by up to %.2g; using %s's", c, concepts[0],
                        spread, concepts[0])
    rankings = {c: dictionaries[c].concepts[c] for c in concepts}
    removal = {c: d.removal[c] for c, d in dictionaries.items() if c in d.removal}
    templates = {c: d.templates[c] for c, d in dictionaries.items() if c in d.templates}
    dictionary = ConceptDictionary(layer=first.layer, num_units=first.num_units, level_quantile=first.level_quantile,
                                   levels=first.levels, concepts=rankings, source=source, removal=removal,
                                   templates=templates)
    merged: dict[str, Any] = {}
    for c in concepts:
        for key, value in parts[c]["report"].items():
            if isinstance(value, dict) and set(value) == {c}:
                merged.setdefault(key, {})[c] = value[c]
            else:
                merged.setdefault("per_concept", {}).setdefault(c, {})[key] = value
    return dictionary, merged
