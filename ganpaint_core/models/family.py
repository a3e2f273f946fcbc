"""What a generator family provides: the contracts that every family class and every split tail meet.

Example::

    G: GeneratorFamily = FAMILIES["progan"].from_state_dict(state)
    head, tail = G.split("layer4")                       # head(z) -> features [N, C, h, w]
    image = tail.run(head(z), latent=z, modify=None)     # [N, 3, R, R] in about [-1, 1]

The editor, inversion, adaptation, dissection and encoder training use a generator only through these
members, so a new family is one class that meets :class:`GeneratorFamily` (it is also a ``torch.nn.Module``:
``to``, ``eval``, ``requires_grad_``, ``parameters`` and ``state_dict`` are used too) and a tail class that
meets :class:`Tail`. Family classes are listed in ``ganpaint_core.models.FAMILIES``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import torch

Modify = Callable[[str, torch.Tensor], torch.Tensor]  # (layer name, output) -> the output to use instead


@runtime_checkable
class Tail(Protocol):
    """The layers after a split: ``run(features, latent=, modify=) -> image``, sharing the generator's weights.

    ``latent`` is the latent the features came from (``z`` or W+): a ProGAN tail ignores it, a StyleGAN2
    tail needs it. ``modify(name, output)`` may replace each named layer's output as it is produced; that is
    how edits and adaptation reach the shared generator without changing it for other users.
    """

    def run(self, features: torch.Tensor, *, latent: torch.Tensor | None = None,
            modify: Modify | None = None) -> torch.Tensor:
        """Features ``[N, C, h, w]`` of the split layer -> image ``[N, 3, R, R]`` in about [-1, 1]."""
        ...


class Head(Protocol):
    """The layers up to and including a split: ``head(latent) -> features [N, C, h, w]``."""

    def __call__(self, latent: torch.Tensor) -> torch.Tensor: ...


class GeneratorFamily(Protocol):
    """A generator family's class and instances, as the rest of the library uses them.

    What inversion optimises is the family's choice (``z`` for ProGAN, W+ for StyleGAN2): ``inversion_space``
    names it, ``inversion_starts`` draws starting points, ``to_inversion_latent`` maps an encoder's output
    (``z``, or W+ for e4e: the encoder's ``latent_space`` says which) into it, ``latent_std`` gives its spread
    per coordinate (which scales step sizes), and the head accepts it.
    """

    resolution: int  # output side in pixels
    latent_size: int  # length of z
    inversion_space: str  # the latent invert() optimises: "z" or "w+"

    @classmethod
    def detect(cls, state: Mapping[str, object]) -> bool:
        """True when a checkpoint's top-level mapping holds this family's generator (judged by its keys)."""
        ...

    @classmethod
    def from_state_dict(cls, state: Mapping[str, object]) -> GeneratorFamily:
        """Build the generator that ``state`` describes and load it strictly (every key, every shape)."""
        ...

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """``z [N, latent_size]`` -> image ``[N, 3, R, R]`` in about [-1, 1]."""
        ...

    def layer_shapes(self) -> list[tuple[str, int, int]]:
        """``(name, channels, size)`` of each layer's output in forward order, the output layer last."""
        ...

    def split(self, layer: str) -> tuple[Head, Tail]:
        """``(head, tail)`` around ``layer``, sharing this generator's weights."""
        ...

    def sample_latents(self, n: int, *, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Reproducible latents ``z [n, latent_size]`` from the family's prior."""
        ...

    def inversion_starts(self, n: int, *, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """``n`` starting latents in the inversion space (invert() keeps the best)."""
        ...

    def to_inversion_latent(self, latent: torch.Tensor, *, space: str) -> torch.Tensor:
        """An encoder's output, a latent of ``space`` (the encoder's ``latent_space``: "z" or "w+"), as a
        latent of the inversion space; a space the family has not raises ``ValueError``."""
        ...

    def latent_std(self) -> float:
        """Spread per coordinate of the inversion space's latents."""
        ...
