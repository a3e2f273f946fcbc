"""Painting from nothing (iGAN's generation from scratch, Zhu et al. 2016): no photo; the start is a blank (the
generator's average image) or a random sample, and colour strokes and sketch lines are met by moving the
whole latent, nothing of a photo to keep. The result is a generated image that the usual edit path takes as
a photo already set up (its latent is known: no inversion, no adaptation), so concept strokes, directions
and brushes then apply to it as to any photo.

The candidates' latents start at the start's latent and at ``candidates - 1`` seeded samples (iGAN's diverse
starts); each is moved, with a small penalised offset of the edit layer's features (as a brush has), to meet
the paint (colour error under the colour strokes, blurred; missing edge under the sketch lines) while its
norm stays that of a typical latent. The best by constraint error is kept.

Example::

    start = scratch_start(engine, start="sample", seed=3)           # a PhotoState of the sample, no paint
    made = paint_from_scratch(engine, paint, start="blank", seed=0)  # paint: a BrushSpec on the model's square
    made.color_error_before, made.color_error_after                  # 0..255 under the colour strokes
    out = edit_photo(engine, made.state, [concept_stroke])           # then the usual strokes
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.metrics import psnr
from ganpaint_core.core.photo import load_photo, to_uint8
from ganpaint_core.core.progress import Callback, report
from ganpaint_core.edit.brush import EDGE_TARGET, BrushSpec, blur, color_error, edge_error, edges
from ganpaint_core.edit.engine import EditEngine, PhotoState
from ganpaint_core.edit.spec import seed_value
from ganpaint_core.models.layers import run_tail

STARTS = ("blank", "sample")  # a blank: the generator's average image; a sample: a random image of the model
AVERAGE_OF = 512  # samples whose latents' mean is the blank's latent


@dataclass(frozen=True)
class ScratchConfig:
    """The optimisation that meets the paint from nothing."""

    steps: int = 60  # Adam steps, all candidates together as one batch
    candidates: int = 4  # the start's latent and seeded samples; the best is kept
    latent_lr: float = 0.3  # Adam rate for the latent, in units of its spread
    offset_lr: float = 0.1  # Adam rate for the edit layer's offset, in units of the features' RMS
    blur: float = 2.0  # sigma (model pixels) of the blur before colours are compared (colours, not texture)
    norm_weight: float = 0.02  # (RMS(z) / spread - 1)²: the latent stays as long as a typical one
    offset_penalty: float = 0.05  # mean(d²) / RMS²: the offset stays small, the latent does the work (as the brush's)
    encoder_weight: float = 0.0  # ||E(G(z)) - z||² / spread² (models with an encoder; it held the colours back)


@dataclass(frozen=True)
class Scratch:
    """An image made from nothing, set up as a photo."""

    state: PhotoState  # the made image as a photo already set up (edit_photo takes it as is)
    start: str  # "blank" | "sample"
    seed: int
    color_error_before: float  # the start's mean |render - colour| under the colour strokes, 0..255 (nan: none)
    color_error_after: float  # the result's
    edge_error_before: float  # the start's missing edge under the sketch lines, 0..1 (nan: none)
    edge_error_after: float
    seconds: float

    def summary(self) -> dict[str, object]:
        """JSON-ready figures for a record."""
        r = lambda v: None if math.isnan(v) else round(v, 4)  # noqa: E731
        return {"start": self.start, "seed": self.seed, "color_error_before": r(self.color_error_before),
                "color_error_after": r(self.color_error_after), "edge_error_before": r(self.edge_error_before),
                "edge_error_after": r(self.edge_error_after), "seconds": round(self.seconds, 3)}


def start_latent(engine: EditEngine, *, start: str, seed: int) -> torch.Tensor:
    """[1, ...] the start's latent in the inversion space: the average latent (blank) or sample ``seed``'s."""
    if start not in STARTS:
        raise GanpaintError(f"start must be {' or '.join(STARTS)}, got {start!r}")
    seed_value("seed", seed)
    g = engine.model.generator
    n = AVERAGE_OF if start == "blank" else 1
    z = g.sample_latents(n, seed=int(seed), device=engine.device)
    latent = g.to_inversion_latent(z, space="z") if g.inversion_space != "z" else z
    return latent.mean(0, keepdim=True) if start == "blank" else latent


@torch.no_grad()
def state_of(engine: EditEngine, latent: torch.Tensor, *, notes: list[str], seconds: float,
             offset: torch.Tensor | None = None) -> PhotoState:
    """The render of ``latent`` (plus ``offset`` [1, C, h, w] at the edit layer) as a photo set up with it: its
    features (the offset is their residual), no adaptation."""
    features = engine.head(latent) + (0 if offset is None else offset.to(latent.device))
    render = run_tail(engine.tail, features, latent=latent)  # [1, 3, S, S]
    photo = load_photo(Image.fromarray(to_uint8(render[0])), size=engine.resolution)
    quality = psnr(render, photo.model_image.to(render.device))  # the render against its own 8-bit pixels
    return PhotoState(photo=photo, latent=latent.cpu(), features=features.cpu(), adapter={},
                      recon_psnr_before=quality, recon_psnr_after=quality, base_render=render.cpu(),
                      timings={"scratch_s": seconds}, notes=notes)


def scratch_start(engine: EditEngine, *, start: str = "sample", seed: int = 0) -> PhotoState:
    """The start alone (no paint yet), set up as a photo."""
    what = "the generator's average image" if start == "blank" else f"sample {seed} of the model"
    return state_of(engine, start_latent(engine, start=start, seed=seed), seconds=0.0,
                    notes=[f"made from nothing: {what}"])


def _losses(engine: EditEngine, z: torch.Tensor, offset: torch.Tensor, image: torch.Tensor,
            targets: dict[str, torch.Tensor | None], cfg: ScratchConfig, spread: float, scale: float) -> torch.Tensor:
    """[N]: each candidate's loss."""
    def mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (x * w).sum(dim=(1, 2, 3)) / (w.sum() * x.shape[1]).clamp(min=1e-6)

    dims = tuple(range(1, z.dim()))
    loss = cfg.norm_weight * (z.pow(2).mean(dim=dims).sqrt() / spread - 1).pow(2)
    loss = loss + cfg.offset_penalty * offset.pow(2).mean(dim=(1, 2, 3)) / scale
    if targets["color"] is not None:
        loss = loss + mean((blur(image, cfg.blur) - targets["color"]).abs(), targets["color_w"])
    if targets["sketch_w"] is not None:
        loss = loss + mean((1 - edges(image) / EDGE_TARGET).clamp(min=0), targets["sketch_w"])
    encoder = engine.model.encoder
    if encoder is not None and cfg.encoder_weight > 0:
        predicted = engine.model.generator.to_inversion_latent(encoder(image), space=encoder.latent_space)
        loss = loss + cfg.encoder_weight * (predicted - z).pow(2).mean(dim=dims) / spread**2
    return loss


