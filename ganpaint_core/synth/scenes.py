"""Procedural outdoor-church scenes with exact per-pixel labels, the training data of "synth-church".

Example::

    from ganpaint_core.synth.scenes import render_scene, render_batch, colourise

    scene = render_scene(7, resolution=128)
    scene.image.shape, scene.labels.shape        # (128, 128, 3) uint8, (128, 128) uint8
    images, labels = render_batch(range(64), resolution=64)   # [64, 64, 64, 3], [64, 64, 64]
    preview = colourise(labels)                  # [64, 64, 64, 3] uint8, one colour per label

Each seed fixes one scene: a sky with a time-of-day gradient and soft clouds, grass, trees and a
church with brick walls, domes and doors. The layout is drawn in normalised coordinates, so one
seed gives the same picture at every resolution; shapes are drawn at ``_SUPERSAMPLE`` times the
output size, the image is box-filtered down and the labels are point-sampled from the same shapes,
so image and labels agree.

The CLI writes preview grids and measures speed::

    python -m ganpaint_core.synth.scenes --n 16 --resolution 128 --seed 0 --grid /tmp/scenes.png \\
        --labels-grid /tmp/labels.png --bench
"""
from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["CONCEPTS", "LABELS", "LABEL_COLOURS", "Scene", "colourise", "concept_shares", "main", "render_batch",
           "render_scene"]

logger = logging.getLogger(__name__)

LABELS: tuple[str, ...] = ("other", "sky", "cloud", "grass", "tree", "brick", "dome", "door")
CONCEPTS: tuple[str, ...] = ("sky", "cloud", "grass", "tree", "brick", "dome", "door")

# One fixed RGB colour per label id, for previews of label maps.
LABEL_COLOURS: tuple[tuple[int, int, int], ...] = (
    (40, 40, 40),  # other
    (110, 170, 250),  # sky
    (235, 235, 235),  # cloud
    (80, 200, 60),  # grass
    (20, 100, 30),  # tree
    (200, 70, 50),  # brick
    (250, 200, 30),  # dome
    (140, 60, 200),  # door
)

_OTHER, _SKY, _CLOUD, _GRASS, _TREE, _BRICK, _DOME, _DOOR = range(len(LABELS))
_MIN_RESOLUTION = 16
# Shapes are drawn at this multiple of the output size, then box-filtered down. Odd, so that one
# subpixel sits at the centre of each output pixel: the label map samples exactly there.
_SUPERSAMPLE = 3

_RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Scene:
    """One rendered scene.

    Example::

        scene = render_scene(3, resolution=64)
        sky_share = (scene.labels == LABELS.index("sky")).mean()
    """

    image: np.ndarray  # [H, W, 3] uint8 RGB
    labels: np.ndarray  # [H, W] uint8, values index LABELS


# ----------------------------------------------------------------------------------------------
# Palettes (module constants, never mutated)


@dataclass(frozen=True)
class _Daylight:
    """Colours and light of one time of day."""

    sky_top: _RGB  # sky colour at the top edge
    sky_horizon: _RGB  # sky colour at the horizon
    cloud_light: _RGB  # lit cloud body
    cloud_shadow: _RGB  # cloud undersides
    tint: _RGB  # per-channel multiplier applied to the whole scene
    gain: float  # overall brightness multiplier


_DAYLIGHTS: tuple[_Daylight, ...] = (
    _Daylight((58, 112, 196), (168, 206, 236), (250, 250, 252), (192, 200, 220), (1.0, 1.0, 1.0), 1.0),
    _Daylight((82, 116, 184), (246, 196, 128), (255, 230, 190), (214, 160, 140), (1.08, 0.97, 0.8), 1.0),
    _Daylight((122, 134, 152), (192, 198, 206), (232, 234, 238), (150, 154, 168), (0.96, 0.98, 1.0), 0.9),
    _Daylight((56, 50, 108), (238, 146, 136), (244, 178, 186), (134, 98, 140), (1.0, 0.86, 0.93), 0.85),
)
_DAYLIGHT_P = (0.45, 0.2, 0.15, 0.2)  # day, golden hour, overcast, dusk

_MEADOWS = ((86, 142, 52), (108, 160, 64), (64, 120, 48), (150, 158, 74), (122, 134, 60))
_LEAVES = ((52, 106, 46), (70, 124, 50), (42, 92, 50), (90, 136, 58), (60, 116, 40))
_AUTUMN = ((200, 112, 40), (178, 66, 40), (214, 164, 52), (152, 92, 40))
_NEEDLES = ((34, 80, 54), (46, 94, 60), (40, 86, 46))
_BARK = ((92, 64, 42), (74, 52, 36), (112, 82, 56))
_BRICKS = (
    (166, 72, 54),  # red
    (134, 54, 44),  # dark red
    (124, 80, 58),  # brown
    (198, 164, 122),  # tan
    (204, 176, 112),  # yellow
    (150, 148, 142),  # grey stone
    (192, 186, 172),  # light stone
)
_ROOFS = ((78, 84, 96), (150, 70, 52), (84, 134, 114), (72, 60, 52), (110, 114, 122))
_DOMES = ((214, 168, 62), (58, 98, 186), (76, 150, 112), (120, 126, 138), (232, 232, 226))
_DOORS = ((92, 56, 32), (70, 44, 28), (110, 64, 36), (84, 38, 30), (62, 48, 40))
_WINDOWS = ((34, 36, 48), (66, 88, 120), (48, 56, 78))
_TRIMS = ((214, 206, 188), (176, 170, 160), (228, 222, 210))
_PATHS = ((172, 156, 128), (150, 142, 130), (186, 170, 140))

# Dome outlines: half-width (fraction of the base half-width) against height (fraction of the dome
# height), from the base (u = 0) to the tip (u = 1).
_PROFILE_U: tuple[float, ...] = tuple(math.sin(a) for a in np.linspace(0.0, math.pi / 2, 12))
_PROFILES: Mapping[str, tuple[float, ...]] = MappingProxyType({
    "hemisphere": tuple(math.sqrt(max(1.0 - u * u, 0.0)) for u in _PROFILE_U),
    "onion": tuple(np.interp(_PROFILE_U, [0, 0.12, 0.3, 0.5, 0.66, 0.8, 0.9, 1.0],
                             [0.8, 1.02, 1.12, 0.98, 0.66, 0.32, 0.14, 0.0]).tolist()),
    "helmet": tuple(np.interp(_PROFILE_U, [0, 0.25, 0.45, 0.65, 0.82, 0.93, 1.0],
                              [1.0, 0.98, 0.9, 0.72, 0.46, 0.2, 0.0]).tolist()),
})


# ----------------------------------------------------------------------------------------------
# Layout: everything random is decided here, in normalised coordinates (x right, y down, [0, 1])


@dataclass(frozen=True)
class _Shape:
    """One filled shape, drawn into the image and the label map alike."""

    ellipse: bool  # True: points is a bounding box (x0, y0, x1, y1); False: a polygon
    points: tuple[float, ...]  # normalised coordinates, flat (x, y, x, y, ...)
    colour: tuple[int, int, int]  # fill colour, uint8 RGB
    label: int  # fill value in the label map, an index into LABELS


