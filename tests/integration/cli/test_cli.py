from __future__ import annotations

import json
import os

import pytest
import torch

from tests.helpers import church_state_dict, run_cli, tiny_generator


def test_inspect_reports_a_church_layout_checkpoint(tmp_path):
    path = tmp_path / "church.pth"
    torch.save(church_state_dict(), path)
    result = run_cli("inspect", str(path), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["family"] == "progan" and info["resolution"] == 256
    assert {"name": "layer4", "channels": 512, "size": 8} in info["layers"]
    assert "layer4" in info["edit_layer_candidates"]
    assert len(info["sha256"]) == 64


@pytest.mark.slow  # over 4 s: the full suite runs it, the fast lane does not
def test_inspect_of_a_wrapped_safetensors_free_file_and_of_garbage(tmp_path):
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": tiny_generator().state_dict()}, wrapped)
    info = json.loads(run_cli("inspect", str(wrapped), "--json").stdout)
    assert info["resolution"] == 32 and info["latent_size"] == 16
    garbage = tmp_path / "photo.pth"
    garbage.write_bytes(b"\x89PNG not a checkpoint")
    result = run_cli("inspect", str(garbage))
    assert result.returncode == 2
    assert "not a PyTorch or safetensors checkpoint" in result.stderr and "Traceback" not in result.stderr


def test_models_lists_the_church_model_as_missing_with_reason_and_concepts():
    result = run_cli("models", "--json", env={"GANPAINT_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    models = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    church = models["progan-church"]
    assert church["status"] == "missing"
    assert "proggan_churchoutdoor-7e701dd5.pth" in church["reason"]
    assert any("put proggan_churchoutdoor-7e701dd5.pth at" in w for w in church["how_to_supply"])
    assert {"tree", "grass", "door", "sky", "cloud", "brick", "dome"} <= set(church["concepts"])


def test_fetch_from_a_file_the_user_has_checks_its_name_hash_prefix(tmp_path, isolated_env):
    impostor = tmp_path / "proggan_churchoutdoor-7e701dd5.pth"
    torch.save(church_state_dict(), impostor)  # right layout, but not NVIDIA's bytes
    env = {k: os.environ[k] for k in ("GANPAINT_CACHE", "GANPAINT_MODELS_DIR")}
    result = run_cli("fetch", "progan-church", "--from", str(impostor), env=env)
    assert result.returncode == 2
    assert "does not start with 7e701dd5" in result.stderr
    assert not (isolated_env / "models" / "progan-church").exists()
