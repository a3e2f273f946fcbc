"""Latent directions without a model: rank correlation, shifts in Z and W+, names, amounts, files."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganpaint_core.analysis.direction_fits import rank_correlation
from ganpaint_core.analysis.directions import (
    AMOUNT_LIMIT,
    DirectionError,
    Directions,
    check_amount,
    forget_cached_directions,
)
from tests.helpers import made_up_directions as made_up


@pytest.fixture(autouse=True)
def fresh_memory():
    forget_cached_directions()
    yield
    forget_cached_directions()


def test_rank_correlation_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.integers(0, 4, 7), rng.integers(0, 3, 7)
        want = stats.spearmanr(a, b).statistic
        assert rank_correlation(a, b) == pytest.approx(0.0 if math.isnan(want) else want, abs=1e-9)
    assert rank_correlation([1, 2, 3], [5, 5, 5]) == 0.0


def test_shift_moves_z_and_every_row_of_w_plus():
    z = torch.zeros(3, 4)
    assert torch.equal(made_up().shift(z, "sky", 2), torch.arange(4.0).expand(3, 4) * 2)
    wplus = torch.randn(2, 5, 4)
    moved = made_up("w").shift(wplus, "pc1", -1.5)
    assert torch.allclose(moved, wplus - 1.5)
    with pytest.raises(DirectionError, match=r"shift z \[N, L\] with L = 4"):
        made_up().shift(wplus, "pc1", 1)  # a ProGAN's directions are for z only
    with pytest.raises(DirectionError, match="got a latent of shape"):
        made_up("w").shift(torch.zeros(2, 7), "pc1", 1)


def test_unknown_direction_names_the_ones_there_are():
    with pytest.raises(DirectionError, match="unknown direction 'dom'; this model has: sky, pc1"):
        made_up().get("dom")


@pytest.mark.parametrize("bad", [math.nan, math.inf, 3.5, -4, True, "2", [1], None, "x" * 500])
def test_amounts_out_of_range_or_not_numbers_are_refused(bad):
    with pytest.raises(DirectionError, match=r"direction amount must be a number in \[-3, 3\]") as err:
        made_up().shift(torch.zeros(1, 4), "sky", bad)
    assert len(str(err.value)) < 150
    assert check_amount(np.float32(-AMOUNT_LIMIT)) == -3.0 and check_amount(2) == 2.0


def test_save_and_load_round_trip(tmp_path):
    dirs = made_up()
    dirs.save(tmp_path / "d.safetensors")
    back = Directions.load(tmp_path / "d.safetensors")
    assert back.names() == dirs.names() and back.skipped == dirs.skipped and back.space == "z"
    assert all(torch.equal(back.get(n).vector, dirs.get(n).vector) for n in dirs.names())
    rows = [(d.label, d.score) for d in back.directions.values()]
    assert rows == [(d.label, d.score) for d in dirs.directions.values()]
