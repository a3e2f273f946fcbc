"""Files the library writes and reads back: atomic writes, and JSON read with one kind of error."""
from __future__ import annotations

import contextlib
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


def read_json(path: str | Path, *, what: str, error: type[GanpaintError] = GanpaintError) -> Any:
    """The JSON in ``path``; ``error`` naming ``what`` when it is missing, unreadable or not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{what} {path}: is a folder, not a file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{what} {path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise error(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None


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
