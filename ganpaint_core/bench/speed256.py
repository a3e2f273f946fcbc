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
            "stylegan2_256_edit_s": float(np.median(edits)),
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
