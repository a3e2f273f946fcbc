"""The 256-px generators at their real size, with random weights in their published layouts: forward,
per-edit and per-photo setup time (``bench --suite stylegan2``, and the church figures of ``--suite chain``).
Random weights suffice: the time of a forward pass, an inversion step or an adaptation step does not depend
on what the weights are.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganpaint_core.bench.common import device_name, square_mask, time_forward
from ganpaint_core.hub.loading import LoadedModel


PROGAN_256 = (512, 512, 512, 512, 256, 128, 64, 32)  # GANPaint's church generator's channels per block


def random_weight_model(name: str, *, device: torch.device, seed: int = 1) -> LoadedModel:
    """The bundled manifest ``name`` (``progan-church`` or ``stylegan2-church``) over a generator of its real
    layout with random weights, and a made-up one-concept dictionary: what setup time needs, no download.
    No encoder (the random e4e would cost a 959 MB build for a start the inversion's steps dwarf) and no
    segmenter (no concept figures)."""
    from ganpaint_core.hub.concepts import ConceptDictionary, ConceptRanking
    from ganpaint_core.hub.manifest import load_manifest
    from ganpaint_core.hub.registry import bundled_weights_dir
    from ganpaint_core.models.progan import ProGANGenerator
    from ganpaint_core.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

    manifest = load_manifest(bundled_weights_dir() / name / "model.json", bundled=True)
    torch.manual_seed(seed)
    if manifest.family == "progan":
        G = ProGANGenerator(PROGAN_256)
    elif manifest.family == "stylegan2":
        G = StyleGAN2Generator(StyleGAN2Config.config_f(manifest.resolution, channel_multiplier=2))
        G.latent_avg.copy_(G.mean_latent(1024, seed=seed)[0])
    else:
        raise ValueError(f"--random-weights knows progan and stylegan2 layouts, not {manifest.family!r}")
    G = G.to(device).requires_grad_(False).eval()
    units = dict((n, c) for n, c, _ in G.layer_shapes())[manifest.edit_layer]
    concepts = ConceptDictionary(layer=manifest.edit_layer, num_units=units, level_quantile=0.99,
                                 levels=(2.0,) * units,
                                 concepts={"tree": ConceptRanking("iou", tuple(range(40)), (1.0,) * 40)})
    return LoadedModel(manifest=manifest, generator=G, concepts=concepts, device=device)


def _step_costs(engine: Any, photo: Any, *, probe_steps: int, candidates: tuple[int, ...]) -> dict[str, float]:
    """CPU seconds of a setup's parts on ``photo``: the inversion's start (per candidate count), one latent
    step, one joint step, the adaptation's fixed part and one adaptation step without and with the full fit's
    contraction penalty (``adapt_step`` / ``adapt_step_contracted``: the plan before issue 25 has none); each
    step's cost from a run of ``probe_steps`` steps less a run of none. CPU seconds of this process, not wall
    time: with one thread they are what the wall time would be on an idle core, and a loaded machine does not
    blur the difference."""
    from ganpaint_core.edit.adapt import AdaptConfig, adapt_fine_layers
    from ganpaint_core.edit.invert import InversionConfig, invert

    G, target = engine.model.generator, photo.model_image.to(engine.device)

    def cpu(work: Any) -> tuple[float, Any]:
        t0 = time.process_time()
        out = work()
        return time.process_time() - t0, out

    def inversion(latent: int, joint: int, c: int) -> tuple[float, Any]:
        cfg = InversionConfig(latent_steps=latent, joint_steps=joint, candidates=c)
        return cpu(lambda: invert(G, target, layer=engine.layer, cfg=cfg))

    costs = {f"start_{c}": inversion(0, 0, c)[0] for c in candidates}
    c = candidates[0]
    costs["latent_step"] = (inversion(probe_steps, 0, c)[0] - costs[f"start_{c}"]) / probe_steps
    seconds, inv = inversion(0, probe_steps, c)
    costs["joint_step"] = (seconds - costs[f"start_{c}"]) / probe_steps

    def adaptation(steps: int, contraction: float) -> float:
        return cpu(lambda: adapt_fine_layers(engine.tail, inv.features.to(engine.device), target,
                                             shapes=engine._shapes, latent=inv.latent.to(engine.device),
                                             cfg=AdaptConfig(steps=steps, contraction=contraction)))[0]

    costs["adapt_start"] = adaptation(0, 0.0)
    costs["adapt_step"] = (adaptation(probe_steps, 0.0) - costs["adapt_start"]) / probe_steps
    contracted = adaptation(probe_steps, AdaptConfig().contraction)  # the full fit's (AdaptConfig's default)
    costs["adapt_step_contracted"] = (contracted - costs["adapt_start"]) / probe_steps
    return costs


def plan_seconds(costs: dict[str, float], plan: Any) -> float:
    """A setup plan's seconds from measured part costs (:func:`_step_costs`)."""
    inv, ad = plan.inversion, plan.adaptation
    step = costs["adapt_step_contracted"] if ad.contraction > 0 else costs["adapt_step"]
    return (costs[f"start_{inv.candidates}"] + inv.latent_steps * costs["latent_step"]
            + inv.joint_steps * costs["joint_step"] + costs["adapt_start"] + ad.steps * step)


def bench_photos(resolution: int, *, n: int, seed: int, images_dir: Path | None = None) -> list[Any]:
    """``n`` photos at ``resolution``: the first of ``images_dir`` by name, else held-out renders."""
    from PIL import Image

    from ganpaint_core.bench.common import held_out_seeds
    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.synth.scenes import render_batch

    if images_dir is not None:
        suffixes = (".jpg", ".jpeg", ".png", ".webp")
        paths = sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in suffixes)
        return [load_photo(p, size=resolution) for p in paths[:n]]
    renders, _ = render_batch(held_out_seeds(seed, 900_000, n), resolution=resolution)
    return [load_photo(Image.fromarray(r), size=resolution) for r in renders]


