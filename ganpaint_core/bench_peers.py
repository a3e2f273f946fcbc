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

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.bench import BENCH_CONCEPTS, _dilate, _held_out_seeds, _segment_uint8, _square_mask
from ganpaint_core.loading import LoadedModel

log = logging.getLogger(__name__)

METHODS = ("ours", "paper", "pti", "optimise", "encoder")
FIGURES = ("setup_s", "edit_s", "recon_psnr", "locality_psnr", "add_gain", "remove_drop")


@dataclass(frozen=True)
class PeersConfig:
    """Published settings of the peers, and what this run actually does."""

    paper_steps: int = 1000  # Adam steps per edit in the authors' code
    paper_steps_run: int = 100  # steps run here per edit; the time is scaled to paper_steps
    paper_lr: float = 0.1  # Adam learning rate of the adaptation network
    paper_penalty: float = 0.1  # weight of Σ_i mean(s_i²)
    paper_noise_channels: int = 8  # channels of the fixed noise the adaptation network is fed
    paper_dilate: float = 1 / 16  # dilation (and blur) of the edit region excluded from the L1, share of the side
    pti_steps: int = 350  # PTI's generator-tuning steps
    pti_steps_run: int = 350  # steps run here (scaled to pti_steps when fewer)
    pti_lr: float = 3e-4  # PTI's Adam learning rate for the generator's weights
    pti_pivot_steps: int = 200  # latent-only inversion steps for the pivot (PTI: 450 in W; here as many as ours)
    pti_reg_weight: float = 0.1  # PTI's λ_R, locality regulariser weight
    pti_reg_distance: float = 0.5  # PTI's α (30 in StyleGAN's W) as a share of √L in z: how far the probes go
    render_photos: int = 4  # held-out renders (the CLI's --n)


def _clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


# -- the paper's per-edit adaptation ------------------------------------------------------------------
class NoiseAdapter(nn.Module):
    """GANPaint's adaptation network: fixed noise in, one multiplicative perturbation per fine layer out.

    Example::

        net = NoiseAdapter({"layer7": (64, 32)}, noise_channels=8, seed=0)
        image = run_tail(tail, features, modify=net)     # each fine output * (1 + s_i)
    """

    def __init__(self, shapes: dict[str, tuple[int, int]], *, noise_channels: int, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.names = list(shapes)
        self.maps = nn.ModuleDict()
        for i, (name, (channels, size)) in enumerate(shapes.items()):
            self.register_buffer(f"noise{i}", torch.randn(1, noise_channels, size, size, generator=g))
            conv = nn.Conv2d(noise_channels, channels, 1)
            nn.init.zeros_(conv.weight)  # starts as the unadapted generator
            nn.init.zeros_(conv.bias)
            self.maps[name.replace(".", "_")] = conv
        self.last: dict[str, torch.Tensor] = {}

    def perturbation(self, name: str) -> torch.Tensor:  # [1, C, s, s]
        return self.maps[name.replace(".", "_")](getattr(self, f"noise{self.names.index(name)}"))

    def __call__(self, name: str, output: torch.Tensor) -> torch.Tensor:  # the run_tail modify hook
        if name not in self.names:
            return output
        s = self.perturbation(name)
        self.last[name] = s
        return output * (1 + s)

    def penalty(self) -> torch.Tensor:
        return sum(self.perturbation(n).pow(2).mean() for n in self.names)


def outside_weight(mask: torch.Tensor, dilate: float) -> torch.Tensor:
    """[1, 1, S, S]: 1 far from the edit, 0 on it; the mask dilated by ``dilate`` of the side, then blurred."""
    r = max(1, round(mask.shape[-1] * dilate))
    grown = F.max_pool2d(mask, 2 * r + 1, stride=1, padding=r)
    return (1 - F.avg_pool2d(grown, 2 * r + 1, stride=1, padding=r, count_include_pad=False)).clamp(0, 1)


def paper_edit(tail: Any, edited: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *,
               shapes: dict[str, tuple[int, int]], latent: torch.Tensor | None, cfg: PeersConfig,
               seed: int = 0) -> torch.Tensor:
    """The paper's edit: fit a fresh :class:`NoiseAdapter` to ``target`` outside ``mask`` with the edited
    features ``edited`` [1, C, h, w]; returns the adapted render [1, 3, S, S]."""
    from ganpaint_core.edit.layers import run_tail

    net = NoiseAdapter(shapes, noise_channels=cfg.paper_noise_channels, seed=seed).to(edited.device)
    weight = outside_weight(mask, cfg.paper_dilate)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.paper_lr)
    for _ in range(cfg.paper_steps_run):
        image = run_tail(tail, edited, latent=latent, modify=net)
        l1 = ((image - target).abs() * weight).sum() / (weight.sum().clamp(min=1e-6) * 3)
        loss = l1 + cfg.paper_penalty * net.penalty()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return run_tail(tail, edited, latent=latent, modify=net)