@dataclass(frozen=True)
class _Bricks:
    """Brick bond laid over every visible "brick" pixel."""

    origin: tuple[float, float]  # (x, y) of a brick corner, normalised; y is the church's base line
    row_height: float  # height of one course, normalised
    brick_length: float  # length of one brick, normalised
    mortar: float  # joint thickness as a fraction of row_height
    mortar_gain: float  # joint brightness relative to the brick's luminance
    jitter: float  # per-brick brightness variation, relative


@dataclass(frozen=True)
class _Grass:
    """Shading and soft stripes laid over every visible "grass" pixel."""

    horizon: float  # y of the horizon, normalised
    depth_shade: float  # how much darker the foreground is than the horizon, relative
    bands: tuple[float, float, float]  # (strength, perspective frequency, phase) of depth bands
    patches: tuple[tuple[float, float, float, float], ...]  # (strength, fx, fy, phase) waves


@dataclass(frozen=True)
class _Layout:
    """A whole scene, independent of the resolution it is rendered at."""

    horizon: float  # y of the horizon, normalised
    sky_top: _RGB  # sky colour at the top edge
    sky_horizon: _RGB  # sky colour at the horizon
    sky_curve: float  # exponent of the sky gradient (larger keeps the top colour lower)
    clouds: tuple[_Shape, ...]  # cloud shapes, composited softly over the sky
    cloud_blur: float  # softness of cloud edges, normalised box-blur radius
    shapes: tuple[_Shape, ...]  # everything else, back to front
    grass: _Grass  # grass texture
    bricks: _Bricks  # brick texture
    light: _RGB  # per-channel light multiplier (tint times gain)
    light_slope: float  # brightness change from left to right edge, relative


class _Sketch:
    """Collects shapes back to front while a layout is composed (local to one call)."""

    def __init__(self) -> None:
        self.shapes: list[_Shape] = []

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, colour: _RGB, label: int) -> None:
        self.shapes.append(_Shape(True, (cx - rx, cy - ry, cx + rx, cy + ry), _u8(colour), label))

    def polygon(self, points: Sequence[tuple[float, float]], colour: _RGB, label: int) -> None:
        flat = tuple(float(v) for p in points for v in p)
        self.shapes.append(_Shape(False, flat, _u8(colour), label))

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: _RGB, label: int) -> None:
        self.polygon(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), colour, label)

    def arch(self, cx: float, bottom: float, width: float, height: float, colour: _RGB, label: int) -> None:
        """A rectangle with a round top: total height ``height`` (at least ``width / 2``)."""
        r = width / 2
        spring = bottom - max(height - r, 0.0)
        self.rect(cx - r, spring, cx + r, bottom, colour, label)
        self.ellipse(cx, spring, r, r, colour, label)


def _u8(colour: _RGB) -> tuple[int, int, int]:
    return (int(min(max(colour[0], 0), 255)), int(min(max(colour[1], 0), 255)),
            int(min(max(colour[2], 0), 255)))


def _scale(colour: _RGB, k: float) -> _RGB:
    return (colour[0] * k, colour[1] * k, colour[2] * k)


def _mix(a: _RGB, b: _RGB, t: float) -> _RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def _pick(rng: np.random.Generator, palette: Sequence[_RGB], *, vary: float = 0.08) -> _RGB:
    """A palette entry with a little brightness and per-channel variation."""
    c = palette[int(rng.integers(len(palette)))]
    k = 1.0 + vary * rng.uniform(-1.0, 1.0)
    return (c[0] * k * (1 + vary * rng.uniform(-0.5, 0.5)), c[1] * k * (1 + vary * rng.uniform(-0.5, 0.5)),
            c[2] * k * (1 + vary * rng.uniform(-0.5, 0.5)))


@dataclass(frozen=True)
class _ChurchPalette:
    """Colours of one church."""

    brick: _RGB  # wall colour before the brick texture
    roof: _RGB  # roofs and spires
    dome: _RGB  # main dome
    dome_alt: _RGB  # secondary domes
    door: _RGB  # door leaves
    window: _RGB  # window glass
    trim: _RGB  # door frames, cornices
    metal: _RGB  # crosses and finials


@dataclass(frozen=True)
class _Church:
    """What the rest of the scene needs to know about the church."""

    x0: float  # left edge, normalised
    x1: float  # right edge, normalised
    base: float  # ground line, normalised
    doors: tuple[tuple[float, float], ...]  # x spans of the doors, to keep trees off them
    width: float  # overall width, normalised
    brick: _RGB  # wall colour, which decides light or dark mortar


def _dome(sk: _Sketch, rng: np.random.Generator, *, cx: float, base: float, width: float, height: float,
          shape: str, colour: _RGB, metal: _RGB, sun: float) -> None:
    """Dome on a base line, shaded towards the sun side (``sun`` = -1 left, +1 right), with a finial."""
    f = _PROFILES[shape]
    ys = [base - u * height for u in _PROFILE_U]
    half = width / 2

    def outline(scale: float, shift: float) -> list[tuple[float, float]]:
        left = [(cx + shift - half * scale * fi, y) for fi, y in zip(f, ys)]
        right = [(cx + shift + half * scale * fi, y) for fi, y in zip(f[::-1], ys[::-1])]
        return left + right

    sk.polygon(outline(1.0, 0.0), _scale(colour, 0.66), _DOME)
    sk.polygon(outline(0.72, sun * width * 0.12), colour, _DOME)
    hx = cx + sun * width * 0.2
    hy = base - height * (0.45 if shape == "hemisphere" else 0.4)
    sk.ellipse(hx, hy, width * 0.08, height * 0.14, _mix(colour, (255, 255, 240), 0.45), _DOME)
    # Finial and cross: thin, so they stay a hint at small sizes.
    stem = max(width * 0.035, 0.004)
    tip = base - height
    cross_h = height * rng.uniform(0.18, 0.3) + 0.015
    sk.rect(cx - stem / 2, tip - cross_h, cx + stem / 2, tip + height * 0.02, metal, _OTHER)
    arm = cross_h * 0.35
    sk.rect(cx - arm, tip - cross_h * 0.78 - stem / 2, cx + arm, tip - cross_h * 0.78 + stem / 2, metal, _OTHER)


def _drum(sk: _Sketch, *, cx: float, base: float, width: float, height: float, pal: _ChurchPalette,
          sun: float, windows: bool) -> None:
    """Cylindrical drum under a dome: brick, darker on the shadow side, with a cornice on top."""
    sk.rect(cx - width / 2, base - height, cx + width / 2, base, pal.brick, _BRICK)
    shade_x = cx - sun * width / 2
    sk.rect(min(shade_x, shade_x - sun * width * 0.3), base - height, max(shade_x, shade_x - sun * width * 0.3),
            base, _scale(pal.brick, 0.78), _BRICK)
    if windows and height > width * 0.35:
        ww = width * 0.09
        for fx in (-0.25, 0.0, 0.25):
            sk.arch(cx + fx * width, base - height * 0.22, ww, height * 0.5, pal.window, _OTHER)
    band = max(height * 0.1, 0.006)
    sk.rect(cx - width * 0.53, base - height - band * 0.5, cx + width * 0.53, base - height + band * 0.5,
            pal.trim, _OTHER)


