"""``python -m ganpaint_core prepare``: make every derived file a model lacks, once, and publish them."""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ganpaint_core.core.device import pick_device

PRINT_EVERY_S = 2.0  # a stage's progress line is printed at most this often (each stage's start and end always)


def add_prepare_parser(sub: Any) -> None:
    p = sub.add_parser("prepare", help="make every derived file a model lacks (concept dictionary, directions, "
                                       "converted encoder) once, as a publishable folder; --push uploads it")
    p.add_argument("--model", required=True)
    p.add_argument("--out", help="the publishable folder (default: prepared/ in the model's derived folder)")
    p.add_argument("--push", metavar="REPO_ID", help="upload the folder to this Hub model repo (token: $HF_TOKEN)")
    p.add_argument("--segmenter", help="scene segmenter for the dissection (default: the model's own, else "
                                       "segformer-ade20k)")
    p.add_argument("--concepts", help="comma-separated concepts to dissect (default: all the segmenter sees)")
    p.add_argument("--samples", type=int, help="dissection: generated samples for levels and IoU (default 1000)")
    p.add_argument("--seed", type=int, help="dissection: latents and squares (default 0)")
    p.add_argument("--batch", type=int, help="dissection: samples per forward pass (default 50)")
    p.add_argument("--ace-steps", type=int, help="dissection: steps of each causal search (default 300)")
    p.add_argument("--ace-batch", type=int, help="dissection: samples per causal search step (default 8)")
    p.add_argument("--causal-samples", type=int, help="dissection: verification samples (default 96)")
    p.add_argument("--template-samples", type=int, help="dissection: samples per concept template (default 400)")
    p.add_argument("--directions-samples", type=int, default=2048, help="latents for the directions (default 2048)")
    p.add_argument("--components", type=int, default=10, help="principal components kept (default 10)")
    p.add_argument("--device", default="auto", help="auto (a CUDA GPU when torch sees one), cpu, cuda, cuda:1…")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=cmd_prepare)


def cmd_prepare(args: argparse.Namespace) -> int:
    import torch

    from ganpaint_core.analysis.dissect import DissectConfig
    from ganpaint_core.analysis.prepare import PrepareConfig, prepare_model

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {"samples": args.samples, "seed": args.seed, "batch": args.batch, "ace_steps": args.ace_steps,
                 "ace_batch": args.ace_batch, "causal_samples": args.causal_samples,
                 "template_samples": args.template_samples}
    concepts = tuple(c.strip() for c in args.concepts.split(",") if c.strip()) if args.concepts else None
    cfg = PrepareConfig(dissect=replace(DissectConfig(), **{k: v for k, v in overrides.items() if v is not None}),
                        concepts=concepts, segmenter=args.segmenter, directions_samples=args.directions_samples,
                        components=args.components)
    prepared = prepare_model(args.model, out=Path(args.out) if args.out else None, device=pick_device(args.device),
                             cfg=cfg, repo_id=args.push, push=bool(args.push), callback=progress_printer())
    for stage, what in prepared.stages.items():
        print(f"{stage:<11} {what}")
    print(f"wrote {prepared.folder} in {prepared.seconds:.0f} s: model.json (sha256 {prepared.manifest_sha256}), "
          f"README.md, {', '.join(p.name for p in prepared.files.values()) or 'no prepared files'}")
    if prepared.commit:
        entry = {"repo_id": prepared.repo_id, "revision": prepared.commit, "sha256": prepared.manifest_sha256}
        print(f"pushed to {prepared.repo_id} at {prepared.commit}; list it in {args.model}'s model.json:")
        print(f'"prepared": {json.dumps(entry)}')
    return 0


def progress_printer(stream: Any = None) -> Any:
    """A prepare callback that prints "prepare [2/4] directions: 512/2048, about 40 s left" lines to stderr."""
    state = {"stage": None, "last": 0.0}

    def callback(step: int, total: int, info: dict[str, Any]) -> None:
        out = stream or sys.stderr
        now = time.monotonic()
        new = info["stage"] != state["stage"]
        if not (new or step >= total or now - state["last"] >= PRINT_EVERY_S or "skipped" in info):
            return
        state.update(stage=info["stage"], last=now)
        head = f"prepare [{info['stage_index']}/{info['stages']}] {info['stage']}"
        if "skipped" in info:
            print(f"{head}: skipped ({info['skipped']})", file=out, flush=True)
            return
        if new and step == 0 and not info.get("concept"):
            print(f"{head}: started", file=out, flush=True)
            return
        what = f"{info['concept']} " if info.get("concept") else ""
        detail = f" ({info['detail']})" if info.get("detail") else ""
        left = info.get("seconds_left")
        eta = f", about {left:.0f} s left" if left is not None else ""
        print(f"{head}: {what}{step}/{total}{detail}{eta}", file=out, flush=True)

    return callback
