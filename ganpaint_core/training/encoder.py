"""The encoder's trainer: learns the image-to-latent encoder (:mod:`ganpaint_core.models.encoder`) that gives
GAN inversion its starting point, for any generator.

Example::

    from ganpaint_core.synth.data import SEGMENTER_SEEDS, render_set
    from ganpaint_core.models.encoder import save_encoder
    from ganpaint_core.training.encoder import EncoderConfig, reconstruction_psnr, train_encoder

    renders, _ = render_set(SEGMENTER_SEEDS, 20_000, resolution=64)
    enc = train_encoder(EncoderConfig(), G, renders=renders, edit_layer="layer4", out_dir=Path("runs/encoder"))
    save_encoder(enc, Path("runs/encoder/encoder.safetensors"))
    z0 = enc(images)                              # [N, 3, 64, 64] in [-1, 1] -> [N, 128], then optimise z0

This is iGAN's hybrid inversion (Zhu et al. 2016): a feed-forward encoder predicts ``z`` in one pass and a
short optimisation refines it. The encoder is trained like the domain-guided encoder of In-Domain GAN
Inversion (Zhu et al. 2020): besides matching ``z`` on generated pairs ``(z, G(z))`` it must *reconstruct*
images through the frozen generator, ``G(E(x)) ≈ x``, so its codes stay where the generator decodes
well. Real renders (which the GAN cannot reproduce exactly) get the reconstruction loss only; generated
pairs also get a loss on ``z`` and on the edit layer's features, the representation that GANPaint edits.

It serves any generator family that offers ``resolution``, ``latent_size``, ``split(layer)`` and
``sample_latents(n, seed=, device=)`` (``python -m ganpaint_core train-encoder --model NAME``). The
latents it learns to predict are the ones the family samples; both families seen so far pixel-normalise
``z`` before anything else, so only its direction matters and the encoder returns codes on the sphere of
radius ``sqrt(latent_size)``, where standard-normal latents concentrate. A family inverted through another
latent (StyleGAN2's W+, say) would plug in at :func:`training_latents` and at :class:`Encoder`'s output.
"""
from __future__ import annotations

import copy
import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.core.progress import Callback
from ganpaint_core.models.encoder import Encoder, to_sphere
from ganpaint_core.models.layers import run_tail
from ganpaint_core.training.gan import to_unit_range
from ganpaint_core.training.loop import config_dict, resume_checkpoint, run_steps

__all__ = ["EncoderConfig", "default_widths", "reconstruction_psnr", "train_encoder", "training_latents"]

log = logging.getLogger(__name__)

