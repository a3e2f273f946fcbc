"""The warping brush (iGAN's third brush, optimised as DragGAN does, Pan et al. 2023): drag a point, or a
painted region, to a target; the content there moves, everything else stays the photo's inversion.

As for the colour brush (:mod:`ganpaint_core.edit.brush`) a candidate moves its own latent ``z`` and a feature
offset ``d`` at the edit layer, inside the warp's *region* (the source and the target place, grown)::

    f = f0 + a · (head(z) - head(z0) + d)

Each step is DragGAN's:

- **motion supervision**: the tail's intermediate features ``F`` (the layer at half the model's resolution,
  upsampled to the model's square) of the disc around the current handle ``p`` are asked to appear one pixel
  further toward the target: ``|F(q + u) - sg(F(q))|`` for the disc's points ``q``, ``u = (t - p) / |t - p|``;
- **the rest stays**: L1 of the render to the unedited render outside the region, and the latent near ``z0``;
- **point tracking**: the handle is found again by nearest-neighbour search of its first features (a 3 × 3
  patch of ``F``) within ``track_reach`` pixels of where it was.

A candidate stops when its tracked handle is within ``done_px`` of the target. The K candidates start from
``z0`` and from seeded steps around it (iGAN's diverse starts), and are returned best first by how far the
handle ended from the target (the warp's constraint cost). The picked one, ``morph`` of the way, becomes a
:class:`~ganpaint_core.edit.strokes.FeatureEdit` whose ``motion`` is the known displacement (the tracked
handle's, with a smooth falloff around the moved region), which the flow transfer
(:mod:`ganpaint_core.edit.flow`) applies to the photo's own pixels.

Example::

    spec = WarpSpec(handle=(20, 30), target=(28, 30), radius=5)      # on the model's square, pixels
    found = engine.brush_candidates(state, spec)                      # best first; found[0].handle_error
    edit = spec.resolve(engine, state)                                # FeatureEdit (delta, motion, region)
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
from ganpaint_core.core.photo import to_uint8
from ganpaint_core.edit.brush import MAX_CANDIDATES, MAX_COVER
from ganpaint_core.edit.composite import change_region
from ganpaint_core.edit.embedded import encode_png_base64
from ganpaint_core.edit.spec import seed_value, unit_interval
from ganpaint_core.edit.strokes import FeatureEdit, StrokeError, grid_alpha, refuse_settings
from ganpaint_core.edit.warp_field import motion_field, move_features, shifted
from ganpaint_core.models.layers import run_tail, tail_layer_shapes

if TYPE_CHECKING:
    from ganpaint_core.edit.engine import EditEngine, PhotoState

MIN_RADIUS = 1.0  # model pixels


@dataclass(frozen=True)
class WarpConfig:
    """The candidates' optimisation (DragGAN's loop on the edit layer)."""

    steps: int = 60  # at most this many motion-supervision steps per candidate
    latent_lr: float = 0.05  # Adam rate for the latent, in units of its spread
    offset_lr: float = 0.2  # Adam rate for the feature offset, in units of the features' RMS
    spread: float = 1 / 16  # the region: the source and target places grown by this share of the side
    keep_weight: float = 10.0  # L1 to the unedited render outside the region (DragGAN's mask term, λ = 10)
    latent_weight: float = 0.05  # mean((z - z0)²) / spread²
    track_reach: int = 2  # point tracking searches this many pixels around the handle
    done_px: float = 1.0  # a candidate stops when its handle is this close to the target
    start_step: float = 0.5  # the other candidates start this many spreads from z0 (seeded directions)
    falloff: float = 1 / 32  # the motion field fades to 0 over this share of the side past the moved region


@dataclass(frozen=True)
class WarpSpec:
    """A drag on the model's square: from ``handle`` to ``target`` (x, y pixels), moving the disc of
    ``radius`` around the handle, or the painted ``source`` region when given."""

    handle: tuple[float, float]
    target: tuple[float, float]
    radius: float = 4.0  # model pixels: the disc that moves (without a painted source)
    source: np.ndarray | None = None  # float32 [S, S] in [0, 1]: a painted region to move (its pixels > 0)
    resolution: int = 64  # the model's square side (a drag's masks are built on it)
    candidates: int = 4
    pick: int = 0
    morph: float = 1.0
    seed: int = 0
    enabled: bool = True

    # -- geometry ----------------------------------------------------------------------------------
    @property
    def drag(self) -> np.ndarray:
        return np.subtract(self.target, self.handle).astype(np.float32)

    def source_mask(self) -> np.ndarray:
        """bool [S, S]: what moves."""
        if self.source is not None:
            return np.asarray(self.source) > 0
        s = self.resolution
        yy, xx = np.mgrid[:s, :s] + 0.5
        return (xx - self.handle[0] - 0.5) ** 2 + (yy - self.handle[1] - 0.5) ** 2 <= self.radius ** 2

    def moved_mask(self, fraction: float = 1.0) -> np.ndarray:
        """bool [S, S]: the source region moved ``fraction`` of the drag (whole pixels)."""
        return shifted(self.source_mask(), self.drag * fraction)

    @property
    def mask(self) -> np.ndarray:
        """float32 [S, S]: the source and the target place (what the photo's adaptation lets go)."""
        return (self.source_mask() | self.moved_mask()).astype(np.float32)

    def check(self, *, resolution: int) -> None:
        """Every cheap check, before any setup: ``StrokeError`` says what to change."""
        if int(self.resolution) != int(resolution):
            raise StrokeError(f"the warp was made on a {self.resolution}-pixel square, the model's is {resolution}")
        for name, point in (("handle", self.handle), ("target", self.target)):
            if (len(point) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in point)
                    or not all(0 <= v <= resolution for v in point)):
                raise StrokeError(f"the warp's {name} must be two numbers in [0, {resolution}] on the model's square, "
                                  f"got {shown(point)}")
        if float(np.hypot(*self.drag)) < 1:
            raise StrokeError("the drag is shorter than a model pixel: drag further from the start to the target")
        if self.source is None and not (isinstance(self.radius, (int, float)) and MIN_RADIUS <= self.radius <= resolution / 4):
            raise StrokeError(f"the warp's radius must be a number in [{MIN_RADIUS:g}, {resolution / 4:g}] model pixels, "
                              f"got {shown(self.radius)}")
        if self.source is not None:
            src = np.asarray(self.source)
            if src.shape != (resolution, resolution) or not np.isfinite(src).all():
                raise StrokeError(f"the warp's region must be a {resolution}×{resolution} mask, got {shown(src.shape)}")
            if not (src > 0).any():
                raise StrokeError("the warp's region is empty: paint what should move, then drag")
        if float((self.mask > 0).mean()) > MAX_COVER:
            raise StrokeError(f"the warp covers more than {MAX_COVER:.0%} of the photo: move a smaller region")
        for name, value, high in (("candidates", self.candidates, MAX_CANDIDATES), ("pick", self.pick, self.candidates - 1)):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high or (name == "candidates" and value < 1):
                raise StrokeError(f"warp {name} must be a whole number in [{int(name == 'candidates')}, {high}], "
                                  f"got {shown(value)}")
        seed_value("warp seed", self.seed)
        unit_interval("warp morph", self.morph)

    def key(self) -> str:
        """sha256 of what the candidates depend on (not pick, morph, enabled)."""
        h = hashlib.sha256(repr(("warp", tuple(map(float, self.handle)), tuple(map(float, self.target)),
                                 float(self.radius), int(self.resolution), int(self.candidates), int(self.seed))).encode())
        h.update(b"-" if self.source is None else np.ascontiguousarray(self.source > 0).tobytes())
        return h.hexdigest()

    def search(self, engine: EditEngine, state: PhotoState, *,
               on_candidate: Callable[[int, int, WarpCandidate], None] | None = None) -> list[WarpCandidate]:
        return warp_candidates(engine, state, self, on_candidate=on_candidate)

    def describe(self) -> str:
        (x0, y0), (x1, y1) = self.handle, self.target
        what = "region" if self.source is not None else f"r {self.radius:g}"
        return (f"warp ({x0:.0f},{y0:.0f})→({x1:.0f},{y1:.0f}) {what} · candidate {self.pick + 1} of "
                f"{self.candidates} · morph {self.morph:.2f}")

    # -- the stroke kind (ganpaint_core.edit.kinds.StrokeKind; its recipe form: edit.warp_recipe) ---------
    kind: ClassVar[str] = "warp"
    has_candidates: ClassVar[bool] = True
    needs_directions: ClassVar[bool] = False
    portable: ClassVar[bool] = False

    @property
    def concepts(self) -> tuple[str, ...]:
        return ()

    def check_on(self, engine: EditEngine, *, callback: Any = None) -> None:
        self.check(resolution=engine.resolution)

    def resolve(self, engine: EditEngine, state: PhotoState) -> FeatureEdit:
        found = engine.brush_candidates(state, self)
        return warp_edit(engine, state, self, found[min(int(self.pick), len(found) - 1)])

    def to_record(self, applied: Any) -> dict[str, Any]:
        record = {"kind": "warp", "space": "square", "handle": [round(float(v), 3) for v in self.handle],
                  "target": [round(float(v), 3) for v in self.target], "radius": float(self.radius),
                  "candidates": int(self.candidates), "pick": int(self.pick), "morph": float(self.morph),
                  "seed": int(self.seed), "enabled": bool(self.enabled), **getattr(applied, "info", {})}
        if self.source is not None:
            record["region_png_base64"] = encode_png_base64(Image.fromarray(((np.asarray(self.source) > 0) * 255).astype(np.uint8)))
        return record

    def label(self) -> str:
        return self.describe()

    def references(self) -> dict[str, Any]:
        return {}

    def with_strength(self, strength: float) -> WarpSpec:
        return self

    def settings(self) -> dict[str, float]:
        return {}  # a drag has nothing to change in place: drag again

    def with_settings(self, values: Mapping[str, float]) -> WarpSpec:
        refuse_settings(self.describe(), values)
        return self

    def on_square(self, resolution: int) -> WarpSpec:
        return self


