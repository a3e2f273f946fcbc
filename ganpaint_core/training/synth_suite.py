"""Train the synth-church model suite: ``python -m ganpaint_core.training.synth_suite {gan,segmenter,dissect,encoder,all}``.

Every stage is seeded, resumable (checkpoints in ``--out``, default ``runs/synth-church``), logs its
progress, and uses a GPU when one is present. ``--smoke`` runs every stage for a few steps at tiny widths.
``--export`` writes the finished weights into ``weights/synth-church/`` as safetensors.

``--minutes M`` makes a one-shot, time-budgeted run (a GPU lent for a quarter of an hour): the training
renders are made in parallel worker processes, the GAN trains for M minutes (a checkpoint every minute),
the later stages follow, and the suite is exported inside ``--out`` (``<out>/synth-church-<R>``), so one
folder holds everything::

    python -m ganpaint_core.training.synth_suite all --resolution 128 --minutes 8 --device cuda --out runs/gpu128
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganpaint_core.core.device import pick_device
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.photo import to_uint8
from ganpaint_core.synth.data import GAN_SEEDS, render_set
from ganpaint_core.training.gan import GANConfig, GANState, train_gan

log = logging.getLogger("ganpaint_core.training.synth_suite")

SMOKE_FIELDS: dict[str, Any] = {"widest": 32, "narrowest": 8, "latent_size": 16, "batch": 8, "kimg": 0.064,
                                 "ema_kimg": 0.01}  # --smoke: tiny widths, 64 images
SMOKE_GAN = GANConfig.for_resolution(32, **SMOKE_FIELDS)


def suite_resolution(args: argparse.Namespace) -> int:
    """The side the GAN and the segmenter train at: ``--resolution``, else 64 (32 under ``--smoke``)."""
    return args.resolution or (32 if args.smoke else 64)


def gan_config(args: argparse.Namespace) -> GANConfig:
    """The GAN stage's config: ``GANConfig.for_resolution`` at :func:`suite_resolution`, at tiny widths under
    ``--smoke``, then the command line's overrides."""
    cfg = GANConfig.for_resolution(suite_resolution(args), **(SMOKE_FIELDS if args.smoke else {}))
    overrides = {"kimg": args.kimg, "batch": args.batch, "ema_kimg": args.ema_kimg, "lr": args.lr}
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


def save_grid(images: torch.Tensor, path: Path, *, nrow: int = 8) -> None:
    """Images [N, 3, H, W] in [-1, 1] as one PNG grid."""
    x = to_uint8(images)  # [N, H, W, 3]
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
    cfg = gan_config(args)
    init = None
    if args.init_generator is not None:
        from safetensors.torch import load_file

        if not args.init_generator.is_file():
            raise SystemExit(f"--init-generator {args.init_generator}: no such file")
        init = load_file(str(args.init_generator))
    count = 256 if args.smoke else args.gan_images
    images, _ = render_set(GAN_SEEDS, count, resolution=cfg.resolution, cache_dir=args.out / "data",
                           workers=args.workers)
    out = args.out / "gan"
    fixed_z = torch.randn(32, cfg.latent_size, generator=torch.Generator().manual_seed(123)).to(device)

    def snapshot(state: GANState) -> None:
        with torch.no_grad():
            save_grid(state.generator_ema(fixed_z), out / f"samples_{state.images_seen // 1000:05d}kimg.png")

    log.info("GAN: %s, %d training renders, device %s", cfg, count, device)
    return train_gan(cfg, images, out_dir=out, device=device, resume=not args.restart,
                     checkpoint_every_s=60 if args.minutes else 20 if args.smoke else 600,
                     callback=ProgressLog("gan"), on_checkpoint=snapshot,
                     mixed_precision=device.type == "cuda" or _cpu_has_bf16(), init_generator=init,
                     d_warmup_steps=args.d_warmup, max_seconds=args.minutes * 60 if args.minutes else None)


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _load_gan_ema(args: argparse.Namespace, device: torch.device):
    """The generator the later stages work on: ``--generator FILE`` (a generator.safetensors, e.g. the
    bundled one, to re-dissect or re-encode it), else the EMA generator of the GAN stage's checkpoint."""
    from ganpaint_core.models.progan import ProGANGenerator

    if args.generator is not None:
        from safetensors.torch import load_file

        if not args.generator.is_file():
            raise SystemExit(f"--generator {args.generator}: no such file")
        return ProGANGenerator.from_state_dict(load_file(str(args.generator))).to(device).requires_grad_(False)
    ckpt = args.out / "gan" / "gan.pt"
    if not ckpt.is_file():
        raise SystemExit(f"no GAN checkpoint at {ckpt}: run the 'gan' stage first, or pass --generator FILE")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    return ProGANGenerator.from_state_dict(state["generator_ema"]).to(device).requires_grad_(False)


