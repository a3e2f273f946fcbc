"""SegFormer through the Hub stand-in: downloaded once, then read from the cache offline."""
from __future__ import annotations

import pytest

from ganpaint_core.analysis.segmenters import load_scene_segmenter
from ganpaint_core.core.errors import GanpaintError
from tests.helpers import needs_transformers, tiny_segformer


@needs_transformers
def test_segformer_comes_from_the_hub_once_then_from_the_cache_offline(tmp_path, monkeypatch):
    from tests.hub_server import HubStandIn

    folder = tiny_segformer(tmp_path / "sf")
    files = {("nvidia-test/segformer-tiny", n): (folder / n).read_bytes()
             for n in ("config.json", "preprocessor_config.json", "model.safetensors")}
    with HubStandIn(files) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        seg = load_scene_segmenter("segformer-ade20k", source="nvidia-test/segformer-tiny@main")
        assert any(path.endswith("/model.safetensors") for _, path in hub.requests)
        asked = len(hub.requests)
        monkeypatch.setenv("GANPAINT_OFFLINE", "1")
        again = load_scene_segmenter("segformer-ade20k", source="nvidia-test/segformer-tiny@main")
        assert len(hub.requests) == asked  # offline: served from the cache alone
        assert again.fingerprint == seg.fingerprint
        with pytest.raises(GanpaintError, match="not in the Hugging Face cache and offline mode is on"):
            load_scene_segmenter("segformer-ade20k")  # the real checkpoint was never downloaded here
        monkeypatch.delenv("GANPAINT_OFFLINE")
        with pytest.raises(GanpaintError, match="no accessible Hub repository|not a SegFormer checkpoint"):
            load_scene_segmenter("segformer-ade20k", source="nvidia-test/absent")
