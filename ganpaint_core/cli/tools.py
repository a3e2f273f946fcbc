"""``python -m ganpaint_core compare``, ``report`` and ``directions``: a settings grid for one photo, an evaluation
report over a folder of photos (both through the one edit path), and a model's latent directions."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ganpaint_core.core.device import pick_device
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.progress import tqdm_callback


def add_tools_parsers(sub: Any) -> None:
    p = sub.add_parser("compare", help="render a recipe at several strengths / with and without adaptation / on "
                                       "several models, as one labelled grid")
    p.add_argument("--image", required=True)
    p.add_argument("--recipe", required=True, help="a recipe or an edit record (its strokes)")
    p.add_argument("--vary", action="append", required=True,
                   help="strength=0.25,0.5,1 | adapt=on,off | model=synth-church,other (repeat; the first runs "
                        "along the columns)")
    p.add_argument("--model", default="synth-church", help="the model where --vary model is not given")
    p.add_argument("--fit", choices=["crop", "pad"], default="crop")
    p.add_argument("--out", required=True, help="the grid (PNG)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="edit a folder of photos with a recipe and write an HTML evaluation report")
    p.add_argument("--images", required=True, help="a folder of photos")
    p.add_argument("--recipe", required=True)
    p.add_argument("--model", action="append", help="a model to evaluate (repeat; default synth-church)")
    p.add_argument("--fit", choices=["crop", "pad"], default="crop")
    p.add_argument("--no-adapt", action="store_true")
    p.add_argument("--out", required=True, help="the report's folder (index.html, images/, report.json)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("directions", help="find a model's latent directions (one per concept, and the top principal "
                                          "components), once: they are cached by the generator's sha256")
    p.add_argument("--model", required=True)
    p.add_argument("--samples", type=int, default=2048, help="latents the directions are found from (default 2048)")
    p.add_argument("--components", type=int, default=10, help="principal components kept (default 10)")
    p.add_argument("--force", action="store_true", help="find them again even when cached")
    p.add_argument("--json", help="write the table to this file")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_directions)


class _Engines:
    """Models loaded on first use, once (a CLI run's own catalog)."""

    def __init__(self, device: Any) -> None:
        self.device, self._engines = device, {}

    def __call__(self, name: str) -> Any:
        from ganpaint_core.edit.engine import EditEngine
        from ganpaint_core.hub.loading import load_model

        if name not in self._engines:
            self._engines[name] = EditEngine(load_model(name, device=self.device))
        return self._engines[name]


def cmd_compare(args: argparse.Namespace) -> int:
    from PIL import Image

    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.edit.recipe import load_recipe
    from ganpaint_core.edit.spec import EditOptions
    from ganpaint_core.review.compare import compare_grid, parse_vary

    vary = parse_vary(args.vary)
    strokes = load_recipe(Path(args.recipe))
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise GanpaintError(f"--out {out}: the grid is written as PNG; name it .png")
    engines = _Engines(pick_device(args.device))
    names = vary.get("model", [args.model])
    for name in names:
        engines(name)  # a missing model is refused before any setup
    first = engines(names[0])
    photo = load_photo(args.image, size=first.resolution, fit=args.fit)
    references: dict = {}
    specs = [s.to_spec(photo, first, references)[0] for s in strokes]
    grid = compare_grid(engines, photo, specs, vary=vary, model=names[0], options=EditOptions(fit=args.fit),
                        callback=tqdm_callback(f"{Path(args.image).name}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid.image).save(out, format="PNG")
    print(f"wrote {out}: {grid.rows}×{grid.cols} cells ({', '.join(grid.labels)})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ganpaint_core.edit.recipe import load_recipe
    from ganpaint_core.edit.spec import EditOptions
    from ganpaint_core.review.report import write_report

    strokes = load_recipe(Path(args.recipe))
    models = args.model or ["synth-church"]
    engines = _Engines(pick_device(args.device))
    for name in models:
        engines(name)
    bar: list[Any] = []

    def photos(items: Any, desc: str) -> Any:
        bar.append(tqdm(items, desc=desc))
        return bar[0]

    def inside(step: int, total: int, info: dict[str, Any]) -> None:  # a photo's stage and steps, on its bar
        if bar and info.get("stage") != "photo" and (not total or step % max(1, total // 20) == 0 or step == total):
            steps = f" {step}/{total}" if total else ""
            bar[0].set_postfix_str(f"{info['model']} {info['photo']}: {info.get('stage', '')}{steps}", refresh=True)

    report = write_report(engines, Path(args.images), strokes, Path(args.out), models=models,
                          recipe_text=Path(args.recipe).read_text(encoding="utf-8"),
                          options=EditOptions(fit=args.fit, adapt=not args.no_adapt), progress=photos, callback=inside)
    for name, entry in report["models"].items():
        m = entry["medians"]
        print(f"{name}: {len(entry['photos'])} photos edited, {len(entry['skipped'])} skipped; medians: PSNR "
              f"{m['recon_psnr_inverted_db']} -> {m['recon_psnr_adapted_db']} dB, locality {m['locality_psnr_db']} dB, "
              f"concept share {m['concept_share_before']} -> {m['concept_share_after']}")
        for row in entry["skipped"]:
            print(f"skipped {row['photo']}: {row['reason']}")
    print(f"wrote {Path(args.out) / 'index.html'}")
    edited = sum(len(e["photos"]) for e in report["models"].values())
    return 0 if edited else 1


def cmd_directions(args: argparse.Namespace) -> int:
    from ganpaint_core.analysis.directions import directions_path, load_directions
    from ganpaint_core.core.files import write_json
    from ganpaint_core.hub.loading import load_model

    model = load_model(args.model, device=pick_device(args.device))
    bar = tqdm_callback(model.manifest.name)
    found = []  # the callback is called only when the directions are found, not read back

    def callback(step: int, total: int, info: dict[str, Any]) -> None:
        found.append(step)
        bar(step, total, info)

    dirs = load_directions(model, samples=args.samples, components=args.components, force=args.force,
                           callback=callback)
    rows = dirs.table()
    print(f"{'name':<8}{'kind':<12}{'score':>7}  label")
    for row in rows:
        print(f"{row['name']:<8}{row['kind']:<12}{row['score']:>7.3f}  {row['label']}")
    for concept, why in dirs.skipped.items():
        print(f"no {concept} direction: {why}")
    path = directions_path(model)
    how = f"found in {dirs.seconds:.0f} s" if found else "read from the cache"
    print(f"{model.manifest.name}: {len(rows)} directions in {dirs.space} ({how}); score: R² of the concept-share "
          f"fit (supervised), explained-variance ratio (pca); file: {path}")
    if args.json:
        write_json(args.json, {"model": model.manifest.name, "space": dirs.space, "file": str(path),
                               "generator_sha256": dirs.generator_sha256, "settings": dirs.settings,
                               "seconds": round(dirs.seconds, 1), "directions": rows,
                               "explained_variance_top10": dirs.explained_variance_top10, "skipped": dirs.skipped})
    return 0
