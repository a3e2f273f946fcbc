"""StyleGAN2 generator in rosinality/stylegan2-pytorch's layout, in plain PyTorch (no compiled ops).

Written from the facts in ``shared/formats/stylegan2-rosinality.md``: module, parameter and buffer names
match ``ckpt['g_ema']`` so it loads with ``strict=True``, noise and blur-kernel buffers included. The FIR
filtering (``upfirdn2d``), the fused leaky ReLU and the modulated convolutions are ordinary torch ops.

Latent spaces: ``z`` ``[N, D]`` (standard normal) → mapping → ``w`` ``[N, D]`` → one ``w`` per synthesis
input, ``W+`` ``[N, n_latent, D]`` (``n_latent = 2·log2(R) − 2``). Noise is the stored ``noises.noise_i``
buffers unless another list is given, so a latent always renders the same image.
"""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.models.family import Modify

log = logging.getLogger(__name__)

FAMILY = "stylegan2"
BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)  # the separable FIR filter behind every blur and skip upsampling
CONTAINER_KEYS = ("g", "d", "g_optim", "d_optim", "args", "ada_aug_p", "iter")  # training extras, never read
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class StyleGAN2Config:
    """The shape of a StyleGAN2 generator; everything else is in the weights."""

    resolution: int  # output side in pixels, a power of two ≥ 8
    channels: tuple[int, ...]  # feature channels at 4, 8, …, resolution pixels
    style_dim: int = 512  # length of z and w
    n_mlp: int = 8  # linear layers in the mapping network
    lr_mlp: float = 0.01  # learning-rate multiplier of the mapping network (scales its stored weights)

    def __post_init__(self) -> None:
        log_size = int(math.log2(self.resolution))
        if self.resolution < 8 or 2**log_size != self.resolution:
            raise ValueError(f"StyleGAN2 resolution must be a power of two ≥ 8, got {self.resolution}")
        if len(self.channels) != log_size - 1:
            raise ValueError(f"need {log_size - 1} channel counts (4 px … {self.resolution} px), got {len(self.channels)}")

    @classmethod
    def config_f(cls, resolution: int, *, channel_multiplier: int = 2, style_dim: int = 512) -> "StyleGAN2Config":
        """The official networks' widths: 512 up to 32 px, then 16384·multiplier/size."""
        sizes = [2**k for k in range(2, int(math.log2(resolution)) + 1)]
        channels = tuple(512 if s <= 32 else 16384 * channel_multiplier // s for s in sizes)
        return cls(resolution=resolution, channels=channels, style_dim=style_dim)

    @property
    def n_latent(self) -> int:
        """Rows of W+: one per styled conv and one for the last ToRGB."""
        return 2 * int(math.log2(self.resolution)) - 2


# -- building blocks --------------------------------------------------------------------------------
def blur_kernel(taps: Sequence[float] = BLUR_TAPS, *, gain: float = 4.0) -> torch.Tensor:
    """Outer product of ``taps`` with itself, normalised to sum ``gain`` (4 = 2×2 upsampling's loss of energy)."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = torch.outer(k, k)
    return k / k.sum() * gain  # [4, 4]


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, *, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Zero-insert ``up``×, pad (before, after) on both axes, convolve with ``kernel``, keep every ``down``-th."""
    n, c, h, w = x.shape  # [N, C, H, W]
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])  # pixel (y, x) -> (up·y, up·x)
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    kh, kw = kernel.shape
    weight = torch.flip(kernel, [0, 1]).to(x.dtype).expand(c, 1, kh, kw)  # conv2d correlates; flip to convolve
    x = F.conv2d(x, weight, groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``√2 · leaky_relu(x + bias, 0.2)``, bias per channel (dim 1)."""
    shape = [1, -1] + [1] * (x.dim() - 2)
    return F.leaky_relu(x + bias.view(shape), 0.2) * _SQRT2


class PixelNorm(nn.Module):
    """Normalise each vector to unit root-mean-square over dim 1 (parameter-free ``style.0``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: ``y = x·(W·lr_mul/√in)ᵀ + b·lr_mul``, optionally followed
    by the fused leaky ReLU (the bias then goes inside the activation)."""

    def __init__(self, in_dim: int, out_dim: int, *, lr_mul: float = 1.0, bias_init: float = 0.0,
                 activation: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)  # constants, never stored
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class Blur(nn.Module):
    """FIR low-pass after a transposed convolution: pad, then convolve with the 4×4 ``kernel`` buffer."""

    def __init__(self, *, pad: tuple[int, int]) -> None:
        super().__init__()
        self.pad = pad
        self.register_buffer("kernel", blur_kernel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """×2 FIR upsampling of the RGB skip (zero-insert, pads (2, 1), the 4×4 ``kernel`` buffer)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", blur_kernel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=2, pad=(2, 1))


class ModulatedConv2d(nn.Module):
    """Convolution whose input channels are scaled per sample by a style from ``w``, with optional
    demodulation (unit-norm output channels) and optional ×2 upsampling (transposed conv, then blur).

    Implemented by modulating activations instead of per-sample weights: ``conv(x·s, W)·d`` equals the
    per-sample-weight convolution, and needs no grouped convolution for batches.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int, *,
                 demodulate: bool = True, upsample: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)  # stored bias already holds TF's +1
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.demodulate = demodulate
        self.upsample = upsample
        self.padding = kernel_size // 2
        if upsample:
            # The transposed conv gives 2H + k − 2 pixels; these pads make the 4-tap blur return 2H.
            p = (len(BLUR_TAPS) - 2) - (kernel_size - 1)
            self.blur = Blur(pad=((p + 1) // 2 + 1, p // 2 + 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # x [N, Cin, H, W], w [N, D]
        s = self.modulation(w)  # [N, Cin]
        weight = self.weight[0] * self.scale  # [Cout, Cin, k, k]
        x = x * s[:, :, None, None]
        if self.upsample:
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)  # [N, Cout, 2H + k − 2, …]
        else:
            x = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            energy = s.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t()  # [N, Cout]: Σ over i, ky, kx of W′²
            x = x * torch.rsqrt(energy + 1e-8)[:, :, None, None]
        return self.blur(x) if self.upsample else x


class NoiseInjection(nn.Module):
    """``x + weight · noise``, one noise map broadcast over channels."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class StyledConv(nn.Module):
    """Modulated 3×3 conv → noise → fused leaky ReLU. Its output is a hookable feature layer."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, *, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    """Modulated 1×1 conv to RGB (no demodulation) + bias, added to the upsampled previous skip."""

    def __init__(self, in_channels: int, style_dim: int, *, upsample: bool = True) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        rgb = self.conv(x, w) + self.bias
        return rgb if skip is None else rgb + self.upsample(skip)


class ConstantInput(nn.Module):
    """The learned 4×4 input, repeated over the batch."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, 4, 4))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class NoiseBuffers(nn.Module):
    """The fixed noise maps ``noise_0 … noise_{L−1}`` ``[1, 1, r, r]``: persistent buffers of the checkpoint."""

    def __init__(self, resolution: int) -> None:
        super().__init__()
        self.count = 2 * (int(math.log2(resolution)) - 2) + 1
        for i in range(self.count):
            r = 2 ** ((i + 5) // 2)
            self.register_buffer(f"noise_{i}", torch.randn(1, 1, r, r))

    def maps(self) -> list[torch.Tensor]:
        return [getattr(self, f"noise_{i}") for i in range(self.count)]


@dataclass(frozen=True)
class _Conv:
    name: str  # module name, also the layer name hooks and edits use
    w: int  # row of W+
    noise: int  # entry of the noise list


@dataclass(frozen=True)
class _Block:
    convs: tuple[_Conv, ...]  # conv1, or the upsampling conv and the plain one
    rgb: str  # the ToRGB module of this resolution
    rgb_w: int  # its row of W+
    size: int  # output side in pixels


# -- the generator ----------------------------------------------------------------------------------
class StyleGAN2Generator(nn.Module):
    """StyleGAN2 (rosinality layout): ``z [N, D] -> image [N, 3, R, R]`` in about [-1, 1] (not clamped).

    Example::

        G = StyleGAN2Generator.from_state_dict(torch.load("church.pt", weights_only=True))  # {'g_ema', 'latent_avg'}
        z = G.sample_latents(1, seed=0)                          # [1, 512]
        img = G(z, truncation=0.7)                               # [1, 3, 256, 256]
        wplus = G.to_wplus(G.mapping(z, truncation=0.7))         # [1, 14, 512]: one w per synthesis input
        img = G.synthesize(wplus)                                # the same image
        head, tail = G.split("convs.3")                          # features [1, 512, 16, 16]
        img = tail(head(wplus), wplus)                           # the tail needs the latent too (styles, RGB skip)

    Hookable layers (``nethook.Trace``, for analysis): ``conv1``, ``convs.0`` … (feature layers, see :meth:`layer_shapes`),
    ``to_rgb1``, ``to_rgbs.0`` … (the running RGB image; the last one is the output).
    """

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = config
        d, ch = config.style_dim, config.channels
        self.style = nn.Sequential(
            PixelNorm(), *(EqualLinear(d, d, lr_mul=config.lr_mlp, activation=True) for _ in range(config.n_mlp))
        )
        self.input = ConstantInput(ch[0])
        self.conv1 = StyledConv(ch[0], ch[0], d)
        self.to_rgb1 = ToRGB(ch[0], d, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            self.convs.append(StyledConv(c_in, c_out, d, upsample=True))
            self.convs.append(StyledConv(c_out, c_out, d))
            self.to_rgbs.append(ToRGB(c_out, d))
        self.noises = NoiseBuffers(config.resolution)
        # Not in g_ema: the checkpoint's 'latent_avg' (or an estimate), the centre truncation pulls towards.
        self.register_buffer("latent_avg", torch.zeros(d), persistent=False)
        self.latent_avg_source = "none"  # "checkpoint" | "estimated" | "none" (random init)
        self.resolution = config.resolution  # output side in pixels
        self.latent_size = d  # length of z (and of each w)
        self.n_latent = config.n_latent  # rows of W+
        self._latent_std: float | None = None
        blocks = [_Block((_Conv("conv1", 0, 0),), "to_rgb1", 1, 4)]
        for k in range(len(ch) - 1):
            convs = (_Conv(f"convs.{2 * k}", 2 * k + 1, 2 * k + 1), _Conv(f"convs.{2 * k + 1}", 2 * k + 2, 2 * k + 2))
            blocks.append(_Block(convs, f"to_rgbs.{k}", 2 * k + 3, 2 ** (k + 3)))
        self._blocks = tuple(blocks)

    # -- construction -------------------------------------------------------------------------------
    @staticmethod
    def _inner(state: Mapping[str, object]) -> Mapping[str, object]:
        if isinstance(state.get("g_ema"), Mapping):
            return state["g_ema"]  # type: ignore[return-value]
        if isinstance(state.get("g"), Mapping) and "style.1.weight" in state["g"]:  # type: ignore[operator]
            return state["g"]  # type: ignore[return-value]
        return state

    @classmethod
    def detect(cls, state: Mapping[str, object]) -> bool:
        """True when ``state`` is a rosinality generator state dict, or a checkpoint dict holding one."""
        inner = cls._inner(state)
        return all(k in inner for k in ("style.1.weight", "input.input", "conv1.conv.weight"))

    @classmethod
    def split_checkpoint(cls, state: Mapping[str, object]) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """``(g_ema state dict, latent_avg or None)`` from a checkpoint dict or a flat state dict.

        A flat dict may carry ``latent_avg`` beside the generator's keys (how a converted safetensors file
        keeps it); training extras (``g``, ``d``, optimisers, ``args``) of a checkpoint dict are ignored."""
        if "g_ema" in state:
            inner = state["g_ema"]
            if not isinstance(inner, Mapping):
                raise ValueError(f"'g_ema' holds a {type(inner).__name__}, expected a state dict")
            ignored = sorted(set(state) - {"g_ema", "latent_avg"})
            if ignored:
                log.info("StyleGAN2 checkpoint: sampling from g_ema; ignoring %s", ", ".join(ignored))
        elif "g" in state and isinstance(state["g"], Mapping):
            raise ValueError("the checkpoint holds 'g' but no 'g_ema': StyleGAN2 samples from the moving-average "
                             "generator g_ema; convert the checkpoint with g_ema (convert_weight.py writes it)")
        else:
            inner = {k: v for k, v in state.items() if k != "latent_avg"}
        avg = state.get("latent_avg")
        if avg is not None and not isinstance(avg, torch.Tensor):
            raise ValueError(f"'latent_avg' holds a {type(avg).__name__}, expected a tensor")
        tensors = {}
        for key, value in inner.items():
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"generator entry {key!r} holds a {type(value).__name__}, expected a tensor")
            tensors[str(key)] = value
        return tensors, avg

    @staticmethod
    def config_from_state_dict(state: Mapping[str, torch.Tensor]) -> StyleGAN2Config:
        """Resolution, widths, style size and mapping depth read from the keys and shapes."""
        for key in ("style.1.weight", "conv1.conv.weight"):
            if key not in state:
                raise ValueError(f"not a StyleGAN2 generator state dict: no {key!r}")
        n_convs = len({m.group(1) for k in state if (m := re.match(r"convs\.(\d+)\.conv\.weight$", k))})
        n_mlp = len({m.group(1) for k in state if (m := re.match(r"style\.(\d+)\.weight$", k))})
        if n_convs % 2:
            raise ValueError(f"StyleGAN2 state dict has {n_convs} convs.N layers; expected an even count")
        channels = [int(state["conv1.conv.weight"].shape[1])]
        for k in range(n_convs // 2):
            key = f"convs.{2 * k}.conv.weight"
            if key not in state:
                raise ValueError(f"StyleGAN2 state dict has no {key!r}: the convs are not numbered 0 … {n_convs - 1}")
            channels.append(int(state[key].shape[1]))  # weight [1, C_out, C_in, 3, 3]
        return StyleGAN2Config(resolution=4 * 2 ** (n_convs // 2), channels=tuple(channels),
                               style_dim=int(state["style.1.weight"].shape[1]), n_mlp=n_mlp)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, object]) -> "StyleGAN2Generator":
        """Build from a checkpoint dict (``{'g_ema': …, 'latent_avg': …}``) or a flat state dict and load it
        strictly: every parameter and buffer, with its shape. Without ``latent_avg`` the mean ``w`` of 4096
        seeded ``z`` stands in (logged)."""
        tensors, avg = cls.split_checkpoint(state)
        config = cls.config_from_state_dict(tensors)
        model = cls(config)
        expected = model.state_dict()
        missing = [k for k in expected if k not in tensors]
        unexpected = [k for k in tensors if k not in expected]
        wrong = [f"{k} {tuple(tensors[k].shape)} (expected {tuple(v.shape)})" for k, v in expected.items()
                 if k in tensors and tensors[k].shape != v.shape]
        problems = []
        for what, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)):
            if keys:
                problems.append(f"{what}: {', '.join(keys[:6])}" + (f" … ({len(keys)} in all)" if len(keys) > 6 else ""))
        if problems:
            raise ValueError(f"its keys describe a {config.resolution}px generator with widths {list(config.channels)}; "
                             + "; ".join(problems))
        model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
        if avg is not None:
            if avg.numel() != config.style_dim:
                raise ValueError(f"'latent_avg' has {avg.numel()} values, the generator's w has {config.style_dim}")
            model.latent_avg.copy_(avg.reshape(-1).float())
            model.latent_avg_source = "checkpoint"
        else:
            model.latent_avg.copy_(model.mean_latent(4096, seed=0)[0])
            model.latent_avg_source = "estimated"
            log.info("StyleGAN2 checkpoint without 'latent_avg': using the mean w of 4096 seeded z for truncation")
        return model.eval()

    # -- structure ----------------------------------------------------------------------------------
    @property
    def channel_multiplier(self) -> int | None:
        """The config-f channel multiplier the widths follow, or None when they follow none."""
        if self.resolution < 64:
            return None
        cm = self.config.channels[4] * 64 // 16384  # the 64 px width is 256·multiplier
        return cm if cm > 0 and StyleGAN2Config.config_f(self.resolution, channel_multiplier=cm,
                                                         style_dim=self.latent_size) == self.config else None

    def layer_names(self) -> list[str]:
        """Feature layers in forward order, then the output (the last ToRGB)."""
        return [n for n, _, _ in self.layer_shapes()]

    def layer_shapes(self) -> list[tuple[str, int, int]]:
        """``(name, channels, size)`` of each feature layer's output, and of the image last."""
        shapes = []
        for block, channels in zip(self._blocks, self.config.channels):
            shapes += [(c.name, channels, block.size) for c in block.convs]
        return shapes + [(self._blocks[-1].rgb, 3, self.resolution)]

    def _where(self, layer: str) -> tuple[int, int]:
        for b, block in enumerate(self._blocks):
            for c, conv in enumerate(block.convs):
                if conv.name == layer:
                    return b, c
        names = self.layer_names()[:-1]
        raise ValueError(f"cannot split at {layer!r}: choose one of {', '.join(names)}")

    def split(self, layer: str) -> tuple["StyleGAN2Head", "StyleGAN2Tail"]:
        """``head(latent) -> features`` of ``layer`` and ``tail(features, latent) -> image``, sharing weights."""
        self._where(layer)
        return StyleGAN2Head(self, layer), StyleGAN2Tail(self, layer)

    def sample_latents(self, n: int, *, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Reproducible standard-normal ``z`` ``[n, D]``."""
        g = torch.Generator().manual_seed(seed)
        return torch.randn(n, self.latent_size, generator=g).to(device)

    # -- latent spaces ------------------------------------------------------------------------------
    def mapping(self, z: torch.Tensor, *, truncation: float = 1.0) -> torch.Tensor:
        """``z [N, D] -> w [N, D]``; ``truncation`` ψ < 1 pulls ``w`` towards ``latent_avg``."""
        w = self.style(z)
        return w if truncation == 1 else self.latent_avg + truncation * (w - self.latent_avg)

    def to_wplus(self, w: torch.Tensor) -> torch.Tensor:
        """``w [N, D]`` repeated for every synthesis input -> ``[N, n_latent, D]``; W+ passes through."""
        if w.dim() == 3:
            self._check_wplus(w)
            return w
        return w[:, None, :].expand(-1, self.n_latent, -1)

    def latent_to_wplus(self, latent: torch.Tensor) -> torch.Tensor:
        """A family latent as W+: ``z [N, D]`` is mapped (no truncation), ``W+ [N, n_latent, D]`` kept."""
        if latent.dim() == 2:
            return self.to_wplus(self.mapping(latent))
        return self.to_wplus(latent)

    def _check_wplus(self, wplus: torch.Tensor) -> None:
        if wplus.dim() != 3 or tuple(wplus.shape[1:]) != (self.n_latent, self.latent_size):
            raise ValueError(f"W+ must be [N, {self.n_latent}, {self.latent_size}], got {list(wplus.shape)}")

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, *, seed: int = 0) -> torch.Tensor:
        """Mean ``w`` ``[1, D]`` of ``n`` seeded ``z``."""
        z = self.sample_latents(n, seed=seed, device=self.latent_avg.device)
        return self.style(z).mean(dim=0, keepdim=True)

    def initial_latent(self) -> torch.Tensor:
        """Where inversion starts without an encoder: ``latent_avg`` as W+ ``[1, n_latent, D]``."""
        return self.to_wplus(self.latent_avg[None])

    # -- the family's inversion interface (see ganpaint_core.models) ---------------------------------
    inversion_space = "w+"  # invert() optimises W+

    def inversion_starts(self, n: int, *, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Starting latents for inversion: only the mean ``w`` (a better start than random ``w``)."""
        return self.initial_latent().to(device)

    def to_inversion_latent(self, latent: torch.Tensor, *, space: str) -> torch.Tensor:
        """An encoder's output in the space inversion optimises (W+): ``z [N, D]`` is mapped and repeated
        (``space="z"``), W+ ``[N, n_latent, D]`` is kept (``space="w+"``, e.g. e4e's codes)."""
        if space == "z":
            if latent.dim() != 2:
                raise ValueError(f"z must be [N, {self.latent_size}], got {list(latent.shape)}")
            return self.to_wplus(self.mapping(latent))
        if space == "w+":
            self._check_wplus(latent)
            return latent
        raise ValueError(f"unknown latent space {space!r}; StyleGAN2 takes an encoder's 'z' or 'w+'")

    def latent_std(self) -> float:
        """Spread of ``w`` per coordinate (over 1024 seeded ``z``): scales inversion step sizes."""
        if self._latent_std is None:  # deterministic, so a race between threads only repeats the work
            with torch.no_grad():
                z = self.sample_latents(1024, seed=1, device=self.latent_avg.device)
                self._latent_std = float(self.style(z).std(dim=0).mean())
        return self._latent_std

    # -- synthesis ----------------------------------------------------------------------------------
    def noise_maps(self, noise: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
        stored = self.noises.maps()
        if noise is None:
            return stored
        if len(noise) != len(stored):
            raise ValueError(f"noise must be a list of {len(stored)} maps, got {len(noise)}")
        for i, (given, ref) in enumerate(zip(noise, stored)):
            if given.shape[-2:] != ref.shape[-2:]:
                raise ValueError(f"noise[{i}] must be [N, 1, {ref.shape[-2]}, {ref.shape[-1]}], got {list(given.shape)}")
        return list(noise)

    def random_noise(self, n: int, *, seed: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """Fresh seeded noise maps ``[n, 1, r, r]`` for every layer (instead of the stored ones)."""
        g = torch.Generator().manual_seed(seed)
        return [torch.randn(n, 1, *m.shape[-2:], generator=g).to(device) for m in self.noises.maps()]

    def _run(self, wplus: torch.Tensor, noise: list[torch.Tensor], *, stop_at: str | None = None,
             resume_at: str | None = None, features: torch.Tensor | None = None,
             modify: Modify | None = None) -> torch.Tensor:
        """The synthesis network. ``stop_at``: return that layer's output (no RGB work). ``resume_at`` with
        ``features``: those replace that layer's output; the layers that only fed it are skipped, the earlier
        blocks still run for the RGB skip, and ``modify(name, output)`` sees every layer after it."""
        stop = resume = None
        if stop_at is not None:
            stop = self._where(stop_at)
        if resume_at is not None:
            resume = self._where(resume_at)
        n = wplus.shape[0] if features is None else features.shape[0]
        if wplus.shape[0] != n:
            if wplus.shape[0] != 1:
                raise ValueError(f"latent batch {wplus.shape[0]} does not match features batch {n}")
            wplus = wplus.expand(n, -1, -1)
        x = self.input(n)  # [N, C, 4, 4]
        skip = None
        after_split = resume is None
        module = self.get_submodule
        for b, block in enumerate(self._blocks):
            for c, conv in enumerate(block.convs):
                if resume is not None and b == resume[0] and c <= resume[1]:
                    if c == resume[1]:
                        x, after_split = features, True
                    continue
                x = module(conv.name)(x, wplus[:, conv.w], noise[conv.noise])
                if modify is not None and after_split:
                    x = modify(conv.name, x)
                if stop is not None and (b, c) == stop:
                    return x
            skip = module(block.rgb)(x, wplus[:, block.rgb_w], skip)
        if modify is not None:
            skip = modify(self._blocks[-1].rgb, skip)
        return skip  # [N, 3, R, R]

    def synthesize(self, wplus: torch.Tensor, *, noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """``W+ [N, n_latent, D]`` (or one ``w [N, D]`` for every input) -> image ``[N, 3, R, R]``."""
        return self._run(self.to_wplus(wplus), self.noise_maps(noise))

    def forward(self, z: torch.Tensor, *, truncation: float = 1.0,
                noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """``z [N, D]`` -> image ``[N, 3, R, R]`` in about [-1, 1]."""
        return self.synthesize(self.mapping(z, truncation=truncation), noise=noise)


class StyleGAN2Head(nn.Module):
    """The synthesis up to one feature layer: ``head(latent) -> [N, C, h, w]``, ``latent`` = ``z [N, D]`` or
    W+ ``[N, n_latent, D]``. Shares the generator's weights (it is registered as ``generator``)."""

    def __init__(self, generator: StyleGAN2Generator, layer: str) -> None:
        super().__init__()
        self.generator = generator
        self.layer = layer

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        g = self.generator
        return g._run(g.latent_to_wplus(latent), g.noise_maps(None), stop_at=self.layer)


class StyleGAN2Tail(nn.Module):
    """The synthesis after one feature layer: ``tail(features, latent) -> image``.

    Unlike a ProGAN tail it needs the latent the features came from: the later layers are modulated by its
    styles, and the RGB skip carries the earlier blocks' colours (recomputed from the latent; at a 16×16
    split of a 256 px model those blocks are about 2% of the work). Use it through
    ``tail.run(features, latent=…, modify=…)`` (the :class:`~ganpaint_core.models.family.Tail` contract)."""

    def __init__(self, generator: StyleGAN2Generator, layer: str) -> None:
        super().__init__()
        self.generator = generator
        self.layer = layer

    def run(self, features: torch.Tensor, *, latent: torch.Tensor | None = None,
            modify: Modify | None = None) -> torch.Tensor:
        if latent is None:
            raise ValueError("a StyleGAN2 tail needs the latent its features came from: "
                             "run_tail(tail, features, latent=latent) or tail(features, latent)")
        g = self.generator
        return g._run(g.latent_to_wplus(latent), g.noise_maps(None), resume_at=self.layer, features=features,
                      modify=modify)

    def forward(self, features: torch.Tensor, latent: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(features, latent=latent)
