"""Model manifests: ``weights/<name>/model.json`` names a model's files and where each comes from.

A file has an ordered list of sources, tried in order: a ``path`` inside the model's folder, a
Hugging Face Hub file (``repo_id`` + ``filename`` + ``revision``), or a URL. Every file carries the
sha256 and size its bytes must have (``null`` where they are not known in advance: then the first
verified download is pinned, see ``ganpaint_core.hub.fetch``).

A manifest may also name a *prepared* repository (``"prepared": {"repo_id": …, "revision": …}``): a Hub
repo written by ``python -m ganpaint_core prepare --push``, whose own ``model.json`` lists the files made
once for these weights (dictionary, directions, converted encoder) with their sha256. ``load_model`` takes
what the model lacks from there instead of making it again (see ``ganpaint_core.hub.prepared``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganpaint_core.core.errors import ManifestError
from ganpaint_core.core.files import read_json

MANIFEST_NAME = "model.json"
FILE_ROLES = ("generator", "concepts", "encoder", "segmenter", "directions")  # generator is required
FAMILIES = ("progan", "stylegan2")
FILE_FORMATS = ("safetensors", "torch", "json")
# What a file of a role holds, where a role has several kinds (the first is the default): never guessed
# from the file name. "ganpaint": our own encoder (images -> z); "e4e": encoder4editing's (images -> W+).
FILE_KINDS = {"encoder": ("ganpaint", "e4e")}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
REPO_RE = re.compile(r"^[\w.-]+/[\w.-]+$")  # a Hub repository id: owner/name


@dataclass(frozen=True)
class FileSource:
    """One place a file can come from. Exactly one of ``path``, ``url``, ``repo_id``/``repo_id_env`` is set."""

    kind: str  # "path" | "hub" | "url"
    path: str | None = None  # relative to the model's folder (bundled or user folder)
    url: str | None = None  # http(s) address
    repo_id: str | None = None  # Hub repository "owner/name"
    repo_id_env: str | None = None  # or: the environment variable a user sets to "owner/name" (a mirror)
    filename: str | None = None  # file inside the Hub repository
    revision: str = "main"  # Hub branch, tag or commit; a commit makes downloads reproducible

    def resolved_repo_id(self) -> str | None:
        """The Hub repository, reading ``repo_id_env`` from the environment when that is how it is given."""
        if self.repo_id:
            return self.repo_id
        if self.repo_id_env:
            value = os.environ.get(self.repo_id_env, "").strip()
            return value or None
        return None

    def describe(self) -> str:
        if self.kind == "path":
            return f"file {self.path}"
        if self.kind == "url":
            return f"URL {self.url}"
        repo = self.resolved_repo_id() or f"${self.repo_id_env} (not set)"
        return f"Hugging Face Hub {repo} / {self.filename} @ {self.revision}"


@dataclass(frozen=True)
class ModelFile:
    """A file the model needs, with the checksum its bytes must have."""

    role: str  # one of FILE_ROLES
    filename: str  # the name the file is stored under locally
    format: str  # "safetensors" (ours), "torch" (third-party, loaded with weights_only=True) or "json"
    sources: tuple[FileSource, ...]  # tried in order
    sha256: str | None = None  # lowercase hex; None: pinned on the first verified download
    sha256_prefix: str | None = None  # a known prefix (torch.hub names files name-<prefix>.pth)
    size: int | None = None  # bytes, when known
    kind: str | None = None  # what it holds where its role has several kinds (FILE_KINDS); None: the first


@dataclass(frozen=True)
class PreparedRepo:
    """A Hub repository holding files prepared once for a model (``python -m ganpaint_core prepare --push``)."""

    repo_id: str  # "owner/name"
    revision: str = "main"  # branch, tag or commit; the commit `prepare --push` prints makes starts reproducible
    sha256: str | None = None  # of the repo's model.json, when known; its files are checked against model.json


@dataclass(frozen=True)
class ModelManifest:
    """Everything the app needs to know about a model before loading any weights.

    Example::

        m = load_manifest(Path("weights/synth-church/model.json"))
        m.files["generator"].sources[0].path
    """

    name: str  # registry key, also the folder name
    family: str  # generator family, one of FAMILIES
    resolution: int  # output side in pixels
    latent_size: int  # length of z
    edit_layer: str  # the layer whose units are switched on/off
    fine_layers: tuple[str, ...]  # layers after edit_layer that image-specific adaptation may scale
    licence: str  # licence of the weights
    citation: str  # how to cite the model
    description: str  # one line for model lists
    files: dict[str, ModelFile]  # role -> file
    folder: Path  # where model.json lies; path sources are relative to it
    bundled: bool = False  # True when it ships inside this repository's weights/
    extra: dict[str, Any] = field(default_factory=dict)  # family-specific settings, passed through
    prepared: PreparedRepo | None = None  # a Hub repo with the files prepared once for these weights

    def file(self, role: str) -> ModelFile | None:
        return self.files.get(role)


def _require(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ManifestError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ManifestError(f"{where}: {key!r} must be {names}, got {value!r}")
    return value


def _parse_source(raw: Any, where: str) -> FileSource:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ManifestError(f"{where}: a source is one of {{'path': …}}, {{'url': …}}, {{'hub': {{…}}}}; got {raw!r}")
    (kind, value), = raw.items()
    if kind == "path":
        if not isinstance(value, str) or not value or Path(value).is_absolute() or ".." in Path(value).parts:
            raise ManifestError(f"{where}: 'path' must be a relative path inside the model folder, got {value!r}")
        return FileSource(kind="path", path=value)
    if kind == "url":
        if not isinstance(value, str) or not re.match(r"^https?://", value):
            raise ManifestError(f"{where}: 'url' must start with https:// or http://, got {value!r}")
        return FileSource(kind="url", url=value)
    if kind == "hub":
        if not isinstance(value, dict):
            raise ManifestError(f"{where}: 'hub' must be an object with repo_id, filename, revision")
        repo_id, repo_env = value.get("repo_id"), value.get("repo_id_env")
        if bool(repo_id) == bool(repo_env):
            raise ManifestError(f"{where}: 'hub' needs exactly one of 'repo_id' or 'repo_id_env'")
        if repo_id is not None and (not isinstance(repo_id, str) or not REPO_RE.match(repo_id)):
            raise ManifestError(f"{where}: 'repo_id' must look like 'owner/name', got {repo_id!r}")
        filename = value.get("filename")
        if not isinstance(filename, str) or not filename:
            raise ManifestError(f"{where}: 'hub' needs a 'filename'")
        revision = value.get("revision", "main")
        if not isinstance(revision, str) or not revision:
            raise ManifestError(f"{where}: 'revision' must be a branch, tag or commit")
        unknown = set(value) - {"repo_id", "repo_id_env", "filename", "revision"}
        if unknown:
            raise ManifestError(f"{where}: unknown hub keys {sorted(unknown)}")
        return FileSource(kind="hub", repo_id=repo_id, repo_id_env=repo_env, filename=filename, revision=revision)
    raise ManifestError(f"{where}: unknown source kind {kind!r} (use 'path', 'url' or 'hub')")


def _parse_prepared(raw: Any, where: str) -> PreparedRepo | None:
    if raw is None:
        return None
    where = f"{where}: 'prepared'"
    if not isinstance(raw, dict) or set(raw) - {"repo_id", "revision", "sha256"}:
        raise ManifestError(f"{where} must be an object with repo_id, revision and optionally sha256, got {raw!r}")
    repo_id, revision, sha = raw.get("repo_id"), raw.get("revision", "main"), raw.get("sha256")
    if not isinstance(repo_id, str) or not REPO_RE.match(repo_id):
        raise ManifestError(f"{where}: 'repo_id' must look like 'owner/name', got {repo_id!r}")
    if not isinstance(revision, str) or not revision:
        raise ManifestError(f"{where}: 'revision' must be a branch, tag or commit")
    if sha is not None and (not isinstance(sha, str) or not _SHA_RE.match(sha)):
        raise ManifestError(f"{where}: 'sha256' must be 64 lowercase hex digits or null, got {sha!r}")
    return PreparedRepo(repo_id=repo_id, revision=revision, sha256=sha)


def _parse_file(role: str, raw: Any, where: str) -> ModelFile:
    where = f"{where} file {role!r}"
    if role not in FILE_ROLES:
        raise ManifestError(f"{where}: unknown role (use one of {', '.join(FILE_ROLES)})")
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: must be an object")
    filename = _require(raw, "filename", str, where)
    if "/" in filename or "\\" in filename or filename in ("", ".", ".."):
        raise ManifestError(f"{where}: 'filename' must be a plain file name, got {filename!r}")
    fmt = _require(raw, "format", str, where)
    if fmt not in FILE_FORMATS:
        raise ManifestError(f"{where}: 'format' must be one of {', '.join(FILE_FORMATS)}, got {fmt!r}")
    kind = raw.get("kind")
    if kind is not None and kind not in FILE_KINDS.get(role, ()):
        known = ", ".join(FILE_KINDS.get(role, ())) or f"none: a {role} file has one kind"
        raise ManifestError(f"{where}: 'kind' must be one of {known}, got {kind!r}")
    sources_raw = _require(raw, "sources", list, where)
    if not sources_raw:
        raise ManifestError(f"{where}: 'sources' is empty; name at least one place the file comes from")
    sources = tuple(_parse_source(s, where) for s in sources_raw)
    sha = raw.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA_RE.match(sha)):
        raise ManifestError(f"{where}: 'sha256' must be 64 lowercase hex digits or null, got {sha!r}")
    prefix = raw.get("sha256_prefix")
    if prefix is not None and (not isinstance(prefix, str) or not re.match(r"^[0-9a-f]{6,63}$", prefix)):
        raise ManifestError(f"{where}: 'sha256_prefix' must be 6–63 lowercase hex digits, got {prefix!r}")
    size = raw.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise ManifestError(f"{where}: 'size' must be a positive byte count or null, got {size!r}")
    if sha is None and all(s.kind == "path" for s in sources):
        raise ManifestError(
            f"{where}: a file with only local sources needs its 'sha256' "
            "(`python -m ganpaint_core inspect FILE` prints it)"
        )
    return ModelFile(role=role, filename=filename, format=fmt, sources=sources, sha256=sha,
                     sha256_prefix=prefix, size=size, kind=kind)


def parse_manifest(data: Any, *, folder: Path, bundled: bool = False, where: str = "model.json") -> ModelManifest:
    """Validate a manifest's JSON data; raise ``ManifestError`` naming the first problem."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: must be a JSON object")
    name = _require(data, "name", str, where)
    if not _NAME_RE.match(name):
        raise ManifestError(f"{where}: 'name' must be lowercase letters, digits, '.', '_' or '-', got {name!r}")
    family = _require(data, "family", str, where)
    if family not in FAMILIES:
        raise ManifestError(f"{where}: 'family' must be one of {', '.join(FAMILIES)}, got {family!r}")
    resolution = _require(data, "resolution", int, where)
    if resolution < 32 or resolution & (resolution - 1):
        raise ManifestError(f"{where}: 'resolution' must be a power of two ≥ 32, got {resolution}")
    latent_size = _require(data, "latent_size", int, where)
    if latent_size <= 0:
        raise ManifestError(f"{where}: 'latent_size' must be positive, got {latent_size}")
    edit_layer = _require(data, "edit_layer", str, where)
    fine_layers = _require(data, "fine_layers", list, where)
    if not all(isinstance(x, str) and x for x in fine_layers):
        raise ManifestError(f"{where}: 'fine_layers' must be a list of layer names")
    if edit_layer in fine_layers:
        raise ManifestError(f"{where}: the edit layer {edit_layer!r} cannot also be a fine layer")
    files_raw = _require(data, "files", dict, where)
    files = {role: _parse_file(role, raw, where) for role, raw in files_raw.items()}
    if "generator" not in files:
        raise ManifestError(f"{where}: 'files' must name a 'generator'")
    known = {"name", "family", "resolution", "latent_size", "edit_layer", "fine_layers", "licence",
             "citation", "description", "files", "extra", "prepared", "$schema", "format"}
    unknown = set(data) - known
    if unknown:
        raise ManifestError(f"{where}: unknown keys {sorted(unknown)}")
    extra = data.get("extra", {})
    if not isinstance(extra, dict):
        raise ManifestError(f"{where}: 'extra' must be an object")
    return ModelManifest(
        name=name,
        family=family,
        resolution=resolution,
        latent_size=latent_size,
        edit_layer=edit_layer,
        fine_layers=tuple(fine_layers),
        licence=str(data.get("licence", "")),
        citation=str(data.get("citation", "")),
        description=str(data.get("description", "")),
        files=files,
        folder=folder,
        bundled=bundled,
        extra=extra,
        prepared=_parse_prepared(data.get("prepared"), where),
    )