def _door(sk: _Sketch, *, cx: float, base: float, width: float, height: float, pal: _ChurchPalette) -> None:
    """Arched wooden door in a stone frame."""
    frame = width * 0.14
    sk.arch(cx, base, width + 2 * frame, height + frame, pal.trim, _OTHER)
    sk.arch(cx, base, width, height, pal.door, _DOOR)
    line = max(width * 0.04, 0.003)
    sk.rect(cx - line / 2, base - height * 0.82, cx + line / 2, base, _scale(pal.door, 0.6), _DOOR)


def _windows(sk: _Sketch, *, x0: float, x1: float, bottom: float, width: float, height: float, spacing: float,
             avoid: Sequence[tuple[float, float]], pal: _ChurchPalette) -> None:
    """A row of arched windows between x0 and x1 that keeps clear of the spans in ``avoid``."""
    n = int((x1 - x0) / spacing)
    if n < 1:
        return
    step = (x1 - x0) / n
    for i in range(n):
        cx = x0 + step * (i + 0.5)
        if any(cx + width > a - 0.01 and cx - width < b + 0.01 for a, b in avoid):
            continue
        sk.arch(cx, bottom, width, height, pal.window, _OTHER)


def _tower(sk: _Sketch, rng: np.random.Generator, *, x0: float, x1: float, base: float, height: float,
           top: str, top_height: float, pal: _ChurchPalette, dome_colour: _RGB, sun: float) -> None:
    """Bell tower: brick shaft with a belfry opening, topped by a dome, a spire or nothing."""
    w = x1 - x0
    sk.rect(x0, base - height, x1, base, pal.brick, _BRICK)
    shade = (x0, x0 + w * 0.22) if sun > 0 else (x1 - w * 0.22, x1)
    sk.rect(shade[0], base - height, shade[1], base, _scale(pal.brick, 0.78), _BRICK)
    cx = (x0 + x1) / 2
    sk.arch(cx, base - height * 0.68, w * 0.34, min(height * 0.2, w * 0.7), pal.window, _OTHER)
    band = max(height * 0.04, 0.006)
    sk.rect(x0 - w * 0.05, base - height - band / 2, x1 + w * 0.05, base - height + band / 2, pal.trim, _OTHER)
    if top == "dome":
        shape = str(rng.choice(("hemisphere", "onion", "helmet"), p=(0.4, 0.3, 0.3)))
        _dome(sk, rng, cx=cx, base=base - height - band / 2, width=w * 0.92, height=top_height, shape=shape,
              colour=dome_colour, metal=pal.metal, sun=sun)
    elif top == "spire":
        sk.polygon(((x0 - w * 0.04, base - height), (cx, base - height - top_height), (x1 + w * 0.04, base - height)),
                   pal.roof, _OTHER)


def _church(sk: _Sketch, rng: np.random.Generator, *, horizon: float, sun: float) -> _Church:
    """Draw one church standing on the ground; returns where it stands."""
    width = rng.uniform(0.36, 0.64)
    x0 = rng.uniform(0.03, 0.97 - width)
    x1 = x0 + width
    base = min(horizon + rng.uniform(0.07, 0.2), 0.88)
    room = base - 0.05  # the tallest part, cross included, must stay inside the picture
    dome_colour = _pick(rng, _DOMES)
    pal = _ChurchPalette(
        brick=_pick(rng, _BRICKS), roof=_pick(rng, _ROOFS), dome=dome_colour,
        dome_alt=dome_colour if rng.random() < 0.6 else _pick(rng, _DOMES), door=_pick(rng, _DOORS),
        window=_pick(rng, _WINDOWS), trim=_pick(rng, _TRIMS, vary=0.04),
        metal=(200, 160, 70) if rng.random() < 0.6 else (60, 60, 66))
    style = int(rng.choice(3, p=(0.4, 0.35, 0.25)))
    if style == 0:
        doors = _basilica(sk, rng, x0=x0, width=width, base=base, room=room, pal=pal, sun=sun)
    elif style == 1:
        doors = _facade(sk, rng, x0=x0, width=width, base=base, room=room, pal=pal, sun=sun)
    else:
        doors = _orthodox(sk, rng, x0=x0, width=width, base=base, room=room, pal=pal, sun=sun)
    return _Church(x0=x0, x1=x1, base=base, doors=tuple(doors), width=width, brick=pal.brick)


def _dome_height(rng: np.random.Generator, shape: str, width: float) -> float:
    lo, hi = {"hemisphere": (0.55, 0.72), "onion": (1.0, 1.3), "helmet": (0.75, 0.95)}[shape]
    return width * rng.uniform(lo, hi)


def _basilica(sk: _Sketch, rng: np.random.Generator, *, x0: float, width: float, base: float, room: float,
              pal: _ChurchPalette, sun: float) -> list[tuple[float, float]]:
    """Side view: long nave under a pitched roof, a dome on a drum, often a bell tower at one end."""
    has_tower = rng.random() < 0.65
    tower_left = rng.random() < 0.5
    tw = width * rng.uniform(0.17, 0.24) if has_tower else 0.0
    nx0, nx1 = (x0 + tw, x0 + width) if tower_left else (x0, x0 + width - tw)
    nave_h = width * rng.uniform(0.36, 0.5)
    roof_h = width * rng.uniform(0.08, 0.14)
    dome_w = width * rng.uniform(0.36, 0.5)
    drum_h = dome_w * rng.uniform(0.25, 0.5)
    shape = str(rng.choice(("hemisphere", "onion", "helmet"), p=(0.5, 0.25, 0.25)))
    dome_h = _dome_height(rng, shape, dome_w)
    tower_h = nave_h * rng.uniform(1.7, 2.3)
    tower_top = str(rng.choice(("dome", "spire", "none"), p=(0.6, 0.3, 0.1)))
    top_h = tw * (rng.uniform(0.6, 1.1) if tower_top == "dome" else rng.uniform(1.2, 1.8))
    total = max(nave_h + roof_h * 0.7 + drum_h + dome_h, tower_h + top_h if has_tower else 0.0)
    k = min(1.0, room / total)
    nave_h, roof_h, drum_h, dome_h, tower_h, top_h = (v * k for v in (nave_h, roof_h, drum_h, dome_h, tower_h, top_h))

    dcx = (nx0 + nx1) / 2 + (nx1 - nx0) * rng.uniform(-0.12, 0.12)
    drum_base = base - nave_h - roof_h * 0.7
    _drum(sk, cx=dcx, base=drum_base + roof_h * 0.5, width=dome_w * 0.9, height=drum_h + roof_h * 0.5, pal=pal,
          sun=sun, windows=True)
    _dome(sk, rng, cx=dcx, base=drum_base - drum_h, width=dome_w, height=dome_h, shape=shape, colour=pal.dome,
          metal=pal.metal, sun=sun)
    eave = width * 0.02
    sk.polygon(((nx0 - eave, base - nave_h), (nx0 + roof_h * 0.9, base - nave_h - roof_h),
                (nx1 - roof_h * 0.9, base - nave_h - roof_h), (nx1 + eave, base - nave_h)), pal.roof, _OTHER)
    sk.rect(nx0, base - nave_h, nx1, base, pal.brick, _BRICK)

    doors: list[tuple[float, float]] = []
    n_doors = int(rng.choice((1, 2, 3), p=(0.45, 0.4, 0.15)))
    main_w = width * rng.uniform(0.13, 0.19)
    for i in range(n_doors):
        w = main_w if i == 0 else main_w * rng.uniform(0.6, 0.8)
        h = min(w * rng.uniform(1.5, 1.9), nave_h * 0.78)
        if i == 0:
            cx = (nx0 + nx1) / 2
        else:
            side = -1 if i == 1 else 1
            cx = (nx0 + nx1) / 2 + side * (nx1 - nx0) * 0.3
        _door(sk, cx=cx, base=base, width=w, height=h, pal=pal)
        doors.append((cx - w / 2, cx + w / 2))
    _windows(sk, x0=nx0 + width * 0.03, x1=nx1 - width * 0.03, bottom=base - nave_h * 0.4, width=width * 0.05,
             height=nave_h * 0.36, spacing=width * 0.12, avoid=doors, pal=pal)
    if has_tower:
        tx0, tx1 = (x0, x0 + tw) if tower_left else (x0 + width - tw, x0 + width)
        _tower(sk, rng, x0=tx0, x1=tx1, base=base, height=tower_h, top=tower_top, top_height=top_h, pal=pal,
               dome_colour=pal.dome_alt, sun=sun)
    return doors


