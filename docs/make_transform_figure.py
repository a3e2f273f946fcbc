"""Draw the README's figure of photo-to-photo transformation and painting from nothing:
``python docs/make_transform_figure.py [PHOTOS_DIR]``.

With the bundled ``synth-church`` at the engine's default settings, on the first two photos of a folder (sorted by
name; default ``runs/photos``: scikit-image's samples saved as PNG, see the README's *Status*):

1. the first photo turned into the second in 8 frames (``transform --frames 8``), each frame's mean distance to
   the two ends under it;
2. from nothing: three colour ellipses whose colours are the first photo's own there (its model square), met
   from a blank and from sample 0: the start, the paint, the made image, with the colour error before and after.

Nothing is picked for looks: the photos are the folder's first two, the ellipses fixed. Writes
``docs/transform_scratch.png``. About two minutes on a 2-core CPU (the photos' setups are kept on disk).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ganpaint_core.core.photo import load_photo, to_uint8
from ganpaint_core.edit.brush import BrushSpec
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.scratch import paint_from_scratch, scratch_start
from ganpaint_core.hub.loading import load_model
from ganpaint_core.review.transform import transform_frames

CELL, TITLE = 160, 34
ELLIPSES = ((0.22, 0.5, 0.14, 0.4), (0.55, 0.3, 0.14, 0.16), (0.8, 0.65, 0.12, 0.25))  # cy, cx, ry, rx (shares)


def paint_of(square: np.ndarray) -> BrushSpec:
    """Three fixed ellipses painted in the photo's own mean colour under each."""
    side = square.shape[0]
    yy, xx = np.mgrid[:side, :side] / side
    color = np.zeros((side, side, 3), np.float32)
    mask = np.zeros((side, side), np.float32)
    for cy, cx, ry, rx in ELLIPSES:
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        color[inside] = square[inside].astype(np.float32).mean(0)
        mask[inside] = 1
    return BrushSpec(color=color, color_mask=mask)


def cell(image: np.ndarray, caption: str) -> Image.Image:
    out = Image.new("RGB", (CELL, CELL + TITLE), "white")
    out.paste(Image.fromarray(image).resize((CELL, CELL), Image.Resampling.LANCZOS), (0, TITLE))
    ImageDraw.Draw(out).multiline_text((4, 2), caption, fill="black", spacing=1)
    return out


def row(cells: list[Image.Image]) -> Image.Image:
    out = Image.new("RGB", (CELL * len(cells), CELL + TITLE), "white")
    for i, c in enumerate(cells):
        out.paste(c, (i * CELL, 0))
    return out


def main(folder: Path) -> None:
    torch.manual_seed(0)
    engine = EditEngine(load_model("synth-church"))
    first, second = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")[:2]
    a, b = (engine.prepare(load_photo(p, size=engine.resolution)) for p in (first, second))
    seq = transform_frames(engine, a, b, frames=8)
    rows = [row([cell(f, f"{i}: to {first.stem} {da:.0f}\nto {second.stem} {db:.0f}")
                 for i, (f, da, db) in enumerate(zip(seq.frames, seq.distance_to_a, seq.distance_to_b))])]
    square = to_uint8(a.photo.model_image[0])
    paint = paint_of(square)
    painted = np.where(paint.color_mask[..., None] > 0, paint.color, 255).astype(np.uint8)
    cells = [cell(square, f"{first.stem}: the colours'\nsource (model square)"), cell(painted, "the paint")]
    for start, seed in (("blank", 0), ("sample", 0)):
        made = paint_from_scratch(engine, paint, start=start, seed=seed)
        begin = to_uint8(scratch_start(engine, start=start, seed=seed).base_render[0])
        cells += [cell(begin, f"start: {start} {seed}\noff {made.color_error_before:.0f}"),
                  cell(made.state.photo.original, f"made from the paint\noff {made.color_error_after:.0f}")]
    rows.append(row(cells))
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height
    out = Path(__file__).resolve().parent / "transform_scratch.png"
    sheet.save(out)
    print(f"wrote {out}: monotone {seq.monotone}; distances to B {[round(d, 1) for d in seq.distance_to_b]}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/photos"))
