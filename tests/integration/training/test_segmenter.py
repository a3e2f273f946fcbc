"""Scene segmenter: a short real training on renders beats the majority baseline."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ganpaint_core.core.metrics import mean_iou
from ganpaint_core.models.segmenter import SegmenterConfig
from ganpaint_core.synth.scenes import LABELS, render_batch
from ganpaint_core.training.segmenter import evaluate_segmenter, train_segmenter


@pytest.fixture
def threads() -> object:
    """Set torch's thread count for one test and restore it afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


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