def stage_segmenter(args: argparse.Namespace, device: torch.device):
    from ganpaint_core.models.segmenter import SegmenterConfig, save_segmenter
    from ganpaint_core.synth.data import HELD_OUT_SEEDS, SEGMENTER_SEEDS
    from ganpaint_core.training.segmenter import evaluate_segmenter, train_segmenter

    cfg = (SegmenterConfig(resolution=suite_resolution(args), widths=(8, 16), steps=5, batch=8) if args.smoke
           else SegmenterConfig(resolution=suite_resolution(args)))
    count = 128 if args.smoke else args.segmenter_images
    images, labels = render_set(SEGMENTER_SEEDS, count, resolution=cfg.resolution, cache_dir=args.out / "data",
                                workers=args.workers)
    seg = train_segmenter(cfg, images, labels, out_dir=args.out / "segmenter", device=device,
                          resume=not args.restart, callback=ProgressLog("segmenter"))
    held_images, held_labels = render_set(HELD_OUT_SEEDS, 64 if args.smoke else 500, resolution=cfg.resolution,
                                          workers=args.workers)
    report = evaluate_segmenter(seg, held_images, held_labels)
    log.info("segmenter held-out mIoU %.3f %s", report["miou"], report["iou"])
    save_segmenter(seg, args.out / "segmenter.safetensors")
    return seg


def stage_dissect(args: argparse.Namespace, device: torch.device):
    from ganpaint_core.analysis.dissect import DissectConfig, dissect
    from ganpaint_core.analysis.segmenters import SynthChurchSegmenter
    from ganpaint_core.hub.fetch import sha256_file
    from ganpaint_core.models.segmenter import load_segmenter
    from ganpaint_core.synth.scenes import CONCEPTS

    G = _load_gan_ema(args, device)
    seg_path = args.out / "segmenter.safetensors"
    seg = SynthChurchSegmenter(load_segmenter(seg_path, device=device),
                               fingerprint=f"synth-church-unet:{sha256_file(seg_path)}")
    cfg = (DissectConfig(samples=40, batch=20, ace_steps=2, ace_batch=4, causal_samples=20, keep=8,
                         template_samples=40) if args.smoke
           else DissectConfig())
    dictionary, report = dissect(G, seg, layer=args.edit_layer, concepts=CONCEPTS, cfg=cfg, device=device,
                                 callback=ProgressLog("dissect"),
                                 source=f"ganpaint_core.analysis.dissect on synth-church {args.edit_layer} (IoU over "
                                        f"{cfg.samples} samples; causal unit sets from {cfg.ace_steps}-step ACE "
                                        "searches)")
    dictionary.save(args.out / "concepts.json")
    (args.out / "dissect_report.json").write_text(json.dumps(report, indent=1))
    log.info("dissection: units with IoU ≥ 0.10 %s; verified causal effects %s", report["units_iou_010"],
             {k: (round(v["add_gain"], 3), round(v["remove_drop"], 3)) for k, v in report["causal"].items()})
    return dictionary


