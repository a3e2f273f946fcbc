"""Get a model's files: local folders first, then caches, then the Hub or a URL; verify every byte.

Sources are tried in the manifest's order after the local places. Downloads land in a cache
atomically (a temporary name, renamed once the checksum holds). A file whose sha256 is not in its
manifest is pinned on its first verified download ("trust on first use", in ``<cache>/pins.json``)
and checked against that pin ever after. Nothing pickled is executed here: this module moves bytes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganpaint_core.core.errors import ChecksumMismatch, FileUnavailable
from ganpaint_core.core.files import atomic_path, sha256_file, write_json
from ganpaint_core.core.progress import Callback
from ganpaint_core.core.storage import host_storage
from ganpaint_core.hub.manifest import FileSource, ModelFile, ModelManifest

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TRUTHY = {"1", "true", "yes", "on"}


def cache_dir() -> Path:
    """Where pins, derived files, shares and setups live: ``$GANPAINT_CACHE``, else the host's persistent
    storage (``/data/ganpaint`` on a Space that has some), else ``~/.cache/ganpaint`` (see ``core.storage``)."""
    return host_storage().root


def user_models_dir() -> Path:
    """The user's model folder: ``$GANPAINT_MODELS_DIR`` or ``<cache>/models``."""
    return Path(os.environ.get("GANPAINT_MODELS_DIR") or cache_dir() / "models")


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``GANPAINT_OFFLINE`` is set: no network is tried."""
    return any(os.environ.get(v, "").strip().lower() in _TRUTHY for v in ("HF_HUB_OFFLINE", "GANPAINT_OFFLINE"))


# -- checksums --------------------------------------------------------------------------------------
def _pins_path() -> Path:
    return cache_dir() / "pins.json"


def _pin_key(manifest: ModelManifest, mf: ModelFile) -> str:
    return f"{manifest.name}/{mf.role}/{mf.filename}"


def _read_pins() -> dict[str, str]:
    try:
        return json.loads(_pins_path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("ignoring unreadable pin file %s (%s)", _pins_path(), exc)
        return {}


def _write_pin(key: str, sha: str) -> None:
    pins = _read_pins()
    pins[key] = sha
    write_json(_pins_path(), pins, sort_keys=True)


def expected_sha256(manifest: ModelManifest, mf: ModelFile) -> tuple[str | None, str]:
    """The checksum a file must have and where that figure comes from ("manifest", "pin" or "")."""
    if mf.sha256:
        return mf.sha256, "manifest"
    pinned = _read_pins().get(_pin_key(manifest, mf))
    return (pinned, "pin") if pinned else (None, "")


_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, this process only


def verify_file(path: Path, manifest: ModelManifest, mf: ModelFile) -> str:
    """Check ``path`` against the manifest's (or pinned) sha256 and size; pin it if none is known."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    sha = _verified.get(key) or sha256_file(path)
    where = f"{manifest.name}: {mf.role} file {path}"
    if mf.size is not None and stat.st_size != mf.size:
        raise ChecksumMismatch(
            f"{where} has {stat.st_size} bytes, the manifest expects {mf.size}: it is not the expected file "
            "(truncated or a different checkpoint). Delete it and fetch again, or supply the right file."
        )
    expected, origin = expected_sha256(manifest, mf)
    if expected is not None and sha != expected:
        hint = (
            "Delete it and fetch again, or supply the right file."
            if origin == "manifest"
            else f"It differs from the copy first used here (pinned in {_pins_path()}); delete that pin if the change is intended."
        )
        raise ChecksumMismatch(f"{where} has sha256 {sha}, expected {expected} ({origin}). {hint}")
    if expected is None:
        if mf.sha256_prefix and not sha.startswith(mf.sha256_prefix):
            raise ChecksumMismatch(
                f"{where} has sha256 {sha[:16]}…, which does not start with {mf.sha256_prefix} as its name "
                "promises: it is not the expected checkpoint."
            )
        _write_pin(_pin_key(manifest, mf), sha)
        log.warning(
            "%s: no sha256 in the manifest for %s; recorded %s on first use in %s (add it to model.json to make it permanent)",
            manifest.name, mf.filename, sha, _pins_path(),
        )
    _verified[key] = sha
    return sha


