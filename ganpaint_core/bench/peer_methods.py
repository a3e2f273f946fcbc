"""The methods the peers bench sets beside this product's chain (``bench_peers.py``): the paper's per-edit
adaptation (Bau et al. 2019) and pivotal tuning (Roich et al. 2022), with the settings they publish and the
reduced ones a CPU run uses.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class PeersConfig:
    """Published settings of the peers, and what this run actually does."""

    paper_steps: int = 1000  # Adam steps per edit in the authors' code
    paper_steps_run: int = 100  # steps run here per edit; the time is scaled to paper_steps
    paper_lr: float = 0.1  # Adam learning rate of the adaptation network
    paper_penalty: float = 0.1  # weight of Σ_i mean(s_i²)
    paper_noise_channels: int = 8  # channels of the fixed noise the adaptation network is fed
    paper_dilate: float = 1 / 16  # dilation (and blur) of the edit region excluded from the L1, share of the side
    pti_steps: int = 350  # PTI's generator-tuning steps
    pti_steps_run: int = 350  # steps run here (scaled to pti_steps when fewer)
    pti_lr: float = 3e-4  # PTI's Adam learning rate for the generator's weights
    pti_pivot_steps: int = 200  # latent-only inversion steps for the pivot (PTI: 450 in W; here as many as ours)
    pti_reg_weight: float = 0.1  # PTI's λ_R, locality regulariser weight
    pti_reg_distance: float = 0.5  # PTI's α (30 in StyleGAN's W) as a share of √L in z: how far the probes go
    render_photos: int = 4  # held-out renders (the CLI's --n)


def device_clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


# -- the paper's per-edit adaptation ------------------------------------------------------------------
class NoiseAdapter(nn.Module):
    """GANPaint's adaptation network: fixed noise in, one multiplicative perturbation per fine layer out.

    Example::

        net = NoiseAdapter({"layer7": (64, 32)}, noise_channels=8, seed=0)
        image = run_tail(tail, features, modify=net)     # each fine output * (1 + s_i)
    """

    def __init__(self, shapes: dict[str, tuple[int, int]], *, noise_channels: int, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.names = list(shapes)
        self.maps = nn.ModuleDict()
        for i, (name, (channels, size)) in enumerate(shapes.items()):
            self.register_buffer(f"noise{i}", torch.randn(1, noise_channels, size, size, generator=g))
            conv = nn.Conv2d(noise_channels, channels, 1)
            nn.init.zeros_(conv.weight)  # starts as the unadapted generator
            nn.init.zeros_(conv.bias)
            self.maps[name.replace(".", "_")] = conv
        self.last: dict[str, torch.Tensor] = {}

    def perturbation(self, name: str) -> torch.Tensor:  # [1, C, s, s]
        return self.maps[name.replace(".", "_")](getattr(self, f"noise{self.names.index(name)}"))

    def __call__(self, name: str, output: torch.Tensor) -> torch.Tensor:  # the run_tail modify hook
        if name not in self.names:
            return output
        s = self.perturbation(name)
        self.last[name] = s
        return output * (1 + s)

    def penalty(self) -> torch.Tensor:
        return sum(self.perturbation(n).pow(2).mean() for n in self.names)


def outside_weight(mask: torch.Tensor, dilate: float) -> torch.Tensor:
    """[1, 1, S, S]: 1 far from the edit, 0 on it; the mask dilated by ``dilate`` of the side, then blurred."""
    r = max(1, round(mask.shape[-1] * dilate))
    grown = F.max_pool2d(mask, 2 * r + 1, stride=1, padding=r)
    return (1 - F.avg_pool2d(grown, 2 * r + 1, stride=1, padding=r, count_include_pad=False)).clamp(0, 1)


def paper_edit(tail: Any, edited: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *,
               shapes: dict[str, tuple[int, int]], latent: torch.Tensor | None, cfg: PeersConfig,
               seed: int = 0) -> torch.Tensor:
    """The paper's edit: fit a fresh :class:`NoiseAdapter` to ``target`` outside ``mask`` with the edited
    features ``edited`` [1, C, h, w]; returns the adapted render [1, 3, S, S]."""
    from ganpaint_core.models.layers import run_tail

    net = NoiseAdapter(shapes, noise_channels=cfg.paper_noise_channels, seed=seed).to(edited.device)
    weight = outside_weight(mask, cfg.paper_dilate)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.paper_lr)
    for _ in range(cfg.paper_steps_run):
        image = run_tail(tail, edited, latent=latent, modify=net)
        l1 = ((image - target).abs() * weight).sum() / (weight.sum().clamp(min=1e-6) * 3)
        loss = l1 + cfg.paper_penalty * net.penalty()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return run_tail(tail, edited, latent=latent, modify=net)


# -- pivotal tuning ------------------------------------------------------------------------------------
def pivotal_tuning(generator: nn.Module, pivot: torch.Tensor, target: torch.Tensor, *, layer: str, cfg: PeersConfig,
                   lpips_model: nn.Module | None, seed: int = 0) -> nn.Module:
    """A tuned *copy* of ``generator`` (every weight) that draws ``target`` at ``pivot``; the original is
    untouched. PTI's locality regulariser keeps the copy's images of latents near the pivot as they were."""
    from ganpaint_core.edit.losses import reconstruction_loss

    tuned = copy.deepcopy(generator).requires_grad_(True)
    head, tail = tuned.split(layer)
    ref_head, ref_tail = generator.split(layer)
    opt = torch.optim.Adam(tuned.parameters(), lr=cfg.pti_lr)
    g = torch.Generator().manual_seed(seed)
    reach = cfg.pti_reg_distance * math.sqrt(pivot[0].numel())
    for _ in range(cfg.pti_steps_run):
        image = tail.run(head(pivot), latent=pivot)
        loss = F.mse_loss(image, target) + reconstruction_loss(image, target, lpips_model=lpips_model)
        direction = torch.randn(pivot.shape, generator=g).to(pivot.device)
        probe = pivot + reach * direction / direction.norm()
        with torch.no_grad():
            before = ref_tail.run(ref_head(probe), latent=probe)
        after = tail.run(head(probe), latent=probe)
        loss = loss + cfg.pti_reg_weight * (F.mse_loss(after, before)
                                             + reconstruction_loss(after, before, lpips_model=lpips_model))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return tuned.requires_grad_(False).eval()


# -- the bench -------------------------------------------------------------------------------------------
