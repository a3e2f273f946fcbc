"""Scene segmenter training on tiny data: resumable, size checks, augmentation, evaluation."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ganpaint_core.core.metrics import mean_iou
from ganpaint_core.models.segmenter import Segmenter, SegmenterConfig
from ganpaint_core.synth.scenes import LABELS
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
