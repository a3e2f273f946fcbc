"""Running the part of a generator after the edit layer, with per-layer modifications.

Edits and adaptation change layer outputs through an explicit ``modify(name, output)`` callback while the
tail runs, rather than hooks registered on the shared generator's modules: the generator is shared by
every user of the app, and a hook on it would be seen by concurrent renders of other users.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Modify = Callable[[str, torch.Tensor], torch.Tensor]


def run_tail(tail: nn.Module, features: torch.Tensor, *, latent: torch.Tensor | None = None,
             modify: Modify | None = None) -> torch.Tensor:
    """``tail(features)``, letting ``modify`` replace each named layer's output as it is produced.

    ``latent`` is the latent the features came from (``z`` or W+). A ProGAN tail ignores it; a StyleGAN2
    tail needs it (its later layers are modulated by the latent's styles)."""
    if hasattr(tail, "run"):  # families with structured tails implement run(features, latent=…, modify=…)
        return tail.run(features, latent=latent, modify=modify)
    x = features
    for name, layer in tail.named_children():
        x = layer(x)
        if modify is not None:
            x = modify(name, x)
    return x


def tail_layer_shapes(generator: nn.Module, edit_layer: str) -> dict[str, tuple[int, int]]:
    """``{name: (channels, size)}`` of every layer after ``edit_layer`` (the output layer included)."""
    shapes = generator.layer_shapes()
    names = [n for n, _, _ in shapes]
    after = shapes[names.index(edit_layer) + 1 :]
    return {n: (c, s) for n, c, s in after}
