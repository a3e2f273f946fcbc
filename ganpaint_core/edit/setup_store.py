"""Photo setups (inversion + adaptation) kept on disk, so that a second CLI call, a page reload or an opened
share link on the same photo skips 15–30 s of setup. The engine's in-memory setup cache reads through it.

A setup is keyed by the sha256 of the photo's model square, the sha256 of every weight file of the model,
and the settings it was made with (inversion and adaptation configs, LPIPS, seed, device kind, this file's
format), so a setup is never reused across photos, models or settings. Files are safetensors (tensors,
plus the scalar fields as JSON metadata) with a sha256 of their whole content in the metadata, written
atomically; a file whose content does not match (a flipped bit, a bad disk) is logged, removed and set up
again, never used. The folder is kept under a size cap by deleting the least recently used files first.

Example::

    store = SetupStore.default()                  # $GANPAINT_CACHE/setups, $GANPAINT_SETUP_CACHE_MB (512)
    fields = store.get(key)                       # None on a miss
    store.put(key, fields)
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from ganpaint_core.core.files import evict_least_recent, files_size
from ganpaint_core.core.tensor_files import DamagedFileError, read_checked, write_checked
from ganpaint_core.edit.segments import SegmentCodes
from ganpaint_core.hub.fetch import cache_dir

log = logging.getLogger(__name__)

# bump when PhotoState's fields or their meaning change. 2: content sha256 in the metadata; 3: segment codes kept
SETUP_FORMAT = "ganpaint-setup/3"
DEFAULT_CAP_MB = 512.0  # a 64-px setup is ~1.7 MB, a 256-px one a few MB: hundreds of photos


def setup_key(*, square_sha256: str, weights_sha256: dict[str, str], settings: dict[str, Any]) -> str:
    """The file name of a setup: sha256 over everything the setup depends on."""
    blob = json.dumps({"format": SETUP_FORMAT, "square": square_sha256, "weights": weights_sha256,
                       "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class SetupStore:
    """A folder of photo setups with a size cap (least recently used removed first)."""

    def __init__(self, folder: str | Path, *, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = int(max_bytes)

    @classmethod
    def default(cls) -> SetupStore | None:
        """``$GANPAINT_CACHE/setups`` capped at ``$GANPAINT_SETUP_CACHE_MB`` (0 turns the store off: None)."""
        raw = os.environ.get("GANPAINT_SETUP_CACHE_MB", "")
        try:
            mb = float(raw) if raw else DEFAULT_CAP_MB
        except ValueError:
            log.warning("GANPAINT_SETUP_CACHE_MB=%r is not a number; using %s", raw, DEFAULT_CAP_MB)
            mb = DEFAULT_CAP_MB
        return cls(cache_dir() / "setups", max_bytes=int(mb * 2**20)) if mb > 0 else None

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"a setup key is a sha256 hex digest, got {key!r}")
        return self.folder / f"{key}.safetensors"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored fields of a PhotoState (all but the photo), or None when not stored, unreadable or
        damaged (then the file is removed, so the setup is made again and stored afresh)."""
        path = self._path(key)
        try:
            tensors, metadata = read_checked(path, what="setup cache file")
            meta = json.loads(metadata["state"])
            if metadata.get("format") != SETUP_FORMAT:
                raise DamagedFileError(f"setup cache file {path.name}: format {metadata.get('format')!r}")
            names = meta.pop("segment_names", None)
            segments = None if names is None else SegmentCodes(codes=tensors["segment_codes"],
                                                               masks=tensors["segment_masks"], names=tuple(names))
            os.utime(path)  # recently used: evicted last
        except FileNotFoundError:
            return None
        except (DamagedFileError, KeyError, TypeError, ValueError) as exc:
            log.warning("%s; removed, setting up again", exc)
            path.unlink(missing_ok=True)
            return None
        adapter = {k.removeprefix("adapter."): v for k, v in tensors.items() if k.startswith("adapter.")}
        return {"latent": tensors["latent"], "features": tensors["features"], "base_render": tensors["base_render"],
                "adapter": adapter, "segments": segments, **meta}

    def put(self, key: str, fields: dict[str, Any]) -> None:
        """Store a setup (the PhotoState fields but the photo), then evict down to the cap."""
        tensors = {"latent": fields["latent"], "features": fields["features"], "base_render": fields["base_render"],
                   **{f"adapter.{k}": v for k, v in fields["adapter"].items()}}
        scalars = {k: fields[k] for k in ("recon_psnr_before", "recon_psnr_after", "timings", "notes")}
        segments = fields.get("segments")
        if segments is not None:  # a segment inversion's codes: what edits of one segment start from
            tensors |= {"segment_codes": segments.codes, "segment_masks": segments.masks}
            scalars["segment_names"] = list(segments.names)
        state = json.dumps(scalars)
        try:
            write_checked(self._path(key), tensors, {"state": state, "format": SETUP_FORMAT})
        except OSError as exc:  # a full or read-only cache costs the next setup time, not this edit
            log.warning("could not keep the setup on disk (%s)", exc)
            return
        self.evict()

    def evict(self) -> list[Path]:
        """Remove the least recently used setups until the folder is under the cap; returns what went."""
        return evict_least_recent(self.folder, "*.safetensors", max_bytes=self.max_bytes)

    def size_bytes(self) -> int:
        return files_size(self.folder, "*.safetensors")

