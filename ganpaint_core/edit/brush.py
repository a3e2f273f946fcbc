"""Colour and sketch brushes (iGAN, Zhu et al. 2016): the user paints colours and sketches lines, and the
edit is a constrained optimisation that keeps the result on the generator's manifold.

The photo's inversion gives the edit layer's features ``f0 = head(z0) + residual``. A candidate moves its
own latent ``z`` (started from ``z0``, or from ``z0`` plus a seeded random step for the others: iGAN's
diverse starts) and a small feature offset ``d`` under the strokes, within the brush's *region* (the strokes
grown by ``spread`` of the side, as a soft alpha ``a`` on the edit grid)::

    f = f0 + a · (head(z) - head(z0) + d)

so outside the region the features are the photo's own. The render (the photo's adaptation, switched off
under the strokes so the generator draws freely there) is asked to

- match the painted colours under the colour strokes, slightly blurred (iGAN compares colours, not texture);
- show edges (a fixed Sobel operator on the grey image) under the sketch lines;
- stay the photo's inversion everywhere else (L1 to the render without the edit);

with penalties that keep ``z`` near ``z0``, ``d`` small and, when the model has an encoder, ``z`` in the
encoder's domain (In-Domain GAN Inversion's regulariser). The K candidates are returned best first by
constraint error. The picked one, ``morph`` of the way from the inversion (iGAN's interpolation: the latent
``z0 + t (z - z0)`` and ``t · d``), becomes a :class:`~ganpaint_core.edit.strokes.FeatureEdit`: rendered with
the photo's adaptation and pasted back as unit edits are, so the photo's pixels beyond the region stay exact.

Example::

    spec = BrushSpec(color=rgb_square, color_mask=painted, sketch=None, candidates=4, pick=0, morph=1.0)
    found = engine.brush_candidates(state, spec)   # brush_candidates(), kept by content: .preview, .color_error
    edit = brush_edit(engine, state, spec)                 # the picked candidate as a FeatureEdit
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from ganpaint_core.core.errors import shown
from ganpaint_core.core.metrics import distance_to
from ganpaint_core.core.photo import Photo, mask_to_square, to_uint8
from ganpaint_core.edit.composite import change_region
from ganpaint_core.edit.embedded import encode_png_base64
from ganpaint_core.edit.spec import seed_value, unit_interval
from ganpaint_core.edit.strokes import FeatureEdit, StrokeError, grid_alpha, refuse_settings
from ganpaint_core.models.layers import run_tail

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine, PhotoState

MASK_ALPHA_THRESHOLD = 16  # painted alpha (0-255) above which a pixel counts as painted (as on the canvas)
MAX_CANDIDATES = 16  # iGAN shows its best 9 of 64; the page's gallery shows up to 16
MAX_COVER = 0.5  # a brush may paint at most this share of the square: the photo around the strokes must stay
EDGE_TARGET = 0.25  # a sketched line asks for an edge of at least this contrast (grey levels 0..1, Sobel / 4)


@dataclass(frozen=True)
class BrushConfig:
    """The candidates' optimisation."""

    steps: int = 15  # Adam steps per candidate (all but the first run together, as one batch); 15 keep the first
    # candidate under 1 s on 2 CPU cores (64 px); on a held-out photo they cut the colour error by 83 % (10: 77 %)
    latent_lr: float = 0.15  # Adam rate for the latent, in units of its spread (generator.latent_std())
    offset_lr: float = 0.1  # Adam rate for the feature offset, in units of the features' RMS
    spread: float = 1 / 8  # the region: the strokes grown by this share of the side
    blur: float = 1.0  # sigma (model pixels) of the blur before colours are compared
    keep_weight: float = 1.0  # L1 to the unedited render outside the strokes
    # A line asks for an edge, not for colour: without this term the edge is met with garish stripes (3 real
    # photos: edge error 0.000-0.001 at 0, 0.000-0.004 at 1, 0.005-0.020 at 3, and only at 3 does the line read
    # as a drawn edge in the photo's own colours).
    sketch_tone_weight: float = 3.0  # L1 of the low band (blur σ 2) to the unedited render's along the sketch lines
    latent_weight: float = 0.05  # mean((z - z0)²) / spread²: stay near the photo's inversion
    offset_penalty: float = 0.05  # mean(d²) / RMS²: the offset stays small, the latent does the work
    encoder_weight: float = 0.05  # ||E(G(z)) - z||² / spread² (models with an encoder)
    # 4 photos, one random colour stroke each (not the bench's): at 0.8 / 1.5 / 2.5 the best candidate's error was
    # 9.6 24.8 20.7 5.6 / 8.7 7.0 20.7 3.8 / 11.1 5.0 20.2 3.3 and the candidates' spread 6.0 / 8.2 / 8.5 (median):
    # 1.5 is better on both counts on every photo; 2.5 spreads a little more but loses on one photo.
    start_step: float = 1.5  # the other candidates start this many spreads from z0 (seeded directions)