def _check_paint(paint: BrushSpec, side: int) -> None:
    """The paint's arrays are on the model's square (unlike a brush on a photo, it may cover all of it)."""
    for name, value, shape in (("colour strokes", paint.color_mask, (side, side)),
                               ("sketch", paint.sketch, (side, side)), ("colours", paint.color, (side, side, 3))):
        if value is not None and (np.asarray(value).shape != shape or not np.isfinite(value).all()):
            raise GanpaintError(f"the {name} must be a {'×'.join(map(str, shape))} array on the model's square, got "
                                f"{np.asarray(value).shape}")
    if paint.color_mask is not None and paint.color is None:
        raise GanpaintError("colour strokes need their colours")


def _targets(engine: EditEngine, paint: BrushSpec) -> dict[str, torch.Tensor | None]:
    dev = engine.device
    as_map = lambda m: torch.from_numpy(np.ascontiguousarray(m, np.float32))[None, None].to(dev)  # noqa: E731
    has_color = paint.color_mask is not None and bool(np.any(paint.color_mask))
    has_sketch = paint.sketch is not None and bool(np.any(paint.sketch))
    if not (has_color or has_sketch):
        raise GanpaintError("nothing painted: paint colour strokes or sketch lines to make an image from")
    return {"color": torch.from_numpy(np.asarray(paint.color, np.float32)).permute(2, 0, 1)[None].to(dev) / 127.5 - 1
            if has_color else None, "color_w": as_map(paint.color_mask) if has_color else None,
            "sketch_w": as_map(paint.sketch) if has_sketch else None}


def paint_from_scratch(engine: EditEngine, paint: BrushSpec, *, start: str = "sample", seed: int = 0,
                       cfg: ScratchConfig = ScratchConfig(), callback: Callback | None = None) -> Scratch:
    """An image that meets ``paint`` (colours and / or sketch on the model's square), made from nothing."""
    t0 = time.monotonic()
    _check_paint(paint, engine.resolution)
    targets = _targets(engine, paint)
    g = engine.model.generator
    first = start_latent(engine, start=start, seed=seed)
    others = [start_latent(engine, start="sample", seed=int(seed) * 1000 + 7919 + i) for i in range(cfg.candidates - 1)]
    z = torch.cat([first, *others]).clone().requires_grad_(True)
    spread = g.latent_std()
    with torch.no_grad():
        h = engine.head(z)
    scale = h.pow(2).mean().item() + 1e-8
    offset = torch.zeros_like(h, requires_grad=True)  # [N, C, h, w]
    opt = torch.optim.Adam([{"params": [z], "lr": cfg.latent_lr * spread},
                            {"params": [offset], "lr": cfg.offset_lr * math.sqrt(scale)}])
    with torch.enable_grad():
        for step in range(1, cfg.steps + 1):
            image = run_tail(engine.tail, engine.head(z) + offset, latent=z)
            loss = _losses(engine, z, offset, image, targets, cfg, spread, scale).sum()
            if not math.isfinite(loss.item()):
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            report(callback, step, cfg.steps, stage="from nothing", loss=loss.item())
    with torch.no_grad():
        renders = run_tail(engine.tail, engine.head(z) + offset, latent=z)
        start_render = to_uint8(run_tail(engine.tail, engine.head(first), latent=first)[0])
    errors = [(color_error(to_uint8(r), paint), edge_error(to_uint8(r), paint)) for r in renders]
    rank = lambda e: sum(0.0 if math.isnan(v) else v for v in (e[0], e[1] * 255))  # noqa: E731
    best = min(range(len(errors)), key=lambda i: rank(errors[i]))
    seconds = time.monotonic() - t0
    what = "the generator's average image" if start == "blank" else f"sample {seed} of the model"
    state = state_of(engine, z[best:best + 1].detach(), offset=offset[best:best + 1].detach(), seconds=seconds,
                     notes=[f"made from nothing: {what}, moved to meet the paint (candidate {best + 1} of "
                            f"{len(errors)})"])
    return Scratch(state=state, start=start, seed=int(seed), color_error_before=color_error(start_render, paint),
                   color_error_after=errors[best][0], edge_error_before=edge_error(start_render, paint),
                   edge_error_after=errors[best][1], seconds=seconds)


__all__ = ["STARTS", "Scratch", "ScratchConfig", "paint_from_scratch", "scratch_start", "start_latent", "state_of"]