def _facade(sk: _Sketch, rng: np.random.Generator, *, x0: float, width: float, base: float, room: float,
            pal: _ChurchPalette, sun: float) -> list[tuple[float, float]]:
    """Front view: gabled front with a big portal and a rose window, flanking towers, a dome behind."""
    n_towers = int(rng.choice((0, 1, 2), p=(0.2, 0.3, 0.5)))
    tw = width * rng.uniform(0.18, 0.25)
    left_tower = n_towers == 2 or (n_towers == 1 and rng.random() < 0.5)
    right_tower = n_towers == 2 or (n_towers == 1 and not left_tower)
    cx0 = x0 + (tw if left_tower else 0.0)
    cx1 = x0 + width - (tw if right_tower else 0.0)
    cw = cx1 - cx0
    block_h = cw * rng.uniform(0.6, 0.85)
    gable_h = cw * rng.uniform(0.25, 0.38)
    main_dome = n_towers == 0 or rng.random() < 0.7
    dome_w = cw * rng.uniform(0.55, 0.75)
    drum_h = dome_w * rng.uniform(0.3, 0.55)
    shape = str(rng.choice(("hemisphere", "onion", "helmet"), p=(0.5, 0.2, 0.3)))
    dome_h = _dome_height(rng, shape, dome_w)
    tower_h = block_h * rng.uniform(1.25, 1.7)
    tower_dome = rng.random() < (0.6 if main_dome else 1.0)
    top_h = tw * (rng.uniform(0.6, 1.1) if tower_dome else rng.uniform(1.2, 1.8))
    dome_total = block_h + gable_h * 0.5 + drum_h + dome_h if main_dome else block_h + gable_h
    total = max(dome_total, tower_h + top_h if n_towers else 0.0)
    k = min(1.0, room / total)
    block_h, gable_h, drum_h, dome_h, tower_h, top_h = (
        v * k for v in (block_h, gable_h, drum_h, dome_h, tower_h, top_h))

    ccx = (cx0 + cx1) / 2
    if main_dome:
        drum_base = base - block_h - gable_h * 0.5
        _drum(sk, cx=ccx, base=drum_base + gable_h * 0.3, width=dome_w * 0.9, height=drum_h + gable_h * 0.3,
              pal=pal, sun=sun, windows=True)
        _dome(sk, rng, cx=ccx, base=drum_base - drum_h, width=dome_w, height=dome_h, shape=shape, colour=pal.dome,
              metal=pal.metal, sun=sun)
    top = base - block_h
    trim = max(cw * 0.03, 0.006)
    sk.polygon(((cx0 - trim, top + trim * 0.5), (ccx, top - gable_h - trim), (cx1 + trim, top + trim * 0.5)),
               pal.roof, _OTHER)
    sk.polygon(((cx0 + trim, top), (ccx, top - gable_h + trim), (cx1 - trim, top)), pal.brick, _BRICK)
    sk.rect(cx0, top, cx1, base, pal.brick, _BRICK)
    sk.rect(cx0 - trim * 0.5, top - trim * 0.3, cx1 + trim * 0.5, top + trim * 0.7, pal.trim, _OTHER)
    rose = min(gable_h * 0.3, cw * 0.12)
    if rose > 0.008:
        sk.ellipse(ccx, top - gable_h * 0.38, rose * 1.2, rose * 1.2, pal.trim, _OTHER)
        sk.ellipse(ccx, top - gable_h * 0.38, rose, rose, pal.window, _OTHER)

    doors: list[tuple[float, float]] = []
    main_w = cw * rng.uniform(0.26, 0.36)
    main_h = min(main_w * rng.uniform(1.5, 1.9), block_h * 0.7)
    _door(sk, cx=ccx, base=base, width=main_w, height=main_h, pal=pal)
    doors.append((ccx - main_w / 2, ccx + main_w / 2))
    win_w = cw * 0.08
    for side in (-1, 1):
        wx = ccx + side * (main_w / 2 + main_w * 0.2 + win_w)
        if cx0 + win_w < wx < cx1 - win_w:
            sk.arch(wx, base - block_h * 0.35, win_w, block_h * 0.35, pal.window, _OTHER)
    for present, tx0 in ((left_tower, x0), (right_tower, x0 + width - tw)):
        if not present:
            continue
        _tower(sk, rng, x0=tx0, x1=tx0 + tw, base=base, height=tower_h, top="dome" if tower_dome else "spire",
               top_height=top_h, pal=pal, dome_colour=pal.dome_alt, sun=sun)
        if rng.random() < 0.5:
            dw = tw * 0.5
            dh = min(dw * 1.7, tower_h * 0.35)
            _door(sk, cx=tx0 + tw / 2, base=base, width=dw, height=dh, pal=pal)
            doors.append((tx0 + tw / 2 - dw / 2, tx0 + tw / 2 + dw / 2))
    return doors


