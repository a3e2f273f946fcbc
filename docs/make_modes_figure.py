"""Draw the README's figure of the other editing modes: ``python docs/make_modes_figure.py [PHOTOS_DIR]``.

With the bundled ``synth-church`` at the engine's default settings, on photos of a folder (default
``runs/photos``: scikit-image's samples saved as PNG, see the README's *Status*), at their own resolution:

1. a colour brush: the photo with the painted colour, the four candidates (best first), the best at morph 0.5;
2. a sketch: the photo with the line, the four candidates;
3. directions on the whole photo: sky at −3, 0 and +3, tree at −3 and +3;
4. inversion before adaptation, one code vs segments (the model's square).

Nothing is picked for looks. Writes ``docs/modes.png``. About two minutes on a 2-core CPU.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ganpaint_core.core.photo import load_photo, to_uint8
from ganpaint_core.edit.brush import BrushSpec
from ganpaint_core.edit.direction_edit import DirectionSpec
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.pipeline import edit_photo
from ganpaint_core.hub.loading import load_model

CELL, TITLE = 220, 26


def cell(image: np.ndarray, title: str) -> Image.Image:
    img = Image.fromarray(image)
    img = img.resize((CELL, round(CELL * img.height / img.width)), Image.Resampling.LANCZOS)
    out = Image.new("RGB", (CELL, TITLE + img.height), "white")
    out.paste(img, (0, TITLE))
    ImageDraw.Draw(out).text((6, 7), title, fill="black")
    return out


def row(cells: list[Image.Image]) -> Image.Image:
    out = Image.new("RGB", (CELL * len(cells), max(c.height for c in cells)), "white")
    for i, c in enumerate(cells):
        out.paste(c, (i * CELL, 0))
    return out


def painted(photo_image: np.ndarray, box: tuple[int, int, int], square: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """The photo with ``square`` [S, S] (a stroke on the model's square) drawn in ``colour``."""
    left, top, right = box[:3]
    side = right - left
    big = np.asarray(Image.fromarray((square * 255).astype(np.uint8)).resize((side, side), Image.Resampling.NEAREST)) > 127
    out = photo_image.copy()
    region = out[max(top, 0): top + side, max(left, 0): left + side]
    mask = big[: region.shape[0], : region.shape[1]]
    region[mask] = colour
    return out


def main(folder: Path) -> None:
    torch.set_num_threads(2)
    engine = EditEngine(load_model("synth-church"))
    s = engine.resolution
    yy, xx = np.mgrid[:s, :s]
    rows = []
    photo = load_photo(folder / "rocket.png", size=s)
    state = engine.prepare(photo)
    blob = ((((yy - 18) / 7) ** 2 + ((xx - 20) / 10) ** 2) <= 1).astype(np.float32)
    blue = np.broadcast_to(np.array([90, 150, 220], np.float32), (s, s, 3)).copy()
    brush = BrushSpec(color=blue, color_mask=blob)
    finals = [edit_photo(engine, state, [dataclasses.replace(brush, pick=k)]).result.final for k in range(4)]
    half = edit_photo(engine, state, [dataclasses.replace(brush, morph=0.5)]).result.final
    rows.append(row([cell(painted(photo.original, photo.box, blob, (90, 150, 220)), "colour stroke (sky blue)")]
                    + [cell(f, f"candidate {k + 1}") for k, f in enumerate(finals)] + [cell(half, "candidate 1, morph 0.5")]))
    photo = load_photo(folder / "chelsea.png", size=s)
    state = engine.prepare(photo)
    line = np.zeros((s, s), np.float32)
    line[40, 8:56] = 1
    sketch = BrushSpec(sketch=line)
    finals = [edit_photo(engine, state, [dataclasses.replace(sketch, pick=k)]).result.final for k in range(4)]
    rows.append(row([cell(painted(photo.original, photo.box, line, (255, 0, 255)), "sketched line")]
                    + [cell(f, f"candidate {k + 1}") for k, f in enumerate(finals)]))
    photo = load_photo(folder / "astronaut.png", size=s)
    state = engine.prepare(photo)
    sweep = [("sky", -3), ("sky", 3), ("tree", -3), ("tree", 3), ("grass", 3)]
    rows.append(row([cell(photo.original, "photo")] + [
        cell(edit_photo(engine, state, [DirectionSpec(name=n, amount=a)]).result.final, f"direction {n} {a:+d}")
        for n, a in sweep]))
    cells = []
    for name in ("coffee", "brick", "camera"):
        photo = load_photo(folder / f"{name}.png", size=s)
        single = engine.prepare(photo, adapt=False)
        segments = engine.prepare(photo, adapt=False, invert="segments")
        cells += [cell(to_uint8(single.base_render[0]), f"{name}: one code {single.recon_psnr_before:.1f} dB"),
                  cell(to_uint8(segments.base_render[0]), f"segments {segments.recon_psnr_before:.1f} dB")]
    rows.append(row(cells))
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    sheet.save(Path(__file__).parent / "modes.png", optimize=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/photos"))
