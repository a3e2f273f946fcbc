"""SegFormer through the Hub stand-in: downloaded once, then read from the cache offline."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from ganpaint_core.analysis.segmenters import ADE20K_CONCEPTS, load_scene_segmenter
from ganpaint_core.core.errors import GanpaintError

HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
needs_transformers = pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers not installed (pip install .[dissect])")

# ADE20K-150's first classes in the checkpoint's order, then the others the concept map uses.
ADE_NAMES = ["wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed ", "windowpane", "grass"]
ADE_NAMES += sorted({n for names in ADE20K_CONCEPTS.values() for n in names} - set(ADE_NAMES))


def tiny_segformer(folder: Path, *, size: int = 64) -> Path:
    """A randomly initialised two-stage SegFormer with ADE20K class names, saved like a Hub checkpoint."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    config = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
                             num_attention_heads=[1, 1], mlp_ratios=[2, 2], patch_sizes=[7, 3], strides=[4, 2],
                             decoder_hidden_size=16, num_labels=len(ADE_NAMES),
                             id2label=dict(enumerate(ADE_NAMES)), label2id={n: i for i, n in enumerate(ADE_NAMES)})
    torch.manual_seed(0)
    SegformerForSemanticSegmentation(config).eval().save_pretrained(folder)
    SegformerImageProcessor(size={"height": size, "width": size}).save_pretrained(folder)
    return folder


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
