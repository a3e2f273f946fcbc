"""Reconstruction losses: pixel L1, plus LPIPS when its backbone can be loaded.

LPIPS needs torchvision's AlexNet weights, which it downloads on first use. Without them in the torch hub
cache, the download is tried only when it can work: not in offline mode (``GANPAINT_OFFLINE`` /
``HF_HUB_OFFLINE``) and only when torchvision's download host answers within 2 s. Otherwise LPIPS is
unavailable: this is logged once, and the loss falls back to L1 plus an L1 on image gradients at two scales
(sharpens edges the way a perceptual loss would, without a backbone).
"""
from __future__ import annotations

import logging
import socket
import threading
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

log = logging.getLogger(__name__)

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # what torchvision stores in <torch hub>/checkpoints
ALEXNET_HOST = "download.pytorch.org"  # where torchvision downloads it from
# lpips 0.1.4 builds AlexNet with torchvision's deprecated ``pretrained=`` argument: two warnings per load
# that a user can do nothing about. Exactly those are silenced where LPIPS is built.
TORCHVISION_PRETRAINED_WARNINGS = (r"The parameter 'pretrained' is deprecated",
                                   r"Arguments other than a weight enum or `None` for 'weights' are deprecated")
_lock = threading.Lock()
_lpips: dict[str, nn.Module | None] = {}


def lpips_backbone_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE


def download_reachable(host: str = ALEXNET_HOST, timeout: float = 2.0) -> bool:
    """Whether ``host`` accepts a connection now (a download would not hang, then fail)."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def get_lpips(device: torch.device) -> nn.Module | None:
    """A shared, frozen LPIPS(alex) on ``device``, or None (logged once) when it cannot be loaded."""
    key = str(device)
    with _lock:
        if key in _lpips:
            return _lpips[key]
        model = None
        from ganpaint_core.hub.fetch import is_offline

        if not lpips_backbone_path().is_file() and (is_offline() or not download_reachable()):
            log.warning("LPIPS unavailable (%s and no %s in %s); reconstruction uses L1 + image-gradient L1 instead",
                        "offline mode" if is_offline() else f"{ALEXNET_HOST} unreachable", ALEXNET_FILE,
                        lpips_backbone_path().parent)
            _lpips[key] = None
            return None
        try:
            import lpips  # noqa: PLC0415 - optional at run time

            with warnings.catch_warnings():
                for message in TORCHVISION_PRETRAINED_WARNINGS:
                    warnings.filterwarnings("ignore", message=message, category=UserWarning)
                model = lpips.LPIPS(net="alex", verbose=False).to(device).eval().requires_grad_(False)
            log.info("LPIPS(alex) loaded")
        except Exception as exc:  # noqa: BLE001 - any failure means the same fallback, reported once
            log.warning(
                "LPIPS unavailable (%s: %s); reconstruction uses L1 + image-gradient L1 instead. To enable it, "
                "put torchvision's %s in %s (or allow one download).",
                type(exc).__name__, str(exc).splitlines()[0][:120] if str(exc) else "", ALEXNET_FILE,
                lpips_backbone_path().parent,
            )
        _lpips[key] = model
        return model


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def reconstruction_loss(
    output: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    lpips_model: nn.Module | None = None,
    lpips_weight: float = 0.5,
    gradient_weight: float = 0.5,
) -> torch.Tensor:
    """Loss between images [N, 3, H, W] in [-1, 1]; ``weight`` [N, 1, H, W] restricts where it counts."""
    w = torch.ones_like(output[:, :1]) if weight is None else weight
    norm = w.sum().clamp(min=1e-6) * output.shape[1]
    loss = ((output - target).abs() * w).sum() / norm
    if lpips_model is not None:
        # LPIPS has no spatial weighting here: compare images with the unweighted parts replaced by the target.
        mixed = output * w + target * (1 - w)
        loss = loss + lpips_weight * lpips_model(mixed, target).mean()
    else:
        for scale in (1, 2):
            o = output if scale == 1 else F.avg_pool2d(output, scale)
            t = target if scale == 1 else F.avg_pool2d(target, scale)
            ws = w if scale == 1 else F.avg_pool2d(w, scale)
            for go, gt, gw in zip(_gradients(o), _gradients(t), _gradients(ws)):
                mask = ws[..., : go.shape[-2], : go.shape[-1]]
                loss = loss + gradient_weight * ((go - gt).abs() * mask).sum() / (mask.sum().clamp(min=1e-6) * 3)
    return loss
