"""``python -m ganpaint_core``: models, editing, benchmarks, dissection, encoder training and a health check."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ganpaint_core.cli.edit import add_edit_parser
from ganpaint_core.cli.prepare import add_prepare_parser
from ganpaint_core.cli.tools import add_tools_parsers
from ganpaint_core.core.device import pick_device
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.files import check_writable, read_json, write_json
from ganpaint_core.core.progress import tqdm_callback

log = logging.getLogger("ganpaint_core")


def inspect_file(path: Path) -> dict[str, Any]:
    """Family, resolution, layer table, edit-layer candidates and sha256 of a generator file."""
    from ganpaint_core.hub.fetch import sha256_file
    from ganpaint_core.hub.loading import generator_from_checkpoint
    from ganpaint_core.models.checkpoint import read_checkpoint

    family, generator = generator_from_checkpoint(read_checkpoint(path), where=str(path))
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
    from ganpaint_core.hub.registry import Registry, model_status
    from ganpaint_core.page.start import choose_start_model

    reg = Registry.scan()
    rows = [model_status(m, probe=not args.no_probe) for m in reg.manifests.values()]
    start = choose_start_model(flag=None, env=os.environ, device=pick_device("auto"), registry=reg,
                               probe=not args.no_probe)
    if args.json:
        print(json.dumps({"models": rows, "problems": reg.problems, "start": asdict(start)}, indent=1))
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
    print(f"start: {start.describe()}")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ganpaint_core.hub.fetch import copy_into_user_folder, fetch
    from ganpaint_core.hub.registry import Registry

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


def _cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from ganpaint_core.bench import chain as bench_chain
    from ganpaint_core.bench import run as bench
    from ganpaint_core.bench import speed256
    from ganpaint_core.hub.loading import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.suite == "service":  # the app in a child process, measured over loopback
        from ganpaint_core.bench import service as bench_service

        result = bench_service.bench_service(model=args.model or "synth-church", n=args.n or 100)
        bench_service.print_service_table(result)
        return _write_bench_json(args, result)
    if args.suite == "stylegan2":  # random weights in the stylegan2-church layout: no model to load
        result = speed256.bench_stylegan2_256(device=pick_device(args.device), seed=args.seed)
        bench_chain.print_chain_table(result)
        return _write_bench_json(args, result)
    if args.suite == "modes":
        from ganpaint_core.bench import modes as bench_modes

        model = load_model(args.model or "synth-church", device=pick_device(args.device))
        result = bench_modes.bench_modes(model, seed=args.seed, n=4 if args.n is None else args.n,
                                         images_dir=Path(args.images) if args.images else None,
                                         parts=bench_modes.parse_parts(args.parts))
        bench_modes.print_modes_table(result)
        return _write_bench_json(args, result)
    if not args.model:
        raise GanpaintError(f"--suite {args.suite} needs --model NAME (see `python -m ganpaint_core models`)")
    if args.random_weights:
        if args.suite != "chain":
            raise GanpaintError("--random-weights is for --suite chain (setup times of a layout)")
        model = speed256.random_weight_model(args.model, device=pick_device(args.device), seed=args.seed)
        photos = speed256.bench_photos(model.manifest.resolution, n=args.n or 2, seed=args.seed,
                                       images_dir=Path(args.images) if args.images else None)
        result = speed256.bench_setup_plans(model, photos, probe_steps=args.probe_steps)
        bench_chain.print_chain_table(result)
        return _write_bench_json(args, result)
    model = load_model(args.model, device=pick_device(args.device))
    if args.suite == "model":
        result = bench.bench_model(model, seed=args.seed, n=args.n or 1000)
        bench.print_model_table(result)
    elif args.suite == "paste":
        result = bench.bench_paste_bound(model, seed=args.seed, n=args.n or 400)
        bench.print_paste_table(result)
    elif args.suite == "peers":
        from ganpaint_core.bench import peers as bench_peers

        cfg = bench_peers.PeersConfig(paper_steps_run=args.paper_steps, pti_steps_run=args.pti_steps)
        result = bench_peers.bench_peers(model, seed=args.seed, n=args.n, cfg=cfg,
                                         images_dir=Path(args.images) if args.images else None)
        bench_peers.print_peers_table(result)
    elif args.suite == "chain":
        result = bench_chain.bench_chain(model, seed=args.seed, n=args.n or 8,
                                         images_dir=Path(args.images) if args.images else None,
                                         church=not args.no_church, baseline=args.baseline)
        bench_chain.print_chain_table(result)
    else:
        raise GanpaintError(f"unknown suite {args.suite!r}")
    return _write_bench_json(args, result)


def _write_bench_json(args: argparse.Namespace, result: dict[str, Any]) -> int:
    if args.json:
        write_json(args.json, result)
    return 0


def _cmd_dissect(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import torch

    from ganpaint_core.analysis.concepts_by_name import dissect_concepts
    from ganpaint_core.analysis.dissect import DissectConfig
    from ganpaint_core.analysis.dissect_run import run_dissection
    from ganpaint_core.analysis.scene_segmenter import concept_names
    from ganpaint_core.analysis.segmenters import load_scene_segmenter, segmenter_for, with_text_segmenter
    from ganpaint_core.hub.derived import CONCEPTS_FILE, derived_dir, report_path
    from ganpaint_core.hub.loading import load_model
    from ganpaint_core.hub.registry import Registry

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    Registry.scan().get(args.model)  # an unknown name fails before any loading
    concepts = concept_names(args.concepts) if args.concepts else None
    segmenter = (load_scene_segmenter(args.segmenter, source=args.segmenter_source, device=device)
                 if args.segmenter else None)
    model = load_model(args.model, device=device)
    segmenter = segmenter or segmenter_for(model, device=device)
    overrides = {"samples": args.samples, "seed": args.seed, "batch": args.batch,
                 "ace_steps": args.ace_steps, "ace_batch": args.ace_batch, "causal_samples": args.causal_samples,
                 "template_samples": args.template_samples}
    cfg = replace(DissectConfig(), **{k: v for k, v in overrides.items() if v is not None})
    if args.out:  # a dictionary of its own, exactly these concepts
        segmenter = with_text_segmenter(segmenter, concepts or segmenter.concepts, text_kind=args.text_segmenter,
                                        text_source=args.text_segmenter_source)
        path = run_dissection(model, segmenter, layer=args.layer, concepts=concepts, cfg=cfg, out=Path(args.out),
                              restart=args.restart, callback=_dissect_progress())
    else:  # added to the model's dictionary in the derived folder
        if args.layer and args.layer != model.manifest.edit_layer:
            raise GanpaintError(f"a dictionary for {args.layer} would not fit {model.manifest.name}'s edit layer "
                                f"{model.manifest.edit_layer}, so load_model could not use it: pass --out FILE")
        names = concepts or list(segmenter.concepts)
        before = model.concepts
        dictionary = dissect_concepts(model, names, segmenter=segmenter, text_kind=args.text_segmenter,
                                      text_source=args.text_segmenter_source, cfg=cfg,
                                      replace=args.replace, restart=args.restart, callback=_dissect_progress())
        if dictionary is before:
            print(f"{model.manifest.name}'s dictionary has {', '.join(names)} already; --replace measures them again")
            return 0
        path = derived_dir(model.manifest.name, model.sha256["generator"]) / CONCEPTS_FILE
    report = read_json(report_path(path), what="report")
    resumed = f", {len(report['resumed'])} resumed from an earlier run" if report["resumed"] else ""
    kept = f", {len(report['kept'])} kept as they were" if report.get("kept") else ""
    print(f"wrote {path} ({len(report['concepts'])} concepts measured{resumed}{kept}; {report['total_seconds']:.0f} s "
          f"on {report['device']}); report: {report_path(path)}")
    by_text = sorted({m for m in report["segmenter"]["measured_by"].values() if m != segmenter.name})
    if by_text:
        print(f"found by name with {', '.join(by_text)}")
    return 0


def _dissect_progress() -> Any:
    """tqdm bars: one over concepts, one over the current concept's level and IoU samples."""
    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}

    def callback(step: int, total: int, info: dict[str, Any]) -> None:
        stage, concept = info.get("stage", ""), info.get("concept")
        if stage == "concept":
            bar = bars.get("concepts")
            if bar is None:
                bar = bars["concepts"] = tqdm(total=total, desc="dissect", unit="concept")
            if concept is not None:
                bar.set_postfix_str(concept + (" (resumed)" if info.get("resumed") else ""))
            bar.update(step - bar.n)
            if step >= total:
                bar.close()
        elif stage in ("sample", "iou"):
            bar = bars.get(concept)
            if bar is None:
                bar = bars[concept] = tqdm(total=total, desc=f"{concept}: levels and IoU", leave=False)
            bar.update(step - bar.n)
            if step >= total:
                bar.close()
                bars["concepts"].set_postfix_str(f"{concept}: causal tests")

    return callback