def bench_setup_plans(model: LoadedModel, photos: list[Any], *, probe_steps: int = 3) -> dict[str, Any]:
    """Setup seconds per photo under the plan before issue 25 and the full fit (and the quick fit, the first
    preview's), from the same measured part costs, photo by photo: the two plans side by side in one run,
    on the same machine, under the same load. ``probe_steps`` steps of each kind are run and scaled to each
    plan's counts (a full setup of a 256-px model takes minutes to most of an hour on a CPU); with 0, each
    plan's setup runs in full. The first preview is the quick fit (scaled likewise, or run in full) and one
    render. All in CPU seconds of this process (run it with ``--threads 1``: the wall time on an idle core)."""
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.caches import EditCaches
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig
    from ganpaint_core.edit.plans import BEFORE_ISSUE_25, FULL_FIT, QUICK_FIT

    engine = EditEngine(model, use_lpips=False, caches=EditCaches(setup_store=None))
    plans = (BEFORE_ISSUE_25, FULL_FIT, QUICK_FIT)
    candidates = tuple(dict.fromkeys(p.inversion.candidates for p in plans))
    rows = []
    for photo in photos:
        # the quick fit, run in full, then one render; with probe steps, a one-step setup only gives the render
        t0 = time.process_time()
        state = engine.quick_fit(photo) if not probe_steps else EditEngine(
            model, use_lpips=False, caches=EditCaches(setup_store=None), inversion=InversionConfig(
                latent_steps=0, joint_steps=1, candidates=1), adaptation=AdaptConfig(steps=1)).prepare(photo)
        quick = time.process_time() - t0
        t0 = time.process_time()
        engine.render(state, [], final=False)
        preview = time.process_time() - t0
        if probe_steps:
            costs = _step_costs(engine, photo, probe_steps=probe_steps, candidates=candidates)
            rows.append({"setup_s_before": plan_seconds(costs, BEFORE_ISSUE_25),
                         "setup_s": plan_seconds(costs, FULL_FIT),
                         "first_preview_s": plan_seconds(costs, QUICK_FIT) + preview, "parts_s": costs})
            continue
        row = {"first_preview_s": quick + preview}  # 0 probe steps: both plans run in full, one after the other
        for key, plan in (("setup_s_before", BEFORE_ISSUE_25), ("setup_s", FULL_FIT)):
            planned = EditEngine(model, inversion=plan.inversion, adaptation=plan.adaptation, use_lpips=False,
                                 caches=EditCaches(setup_store=None))
            t0 = time.process_time()
            planned.prepare(photo)
            row[key] = time.process_time() - t0
        rows.append(row)
    med = lambda key: float(np.median([r[key] for r in rows]))  # noqa: E731
    return {"model": model.manifest.name, "weights": "random, in the model's real layout (no encoder)",
            "photos": len(rows), "probe_steps": probe_steps, "setup_s_before": med("setup_s_before"),
            "setup_s": med("setup_s"), "speedup": med("setup_s_before") / med("setup_s"),
            "first_preview_s": med("first_preview_s"), "per_photo": rows, "device": device_name(model.device),
            "plans": {p.name: f"{p.inversion.latent_steps}+{p.inversion.joint_steps} inversion "
                              f"({p.inversion.schedule}), {p.adaptation.steps} adaptation" for p in plans}}


