"""Render the README's figure of edits: ``python docs/make_edits_figure.py [--out docs/edits.png]``.

Each column is one edit on one of the example photos in ``docs/examples/`` with the bundled
``synth-church`` model at the engine's default settings: top, the photo with the painted box (orange =
add, red = remove); bottom, the result pasted back at full strength. Boxes are in the photos' 256-px
coordinates. Takes about a minute on a 2-core CPU (one setup per photo).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.hub.loading import load_model

EXAMPLES = Path(__file__).resolve().parent / "examples"
EDITS = [  # (example photo, box x0, y0, x1, y1, concept, action)
    ("church-9000006.png", (15, 110, 95, 200), "tree", "add"),
    ("church-9000006.png", (150, 20, 250, 70), "cloud", "add"),
    ("church-9000008.png", (175, 50, 256, 256), "tree", "remove"),
    ("church-9000002.png", (55, 0, 165, 75), "dome", "remove"),
    ("church-9000002.png", (70, 195, 180, 256), "grass", "add"),
    ("church-9000006.png", (70, 140, 200, 210), "brick", "add"),
    ("church-9000006.png", (150, 75, 220, 145), "dome", "add"),
    ("church-9000008.png", (64, 150, 112, 214), "door", "add"),
]
COLOURS = {"add": (255, 140, 0), "remove": (230, 30, 30)}
CELL, TITLE = 260, 24  # column width (256-px photo + margin), title strip height


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "edits.png")
    p.add_argument("--model", default="synth-church")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    engine = EditEngine(load_model(args.model))
    prepared = {}  # one inversion + adaptation per photo, shared by its edits
    columns = []
    for name, box, concept, action in EDITS:
        photo = load_photo(EXAMPLES / name, size=engine.resolution)
        if name not in prepared:
            t0 = time.monotonic()
            prepared[name] = engine.prepare(photo)
            print(f"{name}: set up in {time.monotonic() - t0:.1f} s, "
                  f"reconstruction {prepared[name].recon_psnr_after:.1f} dB")
        x0, y0, x1, y1 = box
        mask = np.zeros(photo.original.shape[:2], np.float32)
        mask[y0:y1, x0:x1] = 1
        stroke = engine.stroke(mask, concept=concept, action=action, strength=1.0, photo=photo)
        result = engine.render(prepared[name], [stroke], final=True)
        marked = Image.fromarray(photo.original)
        ImageDraw.Draw(marked).rectangle((x0, y0, x1 - 1, y1 - 1), outline=COLOURS[action], width=3)
        columns.append((marked, Image.fromarray(result.final), f"{action} {concept}"))
    figure = Image.new("RGB", (len(columns) * CELL, 2 * CELL + TITLE), "white")
    draw = ImageDraw.Draw(figure)
    for i, (before, after, title) in enumerate(columns):
        figure.paste(before, (i * CELL + 2, TITLE))
        figure.paste(after, (i * CELL + 2, TITLE + CELL))
        draw.text((i * CELL + 8, 6), title, fill=(0, 0, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.save(args.out)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
