"""Scene segmenter network: shapes, pooled features, file round trip and refusals."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ganpaint_core.core.errors import CheckpointError
from ganpaint_core.models.segmenter import Segmenter, SegmenterConfig, load_segmenter, save_segmenter
from ganpaint_core.synth.scenes import LABELS, render_batch
from ganpaint_core.training.segmenter import to_unit_range

TINY = SegmenterConfig(resolution=16, widths=(4, 8), steps=4, batch=4, seed=3)


def _randomised(cfg: SegmenterConfig, seed: int = 0) -> Segmenter:
    """A segmenter whose BatchNorm statistics are not at their defaults, so a lost buffer shows."""
    torch.manual_seed(seed)
    seg = Segmenter(cfg, labels=LABELS if cfg.num_classes == len(LABELS) else None)
    for m in seg.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
    return seg.eval()


def test_default_config_shapes_at_64_and_80_px() -> None:
    seg = Segmenter(SegmenterConfig()).eval()
    for side in (64, 80):
        x = torch.rand(2, 3, side, side) * 2 - 1
        logits = seg(x)
        assert logits.shape == (2, len(LABELS), side, side)
        pred = seg.predict(x)
        assert pred.shape == (2, side, side) and pred.dtype == torch.int64
        assert torch.equal(pred, logits.argmax(1))
        feats = seg.features(x)
        assert feats.ndim == 2 and feats.shape[0] == 2 and 128 <= feats.shape[1] <= 256
    assert seg.stride == 8  # any multiple of 8 is accepted


def test_rejects_sides_that_are_not_multiples_of_the_stride() -> None:
    seg = Segmenter(SegmenterConfig()).eval()
    with pytest.raises(ValueError, match="not a multiple of 8"):
        seg(torch.zeros(1, 3, 68, 64))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        seg(torch.zeros(1, 64, 64, 3))


def test_features_are_pooled_bottleneck_statistics_that_separate_images() -> None:
    torch.manual_seed(0)
    seg = Segmenter(SegmenterConfig())
    x = to_unit_range(render_batch(range(1_000_000, 1_000_004), resolution=64)[0])
    for m in seg.modules():  # calibrate BatchNorm on the batch so that activations have a sane scale
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average: one batch sets the running statistics
    with torch.no_grad():
        seg.train()(x)
    seg.eval()
    seen = []
    handle = seg.encoders[-1].register_forward_hook(lambda m, i, o: seen.append(o))
    f = seg.features(x)
    handle.remove()
    (bottleneck,) = seen  # [4, 128, 8, 8]
    assert bottleneck.shape == (4, 128, 8, 8)
    expected = torch.cat([bottleneck.mean((2, 3)), bottleneck.std((2, 3), unbiased=False)], 1)
    assert torch.allclose(f, expected)
    assert torch.equal(f, seg.features(x))
    assert (f[0] - f[1]).abs().max() > 0.1 * f.abs().max()


def test_save_load_round_trip_gives_identical_logits(tmp_path: Path) -> None:
    cfg = replace(SegmenterConfig(), widths=(8, 16, 32, 32), seed=5)
    seg = _randomised(cfg, seed=1)
    path = tmp_path / "seg.safetensors"
    save_segmenter(seg, path)
    loaded = load_segmenter(path)
    assert loaded.config == cfg
    assert not loaded.training
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    assert torch.equal(seg(x), loaded(x))


def test_load_refuses_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="no segmenter config"):
        load_segmenter(path)
    seg = _randomised(TINY)
    save_segmenter(seg, path)
    state = {k: v.contiguous() for k, v in seg.state_dict().items()}
    state.pop("head.bias")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    save_file(state, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_segmenter(path)