@dataclass(frozen=True)
class WarpCandidate:
    """One result of the warp's optimisation (CPU tensors)."""

    latent: torch.Tensor  # [1, ...] the candidate's head latent
    offset: torch.Tensor  # [1, C, g, g] feature offset under the region
    preview: np.ndarray  # uint8 [S, S, 3]: the adapted render with the candidate at morph 1
    handle_end: tuple[float, float]  # where point tracking last found the handle (x, y)
    handle_error: float  # its distance to the target, model pixels (the warp's constraint cost)
    steps: int  # motion-supervision steps taken
    seconds: float  # since the optimisation started, when this candidate was ready

    @property
    def cost(self) -> float:
        return self.handle_error

    def caption(self) -> str:
        return f"handle {self.handle_error:.1f} px off"


# -- the optimisation ------------------------------------------------------------------------------
@dataclass
class _Problem:
    """What every candidate's step needs, on the engine's device."""

    f0: torch.Tensor  # [1, C, g, g] the photo's edit-layer features
    h0: torch.Tensor  # [1, C, g, g] head(z0)
    z0: torch.Tensor  # the photo's latent
    alpha: torch.Tensor  # [1, 1, g, g] the region on the edit grid
    base: torch.Tensor  # [1, 3, S, S] the adapted render without the edit
    keep_w: torch.Tensor  # [1, 1, S, S]: 1 outside the region
    layer: str  # the tail layer whose features are supervised and tracked
    disc: torch.Tensor  # [P, 2] (x, y) offsets of the disc's points around the handle
    init: torch.Tensor  # [1, C, g, g] the offset that moves the features by the drag (the first guess)
    scale: float  # mean square of the features
    spread: float  # the latent's spread per coordinate