def stage_encoder(args: argparse.Namespace, device: torch.device):
    from ganpaint_core.models.encoder import save_encoder
    from ganpaint_core.synth.data import SEGMENTER_SEEDS
    from ganpaint_core.training.encoder import EncoderConfig, default_widths, train_encoder

    G = _load_gan_ema(args, device)
    if args.smoke:
        levels = len(default_widths(G.resolution))
        cfg = EncoderConfig(widths=tuple(min(8 * 2 ** max(0, i - 1), 16) for i in range(levels)), steps=3, batch=4)
    else:
        cfg = EncoderConfig(widths=default_widths(G.resolution), steps=args.encoder_steps, batch=16)
    count = 128 if args.smoke else args.segmenter_images if args.minutes else 5000  # --minutes: the segmenter's
    renders, _ = render_set(SEGMENTER_SEEDS, count, resolution=G.resolution, cache_dir=args.out / "data",
                            workers=args.workers)
    enc = train_encoder(cfg, G, renders=renders, edit_layer=args.edit_layer, out_dir=args.out / "encoder",
                        device=device, resume=not args.restart, callback=ProgressLog("encoder"))
    save_encoder(enc, args.out / "encoder.safetensors")
    return enc


def stage_export(args: argparse.Namespace, device: torch.device) -> Path:
    """Write the suite (safetensors + concepts + manifest with checksums) into ``--export-dir``."""
    import hashlib
    import shutil

    from safetensors.torch import save_file

    G = _load_gan_ema(args, torch.device("cpu"))
    dest = args.export_dir
    dest.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in G.state_dict().items()}, str(dest / "generator.safetensors"),
              metadata={"format": "pt", "kind": "ganpaint.progan"})
    files = {"generator": ("generator.safetensors", "safetensors")}
    for role, name, fmt in (("segmenter", "segmenter.safetensors", "safetensors"),
                            ("encoder", "encoder.safetensors", "safetensors"), ("concepts", "concepts.json", "json")):
        if (args.out / name).is_file():
            shutil.copyfile(args.out / name, dest / name)
            files[role] = (name, fmt)
    names = [n for n, _, _ in G.layer_shapes()]
    fine = names[names.index(args.edit_layer) + 1 : -1]
    manifest = {
        "name": dest.name,
        "family": "progan",
        "description": "The project's own church-scene GAN suite, trained on procedural renders (bundled)",
        "resolution": G.resolution,
        "latent_size": G.latent_size,
        "edit_layer": args.edit_layer,
        "fine_layers": fine,
        "licence": "MIT (trained by this repository's scripts on procedurally rendered scenes)",
        "citation": "ganpaint synth-church; recipe after Bau et al., SIGGRAPH 2019 and GAN Dissection, ICLR 2019",
        "files": {},
    }
    for role, (name, fmt) in files.items():
        data = (dest / name).read_bytes()
        manifest["files"][role] = {"filename": name, "format": fmt, "sha256": hashlib.sha256(data).hexdigest(),
                                   "size": len(data), "sources": [{"path": name}]}
    (dest / "model.json").write_text(json.dumps(manifest, indent=1) + "\n")
    # Grids for the model card: held-out renders beside samples (fixed seeds, so reruns compare).
    from ganpaint_core.synth.data import HELD_OUT_SEEDS
    from ganpaint_core.training.gan import to_unit_range

    renders, _ = render_set(HELD_OUT_SEEDS + 777, 32, resolution=G.resolution, workers=min(args.workers, 2))
    save_grid(to_unit_range(torch.from_numpy(renders)), dest / "renders.png")
    with torch.no_grad():
        save_grid(G(torch.randn(32, G.latent_size, generator=torch.Generator().manual_seed(777))), dest / "samples.png")
    log.info("exported %s (%s)", dest, ", ".join(files))
    return dest


