"""Compare settings side by side: one photo, the same strokes, rendered at several strengths, with and without
adaptation, and on several models, laid out as one labelled grid image.

Every cell goes through the one edit path (``edit_photo``); the photo is set up once per model (the engine's
setup cache), and "adapt off" reuses that setup's inversion without its adaptation, so it costs one tail pass.

Example::

    grid = compare_grid({"synth-church": engine}, photo, specs, vary=parse_vary(["strength=0.25,0.5,1",
                                                                                 "adapt=on,off"]))
    grid.image                    # uint8 [rows * (cell + label), cols * cell, 3]
    grid.labels                   # one line per cell, row by row
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.photo import Photo, load_photo
from ganpaint_core.core.progress import Callback, report
from ganpaint_core.edit.engine import EditEngine, PhotoState
from ganpaint_core.edit.pipeline import edit_photo
from ganpaint_core.edit.spec import EditOptions, StrokeSpec, unit_interval
from ganpaint_core.models.layers import run_tail

AXES = ("strength", "adapt", "model")  # what can vary; the first axis given runs along the columns
CELL_SIDE = 256  # a cell's longer side, px
LABEL_HEIGHT = 22  # the text band above each cell, px
MAX_CELLS = 36  # a grid larger than this is refused (each cell is a render)


@dataclass(frozen=True)
class CompareGrid:
    """A comparison: the grid image, and each cell's settings and label (row by row)."""

    image: np.ndarray  # uint8 [rows * (cell_h + LABEL_HEIGHT), cols * cell_w, 3]
    rows: int
    cols: int
    cells: tuple[dict[str, Any], ...]  # {"strength": 0.5, "adapt": True, "model": "synth-church"} per cell
    labels: tuple[str, ...]  # "strength 0.50 · adapt on · synth-church" per cell
    cell_size: tuple[int, int]  # (width, height) of one cell's image


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["strength=0.25,0.5,1", "adapt=on,off", "model=a,b"]`` -> {axis: values}; ``GanpaintError`` if bad."""
    out: dict[str, list[Any]] = {}
    for item in items:
        axis, sep, values = str(item).partition("=")
        axis = axis.strip()
        if not sep or axis not in AXES:
            raise GanpaintError(f"--vary {item!r}: write AXIS=V1,V2,… with AXIS one of {', '.join(AXES)}")
        if axis in out:
            raise GanpaintError(f"--vary {axis} is given twice")
        parts = [v.strip() for v in values.split(",") if v.strip()]
        if not parts:
            raise GanpaintError(f"--vary {item!r}: give at least one value")
        if axis == "strength":
            try:
                out[axis] = [unit_interval("strength", float(v)) for v in parts]
            except ValueError:
                raise GanpaintError(f"--vary {item!r}: strengths are numbers in [0, 1]") from None
        elif axis == "adapt":
            bad = [v for v in parts if v not in ("on", "off")]
            if bad:
                raise GanpaintError(f"--vary {item!r}: adapt takes on and off, got {bad[0]!r}")
            out[axis] = [v == "on" for v in parts]
        else:
            out[axis] = parts
    return out


def label_of(cell: Mapping[str, Any]) -> str:
    parts = []
    for axis, value in cell.items():
        if axis == "strength":
            parts.append(f"strength {value:.2f}")
        elif axis == "adapt":
            parts.append(f"adapt {'on' if value else 'off'}")
        else:
            parts.append(str(value))
    return " · ".join(parts)


def without_adaptation(engine: EditEngine, state: PhotoState) -> PhotoState:
    """The same setup with its adaptation left out: what ``prepare(adapt=False)`` gives (the inversion is the
    same, seeded), without inverting again."""
    if not state.adapter:
        return state
    with torch.no_grad():
        base = run_tail(engine.tail, state.features.to(engine.device), latent=state.latent.to(engine.device))
    return dataclasses.replace(state, adapter={}, base_render=base.cpu(), recon_psnr_after=state.recon_psnr_before)


def strokes_for(engine: EditEngine, specs: Sequence[StrokeSpec]) -> list[StrokeSpec]:
    """``specs`` (masks on any model's square) with their masks on ``engine``'s square. Brushes and
    directions pass as they are (compared on their own model only: see ``page_tools.compare_models``)."""
    return [spec.on_square(engine.resolution) for spec in specs]


def compare_grid(engines: Mapping[str, EditEngine] | Callable[[str], EditEngine], photo: Photo,
                 specs: Sequence[StrokeSpec], *, vary: Mapping[str, Sequence[Any]], model: str,
                 options: EditOptions = EditOptions(), states: dict[str, PhotoState] | None = None,
                 cell_side: int = CELL_SIDE, callback: Callback | None = None) -> CompareGrid:
    """Render ``specs`` on ``photo`` for every combination of ``vary`` (strength: every stroke's strength;
    adapt: on / off; model: names ``engines`` gives) and lay the renders out with labels. ``model`` is the
    model used where "model" does not vary; ``states`` holds setups already made (by model name)."""
    if not specs:
        raise GanpaintError("there are no strokes to compare: add a stroke first")
    get = engines.__getitem__ if isinstance(engines, Mapping) else engines
    axes = {axis: list(values) for axis, values in vary.items() if axis in AXES}
    if not axes:
        raise GanpaintError(f"vary at least one of {', '.join(AXES)}")
    combos = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    if len(combos) > MAX_CELLS:
        raise GanpaintError(f"{len(combos)} cells is more than {MAX_CELLS}: vary fewer values")
    states = dict(states or {})
    first = next(iter(axes))
    cols = len(axes[first])
    rows = len(combos) // cols
    # itertools.product varies the last axis fastest; cells are laid out with the first axis along columns.
    order = sorted(range(len(combos)), key=lambda i: (tuple(axes[a].index(combos[i][a]) for a in list(axes)[1:]),
                                                       axes[first].index(combos[i][first])))
    combos = [combos[i] for i in order]
    images = []
    for n, cell in enumerate(combos):
        name = cell.get("model", model)
        engine = get(name)
        if name not in states:
            model_photo = photo if engine.resolution == photo.model_image.shape[-1] else load_photo(
                Image.fromarray(photo.original), size=engine.resolution, fit=photo.fit)
            states[name] = engine.prepare(model_photo, adapt=True, callback=callback)
        state = states[name] if cell.get("adapt", options.adapt) else without_adaptation(engine, states[name])
        cell_specs = strokes_for(engine, specs)
        if "strength" in cell:
            cell_specs = [s.with_strength(cell["strength"]) for s in cell_specs]  # brushes, directions: as they are
        out = edit_photo(engine, state, cell_specs, options=dataclasses.replace(options, fit=photo.fit), final=True)
        images.append(out.result.final)
        report(callback, n + 1, len(combos), stage="compare")
    labels = tuple(label_of(c) for c in combos)
    grid, size = _layout(images, labels, rows=rows, cols=cols, side=cell_side)
    return CompareGrid(image=grid, rows=rows, cols=cols, cells=tuple(combos), labels=labels, cell_size=size)


def _layout(images: Sequence[np.ndarray], labels: Sequence[str], *, rows: int, cols: int,
            side: int) -> tuple[np.ndarray, tuple[int, int]]:
    h, w = images[0].shape[:2]
    scale = side / max(h, w)
    cw, ch = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = Image.new("RGB", (cols * cw, rows * (ch + LABEL_HEIGHT)), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=LABEL_HEIGHT - 8)  # Pillow's own TrueType font: draws "·"
    for i, (img, label) in enumerate(zip(images, labels)):
        r, c = divmod(i, cols)
        x, y = c * cw, r * (ch + LABEL_HEIGHT)
        draw.text((x + 4, y + 4), label, fill=(20, 20, 20), font=font)
        canvas.paste(Image.fromarray(img).resize((cw, ch), Image.Resampling.LANCZOS), (x, y + LABEL_HEIGHT))
    return np.asarray(canvas), (cw, ch)
