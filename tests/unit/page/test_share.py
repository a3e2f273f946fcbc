"""The share store is capped: least recently used shares go first."""
from __future__ import annotations

import numpy as np
import pytest

from ganpaint_core.page.share import ShareError, ShareStore, bundle_id


def test_the_store_stays_under_its_cap_and_evicts_the_least_recently_used(tmp_path):
    store = ShareStore(tmp_path / "shares", max_bytes=50 * 2**20)
    rng = np.random.default_rng(0)
    payload = rng.integers(0, 255, 400_000, dtype=np.uint8).tobytes().hex()  # ~0.8 MB per share, 200 -> 160 MB
    ids = []
    for i in range(200):
        ids.append(store.put({"model": "m", "strokes": [{"concept": "tree", "n": i}], "photo_png_base64": payload + str(i)}))
        if i == 10:
            store.get(ids[0])  # opened recently: kept while older ones go
        assert store.size_bytes() <= store.max_bytes
    assert len(set(ids)) == 200
    with pytest.raises(ShareError, match="removed to make room"):
        store.get(ids[1])
    store.get(ids[-1])
    assert bundle_id({"model": "m", "strokes": [{"concept": "tree", "n": 1}]}) != ids[1]