def bench_church256(*, device: torch.device, seed: int = 1, probe_steps: int = 5) -> dict[str, float]:
    """GANPaint's church-size generator (256², random weights in its layout): forward, per-edit and
    per-photo setup time. Setup is measured over ``probe_steps`` inversion and adaptation steps and
    scaled to the default step counts (a full run takes minutes on a CPU)."""
    from PIL import Image

    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.caches import EditCaches
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig
    from ganpaint_core.hub.concepts import ConceptDictionary, ConceptRanking
    from ganpaint_core.hub.manifest import ModelManifest
    from ganpaint_core.models.progan import ProGANGenerator

    torch.manual_seed(seed)
    G = ProGANGenerator([512, 512, 512, 512, 256, 128, 64, 32]).to(device).requires_grad_(False).eval()
    concepts = ConceptDictionary(layer="layer4", num_units=512, level_quantile=0.99, levels=(5.0,) * 512,
                                 concepts={"tree": ConceptRanking("iou", tuple(range(40)), (1.0,) * 40)})
    manifest = ModelManifest(name="church256-random", family="progan", resolution=256, latent_size=512,
                             edit_layer="layer4", fine_layers=tuple(f"layer{k}" for k in range(5, 15)), licence="",
                             citation="", description="", files={}, folder=Path("."))
    model = LoadedModel(manifest=manifest, generator=G, concepts=concepts, device=device)
    full_inv, full_adapt = InversionConfig(), AdaptConfig()
    probe = EditEngine(model, inversion=InversionConfig(latent_steps=probe_steps, joint_steps=probe_steps, candidates=2),
                       adaptation=AdaptConfig(steps=2 * probe_steps), use_lpips=False,
                       caches=EditCaches(setup_store=None))
    rng = np.random.default_rng(seed)
    photo = load_photo(Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)), size=256)
    state = probe.prepare(photo)
    per_inv = state.timings["invert_s"] / (2 * probe_steps)
    per_adapt = state.timings["adapt_s"] / (2 * probe_steps)
    setup = per_inv * (full_inv.latent_steps + full_inv.joint_steps) + per_adapt * full_adapt.steps
    stroke = probe.stroke(square_mask(256, rng), concept="tree", action="add", strength=1.0)
    edits = []
    for _ in range(5):
        t0 = time.perf_counter()
        probe.render(state, [stroke], final=True)
        edits.append(time.perf_counter() - t0)
    return {"church256_forward_s": time_forward(G, device, repeats=5), "church256_setup_s": setup,
            "church256_edit_s": float(np.median(edits))}


