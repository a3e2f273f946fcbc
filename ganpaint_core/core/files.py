"""Files the library writes and reads back: atomic writes, bounded JSON with one kind of error, content digests,
and the check that an output can be written before any work starts."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ganpaint_core.core.errors import GanpaintError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` only when the block ends without an
    error, so a run killed while writing leaves the old file or none, never half of one.

    Example::

        with atomic_path(out) as tmp:
            save_file(tensors, str(tmp))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # one per call: two
    os.close(fd)  # threads writing the same file each get their own, and the last complete one wins
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any, *, sort_keys: bool = False) -> None:
    """``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=sort_keys) + "\n")


class DamagedFileError(GanpaintError):
    """A stored file that cannot be read or whose content does not match its checksum."""


DIGEST_KEY = "content_sha256"  # the entry of a checked file (JSON object, safetensors metadata) holding its digest


def json_sha256(data: dict[str, Any]) -> str:
    """The digest of a JSON object, its ``DIGEST_KEY`` left out: :func:`content_sha256` of its canonical text
    (sorted keys, no spaces; floats print as they were read, so a read-back object gives the same digest)."""
    body = {k: v for k, v in data.items() if k != DIGEST_KEY}
    return content_sha256({"json": json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")})


def write_checked_json(path: str | Path, data: dict[str, Any]) -> None:
    """``data`` (a JSON object) with its digest under ``DIGEST_KEY``, atomically: what
    :func:`read_checked_json` verifies. Derived JSON files (a dissection's dictionary) are written this way."""
    write_json(path, {**{k: v for k, v in data.items() if k != DIGEST_KEY}, DIGEST_KEY: json_sha256(data)})


def read_checked_json(path: str | Path, *, what: str,
                      error: type[GanpaintError] = GanpaintError) -> tuple[dict[str, Any], bool]:
    """``(object, checked)``: the JSON object in ``path`` (bounded as :func:`read_json`) and whether it carried
    a digest; ``DamagedFileError`` naming ``what`` when its digest does not match its content. A file without
    one (written before digests, or shipped with its sha256 in a manifest) is returned with ``checked`` False:
    the caller decides whether to trust it."""
    data = read_json(path, what=what, error=error)
    if not isinstance(data, dict) or DIGEST_KEY not in data:
        return data, False
    if data[DIGEST_KEY] != json_sha256(data):
        raise DamagedFileError(f"{what} {Path(path).name}: its content does not match its sha256 (damaged on disk)")
    return {k: v for k, v in data.items() if k != DIGEST_KEY}, True


MAX_JSON_DEPTH = 32  # recipes, bundles and records nest 4-5 deep; deeper input is refused, not recursed into
MAX_JSON_BYTES = 64_000_000  # a recipe with 100 strokes of embedded 1024-px paint is ~10 MB


def parse_json(text: str | bytes, *, what: str, error: type[GanpaintError] = GanpaintError,
               max_depth: int = MAX_JSON_DEPTH, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """``text`` parsed as JSON, bounded: ``error`` naming ``what`` for text over ``max_bytes``, not JSON, or
    nested deeper than ``max_depth`` (checked without recursion, so no reader after this one can overflow)."""
    if len(text) > max_bytes:
        raise error(f"{what}: {len(text) / 1e6:.0f} MB of JSON, over the {max_bytes / 1e6:.0f} MB limit")
    try:
        data = json.loads(text)
    except RecursionError:
        raise error(f"{what}: JSON nested too deeply (at most {max_depth} levels)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{what}: not valid JSON ({exc})") from None
    if json_depth(data) > max_depth:
        raise error(f"{what}: JSON nested too deeply (at most {max_depth} levels)")
    return data


def json_depth(data: Any) -> int:
    """How deep ``data`` nests (a scalar is 0, ``[]`` is 1), counted with a stack, not recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def read_json(path: str | Path, *, what: str, error: type[GanpaintError] = GanpaintError) -> Any:
    """The JSON in ``path`` (bounded as :func:`parse_json`); ``error`` naming ``what`` when it is missing,
    unreadable, too large, too deep or not JSON."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise error(f"{what} {path}: {path.stat().st_size / 1e6:.0f} MB, over the "
                        f"{MAX_JSON_BYTES / 1e6:.0f} MB limit")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{what} {path}: is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise error(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None
    return parse_json(text, what=f"{what} {path}", error=error)


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, read in chunks (weights of several GB never sit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(parts: dict[str, bytes]) -> str:
    """The sha256 of named byte strings, names included (order-free): what a store writes beside its data and
    checks on every read, so a flipped bit is found before it becomes wrong pixels."""
    h = hashlib.sha256()
    for name in sorted(parts):
        data = parts[name]
        h.update(name.encode("utf-8") + b"\0" + len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def check_writable(path: str | Path, *, what: str = "output", error: type[GanpaintError] = GanpaintError) -> Path:
    """``path`` if a file can be written there (its folder exists or can be made, and a probe file can be
    created and removed in it); ``error`` naming ``what`` otherwise. Run before any long work."""
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise error(f"{what} {path}: is a folder; give a file name")
    blocker = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise error(f"{what} {path}: {blocker} is a file, not a folder; choose another folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".ganpaint-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise error(f"{what} {path}: cannot write there ({exc.strerror or exc}); choose another folder") from None
    return path


def evict_least_recent(folder: Path, pattern: str, *, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Remove the files of ``folder`` matching ``pattern``, least recently used (oldest mtime) first, until
    they take at most ``max_bytes``; ``keep`` is never removed. Returns what went. A file another process
    removed meanwhile is skipped. The one bound of the on-disk caches (setups, shares)."""
    files = []
    for p in Path(folder).glob(pattern):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        files.append((st.st_mtime, st.st_size, p))
    files.sort()
    total = sum(size for _, size, _ in files)
    gone = []
    for _, size, p in files:
        if total <= max_bytes:
            break
        if p == keep:
            continue
        p.unlink(missing_ok=True)
        total -= size
        gone.append(p)
    return gone


def files_size(folder: Path, pattern: str) -> int:
    """Bytes taken by the files of ``folder`` matching ``pattern``."""
    return sum(p.stat().st_size for p in Path(folder).glob(pattern))
