"""Draw the README's warp figure: ``python docs/make_warp_figure.py [PHOTOS_DIR]``.

With the bundled ``synth-church`` at the engine's default settings, on the first two photos of a folder (sorted
by name; default ``runs/photos``: scikit-image's samples), at their own resolution: the disc of 1/12 of the
model's square around the square's centre is dragged 1/8 of the side to the right (a fixed rule, nothing picked
for looks). Per photo: the photo with the drag drawn, the render before and after (the model's square, best of
4 candidates), the result with delta compositing, with the flow transfer, and a crop of both around the target.
Writes ``docs/warp.png``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ganpaint_core.core.photo import load_photo, to_uint8
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.pipeline import edit_photo
from ganpaint_core.edit.spec import EditOptions
from ganpaint_core.edit.warp import WarpSpec
from ganpaint_core.hub.loading import load_model

CELL, TITLE = 220, 26


def cell(image: np.ndarray, title: str) -> Image.Image:
    img = Image.fromarray(image)
    img = img.resize((CELL, round(CELL * img.height / img.width)), Image.Resampling.LANCZOS)
    out = Image.new("RGB", (CELL, TITLE + img.height), "white")
    out.paste(img, (0, TITLE))
    ImageDraw.Draw(out).text((6, 7), title, fill="black")
    return out


def main(folder: Path) -> None:
    torch.manual_seed(0)
    engine = EditEngine(load_model("synth-church"))
    s = engine.resolution
    rows = []
    for path in sorted(folder.glob("*.png"))[:2]:
        photo = load_photo(path, size=s)
        spec = WarpSpec(handle=(s / 2, s / 2), target=(s / 2 + s / 8, s / 2), radius=s / 12, resolution=s)
        delta = edit_photo(engine, photo, [spec])
        flow = edit_photo(engine, delta.state, [spec], options=EditOptions(transfer="flow"))
        left, top, right, _ = photo.box
        k = (right - left) / s
        drawn = Image.fromarray(photo.original.copy())
        d = ImageDraw.Draw(drawn)
        (x0, y0), (x1, y1) = [(left + x * k, top + y * k) for x, y in (spec.handle, spec.target)]
        r = spec.radius * k
        d.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), outline=(0, 229, 255), width=3)
        d.line((x0, y0, x1, y1), fill=(255, 32, 32), width=3)
        cx, cy, half = int(x1), int(y1), int(3 * r)
        crop = lambda im: np.asarray(im)[max(cy - half, 0): cy + half, max(cx - half, 0): cx + half]  # noqa: E731
        info = flow.record["strokes"][0]
        rows.append([cell(np.asarray(drawn), f"{path.stem}: the drag"),
                     cell(to_uint8(delta.state.base_render[0]), "render before"),
                     cell(delta.result.preview, f"render after (handle {info['handle_error']:.1f} px off)"),
                     cell(delta.result.final, "delta compositing"), cell(flow.result.final, "flow transfer"),
                     cell(np.concatenate([crop(delta.result.final), crop(flow.result.final)], 1), "target: delta | flow")])
    width = CELL * len(rows[0])
    out = Image.new("RGB", (width, sum(max(c.height for c in r) for r in rows)), "white")
    y = 0
    for r in rows:
        for i, c in enumerate(r):
            out.paste(c, (i * CELL, y))
        y += max(c.height for c in r)
    out.save(Path(__file__).parent / "warp.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/photos"))