def bench_stylegan2_256(*, device: torch.device, seed: int = 1, probe_steps: int = 3) -> dict[str, Any]:
    """StyleGAN2 at 256² (random weights in the config-f layout of ``stylegan2-church``): forward, per-edit
    and per-photo setup time, with that model's edit and fine layers. Setup is timed over ``probe_steps``
    inversion steps of each kind and ``2 · probe_steps`` adaptation steps, scaled to the default step
    counts; fixed costs of the probe are counted in, so the scaled figure errs high. Figures ending in
    ``_cpu_s`` are this process's CPU seconds (with one thread: the wall time on an idle core)."""
    from PIL import Image

    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.caches import EditCaches
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig
    from ganpaint_core.hub.concepts import ConceptDictionary, ConceptRanking
    from ganpaint_core.hub.manifest import load_manifest
    from ganpaint_core.hub.registry import bundled_weights_dir
    from ganpaint_core.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

    church = load_manifest(bundled_weights_dir() / "stylegan2-church" / "model.json", bundled=True)
    torch.manual_seed(seed)
    G = StyleGAN2Generator(StyleGAN2Config.config_f(256, channel_multiplier=2))
    G.latent_avg.copy_(G.mean_latent(1024, seed=seed)[0])
    G = G.to(device).requires_grad_(False).eval()
    units = dict((n, c) for n, c, _ in G.layer_shapes())[church.edit_layer]
    concepts = ConceptDictionary(layer=church.edit_layer, num_units=units, level_quantile=0.99, levels=(2.0,) * units,
                                 concepts={"tree": ConceptRanking("iou", tuple(range(40)), (1.0,) * 40)})
    model = LoadedModel(manifest=church, generator=G, concepts=concepts, device=device)
    full_inv, full_adapt = InversionConfig(), AdaptConfig()
    probe = EditEngine(model, inversion=InversionConfig(latent_steps=probe_steps, joint_steps=probe_steps),
                       adaptation=AdaptConfig(steps=2 * probe_steps), use_lpips=False,
                       caches=EditCaches(setup_store=None))
    rng = np.random.default_rng(seed)
    photo = load_photo(Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)), size=256)
    # Wall time, and this process's CPU time: on a shared machine with one thread the CPU time is what the
    # wall time would be on an idle core.
    cpu0 = time.process_time()
    state = probe.prepare(photo)
    cpu_share = (time.process_time() - cpu0) / (state.timings["invert_s"] + state.timings["adapt_s"])
    per_inv = state.timings["invert_s"] / (2 * probe_steps)
    per_adapt = state.timings["adapt_s"] / (2 * probe_steps)
    setup = per_inv * (full_inv.latent_steps + full_inv.joint_steps) + per_adapt * full_adapt.steps
    stroke = probe.stroke(square_mask(256, rng), concept="tree", action="add", strength=1.0)
    edits, edits_cpu, forwards, forwards_cpu = [], [], [], []
    z = G.sample_latents(1, seed=seed, device=device)
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        probe.render(state, [stroke], final=True)
        edits.append(time.perf_counter() - t0)
        edits_cpu.append(time.process_time() - c0)
        with torch.no_grad():
            t0, c0 = time.perf_counter(), time.process_time()
            G(z)
            if device.type == "cuda":
                torch.cuda.synchronize()
            forwards.append(time.perf_counter() - t0)
            forwards_cpu.append(time.process_time() - c0)
    adapter_values = sum(v.numel() for v in state.adapter.values())
    return {"stylegan2_256_forward_s": float(np.median(forwards)),
            "stylegan2_256_edit_s": float(np.median(edits)),  # a photo's later edits (its latent render kept)
            "stylegan2_256_first_edit_s": edits[0],  # its first add also renders its latent (tone matching's light)
            "stylegan2_256_setup_s": setup,
            "stylegan2_256_invert_step_s": per_inv,
            "stylegan2_256_adapt_step_s": per_adapt,
            "stylegan2_256_forward_cpu_s": float(np.median(forwards_cpu)),
            "stylegan2_256_edit_cpu_s": float(np.median(edits_cpu)),
            "stylegan2_256_setup_cpu_s": setup * cpu_share,
            "stylegan2_256_adapter_mb": round(adapter_values * 4 / 2**20, 1),
            "edit_layer": church.edit_layer,
            "setup_steps": f"{full_inv.latent_steps}+{full_inv.joint_steps} inversion, {full_adapt.steps} adaptation "
                           f"(scaled from {probe_steps}+{probe_steps} and {2 * probe_steps})",
            "device": device_name(device)}