# -- pivotal tuning ------------------------------------------------------------------------------------
def pivotal_tuning(generator: nn.Module, pivot: torch.Tensor, target: torch.Tensor, *, layer: str, cfg: PeersConfig,
                   lpips_model: nn.Module | None, seed: int = 0) -> nn.Module:
    """A tuned *copy* of ``generator`` (every weight) that draws ``target`` at ``pivot``; the original is
    untouched. PTI's locality regulariser keeps the copy's images of latents near the pivot as they were."""
    from ganpaint_core.edit.losses import reconstruction_loss

    tuned = copy.deepcopy(generator).requires_grad_(True)
    head, tail = tuned.split(layer)
    ref_head, ref_tail = generator.split(layer)
    opt = torch.optim.Adam(tuned.parameters(), lr=cfg.pti_lr)
    g = torch.Generator().manual_seed(seed)
    reach = cfg.pti_reg_distance * math.sqrt(pivot[0].numel())
    for _ in range(cfg.pti_steps_run):
        image = tail.run(head(pivot), latent=pivot)
        loss = F.mse_loss(image, target) + reconstruction_loss(image, target, lpips_model=lpips_model)
        direction = torch.randn(pivot.shape, generator=g).to(pivot.device)
        probe = pivot + reach * direction / direction.norm()
        with torch.no_grad():
            before = ref_tail.run(ref_head(probe), latent=probe)
        after = tail.run(head(probe), latent=probe)
        loss = loss + cfg.pti_reg_weight * (F.mse_loss(after, before)
                                             + reconstruction_loss(after, before, lpips_model=lpips_model))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return tuned.requires_grad_(False).eval()


# -- the bench -------------------------------------------------------------------------------------------
@dataclass
class _Photo:
    name: str
    photo: Any  # ganpaint_core.photo.Photo
    square: torch.Tensor  # [1, 3, S, S] in [-1, 1]
    add: tuple[np.ndarray, str]  # (mask [S, S], concept)
    remove: tuple[np.ndarray, str] | None