@dataclass(frozen=True)
class BrushSpec:
    """A colour / sketch brush as the user gave it, on the model's square, and which candidate to use."""

    color: np.ndarray | None = None  # float32 [S, S, 3] in 0..255: the painted colours (read under color_mask)
    color_mask: np.ndarray | None = None  # float32 [S, S] in [0, 1]: where colour was painted
    sketch: np.ndarray | None = None  # float32 [S, S] in [0, 1]: sketched lines (edges wanted there)
    candidates: int = 4  # how many results to offer (diverse starts)
    pick: int = 0  # which candidate the edit uses (0 = the best)
    morph: float = 1.0  # in [0, 1]: from the photo's inversion (0) to the picked candidate (1)
    seed: int = 0  # seeds the candidates' starts
    enabled: bool = True

    @property
    def mask(self) -> np.ndarray:
        """float32 [S, S]: everything painted (colour strokes and sketch lines)."""
        parts = [np.asarray(m, np.float32) for m in (self.color_mask, self.sketch) if m is not None]
        return np.maximum.reduce(parts) if parts else np.zeros((1, 1), np.float32)

    def check(self, *, resolution: int) -> None:
        """Every cheap check, before any setup: ``StrokeError`` says what to change."""
        for name, value, shape in (("colour strokes", self.color_mask, (resolution, resolution)),
                                   ("sketch", self.sketch, (resolution, resolution)),
                                   ("colours", self.color, (resolution, resolution, 3))):
            if value is not None and (np.asarray(value).shape != shape or not np.isfinite(value).all()):
                raise StrokeError(f"the {name} must be a {'×'.join(map(str, shape))} array of numbers on the model's "
                                  f"square, got {shown(getattr(value, 'shape', value))}")
        if self.color_mask is not None and self.color is None:
            raise StrokeError("colour strokes need their colours")
        cover = float((self.mask > 0).mean())
        if cover == 0:
            raise StrokeError("the brush is empty: paint a colour stroke or sketch a line over the photo first")
        if cover > MAX_COVER:
            raise StrokeError(f"the brush strokes cover {cover:.0%} of the photo: a brush edit keeps the photo around "
                              f"its strokes, so paint at most {MAX_COVER:.0%} of it (for a change of the whole photo, "
                              "use a direction)")
        for name, value, low, high in (("candidates", self.candidates, 1, MAX_CANDIDATES),
                                       ("pick", self.pick, 0, int(self.candidates) - 1 if _whole(self.candidates) else 0)):
            if not _whole(value) or not low <= value <= high:
                raise StrokeError(f"brush {name} must be a whole number in [{low}, {high}], got {shown(value)}")
        seed_value("brush seed", self.seed)
        unit_interval("brush morph", self.morph)

    def key(self) -> str:
        """sha256 of what the candidates depend on (not pick, morph, enabled)."""
        h = hashlib.sha256(repr((int(self.candidates), int(self.seed))).encode())
        for part in (self.color, self.color_mask, self.sketch):
            h.update(b"-" if part is None else np.ascontiguousarray(part, np.float32).tobytes())
        return h.hexdigest()

    def search(self, engine: EditEngine, state: PhotoState, *,
               on_candidate: Callable[[int, int, BrushCandidate], None] | None = None) -> list[BrushCandidate]:
        """:func:`brush_candidates` for this brush: what :meth:`EditEngine.brush_candidates
        <ganpaint_core.edit.engine.EditEngine.brush_candidates>` calls when its cache does not hold them."""
        return brush_candidates(engine, state, self, on_candidate=on_candidate)

    def describe(self) -> str:
        kinds = [k for k, m in (("colour", self.color_mask), ("sketch", self.sketch)) if m is not None and m.any()]
        return (f"{' + '.join(kinds)} brush · candidate {self.pick + 1} of {self.candidates} · morph {self.morph:.2f}"
                f" · {float((self.mask > 0).mean()) * 100:.0f}% of the square")

    # -- the stroke kind (ganpaint_core.edit.kinds.StrokeKind; its recipe form: edit.brush_recipe) ---------
    kind: ClassVar[str] = "brush"
    has_candidates: ClassVar[bool] = True  # results to pick from: engine.brush_candidates, then ``pick``
    needs_directions: ClassVar[bool] = False
    portable: ClassVar[bool] = False  # made on its model's square, in its latent space
    concepts: ClassVar[tuple[str, ...]] = ()

    def check_on(self, engine: EditEngine, *, callback: Any = None) -> None:
        self.check(resolution=engine.resolution)

    def resolve(self, engine: EditEngine, state: PhotoState) -> FeatureEdit:
        """The picked candidate (the candidates are kept by content: a second render finds them again)."""
        return brush_edit(engine, state, self, engine.brush_candidates(state, self)[self.pick])

    def to_record(self, applied: FeatureEdit) -> dict[str, Any]:
        """Its paint on the model's square (RGBA colours, opaque where painted; white lines) and its choice."""
        out: dict[str, Any] = {"kind": "brush", "description": self.describe(), "color_png_base64": None,
                               "sketch_png_base64": None}
        if self.color_mask is not None and self.color_mask.any():
            rgba = np.concatenate([np.clip(np.asarray(self.color), 0, 255), np.asarray(self.color_mask)[..., None] * 255],
                                  -1)
            out["color_png_base64"] = encode_png_base64(Image.fromarray(rgba.round().astype(np.uint8), "RGBA"))
        if self.sketch is not None and self.sketch.any():
            lines = (np.asarray(self.sketch) * 255).round().astype(np.uint8)
            out["sketch_png_base64"] = encode_png_base64(Image.fromarray(lines, "L"))
        return out | {"candidates": int(self.candidates), "pick": int(self.pick), "morph": float(self.morph),
                      "seed": int(self.seed), "enabled": bool(self.enabled), **applied.info,
                      "mask_share": round(float((self.mask > 0).mean()), 5)}

    def label(self) -> str:
        return self.describe()

    def references(self) -> dict[str, Any]:
        return {}  # its paint is in its record

    def with_strength(self, strength: float) -> BrushSpec:
        return self  # no strength: morph is its own

    def settings(self) -> dict[str, float]:
        return {}  # nothing to change in place (morph is picked with the candidate)

    def with_settings(self, values: Mapping[str, float]) -> BrushSpec:
        refuse_settings(self.describe(), values)
        return self

    def on_square(self, resolution: int) -> BrushSpec:
        return self