def _orthodox(sk: _Sketch, rng: np.random.Generator, *, x0: float, width: float, base: float, room: float,
              pal: _ChurchPalette, sun: float) -> list[tuple[float, float]]:
    """Compact body under a low roof, a big onion dome on a tall drum, often two smaller ones."""
    body_h = width * rng.uniform(0.5, 0.7)
    roof_h = width * rng.uniform(0.04, 0.08)
    dw = width * rng.uniform(0.32, 0.42)
    drum_h = dw * rng.uniform(0.5, 0.9)
    shape = "onion" if rng.random() < 0.7 else "helmet"
    dome_w = dw * rng.uniform(1.0, 1.15)
    dome_h = _dome_height(rng, shape, dome_w)
    n_side = 2 if rng.random() < 0.65 else 0
    total = body_h + roof_h + drum_h + dome_h
    k = min(1.0, room / total)
    body_h, roof_h, drum_h, dome_h = (v * k for v in (body_h, roof_h, drum_h, dome_h))
    x1 = x0 + width
    cx = (x0 + x1) / 2
    top = base - body_h
    if n_side:
        sdw = dw * rng.uniform(0.5, 0.65)
        s_drum = drum_h * rng.uniform(0.45, 0.65)
        s_dome_h = dome_h * rng.uniform(0.5, 0.65)
        for sx in (x0 + width * 0.17, x1 - width * 0.17):
            _drum(sk, cx=sx, base=top - roof_h * 0.5, width=sdw * 0.9, height=s_drum, pal=pal, sun=sun,
                  windows=False)
            _dome(sk, rng, cx=sx, base=top - roof_h * 0.5 - s_drum, width=sdw, height=s_dome_h, shape=shape,
                  colour=pal.dome_alt, metal=pal.metal, sun=sun)
    _drum(sk, cx=cx, base=top - roof_h * 0.5, width=dw, height=drum_h, pal=pal, sun=sun, windows=True)
    _dome(sk, rng, cx=cx, base=top - roof_h * 0.5 - drum_h, width=dome_w, height=dome_h, shape=shape,
          colour=pal.dome, metal=pal.metal, sun=sun)
    eave = width * 0.03
    sk.polygon(((x0 - eave, top + roof_h * 0.3), (x0 + width * 0.08, top - roof_h), (x1 - width * 0.08, top - roof_h),
                (x1 + eave, top + roof_h * 0.3)), pal.roof, _OTHER)
    sk.rect(x0, top, x1, base, pal.brick, _BRICK)
    shade = (x0, x0 + width * 0.12) if sun > 0 else (x1 - width * 0.12, x1)
    sk.rect(shade[0], top, shade[1], base, _scale(pal.brick, 0.8), _BRICK)

    doors: list[tuple[float, float]] = []
    main_w = width * rng.uniform(0.15, 0.22)
    main_h = min(main_w * rng.uniform(1.5, 1.9), body_h * 0.72)
    _door(sk, cx=cx, base=base, width=main_w, height=main_h, pal=pal)
    doors.append((cx - main_w / 2, cx + main_w / 2))
    if rng.random() < 0.35:
        for side in (-1, 1):
            sx = cx + side * width * 0.3
            w = main_w * 0.6
            _door(sk, cx=sx, base=base, width=w, height=min(w * 1.7, body_h * 0.6), pal=pal)
            doors.append((sx - w / 2, sx + w / 2))
    _windows(sk, x0=x0 + width * 0.04, x1=x1 - width * 0.04, bottom=base - body_h * 0.45, width=width * 0.055,
             height=body_h * 0.3, spacing=width * 0.16, avoid=doors, pal=pal)
    return doors


def _tree(sk: _Sketch, rng: np.random.Generator, *, x: float, base: float, height: float, autumn: bool,
          grass: _RGB, sun: float) -> None:
    """One tree (round crown, conifer or poplar) with a visible trunk and a shadow on the grass."""
    kind = int(rng.choice(3, p=(0.5, 0.3, 0.2)))
    bark = _pick(rng, _BARK)
    if kind == 1:
        leaves = _pick(rng, _NEEDLES)
    elif autumn and rng.random() < 0.7:
        leaves = _pick(rng, _AUTUMN)
    else:
        leaves = _pick(rng, _LEAVES)
    dark, light = _scale(leaves, 0.7), _mix(leaves, (255, 250, 200), 0.18)
    sk.ellipse(x - sun * height * 0.12, base, height * 0.3, height * 0.045, _scale(grass, 0.72), _GRASS)
    if kind == 0:  # round crown of overlapping ellipses
        r = height * rng.uniform(0.34, 0.45)
        trunk_h = height - 1.7 * r
        tw = r * rng.uniform(0.16, 0.24)
        cy = base - trunk_h - r * 0.8
        sk.rect(x - tw / 2, cy, x + tw / 2, base, bark, _TREE)
        blobs = [(rng.uniform(-0.45, 0.45) * r, rng.uniform(-0.4, 0.35) * r, rng.uniform(0.45, 0.62) * r)
                 for _ in range(int(rng.integers(5, 8)))]
        sk.ellipse(x, cy, r * 0.75, r * 0.7, dark, _TREE)
        for bx, by, br in blobs:
            sk.ellipse(x + bx, cy + by + r * 0.08, br, br * 0.92, dark, _TREE)
        for bx, by, br in blobs:
            if bx * sun > -0.15 * r and by < 0.2 * r:
                sk.ellipse(x + bx + sun * r * 0.08, cy + by - r * 0.06, br * 0.72, br * 0.66, leaves, _TREE)
        sk.ellipse(x + sun * r * 0.3, cy - r * 0.3, r * 0.24, r * 0.2, light, _TREE)
    elif kind == 1:  # conifer: stacked tiers
        w = height * rng.uniform(0.28, 0.4)
        trunk_h = height * 0.12
        sk.rect(x - w * 0.07, base - trunk_h * 1.5, x + w * 0.07, base, bark, _TREE)
        tiers = int(rng.integers(3, 5))
        crown = height - trunk_h
        for i in range(tiers):
            t0 = i / tiers
            bottom = base - trunk_h - crown * t0 * 0.8
            tip = base - trunk_h - crown * min(1.0, t0 * 0.8 + 0.45)
            half = w * (1 - t0 * 0.7) / 2
            sk.polygon(((x - half, bottom), (x, tip), (x + half, bottom)), dark, _TREE)
            lit = ((x, bottom), (x, tip), (x + sun * half * 0.9, bottom))
            sk.polygon(lit, leaves, _TREE)
    else:  # poplar: tall and narrow
        w = height * rng.uniform(0.2, 0.28)
        trunk_h = height * 0.12
        sk.rect(x - w * 0.08, base - trunk_h * 1.5, x + w * 0.08, base, bark, _TREE)
        cy = base - trunk_h - (height - trunk_h) / 2
        sk.ellipse(x, cy, w / 2, (height - trunk_h) / 2, dark, _TREE)
        sk.ellipse(x + sun * w * 0.12, cy - height * 0.04, w * 0.32, (height - trunk_h) * 0.4, leaves, _TREE)


