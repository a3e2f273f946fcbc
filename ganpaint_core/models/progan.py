"""Progressive GAN generator in GAN Dissection's ("netdissect") layout.

Written from the facts in ``shared/formats/progan-netdissect.md``: module and parameter names match
GANPaint's checkpoints (``layer1 … layerN``, ``output_RxR``), so they load with ``strict=True``.
The same class serves GANPaint's 256² church model and the project's own synth-church model.
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.models.family import Modify

FAMILY = "progan"


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit root-mean-square over channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W]
        return x / torch.sqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class WScaleBias(nn.Module):
    """Equalised-learning-rate scale and the bias added after it: ``y = scale * x + b``."""

    def __init__(self, channels: int, *, scale: float) -> None:
        super().__init__()
        self.scale = scale  # a constant derived from the fan-in, never stored
        self.b = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.b.view(1, -1, 1, 1)


class ProGANLayer(nn.Module):
    """Pixel norm, optional nearest ×2 upsampling, scaled conv, optional LeakyReLU(0.2).

    Its output (post-activation) is what GAN Dissection reads and GANPaint overwrites.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: int,
        padding: int,
        upsample: bool,
        activation: bool,
        gain: float,
    ) -> None:
        super().__init__()
        self.norm = PixelNorm()
        self.upsample = upsample
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)
        # fan_in counts input channels only, as in GANPaint's port (not k*k*C_in).
        self.wscale = WScaleBias(out_channels, scale=gain / math.sqrt(in_channels))
        self.activation = activation
        nn.init.normal_(self.conv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.wscale(self.conv(x))
        return F.leaky_relu(x, 0.2) if self.activation else x


class _LatentSequential(nn.Sequential):
    """A run of layers that accepts ``z`` as ``[N, L]`` (viewed as ``[N, L, 1, 1]``)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return super().forward(z)


class ProGANTail(nn.Sequential):
    """The layers after a split: ``tail.run(features, modify=…) -> image`` (a ProGAN tail needs no latent).

    Example::

        head, tail = G.split("layer4")
        image = tail.run(head(z), modify=lambda name, x: x * 0 if name == "layer5" else x)
    """

    def run(self, features: torch.Tensor, *, latent: torch.Tensor | None = None,
            modify: Modify | None = None) -> torch.Tensor:
        """Features ``[N, C, h, w]`` -> image; ``modify(name, output)`` may replace each layer's output."""
        x = features
        for name, layer in self.named_children():
            x = layer(x)
            if modify is not None:
                x = modify(name, x)
        return x


class ProGANGenerator(_LatentSequential):
    """GANPaint-layout Progressive GAN generator: ``z [N, L] -> image [N, 3, R, R]`` in about [-1, 1].

    Example::

        G = ProGANGenerator.from_state_dict(torch.load("church.pth", weights_only=True))
        img = G(torch.randn(1, G.latent_size))            # [1, 3, 256, 256]
        head, tail = G.split("layer4")                    # features computed once, edits rerun tail
    """

    def __init__(self, sizes: Sequence[int]) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"ProGAN size list needs at least 2 entries, got {sizes}")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        hidden_gain = math.sqrt(2.0)
        k = 1
        for stage, (c_in, c_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            first = stage == 0
            layers[f"layer{k}"] = ProGANLayer(
                c_in,
                c_out,
                kernel_size=4 if first else 3,
                padding=3 if first else 1,
                upsample=not first,
                activation=True,
                gain=hidden_gain / (4 if first else 3),
            )
            layers[f"layer{k + 1}"] = ProGANLayer(
                c_out, c_out, kernel_size=3, padding=1, upsample=False, activation=True, gain=hidden_gain / 3
            )
            k += 2
        resolution = 4 * 2 ** (len(sizes) - 2)
        layers[f"output_{resolution}x{resolution}"] = ProGANLayer(
            sizes[-1], 3, kernel_size=1, padding=0, upsample=False, activation=False, gain=1.0
        )
        super().__init__(layers)
        self.sizes = tuple(sizes)  # channel widths [latent, stage1, …]; stage m runs at 4·2^(m-1) px
        self.latent_size = sizes[0]  # length of z
        self.resolution = resolution  # output side in pixels

    # -- construction -------------------------------------------------------------------------------
    @staticmethod
    def detect(state: Mapping[str, object]) -> bool:
        """True when ``state`` is (or wraps) a ProGAN state dict in GANPaint's or the legacy layout."""
        inner = state.get("state_dict", state)
        return isinstance(inner, Mapping) and ("layer1.conv.weight" in inner or "features.0.conv.weight" in inner)

    @staticmethod
    def normalize_state_dict(state: Mapping[str, object]) -> dict[str, torch.Tensor]:
        """Unwrap ``{'state_dict': …}`` and rename legacy ``features.N`` keys; tensors only."""
        if "state_dict" in state and isinstance(state["state_dict"], Mapping):
            state = state["state_dict"]
        tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
        if "features.0.conv.weight" not in tensors:
            return tensors
        n = len({m.group(1) for k in tensors if (m := re.match(r"features\.(\d+)\.", k))})
        res = 4 * 2 ** ((n - 1) // 2)
        renamed: dict[str, torch.Tensor] = {}
        for key, value in tensors.items():
            if m := re.match(r"features\.(\d+)\.(.*)", key):
                renamed[f"layer{int(m.group(1)) + 1}.{m.group(2)}"] = value
            elif key.startswith("output."):
                renamed[f"output_{res}x{res}." + key[len("output.") :]] = value
        return renamed

    @staticmethod
    def sizes_from_state_dict(state: Mapping[str, torch.Tensor]) -> list[int]:
        """Channel widths: layer1's input width, then the output width of every odd layer."""
        if "layer1.conv.weight" not in state:
            raise KeyError("not a ProGAN state dict: no 'layer1.conv.weight'")
        sizes = [int(state["layer1.conv.weight"].shape[1])]
        k = 1
        while f"layer{k}.conv.weight" in state:
            sizes.append(int(state[f"layer{k}.conv.weight"].shape[0]))
            k += 2
        return sizes

    @classmethod
    def from_state_dict(cls, state: Mapping[str, object]) -> "ProGANGenerator":
        """Build with widths read from ``state`` and load it strictly (every key, every shape)."""
        tensors = cls.normalize_state_dict(state)
        model = cls(cls.sizes_from_state_dict(tensors))
        model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
        return model.eval()

    # -- structure ----------------------------------------------------------------------------------
    def layer_names(self) -> list[str]:
        """Hookable layer names in forward order (the output layer last)."""
        return [name for name, _ in self.named_children()]

    def layer_shapes(self) -> list[tuple[str, int, int]]:
        """``(name, channels, size)`` of each layer's output, without running the network."""
        shapes = []
        size = 1
        for name, layer in self.named_children():
            assert isinstance(layer, ProGANLayer)
            if name == "layer1":
                size = 4
            elif layer.upsample:
                size *= 2
            shapes.append((name, layer.conv.out_channels, size))
        return shapes

    def split(self, layer: str) -> tuple[nn.Sequential, ProGANTail]:
        """``head(z) -> features`` of ``layer`` and ``tail(features) -> image``, sharing weights."""
        names = self.layer_names()
        if layer not in names[:-1]:
            raise ValueError(f"cannot split at {layer!r}: choose one of {', '.join(names[:-1])}")
        cut = names.index(layer) + 1
        children = list(self.named_children())
        return _LatentSequential(OrderedDict(children[:cut])), ProGANTail(OrderedDict(children[cut:]))

    def sample_latents(self, n: int, *, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Reproducible standard-normal latents ``[n, L]``."""
        g = torch.Generator().manual_seed(seed)
        return torch.randn(n, self.latent_size, generator=g).to(device)

    # -- the family's inversion interface (see ganpaint_core.models) ---------------------------------
    inversion_space = "z"  # invert() optimises z itself

    def inversion_starts(self, n: int, *, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Starting latents for inversion: ``n`` random ``z`` (the best one is kept)."""
        return self.sample_latents(n, seed=seed, device=device)

    def to_inversion_latent(self, latent: torch.Tensor, *, space: str) -> torch.Tensor:
        """An encoder's ``z`` is already the inversion latent; ProGAN has no other space."""
        if space != "z":
            raise ValueError(f"ProGAN inverts z; an encoder to {space!r} does not fit it")
        return latent

    def latent_std(self) -> float:
        """``z`` is standard normal."""
        return 1.0
