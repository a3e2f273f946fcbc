"""Stores verify what they read: a flipped bit in a stored setup is found, the file removed, never used."""
from __future__ import annotations

import torch

from ganpaint_core.edit.setup_store import SetupStore, setup_key
from tests.helpers import flip_tensor_bytes


def _fields(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"latent": torch.randn(1, 8, generator=g), "features": torch.randn(1, 16, 8, 8, generator=g),
            "base_render": torch.rand(1, 3, 16, 16, generator=g), "adapter": {"a.0": torch.randn(4, 4, generator=g)},
            "recon_psnr_before": 20.0, "recon_psnr_after": 40.0, "timings": {"setup_s": 1.0}, "notes": []}


def test_a_corrupted_setup_is_detected_removed_and_not_used(tmp_path, caplog):
    store = SetupStore(tmp_path, max_bytes=10**8)
    key = setup_key(square_sha256="0" * 64, weights_sha256={"generator": "1" * 64}, settings={})
    store.put(key, _fields(1))
    got = store.get(key)
    assert torch.equal(got["features"], _fields(1)["features"])
    (path,) = tmp_path.glob("*.safetensors")
    flip_tensor_bytes(path, "features")
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


# -- share bundles ----------------------------------------------------------------------------------------
def _bundle(n: int) -> dict:
    return {"format": "ganpaint-share/1", "model": "synth-church", "weights_sha256": {"generator": "1" * 64},
            "options": {}, "photo_png_base64": "QUJD" * n, "strokes": [{"concept": "tree", "action": "add"}]}


def test_sharing_again_repairs_a_truncated_bundle(tmp_path):
    import pytest

    from ganpaint_core.page.share import ShareError, ShareStore

    store = ShareStore(tmp_path, max_bytes=10**7)
    share_id = store.put(_bundle(100))
    (path,) = tmp_path.glob("*.json")
    path.write_bytes(path.read_bytes()[:200])  # truncated
    with pytest.raises(ShareError, match="damaged on this server"):
        store.get(share_id)
    assert store.put(_bundle(100)) == share_id  # shared again: same id, sound file
    assert store.get(share_id) == _bundle(100)
    store.put(_bundle(100))
    path.write_bytes(path.read_bytes()[:200])
    assert store.put(_bundle(100)) == share_id and store.get(share_id) == _bundle(100)


def test_a_flipped_byte_in_a_bundle_is_refused_not_shown(tmp_path):
    import pytest

    from ganpaint_core.page.share import ShareError, ShareStore

    store = ShareStore(tmp_path, max_bytes=10**7)
    share_id = store.put(_bundle(100))
    (path,) = tmp_path.glob("*.json")
    raw = bytearray(path.read_bytes())
    raw[300] = ord("B") if raw[300] != ord("B") else ord("C")  # inside the photo's base64: still valid JSON
    path.write_bytes(bytes(raw))
    with pytest.raises(ShareError, match="damaged"):
        store.get(share_id)


def test_a_bundle_stored_before_checksums_still_opens_when_its_id_matches(tmp_path):
    import json as _json

    import pytest

    from ganpaint_core.page.share import ShareError, ShareStore, bundle_id

    store = ShareStore(tmp_path, max_bytes=10**7)
    b = _bundle(10)
    (tmp_path / f"{bundle_id(b)}.json").write_text(_json.dumps(b))
    assert store.get(bundle_id(b)) == b
    other = dict(b, model="other")
    (tmp_path / f"{bundle_id(b)}.json").write_text(_json.dumps(other))
    with pytest.raises(ShareError, match="damaged"):
        store.get(bundle_id(b))


# -- directions ---------------------------------------------------------------------------------------------
def test_a_damaged_directions_file_is_refused_as_damaged(tmp_path):
    import pytest

    from ganpaint_core.analysis.directions import Direction, DirectionError, Directions

    g = torch.Generator().manual_seed(3)
    rows = {f"pca{i}": Direction(name=f"pca{i}", kind="pca", vector=torch.randn(32, generator=g), label="x", score=0.5)
            for i in range(3)}
    d = Directions(space="z", generator_sha256="1" * 64, directions=rows, explained_variance_top10=[0.1],
                   skipped={}, settings={"samples": 8}, seconds=1.0)
    path = tmp_path / "directions.safetensors"
    d.save(path)
    assert torch.equal(Directions.load(path).get("pca1").vector, rows["pca1"].vector)
    flip_tensor_bytes(path, "pca1", n_bytes=8)
    with pytest.raises(DirectionError, match="does not match its sha256"):
        Directions.load(path)