STAGES = {"gan": stage_gan, "segmenter": stage_segmenter, "dissect": stage_dissect, "encoder": stage_encoder,
          "export": stage_export}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ganpaint_core.training.synth_suite", description=__doc__)
    p.add_argument("stage", choices=[*STAGES, "all"])
    p.add_argument("--out", type=Path, default=Path("runs/synth-church"), help="checkpoints, logs, caches")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 …")
    p.add_argument("--smoke", action="store_true", help="a few steps of every stage at tiny widths")
    p.add_argument("--restart", action="store_true", help="ignore existing checkpoints")
    p.add_argument("--resolution", type=int, default=None,
                   help="side in pixels of the GAN, the segmenter's training renders and so the suite (default 64; "
                        "32 with --smoke); later stages follow the generator they load")
    p.add_argument("--kimg", type=float, default=None, help="GAN training length override (thousands of images)")
    p.add_argument("--batch", type=int, default=None, help="GAN batch size override")
    p.add_argument("--ema-kimg", type=float, default=None, help="GAN EMA half-life override (thousands of images)")
    p.add_argument("--lr", type=float, default=None, help="GAN learning rate override (G and D)")
    p.add_argument("--init-generator", type=Path, default=None,
                   help="gan: start from this generator.safetensors (e.g. the bundled one) with a fresh "
                        "discriminator, when --out holds no checkpoint; the image count starts at 0")
    p.add_argument("--d-warmup", type=int, default=300,
                   help="gan with --init-generator: discriminator-only steps before G trains")
    p.add_argument("--gan-images", type=int, default=None,
                   help="number of training renders for the GAN (default 50 000; 12 000 with --minutes)")
    p.add_argument("--minutes", type=float, default=None,
                   help="one-shot run: train the GAN for this many minutes (checkpoint every minute; --kimg then "
                        "caps it only when given), then the later stages; the suite is exported inside --out")
    p.add_argument("--workers", type=int, default=None,
                   help="processes rendering training data (default: every CPU with --minutes, else 1)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--segmenter-images", type=int, default=4000,
                   help="training renders for the segmenter (with --minutes the encoder reuses them)")
    p.add_argument("--encoder-steps", type=int, default=500, help="encoder training steps (batch 16)")
    p.add_argument("--edit-layer", default="layer6", help="layer dissected and edited (layer6: 16×16, 128 units)")
    p.add_argument("--generator", type=Path, default=None,
                   help="dissect / encoder / export: use this generator.safetensors instead of the GAN checkpoint")
    p.add_argument("--export-dir", type=Path, default=None,
                   help="where 'export' writes (default weights/synth-church; with --minutes <out>/synth-church-<R>)")
    return p


def resolve_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the defaults that depend on other arguments (``--minutes`` changes several)."""
    budget = args.minutes is not None
    if budget and args.minutes <= 0:
        raise SystemExit(f"--minutes must be positive, got {args.minutes}")
    if args.workers is None:
        args.workers = (os.cpu_count() or 1) if budget else 1
    if args.gan_images is None:
        args.gan_images = 12_000 if budget else 50_000
    if budget and args.kimg is None:
        args.kimg = 1e6  # the clock stops it
    if args.export_dir is None:
        args.export_dir = (args.out / f"synth-church-{suite_resolution(args)}" if budget
                           else Path("weights/synth-church"))
    return args


def main(argv: list[str] | None = None) -> int:
    args = resolve_defaults(build_parser().parse_args(argv))
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(args.out / "train.log")],
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = pick_device(args.device)
    except GanpaintError as e:  # --device cuda without a GPU, or a name torch does not know
        raise SystemExit(str(e)) from None
    stages = list(STAGES) if args.stage == "all" else [args.stage]
    for name in stages:
        t0 = time.monotonic()
        try:
            STAGES[name](args, device)
        except ValueError as e:  # a config or file that does not fit: one line, not a traceback
            raise SystemExit(f"stage {name}: {e}") from None
        log.info("stage %s done in %.1f s", name, time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
