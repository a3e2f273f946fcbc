"""``python -m ganpaint_core edit``: one photo, a folder of photos, one recipe or several, through the one
edit path (:func:`ganpaint_core.edit.pipeline.edit_files`). Every value is checked before the setup runs."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ganpaint_core.core.device import pick_device
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.files import write_json
from ganpaint_core.core.progress import tqdm_callback


def add_edit_parser(sub: Any) -> None:
    p = sub.add_parser("edit", help="edit a photo (or a folder of photos): invert, edit, adapt, paste back")
    p.add_argument("--model", default="synth-church")
    p.add_argument("--image", help="a photo, or a folder of photos (with --recipe); none with --from-scratch")
    p.add_argument("--from-scratch", action="store_true",
                   help="no photo: make an image that meets --color-strokes / --sketch (square images, any scale) "
                        "from a blank or a random sample, then apply the other strokes to it")
    p.add_argument("--start", choices=["blank", "sample"], default="sample",
                   help="with --from-scratch: the generator's average image or sample --seed (default sample)")
    p.add_argument("--seed", type=int, default=0, help="with --from-scratch: the sample to start from (default 0)")
    p.add_argument("--segment", help="with --invert segments: apply the --direction(s) and the brush to this "
                                     "segment's code only (its label, e.g. sky; the record lists a photo's segments)")
    p.add_argument("--mask", help="mask image: white (or opaque) where to edit; resized to the photo")
    p.add_argument("--concept")
    p.add_argument("--action", choices=["add", "remove"])
    p.add_argument("--strength", type=float, default=0.75, help="0 = no-op … 1 = strong (default 0.75)")
    p.add_argument("--style", help="reference image whose look the added concept copies")
    p.add_argument("--style-seed", type=int, help="a generated sample whose look the added concept copies")
    p.add_argument("--style-strength", type=float, default=0.75,
                   help="0 = the default look … 1 = the style's (default 0.75, as in recipes, the app and /edit)")
    p.add_argument("--color-strokes", metavar="PNG",
                   help="colour brush (iGAN): an image over the photo (any scale), transparent (or black) where nothing "
                        "is painted, in the colours wanted there")
    p.add_argument("--sketch", metavar="PNG", help="sketch brush: an image over the photo, white or opaque on the lines "
                                                   "where edges are wanted")
    p.add_argument("--candidates", type=int, default=4, help="brush results to find (diverse starts; default 4)")
    p.add_argument("--pick", type=int, default=0, help="which brush result to use: 0 = the best (default)")
    p.add_argument("--morph", type=float, default=1.0, help="0 = the photo … 1 = the picked brush result (default 1)")
    p.add_argument("--brush-seed", type=int, default=0, help="seeds the brush results' starts")
    p.add_argument("--save-candidates", action="store_true",
                   help="also write every brush result as <out>-candidate-N.png, to pick from")
    p.add_argument("--warp", metavar="X0,Y0,X1,Y1[,R]",
                   help="warping brush: drag the content around (X0, Y0) to (X1, Y1), photo pixels; R: the radius that "
                        "moves (default: 1/16 of the square's side); with --mask, the painted region moves instead")
    p.add_argument("--transfer", choices=["delta", "flow"], default="delta",
                   help="delta: the photo takes the render's change; flow: the photo's own pixels move as the render's "
                        "content moved, plus the colour change (for warps and brushes)")
    p.add_argument("--direction", action="append", metavar="NAME=AMOUNT",
                   help="move the photo along a latent direction (see the `directions` command), AMOUNT in [-3, 3]; "
                        "repeatable; with --mask and no --concept only under the mask")
    p.add_argument("--recipe", action="append",
                   help="JSON file with several strokes, or an edit record (the app's JSON download); repeat it to "
                        "apply several recipes to one setup of each photo (--out is then a folder)")
    p.add_argument("--no-adapt", action="store_true", help="skip image-specific adaptation")
    p.add_argument("--refit", action="store_true", help="short refit of the adaptation outside the edit")
    p.add_argument("--fit", choices=["crop", "pad"], default="crop", help="how the photo becomes square")
    p.add_argument("--invert", default="single", help="single: one latent code; segments: one code per segment "
                   "of the photo (ChunkyGAN; closer reconstruction, more setup time)")
    p.add_argument("--max-megapixels", type=float, default=40.0)
    p.add_argument("--out", required=True, help="output PNG (a folder when --image is a folder)")
    p.add_argument("--report", help="JSON report (timings, PSNR, weights sha256); with a folder: any value")
    p.add_argument("--device", default="auto", help="auto (a CUDA GPU when torch sees one), cpu, cuda, cuda:1…")
    p.set_defaults(func=cmd_edit)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def _edit_recipes(args: argparse.Namespace) -> list[tuple[str, list[Any]]]:
    """(name, strokes) per recipe given, or the one stroke the flags describe."""
    from ganpaint_core.edit.recipe import load_recipe, read_stroke
    from ganpaint_core.edit.recipe_rules import RecipeSource

    local = RecipeSource(base=Path("."))

    if args.recipe:
        names = [Path(r).stem for r in args.recipe]
        if len(set(names)) < len(names):
            raise GanpaintError("two --recipe files have the same name; their outputs would overwrite each other")
        return [(Path(r).stem, load_recipe(Path(r))) for r in args.recipe]
    entries = _mode_entries(args)
    if not (args.concept or args.action) and (entries or args.from_scratch):
        return [("edit", [read_stroke(raw, local, raw["kind"]) for raw in entries])]
    missing = [f"--{k}" for k in ("mask", "concept", "action") if not getattr(args, k)]
    if missing:
        raise GanpaintError(f"give {', '.join(missing)} (or --color-strokes / --sketch, --direction NAME=AMOUNT, or a "
                            "--recipe with several strokes)")
    if args.style and args.style_seed is not None:
        raise GanpaintError("give --style (a reference image) or --style-seed (a generated sample), not both")
    raw: dict[str, Any] = {"mask": str(Path(args.mask).resolve()), "concept": args.concept, "action": args.action,
                           "strength": args.strength}
    if args.style:
        raw["style"] = {"kind": "reference", "path": str(Path(args.style).resolve()), "strength": args.style_strength}
    elif args.style_seed is not None:
        raw["style"] = {"kind": "sample", "seed": args.style_seed, "strength": args.style_strength}
    else:
        raw["style_strength"] = args.style_strength  # checked even with no style to apply it to
    return [("edit", [read_stroke(raw, local, "")] + [read_stroke(e, local, e["kind"]) for e in entries])]


def _mode_entries(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Recipe entries for the brush and direction flags."""
    entries: list[dict[str, Any]] = []
    if (args.color_strokes or args.sketch) and not args.from_scratch:  # from scratch, the paint makes the image
        entries.append({"kind": "brush", "color": args.color_strokes and str(Path(args.color_strokes).resolve()),
                        "sketch": args.sketch and str(Path(args.sketch).resolve()), "candidates": args.candidates,
                        "pick": args.pick, "morph": args.morph, "seed": args.brush_seed})
    if args.warp:
        entries.append(_warp_entry(args))
    for text in args.direction or []:
        name, _, amount = text.partition("=")
        try:
            value = float(amount)
        except ValueError:
            raise GanpaintError(f"--direction {text}: write NAME=AMOUNT with AMOUNT a number in [-3, 3], e.g. sky=1.5") from None
        entry: dict[str, Any] = {"kind": "direction", "direction": name, "amount": value}
        if args.mask and not args.concept:
            entry["mask"] = str(Path(args.mask).resolve())
        entries.append(entry)
    if args.segment and not entries:
        raise GanpaintError("--segment applies a --direction or a brush (--color-strokes / --sketch) to one segment: "
                            "give one of them")
    if args.segment:  # each direction and brush moves only that segment's code
        entries = [{"kind": "segment", "segment": args.segment, "edit": e} for e in entries]
    return entries