def _photos(model: LoadedModel, *, seed: int, n: int, images_dir: Path | None) -> list[_Photo]:
    """The bench's photos with their two strokes, drawn once for every method."""
    from PIL import Image

    from ganpaint_core.photo import load_photo
    from ganpaint_core.synth.scenes import LABELS, render_batch

    res, seg = model.manifest.resolution, model.segmenter
    rng = np.random.default_rng(seed)
    photos = []
    renders, _ = render_batch(_held_out_seeds(seed, 900_000, n), resolution=res)  # the chain bench's renders
    sources: list[tuple[str, Any]] = [(f"render{i}", Image.fromarray(renders[i])) for i in range(n)]
    if images_dir is not None:
        sources += [(p.name, p) for p in sorted(Path(images_dir).iterdir())
                    if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}]
    for name, source in sources:
        photo = load_photo(source, size=res)
        square = photo.model_image  # [1, 3, S, S]
        concept = BENCH_CONCEPTS[rng.integers(len(BENCH_CONCEPTS))]
        add = (_square_mask(res, rng), concept)
        remove = None
        if seg is not None:
            labels = _segment_uint8(seg, ((square[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255)
                                    .byte().numpy()[None], model.device)[0]
            present = [c for c in BENCH_CONCEPTS if c in LABELS and (labels == LABELS.index(c)).mean() > 0.01]
            if present:
                c = present[rng.integers(len(present))]
                remove = (_dilate((labels == LABELS.index(c)).astype(np.float32), 1), c)
        photos.append(_Photo(name, photo, square, add, remove))
    return photos


def _uint8(image: torch.Tensor) -> np.ndarray:
    from ganpaint_core.photo import to_uint8

    return to_uint8(image.detach().cpu()[0])


def _score(rows: dict[str, list[float]], *, photo: _Photo, base: torch.Tensor, edited: dict[str, torch.Tensor],
           model: LoadedModel) -> None:
    """Adds one photo's figures to ``rows``: ``base`` is the method's unedited render, ``edited`` its render
    after each stroke ("add", "remove")."""
    from ganpaint_core.metrics import psnr
    from ganpaint_core.synth.scenes import LABELS

    res = photo.square.shape[-1]
    r = max(1, res // 16)
    target = photo.square.to(base.device)
    for kind, image in edited.items():
        mask, concept = photo.add if kind == "add" else photo.remove
        outside = torch.from_numpy(_dilate(mask, r) == 0).to(base.device)[None, None].expand_as(image)
        rows["recon_psnr"].append(psnr(image[outside], target[outside]))
        rows["locality_psnr"].append(psnr(image[outside], base[outside]))
        if model.segmenter is None:
            continue
        label = LABELS.index(concept)
        before, after = _segment_uint8(model.segmenter, np.stack([_uint8(base), _uint8(image)]), model.device)
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
    from ganpaint_core.edit.adapt import AdaptConfig, adapter_shapes
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig, invert
    from ganpaint_core.edit.layers import run_tail, tail_layer_shapes
    from ganpaint_core.edit.losses import get_lpips
    from ganpaint_core.edit.strokes import apply_strokes

    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}: choose from {', '.join(METHODS)}")
    n = cfg.render_photos if n is None else n
    engine = EditEngine(model, use_lpips=use_lpips, inversion=inversion or InversionConfig(),
                        adaptation=adaptation or AdaptConfig())
    G, device, layer, concepts = model.generator, model.device, model.manifest.edit_layer, model.concepts
    head, tail = engine.head, engine.tail
    lpips_model = get_lpips(device) if use_lpips else None
    shapes = adapter_shapes(tail_layer_shapes(G, layer), model.manifest.fine_layers)
    photos = _photos(model, seed=seed, n=n, images_dir=images_dir)
    rows = {m: {f: [] for f in FIGURES} for m in methods}
    skipped: dict[str, str] = {}
    if "encoder" in methods and model.encoder is None:
        skipped["encoder"] = f"{model.manifest.name} has no encoder"

    def strokes_of(photo: _Photo) -> dict[str, list]:
        out = {"add": [engine.stroke(photo.add[0], concept=photo.add[1], action="add", strength=1.0)]}
        if photo.remove is not None:
            out["remove"] = [engine.stroke(photo.remove[0], concept=photo.remove[1], action="remove", strength=1.0)]
        return out

    def plain_edits(rows_m: dict[str, list[float]], photo: _Photo, features: torch.Tensor, latent: torch.Tensor,
                    run: Any) -> None:
        """Edits that are one tail pass of ``run`` (a tail) on edited features."""
        with torch.no_grad():
            base = run.run(features, latent=latent)
            edited = {}
            for kind, strokes in strokes_of(photo).items():
                t0 = _clock(device)
                edited[kind] = run.run(apply_strokes(features, strokes, concepts), latent=latent)
                rows_m["edit_s"].append(_clock(device) - t0)
        _score(rows_m, photo=photo, base=base, edited=edited, model=model)

    for i, photo in enumerate(photos):
        target = photo.square.to(device)
        ours_state = None
        if "ours" in methods or "paper" in methods:
            t0 = _clock(device)
            ours_state = engine.prepare(photo.photo, seed=seed)
            setup = _clock(device) - t0
        if "ours" in methods:
            rows["ours"]["setup_s"].append(setup)
            edited = {}
            for kind, strokes in strokes_of(photo).items():
                t0 = _clock(device)
                result = engine.render(ours_state, strokes, final=True)
                rows["ours"]["edit_s"].append(_clock(device) - t0)
                preview = torch.from_numpy(result.preview).permute(2, 0, 1)[None].float()  # [1, 3, S, S] 0..255
                edited[kind] = (preview / 127.5 - 1).to(device)
            _score(rows["ours"], photo=photo, base=ours_state.base_render.to(device), edited=edited, model=model)
        if "paper" in methods:
            rows["paper"]["setup_s"].append(ours_state.timings["invert_s"])  # the same inversion, no adaptation
            features, latent = ours_state.features.to(device), ours_state.latent.to(device)
            with torch.no_grad():
                base = run_tail(tail, features, latent=latent)
            edited = {}
            for kind, strokes in strokes_of(photo).items():
                mask = torch.from_numpy(np.maximum.reduce([s.mask for s in strokes]))[None, None].to(device)
                t0 = _clock(device)
                edited[kind] = paper_edit(tail, apply_strokes(features, strokes, concepts), target, mask,
                                          shapes=shapes, latent=latent, cfg=cfg, seed=seed)
                rows["paper"]["edit_s"].append((_clock(device) - t0) * cfg.paper_steps / cfg.paper_steps_run)
            _score(rows["paper"], photo=photo, base=base, edited=edited, model=model)
        if "pti" in methods:
            t0 = _clock(device)
            pivot = invert(G, target, layer=layer, encoder=None, lpips_model=lpips_model, seed=seed,
                           cfg=InversionConfig(latent_steps=cfg.pti_pivot_steps, joint_steps=0)).latent.to(device)
            t1 = _clock(device)
            tuned = pivotal_tuning(G, pivot, target, layer=layer, cfg=cfg, lpips_model=lpips_model, seed=seed)
            tune_s = (_clock(device) - t1) * cfg.pti_steps / cfg.pti_steps_run
            rows["pti"]["setup_s"].append(t1 - t0 + tune_s)
            t_head, t_tail = tuned.split(layer)
            with torch.no_grad():
                plain_edits(rows["pti"], photo, t_head(pivot), pivot, t_tail)
        if "optimise" in methods:
            t0 = _clock(device)
            inv = invert(G, target, layer=layer, encoder=None, lpips_model=lpips_model, seed=seed,
                         cfg=engine.inversion_cfg)
            rows["optimise"]["setup_s"].append(_clock(device) - t0)
            plain_edits(rows["optimise"], photo, inv.features.to(device), inv.latent.to(device), tail)
        if "encoder" in methods and "encoder" not in skipped:
            with torch.no_grad():
                t0 = _clock(device)
                latent = G.to_inversion_latent(model.encoder(target))
                features = head(latent)
                rows["encoder"]["setup_s"].append(_clock(device) - t0)
            plain_edits(rows["encoder"], photo, features, latent, tail)
        log.info("peers: photo %d/%d (%s) done", i + 1, len(photos), photo.name)
        if callback:
            callback(i + 1, len(photos), {"stage": "peers", "photo": photo.name})

    med = lambda v: float(np.median(v)) if v else float("nan")  # noqa: E731
    out: dict[str, Any] = {"methods": {}}
    for m in methods:
        if m in skipped:
            out["methods"][m] = {f: float("nan") for f in FIGURES} | {"settings": {"skipped": skipped[m]}}
            continue
        out["methods"][m] = {f: med(rows[m][f]) for f in FIGURES} | {"settings": _settings(m, cfg, engine)}
    if "ours" in methods:
        ours = out["methods"]["ours"]
        for m, figs in out["methods"].items():
            figs["ratio_to_ours"] = {f: figs[f] / ours[f] if ours[f] not in (0.0,) and not math.isnan(ours[f])
                                     else float("nan") for f in FIGURES}
    out["photos"] = {"renders": n, "real": len(photos) - n, "strokes_per_photo": "add + remove (when the photo's "
                     "segmentation shows a bench concept)"}
    out["lpips"] = lpips_model is not None
    from ganpaint_core.bench import _device_name

    out["device"] = _device_name(device)
    return out


def _settings(method: str, cfg: PeersConfig, engine: Any) -> dict[str, Any]:
    inv, ad = engine.inversion_cfg, engine.adapt_cfg
    inversion = f"{inv.latent_steps}+{inv.joint_steps} steps (latent, then latent + edit-layer residual)"
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


def peers_config_dict(cfg: PeersConfig) -> dict[str, Any]:
    return asdict(cfg)


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
