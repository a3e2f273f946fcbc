"""Photo-to-photo transformation (iGAN's generative transformation, Zhu et al. 2016): both photos set up as
usual (inverted and adapted), then ``frames`` renders along the path from A's setup to B's.

Frame t (0 … 1) interpolates the two setups' edit-layer features, ``(1 - t) · f_A + t · f_B`` (each the
inversion's latent through the head plus its residual), renders them through the tail once with A's
adaptation and once with B's, and blends the two outputs, ``(1 - t) · render_A + t · render_B``; the tail's
latent (which a StyleGAN2 tail's styles read) moves along the latent path (spherical for a Gaussian ``z``,
straight in W+). Frame 0 is A's reconstruction and the last frame B's, exactly (the renders the edits start
from). Measured on the 7 scikit-image photos (21 pairs, 8 frames): the distance to B falls and the distance to A
rises at every step of every pair with this blend (smallest step 0.12 of 255); one pair of 21 stepped back
with each other way tried: the latent path through the head with the residuals blended and the adapters'
parameters blended (−0.56), the features interpolated with the parameters blended (−0.09), the latent path
with the outputs blended (−0.86): the middle frames are off the generator's manifold (speckled), and near an
end as far from the other photo as that end is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.photo import to_uint8
from ganpaint_core.edit.engine import EditEngine, PhotoState
from ganpaint_core.models.layers import run_tail

MAX_FRAMES = 64  # a strip of more would be too wide to read, an animation too slow to make on a CPU
ANIMATION_SUFFIXES = (".gif", ".webp")


@dataclass(frozen=True)
class Transformation:
    """A transformation's frames and how far each is from the two ends."""

    frames: tuple[np.ndarray, ...]  # uint8 [S, S, 3]: frame 0 = A's reconstruction, the last = B's
    distance_to_a: tuple[float, ...]  # mean |frame - frame 0| per frame, 0..255
    distance_to_b: tuple[float, ...]  # mean |frame - last frame| per frame, 0..255

    @property
    def monotone(self) -> bool:
        """Whether every step moves away from A and towards B (never back)."""
        a, b = self.distance_to_a, self.distance_to_b
        return all(a[i + 1] >= a[i] and b[i + 1] <= b[i] for i in range(len(a) - 1))

    def strip(self, size: int | None = None) -> np.ndarray:
        """uint8 [s, n · s, 3]: the frames side by side (each resized to ``size`` pixels when given)."""
        return np.concatenate([_resized(f, size) for f in self.frames], axis=1)


def check_frames(frames: object) -> int:
    if isinstance(frames, bool) or not isinstance(frames, int) or not 2 <= frames <= MAX_FRAMES:
        raise GanpaintError(f"frames must be a whole number from 2 to {MAX_FRAMES}, got {frames!r}")
    return frames


def _path(za: torch.Tensor, zb: torch.Tensor, t: float, *, spherical: bool) -> torch.Tensor:
    """The latent ``t`` of the way from ``za`` to ``zb``: along the great circle (norms blended) for a Gaussian z,
    where a straight line would pass through unlikely, short latents; straight otherwise."""
    if not spherical:
        return za + t * (zb - za)
    a, b = za.flatten(), zb.flatten()
    cos = (a @ b / (a.norm() * b.norm()).clamp_min(1e-12)).clamp(-1, 1)
    omega = torch.arccos(cos)
    if float(omega) < 1e-4:
        return za + t * (zb - za)
    w = float(omega)
    unit = (math.sin((1 - t) * w) * a / a.norm() + math.sin(t * w) * b / b.norm()) / math.sin(w)
    return (unit * ((1 - t) * a.norm() + t * b.norm())).view_as(za)


@torch.no_grad()
def transform_frames(engine: EditEngine, a: PhotoState, b: PhotoState, *, frames: int = 8) -> Transformation:
    """``frames`` renders from A's setup to B's (see the module docstring), at the model's square."""
    check_frames(frames)
    dev = engine.device
    za, zb = a.latent.to(dev), b.latent.to(dev)
    fa, fb = a.features.to(dev), b.features.to(dev)  # [1, C, h, w]
    adapters = engine.adapter_for(a), engine.adapter_for(b)
    spherical = engine.model.generator.inversion_space == "z"
    out: list[np.ndarray] = []
    for i in range(frames):
        t = i / (frames - 1)
        if i == 0 or i == frames - 1:  # the ends are the photos' own reconstructions, bit for bit
            out.append(to_uint8((a if i == 0 else b).base_render[0]))
            continue
        z = _path(za, zb, t, spherical=spherical)  # the tail's latent (a StyleGAN2 tail's styles)
        features = (1 - t) * fa + t * fb
        renders = [run_tail(engine.tail, features, latent=z, modify=adapter) for adapter in adapters]
        out.append(to_uint8(((1 - t) * renders[0] + t * renders[1])[0]))
    first, last = (f.astype(np.float32) for f in (out[0], out[-1]))
    return Transformation(frames=tuple(out),
                          distance_to_a=tuple(float(np.abs(f.astype(np.float32) - first).mean()) for f in out),
                          distance_to_b=tuple(float(np.abs(f.astype(np.float32) - last).mean()) for f in out))


def _resized(frame: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or size == frame.shape[0]:
        return frame
    return np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.LANCZOS))


def check_animation_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in ANIMATION_SUFFIXES:
        raise GanpaintError(f"{path}: the animation is written as GIF or WebP; name it .gif or .webp")
    if path.is_dir():
        raise GanpaintError(f"{path}: is a folder; give a file name such as {path / 'transform.gif'}")
    return path


def save_transformation(seq: Transformation, path: str | Path, *, size: int | None = 256,
                        frame_ms: int = 250) -> tuple[Path, Path]:
    """Write the animation (GIF or WebP, by ``path``'s suffix; it plays forth and back) and the strip
    (``<path stem>-strip.png``); returns both paths."""
    path = check_animation_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(_resized(f, size)) for f in seq.frames]
    loop = images + images[-2:0:-1]  # A → B → A
    extra = {"lossless": True} if path.suffix.lower() == ".webp" else {}
    loop[0].save(path, save_all=True, append_images=loop[1:], duration=frame_ms, loop=0, **extra)
    strip = path.with_name(f"{path.stem}-strip.png")
    Image.fromarray(seq.strip(size)).save(strip)
    return path, strip


__all__ = ["MAX_FRAMES", "Transformation", "check_animation_path", "check_frames", "save_transformation",
           "transform_frames"]
