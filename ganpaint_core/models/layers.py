"""Running the part of a generator after the edit layer, with per-layer modifications.

``Modify`` and the :class:`~ganpaint_core.models.family.Tail` contract live in ``models.family``; they are
imported here so that edit code finds them beside :func:`run_tail`.

Edits and adaptation change layer outputs through an explicit ``modify(name, output)`` callback while the
tail runs, rather than hooks registered on the shared generator's modules: the generator is shared by
every user of the app, and a hook on it would be seen by concurrent renders of other users.
"""
from __future__ import annotations

import torch
from torch import nn

from ganpaint_core.models.family import Modify, Tail


def run_tail(tail: Tail, features: torch.Tensor, *, latent: torch.Tensor | None = None,
             modify: Modify | None = None) -> torch.Tensor:
    """``tail.run(features, latent=latent, modify=modify)``: the image, with ``modify`` replacing each named
    layer's output as it is produced.

    ``latent`` is the latent the features came from (``z`` or W+). A ProGAN tail ignores it; a StyleGAN2
    tail needs it (its later layers are modulated by the latent's styles)."""
    return tail.run(features, latent=latent, modify=modify)


def tail_layer_shapes(generator: nn.Module, edit_layer: str) -> dict[str, tuple[int, int]]:
    """``{name: (channels, size)}`` of every layer after ``edit_layer`` (the output layer included)."""
    shapes = generator.layer_shapes()
    names = [n for n, _, _ in shapes]
    after = shapes[names.index(edit_layer) + 1 :]
    return {n: (c, s) for n, c, s in after}