def brush_from_images(color: np.ndarray | None, sketch: np.ndarray | None, photo: Photo, *, resolution: int,
                      candidates: int = 4, pick: int = 0, morph: float = 1.0, seed: int = 0) -> BrushSpec:
    """A brush from painted images over the photo at any scale (a canvas layer, a PNG): ``color`` uint8
    [h, w, 4] (opaque where painted, in the paint's colour) or [h, w, 3] (black = not painted); ``sketch``
    [h, w(, c)] (opaque or bright on the lines). Colours are averaged over each model pixel's painted part;
    lines are kept one model pixel wide however thin they were drawn."""
    color_sq = color_mask = sketch_sq = None
    if color is not None:
        rgb = np.asarray(color, np.float32)
        if rgb.ndim != 3 or rgb.shape[-1] not in (3, 4):
            raise StrokeError(f"colour strokes must be an RGB or RGBA image, got shape {rgb.shape}")
        painted = (rgb[..., 3] > MASK_ALPHA_THRESHOLD) if rgb.shape[-1] == 4 else rgb.max(-1) > 0
        painted = painted.astype(np.float32)
        if painted.any():
            color_mask = mask_to_square(painted, photo, resolution)
            sums = np.stack([mask_to_square(rgb[..., c] / 255 * painted, photo, resolution) for c in range(3)], -1)
            color_sq = np.where(color_mask[..., None] > 0, sums / np.maximum(color_mask[..., None], 1e-6), 0) * 255
    if sketch is not None:
        lines = np.asarray(sketch, np.float32)
        lines = lines[..., 3] if lines.ndim == 3 and lines.shape[-1] == 4 else (lines.max(-1) if lines.ndim == 3 else lines)
        lines = (lines > MASK_ALPHA_THRESHOLD).astype(np.float32)
        if lines.any():
            cell = photo.box.side * lines.shape[1] / photo.size[0] / resolution  # mask pixels per model pixel
            sketch_sq = np.clip(mask_to_square(lines, photo, resolution) * cell, 0, 1)
    return BrushSpec(color=None if color_sq is None else color_sq.astype(np.float32), color_mask=color_mask,
                     sketch=sketch_sq, candidates=candidates, pick=pick, morph=morph, seed=seed)


