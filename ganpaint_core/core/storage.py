"""Where the app keeps what it writes: one folder for the cache (downloads' pins, derived files such as
dissections and directions), share bundles and stored setups, chosen once here.

Example::

    storage = host_storage()
    storage.root          # /data/ganpaint on a Space with persistent storage, else ~/.cache/ganpaint
    storage.persistent    # True when that folder outlives a restart of the host

A Hugging Face Space's disk is reset at every restart (a rebuild, a settings change, waking from sleep);
its persistent storage, when the owner adds some, is mounted at ``/data``. Keeping the cache there means a
restart neither redoes a dissection nor loses the share links visitors sent each other.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SPACE_DATA = Path("/data")  # where a Hugging Face Space mounts its persistent storage
APP_FOLDER = "ganpaint"  # this app's folder inside a persistent one (the rest of /data stays the owner's)


@dataclass(frozen=True)
class Storage:
    """The folder everything this app writes goes under, and whether it survives a restart."""

    root: Path  # cache root: <root>/derived, <root>/shares, <root>/setups, <root>/pins.json, <root>/models
    persistent: bool  # True when ``root`` outlives a restart: False only on a Space, outside its persistent storage
    reason: str  # why this folder, in words for `doctor` and the logs
    hub_cache: Path | None = None  # the Hub downloads' cache when it belongs in persistent storage, else None (the Hub's default)


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def persistent_folder(*, env: Mapping[str, str], space_data: Path = SPACE_DATA) -> tuple[Path, str] | None:
    """The host's persistent folder and how it was found: ``$GANPAINT_DATA_DIR``, else a Space's writable
    ``/data`` (``$SPACE_ID`` set); None when the host has none."""
    if env.get("GANPAINT_DATA_DIR"):
        return Path(env["GANPAINT_DATA_DIR"]), f"GANPAINT_DATA_DIR={env['GANPAINT_DATA_DIR']}"
    if env.get("SPACE_ID") and _writable_dir(space_data):
        return space_data, f"the Space's persistent storage {space_data}"
    return None


def host_storage(*, env: Mapping[str, str] | None = None, space_data: Path = SPACE_DATA) -> Storage:
    """Decide the app's folder: ``$GANPAINT_CACHE`` when set, else ``<persistent>/ganpaint`` on a host with
    persistent storage, else ``~/.cache/ganpaint``. The Hub's own cache moves into persistent storage too
    (``<persistent>/huggingface/hub``) unless ``HF_HUB_CACHE`` / ``HF_HOME`` say otherwise."""
    env = os.environ if env is None else env
    found = persistent_folder(env=env, space_data=space_data)
    hub = found[0] / "huggingface" / "hub" if found and not (env.get("HF_HUB_CACHE") or env.get("HF_HOME")) else None
    if env.get("GANPAINT_CACHE"):
        root = Path(env["GANPAINT_CACHE"])
        inside = found is not None and root.resolve().is_relative_to(found[0].resolve())
        return Storage(root, inside or not env.get("SPACE_ID"), f"GANPAINT_CACHE={root}", hub)
    if found is not None:
        return Storage(found[0] / APP_FOLDER, True, found[1], hub)
    home = Path.home() / ".cache" / APP_FOLDER
    if env.get("SPACE_ID"):
        return Storage(home, False, f"a Space without persistent storage: {home} is emptied at every restart")
    return Storage(home, True, "the user's cache folder")