def _warp_entry(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe entry of ``--warp X0,Y0,X1,Y1[,R]`` (photo pixels)."""
    try:
        values = [float(v) for v in args.warp.split(",")]
    except ValueError:
        values = []
    if len(values) not in (4, 5):
        raise GanpaintError(f"--warp {args.warp}: write X0,Y0,X1,Y1 or X0,Y0,X1,Y1,R in the photo's pixels, "
                            "e.g. --warp 120,200,160,200,24")
    entry: dict[str, Any] = {"kind": "warp", "space": "photo", "handle": values[:2], "target": values[2:4],
                             "candidates": args.candidates, "pick": args.pick, "morph": args.morph,
                             "seed": args.brush_seed}
    if len(values) == 5:
        entry["radius"] = values[4]
    if args.mask and not args.concept:
        entry["region"] = str(Path(args.mask).resolve())
    return entry


def _check_output(out: Path, *, folder: bool) -> None:
    """Refuse an output the edit could not be written to, before the edit runs."""
    from PIL import Image

    if folder:
        if out.exists() and not out.is_dir():
            raise GanpaintError(f"--out {out}: is a file; with a folder of photos --out names a folder")
        return
    if out.is_dir():
        raise GanpaintError(f"--out {out}: is a folder; give a file name such as {out / 'edited.png'}")
    if out.suffix.lower() not in Image.registered_extensions() or out.suffix.lower() in {".gif", ".pdf", ".eps"}:
        raise GanpaintError(f"--out {out}: unknown image type {out.suffix!r}; use .png (lossless), .jpg or .webp")


def _edit_one(engine: Any, image: Path, strokes: list[Any], args: argparse.Namespace, out: Path,
              report_path: Path | None, references: dict) -> dict[str, Any]:
    from PIL import Image

    from ganpaint_core.edit.pipeline import edit_files
    from ganpaint_core.edit.spec import EditOptions

    options = EditOptions(fit=args.fit, adapt=not args.no_adapt, refit=args.refit, invert=args.invert,
                          transfer=args.transfer)
    outcome = edit_files(engine, image, strokes, options=options,
                         max_pixels=int(args.max_megapixels * 1e6), references=references,
                         callback=tqdm_callback(f"{image.name}: setup"))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(outcome.result.final).save(out)
    if args.save_candidates:
        _save_candidates(engine, image, strokes, outcome, out)
    record = outcome.record | {"files": {"image": str(image), "output": str(out)}}
    if report_path is not None:
        write_json(report_path, record)
    for note in record["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return record


def _save_candidates(engine: Any, image: Path, strokes: list[Any], outcome: Any, out: Path) -> None:
    """Every result of the first brush as ``<out>-candidate-N.png`` (the setup and the candidates are reused)."""
    import dataclasses

    from PIL import Image

    from ganpaint_core.edit.pipeline import edit_photo

    specs = list(outcome.specs)
    at = next((i for i, s in enumerate(specs) if s.has_candidates), None)
    if at is None:
        print("note: --save-candidates: there is no brush in this edit", file=sys.stderr)
        return
    for pick in range(specs[at].candidates):
        specs[at] = dataclasses.replace(specs[at], pick=pick)
        result = edit_photo(engine, outcome.state, specs).result
        Image.fromarray(result.final).save(out.with_name(f"{out.stem}-candidate-{pick}.png"))


def _from_scratch(args: argparse.Namespace, recipes: list[tuple[str, list[Any]]]) -> int:
    """``edit --from-scratch``: the paint makes an image from nothing (:mod:`ganpaint_core.edit.scratch`), then the
    other strokes edit it through the one edit path."""
    from PIL import Image

    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.pipeline import edit_photo
    from ganpaint_core.edit.recipe import read_stroke
    from ganpaint_core.edit.recipe_rules import RecipeSource
    from ganpaint_core.edit.scratch import paint_from_scratch, scratch_start
    from ganpaint_core.hub.loading import load_model

    if args.image:
        raise GanpaintError("--from-scratch makes its own image: leave out --image")
    if len(recipes) > 1:
        raise GanpaintError("--from-scratch takes one --recipe at most")
    if not (args.color_strokes or args.sketch):
        raise GanpaintError("--from-scratch needs --color-strokes and / or --sketch: what the new image should show")
    out = Path(args.out)
    _check_output(out, folder=False)
    engine = EditEngine(load_model(args.model, device=pick_device(args.device)))
    start = scratch_start(engine, start=args.start, seed=args.seed)
    raw = {"kind": "brush", "color": args.color_strokes and str(Path(args.color_strokes).resolve()),
           "sketch": args.sketch and str(Path(args.sketch).resolve())}
    paint, _ = read_stroke(raw, RecipeSource(base=Path(".")), "--color-strokes / --sketch").to_spec(
        start.photo, engine, {})
    made = paint_from_scratch(engine, paint, start=args.start, seed=args.seed,
                              callback=tqdm_callback("from nothing"))
    specs, notes = [], []
    for entry in recipes[0][1]:
        spec, entry_notes = entry.to_spec(made.state.photo, engine, {})
        specs.append(spec)
        notes += entry_notes
    outcome = edit_photo(engine, made.state, specs, name="scratch", notes=notes)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(outcome.result.final).save(out)
    record = outcome.record | {"scratch": made.summary(), "files": {"output": str(out)}}
    if args.report:
        write_json(args.report, record)
    print(f"wrote {out}: made from nothing ({args.start} {args.seed}); colour error {made.color_error_before:.1f} -> "
          f"{made.color_error_after:.1f} (0..255) in {made.seconds:.1f} s; {len(specs)} more strokes")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from ganpaint_core.core.photo import PhotoError
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.spec import EditOptions
    from ganpaint_core.hub.loading import load_model

    recipes = _edit_recipes(args)
    EditOptions(invert=args.invert).check()  # before the model loads
    if not args.max_megapixels > 0:
        raise GanpaintError(f"--max-megapixels must be a positive number, got {args.max_megapixels}")
    if args.from_scratch:
        return _from_scratch(args, recipes)
    if not args.image:
        raise GanpaintError("give --image (a photo or a folder of photos), or --from-scratch with --color-strokes / "
                            "--sketch to start from nothing")
    image, out = Path(args.image), Path(args.out)
    many = image.is_dir() or len(recipes) > 1  # then --out is a folder: <photo>[-<recipe>].png in it
    _check_output(out, folder=many)
    engine = EditEngine(load_model(args.model, device=pick_device(args.device)))
    references: dict = {}
    if not many:
        record = _edit_one(engine, image, recipes[0][1], args, out, Path(args.report) if args.report else None,
                           references)
        psnr = record["reconstruction_psnr_db"]
        print(f"wrote {out}: PSNR {psnr['inverted']:.1f} dB -> {psnr['adapted']:.1f} dB after adaptation; "
              f"setup {record['timings_s'].get('setup_s', 0):.1f} s")
        return 0
    from tqdm.auto import tqdm

    images = sorted(p for p in image.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if image.is_dir() else [image]
    if not images:
        raise GanpaintError(f"{image}: no images (jpg, png, webp, gif, bmp, tiff) in this folder")
    failures = 0
    for path in tqdm(images, desc="photos", disable=len(images) == 1):
        for name, strokes in recipes:  # the photo is set up once: the engine keeps its setup
            stem = path.stem if len(recipes) == 1 else f"{path.stem}-{name}"
            try:
                _edit_one(engine, path, strokes, args, out / f"{stem}.png",
                          out / f"{stem}.json" if args.report else None, references)
            except PhotoError as exc:  # one bad photo does not stop the batch
                failures += 1
                print(f"skipped: {exc}", file=sys.stderr)
                break
    print(f"edited {len(images) - failures} of {len(images)} photos into {out}")
    return 1 if failures == len(images) else 0
