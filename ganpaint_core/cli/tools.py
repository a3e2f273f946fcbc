"""``python -m ganpaint_core compare``, ``report``, ``transform`` and ``directions``: a settings grid for one photo,
an evaluation report over a folder of photos (both through the one edit path), one photo turned into another
(:mod:`ganpaint_core.review.transform`), and a model's latent directions."""
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

    p = sub.add_parser("transform", help="turn one photo into another along the latent path (iGAN): both photos set "
                                         "up, N frames from A's reconstruction to B's, as an animation and a strip")
    p.add_argument("--from", dest="source", required=True, help="photo A (the first frame is its reconstruction)")
    p.add_argument("--to", dest="target", required=True, help="photo B (the last frame is its reconstruction)")
    p.add_argument("--frames", type=int, default=8, help="frames from A to B, ends included (default 8)")
    p.add_argument("--out", required=True, help="the animation, .gif or .webp; the strip goes beside it as "
                                                "<name>-strip.png")
    p.add_argument("--size", type=int, default=256, help="pixels per frame in the files (default 256)")
    p.add_argument("--model", default="synth-church")
    p.add_argument("--fit", choices=["crop", "pad"], default="crop")
    p.add_argument("--no-adapt", action="store_true", help="skip each photo's adaptation")
    p.add_argument("--invert", default="single", help="single or segments (as for edit)")
    p.add_argument("--json", help="also write the frames' distances to A and B to this file")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_transform)

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


def cmd_transform(args: argparse.Namespace) -> int:
    from ganpaint_core.core.files import write_json
    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.edit.spec import EditOptions
    from ganpaint_core.review.transform import check_animation_path, check_frames, save_transformation, transform_frames

    check_frames(args.frames)
    out = check_animation_path(args.out)
    if not 16 <= args.size <= 1024:
        raise GanpaintError(f"--size must be from 16 to 1024 pixels, got {args.size}")
    EditOptions(invert=args.invert).check()
    engine = _Engines(pick_device(args.device))(args.model)
    states = []
    for label, path in (("A", args.source), ("B", args.target)):
        photo = load_photo(path, size=engine.resolution, fit=args.fit)
        states.append(engine.prepare(photo, adapt=not args.no_adapt, invert=args.invert,
                                     callback=tqdm_callback(f"{label} {Path(path).name}: setup")))
    seq = transform_frames(engine, states[0], states[1], frames=args.frames)
    animation, strip = save_transformation(seq, out, size=args.size)
    if args.json:
        write_json(args.json, {"from": args.source, "to": args.target, "model": args.model, "frames": args.frames,
                               "distance_to_a": seq.distance_to_a, "distance_to_b": seq.distance_to_b,
                               "monotone": seq.monotone, "animation": str(animation), "strip": str(strip)})
    print(f"wrote {animation} and {strip}: {args.frames} frames; distance to B "
          f"{' '.join(f'{d:.0f}' for d in seq.distance_to_b)} (0..255){'' if seq.monotone else ' (not monotone)'}")
    return 0


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
