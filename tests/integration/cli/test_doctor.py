from __future__ import annotations

import importlib.util
import json
import shutil

from ganpaint_core.cli.doctor import format_report
from ganpaint_core.hub.derived import CONCEPTS_FILE, derived_dir
from ganpaint_core.hub.manifest import load_manifest
from tests.helpers import REPO, run_cli


def _doctor(capsys, monkeypatch, **env: str) -> tuple[int, dict]:
    """``doctor --json`` in this process (the CLI's own entry point), offline."""
    from ganpaint_core.cli.main import main

    for key, value in {"GANPAINT_OFFLINE": "1", **env}.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = main(["doctor", "--json", "--no-probe"])
    return code, json.loads(capsys.readouterr().out)


def test_doctor_lists_the_bundled_model_as_present_verified_and_working():
    result = run_cli("doctor", "--json", "--no-probe", env={"GANPAINT_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["problems"] == []
    models = {m["name"]: m for m in report["models"]}
    synth = models["synth-church"]
    manifest = load_manifest(REPO / "weights" / "synth-church" / "model.json")
    assert synth["status"] == "bundled" and synth["works"] is True
    assert set(synth["files"]) == set(manifest.files)
    for role, f in synth["files"].items():
        assert f["status"] == "bundled" and f["verified"] is True
        assert f["sha256"] == manifest.files[role].sha256
    church = models["progan-church"]  # its generator is not bundled; offline, nothing can fetch it
    assert church["status"] == "missing" and church["works"] is None
    assert church["files"]["generator"]["status"] == "missing" and church["how_to_supply"]
    assert church["files"]["concepts"]["verified"] is True

    device = report["device"]
    assert device["auto"] in ("cpu", "cuda") and device["torch_threads"] >= 1
    assert device["cuda_available"] == bool(device["cuda_devices"])
    assert report["lpips"]["status"] in ("ready", "unavailable")  # offline: never "downloads on first use"
    assert report["lpips"]["backbone_file"].endswith("alexnet-owt-7be5be79.pth")
    has_transformers = importlib.util.find_spec("transformers") is not None
    assert (report["extras"]["transformers"]["version"] is not None) == has_transformers
    assert report["extras"]["transformers"]["fix"] == (None if has_transformers else "pip install .[dissect]")


def test_doctor_shows_files_made_here_and_fails_when_the_bundled_model_is_broken(tmp_path, capsys, monkeypatch):
    weights = tmp_path / "weights"
    shutil.copytree(REPO / "weights" / "synth-church", weights / "synth-church")
    manifest = load_manifest(weights / "synth-church" / "model.json")
    folder = derived_dir("synth-church", manifest.files["generator"].sha256)
    folder.mkdir(parents=True)
    shutil.copyfile(REPO / "weights" / "synth-church" / "concepts.json", folder / CONCEPTS_FILE)
    code, report = _doctor(capsys, monkeypatch, GANPAINT_WEIGHTS_DIR=str(weights))
    assert code == 0
    (synth,) = report["models"]
    assert synth["derived"] == [{"folder": str(folder), "files": [CONCEPTS_FILE], "for_current_generator": True}]

    generator = weights / "synth-church" / "generator.safetensors"
    data = bytearray(generator.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit pattern in the last weight
    generator.write_bytes(bytes(data))
    code, report = _doctor(capsys, monkeypatch)
    assert code == 1 and not report["ok"]
    assert "synth-church" in report["problems"][0] and "sha256" in report["problems"][0]
    text = format_report(report)
    assert "BROKEN" in text and "problems:" in text


def test_doctor_without_any_model_says_so(tmp_path, capsys, monkeypatch):
    (tmp_path / "empty").mkdir()
    code, report = _doctor(capsys, monkeypatch, GANPAINT_WEIGHTS_DIR=str(tmp_path / "empty"))
    assert code == 1 and "no bundled model" in report["problems"][0]
