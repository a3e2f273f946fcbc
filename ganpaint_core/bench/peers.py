"""The peers bench: this product's chain beside the methods it descends from, on the same photos and strokes.

``python -m ganpaint_core bench --suite peers --model M [--images DIR] [--n N] --json OUT``

Every method edits the same photos (``n`` held-out renders, plus the real photos of ``--images``) with the
same two strokes per photo (an *add* of a random concept into a random square, 1/16 of the image, and a
*remove* of a concept the photo's segmentation shows, painted over its region). The strokes are applied at
the edit layer by the same :func:`apply_strokes`, so the methods differ only in how they fit the photo:

- ``ours``: inversion (encoder + optimisation), adaptation once per photo, one tail pass and the paste-back
  per edit (``EditEngine``);
- ``paper``: Bau et al. 2019 as the authors' code does it: the same inversion, then *per edit* an adaptation
  network fed by fixed noise whose outputs ``s_i`` multiply the fine layers' outputs by ``(1 + s_i)``,
  fitted with ``0.1 · Σ_i mean(s_i²)`` + L1 outside the dilated, blurred edit region, Adam lr 0.1;
- ``pti``: pivotal tuning (Roich et al. 2022): a latent-only inversion gives the pivot, then every weight of
  a *copy* of the generator is tuned to the photo (L2 + the project's reconstruction loss, LPIPS or its
  fallback) with PTI's locality regulariser; edits run on the tuned copy;
- ``optimise``: optimisation-only inversion (no encoder; random starts), no adaptation;
- ``encoder``: the encoder's latent alone.

Figures, medians over photos: ``setup_s`` (per photo), ``edit_s`` (per edit), ``recon_psnr`` (the edited
render against the photo outside the dilated stroke, dB: how faithful the rest of the photo stays; measured
on the model-resolution render, before any paste-back, which would make it exact for ``ours``),
``locality_psnr`` (the edited render against the same method's unedited render outside the dilated stroke),
``add_gain`` (the segmenter's share of the added concept under the stroke) and ``remove_drop`` (relative drop
of the removed concept's area). ``ratio_to_ours`` divides each figure by ours'.

Where a published step count is too slow for a CPU run, the bench runs fewer steps, scales the time to the
published count, and says so in the method's ``settings``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganpaint_core.bench.common import BENCH_CONCEPTS, device_name, dilate, held_out_seeds, segment_uint8, square_mask
from ganpaint_core.bench.peer_methods import PeersConfig, device_clock, paper_edit, pivotal_tuning
from ganpaint_core.hub.loading import LoadedModel

log = logging.getLogger(__name__)

METHODS = ("ours", "paper", "pti", "optimise", "encoder")
FIGURES = ("setup_s", "edit_s", "recon_psnr", "locality_psnr", "add_gain", "remove_drop")


@dataclass
class _Photo:
    name: str
    photo: Any  # ganpaint_core.core.photo.Photo
    square: torch.Tensor  # [1, 3, S, S] in [-1, 1]
    add: tuple[np.ndarray, str]  # (mask [S, S], concept)
    remove: tuple[np.ndarray, str] | None


def _photos(model: LoadedModel, *, seed: int, n: int, images_dir: Path | None) -> list[_Photo]:
    """The bench's photos with their two strokes, drawn once for every method."""
    from PIL import Image

    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.synth.scenes import LABELS, render_batch

    res, seg = model.manifest.resolution, model.segmenter
    rng = np.random.default_rng(seed)
    photos = []
    renders, _ = render_batch(held_out_seeds(seed, 900_000, n), resolution=res)  # the chain bench's renders
    sources: list[tuple[str, Any]] = [(f"render{i}", Image.fromarray(renders[i])) for i in range(n)]
    if images_dir is not None:
        sources += [(p.name, p) for p in sorted(Path(images_dir).iterdir())
                    if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}]
    for name, source in sources:
        photo = load_photo(source, size=res)
        square = photo.model_image  # [1, 3, S, S]
        concept = BENCH_CONCEPTS[rng.integers(len(BENCH_CONCEPTS))]
        add = (square_mask(res, rng), concept)
        remove = None
        if seg is not None:
            labels = segment_uint8(seg, ((square[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255)
                                    .byte().numpy()[None], model.device)[0]
            present = [c for c in BENCH_CONCEPTS if c in LABELS and (labels == LABELS.index(c)).mean() > 0.01]
            if present:
                c = present[rng.integers(len(present))]
                remove = (dilate((labels == LABELS.index(c)).astype(np.float32), 1), c)
        photos.append(_Photo(name, photo, square, add, remove))
    return photos


def _uint8(image: torch.Tensor) -> np.ndarray:
    from ganpaint_core.core.photo import to_uint8

    return to_uint8(image.detach().cpu()[0])


def _score(rows: dict[str, list[float]], *, photo: _Photo, base: torch.Tensor, edited: dict[str, torch.Tensor],
           model: LoadedModel) -> None:
    """Adds one photo's figures to ``rows``: ``base`` is the method's unedited render, ``edited`` its render
    after each stroke ("add", "remove")."""
    from ganpaint_core.core.metrics import psnr
    from ganpaint_core.synth.scenes import LABELS

    res = photo.square.shape[-1]
    r = max(1, res // 16)
    target = photo.square.to(base.device)
    for kind, image in edited.items():
        mask, concept = photo.add if kind == "add" else photo.remove
        outside = torch.from_numpy(dilate(mask, r) == 0).to(base.device)[None, None].expand_as(image)
        rows["recon_psnr"].append(psnr(image[outside], target[outside]))
        rows["locality_psnr"].append(psnr(image[outside], base[outside]))
        if model.segmenter is None:
            continue
        label = LABELS.index(concept)
        before, after = segment_uint8(model.segmenter, np.stack([_uint8(base), _uint8(image)]), model.device)
        if kind == "add":
            rows["add_gain"].append(float((after[mask > 0] == label).mean()))
        elif (before == label).sum() > 0:
            rows["remove_drop"].append(float(1 - (after == label).sum() / (before == label).sum()))


def bench_peers(model: LoadedModel, *, seed: int = 1, n: int | None = None, images_dir: Path | None = None,
                cfg: PeersConfig = PeersConfig(), methods: tuple[str, ...] = METHODS, use_lpips: bool = True,
                inversion: Any = None, adaptation: Any = None, callback: Any = None) -> dict[str, Any]:
    """Every method of ``methods`` on the same photos and strokes; figures per method (see module docstring).
    ``inversion`` / ``adaptation`` (``InversionConfig`` / ``AdaptConfig``): the product's defaults unless given
    (tests pass short ones); ``optimise`` inverts with the same ``inversion``."""
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}: choose from {', '.join(METHODS)}")
    n = cfg.render_photos if n is None else n
    run = _PeersRun(model, seed=seed, cfg=cfg, use_lpips=use_lpips, inversion=inversion, adaptation=adaptation)
    photos = _photos(model, seed=seed, n=n, images_dir=images_dir)
    rows = {m: {f: [] for f in FIGURES} for m in methods}
    skipped: dict[str, str] = {}
    if "encoder" in methods and model.encoder is None:
        skipped["encoder"] = f"{model.manifest.name} has no encoder"
    for i, photo in enumerate(photos):
        state = run.ours_setup(photo, rows["ours"] if "ours" in methods else None) \
            if "ours" in methods or "paper" in methods else None
        if "ours" in methods:
            run.ours(rows["ours"], photo, state)
        if "paper" in methods:
            run.paper(rows["paper"], photo, state)
        if "pti" in methods:
            run.pti(rows["pti"], photo)
        if "optimise" in methods:
            run.optimise(rows["optimise"], photo)
        if "encoder" in methods and "encoder" not in skipped:
            run.encoder(rows["encoder"], photo)
        log.info("peers: photo %d/%d (%s) done", i + 1, len(photos), photo.name)
        if callback:
            callback(i + 1, len(photos), {"stage": "peers", "photo": photo.name})
    out = _summary(rows, methods, skipped, cfg, run.engine)
    out["photos"] = {"renders": n, "real": len(photos) - n, "strokes_per_photo": "add + remove (when the photo's "
                     "segmentation shows a bench concept)"}
    out["lpips"] = run.lpips_model is not None
    out["device"] = device_name(model.device)
    return out


class _PeersRun:
    """What every method shares (the model, the engine for ours, the loss) and one method per peer."""

    def __init__(self, model: LoadedModel, *, seed: int, cfg: PeersConfig, use_lpips: bool, inversion: Any,
                 adaptation: Any) -> None:
        from ganpaint_core.edit.adapt import AdaptConfig, adapter_shapes
        from ganpaint_core.edit.caches import EditCaches
        from ganpaint_core.edit.engine import EditEngine
        from ganpaint_core.edit.invert import InversionConfig
        from ganpaint_core.edit.losses import get_lpips
        from ganpaint_core.models.layers import tail_layer_shapes

        self.model, self.seed, self.cfg = model, seed, cfg
        self.engine = EditEngine(model, use_lpips=use_lpips, inversion=inversion or InversionConfig(),
                                 adaptation=adaptation or AdaptConfig(),
                                 caches=EditCaches(setup_store=None))  # setups are measured
        self.device, self.layer, self.concepts = model.device, model.manifest.edit_layer, model.concepts
        self.lpips_model = get_lpips(self.device) if use_lpips else None
        self.shapes = adapter_shapes(tail_layer_shapes(model.generator, self.layer), model.manifest.fine_layers)

    def strokes_of(self, photo: _Photo) -> dict[str, list]:
        out = {"add": [self.engine.stroke(photo.add[0], concept=photo.add[1], action="add", strength=1.0)]}
        if photo.remove is not None:
            out["remove"] = [self.engine.stroke(photo.remove[0], concept=photo.remove[1], action="remove",
                                                strength=1.0)]
        return out

    def plain_edits(self, rows: dict[str, list[float]], photo: _Photo, features: torch.Tensor, latent: torch.Tensor,
                    tail: Any) -> None:
        """Edits that are one tail pass on edited features."""
        from ganpaint_core.edit.strokes import apply_strokes

        with torch.no_grad():
            base = tail.run(features, latent=latent)
            edited = {}
            for kind, strokes in self.strokes_of(photo).items():
                t0 = device_clock(self.device)
                edited[kind] = tail.run(apply_strokes(features, strokes, self.concepts), latent=latent)
                rows["edit_s"].append(device_clock(self.device) - t0)
        _score(rows, photo=photo, base=base, edited=edited, model=self.model)

    def ours_setup(self, photo: _Photo, rows: dict[str, list[float]] | None) -> Any:
        t0 = device_clock(self.device)
        state = self.engine.prepare(photo.photo, seed=self.seed)
        if rows is not None:
            rows["setup_s"].append(device_clock(self.device) - t0)
        return state

    def ours(self, rows: dict[str, list[float]], photo: _Photo, state: Any) -> None:
        edited = {}
        for kind, strokes in self.strokes_of(photo).items():
            t0 = device_clock(self.device)
            result = self.engine.render(state, strokes, final=True)
            rows["edit_s"].append(device_clock(self.device) - t0)
            preview = torch.from_numpy(result.preview).permute(2, 0, 1)[None].float()  # [1, 3, S, S] 0..255
            edited[kind] = (preview / 127.5 - 1).to(self.device)
        _score(rows, photo=photo, base=state.base_render.to(self.device), edited=edited, model=self.model)

    def paper(self, rows: dict[str, list[float]], photo: _Photo, state: Any) -> None:
        from ganpaint_core.edit.strokes import apply_strokes
        from ganpaint_core.models.layers import run_tail

        rows["setup_s"].append(state.timings["invert_s"])  # the same inversion, no adaptation
        features, latent = state.features.to(self.device), state.latent.to(self.device)
        target, tail = photo.square.to(self.device), self.engine.tail
        with torch.no_grad():
            base = run_tail(tail, features, latent=latent)
        edited = {}
        for kind, strokes in self.strokes_of(photo).items():
            mask = torch.from_numpy(np.maximum.reduce([s.mask for s in strokes]))[None, None].to(self.device)
            t0 = device_clock(self.device)
            edited[kind] = paper_edit(tail, apply_strokes(features, strokes, self.concepts), target, mask,
                                      shapes=self.shapes, latent=latent, cfg=self.cfg, seed=self.seed)
            rows["edit_s"].append((device_clock(self.device) - t0) * self.cfg.paper_steps / self.cfg.paper_steps_run)
        _score(rows, photo=photo, base=base, edited=edited, model=self.model)

    def pti(self, rows: dict[str, list[float]], photo: _Photo) -> None:
        from ganpaint_core.edit.invert import InversionConfig, invert

        G, cfg, target = self.model.generator, self.cfg, photo.square.to(self.device)
        t0 = device_clock(self.device)
        pivot = invert(G, target, layer=self.layer, encoder=None, lpips_model=self.lpips_model, seed=self.seed,
                       cfg=InversionConfig(latent_steps=cfg.pti_pivot_steps, joint_steps=0)).latent.to(self.device)
        t1 = device_clock(self.device)
        tuned = pivotal_tuning(G, pivot, target, layer=self.layer, cfg=cfg, lpips_model=self.lpips_model,
                               seed=self.seed)
        tune_s = (device_clock(self.device) - t1) * cfg.pti_steps / cfg.pti_steps_run
        rows["setup_s"].append(t1 - t0 + tune_s)
        t_head, t_tail = tuned.split(self.layer)
        with torch.no_grad():
            self.plain_edits(rows, photo, t_head(pivot), pivot, t_tail)

    def optimise(self, rows: dict[str, list[float]], photo: _Photo) -> None:
        from ganpaint_core.edit.invert import invert

        t0 = device_clock(self.device)
        inv = invert(self.model.generator, photo.square.to(self.device), layer=self.layer, encoder=None,
                     lpips_model=self.lpips_model, seed=self.seed, cfg=self.engine.inversion_cfg)
        rows["setup_s"].append(device_clock(self.device) - t0)
        self.plain_edits(rows, photo, inv.features.to(self.device), inv.latent.to(self.device), self.engine.tail)

    def encoder(self, rows: dict[str, list[float]], photo: _Photo) -> None:
        G = self.model.generator
        with torch.no_grad():
            t0 = device_clock(self.device)
            encoder = self.model.encoder
            latent = G.to_inversion_latent(encoder(photo.square.to(self.device)), space=encoder.latent_space)
            features = self.engine.head(latent)
            rows["setup_s"].append(device_clock(self.device) - t0)
        self.plain_edits(rows, photo, features, latent, self.engine.tail)


def _summary(rows: dict[str, dict[str, list[float]]], methods: tuple[str, ...], skipped: dict[str, str],
             cfg: PeersConfig, engine: Any) -> dict[str, Any]:
    """Medians per method and figure, each method's settings, and every figure's ratio to ours."""
    med = lambda v: float(np.median(v)) if v else float("nan")  # noqa: E731
    out: dict[str, Any] = {"methods": {}}
    for m in methods:
        if m in skipped:
            out["methods"][m] = {f: float("nan") for f in FIGURES} | {"settings": {"skipped": skipped[m]}}
            continue
        out["methods"][m] = {f: med(rows[m][f]) for f in FIGURES} | {"settings": _settings(m, cfg, engine)}
    if "ours" in methods:
        ours = out["methods"]["ours"]
        for figs in out["methods"].values():
            figs["ratio_to_ours"] = {f: figs[f] / ours[f] if ours[f] not in (0.0,) and not math.isnan(ours[f])
                                     else float("nan") for f in FIGURES}
    return out


def _settings(method: str, cfg: PeersConfig, engine: Any) -> dict[str, Any]:
    inv, ad = engine.inversion_cfg, engine.adapt_cfg
    inversion = (f"{inv.latent_steps}+{inv.joint_steps} steps (latent, then latent + edit-layer residual)"
                 if inv.joint_steps else f"{inv.latent_steps} steps on the latent alone (no edit-layer residual)")
    if method == "ours":
        return {"inversion": inversion + ", encoder start", "adaptation": f"once per photo, {ad.steps} Adam steps, "
                f"lr {ad.lr}", "edit": "one tail pass + paste-back (recon measured before the paste-back)"}
    if method == "paper":
        reduced = cfg.paper_steps_run != cfg.paper_steps
        return {"inversion": "ours (same call; setup_s is its time)",
                "adaptation": f"per edit: noise-fed network, (1+s) on the fine layers, loss "
                              f"{cfg.paper_penalty}·Σ mean(s²) + L1 outside the stroke dilated and blurred by {cfg.paper_dilate:.3g} of the side, "
                              f"Adam lr {cfg.paper_lr}",
                "steps_published": cfg.paper_steps, "steps_run": cfg.paper_steps_run,
                "reduced": (f"{cfg.paper_steps_run} steps run per edit (CPU time), edit_s scaled ×"
                            f"{cfg.paper_steps / cfg.paper_steps_run:g} to {cfg.paper_steps}; the images (and so "
                            f"recon / locality / gains) are those of the shorter fit") if reduced else None}
    if method == "pti":
        reduced = cfg.pti_steps_run != cfg.pti_steps
        return {"pivot": f"latent-only optimisation, {cfg.pti_pivot_steps} steps, no encoder (PTI: 450 in W)",
                "tuning": f"all generator weights of a copy, Adam lr {cfg.pti_lr}, L2 + L1 + LPIPS-or-fallback, "
                          f"locality regulariser λ_R {cfg.pti_reg_weight} at distance {cfg.pti_reg_distance}·√L",
                "steps_published": cfg.pti_steps, "steps_run": cfg.pti_steps_run,
                "reduced": (f"{cfg.pti_steps_run} tuning steps run, time scaled to {cfg.pti_steps}"
                            if reduced else None)}
    if method == "optimise":
        return {"inversion": inversion + ", best of random starts, no encoder", "adaptation": None}
    return {"inversion": "encoder only", "adaptation": None}


def print_peers_table(r: dict[str, Any]) -> None:
    print(f"{'method':<10}" + "".join(f"{f:>14}" for f in FIGURES))
    for m, figs in r["methods"].items():
        print(f"{m:<10}" + "".join(f"{figs[f]:>14.4g}" for f in FIGURES))
    print(f"{'÷ ours':<10}")
    for m, figs in r["methods"].items():
        ratio = figs.get("ratio_to_ours", {})
        print(f"{m:<10}" + "".join(f"{ratio.get(f, float('nan')):>14.3g}" for f in FIGURES))
    print(f"device {r['device']}; photos {r['photos']['renders']} renders + {r['photos']['real']} real; "
          f"LPIPS {'on' if r['lpips'] else 'off (fallback)'}")
