"""``python -m ganpaint_core``: list, inspect and fetch models (more commands join as stages land)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ganpaint_core.errors import GanpaintError

log = logging.getLogger("ganpaint_core")


def inspect_file(path: Path) -> dict[str, Any]:
    """Family, resolution, layer table, edit-layer candidates and sha256 of a generator file."""
    from ganpaint_core.checkpoint import detect_family, read_checkpoint
    from ganpaint_core.fetch import sha256_file
    from ganpaint_core.models import generator_from_state_dict

    state = read_checkpoint(path)
    family = detect_family(state)
    generator = generator_from_state_dict(state, family=family)
    layers = [{"name": n, "channels": c, "size": s} for n, c, s in generator.layer_shapes()]
    return {
        "file": str(path),
        "family": family,
        "resolution": generator.resolution,
        "latent_size": generator.latent_size,
        "parameters": sum(p.numel() for p in generator.parameters()),
        "layers": layers,
        # GANPaint edits an 8×8 or 16×16 layer with enough units to hold several concepts.
        "edit_layer_candidates": [l["name"] for l in layers[:-1] if l["size"] in (8, 16) and l["channels"] >= 128],
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
    }


def _cmd_inspect(args: argparse.Namespace) -> int:
    info = inspect_file(Path(args.file))
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"{info['file']}: {info['family']} generator, {info['resolution']}px, z[{info['latent_size']}], "
          f"{info['parameters']:,} parameters")
    print(f"sha256 {info['sha256']}")
    print(f"{'layer':<16}{'channels':>9}{'size':>8}")
    for layer in info["layers"]:
        mark = "  <- edit-layer candidate" if layer["name"] in info["edit_layer_candidates"] else ""
        print(f"{layer['name']:<16}{layer['channels']:>9}{layer['size']:>5}x{layer['size']:<3}{mark}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from ganpaint_core.registry import Registry, model_status

    reg = Registry.scan()
    rows = [model_status(m, probe=not args.no_probe) for m in reg.manifests.values()]
    if args.json:
        print(json.dumps({"models": rows, "problems": reg.problems}, indent=1))
        return 0
    for row in rows:
        print(f"{row['name']:<18} {row['status']:<13} {row['family']:<9} {row['resolution']:>4}px  {row['description']}")
        if row["concepts"]:
            print(f"{'':<18} concepts: {', '.join(row['concepts'])}")
        if row["status"] == "missing":
            print(f"{'':<18} why: {row['reason']}")
            for way in row["how_to_supply"]:
                print(f"{'':<18}   - {way}")
    for path, problem in reg.problems.items():
        print(f"unreadable manifest {path}: {problem}")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ganpaint_core.fetch import copy_into_user_folder, fetch
    from ganpaint_core.registry import Registry

    manifest = Registry.scan().get(args.name)
    if args.source_file:
        dest = copy_into_user_folder(manifest, args.role, Path(args.source_file))
        print(f"{manifest.name}: verified {args.source_file} and placed it at {dest}")
        return 0
    bars: dict[str, tqdm] = {}

    def progress(done: int, total: int, info: dict[str, Any]) -> None:
        bar = bars.get(info["file"])
        if bar is None:
            bar = bars[info["file"]] = tqdm(total=total or None, unit="B", unit_scale=True, desc=info["file"])
        bar.update(done - bar.n)

    for role in manifest.files:
        path = fetch(manifest, role, progress=progress)
        print(f"{manifest.name}: {role:<10} {path}")
    for bar in bars.values():
        bar.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganpaint_core", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list models with their availability and concepts")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-probe", action="store_true", help="do not ask remote sources whether they answer")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("inspect", help="describe a generator weight file")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("fetch", help="download and verify a model's files")
    p.add_argument("name")
    p.add_argument("--from", dest="source_file", help="install a file you already have instead of downloading")
    p.add_argument("--role", default="generator", help="which file --from supplies (default: generator)")
    p.set_defaults(func=_cmd_fetch)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except GanpaintError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