def warp_region(spec: WarpSpec, *, grid: int, spread: float) -> tuple[torch.Tensor, np.ndarray]:
    """The region the warp may change: its alpha on the edit grid [1, 1, g, g] (the source and the target place
    grown by ``spread`` of the side) and the share of the render's change the photo takes [S, S]."""
    side = spec.resolution
    grown = (distance_to(spec.mask > 0) <= spread * side).astype(np.float32)
    alpha = grid_alpha(grown, grid)
    support = F.interpolate(alpha, size=(side, side), mode="bilinear", align_corners=False)[0, 0].numpy() > 0
    return alpha, change_region(support.astype(np.float32), reach=1.5 / grid)


def _supervised_layer(engine: EditEngine) -> str:
    """The tail layer at half the model's resolution (DragGAN reads a middle block's features), else the last
    layer below the output."""
    shapes = tail_layer_shapes(engine.model.generator, engine.layer)
    names = list(shapes)[:-1] or list(shapes)
    half = [n for n in names if shapes[n][1] == engine.resolution // 2]
    return half[-1] if half else names[-1]


def _problem(engine: EditEngine, state: PhotoState, spec: WarpSpec, cfg: WarpConfig) -> _Problem:
    dev = engine.device
    z0, f0 = state.latent.to(dev), state.features.to(dev)
    alpha, region = warp_region(spec, grid=f0.shape[-1], spread=cfg.spread)
    with torch.no_grad():
        h0 = engine.head(z0)
    src = spec.source_mask()
    if spec.source is not None:  # a painted region: its own radius (the disc of equal area), at most 6 px
        r = min(6.0, max(1.5, math.sqrt(src.sum() / math.pi)))
    else:
        r = float(spec.radius)
    k = int(math.ceil(r))
    yy, xx = np.mgrid[-k:k + 1, -k:k + 1]
    inside = xx ** 2 + yy ** 2 <= r * r
    disc = torch.tensor(np.stack([xx[inside], yy[inside]], -1), dtype=torch.float32, device=dev)
    keep = torch.from_numpy((region == 0).astype(np.float32))[None, None].to(dev)
    field = motion_field(spec.moved_mask(), spec.drag, falloff=cfg.falloff * spec.resolution)
    arrived = np.hypot(*field.transpose(2, 0, 1)) >= 0.5 * np.hypot(*spec.drag)
    share = lambda m: F.adaptive_avg_pool2d(torch.from_numpy(m.astype(np.float32))[None, None],  # noqa: E731
                                            f0.shape[-1])[0, 0].numpy()
    # every cell the source touches and little moved content reaches: a cell left half filled shows both
    vacated = (share(src & ~arrived) > 0) & (share(arrived) < 0.25)
    moved = move_features(f0, field, vacated=vacated)
    a = alpha.to(dev)
    init = torch.where(a > 0, (moved - f0) / a.clamp(min=1e-3), torch.zeros_like(f0))
    return _Problem(init=init, f0=f0, h0=h0, z0=z0, alpha=alpha.to(dev), base=state.base_render.to(dev), keep_w=keep,
                    layer=_supervised_layer(engine), disc=disc, scale=f0.pow(2).mean().item() + 1e-8,
                    spread=engine.model.generator.latent_std())


def _features(engine: EditEngine, p: _Problem, z: torch.Tensor, offset: torch.Tensor, t: float = 1.0) -> torch.Tensor:
    zt = z if t == 1 else p.z0 + t * (z - p.z0)
    return p.f0 + p.alpha * (engine.head(zt) - p.h0 + t * offset)


def _render(engine: EditEngine, p: _Problem, features: torch.Tensor, adapter: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The render [N, 3, S, S] and the supervised layer's features upsampled to the square [N, C, S, S]."""
    tapped: dict[str, torch.Tensor] = {}

    def tap(name: str, x: torch.Tensor) -> torch.Tensor:
        x = adapter(name, x) if adapter is not None else x
        if name == p.layer:
            tapped["x"] = x
        return x

    latent = p.z0.expand(len(features), *p.z0.shape[1:])
    image = run_tail(engine.tail, features, latent=latent, modify=tap)
    return image, F.interpolate(tapped["x"], size=image.shape[-2:], mode="bilinear", align_corners=False)


def _sample(feats: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """[N, C, P]: ``feats`` [N, C, S, S] read at ``points`` [N, P, 2] (x, y pixel centres at +0.5), bilinear."""
    s = feats.shape[-1]
    grid = (points + 0.5) / s * 2 - 1  # [N, P, 2] in [-1, 1], align_corners=False
    return F.grid_sample(feats, grid[:, None], mode="bilinear", padding_mode="border", align_corners=False)[:, :, 0]


def _track(feats: torch.Tensor, template: torch.Tensor, handles: torch.Tensor, patch: torch.Tensor,
           reach: int) -> torch.Tensor:
    """[N, 2]: each candidate's handle found again: the whole pixel within ``reach`` of where it was whose patch
    of features (``patch`` [P, 2]: the moved disc's offsets) is nearest (L1) to ``template`` [N, C, P], the
    disc's at the start. The whole disc, not one point: inside a plain object every point looks alike."""
    k = torch.arange(-reach, reach + 1, dtype=torch.float32, device=feats.device)
    cand = torch.stack(torch.meshgrid(k, k, indexing="xy"), -1).reshape(-1, 2)  # [M, 2]
    centres = handles.round()[:, None] + cand[None]  # [N, M, 2]
    pts = (centres[:, :, None] + patch[None, None]).reshape(len(handles), -1, 2)  # [N, M·P, 2]
    read = _sample(feats, pts).reshape(feats.shape[0], feats.shape[1], cand.shape[0], len(patch))
    dist = (read - template[:, :, None]).abs().sum(dim=(1, 3))  # [N, M]
    return centres[torch.arange(len(handles)), dist.argmin(1)]


def _optimise(engine: EditEngine, p: _Problem, spec: WarpSpec, starts: torch.Tensor, adapter: Any,
              cfg: WarpConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """DragGAN's loop for the candidates started at ``starts``: latents, offsets, tracked handles [N, 2], steps."""
    n, dev = len(starts), p.f0.device
    z = starts.clone().requires_grad_(True)
    offset = p.init.expand(n, *p.f0.shape[1:]).clone().requires_grad_(True)
    opt = torch.optim.Adam([{"params": [z], "lr": cfg.latent_lr * p.spread},
                            {"params": [offset], "lr": cfg.offset_lr * math.sqrt(p.scale)}])
    handle0 = torch.tensor(spec.handle, dtype=torch.float32, device=dev).expand(n, 2)
    target = torch.tensor(spec.target, dtype=torch.float32, device=dev)
    with torch.no_grad():  # the handle's features on the unedited render, then found where the first guess put it
        _, feats0 = _render(engine, p, _features(engine, p, z, torch.zeros_like(offset)), adapter)
        template = _sample(feats0, handle0[:, None] + p.disc[None])  # [N, C, P]
        _, feats = _render(engine, p, _features(engine, p, z, offset), adapter)
        guess = handle0 + torch.from_numpy(spec.drag).to(dev)
        handles = _track(feats, template, guess, p.disc, cfg.track_reach + 1)
    steps = 0
    for steps in range(1, cfg.steps + 1):
        gap = target - handles  # [N, 2]
        dist = gap.norm(dim=1, keepdim=True)
        if bool((dist <= cfg.done_px).all()):
            steps -= 1
            break
        unit = torch.where(dist > cfg.done_px, gap / dist.clamp(min=1e-6), torch.zeros_like(gap))
        image, feats = _render(engine, p, _features(engine, p, z, offset), adapter)
        q = handles[:, None] + p.disc[None]  # [N, P, 2]
        motion = (_sample(feats, q + unit[:, None]) - _sample(feats, q).detach()).abs().mean(dim=(1, 2))
        keep = (image - p.base).abs().mul(p.keep_w).sum(dim=(1, 2, 3)) / (p.keep_w.sum() * 3).clamp(min=1)
        dims = tuple(range(1, z.dim()))
        loss = motion + cfg.keep_weight * keep + cfg.latent_weight * (z - p.z0).pow(2).mean(dim=dims) / p.spread ** 2
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        with torch.no_grad():
            _, feats = _render(engine, p, _features(engine, p, z, offset), adapter)
            moved = _track(feats, template, handles, p.disc, cfg.track_reach)
            handles = torch.where(dist > cfg.done_px, moved, handles)
    return z.detach(), offset.detach(), handles, steps


def _starts(p: _Problem, n: int, *, seed: int, step: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(int(seed))
    shape = (n - 1, *([1] * (p.z0.dim() - 2)), p.z0.shape[-1])
    noise = torch.randn(shape, generator=g).to(p.z0.device)
    noise = noise / noise.pow(2).mean(dim=-1, keepdim=True).sqrt()
    return torch.cat([p.z0, p.z0 + step * p.spread * noise.expand(n - 1, *p.z0.shape[1:])])


def warp_candidates(engine: EditEngine, state: PhotoState, spec: WarpSpec, *, cfg: WarpConfig = WarpConfig(),
                    on_candidate: Callable[[int, int, WarpCandidate], None] | None = None) -> list[WarpCandidate]:
    """The warp's ``spec.candidates`` results, best first (by the tracked handle's distance to the target). The
    first (from the photo's own latent) runs alone, so it is ready early; the others together."""
    t0 = time.monotonic()
    p = _problem(engine, state, spec, cfg)
    adapter = engine.adapter_for(state)
    if adapter is not None:
        adapter.release = engine.release_mask([_released(spec, p.f0)], grid=p.f0.shape[-1])
    starts = _starts(p, int(spec.candidates), seed=spec.seed, step=cfg.start_step)
    target = np.asarray(spec.target, np.float32)
    found: list[WarpCandidate] = []
    for group in ([0], list(range(1, len(starts)))):
        if not group:
            continue
        with torch.enable_grad():
            z, offset, handles, steps = _optimise(engine, p, spec, starts[group], adapter, cfg)
        with torch.no_grad():
            images, _ = _render(engine, p, _features(engine, p, z, offset), adapter)
        for i in range(len(group)):
            end = handles[i].cpu().numpy()
            cand = WarpCandidate(latent=z[i:i + 1].cpu(), offset=offset[i:i + 1].cpu(), preview=to_uint8(images[i]),
                                 handle_end=(float(end[0]), float(end[1])),
                                 handle_error=float(np.hypot(*(end - target))), steps=steps,
                                 seconds=time.monotonic() - t0)
            found.append(cand)
            if on_candidate is not None:
                on_candidate(len(found) - 1, len(starts), cand)
    return sorted(found, key=lambda c: c.handle_error)


def _released(spec: WarpSpec, f0: torch.Tensor) -> FeatureEdit:
    return FeatureEdit(kind="warp", delta=f0, mask=spec.mask, region=spec.mask)


@torch.no_grad()
def warp_edit(engine: EditEngine, state: PhotoState, spec: WarpSpec, candidate: WarpCandidate,
              *, cfg: WarpConfig = WarpConfig()) -> FeatureEdit:
    """The picked ``candidate``, ``spec.morph`` of the way from the photo's inversion, as a feature edit whose
    ``motion`` is the handle's tracked displacement (times the morph) with a smooth falloff."""
    p = _problem(engine, state, spec, cfg)
    t = float(spec.morph)
    features = _features(engine, p, candidate.latent.to(engine.device), candidate.offset.to(engine.device), t=t)
    _, region = warp_region(spec, grid=p.f0.shape[-1], spread=cfg.spread)
    shift = t * np.subtract(candidate.handle_end, spec.handle).astype(np.float32)
    motion = motion_field(shifted(spec.source_mask(), shift), shift, falloff=cfg.falloff * spec.resolution)
    motion = motion * (region > 0)[..., None]
    info = {"handle_error": round(candidate.handle_error, 3), "handle_end": [round(v, 2) for v in candidate.handle_end],
            "warp_steps": candidate.steps, "candidate_s": round(candidate.seconds, 3)}
    return FeatureEdit(kind="warp", delta=(features - p.f0).cpu(), mask=spec.mask, region=region,
                       enabled=bool(spec.enabled), info=info, motion=motion)
