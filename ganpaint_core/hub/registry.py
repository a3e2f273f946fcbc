"""Find model manifests (bundled ``weights/`` and the user's folder) and report what is available."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganpaint_core.core.errors import ChecksumMismatch, ConceptDictionaryError, GanpaintError, ManifestError
from ganpaint_core.core.files import DamagedFileError
from ganpaint_core.hub.concepts import ConceptDictionary
from ganpaint_core.hub.fetch import locate, user_models_dir
from ganpaint_core.hub.manifest import MANIFEST_NAME, ModelManifest, load_manifest
from ganpaint_core.models.checkpoint import _unsafe_globals, unsafe_checkpoint_message

log = logging.getLogger(__name__)

_STATUS_ORDER = ("bundled", "local", "cached", "downloadable", "missing", "unusable")  # best first


def bundled_weights_dir() -> Path:
    """The ``weights/`` folder shipped beside the package (``$GANPAINT_WEIGHTS_DIR`` overrides)."""
    return Path(os.environ.get("GANPAINT_WEIGHTS_DIR") or Path(__file__).resolve().parents[2] / "weights")


@dataclass
class Registry:
    """Every manifest found, and the ones that could not be read (with why).

    Example::

        reg = Registry.scan()
        manifest = reg.get("synth-church")
    """

    manifests: dict[str, ModelManifest] = field(default_factory=dict)  # name -> manifest
    problems: dict[str, str] = field(default_factory=dict)  # manifest path -> error message
    unreadable: dict[str, str] = field(default_factory=dict)  # model name -> why its user manifest failed

    @classmethod
    def scan(cls) -> "Registry":
        reg = cls()
        # The user's folder comes second so that a user manifest can override a bundled one.
        for root, bundled in ((bundled_weights_dir(), True), (user_models_dir(), False)):
            if not root.is_dir():
                continue
            for path in sorted(root.glob(f"*/{MANIFEST_NAME}")):
                try:
                    reg.manifests[path.parent.name] = load_manifest(path, bundled=bundled)
                except ManifestError as exc:
                    reg.problems[str(path)] = str(exc)
                    log.warning("skipping model: %s", exc)
                    if not bundled:
                        # The user meant to override: a bundled model of that name must not stand in silently.
                        reg.manifests.pop(path.parent.name, None)
                        reg.unreadable[path.parent.name] = f"{path}: {exc}"
        return reg

    def names(self) -> list[str]:
        return list(self.manifests)

    def get(self, name: str) -> ModelManifest:
        if name in self.unreadable:
            raise GanpaintError(f"model {name!r}: your manifest cannot be read ({self.unreadable[name]}); "
                                "fix it, or remove its folder to use the bundled one")
        if name not in self.manifests:
            known = ", ".join(self.manifests) or "none"
            raise GanpaintError(
                f"unknown model {name!r}; known models: {known}. Add one as {user_models_dir()}/{name}/model.json"
            )
        return self.manifests[name]


def model_status(manifest: ModelManifest, *, probe: bool = True) -> dict[str, Any]:
    """Availability of a model and of each of its files, with reasons and how to supply what is missing."""
    files: dict[str, Any] = {}
    for role, mf in manifest.files.items():
        try:
            found = locate(manifest, role, probe=probe)
            files[role] = {"filename": mf.filename, "status": found.status, "path": str(found.path) if found.path else None,
                           "tried": found.tried}
            unsafe = _unsafe_globals(found.path) if found.path is not None and mf.format == "torch" else []
            if unsafe:  # present, but safe loading will refuse it: say so now, not when it is picked
                files[role].update(status="unusable", tried=[*found.tried, unsafe_checkpoint_message(found.path, unsafe)])
        except ChecksumMismatch as exc:
            files[role] = {"filename": mf.filename, "status": "missing", "path": None, "tried": [str(exc)]}
    status = max((files[r]["status"] for r in files if r in ("generator", "concepts")), key=_STATUS_ORDER.index)
    out: dict[str, Any] = {
        "name": manifest.name,
        "family": manifest.family,
        "resolution": manifest.resolution,
        "description": manifest.description,
        "licence": manifest.licence,
        "status": status,
        "files": files,
        "concepts": [],
    }
    concepts_path = files.get("concepts", {}).get("path")
    if concepts_path:
        try:
            out["concepts"] = ConceptDictionary.load(Path(concepts_path)).names()
        except (ConceptDictionaryError, DamagedFileError) as exc:
            out["status"] = "missing"
            files["concepts"]["tried"].append(str(exc))
    if out["status"] in ("missing", "unusable"):
        missing = [r for r, f in files.items() if f["status"] in ("missing", "unusable")]
        out["reason"] = "; ".join(f"{r}: " + " | ".join(files[r]["tried"]) for r in missing)
        out["how_to_supply"] = _how_to_supply(manifest, missing)
    return out


def _how_to_supply(manifest: ModelManifest, roles: list[str]) -> list[str]:
    from ganpaint_core.hub.fetch import local_candidates

    ways: list[str] = []
    for role in roles:
        mf = manifest.files[role]
        for p in local_candidates(manifest, mf):
            ways.append(f"put {mf.filename} at {p}")
        for s in mf.sources:
            if s.kind == "hub" and s.repo_id_env and not s.resolved_repo_id():
                ways.append(f"set {s.repo_id_env}=owner/name (a Hugging Face Hub mirror holding {s.filename})")
            elif s.kind in ("hub", "url"):
                ways.append(f"download from {s.describe()} when online: python -m ganpaint_core fetch {manifest.name}")
    ways.append(f"or point {manifest.folder / MANIFEST_NAME} at a Hub repo ('hub' source with repo_id, filename, revision)")
    return ways