# -- places -----------------------------------------------------------------------------------------
def local_candidates(manifest: ModelManifest, mf: ModelFile) -> list[Path]:
    """Local places for a file: each path source in the model's folder, then in the user folder."""
    out: list[Path] = []
    user_folder = user_models_dir() / manifest.name
    for source in mf.sources:
        if source.kind != "path":
            continue
        for folder in (manifest.folder, user_folder):
            p = folder / source.path
            if p not in out:
                out.append(p)
    return out


def _url_cache_path(source: FileSource, mf: ModelFile) -> Path:
    key = mf.sha256[:16] if mf.sha256 else hashlib.sha256(source.url.encode()).hexdigest()[:16]
    return cache_dir() / "downloads" / key / mf.filename


def hub_endpoint() -> str | None:
    """The Hub's address when ``HF_ENDPOINT`` names one (a mirror, the tests' stand-in), else None."""
    return os.environ.get("HF_ENDPOINT") or None


def hub_cache_dir() -> str | None:
    """The Hub cache, read from the environment at call time (huggingface_hub reads it at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    hub = host_storage().hub_cache  # on a host with persistent storage: downloads survive a restart too
    return str(hub) if hub is not None else None


def cached_candidate(source: FileSource, mf: ModelFile) -> Path | None:
    """The already-downloaded copy of a remote source, without any network access."""
    if source.kind == "url":
        p = _url_cache_path(source, mf)
        return p if p.is_file() else None
    if source.kind == "hub":
        repo_id = source.resolved_repo_id()
        if not repo_id:
            return None
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo_id, source.filename, revision=source.revision, cache_dir=hub_cache_dir())
        return Path(hit) if isinstance(hit, str) else None
    return None


@dataclass
class Located:
    """Where a file is, or why it is not: the answer for ``models`` and the error for loads."""

    path: Path | None  # a verified local copy, or None
    status: str  # "bundled" | "local" | "cached" | "downloadable" | "missing"
    tried: list[str]  # one line per place looked at, with its outcome


def _describe_missing(manifest: ModelManifest, mf: ModelFile, tried: list[str]) -> str:
    lines = [f"{manifest.name}: the {mf.role} file {mf.filename!r} is not available. Tried:"]
    lines += [f"  - {t}" for t in tried]
    how = []
    local = local_candidates(manifest, mf)
    if local:
        how.append(f"put the file at {local[-1]}" + (f" (or {local[0]})" if len(local) > 1 else ""))
    for s in mf.sources:
        if s.kind == "hub" and not s.resolved_repo_id():
            how.append(f"set {s.repo_id_env}=owner/name to a Hugging Face Hub mirror holding {s.filename}")
    how.append(f"or point {manifest.folder / 'model.json'} at a Hub repo (a 'hub' source with repo_id, filename, revision)")
    if is_offline():
        how.append("or unset HF_HUB_OFFLINE / GANPAINT_OFFLINE to allow downloads")
    # A blank line first: shown as markdown (the page), the sentence would otherwise run on from the last item.
    lines += ["", "To supply it: " + "; ".join(how) + f"; then run `python -m ganpaint_core fetch {manifest.name}`."]
    return "\n".join(lines)


def locate(manifest: ModelManifest, role: str, *, probe: bool = False, timeout: float = 3.0) -> Located:
    """Find a file without downloading it. ``probe`` asks remote sources whether they answer."""
    mf = manifest.files[role]
    tried: list[str] = []
    for p in local_candidates(manifest, mf):
        if p.is_file():
            verify_file(p, manifest, mf)
            bundled = manifest.bundled and p.parent == manifest.folder
            return Located(p, "bundled" if bundled else "local", tried)
        tried.append(f"local file {p}: not found")
    for source in mf.sources:
        if source.kind == "path":
            continue
        hit = cached_candidate(source, mf)
        if hit is not None:
            verify_file(hit, manifest, mf)
            return Located(hit, "cached", tried)
    for source in mf.sources:
        if source.kind == "path":
            continue
        if source.kind == "hub" and not source.resolved_repo_id():
            tried.append(f"Hugging Face Hub mirror: not configured (set {source.repo_id_env}=owner/name)")
            continue
        if is_offline():
            tried.append(f"{source.describe()}: not in the cache, and offline mode is on")
            continue
        if not probe:
            return Located(None, "downloadable", tried + [f"{source.describe()}: not checked"])
        problem = _probe(source, timeout=timeout)
        if problem is None:
            return Located(None, "downloadable", tried + [f"{source.describe()}: reachable"])
        tried.append(f"{source.describe()}: {problem}")
    return Located(None, "missing", tried)


def _probe(source: FileSource, *, timeout: float) -> str | None:
    """None when the remote file answers, else a short reason."""
    try:
        if source.kind == "url":
            req = urllib.request.Request(source.url, method="HEAD")
            with urllib.request.urlopen(req, timeout=timeout):
                return None
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        url = hf_hub_url(source.resolved_repo_id(), source.filename, revision=source.revision, endpoint=hub_endpoint())
        get_hf_file_metadata(url, timeout=timeout)
        return None
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is the answer we report
        return short_reason(exc)


REACH_TIMEOUT_S = 5.0  # how long a download source's host may take to accept a connection


def short_reason(exc: BaseException) -> str:
    """Why a download or an upload failed, in a few words for a one-line message."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"unreachable ({exc.reason})"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > REASON_CHARS:  # whole sentences only: a reason cut mid-word reads as part of the next line
        end = text.rfind(". ", 0, REASON_CHARS)
        text = text[: end + 1] if end > 0 else text[:REASON_CHARS] + "…"
    return f"{type(exc).__name__}: {text}"


