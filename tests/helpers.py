"""What several test modules build or wait on: tiny seeded models, model folders, the app's engine, scene
photos and masks, the CLI in a subprocess, a free port, a wait on a condition.

Test modules import from here (and from ``hub_server``), never from one another, so each one can be run,
moved or deleted alone. Fixtures live in ``conftest.py``.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from ganpaint_core.analysis.directions import Direction, Directions
from ganpaint_core.analysis.scene_segmenter import SceneSegmenter
from ganpaint_core.analysis.segmenters import ADE20K_CONCEPTS
from ganpaint_core.edit.brush import BrushSpec
from ganpaint_core.models.e4e import E4EConfig, Encoder4Editing
from ganpaint_core.models.progan import ProGANGenerator
from ganpaint_core.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BUNDLED = REPO / "weights" / "synth-church" / "model.json"
FORMATS = Path(__file__).resolve().parent / "data" / "formats"  # key tables of public checkpoint layouts
PROGAN_KEYS_TSV = FORMATS / "progan-church256-keys.tsv"
STYLEGAN2_KEYS_TSV = FORMATS / "stylegan2-256-keys.tsv"
TINY_STYLEGAN2 = StyleGAN2Config(resolution=64, channels=(32, 32, 32, 16, 8), style_dim=16, n_mlp=2)
E4E_KEYS_TSV = FORMATS / "e4e-church-encoder-keys.tsv"  # the released encoder's layout

T = TypeVar("T")


# -- waiting -----------------------------------------------------------------------------------------------
def wait_for(predicate: Callable[[], T], *, timeout: float, interval: float = 0.02, message: str = "") -> T:
    """Poll ``predicate`` every ``interval`` s until it returns something truthy (returned), or fail the test
    after ``timeout`` s with ``message``. For waits on a state, in place of a fixed sleep that is either too
    short on a busy machine or longer than needed on an idle one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"waited {timeout:g} s: {message or 'the condition never held'}")
        time.sleep(interval)


# -- the CLI and the network ------------------------------------------------------------------------------------
def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m ganpaint_core ARGS`` in the repository, with ``env`` over this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "ganpaint_core", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- tiny ProGANs and model folders --------------------------------------------------------------------------
def tiny_generator(seed: int = 0, sizes: tuple[int, ...] = (16, 16, 16, 8, 8)) -> ProGANGenerator:
    """A seeded 32-px ProGAN with small widths: loads and runs in milliseconds."""
    torch.manual_seed(seed)
    g = ProGANGenerator(sizes)
    for layer in g.children():
        torch.nn.init.normal_(layer.wscale.b, std=0.1)
    return g.eval()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_model_folder(folder: Path, *, generator: ProGANGenerator, name: str | None = None,
                       sources: list[dict] | None = None, sha256: str | None = "auto",
                       write_file: bool = True) -> Path:
    """A model folder with a safetensors generator and its manifest; returns the manifest path."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "generator.safetensors"
    save_file({k: v.contiguous() for k, v in generator.state_dict().items()}, str(weights))
    data = weights.read_bytes()
    if not write_file:
        weights.unlink()
    manifest = {
        "name": name or folder.name,
        "family": "progan",
        "resolution": generator.resolution,
        "latent_size": generator.latent_size,
        "edit_layer": "layer4",
        "fine_layers": ["layer5", "layer6"],
        "licence": "test",
        "citation": "",
        "description": "tiny test model",
        "files": {
            "generator": {
                "filename": "generator.safetensors",
                "format": "safetensors",
                "sha256": sha256_bytes(data) if sha256 == "auto" else sha256,
                "size": len(data),
                "sources": sources or [{"path": "generator.safetensors"}],
            }
        },
    }
    path = folder / "model.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


def tiny_loaded_model(seed: int = 0):
    """A 64-px random ProGAN with a made-up dictionary, in memory: exercises the edit chain in seconds."""
    from ganpaint_core.hub.concepts import ConceptDictionary, ConceptRanking
    from ganpaint_core.hub.loading import LoadedModel
    from ganpaint_core.hub.manifest import ModelManifest

    G = tiny_generator(seed=seed, sizes=(16, 32, 32, 16, 16, 8)).requires_grad_(False)
    units = 32
    levels = tuple(float(1.0 + 0.05 * u) for u in range(units))
    concepts = {
        "tree": ConceptRanking("iou", tuple(range(0, 24)), tuple(1.0 - 0.01 * i for i in range(24))),
        "dome": ConceptRanking("iou", tuple(range(8, 32)), tuple(1.0 - 0.01 * i for i in range(24))),
    }
    dictionary = ConceptDictionary(layer="layer4", num_units=units, level_quantile=0.99, levels=levels,
                                   concepts=concepts)
    manifest = ModelManifest(name="tiny", family="progan", resolution=64, latent_size=16, edit_layer="layer4",
                             fine_layers=("layer5", "layer6", "layer7", "layer8"), licence="", citation="",
                             description="tiny test model", files={}, folder=REPO)
    return LoadedModel(manifest=manifest, generator=G, concepts=dictionary, device=torch.device("cpu"),
                       sha256={"generator": "0" * 64})


def church_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with exactly the keys and shapes of GANPaint's church checkpoint."""
    return key_table_state_dict(PROGAN_KEYS_TSV, seed)