def _clouds(rng: np.random.Generator, *, horizon: float, daylight: _Daylight, overcast: bool) -> tuple[_Shape, ...]:
    """0-4 clouds, each a cluster of ellipses: shadowed underside, lit body, bright top."""
    sk = _Sketch()
    n = int(rng.choice(5, p=(0.14, 0.26, 0.3, 0.2, 0.1)))
    light = _mix(daylight.cloud_light, (255, 255, 255), rng.uniform(-0.1, 0.2))
    shadow = daylight.cloud_shadow
    for _ in range(n):
        w = rng.uniform(0.18, 0.4) * (1.3 if overcast else 1.0)
        h = w * rng.uniform(0.3, 0.5) * (0.7 if overcast else 1.0)
        cx = rng.uniform(-0.05, 1.05)
        cy = rng.uniform(0.08, max(0.12, horizon - 0.22))
        puffs = int(rng.integers(4, 7))
        xs = np.linspace(-0.4, 0.4, puffs) * w + rng.uniform(-0.05, 0.05, puffs) * w
        rs = (1.0 - np.abs(xs / w) * 1.2) * h * rng.uniform(0.55, 0.75, puffs)
        for px, pr in zip(xs, rs):
            sk.ellipse(cx + px, cy, pr * 1.25, pr * 0.75, shadow, _CLOUD)
        for px, pr in zip(xs, rs):
            sk.ellipse(cx + px, cy - pr * 0.25, pr * 1.15, pr * 0.8, light, _CLOUD)
        for px, pr in zip(xs[1:-1], rs[1:-1]):
            sk.ellipse(cx + px, cy - pr * 0.55, pr * 0.7, pr * 0.5, _mix(light, (255, 255, 255), 0.5), _CLOUD)
    return tuple(sk.shapes)


def _landscape(sk: _Sketch, rng: np.random.Generator, *, horizon: float, grass: _RGB, sky_horizon: _RGB) -> None:
    """Far hills, hazed towards the sky colour, sometimes a dark line of distant trees, then the meadow."""
    xs = np.linspace(-0.02, 1.02, 25)
    if rng.random() < 0.6:
        amp = rng.uniform(0.03, 0.09)
        hill = horizon - amp * (0.6 + 0.4 * np.sin(xs * rng.uniform(3, 9) + rng.uniform(0, 6.3))) \
            - amp * 0.4 * np.sin(xs * rng.uniform(9, 16) + rng.uniform(0, 6.3))
        sk.polygon([*zip(xs, hill), (1.02, horizon + 0.02), (-0.02, horizon + 0.02)],
                   _mix(_scale(grass, 0.8), sky_horizon, rng.uniform(0.35, 0.6)), _OTHER)
    if rng.random() < 0.35:
        tone = _mix(_scale(_pick(rng, _LEAVES), 0.7), sky_horizon, rng.uniform(0.15, 0.35))
        for bx in np.arange(rng.uniform(-0.03, 0.0), 1.03, 0.035):
            r = rng.uniform(0.018, 0.03)
            sk.ellipse(bx, horizon - r * 0.4, r, r * 1.1, tone, _TREE)
    ground = horizon + 0.008 * np.sin(xs * rng.uniform(2, 6) + rng.uniform(0, 6.3))
    sk.polygon([*zip(xs, ground), (1.02, 1.02), (-0.02, 1.02)], grass, _GRASS)


def _place_trees(rng: np.random.Generator, trees: list[tuple[bool, float, float, float]], church: _Church, *,
                 horizon: float) -> list[tuple[float, float, float]]:
    """``(base, x, height)`` of each tree, sorted back to front: front trees stand clear of the doors, the
    others mostly beside the church."""
    placed = []
    door_a = min(a for a, _ in church.doors)
    door_b = max(b for _, b in church.doors)
    for front, u, v, size in trees:
        if front:
            base = church.base + 0.03 + v * (1.0 - church.base - 0.03)
            height = size * (0.75 + 1.1 * (base - horizon) / (1.0 - horizon))
            span = height * 0.42  # about the crown's half-width
            x = u * 1.1 - 0.05
            if x + span > door_a and x - span < door_b:  # keep the doors in view
                left, right = door_a - span - 0.01, door_b + span + 0.01
                x = left if abs(x - left) <= abs(x - right) else right
        else:
            base = horizon + 0.01 + v * max(church.base - horizon - 0.015, 0.005)
            height = size * (0.75 + 1.1 * (base - horizon) / (1.0 - horizon))
            # Mostly beside the church, where the tree stays visible.
            gap = max(1.0 - church.width, 1e-3)
            x = u * gap
            x = x if x < church.x0 else x + church.width
            if rng.random() < 0.2:
                x = church.x0 + u * church.width
        placed.append((base, x, height))
    placed.sort()
    return placed


def _churchyard(rng: np.random.Generator, church: _Church, *, horizon: float) -> _Sketch:
    """Sometimes gravestones in front of the church, never in front of a door."""
    yard = _Sketch()
    if rng.random() < 0.4:  # churchyard gravestones in front of the church
        stone = _pick(rng, _TRIMS, vary=0.1)
        for _ in range(int(rng.integers(3, 9))):
            gy = church.base + rng.uniform(0.02, 0.98 - church.base)
            near = (gy - horizon) / (1.0 - horizon)
            gw = rng.uniform(0.018, 0.03) * (0.6 + near)
            gx = rng.uniform(church.x0 - 0.15, church.x1 + 0.15)
            if any(gx + gw > a - 0.03 and gx - gw < b + 0.03 for a, b in church.doors):
                continue
            yard.arch(gx, gy, gw, gw * rng.uniform(1.3, 1.9), _scale(stone, 0.85), _OTHER)
    return yard


def _textures(rng: np.random.Generator, church: _Church, *, horizon: float) -> tuple[_Bricks, _Grass]:
    """The brick bond of the church's walls and the meadow's texture."""
    # Courses scale with the church, not the pixel grid, so the bond reads the same at every size.
    row = church.width * rng.uniform(0.08, 0.11)
    wall = church.brick
    dark_wall = 0.299 * wall[0] + 0.587 * wall[1] + 0.114 * wall[2] < 135
    bricks = _Bricks(origin=(church.x0 + rng.uniform(0, row), church.base), row_height=row,
                     brick_length=row * rng.uniform(2.0, 2.8), mortar=rng.uniform(0.18, 0.26),
                     mortar_gain=rng.uniform(1.35, 1.7) if dark_wall else rng.uniform(0.62, 0.78),
                     jitter=rng.uniform(0.05, 0.12))
    grass_tex = _Grass(
        horizon=horizon, depth_shade=rng.uniform(0.1, 0.25),
        bands=(rng.uniform(0.03, 0.07), rng.uniform(0.25, 0.5), rng.uniform(0, 2 * math.pi)),
        patches=tuple((rng.uniform(0.02, 0.05), rng.uniform(-4, 4), rng.uniform(2, 6), rng.uniform(0, 2 * math.pi))
                      for _ in range(2)))
    return bricks, grass_tex


