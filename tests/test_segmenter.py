"""Scene segmenter: shapes, file round trip, resumable training, augmentation and a short real training."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ganpaint_core.core.errors import CheckpointError
from ganpaint_core.core.metrics import mean_iou
from ganpaint_core.models.segmenter import Segmenter, SegmenterConfig, load_segmenter, save_segmenter
from ganpaint_core.synth.scenes import LABELS, render_batch
from ganpaint_core.training.segmenter import _augment, evaluate_segmenter, to_unit_range, train_segmenter

TINY = SegmenterConfig(resolution=16, widths=(4, 8), steps=4, batch=4, seed=3)


@pytest.fixture
def threads() -> object:
    """Set torch's thread count for one test and restore it afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _tiny_data(n: int = 6, side: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8),
            rng.integers(0, 8, (n, side, side), dtype=np.uint8))


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


def test_resumed_training_repeats_an_uninterrupted_run(tmp_path: Path, threads) -> None:
    threads(1)  # bit-exact comparison
    images, labels = _tiny_data()
    full = train_segmenter(TINY, images, labels, out_dir=tmp_path / "full")

    class Stop(Exception):
        pass

    def stop_at_3(step: int, total: int, info: dict) -> None:
        assert total == TINY.steps and info["loss"] > 0
        if step == 3:
            raise Stop

    with pytest.raises(Stop):
        train_segmenter(TINY, images, labels, out_dir=tmp_path / "cut", checkpoint_every_s=0.0, callback=stop_at_3)
    steps_run: list[int] = []
    resumed = train_segmenter(TINY, images, labels, out_dir=tmp_path / "cut",
                              callback=lambda step, total, info: steps_run.append(step))
    assert steps_run == [4]  # step 3 was checkpointed before its callback stopped the run; step 4 ran
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name

    with pytest.raises(ValueError, match="another config"):
        train_segmenter(replace(TINY, lr=1e-4), images, labels, out_dir=tmp_path / "cut")


def test_training_rejects_wrong_sizes(tmp_path: Path) -> None:
    images, labels = _tiny_data(side=32)
    with pytest.raises(ValueError, match="cfg.resolution=16"):
        train_segmenter(TINY, images, labels, out_dir=tmp_path)


def test_augmentation_flips_labels_with_images() -> None:
    x = torch.full((64, 3, 16, 16), -0.8)
    x[..., 8:] = 0.8  # bright right half
    y = torch.zeros(64, 16, 16, dtype=torch.long)
    y[..., 8:] = 1
    cfg = SegmenterConfig(resolution=16, widths=(4, 8), paste=0.0)
    rng = np.random.default_rng(0)
    xa, ya = _augment(x, y, cfg, rng, torch.Generator().manual_seed(0))
    flipped = ya[:, 0, 0] == 1
    assert 10 < int(flipped.sum()) < 54  # some flipped, some not
    bright = xa.mean(1) > 0
    assert torch.equal(bright, ya == 1)  # jitter, blur and noise never swap the halves
    assert xa.min() >= -1 and xa.max() <= 1
    assert (xa - torch.where(ya[:, None] == 1, 0.8, -0.8)).abs().mean() > 0.01  # but they do change pixels


def test_copy_paste_moves_pixels_and_labels_together() -> None:
    labels = torch.arange(8).view(8, 1, 1).expand(8, 32, 32).clone()  # image i is all label i
    images = (labels.float() / 3.5 - 1).view(8, 1, 32, 32).expand(8, 3, 32, 32).clone()  # its colour says its label
    cfg = SegmenterConfig(resolution=32, widths=(4, 8), paste=1.0, jitter=0, blur=0, noise=0)
    xa, ya = _augment(images.clone(), labels.clone(), cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert torch.equal(xa, (ya.float() / 3.5 - 1).view(8, 1, 32, 32).expand(8, 3, 32, 32))  # never apart
    mixed = [len(torch.unique(ya[i])) > 1 for i in range(8)]
    assert all(mixed)  # every image got a patch of another image, whose label differs
    untouched, _ = _augment(images.clone(), labels.clone(), replace(cfg, paste=0.0), np.random.default_rng(0),
                            torch.Generator().manual_seed(0))
    assert all(len(torch.unique(untouched[i])) == 1 for i in range(8))


def test_evaluate_matches_mean_iou_of_predictions() -> None:
    seg = _randomised(TINY)
    images, labels = _tiny_data(n=5)
    report = evaluate_segmenter(seg, images, labels, batch=2)
    pred = seg.predict(to_unit_range(images)).numpy()
    miou, iou = mean_iou(pred, labels, 8)
    assert report["miou"] == pytest.approx(miou)
    assert list(report["iou"]) == list(LABELS)
    np.testing.assert_allclose(list(report["iou"].values()), iou)
    assert report["pixel_accuracy"] == pytest.approx(float((pred == labels).mean()))


@pytest.mark.slow
def test_short_training_on_renders_beats_majority_baseline(tmp_path: Path, threads) -> None:
    threads(1)  # ~25 s; two threads are slower when a background job holds a core
    images, labels = render_batch(range(1_000_000, 1_000_400), resolution=64)
    val_x, val_y = render_batch(range(5_000_000, 5_000_100), resolution=64)
    majority = int(np.bincount(labels.ravel()).argmax())
    baseline, _ = mean_iou(np.full_like(val_y, majority), val_y, len(LABELS))
    cfg = replace(SegmenterConfig(), steps=240, batch=16)
    seg = train_segmenter(cfg, images, labels, out_dir=tmp_path)
    report = evaluate_segmenter(seg, val_x, val_y)
    assert baseline < 0.1
    assert report["miou"] > 0.6, report  # reaches ~0.84
    assert report["pixel_accuracy"] > 0.9, report
