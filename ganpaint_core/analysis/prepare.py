"""Prepare a model once, for everyone: make every derived file it lacks, write a publishable folder, push it.

Example::

    prepared = prepare_model("stylegan2-church", device="cuda", repo_id="me/church-ganpaint", push=True,
                             callback=lambda step, total, info: print(info["stage"], step, total, info["seconds_left"]))
    prepared.folder     # model.json (sources: the Hub repo, every sha256), README.md, concepts.json, directions…
    prepared.commit     # name it in the manifest: "prepared": {"repo_id": "me/church-ganpaint", "revision": commit}

Stages, in order: ``dissect`` (the concept dictionary, :func:`~ganpaint_core.analysis.dissect_run.run_dissection`),
``directions`` (:func:`~ganpaint_core.analysis.directions.load_directions`), ``encoder`` (e4e's released file
converted to its encoder part; only for a manifest whose encoder has format "e4e"), ``folder`` and ``push``.
Each making stage writes its file atomically into the model's derived folder, where ``load_model`` finds it,
so a run stopped anywhere continues where it was: a rerun skips the finished stages and says so (the
dissection also keeps its finished concepts). A stage is skipped too when the model already has its file:
shipped by the manifest, or downloaded from the manifest's ``prepared`` repo at load.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ganpaint_core.analysis.concepts_by_name import dissect_concepts, missing_concepts
from ganpaint_core.analysis.directions import (
    DEFAULT_COMPONENTS,
    DEFAULT_SAMPLES,
    Directions,
    directions_path,
    load_directions,
)
from ganpaint_core.analysis.dissect import DissectConfig
from ganpaint_core.analysis.dissect_run import run_dissection
from ganpaint_core.analysis.segmenters import load_scene_segmenter, segmenter_for
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.files import read_json
from ganpaint_core.core.progress import Callback
from ganpaint_core.hub.concepts import ConceptDictionary
from ganpaint_core.hub.derived import CONCEPTS_FILE, derived_dir, report_path
from ganpaint_core.hub.fetch import sha256_file
from ganpaint_core.hub.loading import load_model
from ganpaint_core.hub.manifest import MANIFEST_NAME
from ganpaint_core.hub.model import LoadedModel
from ganpaint_core.hub.prepared import has_e4e_encoder
from ganpaint_core.hub.publish import check_can_push, push_prepared_folder, write_prepared_folder
from ganpaint_core.hub.registry import Registry

log = logging.getLogger(__name__)

STAGES = ("dissect", "directions", "encoder", "folder", "push")
PREPARED_DIR = "prepared"  # the publishable folder's default place, inside the model's derived folder


@dataclass(frozen=True)
class PrepareConfig:
    """What the making stages measure on (the defaults are the CLI's: hours of CPU, minutes of GPU for 256 px)."""

    dissect: DissectConfig = field(default_factory=DissectConfig)  # dissection sizes and seed
    concepts: tuple[str, ...] | None = None  # concepts to dissect; None: every concept the segmenter sees
    segmenter: str | None = None  # a scene segmenter's name; None: the model's own, else SegFormer ADE20K
    directions_samples: int = DEFAULT_SAMPLES  # latents the directions are found from
    components: int = DEFAULT_COMPONENTS  # principal components kept

    @classmethod
    def at_most(cls, samples: int) -> PrepareConfig:
        """The defaults, with no stage looking at more than ``samples`` generated samples (levels and IoU, the
        causal searches' steps × batch, verification, templates, directions): a quick, rough preparation for a
        small model or a test, never for a published dictionary."""
        if samples < 2:
            raise GanpaintError(f"a preparation needs at least 2 samples, got {samples}")
        d = DissectConfig()
        dissect = replace(d, samples=min(d.samples, samples), batch=min(d.batch, samples),
                          ace_steps=max(1, min(d.ace_steps, samples // d.ace_batch)),
                          causal_samples=min(d.causal_samples, samples),
                          template_samples=min(d.template_samples, samples))
        return cls(dissect=dissect, directions_samples=min(DEFAULT_SAMPLES, samples),
                   components=min(DEFAULT_COMPONENTS, samples))


@dataclass(frozen=True)
class PreparedModel:
    """What ``prepare_model`` made and where it lies.

    Example::

        p = prepare_model("synth-church")
        p.stages["dissect"]          # "skipped: synth-church's manifest ships its dictionary"
        p.files["directions"]        # <folder>/directions.safetensors
    """

    name: str  # the model
    folder: Path  # the publishable folder (model.json, README.md, the prepared files)
    files: dict[str, Path]  # prepared role ("concepts", "directions", "encoder") -> its copy in the folder
    sha256: dict[str, str]  # every file the folder's model.json lists: role -> sha256
    manifest_sha256: str  # of the folder's model.json (a 'prepared' entry may name it)
    stages: dict[str, str]  # stage -> "made", "written", "pushed" or "skipped: why"
    seconds: float  # the whole run
    repo_id: str | None = None  # the Hub repo the folder names (and was pushed to, with push)
    commit: str | None = None  # the pushed commit: the revision a manifest's 'prepared' entry should name
    figures: dict[str, Any] = field(default_factory=dict)  # what the model card shows (dissection, directions)


class _Progress:
    """Turns each stage's own progress into ``callback(step, total, info)`` with the stage's place among
    :data:`STAGES` and the seconds left in it (from the rate so far; None until something was measured)."""

    def __init__(self, callback: Callback | None, stages: tuple[str, ...]) -> None:
        self.callback, self.stages = callback, stages
        self.name, self.start, self.base = "", 0.0, 0.0

    def begin(self, name: str) -> None:
        self.name, self.start, self.base = name, time.monotonic(), 0.0
        self.emit(0, 1)

    def skip(self, name: str, why: str) -> None:
        self.name = name
        self.emit(1, 1, skipped=why)

    def rebase(self, fraction: float) -> None:
        """Work already done before this run (resumed concepts) does not count in the rate."""
        self.start, self.base = time.monotonic(), fraction

    def emit(self, step: int, total: int, **info: Any) -> None:
        if self.callback is None:
            return
        fraction = step / total if total else 0.0
        done = fraction - self.base
        elapsed = time.monotonic() - self.start
        left = elapsed * (1 - fraction) / done if done > 0 and "skipped" not in info else None
        self.callback(step, total, {"stage": self.name, "stage_index": self.stages.index(self.name) + 1,
                                    "stages": len(self.stages), "seconds_left": left, **info})


def prepare_model(model: str | LoadedModel, *, out: Path | None = None, device: torch.device | str = "cpu",
                  cfg: PrepareConfig = PrepareConfig(), repo_id: str | None = None, push: bool = False,
                  callback: Callback | None = None) -> PreparedModel:
    """Make the derived files ``model`` lacks and write its publishable folder (default: ``prepared/`` in its
    derived folder); with ``push``, upload it to ``repo_id`` with ``$HF_TOKEN``. ``model`` is a registered
    name (loaded on ``device``) or a model already loaded by ``load_model`` (used as it is, never modified:
    load it again, or attach its derived files, to use what was made). See the module docstring."""
    t0 = time.monotonic()
    token = check_can_push(repo_id) if push else None  # refused before hours of work, not after
    if isinstance(model, str):
        model = load_model(Registry.scan().get(model), device=device)
    manifest = model.manifest
    if not model.sha256.get("generator"):
        raise GanpaintError(f"{manifest.name}: no sha256 for the generator; load the model with load_model")
    stages = STAGES if push else STAGES[:-1]
    progress = _Progress(callback, stages)
    made: dict[str, Path] = {}
    done: dict[str, str] = {}
    done["dissect"] = _dissect_stage(model, cfg, progress, made)
    done["directions"] = _directions_stage(model, cfg, progress, made)
    done["encoder"] = _encoder_stage(model, progress, made)
    progress.begin("folder")
    out = Path(out) if out is not None else derived_dir(manifest.name, model.sha256["generator"]) / PREPARED_DIR
    known = {role: (model.sha256[role], model.paths[role].stat().st_size) for role in manifest.files
             if role in model.sha256}  # a made file of the same role (a converted encoder) replaces its entry
    figures = _figures(made)
    data = write_prepared_folder(manifest, out=out, known=known, made=made, repo_id=repo_id, figures=figures)
    done["folder"] = "written"
    progress.emit(1, 1)
    commit = None
    if push:
        progress.begin("push")
        commit = push_prepared_folder(out, repo_id, token=token, callback=lambda s, t, i: progress.emit(s, t))
        done["push"] = "pushed"
    files = {role: out / Path(path).name for role, path in made.items()}
    return PreparedModel(name=manifest.name, folder=out, files=files,
                         sha256={role: f["sha256"] for role, f in data["files"].items()},
                         manifest_sha256=sha256_file(out / MANIFEST_NAME), stages=done,
                         seconds=time.monotonic() - t0, repo_id=repo_id, commit=commit, figures=figures)


def _dissect_stage(model: LoadedModel, cfg: PrepareConfig, progress: _Progress, made: dict[str, Path]) -> str:
    manifest = model.manifest
    if "concepts" in manifest.files:
        return _skipped(progress, "dissect", f"{manifest.name}'s manifest ships its dictionary")
    if model.concepts is not None and not _missing(model, cfg):
        made["concepts"] = model.paths["concepts"]
        return _skipped(progress, "dissect", f"already here: {model.paths['concepts']}")
    progress.begin("dissect")
    at = {"concepts": 0}

    def forward(step: int, total: int, info: dict[str, Any]) -> None:
        if info.get("stage") == "concept":  # step = concepts finished; resumed ones do not count in the rate
            at["concepts"], at["total"] = step, total
            if info.get("resumed"):
                progress.rebase((step + 1) / total)
            progress.emit(step, total, concept=info.get("concept"), resumed=bool(info.get("resumed")))
        else:  # the current concept's own stages (levels and IoU, the causal searches)
            progress.emit(at["concepts"], at.get("total", 1), concept=info.get("concept"),
                          detail=f"{info.get('stage', '')} {step}/{total}")

    if model.concepts is None:
        segmenter = (load_scene_segmenter(cfg.segmenter, device=model.device) if cfg.segmenter
                     else segmenter_for(model, device=model.device))
        path = run_dissection(model, segmenter, concepts=list(cfg.concepts) if cfg.concepts else None,
                              cfg=cfg.dissect, callback=forward)
        model = replace(model, concepts=ConceptDictionary.load(path), paths={**model.paths, "concepts": path})
    made["concepts"] = model.paths["concepts"]
    return _by_name(model, cfg, forward, made)


def _missing(model: LoadedModel, cfg: PrepareConfig) -> list[str]:
    return missing_concepts(model, cfg.concepts) if cfg.concepts else missing_concepts(model)


def _by_name(model: LoadedModel, cfg: PrepareConfig, forward: Callback, made: dict[str, Path]) -> str:
    """The concepts asked for (default: GANPaint's seven) that the closed-set segmenter lacks (dome, cloud, brick
    on ADE20K), found by name."""
    missing = _missing(model, cfg)
    if not missing:
        return "made"
    try:
        dissect_concepts(model, missing, cfg=cfg.dissect, callback=forward)
    except GanpaintError as exc:  # offline, no CLIPSeg: the other concepts are still prepared
        log.warning("prepare: %s not dissected: %s", ", ".join(missing), exc)
        return f"made without {', '.join(missing)} ({exc})"
    made["concepts"] = derived_dir(model.manifest.name, model.sha256["generator"]) / CONCEPTS_FILE
    return "made"


def _directions_stage(model: LoadedModel, cfg: PrepareConfig, progress: _Progress, made: dict[str, Path]) -> str:
    path = directions_path(model)
    if path.is_file():  # made earlier or downloaded: used whatever its settings, as the editor does
        found: list[int] = []
        dirs = load_directions(model, callback=lambda s, t, i: found.append(s))
        if not found:
            made["directions"] = path
            return _skipped(progress, "directions", f"already here: {path}")
        log.warning("%s: the directions file %s could not be used; found again", model.manifest.name, path)
    else:
        progress.begin("directions")
        dirs = load_directions(model, samples=cfg.directions_samples, components=cfg.components,
                               callback=lambda s, t, i: progress.emit(s, t))
    if not path.is_file():  # this process held them in memory: the file is what gets published
        dirs.save(path)
    made["directions"] = path
    return "made"


def _encoder_stage(model: LoadedModel, progress: _Progress, made: dict[str, Path]) -> str:
    manifest = model.manifest
    if not has_e4e_encoder(manifest):
        return _skipped(progress, "encoder", f"{manifest.name}'s manifest names no e4e encoder to convert")
    made["encoder"] = model.paths["encoder"]  # load_model keeps e4e's encoder converted (hub.derived), once
    return _skipped(progress, "encoder", f"converted when the model loaded: {model.paths['encoder']}")


def _skipped(progress: _Progress, stage: str, why: str) -> str:
    log.info("prepare %s: skipped (%s)", stage, why)
    progress.skip(stage, why)
    return f"skipped: {why}"


def _figures(made: dict[str, Path]) -> dict[str, Any]:
    """The figures the model card shows, from the reports of the runs that made the folder's files."""
    figures: dict[str, Any] = {}
    concepts = made.get("concepts")
    if concepts is not None and report_path(concepts).is_file():
        r = read_json(report_path(concepts), what="dissection report")
        cfg = r.get("config", {})
        rows = {c: {**r.get("causal", {}).get(c, {}), "units_iou_010": r.get("units_iou_010", {}).get(c, ""),
                    "best_iou": r.get("best_iou", {}).get(c)} for c in r.get("concepts", [])}
        figures["dissection"] = {
            "how": f"Layer {r.get('layer')}, segmenter {r.get('segmenter', {}).get('name')}, {cfg.get('samples')} "
                   f"samples (seed {cfg.get('seed')}), {cfg.get('ace_steps')}-step causal searches; "
                   f"{r.get('total_seconds', 0):.0f} s on {r.get('device')} (torch {r.get('torch')}).",
            "concepts": rows}
    directions = made.get("directions")
    if directions is not None:
        d = Directions.load(directions)
        s = d.settings
        figures["directions"] = {
            "how": f"{s.get('samples')} samples, {s.get('components')} principal components, seed {s.get('seed')}, "
                   f"segmenter {s.get('segmenter')}; {d.seconds:.0f} s.", "table": d.table()}
    return figures
