"""GAN inversion: an encoder's guess (iGAN's hybrid), then optimisation of the latent and of a residual
on the edit layer's features, regularised towards the encoder's domain (In-Domain GAN Inversion).

The residual lets the edit layer's features reach what ``z`` alone cannot (a photo is rarely an exact
sample); its penalty keeps it small so the features stay in the generator's vocabulary, where the
concept units mean what the dictionary says.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganpaint_core.edit.layers import run_tail
from ganpaint_core.edit.losses import reconstruction_loss
from ganpaint_core.metrics import psnr

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InversionConfig:
    """Steps, rates and weights of the optimisation."""

    latent_steps: int = 100  # steps optimising z only
    joint_steps: int = 150  # then steps optimising z and the feature residual together
    latent_lr: float = 0.05  # Adam rate for z
    residual_lr: float = 0.02  # Adam rate for the residual
    residual_penalty: float = 0.02  # weight of mean(residual²) relative to the features' mean square
    encoder_weight: float = 0.1  # weight of ||E(G(z)) - z||² / L (only when an encoder is given)
    candidates: int = 16  # random starting latents tried when there is no encoder


@dataclass
class Inversion:
    """Result of inverting one image (CPU tensors, small, deep-copyable)."""

    latent: torch.Tensor  # [1, L]
    features: torch.Tensor  # [1, C, h, w]: edit-layer features head(z) + residual
    residual: torch.Tensor  # [1, C, h, w]
    psnr: float  # of tail(features) against the image, dB
    seconds: float  # wall time
    stopped: str | None = None  # why it stopped early (non-finite loss), if it did


def _initial_latent(head: nn.Module, tail: nn.Module, image: torch.Tensor, *, latent_size: int,
                    encoder: nn.Module | None, candidates: int, seed: int) -> torch.Tensor:
    with torch.no_grad():
        if encoder is not None:
            return encoder(image).detach()
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(candidates, latent_size, generator=g).to(image.device)
        errors = (run_tail(tail, head(z)) - image).abs().mean(dim=(1, 2, 3))
        return z[errors.argmin()][None].clone()


def invert(
    generator: nn.Module,
    image: torch.Tensor,
    *,
    layer: str,
    encoder: nn.Module | None = None,
    cfg: InversionConfig = InversionConfig(),
    lpips_model: nn.Module | None = None,
    seed: int = 0,
    callback: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> Inversion:
    """Find ``z`` and a residual so that ``tail(head(z) + residual)`` ≈ ``image`` [1, 3, S, S] in [-1, 1]."""
    t0 = time.monotonic()
    head, tail = generator.split(layer)
    z0 = _initial_latent(head, tail, image, latent_size=generator.latent_size, encoder=encoder,
                         candidates=cfg.candidates, seed=seed)
    z = z0.clone().requires_grad_(True)
    with torch.no_grad():
        scale = head(z0).pow(2).mean().item() + 1e-8
    residual = torch.zeros_like(head(z0).detach()).requires_grad_(True)
    opt_z = torch.optim.Adam([z], lr=cfg.latent_lr)
    opt_r = torch.optim.Adam([residual], lr=cfg.residual_lr * math.sqrt(scale))
    total = cfg.latent_steps + cfg.joint_steps
    good = (z.detach().clone(), residual.detach().clone())
    stopped = None
    last_psnr = float("nan")
    for step in range(1, total + 1):
        joint = step > cfg.latent_steps
        features = head(z) + (residual if joint else residual.detach())
        output = run_tail(tail, features)
        loss = reconstruction_loss(output, image, lpips_model=lpips_model)
        if joint:
            loss = loss + cfg.residual_penalty * residual.pow(2).mean() / scale
        if encoder is not None and cfg.encoder_weight > 0:
            loss = loss + cfg.encoder_weight * (encoder(output) - z).pow(2).mean()
        if not math.isfinite(loss.item()):
            z.data.copy_(good[0])
            residual.data.copy_(good[1])
            stopped = f"inversion stopped at step {step}: the loss became non-finite; kept the last good state"
            log.warning(stopped)
            break
        good = (z.detach().clone(), residual.detach().clone())
        opt_z.zero_grad(set_to_none=True)
        opt_r.zero_grad(set_to_none=True)
        loss.backward()
        opt_z.step()
        if joint:
            opt_r.step()
        if callback is not None and (step % 10 == 0 or step == total):
            last_psnr = psnr(output.detach(), image)
            callback(step, total, {"stage": "invert", "loss": loss.item(), "psnr": last_psnr})
    with torch.no_grad():
        features = head(z) + residual
        final_psnr = psnr(run_tail(tail, features), image)
    return Inversion(latent=z.detach().cpu(), features=features.detach().cpu(), residual=residual.detach().cpu(),
                     psnr=final_psnr, seconds=time.monotonic() - t0, stopped=stopped)


__all__ = ["Inversion", "InversionConfig", "invert"]
