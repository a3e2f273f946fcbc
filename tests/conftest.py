from __future__ import annotations

import hashlib
import json
from pathlib import Path

import huggingface_hub.file_download  # noqa: F401 - loaded before a test sets HF_HUB_OFFLINE (read at import)
import pytest
import torch
from safetensors.torch import save_file

from ganpaint_core.models.progan import ProGANGenerator

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (small convs run fastest so, and the suite shares the machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own caches and user folder, and no inherited Hub or offline settings."""
    monkeypatch.setenv("GANPAINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANPAINT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for var in ("HF_HUB_OFFLINE", "GANPAINT_OFFLINE", "HF_ENDPOINT", "HF_HUB_CACHE", "GANPAINT_WEIGHTS_DIR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


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
    from ganpaint_core.concepts import ConceptDictionary, ConceptRanking
    from ganpaint_core.loading import LoadedModel
    from ganpaint_core.manifest import ModelManifest

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
