"""Image-specific adaptation (Bau et al. 2019): make the generator reproduce *this* photo.

Every layer up to the edit layer stays exact. Each fine layer's output is multiplied by ``(1 + δ_i)``,
where ``δ_i = A_i(output) + B_i``: ``A_i`` is a 1×1 convolution of the layer's own output (so the
correction follows the content, also where an edit changes it) and ``B_i`` a per-position map (the
photo's own details). Both start at zero (the unadapted generator) and are fitted once per photo, right
after inversion, with a penalty on δ so the generator's prior keeps the upper hand. Each later edit then
renders with one tail pass. The shared generator is never modified.

A second penalty keeps edits local (``AdaptConfig.contraction``). The fit only sees the photo's own content,
so nothing in it says how the corrected layers should answer a *change* of that content, which is what an
edit brings around the stroke. Each step therefore also penalises the size of each corrected layer's
Jacobian, ``v·(1 + δ) + output·(W v)`` for a random direction ``v`` (``W``: the 1×1 mix's weights): a
correction that does not amplify what it has not seen, so the change an edit spreads beyond its stroke is
damped as the long constant-rate fit before issue 25 damped it, in a quarter of its steps (README, *The setup
three times cheaper*).
"""
from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.core.metrics import psnr
from ganpaint_core.core.progress import Callback
from ganpaint_core.edit.invert import lr_share, set_lr
from ganpaint_core.edit.losses import reconstruction_loss
from ganpaint_core.models.layers import run_tail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdaptConfig:
    """Fitting the per-photo multiplicative corrections."""

    steps: int = 60  # Adam steps (the paper refits ~1000 per edit; here once per photo; 240 before issue 25)
    lr: float = 0.01  # Adam learning rate
    delta_penalty: float = 0.1  # weight of mean(δ²) per layer, keeps the adapted generator near the original (0.05
    # before issue 25, when a constant rate's jitter also kept δ from fitting closely: edit.plans)
    refit_steps: int = 60  # warm-started refit after an edit (outside the edit region only)
    refit_dilate: float = 1 / 16  # dilation of the edit region excluded from the refit, share of the side
    schedule: str = "cosine"  # "cosine": the rate falls along a half cosine (edit.invert.lr_share); or "constant"
    final_lr_share: float = 0.1  # with "cosine": the share of the rate left at the last step
    contraction: float = 1.0  # weight of the corrected layers' mean squared Jacobian on random directions (0: none;
    # chosen on training scenes, where it brings an edit's spread back to the pre-issue-25 fit's)


SENSITIVITY_SIDE = 64  # the contraction penalty samples at most about this many positions a side per layer


def _key(layer: str) -> str:
    """A layer name as a submodule key: dotted names (StyleGAN2's ``convs.4``) cannot be module names."""
    return layer.replace(".", "_")


