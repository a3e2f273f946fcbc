"""The inversion encoder network: images -> latents, the starting point of GAN inversion, and its weight file.

Example::

    enc = load_encoder(Path("weights/synth-church/encoder.safetensors"))
    z0 = enc(images)                   # [N, 3, 64, 64] in [-1, 1] -> [N, 128], then optimise z0

The file carries resolution, latent size and widths in its safetensors metadata. Training (and why the
codes lie on a sphere) is in :mod:`ganpaint_core.training.encoder`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.core.errors import CheckpointError
from ganpaint_core.models.checkpoint import read_with_config, save_with_config

__all__ = ["Encoder", "load_encoder", "save_encoder", "to_sphere"]

KIND = "ganpaint.encoder"  # the metadata "kind" of an encoder file


def to_sphere(z: torch.Tensor) -> torch.Tensor:
    """Rescale latents ``[N, L]`` to norm ``sqrt(L)`` (same image: the generator pixel-normalises z)."""
    return z * (math.sqrt(z.shape[1]) / z.norm(dim=1, keepdim=True).clamp_min(1e-8))


class _DownBlock(nn.Module):
    """Residual block that halves the side: strided 3x3 conv, 3x3 conv, beside an avg-pool + 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, c_in, H, W] -> [N, c_out, H/2, W/2]
        y = self.conv2(F.leaky_relu(self.conv1(x), 0.2))
        # Scaling the sum keeps activations at unit scale without a normalisation layer, so a single photo
        # encodes exactly as it would inside a batch.
        return F.leaky_relu((y + self.skip(F.avg_pool2d(x, 2))) * math.sqrt(0.5), 0.2)


class Encoder(nn.Module):
    """Small ResNet: images in [-1, 1] ``[N, 3, R, R]`` -> latents ``[N, L]`` of norm ``sqrt(L)``.

    Example::

        enc = load_encoder(Path("weights/synth-church/encoder.safetensors"))
        z = enc(images)                       # [N, 3, 64, 64] -> [N, 128]
        recon = G(z)                          # a starting point for optimisation-based inversion

    A 3x3 stem at full resolution, then one :class:`_DownBlock` per entry of ``widths`` down to 4x4, then a
    linear map of the flattened 4x4 features to ``z``. No batch statistics: output does not depend on
    what else is in the batch, and train/eval modes compute the same thing.
    """

    latent_space = "z"  # what forward() returns: a z for the generator (mapped to W+ by a StyleGAN2)

    def __init__(self, *, resolution: int, latent_size: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        levels = int(math.log2(resolution)) - 2 if resolution >= 4 else -1
        if levels < 1 or 4 * 2**levels != resolution:
            raise ValueError(f"resolution {resolution} must be a power of two ≥ 8")
        if len(widths) != levels:
            raise ValueError(f"a {resolution}px encoder needs {levels} widths (one per halving down to 4x4), "
                             f"got {len(widths)}: {tuple(widths)}")
        self.resolution = int(resolution)  # input side in pixels
        self.latent_size = int(latent_size)  # length of z
        self.widths = tuple(int(w) for w in widths)  # channels per level
        self.stem = nn.Conv2d(3, self.widths[0], 3, padding=1)
        self.blocks = nn.Sequential(*(_DownBlock(c_in, c_out)
                                      for c_in, c_out in zip((self.widths[0], *self.widths[:-1]), self.widths)))
        self.head = nn.Linear(self.widths[-1] * 16, self.latent_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images float ``[N, 3, R, R]`` in [-1, 1] -> z ``[N, latent_size]`` with norm ``sqrt(latent_size)``."""
        r = self.resolution
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, r, r):
            raise ValueError(f"expected images [N, 3, {r}, {r}] in [-1, 1], got shape {tuple(images.shape)}: "
                             f"resize to {r}x{r}")
        x = F.leaky_relu(self.stem(images), 0.2)  # [N, w0, R, R]
        x = self.blocks(x)  # [N, w_last, 4, 4]
        return to_sphere(self.head(x.flatten(1)))  # [N, L]


def save_encoder(enc: Encoder, path: Path) -> None:
    """Write the weights as safetensors with resolution, latent size and widths (JSON) in the metadata; atomic."""
    config = {"resolution": enc.resolution, "latent_size": enc.latent_size, "widths": list(enc.widths)}
    save_with_config(enc, path, kind=KIND, config=config)


def load_encoder(path: Path, *, device: torch.device | str = "cpu") -> Encoder:
    """Read a file written by :func:`save_encoder`: strict load, float32, eval mode, on ``device``."""
    path = Path(path)
    state, meta = read_with_config(path, missing_hint="train one with train_encoder and save_encoder")
    if meta.get("kind") != KIND or "config" not in meta:
        raise CheckpointError(f"{path}: not an encoder file (no encoder config in its metadata); "
                              f"write it with save_encoder")
    config = json.loads(meta["config"])
    try:
        enc = Encoder(resolution=int(config["resolution"]), latent_size=int(config["latent_size"]),
                      widths=tuple(int(w) for w in config["widths"]))
        enc.load_state_dict(state, strict=True)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the encoder config ({exc})") from None
    return enc.to(device).eval()