def load_manifest(path: Path, *, bundled: bool = False) -> ModelManifest:
    """Read and validate ``model.json`` at ``path``."""
    data = read_json(path, what="manifest", error=ManifestError)
    manifest = parse_manifest(data, folder=Path(path).parent, bundled=bundled, where=str(path))
    if manifest.name != Path(path).parent.name:
        raise ManifestError(f"{path}: 'name' is {manifest.name!r} but the folder is {Path(path).parent.name!r}; make them equal")
    return manifest


def file_to_json(mf: ModelFile) -> dict[str, Any]:
    """A file entry as ``model.json`` writes it (what :func:`parse_manifest` reads back)."""
    sources: list[dict[str, Any]] = []
    for s in mf.sources:
        if s.kind == "hub":
            hub = {"repo_id": s.repo_id} if s.repo_id else {"repo_id_env": s.repo_id_env}
            sources.append({"hub": {**hub, "filename": s.filename, "revision": s.revision}})
        else:
            sources.append({s.kind: s.path if s.kind == "path" else s.url})
    out: dict[str, Any] = {"filename": mf.filename, "format": mf.format, "sha256": mf.sha256, "size": mf.size,
                           "sources": sources}
    if mf.sha256_prefix:
        out["sha256_prefix"] = mf.sha256_prefix
    return out