class FineLayerAdapter(nn.Module):
    """Per-photo corrections for the layers after the edit layer.

    Example::

        adapter = FineLayerAdapter({"layer5": (512, 16), "layer6": (512, 16)})
        image = run_tail(tail, features, latent=latent, modify=adapter)   # tail with outputs * (1 + δ)
    """

    def __init__(self, shapes: dict[str, tuple[int, int]]) -> None:
        super().__init__()
        self.names = list(shapes)
        self.release: torch.Tensor | None = None  # [1, 1, S, S] in [0, 1]: where δ is switched off (the edit)
        self.mix = nn.ModuleDict()
        self.bias = nn.ParameterDict()
        for name, (channels, size) in shapes.items():
            conv = nn.Conv2d(channels, channels, 1)
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
            self.mix[_key(name)] = conv
            self.bias[_key(name)] = nn.Parameter(torch.zeros(1, channels, size, size))

    def delta(self, name: str, output: torch.Tensor) -> torch.Tensor:
        return self.mix[_key(name)](output) + self.bias[_key(name)]

    def __call__(self, name: str, output: torch.Tensor) -> torch.Tensor:  # the run_tail modify hook
        if name not in self.names:
            return output
        delta = self.delta(name, output)
        if self.release is not None:
            # Inside an edit the generator's prior draws the new content: the photo-specific δ, fitted to
            # the old content, would otherwise paint it back.
            keep = 1 - F.interpolate(self.release, size=output.shape[-2:], mode="bilinear", align_corners=False)
            delta = delta * keep
        return output * (1 + delta)

    def penalty(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.delta(n, o).pow(2).mean() for n, o in outputs.items())

    def sensitivity(self, outputs: dict[str, torch.Tensor], generator: torch.Generator) -> torch.Tensor:
        """Mean over the layers of ``|J v|²`` per element, ``J`` the correction's Jacobian at ``outputs`` and
        ``v`` a standard normal direction (1 for the unadapted layer, which passes a change on unchanged)."""
        total = torch.zeros(())
        for name, out in outputs.items():
            mix, bias = self.mix[_key(name)], self.bias[_key(name)]
            stride = max(1, out.shape[-1] // SENSITIVITY_SIDE)  # the correction is per position: a grid of them
            if stride > 1:  # estimates the same mean (a 256² layer: every 4th row and column, a random offset)
                oy, ox = torch.randint(stride, (2,), generator=generator).tolist()
                out, bias = out[..., oy::stride, ox::stride], bias[..., oy::stride, ox::stride]
            v = torch.randn(out.shape, generator=generator).to(out.device)
            jv = v * (1 + mix(out) + bias) + out * F.conv2d(v, mix.weight)
            total = total + jv.pow(2).mean()
        return total / max(len(outputs), 1)


def _fit(
    adapter: FineLayerAdapter,
    tail: nn.Module,
    features: torch.Tensor,
    target: torch.Tensor,
    *,
    latent: torch.Tensor | None,
    steps: int,
    cfg: AdaptConfig,
    weight: torch.Tensor | None,
    lpips_model: nn.Module | None,
    callback: Callback | None,
) -> dict[str, Any]:
    opt = torch.optim.Adam(adapter.parameters(), lr=cfg.lr)
    directions = torch.Generator().manual_seed(0)  # the sensitivity's random directions: the same every fit
    good = copy.deepcopy(adapter.state_dict())
    stopped = None
    for step in range(1, steps + 1):
        set_lr(opt, cfg.lr, lr_share(step, steps, schedule=cfg.schedule, final=cfg.final_lr_share))
        outputs: dict[str, torch.Tensor] = {}

        def modify(name: str, out: torch.Tensor) -> torch.Tensor:
            if name in adapter.names:
                outputs[name] = out
            return adapter(name, out)

        image = run_tail(tail, features, latent=latent, modify=modify)
        loss = reconstruction_loss(image, target, weight=weight, lpips_model=lpips_model)
        loss = loss + cfg.delta_penalty * adapter.penalty(outputs)
        if cfg.contraction > 0:
            loss = loss + cfg.contraction * adapter.sensitivity(outputs, directions)
        if not math.isfinite(loss.item()):
            adapter.load_state_dict(good)
            stopped = f"adaptation stopped at step {step}: the loss became non-finite; kept the last good state"
            log.warning(stopped)
            break
        good = {k: v.detach().clone() for k, v in adapter.state_dict().items()}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if callback is not None and (step % 10 == 0 or step == steps):
            callback(step, steps, {"stage": "adapt", "loss": loss.item(), "psnr": psnr(image.detach(), target)})
    return {"stopped": stopped}


def adapt_fine_layers(
    tail: nn.Module,
    features: torch.Tensor,
    target: torch.Tensor,
    *,
    shapes: dict[str, tuple[int, int]],
    latent: torch.Tensor | None = None,
    cfg: AdaptConfig = AdaptConfig(),
    lpips_model: nn.Module | None = None,
    callback: Callback | None = None,
) -> tuple[FineLayerAdapter, dict[str, Any]]:
    """Fit an adapter so ``run_tail(tail, features, latent=latent, modify=adapter)`` reproduces ``target``
    [1, 3, S, S]. ``latent`` is the one the features came from (a StyleGAN2 tail needs it)."""
    t0 = time.monotonic()
    adapter = FineLayerAdapter(shapes).to(features.device)
    features = features.detach()
    latent = latent.detach() if latent is not None else None
    info = _fit(adapter, tail, features, target, latent=latent, steps=cfg.steps, cfg=cfg, weight=None,
                lpips_model=lpips_model, callback=callback)
    info["seconds"] = time.monotonic() - t0
    return adapter.requires_grad_(False), info


def refit_outside(
    adapter: FineLayerAdapter,
    tail: nn.Module,
    edited_features: torch.Tensor,
    target: torch.Tensor,
    edit_mask: torch.Tensor,
    *,
    latent: torch.Tensor | None = None,
    cfg: AdaptConfig = AdaptConfig(),
    lpips_model: nn.Module | None = None,
) -> FineLayerAdapter:
    """A warm-started copy of ``adapter`` refitted on the edited render, matching the photo only outside
    ``edit_mask`` [1, 1, S, S] (dilated by ``refit_dilate`` and blurred)."""
    size = edit_mask.shape[-1]
    r = max(1, round(size * cfg.refit_dilate))
    grown = F.max_pool2d(edit_mask, 2 * r + 1, stride=1, padding=r)
    soft = F.avg_pool2d(grown, 2 * r + 1, stride=1, padding=r, count_include_pad=False)
    weight = (1 - soft).clamp(0, 1)
    refit = copy.deepcopy(adapter).requires_grad_(True)
    _fit(refit, tail, edited_features.detach(), target, latent=latent.detach() if latent is not None else None,
         steps=cfg.refit_steps, cfg=cfg, weight=weight, lpips_model=lpips_model, callback=None)
    return refit.requires_grad_(False)


def adapter_shapes(all_shapes: dict[str, tuple[int, int]], fine_layers: Sequence[str]) -> dict[str, tuple[int, int]]:
    missing = [n for n in fine_layers if n not in all_shapes]
    if missing:
        raise ValueError(f"fine layers {missing} are not after the edit layer ({', '.join(all_shapes)})")
    return {n: all_shapes[n] for n in fine_layers}