_CHECKPOINT = "encoder.pt"


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture, losses and schedule of the inversion encoder.

    Example::

        cfg = EncoderConfig(steps=200, batch=16)           # a quick, rough encoder
        enc = train_encoder(cfg, G, renders=None, edit_layer="layer4", out_dir=tmp)
    """

    widths: tuple[int, ...] = (32, 64, 128, 256)  # channels per level; each level halves the side, the last
    #                                               ends at 4x4, so len(widths) == log2(resolution) - 2
    steps: int = 2000  # optimiser steps (64k images at batch 32; a 64-px step takes ~2.5 s on one CPU thread)
    batch: int = 32  # images per step (generated pairs plus renders)
    lr: float = 1e-3  # peak Adam learning rate (linear warm-up over 5% of steps, then cosine decay to 0)
    seed: int = 0  # seeds initialisation, latents and render order
    latent_weight: float = 1.0  # weight of mean((E(G(z)) - z)^2) on the sphere (= 2 - 2 cos); generated pairs
    pixel_weight: float = 1.0  # weight of mean |G(E(x)) - x| in [-1, 1] units; generated images and renders
    feature_weight: float = 1.0  # weight of mean (head(E(G(z))) - head(z))^2 at the edit layer; generated pairs
    render_fraction: float = 0.25  # share of each batch that is renders (ignored when no renders are given)

    def __post_init__(self) -> None:
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"widths {self.widths} must be positive channel counts, e.g. (32, 64, 128, 256)")
        if self.steps < 1 or self.batch < 1 or not self.lr > 0:
            raise ValueError(f"steps={self.steps}, batch={self.batch} and lr={self.lr} must all be positive")
        if min(self.latent_weight, self.pixel_weight, self.feature_weight) < 0:
            raise ValueError("loss weights must be ≥ 0")
        if not 0.0 <= self.render_fraction <= 1.0:
            raise ValueError(f"render_fraction={self.render_fraction} must lie in [0, 1]")


def default_widths(resolution: int) -> tuple[int, ...]:
    """Encoder widths for a generator of side ``resolution``: 32 channels doubling per halving, at most 512.

    ``default_widths(64) == (32, 64, 128, 256)`` (the synth-church encoder); 256 px gets six levels.
    """
    levels = int(math.log2(resolution)) - 2
    if levels < 1 or 4 * 2**levels != resolution:
        raise ValueError(f"resolution {resolution} must be a power of two ≥ 8")
    return tuple(min(32 * 2**i, 512) for i in range(levels))


def training_latents(generator: nn.Module, n: int, *, seed: int, device: torch.device | str) -> torch.Tensor:
    """The latents ``[n, L]`` the encoder learns to predict: the family's own samples, on the sphere.

    This is the hook for a family inverted through another latent than ``z``: it would sample that latent
    here (and :class:`Encoder` would drop its sphere projection).
    """
    sample = getattr(generator, "sample_latents", None)
    if sample is None:
        raise TypeError(f"{type(generator).__name__} has no sample_latents(n, seed=, device=): the encoder "
                        "cannot draw training latents for it")
    return to_sphere(sample(n, seed=seed, device=device))


# ----------------------------------------------------------------------------------------------
# Training


def _fingerprint(generator: nn.Module) -> str:
    """sha256 of the generator's weights: a checkpoint is only resumed against the generator it was trained on."""
    h = hashlib.sha256()
    for name, tensor in sorted(generator.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def train_encoder(
    cfg: EncoderConfig,
    generator: nn.Module,
    *,
    renders: np.ndarray | None,
    edit_layer: str,
    out_dir: Path,
    device: torch.device | str = "cpu",
    resume: bool = True,
    checkpoint_every_s: float = 120.0,
    callback: Callback | None = None,
) -> Encoder:
    """Train an encoder for ``generator`` on fresh generated pairs, mixed with ``renders`` (uint8 [N, R, R, 3]).

    Example::

        enc = train_encoder(EncoderConfig(), G, renders=renders, edit_layer="layer4",
                            out_dir=Path("runs/encoder"),
                            callback=lambda step, total, info: print(step, info["loss"]))

    The generator is never modified: a frozen copy on ``device`` does the work. Each step draws
    ``batch - round(batch * render_fraction)`` latents (all of the batch when ``renders`` is None) and
    the rest from ``renders``, randomly flipped, from ``(cfg.seed, step)`` alone, so a resumed run
    repeats what an uninterrupted one would have done. Checkpoints go to ``out_dir/encoder.pt`` every
    ``checkpoint_every_s`` seconds and at the end; with ``resume`` an existing checkpoint of the same
    config, generator and edit layer is continued (a finished one is just loaded). Returns the encoder
    in eval mode, on ``device``.
    """
    device = torch.device(device)
    r, latent = generator.resolution, generator.latent_size
    if renders is not None:
        renders = np.asarray(renders)
        if renders.dtype != np.uint8 or renders.ndim != 4 or renders.shape[1:] != (r, r, 3) or not len(renders):
            raise ValueError(f"renders are {renders.dtype} {renders.shape}: expected uint8 [N, {r}, {r}, 3] "
                             f"at the generator's resolution, or None to train on generated images only")
    n_render = round(cfg.batch * cfg.render_fraction) if renders is not None else 0
    n_gen = cfg.batch - n_render

    # A private frozen copy: gradients flow through it to the encoder, never into the caller's generator.
    gen_frozen = copy.deepcopy(generator).to(device).eval().requires_grad_(False)
    head, tail = gen_frozen.split(edit_layer)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / _CHECKPOINT
    identity = {"config": config_dict(cfg), "resolution": r, "latent_size": latent, "edit_layer": edit_layer,
                "generator_sha256": _fingerprint(generator)}

    torch.manual_seed(cfg.seed)
    enc = Encoder(resolution=r, latent_size=latent, widths=cfg.widths).to(device)
    opt = torch.optim.Adam(enc.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    step = resume_checkpoint(ckpt, identity, enc, opt, device=device, what="encoder") if resume else 0
    data = torch.from_numpy(renders) if renders is not None else None

    def loss_at(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        rng = np.random.default_rng([cfg.seed, step])
        z = training_latents(gen_frozen, n_gen, seed=int(rng.integers(2**62)), device=device)  # [n_gen, L]
        with torch.no_grad():
            feats = head(z)  # [n_gen, C, h, w]
            x = run_tail(tail, feats, latent=z)  # [n_gen, 3, R, R]
        if n_render:
            real = to_unit_range(data[torch.from_numpy(rng.integers(0, len(data), n_render))])
            flip = torch.from_numpy(rng.random(n_render) < 0.5).view(-1, 1, 1, 1)
            x = torch.cat([x, torch.where(flip, real.flip(-1), real).to(device)])  # [batch, 3, R, R]
        z_hat = enc(x)
        feats_hat = head(z_hat)
        loss_pixel = (run_tail(tail, feats_hat, latent=z_hat) - x).abs().mean()
        zero = torch.zeros((), device=device)
        loss_latent = F.mse_loss(z_hat[:n_gen], z) if n_gen else zero
        loss_feature = F.mse_loss(feats_hat[:n_gen], feats) if n_gen else zero
        loss = cfg.pixel_weight * loss_pixel + cfg.latent_weight * loss_latent + cfg.feature_weight * loss_feature
        return loss, {"latent": loss_latent.item(), "pixel": loss_pixel.item(), "feature": loss_feature.item()}

    run_steps(enc, opt, loss_at, start=step, steps=cfg.steps, peak_lr=cfg.lr, batch=cfg.batch, checkpoint=ckpt,
              identity=identity, checkpoint_every_s=checkpoint_every_s, callback=callback, what="encoder")
    return enc.eval()


# ----------------------------------------------------------------------------------------------
# Evaluation


@torch.no_grad()
def reconstruction_psnr(enc: Encoder, generator: nn.Module, images: torch.Tensor, *,
                        batch: int = 64) -> float:
    """Median over images of the PSNR (dB, data range 2) of ``G(E(x))``, clamped to [-1, 1], against ``x``.

    Example::

        psnr = reconstruction_psnr(enc, G, to_unit_range(torch.from_numpy(held_out_renders)))

    ``images`` are float ``[N, 3, R, R]`` in [-1, 1]; each model runs on the device its weights are on.
    """
    if images.ndim != 4 or not len(images):
        raise ValueError(f"expected a non-empty batch of images [N, 3, R, R], got shape {tuple(images.shape)}")
    enc_device = next(enc.parameters()).device
    gen_device = next(generator.parameters()).device
    was_training = enc.training
    enc.eval()
    scores = []
    for start in range(0, len(images), batch):
        x = images[start:start + batch].float()
        z = enc(x.to(enc_device))
        recon = generator(z.to(gen_device)).clamp(-1.0, 1.0).cpu()
        mse = (recon - x.cpu()).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
        scores.append(10.0 * torch.log10(4.0 / mse))
    enc.train(was_training)
    return float(torch.cat(scores).median())


