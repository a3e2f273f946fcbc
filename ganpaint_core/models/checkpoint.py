"""Read weight files safely and recognise which generator family they hold.

Our own files are safetensors. Third-party ``.pth``/``.pt`` files load with
``torch.load(..., weights_only=True)``: tensors and plain containers only, never arbitrary objects.
"""
from __future__ import annotations

import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from ganpaint_core.core.errors import CheckpointError
from ganpaint_core.core.files import atomic_path

_SAFETENSORS_SUFFIXES = (".safetensors", ".st")


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The file's top-level mapping (state dict or container), loaded without executing code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.suffix in _SAFETENSORS_SUFFIXES or looks_like_safetensors(path):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if found is None:
            raise CheckpointError(f"{path}: not a PyTorch or safetensors checkpoint (unreadable pickle data)") from None
        raise CheckpointError(unsafe_checkpoint_message(path, _unsafe_globals(path) or [found.group(1)])) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a PyTorch or safetensors checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: holds a {type(data).__name__}, expected a state dict (name -> tensor)")
    return data


def _unsafe_globals(path: Path) -> list[str]:
    """Every non-tensor Python type the pickle names, read without unpickling anything."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except (RuntimeError, ValueError, OSError, zipfile.BadZipFile, pickle.UnpicklingError):
        return []


def unsafe_checkpoint_message(path: Path, types: list[str]) -> str:
    """Why safe loading refused ``path`` and how to convert it once into a file it accepts."""
    out = f"{path.with_suffix('')}-weights.safetensors"
    return (
        f"{path}: refused by safe loading (torch.load with weights_only=True): besides tensors it holds Python "
        f"objects of type {', '.join(types)} (a training checkpoint's 'args' is typical), and unpickling those "
        "could run code from the file. If you trust its origin, convert it once in a separate Python session, "
        "keeping only the weights:\n"
        "    import torch; from safetensors.torch import save_file\n"
        f"    c = torch.load({str(path)!r}, map_location='cpu', weights_only=False)  # runs the file's pickle\n"
        "    # StyleGAN2 (rosinality): the EMA generator, with latent_avg beside its keys\n"
        "    sd = dict(c['g_ema'], latent_avg=c.get('latent_avg')) if 'g_ema' in c else c.get('state_dict', c)\n"
        f"    save_file({{k: v.contiguous() for k, v in sd.items() if torch.is_tensor(v)}}, {out!r})\n"
        "then use the .safetensors file instead."
    )


def looks_like_safetensors(path: Path) -> bool:
    """True when the file's bytes begin as safetensors do (judged by content, not by the name)."""
    with open(path, "rb") as f:
        head = f.read(9)
    # 8-byte little-endian header length, then a JSON object.
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 28)


def save_with_config(module: torch.nn.Module, path: Path, *, kind: str, config: dict[str, Any],
                     **metadata: str) -> None:
    """Write a module's weights as safetensors with ``kind``, ``config`` (JSON) and any further ``metadata``
    strings in the metadata; atomic."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "kind": kind, "config": json.dumps(config), **metadata})


def read_with_config(path: Path, *, missing_hint: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors (floating ones as float32) and metadata of a file written by :func:`save_with_config`."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; {missing_hint}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    return state, meta
