"""``python -m ganpaint_core doctor``: what this installation has, what it lacks, and how to fix that.

Example::

    report = diagnose()
    report["ok"]                                  # the bundled model(s) load and render
    report["models"][0]["files"]["generator"]     # status, path, verified sha256, or why it is missing

Nothing here downloads: remote sources are only asked whether they answer when ``probe`` is set, and
LPIPS is checked by looking for its files (importing it is enough to start a download on first use).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ganpaint_core.core.device import pick_device
from ganpaint_core.core.errors import GanpaintError

log = logging.getLogger(__name__)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def device_info() -> dict[str, Any]:
    """CPU threads, and each CUDA device's name and memory; which device ``--device auto`` picks."""
    cuda = torch.cuda.is_available()
    devices = []
    if cuda:
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            devices.append({"index": i, "name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                            "capability": f"{p.major}.{p.minor}"})
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return {"auto": pick_device("auto").type, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda_available": cuda, "cuda_build": torch.version.cuda, "cuda_devices": devices, "mps_available": mps,
            "torch": torch.__version__, "python": platform.python_version()}


def lpips_info() -> dict[str, Any]:
    """Whether LPIPS can be used, from its files alone (see ``ganpaint_core.edit.losses``)."""
    from ganpaint_core.edit.losses import ALEXNET_FILE, lpips_backbone_path
    from ganpaint_core.hub.fetch import is_offline

    spec = importlib.util.find_spec("lpips")
    linear = Path(spec.origin).parent / "weights" / "v0.1" / "alex.pth" if spec and spec.origin else None
    backbone = lpips_backbone_path()
    info: dict[str, Any] = {
        "lpips": _version("lpips"), "torchvision": _version("torchvision"),
        "linear_weights": str(linear) if linear and linear.is_file() else None,
        "backbone_file": str(backbone), "backbone_present": backbone.is_file(),
    }
    if not (info["lpips"] and info["torchvision"] and info["linear_weights"]):
        info["status"] = "unavailable"
        info["fix"] = "pip install .[app]  (lpips and torchvision)"
    elif backbone.is_file():
        info["status"] = "ready"
    elif is_offline():
        info["status"] = "unavailable"
        info["fix"] = f"offline: put torchvision's {ALEXNET_FILE} in {backbone.parent}"
    else:
        info["status"] = "downloads on first use"
        info["fix"] = f"torchvision fetches {ALEXNET_FILE} (~233 MB) into {backbone.parent} on the first edit"
    if info["status"] != "ready":
        info["fallback"] = "reconstruction uses L1 + image-gradient L1 instead of LPIPS"
    return info


def extras_info() -> dict[str, Any]:
    """Optional packages: the app's and the dissection segmenter's."""
    from ganpaint_core.analysis.clipseg import CLIPSEG_REPO, CLIPSEG_REVISION
    from ganpaint_core.analysis.segmenters import SEGFORMER_ADE20K_REPO, SEGFORMER_ADE20K_REVISION
    from ganpaint_core.hub.fetch import hub_cache_dir

    out: dict[str, Any] = {
        "gradio": {"version": _version("gradio"), "fix": None if _version("gradio") else "pip install .[app]"},
        "transformers": {"version": _version("transformers"),
                         "fix": None if _version("transformers") else "pip install .[dissect]"},
        "huggingface_hub": {"version": _version("huggingface-hub")},
        "safetensors": {"version": _version("safetensors")},
    }
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(SEGFORMER_ADE20K_REPO, "config.json", revision=SEGFORMER_ADE20K_REVISION,
                                 cache_dir=hub_cache_dir())
    out["segformer_ade20k"] = {"repo": f"{SEGFORMER_ADE20K_REPO}@{SEGFORMER_ADE20K_REVISION}",
                               "in_hub_cache": isinstance(hit, str)}
    hit = try_to_load_from_cache(CLIPSEG_REPO, "config.json", revision=CLIPSEG_REVISION, cache_dir=hub_cache_dir())
    out["clipseg"] = {"repo": f"{CLIPSEG_REPO}@{CLIPSEG_REVISION}", "in_hub_cache": isinstance(hit, str),
                      "for": "concepts by name (dissect --concepts NAME)"}
    return out


def _derived_info(name: str, generator_sha: str | None) -> list[dict[str, Any]]:
    from ganpaint_core.analysis.directions import DIRECTIONS_FILE
    from ganpaint_core.hub.derived import CONCEPTS_FILE, E4E_FILE, ENCODER_FILE, derived_root

    rows = []
    root = derived_root() / name
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        files = [f for f in (CONCEPTS_FILE, ENCODER_FILE, E4E_FILE, DIRECTIONS_FILE) if (folder / f).is_file()]
        if files:
            rows.append({"folder": str(folder), "files": files,
                         "for_current_generator": bool(generator_sha) and generator_sha.startswith(folder.name)})
    return rows


def model_info(manifest: Any, *, probe: bool, try_load: bool) -> dict[str, Any]:
    """Status of every file (verified sha256 where present), derived files, and whether the model loads."""
    from ganpaint_core.hub.fetch import verify_file
    from ganpaint_core.hub.registry import model_status

    row = model_status(manifest, probe=probe)
    for role, f in row["files"].items():
        if f["path"]:
            # locate() refuses a file whose bytes differ, so a path here has been verified; keep its sha256.
            f["sha256"] = verify_file(Path(f["path"]), manifest, manifest.files[role])
            f["verified"] = True
    generator_sha = row["files"]["generator"].get("sha256")
    row["derived"] = _derived_info(manifest.name, generator_sha)
    row["works"] = None
    if try_load:
        row["works"], row["load_error"] = _try_model(manifest.name)
    return row


def _try_model(name: str) -> tuple[bool, str | None]:
    """Load the model and render one sample on the CPU."""
    from ganpaint_core.hub.loading import load_model

    try:
        model = load_model(name, device="cpu")
        z = torch.randn(1, model.generator.latent_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            image = model.generator(z)
    except GanpaintError as exc:
        return False, str(exc)
    except (RuntimeError, ValueError, OSError) as exc:  # a bug or a broken install: report it, do not crash
        return False, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    if not torch.isfinite(image).all():
        return False, "the generator renders non-finite values"
    return True, None


def storage_info() -> dict[str, Any]:
    """Where the app writes (cache, derived files, shares, setups) and whether a restart keeps it."""
    from ganpaint_core.core.storage import host_storage

    s = host_storage()
    return {"root": str(s.root), "persistent": s.persistent, "reason": s.reason,
            "hub_cache": str(s.hub_cache) if s.hub_cache else None}


def diagnose(*, probe: bool = False) -> dict[str, Any]:
    """Everything ``doctor`` prints. ``ok`` is True when every fully bundled model loads and renders."""
    from ganpaint_core.hub.registry import Registry
    from ganpaint_core.page.start import choose_start_model

    reg = Registry.scan()
    models = []
    for manifest in reg.manifests.values():
        bundled = manifest.bundled and all(s.kind == "path" for mf in manifest.files.values() for s in mf.sources)
        models.append(model_info(manifest, probe=probe, try_load=bundled))
    start = choose_start_model(flag=None, env=os.environ, device=pick_device("auto"), registry=reg, probe=probe)
    bundled_rows = [m for m in models if m["works"] is not None]
    problems = [f"{m['name']}: {m['load_error']}" for m in bundled_rows if not m["works"]]
    if not bundled_rows:
        problems.append("no bundled model found (weights/ is missing or empty; set GANPAINT_WEIGHTS_DIR)")
    return {
        "ok": not problems,
        "problems": problems,
        "models": models,
        "unreadable_manifests": reg.problems,
        "device": device_info(),
        "lpips": lpips_info(),
        "extras": extras_info(),
        "start": asdict(start),
        "storage": storage_info(),
    }


def format_report(report: dict[str, Any]) -> str:
    """The human-readable form of :func:`diagnose`'s answer."""
    lines = []
    for m in report["models"]:
        works = {True: "loads and renders", False: "BROKEN", None: ""}[m["works"]]
        lines.append(f"{m['name']:<18} {m['status']:<13} {m['family']:<9} {m['resolution']:>4}px  {works}")
        for role, f in m["files"].items():
            state = f"verified {f['sha256'][:12]}…" if f.get("verified") else f["status"]
            lines.append(f"{'':<4}{role:<10} {state:<24} {f['path'] or f['filename']}")
        for d in m["derived"]:
            mark = "" if d["for_current_generator"] else "  (for other weights: unused)"
            lines.append(f"{'':<4}made here  {', '.join(d['files'])} in {d['folder']}{mark}")
        if m.get("load_error"):
            lines.append(f"{'':<4}error: {m['load_error']}")
        if m["status"] == "missing":
            lines.append(f"{'':<4}why: {m['reason']}")
            lines += [f"{'':<6}- {way}" for way in m["how_to_supply"]]
    for path, problem in report["unreadable_manifests"].items():
        lines.append(f"unreadable manifest {path}: {problem}")
    d = report["device"]
    lines.append(f"device: --device auto -> {d['auto']}; torch {d['torch']}, {d['torch_threads']} CPU threads "
                 f"of {d['cpu_count']} cores")
    for c in d["cuda_devices"]:
        lines.append(f"{'':<4}cuda:{c['index']} {c['name']}, {c['memory_gib']} GiB, compute {c['capability']}")
    if not d["cuda_available"]:
        lines.append(f"{'':<4}no CUDA device (torch built for CUDA {d['cuda_build'] or '-'})")
    lp = report["lpips"]
    lines.append(f"LPIPS: {lp['status']}" + (f" — {lp['fix']}" if lp.get("fix") else "")
                 + (f"; meanwhile {lp['fallback']}" if lp.get("fallback") else ""))
    for name, e in report["extras"].items():
        if "version" in e:
            lines.append(f"{name}: {e['version'] or 'not installed'}" + (f" — {e['fix']}" if e.get("fix") else ""))
    sf = report["extras"]["segformer_ade20k"]
    lines.append(f"segformer-ade20k checkpoint {sf['repo']}: {'in the Hub cache' if sf['in_hub_cache'] else 'not downloaded yet'}")
    cs = report["extras"]["clipseg"]
    lines.append(f"clipseg checkpoint {cs['repo']} (concepts by name): "
                 f"{'in the Hub cache' if cs['in_hub_cache'] else 'not downloaded yet'}")
    st, start = report["storage"], report["start"]
    lines.append(f"storage: {st['root']} ({st['reason']}; "
                 + ("kept across restarts)" if st["persistent"] else "emptied when the Space restarts)"))
    lines.append(f"start model: {start['name']} ({start['reason']})")
    lines.append("ok" if report["ok"] else "problems:\n" + "\n".join(f"  - {p}" for p in report["problems"]))
    return "\n".join(lines)
