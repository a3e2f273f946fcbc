"""Shared edits: a content-addressed store of edit bundles, and the bundle format.

A **bundle** is an edit record (``ganpaint-edit/2``: model, weights' sha256, options, strokes with their
masks as PNGs on the model's square, style, timings) plus what the server needs to render it again without
reading any path: the photo (its decoded pixels as a lossless PNG, EXIF rotation applied) and each style
reference's square (PNG). The same JSON is what the page offers as a download, and what "open a recipe"
takes back. Its id is the sha256 of what defines the edit (model, weights, options, photo pixels, strokes,
references), never a path; sharing the same edit twice gives the same id.

Example::

    store = ShareStore.default()                       # $GANPAINT_SHARE_DIR, capped at $GANPAINT_SHARE_MB
    share_id = store.put(share_bundle(engine, state, strokes, options=options, name="church"))
    bundle = store.get(share_id)                       # ShareError: unknown, removed, not an id
    photo, specs, options = restore(engine, bundle)    # then edit_photo(engine, photo, specs, options=options)
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ganpaint_core.core.errors import GanpaintError, shown
from ganpaint_core.core.files import atomic_write_text, evict_least_recent, files_size, parse_json
from ganpaint_core.core.photo import Photo, load_photo
from ganpaint_core.edit.embedded import encode_png_base64, mask_png_base64
from ganpaint_core.edit.kinds import StrokeKind
from ganpaint_core.edit.recipe import parse_recipe
from ganpaint_core.edit.record import RECORD_FORMAT
from ganpaint_core.edit.spec import EditOptions
from ganpaint_core.hub.fetch import cache_dir

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine, PhotoState

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "ganpaint-share/1"
DEFAULT_CAP_MB = 500.0  # a bundle is the photo's PNG plus a few KB: a 12-MP photo ~20 MB, a 1-MP one ~1.5 MB
ID_PATTERN = re.compile(r"^[0-9a-f]{64}$")
TIMING_KEYS = {"candidate_s"}  # a stroke's fields that say how long it took, not what it is


class ShareError(GanpaintError):
    """A share id or bundle that cannot be opened, with the reason in plain words."""


def png_base64(image: np.ndarray) -> str:
    return encode_png_base64(Image.fromarray(np.asarray(image, dtype=np.uint8)), optimize=False)


def png_from_base64(text: Any, *, what: str) -> bytes:
    if not isinstance(text, str):
        raise ShareError(f"{what} must be base64 PNG text, got {shown(text)}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ShareError(f"{what} is not base64 text") from None


# -- bundles ------------------------------------------------------------------------------------------
def share_bundle(engine: EditEngine, state: PhotoState, strokes: Sequence[StrokeKind], *, options: EditOptions,
                 record: dict[str, Any]) -> dict[str, Any]:
    """The bundle of an edit: ``record`` (from ``edit_photo``) plus the photo and the style references (masks and
    a brush's paint are in the record's strokes)."""
    references = {sha: png_base64(ref.image.original) for spec in strokes for sha, ref in spec.references().items()}
    return record | {"share_format": BUNDLE_FORMAT, "weights_sha256": engine.weights_sha256(),
                     "options": options.to_json(),
                     "photo_png_base64": png_base64(state.photo.original), "references_png_base64": references}


def bundle_id(bundle: dict[str, Any]) -> str:
    """sha256 of what defines the edit (not its timings or notes): equal edits share one id."""
    strokes = [{k: s.get(k) for k in ("concept", "action", "strength", "enabled", "style", "mask_png_base64")}
               if s.get("kind", "concept") == "concept" else {k: v for k, v in s.items() if k not in TIMING_KEYS}
               for s in bundle.get("strokes", []) if isinstance(s, dict)]
    photo = hashlib.sha256(str(bundle.get("photo_png_base64", "")).encode()).hexdigest()
    refs = {k: hashlib.sha256(str(v).encode()).hexdigest() for k, v in bundle.get("references_png_base64", {}).items()}
    key = {"model": bundle.get("model"), "weights": bundle.get("weights_sha256"), "options": bundle.get("options"),
           "photo": photo, "strokes": strokes, "references": refs}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


BUNDLE_TYPES: dict[str, tuple[type, ...]] = {  # a bundle's or record's top-level fields, checked before use
    "format": (str,), "model": (str,), "weights_sha256": (dict,), "options": (dict, type(None)), "strokes": (list,),
    "photo_png_base64": (str,), "references_png_base64": (dict,), "photo": (dict, type(None)),
}


def check_bundle(bundle: Any, *, what: str = "edit record") -> dict[str, Any]:
    """``bundle`` if its fields have the types a record has (a JSON object with 'strokes'; model a name,
    weights a mapping of role to sha256…); ``ShareError`` in one sentence otherwise, before any of it is used."""
    if not isinstance(bundle, dict):
        raise ShareError(f"not an {what}: a JSON object with 'strokes' is expected, got {shown(bundle)}")
    for key, types in BUNDLE_TYPES.items():
        if key in bundle and not isinstance(bundle[key], types):
            want = " or ".join("null" if t is type(None) else {"str": "text", "dict": "an object", "list": "a list"}
                               .get(t.__name__, t.__name__) for t in types)
            raise ShareError(f"this {what}'s {key!r} must be {want}, got {shown(bundle[key])}")
    sha = bundle.get("weights_sha256") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in sha.items()):
        raise ShareError(f"this {what}'s 'weights_sha256' must map file roles to sha256 text, got {shown(sha)}")
    return bundle


def check_model(engine: EditEngine, bundle: dict[str, Any]) -> None:
    """``ShareError`` unless ``engine`` runs the model (the same weights) the bundle was made with."""
    name = engine.model.manifest.name
    if bundle.get("model") != name:
        raise ShareError(f"this edit was made with the model {shown(bundle.get('model'))}, not {name}")
    theirs, ours = bundle.get("weights_sha256") or {}, engine.weights_sha256()
    if theirs.get("generator") != ours.get("generator") or ("generator" not in ours and theirs != ours):
        raise ShareError(f"this edit was made with other weights of {name} (generator sha256 "
                         f"{str(theirs.get('generator', '?'))[:12]}…, this server has "
                         f"{str(ours.get('generator', '?'))[:12]}…): it would not render the same")


def restore(engine: EditEngine, bundle: dict[str, Any], *,
            photo: Photo | None = None) -> tuple[Photo, list[Any], EditOptions]:
    """The photo, strokes and options of a bundle, ready for ``edit_photo`` on ``engine``. Without a photo in
    the bundle, ``photo`` (the one open) is used. Nothing is read from a path: masks and references are
    inside the bundle."""
    if not isinstance(bundle, dict) or not isinstance(bundle.get("strokes"), list) or not bundle["strokes"]:
        raise ShareError("not an edit record or recipe: it needs a non-empty 'strokes' list")
    options = EditOptions.from_json(bundle.get("options"))
    if "photo_png_base64" in bundle:
        data = png_from_base64(bundle["photo_png_base64"], what="the bundle's photo")
        photo = load_photo(data, size=engine.resolution, fit=options.fit)
    elif photo is None:
        raise ShareError("this recipe carries no photo: upload the photo first, then open the recipe")
    else:
        options = dataclasses.replace(options, fit=photo.fit)
    entries = parse_recipe(bundle, base=None, name="recipe")  # the one reader: nothing read from a path
    references: dict[Any, Any] = {}
    specs = [entry.to_spec(photo, engine, references)[0] for entry in entries]
    return photo, specs, options


# -- the store ----------------------------------------------------------------------------------------
class ShareStore:
    """Bundles on disk by id, under a size cap (least recently opened or shared removed first).

    Example::

        store = ShareStore(tmp / "shares", max_bytes=50 * 2**20)
        share_id = store.put(bundle)
        store.get(share_id)
    """

    def __init__(self, folder: str | Path, *, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = int(max_bytes)

    @classmethod
    def default(cls) -> ShareStore:
        """``$GANPAINT_SHARE_DIR`` (default ``$GANPAINT_CACHE/shares``), capped at ``$GANPAINT_SHARE_MB``."""
        folder = os.environ.get("GANPAINT_SHARE_DIR") or cache_dir() / "shares"
        raw = os.environ.get("GANPAINT_SHARE_MB", "")
        try:
            mb = float(raw) if raw else DEFAULT_CAP_MB
        except ValueError:
            raise ShareError(f"GANPAINT_SHARE_MB must be a number of megabytes, got {raw!r}") from None
        return cls(folder, max_bytes=int(mb * 2**20))

    def _path(self, share_id: str) -> Path:
        return self.folder / f"{share_id}.json"

    def put(self, bundle: dict[str, Any]) -> str:
        """Store ``bundle``; its id. The same edit shared again keeps its file when that file is sound, and
        rewrites it when it is damaged, so sharing again repairs a broken link."""
        share_id = bundle_id(bundle)
        path = self._path(share_id)
        text = json.dumps(bundle, separators=(",", ":"))
        if len(text.encode()) > self.max_bytes:
            raise ShareError(f"this edit is {len(text) / 2**20:.1f} MB, more than the share store's cap "
                             f"({self.max_bytes / 2**20:.0f} MB): download the record instead")
        try:
            self._read(path, share_id)
            os.utime(path)
        except (FileNotFoundError, ShareError):
            atomic_write_text(path, _digest(text) + "\n" + text)
        self.evict(keep=path)
        return share_id

    def get(self, share_id: Any) -> dict[str, Any]:
        """The bundle stored as ``share_id``; ``ShareError`` in plain words when there is none or it is damaged."""
        if not isinstance(share_id, str) or not ID_PATTERN.match(share_id):
            raise ShareError(f"{shown(share_id)} is not a share id (a share link ends in ?edit= and 64 hex digits); "
                             "check that the whole link was copied")
        path = self._path(share_id)
        try:
            bundle = self._read(path, share_id)
            os.utime(path)
        except FileNotFoundError:
            raise ShareError(f"no shared edit {share_id[:12]}… on this server: the link is wrong, or the edit was "
                             "removed to make room (older shares go first). Ask for the JSON record instead, "
                             "and open it as a recipe") from None
        except ShareError as exc:
            log.warning("share %s… is damaged (%s); removed", share_id[:12], exc)
            path.unlink(missing_ok=True)
            raise ShareError(f"the shared edit {share_id[:12]}… was damaged on this server and has been removed: "
                             "ask for the edit to be shared again (or for its JSON record)") from None
        return bundle

    @staticmethod
    def _read(path: Path, share_id: str) -> dict[str, Any]:
        """The bundle in ``path``, verified: its first line is the sha256 of the rest (files written before
        the checksum hold the bundle alone and are checked by their id); ``ShareError`` when it does not match."""
        try:
            raw = path.read_bytes()
        except IsADirectoryError:
            raise ShareError("it is a folder") from None
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise ShareError(f"cannot be read: {exc.strerror or exc}") from None
        head, sep, body = raw.partition(b"\n")
        if sep and len(head) == 64:
            if _digest(body.decode("utf-8", errors="replace")) != head.decode("ascii", errors="replace"):
                raise ShareError("its content does not match its sha256")
            text = body
        else:
            text = raw
        bundle = parse_json(text, what="shared edit", error=ShareError)
        legacy = not (sep and len(head) == 64)
        if not isinstance(bundle, dict) or (legacy and bundle_id(bundle) != share_id):
            raise ShareError("its content does not match its id")
        return bundle

    def evict(self, *, keep: Path | None = None) -> list[Path]:
        """Remove the least recently used bundles until the folder is under the cap."""
        return evict_least_recent(self.folder, "*.json", max_bytes=self.max_bytes, keep=keep)

    def size_bytes(self) -> int:
        return files_size(self.folder, "*.json")


__all__ = ["BUNDLE_FORMAT", "RECORD_FORMAT", "ShareError", "ShareStore", "bundle_id", "check_model", "mask_png_base64",
           "restore", "share_bundle"]


def _digest(text: str) -> str:
    """sha256 of a stored bundle's JSON text: the first line of its file."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
