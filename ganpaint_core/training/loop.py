"""What the segmenter and encoder trainers share: the schedule, resumable checkpoints and the step loop.

Example::

    step = resume_checkpoint(ckpt, identity, model, opt, device=device, what="segmenter") if resume else 0
    run_steps(model, opt, loss_at, start=step, steps=cfg.steps, peak_lr=cfg.lr, batch=cfg.batch,
              checkpoint=ckpt, identity=identity, checkpoint_every_s=120.0, callback=callback, what="segmenter")

Both draw each step's batch from ``(seed, step)`` alone, so a run resumed from a checkpoint repeats what an
uninterrupted one would have done; the checkpoint holds the model, the optimiser, the step and an
``identity`` (the config, and whatever else the result depends on) that a resumed run must match.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganpaint_core.core.files import atomic_path
from ganpaint_core.core.progress import Callback

log = logging.getLogger(__name__)

LossAt = Callable[[int], tuple[torch.Tensor, dict[str, float]]]  # step -> (loss to descend, more to report)


def one_cycle_lr(step: int, *, steps: int, peak: float) -> float:
    """Linear warm-up over 5% of the steps, then cosine decay to zero."""
    warm = max(int(0.05 * steps), 1)
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(steps - warm, 1)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))


def config_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as a checkpoint stores it: plain values, tuples as lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


def save_checkpoint(path: Path, identity: dict[str, Any], model: nn.Module, opt: torch.optim.Optimizer,
                    step: int) -> None:
    """Atomic save of a resumable checkpoint (tensors and plain containers only)."""
    with atomic_path(path) as tmp:
        torch.save({**identity, "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step}, tmp)


def resume_checkpoint(path: Path, identity: dict[str, Any], model: nn.Module, opt: torch.optim.Optimizer, *,
                      device: torch.device, what: str) -> int:
    """Load the checkpoint at ``path`` into ``model`` and ``opt`` and return its step; 0 when there is none.

    A checkpoint whose ``identity`` differs (another config, generator…) is refused with how to go on.
    """
    if not path.is_file():
        return 0
    payload = torch.load(path, map_location=device, weights_only=True)
    for key, value in identity.items():
        if payload.get(key) != value:
            raise ValueError(f"{path} was trained with another {key.replace('_', ' ')}: "
                             f"delete it or pass resume=False")
    model.load_state_dict(payload["model"])
    opt.load_state_dict(payload["optimizer"])
    step = int(payload["step"])
    log.info("resumed %s from %s at step %d", what, path, step)
    return step


def run_steps(model: nn.Module, opt: torch.optim.Optimizer, loss_at: LossAt, *, start: int, steps: int,
              peak_lr: float, batch: int, checkpoint: Path, identity: dict[str, Any], checkpoint_every_s: float,
              callback: Callback | None, what: str) -> None:
    """Optimise from step ``start`` to ``steps`` under :func:`one_cycle_lr`, checkpointing as it goes.

    ``loss_at(step)`` builds the step's batch and returns its loss and any further numbers to report. The
    checkpoint is written every ``checkpoint_every_s`` seconds (before that step's callback, so a callback
    that stops the run keeps the step it reports) and at the end, unless no step ran and it exists already.
    ``callback(step, steps, info)`` gets ``loss``, the extra numbers, ``lr`` and ``img_per_s``.
    """
    model.train()
    step = start
    last_save = t0 = time.monotonic()
    while step < steps:
        lr = one_cycle_lr(step, steps=steps, peak=peak_lr)
        for group in opt.param_groups:
            group["lr"] = lr
        loss, info = loss_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"{what} loss became non-finite at step {step}: lower cfg.lr")
        if time.monotonic() - last_save > checkpoint_every_s and step < steps:
            save_checkpoint(checkpoint, identity, model, opt, step)
            last_save = time.monotonic()
        if callback is not None:
            rate = (step - start) * batch / max(time.monotonic() - t0, 1e-6)
            callback(step, steps, {"loss": loss.item(), **info, "lr": lr, "img_per_s": rate})
    if step > start or not checkpoint.is_file():
        save_checkpoint(checkpoint, identity, model, opt, step)
    log.info("%s trained: %d steps in %.1f s", what, step - start, time.monotonic() - t0)
