"""Weights without a network: wrong bytes refused, every place tried named, reasons cut at a sentence,
pickled checkpoints listed as unusable."""
from __future__ import annotations

import json

import pytest
import torch

from ganpaint_core.core.errors import ChecksumMismatch, FileUnavailable
from ganpaint_core.hub.loading import load_model
from ganpaint_core.hub.manifest import load_manifest
from ganpaint_core.hub.registry import model_status
from tests.helpers import REPO, sha256_bytes, tiny_generator, write_model_folder

REPO_ID = "ganpaint-test/tiny-progan"


def test_bundled_file_with_wrong_bytes_is_refused(isolated_env):
    path = write_model_folder(isolated_env / "models" / "tiny", generator=tiny_generator())
    weights = path.parent / "generator.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, one bit pattern changed
    weights.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch, match=r"generator file .*generator.safetensors has sha256 [0-9a-f]{64}, expected"):
        load_model("tiny")


def test_offline_and_missing_names_every_place_and_how_to_supply(isolated_env, monkeypatch):
    folder = isolated_env / "models" / "tiny"
    write_model_folder(
        folder,
        generator=tiny_generator(),
        write_file=False,
        sources=[
            {"path": "generator.safetensors"},
            {"hub": {"repo_id": REPO_ID, "filename": "generator.safetensors", "revision": "main"}},
            {"hub": {"repo_id_env": "TINY_MIRROR", "filename": "generator.safetensors"}},
            {"url": "https://example.invalid/generator.safetensors"},
        ],
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileUnavailable) as info:
        load_model("tiny")
    message = str(info.value)
    assert "generator file 'generator.safetensors' is not available" in message
    assert f"local file {folder / 'generator.safetensors'}: not found" in message
    assert f"Hugging Face Hub {REPO_ID} / generator.safetensors @ main: not in the cache, and offline mode is on" in message
    assert "set TINY_MIRROR=owner/name" in message
    assert "https://example.invalid/generator.safetensors: not in the cache" in message
    assert "To supply it: put the file at" in message and "unset HF_HUB_OFFLINE" in message


def test_church_model_is_missing_offline_with_reasons_and_concepts(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    status = model_status(load_manifest(REPO / "weights" / "progan-church" / "model.json", bundled=True))
    assert status["status"] == "missing"
    assert "gandissect.csail.mit.edu" in status["reason"]
    assert any("GANPAINT_PROGAN_CHURCH_HUB_REPO" in way for way in status["how_to_supply"])
    assert {"tree", "grass", "door", "sky", "cloud", "brick", "dome"} <= set(status["concepts"])


def test_a_long_failure_reason_is_cut_at_a_sentence():
    from ganpaint_core.hub.fetch import REASON_CHARS, short_reason

    exc = OSError("We cannot find the file. " + "Please check your connection and try again or make sure " * 5)
    reason = short_reason(exc)
    assert reason == "OSError: We cannot find the file." and len(reason) < REASON_CHARS + 20


def test_a_local_checkpoint_that_needs_unpickling_is_listed_as_unusable(isolated_env):
    import argparse

    folder = isolated_env / "models" / "pickled"
    path = write_model_folder(folder, generator=tiny_generator())
    weights = folder / "generator.pt"
    torch.save({"state": tiny_generator().state_dict(), "args": argparse.Namespace(lr=1)}, weights)
    manifest = json.loads(path.read_text())
    manifest["files"]["generator"].update(filename="generator.pt", format="torch", sources=[{"path": "generator.pt"}],
                                          sha256=sha256_bytes(weights.read_bytes()), size=weights.stat().st_size)
    path.write_text(json.dumps(manifest))
    status = model_status(load_manifest(path), probe=False)
    assert status["status"] == "unusable" and "argparse.Namespace" in status["reason"]
    assert "refused by safe loading" in status["reason"]
