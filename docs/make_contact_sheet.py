"""Draw the README's contact sheet of edits on real photos: ``python docs/make_contact_sheet.py [--out ...]``.

Eight edits (four adds, four removes) with the bundled ``synth-church`` model at the engine's default
settings, on photos that ship inside scikit-image (``pip install scikit-image``; no download), at their own
resolution. Rows: the photo with the painted box (orange = add, red = remove); the result; the result
with the changed area outlined (every pixel that differs from the photo lies inside the magenta line).
A remove takes the concept the segmenter finds most under the box (the photos are far from the model's
domain, so that is often not what a person would call it). The edits are not picked for looks: the weak
ones stay. Takes about two minutes on a 2-core CPU (one setup per photo).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.composite import outline_changed
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.hub.loading import load_model

EDITS = [  # (scikit-image sample, box as shares of the photo's width/height x0, y0, x1, y1, concept, action)
    ("rocket", (0.05, 0.08, 0.28, 0.42), "tree", "add"),
    ("camera", (0.58, 0.04, 0.92, 0.26), "cloud", "add"),
    ("astronaut", (0.62, 0.02, 0.98, 0.30), "tree", "add"),
    ("stereo_motorcycle", (0.05, 0.70, 0.45, 0.98), "grass", "add"),
    ("rocket", (0.64, 0.25, 0.78, 0.95), None, "remove"),
    ("camera", (0.62, 0.30, 0.98, 0.46), None, "remove"),
    ("coffee", (0.55, 0.05, 0.95, 0.35), None, "remove"),
    ("chelsea", (0.0, 0.0, 0.35, 0.5), None, "remove"),
]
COLOURS = {"add": (255, 140, 0), "remove": (230, 30, 30)}
CELL, TITLE = 300, 30  # column width, title strip height


def sample(name: str) -> Image.Image:
    try:
        from skimage import data
    except ImportError:
        raise SystemExit("the contact sheet uses scikit-image's sample photos: pip install scikit-image") from None
    arr = getattr(data, name)()
    arr = arr[0] if isinstance(arr, tuple) else arr
    return Image.fromarray(arr).convert("RGB")


def present_concept(engine: EditEngine, state, mask_square: np.ndarray) -> str:
    """The synth-church concept the segmenter finds most under the box on the photo's reconstruction."""
    from ganpaint_core.synth.scenes import LABELS
    from ganpaint_core.training.gan import to_unit_range

    concepts = [c for c in ("sky", "cloud", "grass", "tree", "brick", "dome", "door") if c in engine.concepts.concepts]
    base = engine.render(state, [], final=False).preview
    labels = engine.model.segmenter.predict(to_unit_range(base[None]).to(engine.device)).cpu().numpy()[0]
    under = labels[mask_square > 0.5]
    return max(concepts, key=lambda c: (under == LABELS.index(c)).sum())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "contact_sheet.png")
    p.add_argument("--model", default="synth-church")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    engine = EditEngine(load_model(args.model))
    prepared = {}  # one inversion + adaptation per photo, shared by its edits
    columns = []
    for name, share, concept, action in EDITS:
        photo = load_photo(sample(name), size=engine.resolution)
        if name not in prepared:
            t0 = time.monotonic()
            prepared[name] = engine.prepare(photo)
            print(f"{name}: set up in {time.monotonic() - t0:.1f} s, "
                  f"reconstruction {prepared[name].recon_psnr_after:.1f} dB")
        h, w = photo.original.shape[:2]
        x0, y0, x1, y1 = round(share[0] * w), round(share[1] * h), round(share[2] * w), round(share[3] * h)
        mask = np.zeros((h, w), np.float32)
        mask[y0:y1, x0:x1] = 1
        concept = concept or present_concept(engine, prepared[name], engine.mask_to_square(mask, photo))
        stroke = engine.stroke(mask, concept=concept, action=action, strength=1.0, photo=photo)
        result = engine.render(prepared[name], [stroke], final=True)
        marked = Image.fromarray(photo.original)
        ImageDraw.Draw(marked).rectangle((x0, y0, x1 - 1, y1 - 1), outline=COLOURS[action], width=max(2, w // 160))
        outlined = Image.fromarray(outline_changed(result.final, result.changed, width=max(1, w // 200)))
        columns.append(([marked, Image.fromarray(result.final), outlined], f"{action} {concept} ({name})"))
    height = max(round(CELL * img[0].height / img[0].width) for img, _ in columns)
    figure = Image.new("RGB", (len(columns) * (CELL + 4), 3 * (height + 4) + TITLE), "white")
    draw = ImageDraw.Draw(figure)
    for i, (images, title) in enumerate(columns):
        for row, img in enumerate(images):
            small = img.resize((CELL, round(CELL * img.height / img.width)), Image.Resampling.LANCZOS)
            figure.paste(small, (i * (CELL + 4) + 2, TITLE + row * (height + 4)))
        draw.text((i * (CELL + 4) + 6, 8), title, fill=(0, 0, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.save(args.out)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