def _whole(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class BrushCandidate:
    """One result of the brush's optimisation (CPU tensors)."""

    latent: torch.Tensor  # the candidate's head latent (z or W+), [1, ...] like the photo's
    offset: torch.Tensor  # [1, C, g, g] feature offset under the region
    preview: np.ndarray  # uint8 [S, S, 3]: the adapted render with the candidate at morph 1
    color_error: float  # mean |render - colour| under the colour strokes, 0..255 (nan without colour strokes)
    edge_error: float  # mean missing edge under the sketch lines, 0..1 (nan without a sketch)
    seconds: float  # since the optimisation started, when this candidate was ready

    def caption(self) -> str:
        """"off 31": the colours' mean error (0..255); "edges 88%": how much of the sketched lines got an edge."""
        parts = [f"off {self.color_error:.0f}"] if not math.isnan(self.color_error) else []
        return " · ".join(parts + ([f"edges {1 - self.edge_error:.0%}"] if not math.isnan(self.edge_error) else []))


# -- constraints -----------------------------------------------------------------------------------
def edges(image: torch.Tensor) -> torch.Tensor:
    """[N, 1, S, S]: Sobel gradient magnitude of the grey image of ``image`` [N, 3, S, S] in [-1, 1], in grey
    levels 0..1 (a step from black to white reads 1)."""
    grey = ((image + 1) / 2).mul(torch.tensor([0.299, 0.587, 0.114], device=image.device).view(1, 3, 1, 1)).sum(1, True)
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=image.device) / 4
    k = torch.stack([kx, kx.T])[:, None]  # [2, 1, 3, 3]
    g = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), k)
    return g.pow(2).sum(1, True).add(1e-8).sqrt()


def blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur of ``image`` [N, C, S, S] (edges replicated)."""
    if sigma <= 0:
        return image
    r = max(1, math.ceil(2 * sigma))
    x = torch.arange(-r, r + 1, dtype=image.dtype, device=image.device)
    k = torch.exp(-x**2 / (2 * sigma**2))
    k = (k / k.sum()).view(1, 1, 1, -1).expand(image.shape[1], 1, 1, -1)
    out = F.conv2d(F.pad(image, (r, r, 0, 0), mode="replicate"), k, groups=image.shape[1])
    return F.conv2d(F.pad(out, (0, 0, r, r), mode="replicate"), k.transpose(2, 3), groups=image.shape[1])


def color_error(render: np.ndarray, spec: BrushSpec) -> float:
    """Mean |render - colour| under the colour strokes (uint8 [S, S, 3] render; 0..255), nan without them."""
    if spec.color_mask is None or not spec.color_mask.any():
        return float("nan")
    w = np.asarray(spec.color_mask, np.float32)[..., None]
    diff = np.abs(render.astype(np.float32) - np.asarray(spec.color, np.float32))
    return float((diff * w).sum() / (w.sum() * 3))


def edge_error(render: np.ndarray, spec: BrushSpec) -> float:
    """Mean share of the wanted edge missing under the sketch lines (0 = every line shows an edge of at least
    ``EDGE_TARGET``), nan without a sketch."""
    if spec.sketch is None or not spec.sketch.any():
        return float("nan")
    img = torch.from_numpy(render.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    missing = (1 - edges(img)[0, 0] / EDGE_TARGET).clamp(min=0).numpy()
    w = np.asarray(spec.sketch, np.float32)
    return float((missing * w).sum() / w.sum())


def brush_region(spec: BrushSpec, *, grid: int, spread: float) -> tuple[torch.Tensor, np.ndarray]:
    """The region the brush may change: its alpha on the edit grid [1, 1, g, g] (the strokes grown by
    ``spread`` of the side) and the share of the render's change the photo takes [S, S] (1 over the alpha's
    support, fading out past it as around unit edits)."""
    painted = spec.mask > 0
    side = painted.shape[0]
    grown = (distance_to(painted) <= spread * side).astype(np.float32)
    alpha = grid_alpha(grown, grid)  # [1, 1, g, g]
    support = F.interpolate(alpha, size=(side, side), mode="bilinear", align_corners=False)[0, 0].numpy() > 0
    return alpha, change_region(support.astype(np.float32), reach=1.5 / grid)


# -- the optimisation ------------------------------------------------------------------------------
@dataclass
class _Problem:
    """What every candidate's step needs, on the engine's device."""

    f0: torch.Tensor  # [1, C, g, g] the photo's edit-layer features
    h0: torch.Tensor  # [1, C, g, g] head(z0)
    z0: torch.Tensor  # the photo's latent
    alpha: torch.Tensor  # [1, 1, g, g] the region on the edit grid
    base: torch.Tensor  # [1, 3, S, S] the adapted render without the edit
    color: torch.Tensor | None  # [1, 3, S, S] in [-1, 1]
    color_w: torch.Tensor | None  # [1, 1, S, S]
    sketch_w: torch.Tensor | None  # [1, 1, S, S]
    keep_w: torch.Tensor  # [1, 1, S, S]: 1 outside the strokes
    base_low: torch.Tensor  # [1, 3, S, S] the unedited render's low band (blur σ 2)
    band_w: torch.Tensor | None  # [1, 1, S, S]: the sketch lines grown by 2 pixels
    scale: float  # mean square of the features
    spread: float  # the latent's spread per coordinate


def _problem(engine: EditEngine, state: PhotoState, spec: BrushSpec, cfg: BrushConfig) -> _Problem:
    dev = engine.device
    as_map = lambda m: torch.from_numpy(np.ascontiguousarray(m, np.float32))[None, None].to(dev)  # noqa: E731
    z0 = state.latent.to(dev)
    f0 = state.features.to(dev)
    alpha, _ = brush_region(spec, grid=f0.shape[-1], spread=cfg.spread)
    has_color = spec.color_mask is not None and spec.color_mask.any()
    has_sketch = spec.sketch is not None and spec.sketch.any()
    color = (torch.from_numpy(np.asarray(spec.color, np.float32)).permute(2, 0, 1)[None].to(dev) / 127.5 - 1
             if has_color else None)
    with torch.no_grad():
        h0 = engine.head(z0)
    return _Problem(f0=f0, h0=h0, z0=z0, alpha=alpha.to(dev), base=state.base_render.to(dev), color=color,
                    color_w=as_map(spec.color_mask) if has_color else None,
                    sketch_w=as_map(spec.sketch) if has_sketch else None, keep_w=1 - as_map(spec.mask > 0),
                    base_low=blur(state.base_render.to(dev), 2.0),
                    band_w=F.max_pool2d(as_map(spec.sketch), 5, stride=1, padding=2) if has_sketch else None,
                    scale=f0.pow(2).mean().item() + 1e-8, spread=engine.model.generator.latent_std())


def _features(engine: EditEngine, p: _Problem, z: torch.Tensor, offset: torch.Tensor, t: float = 1.0) -> torch.Tensor:
    """[N, C, g, g]: the photo's features with the candidates' change under the region, ``t`` of the way."""
    zt = z if t == 1 else p.z0 + t * (z - p.z0)
    return p.f0 + p.alpha * (engine.head(zt) - p.h0 + t * offset)


def _render(engine: EditEngine, p: _Problem, features: torch.Tensor, adapter: Any) -> torch.Tensor:
    latent = p.z0.expand(len(features), *p.z0.shape[1:])
    return run_tail(engine.tail, features, latent=latent, modify=adapter)


def _losses(engine: EditEngine, p: _Problem, z: torch.Tensor, offset: torch.Tensor, image: torch.Tensor,
            cfg: BrushConfig) -> torch.Tensor:
    """[N]: each candidate's loss."""
    def mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (x * w).sum(dim=(1, 2, 3)) / (w.sum() * x.shape[1]).clamp(min=1e-6)

    loss = cfg.keep_weight * mean((image - p.base).abs(), p.keep_w)
    if p.color is not None:
        loss = loss + mean((blur(image, cfg.blur) - p.color).abs(), p.color_w)
    if p.sketch_w is not None:
        loss = loss + mean((1 - edges(image) / EDGE_TARGET).clamp(min=0), p.sketch_w)
        loss = loss + cfg.sketch_tone_weight * mean((blur(image, 2.0) - p.base_low).abs(), p.band_w)
    dims = tuple(range(1, z.dim()))
    loss = loss + cfg.latent_weight * (z - p.z0).pow(2).mean(dim=dims) / p.spread**2
    loss = loss + cfg.offset_penalty * offset.pow(2).mean(dim=(1, 2, 3)) / p.scale
    encoder = engine.model.encoder
    if encoder is not None and cfg.encoder_weight > 0:
        predicted = engine.model.generator.to_inversion_latent(encoder(image), space=encoder.latent_space)
        loss = loss + cfg.encoder_weight * (predicted - z).pow(2).mean(dim=dims) / p.spread**2
    return loss