def key_table_state_dict(table: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors (seeded) with exactly the keys and shapes of a key table (``key\tshape\tdtype`` rows)."""
    g = torch.Generator().manual_seed(seed)
    rows = [line.split("\t") for line in table.read_text().splitlines()[1:]]
    return {key: torch.randn(json.loads(shape), generator=g) * 0.5 for key, shape, _ in rows}


# -- tiny StyleGAN2s ---------------------------------------------------------------------------------------------
def tiny_stylegan2_checkpoint(seed: int = 0, config: StyleGAN2Config = TINY_STYLEGAN2) -> dict[str, object]:
    """``{'g_ema', 'latent_avg'}`` of a small seeded StyleGAN2 whose noise weights and biases are non-zero."""
    torch.manual_seed(seed)
    state = StyleGAN2Generator(config).state_dict()
    for key, value in state.items():
        if key.endswith(("noise.weight", "activate.bias", "rgb1.bias")) or re.search(r"rgbs\.\d+\.bias$", key):
            value.normal_(std=0.2)
    return {"g_ema": state, "latent_avg": torch.randn(config.style_dim) * 0.1}


def tiny_stylegan2(seed: int = 0, config: StyleGAN2Config = TINY_STYLEGAN2) -> StyleGAN2Generator:
    return StyleGAN2Generator.from_state_dict(tiny_stylegan2_checkpoint(seed, config)).requires_grad_(False)


def tiny_e4e_config(*, size: int = 64, style_dim: int = 16) -> E4EConfig:
    """A small e4e for a ``size`` px StyleGAN2 with ``style_dim``-long w: one backbone unit per stage."""
    return E4EConfig(stylegan_size=size, input_size=size, units=(1, 1, 1, 1), widths=(16, 16, 16, style_dim))


def tiny_e4e_checkpoint(path: Path, *, size: int = 64, n_styles: int | None = None, seed: int = 0,
                        style_dim: int = 16, generator: dict[str, object] | None = None) -> Path:
    """Write a random-weight e4e file in the released layout for a small StyleGAN2 and return ``path``.

    ``{'state_dict': {'encoder.*', 'decoder.*'}, 'latent_avg': [n_styles, D], 'opts': dict}``, as
    encoder4editing saves it. ``generator`` (a ``tiny_stylegan2_checkpoint``) supplies the decoder and the
    ``latent_avg``; without one, two stand-in decoder keys and a random ``latent_avg``. ``n_styles``, when
    given, must be the W+ rows of a ``size`` px StyleGAN2 (a check on the caller's arithmetic).
    """
    config = tiny_e4e_config(size=size, style_dim=style_dim)
    if n_styles is not None and n_styles != config.n_styles:
        raise ValueError(f"a {size}px StyleGAN2 has {config.n_styles} W+ rows, not {n_styles}")
    torch.manual_seed(seed)
    state = Encoder4Editing(config).state_dict()
    g = torch.Generator().manual_seed(seed)
    for key, value in state.items():  # BatchNorm statistics away from 0/1, so eval mode is visible
        if key.endswith("running_mean"):
            value.normal_(std=0.1, generator=g)
        elif key.endswith("running_var"):
            value.uniform_(0.5, 1.5, generator=g)
    if generator is not None:
        decoder = {f"decoder.{k}": v for k, v in generator["g_ema"].items()}
        latent_avg = generator["latent_avg"].expand(config.n_styles, style_dim).clone()
    else:
        decoder = {"decoder.style.1.weight": torch.randn(style_dim, style_dim), "decoder.input.input":
                   torch.randn(1, 16, 4, 4)}
        latent_avg = torch.randn(config.n_styles, style_dim, generator=g) * 0.1
    opts = {**config.to_options(), "dataset_type": "church_encode", "device": "cuda:0", "lpips_lambda": 0.8,
            "progressive_steps": [0, 20000], "checkpoint_path": None}
    torch.save({"state_dict": {**{f"encoder.{k}": v for k, v in state.items()}, **decoder},
                "latent_avg": latent_avg, "opts": opts}, path)
    return Path(path)


def tiny_stylegan2_model():
    """A 64 px seeded StyleGAN2 with a made-up ranking on convs.1 (8×8, 32 units), in memory."""
    from ganpaint_core.hub.concepts import ConceptDictionary, ConceptRanking
    from ganpaint_core.hub.loading import LoadedModel
    from ganpaint_core.hub.manifest import ModelManifest

    G = tiny_stylegan2()
    units = 32
    head, _ = G.split("convs.1")
    with torch.no_grad():  # levels measured the way dissection does (a lower quantile: the model is random)
        features = head(G.sample_latents(64, seed=0))  # [64, 32, 8, 8]
    levels = features.transpose(0, 1).reshape(units, -1).quantile(0.9, dim=1)
    concepts = ConceptDictionary(
        layer="convs.1", num_units=units, level_quantile=0.9, levels=tuple(levels.tolist()),
        concepts={"tree": ConceptRanking("iou", tuple(range(24)), tuple(1.0 - 0.01 * i for i in range(24)))})
    manifest = ModelManifest(name="tiny-sg2", family="stylegan2", resolution=64, latent_size=16, edit_layer="convs.1",
                             fine_layers=("convs.2", "convs.3", "convs.4", "convs.5", "convs.6", "convs.7"),
                             licence="", citation="", description="tiny test model", files={}, folder=REPO)
    return LoadedModel(manifest=manifest, generator=G, concepts=concepts, device=torch.device("cpu"))


# -- the app's model, photos and masks -------------------------------------------------------------------------------
@functools.cache
def app_model_manifest() -> Path:
    """The bundled synth-church when it is there (the real product), else a smoke-trained stand-in with
    the same files and concepts, built once per test run (a few seconds)."""
    if BUNDLED.is_file():
        return BUNDLED
    root = Path(tempfile.mkdtemp(prefix="ganpaint-app-model-"))
    cmd = [sys.executable, "-m", "ganpaint_core.training.synth_suite", "all", "--smoke", "--threads", "1",
           "--out", str(root / "run"), "--export-dir", str(root / "models" / "synth-church")]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-2000:]
    return root / "models" / "synth-church" / "model.json"


def make_engine():
    """An engine on the app's model with short inversion/adaptation (the wiring is under test, not quality)."""
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig
    from ganpaint_core.hub.loading import load_model
    from ganpaint_core.hub.manifest import load_manifest

    path = app_model_manifest()
    model = load_model(load_manifest(path, bundled=path == BUNDLED), device="cpu")
    return EditEngine(model, inversion=InversionConfig(latent_steps=8, joint_steps=8), adaptation=AdaptConfig(steps=12),
                      use_lpips=False)


def undissected_model(models: Path) -> None:
    """``models/synth-raw``: the app's model with its generator, segmenter and encoder, but no dictionary."""
    src = app_model_manifest().parent
    manifest = json.loads((src / "model.json").read_text())
    manifest["name"] = "synth-raw"
    del manifest["files"]["concepts"]
    folder = models / "synth-raw"
    folder.mkdir(parents=True)
    for f in manifest["files"].values():
        shutil.copyfile(src / f["filename"], folder / f["filename"])
    (folder / "model.json").write_text(json.dumps(manifest))


def scene_png(seed: int, size: tuple[int, int] = (256, 256)) -> bytes:
    """A procedural church scene (seeds ≥ 9,000,000: never a training scene) as PNG bytes of ``size``."""
    from ganpaint_core.synth.scenes import render_scene

    img = Image.fromarray(render_scene(seed, resolution=max(size)).image)
    if size[0] != size[1]:
        w, h = size
        side = max(size)
        img = img.crop(((side - w) // 2, (side - h) // 2, (side - w) // 2 + w, (side - h) // 2 + h))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Boolean ``mask`` grown by ``radius`` pixels (a square structuring element)."""
    t = torch.from_numpy(mask.astype(np.float32))[None, None]
    return torch.nn.functional.max_pool2d(t, 2 * radius + 1, stride=1, padding=radius)[0, 0].numpy() > 0


def box_mask(h: int, w: int, y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
    """A float32 ``h``×``w`` mask, 1 in the box given as fractions of the height and width, else 0."""
    m = np.zeros((h, w), np.float32)
    m[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)] = 1
    return m


def held_setup(engine, calls: list[str]):
    """``engine.prepare`` that never finishes for 300×200 photos (reporting progress every step until its
    callback stops it), and sets up any other photo as usual; ``calls`` records "start" / "end"."""
    real = engine.prepare

    def prepare(photo, *, callback=None, **kwargs):
        if photo.original.shape[:2] != (200, 300):
            return real(photo, callback=callback, **kwargs)
        calls.append("start")
        try:
            while True:
                if callback is not None:
                    callback(0, 0, {"stage": "held"})
                time.sleep(0.01)
        finally:
            calls.append("end")
    return prepare


class ColourSegmenter(SceneSegmenter):
    """Labels pixels by their dominant channel; counts its calls. Deterministic and instant."""

    def __init__(self) -> None:
        self.name = "colour"
        self.label_names = ("other", "sky", "tree", "brick")
        self.concepts = ("sky", "tree", "brick")
        self.sources = {c: (c,) for c in self.concepts}
        self.fingerprint = "colour-v1"
        self.device = torch.device("cpu")
        self.calls = 0

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self._scores(images).argmax(dim=1)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self._scores(images).softmax(dim=1)

    @staticmethod
    def _scores(images: torch.Tensor) -> torch.Tensor:
        """[N, 4, H, W]: how much each channel dominates the other two (other: 0)."""
        r, g, b = images.unbind(1)  # each [N, H, W]
        return 10 * torch.stack([torch.zeros_like(r), b - torch.maximum(r, g), g - torch.maximum(r, b),
                                 r - torch.maximum(g, b)], dim=1)


# -- a tiny SegFormer in the Hub layout (ADE20K class names) -------------------------------------------
HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
needs_transformers = pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers not installed (pip install .[dissect])")

# ADE20K-150's first classes in the checkpoint's order, then the others the concept map uses.
ADE_NAMES = ["wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed ", "windowpane", "grass"]
ADE_NAMES += sorted({n for names in ADE20K_CONCEPTS.values() for n in names} - set(ADE_NAMES))


def tiny_segformer(folder: Path, *, size: int = 64) -> Path:
    """A randomly initialised two-stage SegFormer with ADE20K class names, saved like a Hub checkpoint."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    config = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
                             num_attention_heads=[1, 1], mlp_ratios=[2, 2], patch_sizes=[7, 3], strides=[4, 2],
                             decoder_hidden_size=16, num_labels=len(ADE_NAMES),
                             id2label=dict(enumerate(ADE_NAMES)), label2id={n: i for i, n in enumerate(ADE_NAMES)})
    torch.manual_seed(0)
    SegformerForSemanticSegmentation(config).eval().save_pretrained(folder)
    SegformerImageProcessor(size={"height": size, "width": size}).save_pretrained(folder)
    return folder


def made_up_directions(space: str = "z", dim: int = 4) -> Directions:
    vectors = {"sky": torch.arange(dim, dtype=torch.float32), "pc1": torch.ones(dim)}
    rows = {"sky": Direction(name="sky", kind="supervised", vector=vectors["sky"], label="more sky", score=0.5),
            "pc1": Direction(name="pc1", kind="pca", vector=vectors["pc1"], label="+sky", score=0.1)}
    return Directions(space=space, generator_sha256="ab" * 32, directions=rows, explained_variance_top10=[0.1],
                      skipped={"dome": "never seen"}, settings={"samples": 16})


# -- a colour brush on the 64-px square ----------------------------------------------------------------
BRUSH_SIDE = 64


def ellipse(cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[:BRUSH_SIDE, :BRUSH_SIDE]
    return ((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1).astype(np.float32)


def blue_brush(**kwargs) -> BrushSpec:
    color = np.broadcast_to(np.array([40, 90, 200], np.float32), (BRUSH_SIDE, BRUSH_SIDE, 3)).copy()
    return BrushSpec(color=color, color_mask=ellipse(20, 40, 6, 9), **kwargs)


# -- headless Chromium, for the browser modules ---------------------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}  # a laptop's window
BROWSER_MARKS = [  # a browser module's pytestmark: slow, and skipped (saying why) where the browser is missing
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no browser: {CHROMIUM} is missing (apt-get install -y chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the playwright package is missing (pip install playwright)"),
]


@contextlib.contextmanager
def browser_page(url: str, tmp_path: Path, photo: Path | None = None):
    """A 1280×800 Chromium page at ``url`` (with ``photo`` uploaded and set up); ``page.context.browser`` opens
    fresh contexts. On a failure it leaves a screenshot and the status lines for whoever reads the CI log."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(120_000)  # CI machines may be busy
        try:
            page.goto(url)
            if photo is not None:
                page.set_input_files("#photo input[type=file]", str(photo))
                page.wait_for_function("document.querySelector('#status').innerText.includes('is ready on')")
            yield page
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print("status:", page.inner_text("#status"), "| preview:", page.inner_text("#paint-info"),
                  "| screenshot:", tmp_path / "failure.png")
            raise
        finally:
            browser.close()


def canvas_stroke(page, dx0: float, dy0: float, dx1: float, dy1: float, *, moves: int = 16) -> None:
    """A mouse stroke on the page's canvas from (dx0, dy0) to (dx1, dy1) pixels off its centre, in ``moves``
    steps."""
    page.locator("#editor").scroll_into_view_if_needed()
    box = page.locator("#editor canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx + dx0, cy + dy0)
    page.mouse.down()
    for k in range(1, moves + 1):
        page.mouse.move(cx + dx0 + (dx1 - dx0) * k / moves, cy + dy0 + (dy1 - dy0) * k / moves, steps=2)
    page.mouse.up()


# -- the page's values -------------------------------------------------------------------------------------
def last_update(items):
    """A page action's last item (its PageUpdate), after checking every earlier one is progress."""
    from ganpaint_core.page.jobs import JobUpdate

    items = list(items)
    assert all(isinstance(i, JobUpdate) for i in items[:-1])
    return items[-1]


def paint_layer(mask: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 4]: ``mask`` as the editor's paint layer (alpha = the mask)."""
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[..., 3] = (mask * 255).astype(np.uint8)
    return rgba


def flip_tensor_bytes(path: Path, tensor_name: str, n_bytes: int = 400) -> None:
    """Flip bits in ``n_bytes`` of one tensor's data in a safetensors file, leaving the file's structure valid
    (what a bad sector or a bit rot does to a stored setup)."""
    raw = bytearray(path.read_bytes())
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8: 8 + header_len])
    start, end = header[tensor_name]["data_offsets"]
    base = 8 + header_len + start
    for i in range(min(n_bytes, end - start)):
        raw[base + i] ^= 0x5A
    path.write_bytes(bytes(raw))