def _cmd_train_encoder(args: argparse.Namespace) -> int:
    import torch

    from ganpaint_core.hub.derived import report_path
    from ganpaint_core.hub.loading import load_model
    from ganpaint_core.training.encoder_run import default_config, load_training_photos, run_encoder_training

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, device=pick_device(args.device))
    widths = tuple(int(w) for w in args.widths.split(",")) if args.widths else None
    try:
        cfg = default_config(model, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, widths=widths)
    except ValueError as exc:
        raise GanpaintError(str(exc)) from None
    photos = load_training_photos(Path(args.images), resolution=model.generator.resolution) if args.images else None
    path = run_encoder_training(model, cfg=cfg, photos=photos, out=Path(args.out) if args.out else None,
                                restart=args.restart, callback=tqdm_callback("encoder"))
    report = read_json(report_path(path), what="report")
    print(f"wrote {path}: PSNR of G(E(x)) on held-out samples {report['psnr_generated_db']:.1f} dB; "
          f"report: {report_path(path)}")
    if "encoder" in model.manifest.files and not args.out:
        print(f"note: {model.manifest.name}'s manifest ships its own encoder, which load_model prefers")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from ganpaint_core.cli.doctor import diagnose, format_report

    report = diagnose(probe=not args.no_probe)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0 if report["ok"] else 1