def _optimise(engine: EditEngine, p: _Problem, starts: torch.Tensor, adapter: Any, cfg: BrushConfig) -> tuple[torch.Tensor, torch.Tensor]:
    z = starts.clone().requires_grad_(True)
    offset = torch.zeros(len(starts), *p.f0.shape[1:], device=p.f0.device, requires_grad=True)
    opt = torch.optim.Adam([{"params": [z], "lr": cfg.latent_lr * p.spread},
                            {"params": [offset], "lr": cfg.offset_lr * math.sqrt(p.scale)}])
    good = (z.detach().clone(), offset.detach().clone())
    for _ in range(cfg.steps):
        loss = _losses(engine, p, z, offset, _render(engine, p, _features(engine, p, z, offset), adapter), cfg).sum()
        if not math.isfinite(loss.item()):
            break
        good = (z.detach().clone(), offset.detach().clone())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    else:
        good = (z.detach().clone(), offset.detach().clone())
    return good


def _starts(p: _Problem, n: int, *, seed: int, step: float) -> torch.Tensor:
    """[n, ...]: z0, then z0 moved ``step`` spreads along seeded random directions (one per candidate; the
    same move for every row of a W+ latent)."""
    g = torch.Generator().manual_seed(int(seed))
    shape = (n - 1, *([1] * (p.z0.dim() - 2)), p.z0.shape[-1])
    noise = torch.randn(shape, generator=g).to(p.z0.device)
    noise = noise / noise.pow(2).mean(dim=-1, keepdim=True).sqrt()
    return torch.cat([p.z0, p.z0 + step * p.spread * noise.expand(n - 1, *p.z0.shape[1:])])


