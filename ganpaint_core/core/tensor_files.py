"""Tensor files that prove their content: safetensors with a sha256 of every tensor and of the metadata.

Example::

    write_checked(path, {"w": w}, {"kind": "directions", "info": json.dumps(info)})
    tensors, metadata = read_checked(path, what="directions file")   # DamagedFileError on any mismatch

Every store of ours that keeps tensors (photo setups, directions, converted encoders) writes through here,
atomically, and reads back through here: a flipped bit or a half-copied file is an error that the store turns
into "removed, made again", never tensors that give wrong pixels.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ganpaint_core.core.files import DIGEST_KEY, DamagedFileError, atomic_path, content_sha256

__all__ = ["DIGEST_KEY", "DamagedFileError", "read_checked", "tensors_sha256", "write_checked"]


def tensors_sha256(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, and every metadata entry but the digest."""
    parts = {f"t|{name}|{t.dtype}|{tuple(t.shape)}": t.detach().cpu().contiguous().view(-1).view(torch.uint8)
             .numpy().tobytes() for name, t in tensors.items()}
    parts.update({f"m|{k}": v.encode("utf-8") for k, v in metadata.items() if k != DIGEST_KEY})
    return content_sha256(parts)


def write_checked(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """``tensors`` (CPU, contiguous) and ``metadata`` to ``path`` with their digest, atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {**metadata, DIGEST_KEY: tensors_sha256(tensors, metadata)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read_checked(path: str | Path, *, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a file written by :func:`write_checked`; ``FileNotFoundError`` when there is
    none, ``DamagedFileError`` naming ``what`` when it is unreadable or its content does not match."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(str(path))
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise DamagedFileError(f"{what} {path.name}: not a readable safetensors file ({exc})") from None
    if metadata.get(DIGEST_KEY) != tensors_sha256(tensors, metadata):
        raise DamagedFileError(f"{what} {path.name}: its content does not match its sha256 (damaged on disk)")
    return tensors, metadata