def _device_args(p: argparse.ArgumentParser, *, threads: bool = True) -> None:
    p.add_argument("--device", default="auto", help="auto (a CUDA GPU when torch sees one), cpu, cuda, cuda:1…")
    if threads:
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def _add_bench_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="measure a model suite, the edit chain, or StyleGAN2-256 timings")
    p.add_argument("--model", help="the model to measure (suites model, chain and paste)")
    p.add_argument("--suite", choices=["model", "chain", "paste", "stylegan2", "service", "peers", "modes"], required=True,
                   help="paste: the add gain real pixels, and the generator's own edit-layer features, pasted into "
                        "the model suite's add-test squares get (what a perfect insertion would); stylegan2: forward / edit / setup times of a random-weight StyleGAN2-256, no model; service: "
                        "python app.py on 127.0.0.1: memory over --n edits, latency at 1/4/8 clients, a request "
                        "after 30 cancelled, 27 kinds of bad input; peers: ours beside the paper's recipe, PTI, "
                        "optimisation only and the encoder only; modes: colour / sketch brushes, latent directions, "
                        "segment inversion, one segment's edits, transformation, from nothing (default model "
                        "synth-church)")
    p.add_argument("--parts", help="modes: only these parts, comma-separated (default all): "
                                   "brushes,warp,directions,segments,segment_edit,transform,scratch")
    p.add_argument("--images", help="chain, peers, modes: a folder of real photos to invert (peers: and edit) as well")
    p.add_argument("--paper-steps", type=int, default=100,
                   help="peers: adaptation steps run per edit for the paper's recipe (it publishes 1000; the time is "
                        "scaled to 1000 and the reduction stated in the JSON)")
    p.add_argument("--pti-steps", type=int, default=350,
                   help="peers: generator-tuning steps run for pivotal tuning (published 350; time scaled likewise)")
    p.add_argument("--no-church", action="store_true", help="chain: skip the church-size (256²) timings")
    p.add_argument("--baseline", action="store_true",
                   help="chain: set photos up as before issue 25 (edit.plans.BEFORE_ISSUE_25), to compare")
    p.add_argument("--random-weights", action="store_true",
                   help="chain: --model progan-church or stylegan2-church with random weights in its real layout: "
                        "setup and first-preview seconds, the plan before issue 25 beside the full fit (--n photos, "
                        "default 2, from --images or held-out renders)")
    p.add_argument("--probe-steps", type=int, default=3,
                   help="chain --random-weights: steps of each kind timed and scaled to each plan (0: run in full)")
    p.add_argument("--seed", type=int, default=1, help="held-out renders and squares (never a training seed)")
    p.add_argument("--n", type=int, default=None, help="samples / renders per set (default 1000)")
    p.add_argument("--json", help="write the figures to this file")
    _device_args(p)
    p.set_defaults(func=_cmd_bench)


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

    add_edit_parser(sub)
    add_tools_parsers(sub)

    _add_bench_parser(sub)

    p = sub.add_parser("dissect", help="rank a layer's units per concept (GAN Dissection), any concept by name; "
                       "resumable, added to the model's dictionary")
    p.add_argument("--model", required=True)
    p.add_argument("--segmenter",
                   help="synth-church: the bundled U-Net; segformer-ade20k: real scenes; clipseg: names only "
                   "(pip install .[dissect]); default: the model's own, else segformer-ade20k")
    p.add_argument("--segmenter-source", help="segmenter weights: a file / folder, or a Hub repo owner/name[@rev]")
    p.add_argument("--text-segmenter", default="clipseg",
                   help="finds the concepts the segmenter has no class for, by name (default clipseg)")
    p.add_argument("--text-segmenter-source", help="its weights: a folder, or a Hub repo owner/name[@rev] "
                   "(default CIDAS/clipseg-rd64-refined)")
    p.add_argument("--layer", help="layer to dissect (default: the manifest's edit layer; another needs --out)")
    p.add_argument("--concepts", help="comma-separated concepts, any name (default: all the segmenter offers), "
                   "e.g. 'dome, cloud, brick, statue'")
    p.add_argument("--replace", action="store_true", help="measure again concepts the model's dictionary has")
    p.add_argument("--samples", type=int, help="generated samples for levels and IoU (default 1000)")
    p.add_argument("--seed", type=int, help="latents and squares (default 0)")
    p.add_argument("--batch", type=int, help="samples per forward pass (default 50)")
    p.add_argument("--ace-steps", type=int, help="steps of each causal unit-set search, add and remove (default 300)")
    p.add_argument("--ace-batch", type=int, help="samples per step of the causal search (default 8)")
    p.add_argument("--causal-samples", type=int, help="samples the found unit sets are verified on (default 96)")
    p.add_argument("--template-samples", type=int,
                   help="samples whose most concept-rich squares make each concept's template (default 400)")
    p.add_argument("--out", help="write a dictionary of just these concepts there (default: add them to the model's "
                   "dictionary in the user cache, where load_model finds it)")
    p.add_argument("--restart", action="store_true", help="ignore concepts finished by an earlier run")
    _device_args(p)
    p.set_defaults(func=_cmd_dissect)

    p = sub.add_parser("train-encoder", help="train an image-to-latent encoder for any model; resumable")
    p.add_argument("--model", required=True)
    p.add_argument("--steps", type=int, help="optimiser steps (default 2000)")
    p.add_argument("--batch", type=int, help="images per step (default 32)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 1e-3)")
    p.add_argument("--seed", type=int, help="initialisation and latents (default 0)")
    p.add_argument("--widths", help="comma-separated channels per level (default: by resolution, e.g. 32,64,128,256)")
    p.add_argument("--images", help="a folder of real photos to reconstruct as well (domain-guided)")
    p.add_argument("--out", help="where encoder.safetensors goes (default: the user cache, where load_model finds it)")
    p.add_argument("--restart", action="store_true", help="ignore an earlier run's checkpoint")
    _device_args(p)
    p.set_defaults(func=_cmd_train_encoder)

    add_prepare_parser(sub)

    p = sub.add_parser("doctor", help="check models, files, device, LPIPS and optional packages")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-probe", action="store_true", help="do not ask remote sources whether they answer")
    p.set_defaults(func=_cmd_doctor)
    return parser


FOLDER_OUTPUTS = {"report", "prepare"}  # commands whose --out names a folder
OUTPUT_OPTIONS = ("out", "json", "report")  # options naming a file (or folder) a command writes


def check_outputs(args: argparse.Namespace) -> None:
    """Every output a command will write is writable, checked before any model loads or setup runs (a probe
    file is created and removed there); ``GanpaintError`` naming the option otherwise."""
    for name in OUTPUT_OPTIONS:
        value = getattr(args, name, None)
        if not isinstance(value, str) or not value:
            continue  # not this command's option, or a flag (``--json`` printing to the terminal)
        path = Path(value)
        folder = (name == "out" and args.command in FOLDER_OUTPUTS) or path.is_dir()
        check_writable(path / ".ganpaint-output" if folder else path, what=f"--{name}", error=GanpaintError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        check_outputs(args)
        return args.func(args)
    except GanpaintError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
