"""Which torch device to run on: one rule for the app, the CLI and training."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ganpaint_core.core.errors import GanpaintError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (or None): CUDA when torch sees a GPU, else the CPU; ``cuda`` without a GPU is refused with
    what to pass instead; any other torch device name is taken as it is."""
    import torch  # here, so that a CLI command that needs no torch starts without it

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