def _compose(seed: int) -> _Layout:
    """Decide the whole scene for one seed; nothing here depends on the output resolution."""
    rng = np.random.default_rng(seed)
    daylight = _DAYLIGHTS[int(rng.choice(len(_DAYLIGHTS), p=_DAYLIGHT_P))]
    overcast = daylight is _DAYLIGHTS[2]
    horizon = rng.uniform(0.55, 0.68)
    sun = 1.0 if rng.random() < 0.5 else -1.0
    autumn = rng.random() < 0.3
    sky_top = tuple(c + rng.uniform(-14, 14) for c in daylight.sky_top)
    sky_horizon = tuple(c + rng.uniform(-14, 14) for c in daylight.sky_horizon)
    clouds = _clouds(rng, horizon=horizon, daylight=daylight, overcast=overcast)

    sk = _Sketch()
    grass = _pick(rng, _MEADOWS, vary=0.1)
    _landscape(sk, rng, horizon=horizon, grass=grass, sky_horizon=sky_horizon)

    # Trees: some behind or beside the church (drawn first), some in front of it (drawn after).
    n_trees = int(rng.choice((1, 2, 3, 4, 5, 6), p=(0.08, 0.14, 0.2, 0.22, 0.2, 0.16)))
    trees = []
    for _ in range(n_trees):
        front = rng.random() < 0.5
        trees.append((front, rng.random(), rng.random(), rng.uniform(0.24, 0.42)))
    church_sk = _Sketch()
    church = _church(church_sk, rng, horizon=horizon, sun=sun)

    placed = _place_trees(rng, trees, church, horizon=horizon)
    if rng.random() < 0.6:  # path from the main door to the viewer
        a, b = church.doors[0]
        mid = (a + b) / 2
        spread = rng.uniform(0.1, 0.25)
        sk.polygon(((a, church.base), (b, church.base), (mid + spread + rng.uniform(-0.1, 0.1), 1.02),
                    (mid - spread + rng.uniform(-0.1, 0.1), 1.02)), _pick(rng, _PATHS), _OTHER)
    sk.rect(church.x0 - 0.01, church.base - 0.004, church.x1 + 0.02, church.base + 0.012, _scale(grass, 0.72),
            _GRASS)
    yard = _churchyard(rng, church, horizon=horizon)
    tree_rngs = [np.random.default_rng(int(s)) for s in rng.integers(0, 2**31, len(placed))]
    behind = [(p, r) for p, r in zip(placed, tree_rngs) if p[0] <= church.base]
    ahead = [(p, r) for p, r in zip(placed, tree_rngs) if p[0] > church.base]
    for (base, x, h), trng in behind:
        _tree(sk, trng, x=x, base=base, height=h, autumn=autumn, grass=grass, sun=sun)
    sk.shapes.extend(church_sk.shapes)
    sk.shapes.extend(yard.shapes)
    for (base, x, h), trng in ahead:
        _tree(sk, trng, x=x, base=base, height=h, autumn=autumn, grass=grass, sun=sun)

    bricks, grass_tex = _textures(rng, church, horizon=horizon)
    tint = daylight.tint
    g = daylight.gain * rng.uniform(0.88, 1.1)
    light = (tint[0] * g * rng.uniform(0.96, 1.04), tint[1] * g * rng.uniform(0.96, 1.04),
             tint[2] * g * rng.uniform(0.96, 1.04))
    return _Layout(horizon=horizon, sky_top=sky_top, sky_horizon=sky_horizon, sky_curve=rng.uniform(0.6, 1.4),
                   clouds=clouds, cloud_blur=rng.uniform(0.004, 0.01), shapes=tuple(sk.shapes), grass=grass_tex,
                   bricks=bricks, light=light, light_slope=sun * rng.uniform(0.0, 0.12))


# ----------------------------------------------------------------------------------------------
# Rasterising


def _draw(shapes: Sequence[_Shape], size: int, *, image: ImageDraw.ImageDraw | None = None,
          labels: ImageDraw.ImageDraw | None = None, mask: ImageDraw.ImageDraw | None = None) -> None:
    """Draw shapes at ``size`` pixels: colours into ``image``, label ids into ``labels``, 255 into ``mask``."""
    for s in shapes:
        # PIL puts pixel k's centre at coordinate k; normalised x has pixel k's centre at (k + 0.5) / size.
        pts = [v * size - 0.5 for v in s.points]
        if s.ellipse and not (pts[2] > pts[0] and pts[3] > pts[1]):
            continue
        for d, fill in ((image, s.colour), (labels, s.label), (mask, 255)):
            if d is None:
                continue
            if s.ellipse:
                d.ellipse(pts, fill=fill)
            else:
                d.polygon(pts, fill=fill)


def _pulse_coverage(a: np.ndarray, b: np.ndarray, width: float) -> np.ndarray:
    """Share of [a, b] covered by pulses [n, n + width) for every integer n (exact box filter)."""

    def integral(t: np.ndarray) -> np.ndarray:
        n = np.floor(t)
        return n * width + np.minimum(t - n, width)

    return (integral(b) - integral(a)) / np.maximum(b - a, 1e-9)


def _texture_bricks(img: np.ndarray, lab: np.ndarray, bricks: _Bricks, size: int) -> None:
    ys, xs = np.nonzero(lab == _BRICK)
    if ys.size == 0:
        return
    # Pixel extents in brick-course units (v grows upwards) and brick units (u grows rightwards).
    ox, oy = bricks.origin
    v_lo = (oy - (ys + 1.0) / size) / bricks.row_height
    v_hi = (oy - ys / size) / bricks.row_height
    row = np.floor((v_lo + v_hi) * 0.5)
    shift = 0.5 * (row.astype(np.int64) & 1)
    u_lo = (xs / size - ox) / bricks.brick_length + shift
    u_hi = ((xs + 1.0) / size - ox) / bricks.brick_length + shift
    joint = 1.0 - (1.0 - _pulse_coverage(v_lo, v_hi, bricks.mortar)) * \
        (1.0 - _pulse_coverage(u_lo, u_hi, bricks.mortar * bricks.row_height / bricks.brick_length))
    col = np.floor((u_lo + u_hi) * 0.5)
    h = np.sin(row * 12.9898 + col * 78.233) * 43758.5453
    brick_k = 1.0 + bricks.jitter * 2.0 * (h - np.floor(h) - 0.5)
    px = img[ys, xs]  # [M, 3]
    lum = px @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    mortar = (lum * bricks.mortar_gain)[:, None] * np.array([1.02, 1.0, 0.96], dtype=np.float32)
    j = joint[:, None].astype(np.float32)
    img[ys, xs] = px * (brick_k[:, None].astype(np.float32) * (1.0 - j)) + mortar * j


