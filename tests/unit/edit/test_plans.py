"""Setup plans: the quick fit (never stored, never mistaken for the full one), the full fit's key, the
learning-rate schedule, and the plan before issue 25 kept as it was."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from PIL import Image

from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.adapt import AdaptConfig
from ganpaint_core.edit.caches import EditCaches
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.invert import InversionConfig, lr_share
from ganpaint_core.edit.plans import BEFORE_ISSUE_25, FULL_FIT, QUICK_FIT, SetupPlan
from ganpaint_core.edit.setup_store import SetupStore
from ganpaint_core.synth.scenes import render_scene
from tests.helpers import tiny_loaded_model

SHORT = dict(inversion=InversionConfig(latent_steps=4, joint_steps=6, candidates=2, schedule="cosine"),
             adaptation=AdaptConfig(steps=8, schedule="cosine"))
QUICK = SetupPlan("quick", InversionConfig(latent_steps=0, joint_steps=2, candidates=2), AdaptConfig(steps=2))


@pytest.fixture
def photo():
    return load_photo(Image.fromarray(render_scene(5_000_321, resolution=64).image), size=64)


def engine(store: SetupStore | None, **settings) -> EditEngine:
    torch.manual_seed(0)
    return EditEngine(tiny_loaded_model(), use_lpips=False, quick=QUICK,
                      caches=EditCaches(setup_store=store), **(SHORT | settings))


def test_a_quick_fit_is_never_stored_and_never_served_as_the_full_one(photo, tmp_path):
    store = SetupStore(tmp_path / "setups", max_bytes=2**30)
    e = engine(store)
    quick = e.quick_fit(photo)
    assert quick.fit == "quick" and quick.adapter  # adapted, a little
    assert store.size_bytes() == 0 and len(e.caches.setups) == 0  # nothing kept: not in memory, not on disk
    assert e.cached_setup(photo) is None
    full = e.prepare(photo)  # the full fit is computed, not taken from the quick one
    assert full.fit == "full" and not any("set up before" in n for n in full.notes)
    assert not torch.equal(full.features, quick.features)
    assert store.size_bytes() > 0
    again = engine(store).quick_fit(photo)  # a new engine: the full setup, from the disk, instead of a quick one
    assert again.fit == "full" and torch.equal(again.features, full.features)
    segments = e.quick_fit(photo, invert="segments")  # one code now; the full fit it stands for is by segments
    assert segments.fit == "quick" and segments.invert == "segments"


def test_another_plan_is_another_setup_key(photo):
    base = engine(None)
    keys = {base.setup_key(photo, adapt=True, seed=0, invert="single")}
    for settings in (dict(inversion=dataclasses.replace(SHORT["inversion"], schedule="constant")),
                     dict(inversion=dataclasses.replace(SHORT["inversion"], final_lr_share=0.2)),
                     dict(adaptation=dataclasses.replace(SHORT["adaptation"], steps=9)),
                     dict(inversion=BEFORE_ISSUE_25.inversion, adaptation=BEFORE_ISSUE_25.adaptation)):
        keys.add(engine(None, **settings).setup_key(photo, adapt=True, seed=0, invert="single"))
    assert len(keys) == 5  # no plan's setup is ever read back for another


def test_the_rate_falls_along_a_half_cosine_or_stays():
    shares = [lr_share(s, 5, schedule="cosine", final=0.1) for s in range(1, 6)]
    assert shares[0] == 1 and math.isclose(shares[-1], 0.1) and shares == sorted(shares, reverse=True)
    assert math.isclose(shares[2], 0.55)
    assert all(lr_share(s, 5, schedule="constant", final=0.1) == 1 for s in range(1, 6))
    with pytest.raises(ValueError, match="schedule"):
        lr_share(2, 5, schedule="linear", final=0.1)


def test_the_plans_say_what_they_cost():
    steps = lambda p: p.inversion.latent_steps + p.inversion.joint_steps + p.adaptation.steps  # noqa: E731
    assert (BEFORE_ISSUE_25.inversion.latent_steps, BEFORE_ISSUE_25.inversion.joint_steps,
            BEFORE_ISSUE_25.adaptation.steps) == (80, 120, 240)  # the setup as it was, for the bench's baseline
    assert BEFORE_ISSUE_25.inversion.schedule == BEFORE_ISSUE_25.adaptation.schedule == "constant"
    assert BEFORE_ISSUE_25.adaptation.contraction == 0 < FULL_FIT.adaptation.contraction  # the old fit had none
    assert steps(BEFORE_ISSUE_25) >= 3 * steps(FULL_FIT) and steps(FULL_FIT) > 3 * steps(QUICK_FIT)
    assert FULL_FIT.inversion == InversionConfig() and FULL_FIT.adaptation == AdaptConfig()
