"""Train the synth-church model suite: ``python -m ganpaint_core.synth.train {gan,segmenter,dissect,encoder,all}``.

Every stage is seeded, resumable (checkpoints in ``--out``, default ``runs/synth-church``), logs its
progress, and uses a GPU when one is present. ``--smoke`` runs every stage for a few steps at tiny widths.
``--export`` writes the finished weights into ``weights/synth-church/`` as safetensors.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganpaint_core.synth.data import GAN_SEEDS, render_set
from ganpaint_core.synth.gan import GANConfig, GANState, train_gan

log = logging.getLogger("ganpaint_core.synth.train")

SMOKE_GAN = GANConfig(resolution=32, latent_size=16, g_widths=(32, 32, 16, 8), d_widths=(8, 16, 32, 32), batch=8,
                      kimg=0.064, ema_kimg=0.01)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def save_grid(images: torch.Tensor, path: Path, *, nrow: int = 8) -> None:
    """Images [N, 3, H, W] in [-1, 1] as one PNG grid."""
    x = ((images.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    n, h, w, _ = x.shape
    rows = (n + nrow - 1) // nrow
    grid = np.full((rows * h, nrow * w, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = x[i]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)


class ProgressLog:
    """Turns ``callback(done, total, info)`` into a log line every ``every_s`` seconds."""

    def __init__(self, stage: str, every_s: float = 30.0) -> None:
        self.stage, self.every_s, self.last = stage, every_s, 0.0

    def __call__(self, done: int, total: int, info: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last < self.every_s and done < total:
            return
        self.last = now
        details = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
        log.info("%s %d/%d (%.1f%%) %s", self.stage, done, total, 100 * done / max(total, 1), details)


def stage_gan(args: argparse.Namespace, device: torch.device) -> GANState:
    cfg = SMOKE_GAN if args.smoke else GANConfig()
    if args.kimg is not None:
        cfg = replace(cfg, kimg=args.kimg)
    count = 256 if args.smoke else args.gan_images
    images, _ = render_set(GAN_SEEDS, count, resolution=cfg.resolution, cache_dir=args.out / "data")
    out = args.out / "gan"
    fixed_z = torch.randn(32, cfg.latent_size, generator=torch.Generator().manual_seed(123)).to(device)

    def snapshot(state: GANState) -> None:
        with torch.no_grad():
            save_grid(state.generator_ema(fixed_z), out / f"samples_{state.images_seen // 1000:05d}kimg.png")

    log.info("GAN: %s, %d training renders, device %s", cfg, count, device)
    return train_gan(cfg, images, out_dir=out, device=device, resume=not args.restart,
                     checkpoint_every_s=20 if args.smoke else 600, callback=ProgressLog("gan"),
                     on_checkpoint=snapshot, mixed_precision=device.type == "cuda" or _cpu_has_bf16())


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


STAGES = {"gan": stage_gan}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ganpaint_core.synth.train", description=__doc__)
    p.add_argument("stage", choices=[*STAGES, "all"])
    p.add_argument("--out", type=Path, default=Path("runs/synth-church"), help="checkpoints, logs, caches")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 …")
    p.add_argument("--smoke", action="store_true", help="a few steps of every stage at tiny widths")
    p.add_argument("--restart", action="store_true", help="ignore existing checkpoints")
    p.add_argument("--kimg", type=float, default=None, help="GAN training length override (thousands of images)")
    p.add_argument("--gan-images", type=int, default=50_000, help="number of training renders for the GAN")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(args.out / "train.log")],
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    stages = list(STAGES) if args.stage == "all" else [args.stage]
    for name in stages:
        t0 = time.monotonic()
        STAGES[name](args, device)
        log.info("stage %s done in %.1f s", name, time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
