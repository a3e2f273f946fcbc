"""The setup-plan comparison of ``bench --suite chain --random-weights``, on a tiny model: both plans per
photo, from measured parts or run in full, and the arithmetic that scales the parts."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ganpaint_core.bench.speed256 import bench_setup_plans, plan_seconds
from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.plans import BEFORE_ISSUE_25, FULL_FIT
from tests.helpers import tiny_loaded_model


def test_a_plan_costs_its_steps_times_their_measured_cost():
    costs = {"start_16": 1.0, "latent_step": 0.1, "joint_step": 0.2, "adapt_start": 0.5, "adapt_step": 0.05,
             "adapt_step_contracted": 0.07}  # the plan before issue 25 has no contraction: its cheaper step
    assert math.isclose(plan_seconds(costs, BEFORE_ISSUE_25), 1 + 80 * 0.1 + 120 * 0.2 + 0.5 + 240 * 0.05)
    assert math.isclose(plan_seconds(costs, FULL_FIT), 1 + 50 * 0.1 + 0.5 + 60 * 0.07)  # the latent alone


def test_both_plans_are_timed_per_photo_probed_or_in_full():
    model = tiny_loaded_model()
    rng = np.random.default_rng(0)
    photos = [load_photo(Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)), size=64)]
    for probe in (2, 0):
        r = bench_setup_plans(model, photos, probe_steps=probe)
        assert r["photos"] == 1 and len(r["per_photo"]) == 1 and r["probe_steps"] == probe
        assert r["setup_s_before"] > r["setup_s"] > 0 and r["first_preview_s"] > 0
        assert r["speedup"] == r["setup_s_before"] / r["setup_s"]
