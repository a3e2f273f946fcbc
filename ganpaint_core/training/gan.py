"""Adversarial training of a GANPaint-layout Progressive GAN on procedural church renders.

The generator is :class:`ganpaint_core.models.progan.ProGANGenerator` (so the bundled model loads through
the same code as GANPaint's church model); it is trained at its final resolution directly (no
progressive growing) with the non-saturating logistic loss, lazy R1 on real images, equalised learning
rates and an exponential moving average of the generator's weights, which is what gets exported.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.core.files import atomic_path
from ganpaint_core.core.progress import Callback
from ganpaint_core.models.progan import ProGANGenerator
from ganpaint_core.training.loop import config_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GANConfig:
    """Architecture and schedule of the synth-church GAN."""

    resolution: int = 64  # output side in pixels (a power of two ≥ 32)
    latent_size: int = 128  # length of z
    g_widths: tuple[int, ...] = (256, 256, 128, 64, 32)  # generator width per stage, 4 px upward
    d_widths: tuple[int, ...] = (32, 64, 128, 256, 256)  # discriminator width per stage, full res downward
    batch: int = 32  # images per step
    lr: float = 0.002  # Adam learning rate (equalised-lr layers)
    betas: tuple[float, float] = (0.0, 0.99)  # Adam betas, as in StyleGAN/ProGAN
    r1_gamma: float = 0.5  # R1 weight on real images
    r1_every: int = 8  # lazy R1: every n-th discriminator step, scaled by n
    ema_kimg: float = 5.0  # EMA half-life of the exported generator, thousands of images
    kimg: float = 300.0  # training length, thousands of images shown to D
    seed: int = 0  # seeds latents, data order and initialisation

    @classmethod
    def for_resolution(cls, resolution: int, *, widest: int = 256, narrowest: int = 32, **fields: Any) -> GANConfig:
        """The config for ``resolution`` px: a stage of side s gets min(widest, max(narrowest, 8·widest/s))
        channels (``for_resolution(64)`` is the default config; 128 px adds a 32-channel stage), the
        discriminator the same widths from full resolution down; ``fields`` override the rest.

        Example::

            cfg = GANConfig.for_resolution(128, kimg=3000)
        """
        stages = int(math.log2(resolution)) - 1 if resolution >= 4 else 0
        if stages < 4 or 2 ** (stages + 1) != resolution:
            raise ValueError(f"resolution must be a power of two ≥ 32, got {resolution}")
        g = tuple(min(widest, max(narrowest, 8 * widest // 2 ** (i + 2))) for i in range(stages))
        return cls(resolution=resolution, g_widths=g, d_widths=g[::-1], **fields)

    def generator_sizes(self) -> list[int]:
        stages = int(math.log2(self.resolution)) - 1
        if len(self.g_widths) != stages:
            raise ValueError(f"{self.resolution}px needs {stages} generator widths, got {len(self.g_widths)}")
        return [self.latent_size, *self.g_widths]


class EqConv2d(nn.Module):
    """Conv with equalised learning rate: N(0, 1) weights scaled by He's constant at run time."""

    def __init__(self, c_in: int, c_out: int, k: int, *, padding: int = 0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = 1.0 / math.sqrt(c_in * k * k)
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqLinear(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = 1.0 / math.sqrt(c_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class DiscriminatorBlock(nn.Module):
    """Two 3×3 convs, then 2× average-pool downsampling, with a 1×1 residual path."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = EqConv2d(c_in, c_in, 3, padding=1)
        self.conv2 = EqConv2d(c_in, c_out, 3, padding=1)
        self.skip = EqConv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv1(x), 0.2)
        y = F.avg_pool2d(F.leaky_relu(self.conv2(y), 0.2), 2)
        return (y + F.avg_pool2d(self.skip(x), 2)) / math.sqrt(2)


class Discriminator(nn.Module):
    """Residual discriminator: image [N, 3, R, R] in [-1, 1] -> realness logit [N]."""

    def __init__(self, resolution: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        blocks = int(math.log2(resolution)) - 2  # down to 4×4
        if len(widths) != blocks + 1:
            raise ValueError(f"{resolution}px needs {blocks + 1} discriminator widths, got {len(widths)}")
        self.from_rgb = EqConv2d(3, widths[0], 1)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(a, b) for a, b in zip(widths[:-1], widths[1:])])
        c = widths[-1]
        self.conv = EqConv2d(c + 1, c, 3, padding=1)
        self.fc = EqLinear(c * 16, c)
        self.out = EqLinear(c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.from_rgb(x), 0.2)
        x = self.blocks(x)  # [N, C, 4, 4]
        # Minibatch standard deviation (groups of up to 4) lets D see sample diversity.
        n = x.shape[0]
        g = min(4, n)
        while n % g:
            g -= 1
        std = x.view(g, -1, *x.shape[1:]).std(dim=0, unbiased=False).mean(dim=(1, 2, 3))  # [N/g]
        x = torch.cat([x, std.repeat(g)[:, None, None, None].expand(n, 1, 4, 4)], dim=1)
        x = F.leaky_relu(self.conv(x), 0.2)
        x = F.leaky_relu(self.fc(x.flatten(1)), 0.2)
        return self.out(x).squeeze(1)


def _ema_update(ema: nn.Module, model: nn.Module, beta: float) -> None:
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.lerp_(pm, 1.0 - beta)


def to_unit_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W, 3] (numpy or torch) -> float [N, 3, H, W] in [-1, 1]."""
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 images [N, H, W, 3], got {x.dtype} {tuple(x.shape)}")
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


@dataclass
class GANState:
    """Everything a resumed run needs."""

    generator: ProGANGenerator
    generator_ema: ProGANGenerator
    discriminator: Discriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    images_seen: int = 0
    step: int = 0


def build_state(cfg: GANConfig, *, device: torch.device) -> GANState:
    torch.manual_seed(cfg.seed)
    G = ProGANGenerator(cfg.generator_sizes()).to(device).train()
    D = Discriminator(cfg.resolution, cfg.d_widths).to(device).train()
    return GANState(
        generator=G,
        generator_ema=copy.deepcopy(G).eval().requires_grad_(False),
        discriminator=D,
        opt_g=torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas, eps=1e-8),
        opt_d=torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=cfg.betas, eps=1e-8),
    )


def save_checkpoint(state: GANState, cfg: GANConfig, path: Path) -> None:
    """Atomic save of a resumable checkpoint (tensors and plain containers only)."""
    payload = {
        "config": config_dict(cfg),
        "generator": state.generator.state_dict(),
        "generator_ema": state.generator_ema.state_dict(),
        "discriminator": state.discriminator.state_dict(),
        "opt_g": state.opt_g.state_dict(),
        "opt_d": state.opt_d.state_dict(),
        "images_seen": state.images_seen,
        "step": state.step,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(state: GANState, path: Path) -> None:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    try:
        state.generator.load_state_dict(payload["generator"])
        state.generator_ema.load_state_dict(payload["generator_ema"])
        state.discriminator.load_state_dict(payload["discriminator"])
    except RuntimeError:
        raise ValueError(f"{path} holds a GAN of another resolution or widths than this run's "
                         f"{state.generator.resolution}-px one: pass another --out, or --restart to train this "
                         "config from scratch there") from None
    state.opt_g.load_state_dict(payload["opt_g"])
    state.opt_d.load_state_dict(payload["opt_d"])
    state.images_seen = int(payload["images_seen"])
    state.step = int(payload["step"])


def _start(state: GANState, cfg: GANConfig, checkpoint: Path | None, *,
           init_generator: dict[str, torch.Tensor] | None, d_warmup_steps: int) -> int:
    """Resume ``state`` from ``checkpoint`` when there is one, else start G from ``init_generator`` when given;
    returns the discriminator warm-up steps to run first (only for a given generator)."""
    if checkpoint is not None and checkpoint.is_file():
        load_checkpoint(state, checkpoint)
        log.info("resumed from %s at %.1f kimg", checkpoint, state.images_seen / 1000)
        return 0
    if init_generator is None:
        return 0
    try:
        state.generator.load_state_dict(init_generator)
        state.generator_ema.load_state_dict(init_generator)
    except RuntimeError as e:
        raise ValueError(f"the initial generator does not match {cfg.generator_sizes()} widths: {e}") from None
    log.info("starting from a given generator; discriminator warm-up of %d steps", d_warmup_steps)
    return d_warmup_steps


def _discriminator_step(state: GANState, cfg: GANConfig, real: torch.Tensor, *, autocast: torch.autocast,
                        with_r1: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One D update on ``real`` [B, 3, R, R] in [-1, 1] against fresh samples of G; returns (loss_d, r1)."""
    G, D = state.generator, state.discriminator
    with autocast:
        with torch.no_grad():
            fake = G(torch.randn(cfg.batch, cfg.latent_size, device=real.device))
        loss_d = F.softplus(D(fake)).float().mean() + F.softplus(-D(real)).float().mean()
    r1 = torch.zeros((), device=real.device)
    if with_r1:
        real.requires_grad_(True)
        (grad,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
        r1 = grad.pow(2).sum(dim=(1, 2, 3)).mean()
        loss_d = loss_d + r1 * (cfg.r1_gamma / 2) * cfg.r1_every
    state.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    state.opt_d.step()
    return loss_d, r1


def train_gan(
    cfg: GANConfig,
    images: np.ndarray,
    *,
    out_dir: Path,
    device: torch.device | str = "cpu",
    resume: bool = True,
    checkpoint_every_s: float = 300.0,
    callback: Callback | None = None,
    on_checkpoint: Callable[[GANState], None] | None = None,
    mixed_precision: bool = True,
    init_generator: dict[str, torch.Tensor] | None = None,
    d_warmup_steps: int = 0,
    max_seconds: float | None = None,
) -> GANState:
    """Train on ``images`` (uint8 [N, R, R, 3]); checkpoints to ``out_dir/gan.pt``; returns the state.

    ``mixed_precision`` runs the adversarial forward passes under bfloat16 autocast (about 1.7× faster on
    CPUs with AVX512-BF16, and on GPUs); R1 and the weights stay float32.

    ``init_generator`` (a generator state dict, e.g. an exported ``generator.safetensors``) starts a run
    without a checkpoint from that generator instead of random weights: G and its EMA both take it, and
    the fresh discriminator first trains alone for ``d_warmup_steps`` steps, so that G's first gradients
    come from a critic that already tells its samples from renders rather than from a random one. A run
    with a checkpoint resumes from the checkpoint and ignores both.

    ``max_seconds`` stops training after that long (this call's training loop, warm-up excluded) even short
    of ``cfg.kimg``: a time-budgeted run (a GPU lent for minutes) ends with a checkpoint either way.
    """
    device = torch.device(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "gan.pt"
    state = build_state(cfg, device=device)
    warmup = _start(state, cfg, ckpt if resume else None, init_generator=init_generator,
                    d_warmup_steps=d_warmup_steps)
    G, D, G_ema = state.generator, state.discriminator, state.generator_ema
    for net in (G, D):  # channels_last lets oneDNN (CPU) and cuDNN pick their fastest convolution kernels
        net.to(memory_format=torch.channels_last)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed_precision)
    data = torch.from_numpy(images)
    rng = np.random.default_rng(cfg.seed + state.step)
    total = int(cfg.kimg * 1000)
    beta = 0.5 ** (cfg.batch / max(cfg.ema_kimg * 1000, 1e-8))

    def d_step(with_r1: bool) -> tuple[torch.Tensor, torch.Tensor]:
        real = to_unit_range(data[rng.integers(0, len(data), cfg.batch)]).to(device)
        return _discriminator_step(state, cfg, real.contiguous(memory_format=torch.channels_last),
                                   autocast=autocast, with_r1=with_r1)

    for i in range(warmup):
        loss_d, _ = d_step(i % cfg.r1_every == 0)
        if callback is not None:
            callback(i + 1, warmup, {"stage": "discriminator warm-up", "loss_d": loss_d.item()})
    last_save = t0 = time.monotonic()
    seen0 = state.images_seen
    while state.images_seen < total and (max_seconds is None or time.monotonic() - t0 < max_seconds):
        loss_d, r1 = d_step(state.step % cfg.r1_every == 0)
        with autocast:
            loss_g = F.softplus(-D(G(torch.randn(cfg.batch, cfg.latent_size, device=device)))).float().mean()
        state.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        state.opt_g.step()
        _ema_update(G_ema, G, beta)
        state.step += 1
        state.images_seen += cfg.batch
        if not (math.isfinite(loss_d.item()) and math.isfinite(loss_g.item())):
            raise FloatingPointError(f"GAN losses became non-finite at step {state.step}; resume from {ckpt}")
        if callback is not None:
            rate = (state.images_seen - seen0) / max(time.monotonic() - t0, 1e-6)
            callback(state.images_seen, total, {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
                                                "r1": r1.item(), "img_per_s": rate, "step": state.step})
        if time.monotonic() - last_save > checkpoint_every_s:
            save_checkpoint(state, cfg, ckpt)
            if on_checkpoint is not None:
                on_checkpoint(state)
            last_save = time.monotonic()
    save_checkpoint(state, cfg, ckpt)
    if on_checkpoint is not None:
        on_checkpoint(state)
    return state
