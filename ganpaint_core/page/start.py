"""Which model the app opens on, and why: one value that the page, ``models`` and ``doctor`` all show.

Example::

    choice = choose_start_model(flag=None, env=os.environ, device=pick_device("auto"), registry=Registry.scan())
    choice.name, choice.reason        # ("stylegan2-church", "CUDA device and stylegan2-church available")
    model, preparation = open_start_model(choice, device=device)

The rule: ``--model`` wins, then ``$GANPAINT_MODEL`` (a Space variable), then the host: on a CUDA device the
real church model when its generator is here or can be downloaded, else the bundled model, which runs
anywhere, offline, on a CPU.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ganpaint_core.core.errors import ChecksumMismatch, GanpaintError
from ganpaint_core.hub.fetch import locate
from ganpaint_core.hub.model import LoadedModel
from ganpaint_core.hub.registry import Registry
from ganpaint_core.page.hosting import gpu_lent_per_call
from ganpaint_core.page.preparation import Preparation, missing_files, prepare_work

log = logging.getLogger(__name__)

MODEL_ENV = "GANPAINT_MODEL"  # the variable a Space owner sets to choose the start model
BUNDLED_MODEL = "synth-church"  # shipped in weights/: runs offline, on a CPU
GPU_MODEL = "stylegan2-church"  # what a GPU host opens on when it can get the generator
_AVAILABLE = ("bundled", "local", "cached", "downloadable")  # ``locate`` states that mean "can be loaded"


@dataclass(frozen=True)
class StartChoice:
    """The model the host opens on and the reason, as shown on the page and by ``models`` / ``doctor``."""

    name: str  # a registry model name
    reason: str  # "--model", "GANPAINT_MODEL=…", "CUDA device and stylegan2-church available", "CPU: bundled model", …

    def describe(self) -> str:
        return f"this host starts on {self.name} ({self.reason})"


def choose_start_model(*, flag: str | None, env: Mapping[str, str], device: torch.device | str,
                       registry: Registry, probe: bool = True) -> StartChoice:
    """The start model: ``flag`` (``--model``), else ``env[GANPAINT_MODEL]``, else by the device: on CUDA
    ``stylegan2-church`` when its generator is local, cached or (``probe``: answers) downloadable."""
    if flag:
        return StartChoice(flag, "--model")
    if env.get(MODEL_ENV):
        return StartChoice(env[MODEL_ENV], f"{MODEL_ENV}={env[MODEL_ENV]}")
    if torch.device(device).type != "cuda":
        return StartChoice(BUNDLED_MODEL, "CPU: bundled model")
    why_not = _unavailable(registry, GPU_MODEL, probe=probe)
    if why_not is None:
        return StartChoice(GPU_MODEL, f"CUDA device and {GPU_MODEL} available")
    return StartChoice(BUNDLED_MODEL, f"CUDA device, but {GPU_MODEL} unavailable ({why_not}): bundled model")


def _unavailable(registry: Registry, name: str, *, probe: bool) -> str | None:
    """None when ``name``'s generator can be loaded here, else why not (short)."""
    if name not in registry.manifests:
        return "no manifest"
    try:
        found = locate(registry.manifests[name], "generator", probe=probe)
    except ChecksumMismatch as exc:
        return str(exc)
    if found.status in _AVAILABLE:
        return None
    return "; ".join(found.tried) or found.status


PREPARE_ENV = "GANPAINT_PREPARE"  # auto (a GPU this process holds) | background (also on a CPU: small models) | off


def prepare_in_background(device: torch.device) -> bool:
    """Whether a start model's missing files are made in the background here: by default on a GPU this process
    holds (not ZeroGPU's per-call GPU); ``GANPAINT_PREPARE=background`` also on a CPU (small models, tests),
    ``off`` never."""
    mode = os.environ.get(PREPARE_ENV, "auto")
    if mode not in ("auto", "background", "off"):
        raise GanpaintError(f"{PREPARE_ENV} must be auto, background or off, got {mode!r}")
    if mode != "auto":
        return mode == "background"
    return device.type == "cuda" and not gpu_lent_per_call()


def open_start_model(choice: StartChoice, *, device: torch.device | str,
                     load: Callable[..., LoadedModel] | None = None,
                     work: Callable[[Any], Any] | None = None) -> tuple[LoadedModel, Preparation]:
    """Load the start model and decide what to serve while its missing files are made.

    A model with its concept dictionary is served at once (missing directions are made in the background on
    a GPU this process holds, elsewhere when a visitor asks). One without is not editable yet: the page serves the bundled model meanwhile and, on a GPU host,
    prepares the start model in the background (``Preparation``); elsewhere it says how to prepare it.
    A start model that cannot be loaded at all (offline, no file) leaves the bundled model serving with that
    message, unless it was asked for by ``--model``. ``load`` is ``load_model``; ``work`` replaces the preparation's work (tests drive a real, slow step)."""
    if load is None:
        from ganpaint_core.hub.loading import load_model as load
    device = torch.device(device)
    try:
        model = load(choice.name, device=device)
    except GanpaintError as exc:
        if choice.reason == "--model" or choice.name == BUNDLED_MODEL:
            raise  # asked for on the command line, or nothing to fall back on: say so and stop
        log.warning("cannot start on %s (%s); serving %s", choice.name, exc, BUNDLED_MODEL)
        blocked = f"it cannot be loaded here ({exc})"
        return load(BUNDLED_MODEL, device=device), Preparation(choice.name, serving=BUNDLED_MODEL, blocked=blocked)
    lacking = missing_files(model)
    background = prepare_in_background(device)
    if not lacking or (model.concepts is not None and not background):
        return model, Preparation.nothing_to_do(choice.name)  # missing directions: found when a visitor asks
    serving = model if model.concepts is not None else load(BUNDLED_MODEL, device=device)
    how = f"run `python -m ganpaint_core prepare --model {choice.name} --push REPO` on a GPU machine"
    blocked = None
    if not background and os.environ.get(PREPARE_ENV, "auto") == "off":
        blocked = f"{PREPARE_ENV}=off: {how}"
    elif not background and device.type != "cuda":
        blocked = f"no GPU here, and making its {' and '.join(lacking)} takes hours on a CPU: {how}"
    elif not background:
        blocked = (f"ZeroGPU lends the GPU per call, too briefly to make its {' and '.join(lacking)}: {how} "
                   "and list that repo in its model.json")
    if blocked is not None:
        prep = Preparation(choice.name, serving=serving.manifest.name, blocked=blocked)
    else:
        # the loaded model itself when it is not served (not loaded twice), else a copy of its own, so that the
        # preparation's analysis never runs on the generator visitors edit with
        prep = Preparation(choice.name, serving=serving.manifest.name, lacking=lacking,
                           work=work or prepare_work(choice.name if serving is model else model, device=device))
    log.info("%s lacks %s: %s", choice.name, ", ".join(lacking), prep.status())
    return serving, prep
