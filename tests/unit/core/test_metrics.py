"""Fréchet distance, PSNR and mean IoU against values worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganpaint_core.core.metrics import confusion_matrix, frechet_distance, mean_iou, psnr


def _features(seed: int, n: int = 400, d: int = 6, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d))
    return rng.normal(size=(n, d)) @ mix + shift  # correlated, non-diagonal covariance


def test_frechet_distance_is_zero_for_identical_sets() -> None:
    a = _features(0)
    assert frechet_distance(a, a.copy()) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_is_zero_for_identical_rank_deficient_sets() -> None:
    a = _features(0, n=10, d=32)  # fewer samples than dimensions: singular covariance
    assert frechet_distance(a, a.copy()) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_is_symmetric_and_positive() -> None:
    a, b = _features(1), _features(2) * 1.5 + 0.3
    ab, ba = frechet_distance(a, b), frechet_distance(b, a)
    assert ab > 1.0
    assert ab == pytest.approx(ba, rel=1e-9)


def test_frechet_distance_matches_closed_form_for_diagonal_gaussians() -> None:
    # Exact first and second moments: a 2**d factorial design of +-1 values is zero-mean, with
    # unbiased covariance scaled by n / (n - 1); scale per axis gives a diagonal covariance.
    d = 4
    grid = np.array(np.meshgrid(*[[-1.0, 1.0]] * d, indexing="ij")).reshape(d, -1).T  # [16, d]
    n = len(grid)
    sd_a, sd_b = np.array([1.0, 2.0, 0.5, 3.0]), np.array([2.0, 1.0, 0.5, 1.0])
    mu_a, mu_b = np.array([0.0, 1.0, -1.0, 2.0]), np.array([1.0, 1.0, 0.0, 0.0])
    a, b = grid * sd_a + mu_a, grid * sd_b + mu_b
    var_a, var_b = sd_a**2 * n / (n - 1), sd_b**2 * n / (n - 1)
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_grows_with_mean_shift() -> None:
    a, b = _features(3), _features(4)
    base = frechet_distance(a, b)
    shifted = [frechet_distance(a, b + s) for s in (0.5, 1.0, 2.0)]
    assert base < shifted[0] < shifted[1] < shifted[2]
    # Between a set and its shifted copy only the means differ: the distance is |shift|^2.
    assert frechet_distance(a, a + 2.0) == pytest.approx(4.0 * a.shape[1], rel=1e-9)


def test_frechet_distance_rejects_mismatched_features() -> None:
    with pytest.raises(ValueError, match="feature sizes differ"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


def test_psnr_known_values() -> None:
    a = torch.zeros(2, 3, 8, 8)
    assert psnr(a, a + 0.25) == pytest.approx(10 * math.log10(4 / 0.0625), rel=1e-12)  # ~18 dB
    assert psnr(a, a + 0.25, data_range=1.0) == pytest.approx(10 * math.log10(1 / 0.0625), rel=1e-12)
    b = a.clone()
    b[0] = 2.0  # half the elements off by 2: MSE 2
    assert psnr(a, b) == pytest.approx(10 * math.log10(2.0), rel=1e-9)
    assert psnr(a, a) == math.inf


def test_psnr_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))


def test_mean_iou_on_hand_made_maps() -> None:
    target = np.array([[0, 0, 1, 1],
                       [0, 0, 1, 1],
                       [2, 2, 2, 2]])
    pred = np.array([[0, 0, 0, 1],
                     [0, 0, 1, 1],
                     [2, 2, 2, 1]])
    miou, iou = mean_iou(pred, target, 4)
    # class 0: inter 4, union 5; class 1: inter 3, union 5; class 2: inter 3, union 4; class 3 absent.
    np.testing.assert_allclose(iou[:3], [4 / 5, 3 / 5, 3 / 4])
    assert math.isnan(iou[3])
    assert miou == pytest.approx((4 / 5 + 3 / 5 + 3 / 4) / 3)


def test_mean_iou_counts_a_class_seen_only_in_prediction_as_zero() -> None:
    target = np.zeros((2, 2), dtype=np.uint8)
    pred = np.array([[0, 0], [0, 1]], dtype=np.uint8)
    miou, iou = mean_iou(pred, target, 3)
    np.testing.assert_allclose(iou[:2], [3 / 4, 0.0])
    assert math.isnan(iou[2])
    assert miou == pytest.approx(3 / 8)


def test_mean_iou_perfect_and_confusion_orientation() -> None:
    labels = np.random.default_rng(0).integers(0, 5, (3, 7, 7))
    miou, iou = mean_iou(labels, labels, 5)
    assert miou == 1.0 and np.all(iou == 1.0)
    conf = confusion_matrix(np.array([1, 1]), np.array([0, 1]), 2)
    assert conf.tolist() == [[0, 1], [0, 1]]  # row = target, column = prediction


def test_mean_iou_rejects_out_of_range_labels() -> None:
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        mean_iou(np.array([0, 3]), np.array([0, 1]), 3)