def _texture_grass(img: np.ndarray, lab: np.ndarray, grass: _Grass, size: int) -> None:
    top = max(int(grass.horizon * size) - size // 20, 0)
    # The shading field is smooth and separable: build it from 1-D profiles, not per pixel.
    y = (np.arange(top, size) + 0.5) / size  # [R]
    x = (np.arange(size) + 0.5) / size  # [S]
    d = np.clip(y - grass.horizon, 0.0, None)
    strength, freq, phase = grass.bands
    rows = 1.08 - grass.depth_shade * d / (1.0 - grass.horizon)
    rows += strength * np.sin(2 * math.pi * freq / (d + 0.08) + phase) * np.clip(d / 0.12, 0.0, 1.0)
    k = np.repeat(rows.astype(np.float32)[:, None], size, axis=1)  # [R, S]
    for s, fx, fy, p in grass.patches:  # sin(a + b) = sin a cos b + cos a sin b
        ax, by = 2 * math.pi * fx * x + p, 2 * math.pi * fy * y
        k += s * (np.cos(by)[:, None] * np.sin(ax)[None] + np.sin(by)[:, None] * np.cos(ax)[None]).astype(np.float32)
    k[lab[top:] != _GRASS] = 1.0
    img[top:] *= k[:, :, None]


def _rasterise(layout: _Layout, resolution: int) -> Scene:
    size = resolution * _SUPERSAMPLE
    ys = (np.arange(size, dtype=np.float32) + 0.5) / size
    t = np.clip(ys / layout.horizon, 0.0, 1.0) ** layout.sky_curve
    column = np.asarray(layout.sky_top, np.float32)[None] * (1 - t)[:, None] + \
        np.asarray(layout.sky_horizon, np.float32)[None] * t[:, None]  # [S, 3]
    sky = np.clip(column, 0, 255).astype(np.uint8)[:, None, :]  # [S, 1, 3]
    image = Image.fromarray(sky, "RGB").resize((size, size), Image.Resampling.NEAREST)
    labels = Image.new("L", (size, size), _SKY)
    if layout.clouds:
        # Clouds are soft: their colours and coverage are blurred before compositing; the label map
        # takes the plain union of the shapes, which is where the blurred coverage crosses one half.
        layer = image.copy()
        alpha = Image.new("L", (size, size), 0)
        _draw(layout.clouds, size, image=ImageDraw.Draw(layer), labels=ImageDraw.Draw(labels),
              mask=ImageDraw.Draw(alpha))
        radius = max(layout.cloud_blur * size, 0.5)
        pad = 2 * radius + 2  # blur only around the clouds: the rest of the sky is untouched
        box = (max(int(min(s.points[0] for s in layout.clouds) * size - pad), 0),
               max(int(min(s.points[1] for s in layout.clouds) * size - pad), 0),
               min(int(max(s.points[2] for s in layout.clouds) * size + pad) + 1, size),
               min(int(max(s.points[3] for s in layout.clouds) * size + pad) + 1, size))
        if box[2] > box[0] and box[3] > box[1]:
            blur = ImageFilter.BoxBlur(radius)
            soft = Image.composite(layer.crop(box).filter(blur), image.crop(box), alpha.crop(box).filter(blur))
            image.paste(soft, box[:2])
    _draw(layout.shapes, size, image=ImageDraw.Draw(image), labels=ImageDraw.Draw(labels))

    img = np.array(image, dtype=np.float32)  # [S, S, 3] in [0, 255]
    lab = np.asarray(labels)  # [S, S]
    _texture_grass(img, lab, layout.grass, size)
    _texture_bricks(img, lab, layout.bricks, size)
    np.clip(img, 0, 255, out=img)
    small = np.asarray(Image.fromarray(img.astype(np.uint8), "RGB").reduce(_SUPERSAMPLE), dtype=np.float32)
    xs = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution
    light = (1.0 + layout.light_slope * (xs - 0.5))[:, None] * np.asarray(layout.light, np.float32)[None]  # [W, 3]
    out = np.clip(small * light[None], 0, 255).astype(np.uint8)  # [H, W, 3]
    half = _SUPERSAMPLE // 2
    return Scene(image=out, labels=np.ascontiguousarray(lab[half::_SUPERSAMPLE, half::_SUPERSAMPLE]))


# ----------------------------------------------------------------------------------------------
# Public API


def render_scene(seed: int, *, resolution: int = 128) -> Scene:
    """Render the scene of one seed.

    Example::

        scene = render_scene(0, resolution=64)   # scene.image [64, 64, 3] uint8, scene.labels [64, 64] uint8

    The same seed gives identical arrays every time, and the same layout at every resolution.
    """
    if int(resolution) < _MIN_RESOLUTION:
        raise ValueError(f"resolution {resolution} is too small: use at least {_MIN_RESOLUTION} pixels")
    return _rasterise(_compose(int(seed)), int(resolution))


def render_batch(seeds: Sequence[int], *, resolution: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, H, W, 3] uint8 and labels [N, H, W] uint8.

    Example::

        images, labels = render_batch(range(32), resolution=64)
    """
    if len(seeds) == 0:
        raise ValueError("no seeds given: pass at least one seed")
    scenes = [render_scene(s, resolution=resolution) for s in seeds]
    return np.stack([s.image for s in scenes]), np.stack([s.labels for s in scenes])


def colourise(labels: np.ndarray) -> np.ndarray:
    """Label map(s) [..., H, W] -> _RGB [..., H, W, 3] uint8 using LABEL_COLOURS.

    Example::

        Image.fromarray(colourise(render_scene(0).labels)).save("labels.png")
    """
    palette = np.asarray(LABEL_COLOURS, dtype=np.uint8)
    if labels.size and int(labels.max()) >= len(LABELS):
        raise ValueError(f"label {int(labels.max())} is out of range: labels must index LABELS (0-{len(LABELS) - 1})")
    return palette[labels]


def concept_shares(labels: np.ndarray) -> dict[str, float]:
    """Pixel share of every label name over one map [H, W] or a batch [N, H, W]; values sum to 1.

    Example::

        _, labels = render_batch(range(100), resolution=64)
        concept_shares(labels)["sky"]   # e.g. 0.33
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64).ravel(), minlength=len(LABELS))
    total = max(int(counts.sum()), 1)
    return {name: float(counts[i]) / total for i, name in enumerate(LABELS)}


def _grid(images: np.ndarray) -> np.ndarray:
    """Tile [N, H, W, 3] into a near-square grid with 2-pixel gutters."""
    n, h, w, _ = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + 2) + 2, cols * (w + 2) + 2, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        out[2 + r * (h + 2):2 + r * (h + 2) + h, 2 + c * (w + 2):2 + c * (w + 2) + w] = images[i]
    return out


def _bench(resolution: int, *, seconds: float = 2.0) -> float:
    """Renders per second on this process (one core) for about ``seconds``."""
    render_scene(0, resolution=resolution)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        render_scene(1000 + n, resolution=resolution)
        n += 1
    return n / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render preview grids of synthetic church scenes.")
    parser.add_argument("--n", type=int, default=16, help="number of scenes")
    parser.add_argument("--resolution", type=int, default=128, help="output size in pixels (>= 16)")
    parser.add_argument("--seed", type=int, default=0, help="first seed; scenes use seed, seed+1, ...")
    parser.add_argument("--grid", type=Path, help="write the image grid here (PNG)")
    parser.add_argument("--labels-grid", type=Path, help="write the colour-coded label grid here (PNG)")
    parser.add_argument("--bench", action="store_true", help="log renders per second at 64 and 128 px")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    images, labels = render_batch(range(args.seed, args.seed + args.n), resolution=args.resolution)
    shares = concept_shares(labels)
    logger.info("shares: %s", ", ".join(f"{k} {v:.3f}" for k, v in shares.items()))
    if args.grid:
        Image.fromarray(_grid(images)).save(args.grid)
        logger.info("wrote %s", args.grid)
    if args.labels_grid:
        Image.fromarray(_grid(colourise(labels))).save(args.labels_grid)
        logger.info("wrote %s", args.labels_grid)
    if args.bench:
        for res in (64, 128):
            logger.info("%d px: %.1f renders/s", res, _bench(res))


if __name__ == "__main__":
    main()
