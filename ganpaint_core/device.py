"""Which torch device to run on: one rule for the app, the CLI and training."""
from __future__ import annotations

import torch

from ganpaint_core.errors import GanpaintError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (or None): CUDA when torch sees a GPU, else the CPU; ``cuda`` without a GPU is refused with
    what to pass instead; any other torch device name is taken as it is."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise GanpaintError(f"--device {name}: torch sees no CUDA GPU here; use --device cpu (or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise GanpaintError(f"unknown device {name!r}; use one of {', '.join(DEVICE_CHOICES)}") from None
