"""A segmenter checkpoint's folder: a local ``save_pretrained`` folder, or a Hub repo downloaded once.

Example::

    folder = checkpoint_folder("clipseg", "CIDAS/clipseg-rd64-refined@main", what="CLIPSeg", files=CLIPSEG_FILES,
                               size="about 600 MB", source_flag="--text-segmenter-source")

Every Hub failure becomes one :class:`GanpaintError` that says how to fix it (go online once, or copy a
downloaded folder here and pass it as the source).
"""
from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path

from ganpaint_core.core.errors import GanpaintError

REPO_ID_RE = re.compile(r"^[\w.-]+/[\w.-]+$")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # safetensors first; transformers reads .bin weights_only


def require_transformers(kind: str) -> None:
    if importlib.util.find_spec("transformers") is None:
        raise GanpaintError(f"the {kind} segmenter needs the transformers package: "
                            "pip install .[dissect]  (or: pip install 'ganpaint[dissect]')")


def checkpoint_folder(kind: str, source: str, *, what: str, files: Sequence[Sequence[str]], size: str,
                      source_flag: str) -> Path:
    """The folder holding ``source``: a folder as it is, or Hub ``owner/name[@revision]`` in the Hugging Face
    cache (downloaded when missing). ``files`` lists alternatives per needed file, first found wins; the
    weights (:data:`WEIGHT_FILES`) are always needed."""
    repo_id, _, revision = source.partition("@")
    if Path(source).is_dir():
        return Path(source)
    if Path(source).exists() or not REPO_ID_RE.match(repo_id):
        raise GanpaintError(f"{kind}: {source} is neither a folder holding a checkpoint nor a Hub repo id owner/name[@revision]")
    return _hub_files(kind, repo_id, revision or "main", what=what, files=[*files, WEIGHT_FILES], size=size,
                      source_flag=source_flag)


def weights_file(kind: str, folder: Path) -> Path:
    weights = next((folder / n for n in WEIGHT_FILES if (folder / n).is_file()), None)
    if weights is None or not (folder / "config.json").is_file():
        raise GanpaintError(f"{kind}: {folder} holds no checkpoint (config.json and {' or '.join(WEIGHT_FILES)})")
    return weights


def folder_fingerprint(kind: str, folder: Path, *, extra: Sequence[str] = ()) -> str:
    """``kind:sha256`` over config.json's and the weights' bytes, then the ``extra`` files present (tokenizer)."""
    h = hashlib.sha256()
    for path in [folder / "config.json", weights_file(kind, folder), *(folder / n for n in extra)]:
        if path.is_file():
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return f"{kind}:{h.hexdigest()}"


def _hub_files(kind: str, repo_id: str, revision: str, *, what: str, files: Sequence[Sequence[str]], size: str,
               source_flag: str) -> Path:
    """The checkpoint's folder in the Hugging Face cache, downloading what is missing; one clear error otherwise."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from ganpaint_core.hub.fetch import hub_cache_dir, hub_endpoint, is_offline

    where = f"{repo_id}@{revision}"
    offline = is_offline()
    kwargs = {"revision": revision, "cache_dir": hub_cache_dir(), "endpoint": hub_endpoint(),
              "local_files_only": offline}
    folder: Path | None = None
    try:
        for choices in files:
            for i, name in enumerate(choices):
                try:
                    folder = Path(hf_hub_download(repo_id, name, **kwargs)).parent
                    break
                except EntryNotFoundError as exc:
                    unreachable = isinstance(exc, LocalEntryNotFoundError) and not offline
                    if unreachable or i == len(choices) - 1:
                        raise
    except LocalEntryNotFoundError:
        why = "offline mode is on (HF_HUB_OFFLINE / GANPAINT_OFFLINE)" if offline else "the Hub cannot be reached"
        raise GanpaintError(
            f"{kind}: {where} is not in the Hugging Face cache and {why}: run once with network access ({size} is "
            f"downloaded), or copy a folder made by `hf download {repo_id} --local-dir DIR` here and pass "
            f"{source_flag} DIR"
        ) from None
    except RepositoryNotFoundError:
        raise GanpaintError(f"{kind}: no accessible Hub repository {repo_id!r}; check {source_flag}") from None
    except RevisionNotFoundError:
        raise GanpaintError(f"{kind}: {repo_id} has no revision {revision!r}") from None
    except RemoteEntryNotFoundError:
        needed = ", ".join(" or ".join(c) for c in files)
        raise GanpaintError(f"{kind}: {where} is not a {what} checkpoint (it needs {needed})") from None
    except (HfHubHTTPError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanpaintError(f"{kind}: downloading {where} failed ({first[:160]}); retry when online, or "
                            f"pass {source_flag} FOLDER with a downloaded copy") from None
    assert folder is not None  # files always holds the weights
    return folder