def brush_candidates(engine: EditEngine, state: PhotoState, spec: BrushSpec, *, cfg: BrushConfig = BrushConfig(),
                     on_candidate: Callable[[int, int, BrushCandidate], None] | None = None) -> list[BrushCandidate]:
    """The brush's ``spec.candidates`` results on the photo, best first (by colour, then edge error).

    The first candidate (from the photo's own latent) is optimised alone, so it is ready early; the others
    (diverse starts) together in one batch. ``on_candidate(i, n, candidate)`` reports each as it is ready."""
    t0 = time.monotonic()
    p = _problem(engine, state, spec, cfg)
    adapter = engine.adapter_for(state)
    if adapter is not None:
        adapter.release = engine.release_mask([FeatureEdit(kind="brush", delta=p.f0, mask=spec.mask,
                                                           region=spec.mask)], grid=p.f0.shape[-1])
    starts = _starts(p, int(spec.candidates), seed=spec.seed, step=cfg.start_step)
    found: list[BrushCandidate] = []
    for group in ([0], list(range(1, len(starts)))):
        if not group:
            continue
        with torch.enable_grad():
            z, offset = _optimise(engine, p, starts[group], adapter, cfg)
        with torch.no_grad():
            images = _render(engine, p, _features(engine, p, z, offset), adapter)
        for i in range(len(group)):
            preview = to_uint8(images[i])
            cand = BrushCandidate(latent=z[i:i + 1].cpu(), offset=offset[i:i + 1].cpu(), preview=preview,
                                  color_error=color_error(preview, spec), edge_error=edge_error(preview, spec),
                                  seconds=time.monotonic() - t0)
            found.append(cand)
            if on_candidate is not None:
                on_candidate(len(found) - 1, len(starts), cand)
    rank = lambda c: tuple(0.0 if math.isnan(e) else e for e in (c.color_error, c.edge_error * 255))  # noqa: E731
    return sorted(found, key=lambda c: sum(rank(c)))


@torch.no_grad()
def brush_edit(engine: EditEngine, state: PhotoState, spec: BrushSpec, candidate: BrushCandidate,
               *, cfg: BrushConfig = BrushConfig()) -> FeatureEdit:
    """The picked ``candidate``, ``spec.morph`` of the way from the photo's inversion, as a feature edit."""
    p = _problem(engine, state, spec, cfg)
    features = _features(engine, p, candidate.latent.to(engine.device), candidate.offset.to(engine.device),
                         t=float(spec.morph))
    _, region = brush_region(spec, grid=p.f0.shape[-1], spread=cfg.spread)
    info = {"color_error": _rounded(candidate.color_error), "edge_error": _rounded(candidate.edge_error),
            "candidate_s": round(candidate.seconds, 3)}
    return FeatureEdit(kind="brush", delta=(features - p.f0).cpu(), mask=spec.mask.astype(np.float32), region=region,
                       enabled=bool(spec.enabled), info=info)


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)
