"""Weights over the network, against the Hub stand-in on 127.0.0.1: URL and Hub downloads verified,
cached, pinned and bounded; an unreachable Hub fails fast."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganpaint_core.core.errors import ChecksumMismatch, FileUnavailable
from ganpaint_core.hub.fetch import fetch
from ganpaint_core.hub.loading import load_model
from ganpaint_core.hub.manifest import load_manifest
from tests.helpers import REPO, sha256_bytes, tiny_generator, write_model_folder
from tests.hub_server import HubStandIn

REPO_ID = "ganpaint-test/tiny-progan"


def _weights_bytes(folder: Path) -> bytes:
    return (folder / "generator.safetensors").read_bytes()


def test_url_download_is_verified_cached_and_reported(isolated_env):
    src = write_model_folder(isolated_env / "src" / "tiny", generator=tiny_generator())
    data = _weights_bytes(src.parent)
    with HubStandIn({}, plain={"tiny.safetensors": data}) as server:
        write_model_folder(
            isolated_env / "models" / "tiny", generator=tiny_generator(), write_file=False,
            sources=[{"url": f"{server.endpoint}/files/tiny.safetensors"}],
        )
        seen = []
        path = fetch(load_manifest(isolated_env / "models" / "tiny" / "model.json"), "generator",
                     progress=lambda done, total, info: seen.append((done, total)))
        assert path.read_bytes() == data and isolated_env / "cache" in path.parents
        assert seen[-1] == (len(data), len(data))
        requests = len(server.requests)
        model = load_model("tiny")  # the second time: from the cache, no request
        assert len(server.requests) == requests
    assert model.sha256["generator"] == sha256_bytes(data)


def test_url_download_with_wrong_bytes_is_refused_and_not_kept(isolated_env):
    good = write_model_folder(isolated_env / "src" / "tiny", generator=tiny_generator(seed=0))
    other = write_model_folder(isolated_env / "src2" / "tiny", generator=tiny_generator(seed=1))
    expected = json.loads(good.read_text())["files"]["generator"]["sha256"]
    with HubStandIn({}, plain={"tiny.safetensors": _weights_bytes(other.parent)}) as server:
        write_model_folder(
            isolated_env / "models" / "tiny", generator=tiny_generator(seed=0), write_file=False,
            sources=[{"url": f"{server.endpoint}/files/tiny.safetensors"}],
        )
        with pytest.raises(ChecksumMismatch, match=f"expected {expected}"):
            load_model("tiny")
    assert not list((isolated_env / "cache" / "downloads").rglob("*.safetensors"))


def test_unknown_sha_is_pinned_on_first_download_and_enforced_after(isolated_env):
    a = _weights_bytes(write_model_folder(isolated_env / "a" / "tiny", generator=tiny_generator(seed=0)).parent)
    b = _weights_bytes(write_model_folder(isolated_env / "b" / "tiny", generator=tiny_generator(seed=1)).parent)
    files = {"tiny.safetensors": a}
    with HubStandIn({}, plain=files) as server:
        manifest_path = write_model_folder(
            isolated_env / "models" / "tiny", generator=tiny_generator(), write_file=False, sha256=None,
            sources=[{"url": f"{server.endpoint}/files/tiny.safetensors"}],
        )
        data = json.loads(manifest_path.read_text())
        data["files"]["generator"]["size"] = None
        manifest_path.write_text(json.dumps(data))
        load_model("tiny")
        pins = json.loads((isolated_env / "cache" / "pins.json").read_text())
        assert pins == {"tiny/generator/generator.safetensors": sha256_bytes(a)}
        for cached in (isolated_env / "cache" / "downloads").rglob("generator.safetensors"):
            cached.unlink()
        server.plain["tiny.safetensors"] = b  # the host now serves other bytes
        with pytest.raises(ChecksumMismatch, match="pinned"):
            load_model("tiny")


def test_hub_download_then_offline_load_from_cache_with_the_server_stopped(isolated_env, monkeypatch):
    src = write_model_folder(isolated_env / "src" / "tiny", generator=tiny_generator())
    data = _weights_bytes(src.parent)
    hub = HubStandIn({(REPO_ID, "generator.safetensors"): data})
    with hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        write_model_folder(
            isolated_env / "models" / "tiny", generator=tiny_generator(), write_file=False,
            sources=[{"hub": {"repo_id": REPO_ID, "filename": "generator.safetensors", "revision": "main"}}],
        )
        seen = []
        model = load_model("tiny", progress=lambda done, total, info: seen.append(done))
        assert ("GET", f"/{REPO_ID}/resolve/main/generator.safetensors") in hub.requests
        assert seen and seen[-1] == len(data)
        assert isolated_env / "hf" in model.paths["generator"].parents
        z = torch.randn(1, 16, generator=torch.Generator().manual_seed(0))
        expected = model.generator(z)
    # A fresh process, the stand-in gone, offline: the file comes from the Hub cache and is verified.
    code = (
        "import torch, sys\n"
        "from ganpaint_core.hub.loading import load_model\n"
        "m = load_model('tiny')\n"
        "z = torch.randn(1, 16, generator=torch.Generator().manual_seed(0))\n"
        "torch.save(m.generator(z), sys.argv[1])\n"
    )
    out = isolated_env / "offline.pt"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": hub.endpoint, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env, cwd=REPO, timeout=120)
    assert torch.equal(torch.load(out, weights_only=True), expected)


def test_hub_file_not_found_is_reported_with_the_place_tried(isolated_env, monkeypatch):
    with HubStandIn({}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        write_model_folder(
            isolated_env / "models" / "tiny", generator=tiny_generator(), write_file=False,
            sources=[{"hub": {"repo_id": REPO_ID, "filename": "generator.safetensors", "revision": "main"}}],
        )
        with pytest.raises(FileUnavailable, match=rf"Hugging Face Hub {REPO_ID} / generator.safetensors @ main: .*"):
            load_model("tiny")


def test_an_unreachable_hub_fails_in_seconds_with_whole_sentences(isolated_env, monkeypatch):
    import time

    from tests.helpers import free_port

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    write_model_folder(
        isolated_env / "models" / "tiny", generator=tiny_generator(), write_file=False,
        sources=[{"hub": {"repo_id": REPO_ID, "filename": "generator.safetensors", "revision": "main"}}],
    )
    t0 = time.monotonic()
    with pytest.raises(FileUnavailable) as err:
        load_model("tiny")
    assert time.monotonic() - t0 < 5  # not the Hub client's retries with backoff
    reason = next(line for line in str(err.value).splitlines() if "Hugging Face Hub" in line)
    assert "unreachable (127.0.0.1" in reason
    assert "\n\nTo supply it: " in str(err.value)  # its own paragraph: as markdown it must not run on from the list


def test_a_url_serving_more_than_its_declared_size_is_stopped_at_that_size(isolated_env):
    src = write_model_folder(isolated_env / "src" / "tiny", generator=tiny_generator())
    data = _weights_bytes(src.parent)
    with HubStandIn({}, plain={"tiny.safetensors": data + b"\0" * 5_000_000}) as server:
        path = write_model_folder(isolated_env / "models" / "tiny", generator=tiny_generator(), write_file=False,
                                  sources=[{"url": f"{server.endpoint}/files/tiny.safetensors"}])
        seen = []
        with pytest.raises(ChecksumMismatch, match=f"serves more than the {len(data):,} bytes its manifest declares"):
            fetch(load_manifest(path), "generator", progress=lambda done, total, info: seen.append(done))
    assert max(seen, default=0) <= len(data) + 1024 * 1024  # read to the declared size (and one chunk), not 5 MB on
    assert not list((isolated_env / "cache").rglob("*.safetensors"))  # nothing refused is kept
