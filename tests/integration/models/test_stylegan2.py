"""StyleGAN2 at full size (rosinality's 256-px config-f key table), ``inspect`` on it, and a tiny
StyleGAN2 downloaded through the Hub stand-in."""
from __future__ import annotations

import json

import pytest
import torch

from ganpaint_core.models import detect_family
from ganpaint_core.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from tests.helpers import (
    STYLEGAN2_KEYS_TSV,
    key_table_state_dict,
    run_cli,
    tiny_stylegan2_checkpoint,
)


def table_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with exactly the keys and shapes of rosinality's 256 px config-f ``g_ema``."""
    return key_table_state_dict(STYLEGAN2_KEYS_TSV, seed)


# -- loading --------------------------------------------------------------------------------------------
def test_key_table_loads_strictly_with_its_buffers_and_latent_avg():
    state = table_state_dict()
    avg = torch.randn(512)
    container = {"g_ema": state, "latent_avg": avg, "g": state, "d": {"convs.0.0.weight": torch.zeros(1)}}
    assert detect_family(container) == "stylegan2" and detect_family(state) == "stylegan2"
    G = StyleGAN2Generator.from_state_dict(container)
    assert set(G.state_dict()) == set(state)  # 135 keys: nothing extra, nothing missing
    assert sum(p.numel() for p in G.parameters()) == 30_034_338
    assert (G.resolution, G.latent_size, G.n_latent, G.channel_multiplier) == (256, 512, 14, 2)
    assert G.config == StyleGAN2Config.config_f(256, channel_multiplier=2)
    for key in ("noises.noise_0", "noises.noise_12", "convs.10.conv.blur.kernel", "to_rgbs.5.upsample.kernel"):
        assert torch.equal(G.state_dict()[key], state[key])  # buffers come from the file, not from the init
    assert torch.equal(G.latent_avg, avg) and G.latent_avg_source == "checkpoint"
    assert ("convs.3", 512, 16) in G.layer_shapes() and G.layer_shapes()[-1] == ("to_rgbs.5", 3, 256)


@pytest.mark.slow
def test_key_table_generator_renders_256_and_splits_exactly():
    G = StyleGAN2Generator.from_state_dict({"g_ema": table_state_dict(), "latent_avg": torch.zeros(512)})
    z = G.sample_latents(1, seed=3)
    with torch.no_grad():
        image = G(z)
        assert image.shape == (1, 3, 256, 256) and torch.isfinite(image).all()
        head, tail = G.split("convs.3")
        features = head(z)
        assert features.shape == (1, 512, 16, 16)
        torch.testing.assert_close(tail(features, z), image, rtol=1e-5, atol=1e-5)


# -- the edit chain ------------------------------------------------------------------------------------------


# -- files, manifest, Hub ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_inspect_reports_stylegan2_at_256(tmp_path):
    path = tmp_path / "church.pt"
    torch.save({"g_ema": table_state_dict(), "latent_avg": torch.zeros(512)}, path)
    result = run_cli("inspect", str(path), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["family"] == "stylegan2" and info["resolution"] == 256 and info["latent_size"] == 512
    assert {"name": "convs.3", "channels": 512, "size": 16} in info["layers"]
    assert "convs.3" in info["edit_layer_candidates"] and "to_rgbs.5" not in info["edit_layer_candidates"]


def test_hub_download_of_a_tiny_stylegan2_then_load_model(isolated_env, monkeypatch):
    import io

    from ganpaint_core.hub.loading import load_model
    from tests.hub_server import HubStandIn

    ckpt = tiny_stylegan2_checkpoint(seed=4)
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    data = buf.getvalue()
    repo = "ganpaint-test/tiny-stylegan2"
    with HubStandIn({(repo, "tiny-config-f.pt"): data}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        folder = isolated_env / "models" / "tiny-sg2"
        folder.mkdir(parents=True)
        (folder / "model.json").write_text(json.dumps({
            "name": "tiny-sg2", "family": "stylegan2", "resolution": 64, "latent_size": 16,
            "edit_layer": "convs.1", "fine_layers": ["convs.2", "convs.3"],
            "files": {"generator": {"filename": "tiny-config-f.pt", "format": "torch", "sha256": None, "size": None,
                                    "sources": [{"hub": {"repo_id": repo, "filename": "tiny-config-f.pt",
                                                         "revision": "main"}}]}}}))
        model = load_model("tiny-sg2")
        assert ("GET", f"/{repo}/resolve/main/tiny-config-f.pt") in hub.requests
    G = model.generator
    assert isinstance(G, StyleGAN2Generator) and G.latent_avg_source == "checkpoint"
    assert not any(p.requires_grad for p in G.parameters())
    pins = json.loads((isolated_env / "cache" / "pins.json").read_text())
    assert pins["tiny-sg2/generator/tiny-config-f.pt"] == model.sha256["generator"]  # trust on first use
    ref = StyleGAN2Generator.from_state_dict(ckpt)
    z = ref.sample_latents(2, seed=0)
    with torch.no_grad():
        assert torch.equal(G(z, truncation=0.7), ref(z, truncation=0.7))