REASON_CHARS = 160  # a failure's reason is shown up to this long


def _unreachable(url: str, timeout: float) -> str | None:
    """None when ``url``'s host accepts a connection within ``timeout``, else why not. Asked before a download
    so that a machine without network fails in seconds, not after the Hub client's ~25 s of retries."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
        return None
    except OSError as exc:
        return f"unreachable ({parts.hostname}: {exc.strerror or exc})"


# -- downloads --------------------------------------------------------------------------------------
def _download_url(source: FileSource, dest: Path, mf: ModelFile, progress: Callback | None, timeout: float) -> None:
    with atomic_path(dest) as tmp, open(tmp, "wb") as out, urllib.request.urlopen(source.url, timeout=timeout) as resp:
        total = int(resp.headers.get("Content-Length") or mf.size or 0)
        done = 0
        while chunk := resp.read(_CHUNK):
            done += len(chunk)
            if mf.size and done > mf.size:  # the wrong file: stop at the declared size, not at the server's end
                raise ChecksumMismatch(f"{source.url} serves more than the {mf.size:,} bytes its manifest declares "
                                       f"for {mf.filename}; refused without reading the rest")
            out.write(chunk)
            if progress:
                progress(done, total, {"file": mf.filename, "source": source.url})


def _progress_tqdm(progress: Callback, filename: str) -> type:
    """A tqdm class that reports to ``progress`` (what huggingface_hub drives while downloading)."""
    from tqdm.auto import tqdm

    class _Reporter(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            self.n += n or 0
            progress(int(self.n), int(self.total or 0), {"file": filename, "source": "hub"})
            return None

    return _Reporter


def fetch(
    manifest: ModelManifest,
    role: str,
    *,
    progress: Callback | None = None,
    timeout: float = 30.0,
) -> Path:
    """A verified local path for the file, downloading it if needed; ``FileUnavailable`` otherwise."""
    if role not in manifest.files:
        raise FileUnavailable(f"{manifest.name} has no {role} file")
    mf = manifest.files[role]
    found = locate(manifest, role)
    if found.path is not None:
        return found.path
    tried = [t for t in found.tried if not t.endswith(": not checked")]
    if not is_offline():
        for source in mf.sources:
            if source.kind == "path" or (source.kind == "hub" and not source.resolved_repo_id()):
                continue
            down = _unreachable(source.url if source.kind == "url" else hub_endpoint() or "https://huggingface.co",
                                timeout=min(timeout, REACH_TIMEOUT_S))
            if down is not None:
                tried.append(f"{source.describe()}: {down}")
                continue
            try:
                path = _fetch_remote(source, mf, progress=progress, timeout=timeout)
            except ChecksumMismatch:
                raise
            except Exception as exc:  # noqa: BLE001 - each failure is reported, the next source tried
                tried.append(f"{source.describe()}: {short_reason(exc)}")
                log.info("%s: %s failed: %r (cause %r)", manifest.name, source.describe(), exc, exc.__cause__)
                continue
            try:
                verify_file(path, manifest, mf)
            except ChecksumMismatch:
                if source.kind == "url":
                    path.unlink(missing_ok=True)  # never keep refused bytes in our cache
                raise
            return path
    raise FileUnavailable(_describe_missing(manifest, mf, tried))


def _fetch_remote(source: FileSource, mf: ModelFile, *, progress: Callback | None, timeout: float) -> Path:
    if source.kind == "url":
        dest = _url_cache_path(source, mf)
        log.info("downloading %s -> %s", source.url, dest)
        _download_url(source, dest, mf, progress, timeout)
        return dest
    from huggingface_hub import hf_hub_download

    kwargs: dict[str, Any] = {
        "revision": source.revision,
        "endpoint": hub_endpoint(),
        "cache_dir": hub_cache_dir(),
        "etag_timeout": timeout,
    }
    if progress is not None:
        kwargs["tqdm_class"] = _progress_tqdm(progress, mf.filename)
    return Path(hf_hub_download(source.resolved_repo_id(), source.filename, **kwargs))


def copy_into_user_folder(manifest: ModelManifest, role: str, src: Path) -> Path:
    """Place a user-supplied file where ``local_candidates`` looks, after verifying it."""
    mf = manifest.files[role]
    dest = user_models_dir() / manifest.name / mf.filename
    verify_file(src, manifest, mf)
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def download_hub_file(repo_id: str, filename: str, *, revision: str = "main", progress: Callback | None = None,
                      timeout: float = 30.0) -> Path:
    """A file of a Hub repository that no manifest names yet (a prepared repo's ``model.json``): the cached
    copy, else downloaded; ``FileUnavailable`` in one sentence when offline or unreachable. Its bytes are
    checked by the caller (the files it lists carry their own sha256)."""
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(repo_id, filename, revision=revision, cache_dir=hub_cache_dir())
    where = f"Hugging Face Hub {repo_id} / {filename} @ {revision}"
    if isinstance(hit, str) and (is_offline() or len(revision) == 40):  # a commit's file never changes
        return Path(hit)
    if is_offline():
        raise FileUnavailable(f"{where}: not in the cache, and offline mode is on (unset HF_HUB_OFFLINE / "
                              "GANPAINT_OFFLINE to download it)")
    down = _unreachable(hub_endpoint() or "https://huggingface.co", timeout=min(timeout, REACH_TIMEOUT_S))
    if down is not None:
        raise FileUnavailable(f"{where}: {down}")
    source = FileSource(kind="hub", repo_id=repo_id, filename=filename, revision=revision)
    mf = ModelFile(role="prepared", filename=filename, format="json", sources=(source,))
    try:
        return _fetch_remote(source, mf, progress=progress, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure to get it is the answer, in one sentence
        raise FileUnavailable(f"{where}: {short_reason(exc)}") from None
