"""GAN inversion: an encoder's guess (iGAN's hybrid), then optimisation of the latent and of a residual
on the edit layer's features, regularised towards the encoder's domain (In-Domain GAN Inversion).

The latent is the family's choice (``generator.inversion_space``): ``z`` for ProGAN, started from the best
of several random draws; W+ for StyleGAN2 (one ``w`` per synthesis input), started from ``latent_avg``.
An encoder's output, when there is one, is mapped into that space and used as the start instead.

The residual (``joint_steps``) lets the edit layer's features reach what the latent alone cannot (a photo is
rarely an exact sample); its penalty keeps it small so the features stay in the generator's vocabulary, where
the concept units mean what the dictionary says. The full fit has none since issue 25 (latent only, as in
Bau et al. 2019; the adaptation carries the photo's detail): a residual is photo content spread over every
unit of the edit layer, which a concept stroke, writing a few units, neither removes nor lets go of, so it
drew a removed concept back and held an added one down (README, *The setup three times cheaper*). Segment
inversion and the plan before issue 25 still fit one.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from ganpaint_core.core.metrics import psnr
from ganpaint_core.core.progress import Callback
from ganpaint_core.edit.losses import reconstruction_loss
from ganpaint_core.models.layers import run_tail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InversionConfig:
    """Steps, rates and weights of the optimisation."""

    latent_steps: int = 50  # steps optimising the latent only (80 before issue 25: edit.plans.BEFORE_ISSUE_25)
    joint_steps: int = 0  # then steps optimising the latent and the feature residual together (120 before issue
    # 25; 40 until its fifth session: without the residual, edits are more local and stronger, see the docstring)
    latent_lr: float = 0.05  # Adam rate for the latent, in units of its spread (generator.latent_std(); 1 for z)
    residual_lr: float = 0.02  # Adam rate for the residual
    residual_penalty: float = 0.02  # weight of mean(residual²) relative to the features' mean square
    encoder_weight: float = 0.1  # weight of ||E(G(z)) - z||² / L in units of the spread (only with an encoder)
    candidates: int = 16  # random starting latents tried when there is no encoder (families that draw them)
    schedule: str = "cosine"  # "cosine": each rate falls along a half cosine over its phase; or "constant" (before)
    final_lr_share: float = 0.1  # with "cosine": the share of each rate left at the last step


def lr_share(step: int, steps: int, *, schedule: str, final: float) -> float:
    """The share of the base rate at ``step`` (1-based) of ``steps``: 1 for a constant schedule, else a half
    cosine from 1 down to ``final``. Large early steps, small late ones: Adam settles in fewer steps than at
    a constant rate, which keeps jittering around the optimum."""
    if schedule == "constant" or steps <= 1:
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * (step - 1) / (steps - 1)))


def set_lr(opt: torch.optim.Optimizer, base: float, share: float) -> None:
    for group in opt.param_groups:
        group["lr"] = base * share


@dataclass
class Inversion:
    """Result of inverting one image (CPU tensors, small, deep-copyable)."""

    latent: torch.Tensor  # z [1, L] (ProGAN) or W+ [1, n_latent, L] (StyleGAN2): what head and tail take
    features: torch.Tensor  # [1, C, h, w]: edit-layer features head(latent) + residual
    residual: torch.Tensor  # [1, C, h, w]
    psnr: float  # of tail(features) against the image, dB
    seconds: float  # wall time
    stopped: str | None = None  # why it stopped early (non-finite loss), if it did


def _initial_latent(generator: nn.Module, head: nn.Module, tail: nn.Module, image: torch.Tensor, *,
                    encoder: nn.Module | None, candidates: int, seed: int) -> torch.Tensor:
    with torch.no_grad():
        if encoder is not None:
            return generator.to_inversion_latent(encoder(image), space=encoder.latent_space).detach()
        starts = generator.inversion_starts(candidates, seed=seed, device=image.device)
        if len(starts) == 1:
            return starts.clone(memory_format=torch.contiguous_format)
        errors = (run_tail(tail, head(starts), latent=starts) - image).abs().mean(dim=(1, 2, 3))
        return starts[errors.argmin()][None].clone()


def invert(
    generator: nn.Module,
    image: torch.Tensor,
    *,
    layer: str,
    encoder: nn.Module | None = None,
    cfg: InversionConfig = InversionConfig(),
    lpips_model: nn.Module | None = None,
    seed: int = 0,
    callback: Callback | None = None,
) -> Inversion:
    """Find a latent and a residual so that ``tail(head(latent) + residual, latent)`` ≈ ``image``
    [1, 3, S, S] in [-1, 1]; the latent is the family's inversion latent (``z`` or W+)."""
    t0 = time.monotonic()
    head, tail = generator.split(layer)
    z0 = _initial_latent(generator, head, tail, image, encoder=encoder, candidates=cfg.candidates, seed=seed)
    z = z0.clone().requires_grad_(True)  # the latent being optimised (z or W+)
    spread = generator.latent_std()
    with torch.no_grad():
        scale = head(z0).pow(2).mean().item() + 1e-8
    residual = torch.zeros_like(head(z0).detach()).requires_grad_(True)
    z_lr, r_lr = cfg.latent_lr * spread, cfg.residual_lr * math.sqrt(scale)
    opt_z = torch.optim.Adam([z], lr=z_lr)
    opt_r = torch.optim.Adam([residual], lr=r_lr)
    total = cfg.latent_steps + cfg.joint_steps
    good = (z.detach().clone(), residual.detach().clone())
    stopped = None
    last_psnr = float("nan")
    for step in range(1, total + 1):
        joint = step > cfg.latent_steps
        set_lr(opt_z, z_lr, lr_share(step, total, schedule=cfg.schedule, final=cfg.final_lr_share))
        if joint:
            set_lr(opt_r, r_lr, lr_share(step - cfg.latent_steps, cfg.joint_steps, schedule=cfg.schedule,
                                         final=cfg.final_lr_share))
        features = head(z) + (residual if joint else residual.detach())
        output = run_tail(tail, features, latent=z)
        loss = reconstruction_loss(output, image, lpips_model=lpips_model)
        if joint:
            loss = loss + cfg.residual_penalty * residual.pow(2).mean() / scale
        if encoder is not None and cfg.encoder_weight > 0:
            predicted = generator.to_inversion_latent(encoder(output), space=encoder.latent_space)
            loss = loss + cfg.encoder_weight * (predicted - z).pow(2).mean() / spread**2
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
        final_psnr = psnr(run_tail(tail, features, latent=z), image)
    return Inversion(latent=z.detach().cpu(), features=features.detach().cpu(), residual=residual.detach().cpu(),
                     psnr=final_psnr, seconds=time.monotonic() - t0, stopped=stopped)


__all__ = ["Inversion", "InversionConfig", "invert"]
