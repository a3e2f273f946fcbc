"""Train an inversion encoder for a loaded model: resumable, and kept where ``load_model`` finds it.

Example::

    model = load_model("stylegan2-church", device="cuda")
    path = run_encoder_training(model, cfg=EncoderConfig(widths=default_widths(256), steps=2000, batch=32))
    # <cache>/derived/stylegan2-church/<sha[:16]>/encoder.safetensors (+ encoder.report.json beside it)

Training is :func:`ganpaint_core.training.encoder.train_encoder` (generated pairs; real photos, when given,
add the reconstruction-only term). Its checkpoint lives in a work folder keyed by the generator's
sha256, the edit layer and the config, so an interrupted run continues where it stopped.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.progress import Callback
from ganpaint_core.hub.derived import ENCODER_FILE, derived_dir, report_path
from ganpaint_core.hub.loading import LoadedModel
from ganpaint_core.models.encoder import save_encoder
from ganpaint_core.training.encoder import (
    EncoderConfig,
    default_widths,
    reconstruction_psnr,
    train_encoder,
    training_latents,
)

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
HELD_OUT_SEED = 10**9 + 7  # generated images the report measures PSNR on; never a training draw


def load_training_photos(folder: Path, *, resolution: int, fit: str = "crop") -> np.ndarray:
    """Photos of ``folder`` as uint8 ``[N, R, R, 3]`` (centre squares, resized), for the reconstruction term."""
    from ganpaint_core.core.photo import load_photo, to_uint8

    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not paths:
        raise GanpaintError(f"{folder}: no photos (jpg, png, webp, bmp, tiff) in this folder")
    images = [load_photo(p, size=resolution, fit=fit).model_image[0] for p in paths]  # [3, R, R] in [-1, 1]
    return to_uint8(torch.stack(images))


def default_config(model: LoadedModel, **overrides: Any) -> EncoderConfig:
    """The encoder config for this model's resolution, with ``overrides`` (steps, batch, lr, seed, widths…)."""
    fields = {"widths": default_widths(model.generator.resolution)}
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return EncoderConfig(**fields)


def run_encoder_training(
    model: LoadedModel,
    *,
    cfg: EncoderConfig | None = None,
    photos: np.ndarray | None = None,
    out: Path | None = None,
    restart: bool = False,
    checkpoint_every_s: float = 120.0,
    callback: Callback | None = None,
) -> Path:
    """Train an encoder for ``model``'s generator and write it as safetensors; returns its path.

    Example::

        path = run_encoder_training(model, cfg=default_config(model, steps=200),
                                    callback=lambda step, total, info: print(step, info["loss"]))

    ``photos`` (uint8 ``[N, R, R, 3]``, e.g. from :func:`load_training_photos`) make up
    ``cfg.render_fraction`` of each batch with a reconstruction loss only. The file goes to ``out`` or,
    by default, to the model's derived folder, where ``load_model`` uses it when the manifest names no
    encoder; a JSON report (steps, time, PSNR of ``G(E(G(z)))`` on held-out samples) goes beside it.
    A checkpoint is kept every ``checkpoint_every_s`` seconds; ``restart`` ignores an earlier run's.
    """
    manifest, g = model.manifest, model.generator
    sha = model.sha256.get("generator")
    if not sha:
        raise GanpaintError(f"{manifest.name}: no sha256 for the generator; load the model with load_model")
    cfg = cfg or default_config(model)
    identity = {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
                "edit_layer": manifest.edit_layer, "photos": None if photos is None else int(len(photos)),
                "photos_sha256": None if photos is None else hashlib.sha256(np.ascontiguousarray(photos)).hexdigest()}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    folder = derived_dir(manifest.name, sha)
    work = folder / "work" / f"encoder-{key}"
    out = Path(out) if out is not None else folder / ENCODER_FILE
    log.info("training an encoder for %s (%d steps of %d; work folder %s)", manifest.name, cfg.steps, cfg.batch, work)
    t0 = time.monotonic()
    enc = train_encoder(cfg, g, renders=photos, edit_layer=manifest.edit_layer, out_dir=work, device=model.device,
                        resume=not restart, checkpoint_every_s=checkpoint_every_s, callback=callback)
    seconds = time.monotonic() - t0
    with torch.no_grad():
        held_out = g(training_latents(g, 32, seed=HELD_OUT_SEED, device=model.device)).clamp(-1, 1)
    psnr = reconstruction_psnr(enc, g, held_out)
    save_encoder(enc, out)
    report = {"model": manifest.name, "generator_sha256": sha, "edit_layer": manifest.edit_layer,
              "config": identity["config"], "photos": identity["photos"], "device": str(model.device),
              "torch": torch.__version__, "seconds_this_run": round(seconds, 2), "work_dir": str(work),
              "psnr_generated_db": round(psnr, 2), "psnr_note": "median PSNR of G(E(x)) on 32 held-out samples x"}
    report_path(out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    log.info("wrote %s: held-out PSNR %.1f dB", out, psnr)
    return out
