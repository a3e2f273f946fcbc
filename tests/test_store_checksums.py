"""Stores verify what they read: a flipped bit in a stored setup is found, the file removed, never used."""
from __future__ import annotations

import json
import struct

import torch

from ganpaint_core.edit.setup_store import SetupStore, setup_key


def _fields(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"latent": torch.randn(1, 8, generator=g), "features": torch.randn(1, 16, 8, 8, generator=g),
            "base_render": torch.rand(1, 3, 16, 16, generator=g), "adapter": {"a.0": torch.randn(4, 4, generator=g)},
            "recon_psnr_before": 20.0, "recon_psnr_after": 40.0, "timings": {"setup_s": 1.0}, "notes": []}


def _flip_inside(path, tensor_name: str, n_bytes: int = 400) -> None:
    """Flip bits in ``n_bytes`` of one tensor's data, leaving the file's structure valid."""
    raw = bytearray(path.read_bytes())
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + header_len])
    start, end = header[tensor_name]["data_offsets"]
    base = 8 + header_len + start
    for i in range(min(n_bytes, end - start)):
        raw[base + i] ^= 0x5A
    path.write_bytes(bytes(raw))


def test_a_corrupted_setup_is_detected_removed_and_not_used(tmp_path, caplog):
    store = SetupStore(tmp_path, max_bytes=10**8)
    key = setup_key(square_sha256="0" * 64, weights_sha256={"generator": "1" * 64}, settings={})
    store.put(key, _fields(1))
    got = store.get(key)
    assert torch.equal(got["features"], _fields(1)["features"])
    (path,) = tmp_path.glob("*.safetensors")
    _flip_inside(path, "features")
    assert store.get(key) is None  # never the damaged tensors
    assert not path.exists()  # removed: the next setup stores a good one
    assert "does not match its sha256" in caplog.text
    store.put(key, _fields(1))
    assert torch.equal(store.get(key)["features"], _fields(1)["features"])


def test_changed_scalar_fields_are_detected_too(tmp_path):
    store = SetupStore(tmp_path, max_bytes=10**8)
    key = "a" * 64
    store.put(key, _fields(2))
    (path,) = tmp_path.glob("*.safetensors")
    path.write_bytes(path.read_bytes().replace(b"40.0", b"99.0"))  # the stored PSNR, same length
    assert store.get(key) is None
