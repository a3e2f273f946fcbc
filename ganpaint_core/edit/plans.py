"""Setup plans: how much inversion and adaptation a photo gets, by name.

A photo is set up in one of two ways. The **full fit** is what every render, ``/edit`` and the CLI use.
The **quick fit** is what the page shows first, seconds sooner: the encoder's guess (or the best of a few
random starts) with a few joint steps and a short adaptation, never kept in the setup store; the full fit
replaces it when it is ready. ``BEFORE_ISSUE_25`` is the full fit as it was before the setup was made three
times cheaper, kept so that the chain bench measures the two side by side (``bench --suite chain
--baseline``).

Example::

    engine = EditEngine(model, inversion=FULL_FIT.inversion, adaptation=FULL_FIT.adaptation, quick=QUICK_FIT)
    quick = engine.quick_fit(photo)        # state.fit == "quick": strokes preview on it at once
    full = engine.prepare(photo)           # state.fit == "full"

Why the full fit costs about a third of what it did (README, *The setup three times cheaper*): its rates fall
along a half cosine instead of staying constant. At a constant rate Adam keeps jittering around the optimum,
so most of the old 200 + 240 steps bought little; with falling rates 50 inversion and 60 adaptation steps
reconstruct better than the old plan did. That jitter had also held the adaptation back: converged, its δ grew
by a third and pulled an added concept's surroundings back to the photo (the add gain fell), so δ's penalty
doubles (0.05 → 0.1), which brings δ back to its old size. Converged that fast, the adaptation no longer damped
the change an edit spreads around its stroke as the long jittering fit had (locality 2–4 dB lower); the
contraction penalty (``AdaptConfig.contraction``, :mod:`ganpaint_core.edit.adapt`) asks for that damping
directly, for about a fifth more time per photo at 64 px (the 256-px layers sample it on a grid: no more).
The inversion fits the latent only: the edit layer's residual, which the old plan grew to a third of the
features, spread the photo's content over every unit, where a concept stroke neither removes nor releases it
(:mod:`ganpaint_core.edit.invert`).
"""
from __future__ import annotations

from dataclasses import dataclass

from ganpaint_core.edit.adapt import AdaptConfig
from ganpaint_core.edit.invert import InversionConfig

FITS = ("quick", "full")  # what a PhotoState's ``fit`` says: which plan made it


@dataclass(frozen=True)
class SetupPlan:
    """A named pair of inversion and adaptation settings."""

    name: str  # "full", "quick", "before-issue-25"
    inversion: InversionConfig  # the inversion's steps, rates and schedule
    adaptation: AdaptConfig  # the adaptation's steps, rate and schedule


FULL_FIT = SetupPlan("full", InversionConfig(), AdaptConfig())  # the configs' defaults are the full fit
QUICK_FIT = SetupPlan("quick", InversionConfig(latent_steps=0, joint_steps=12, candidates=4),
                      AdaptConfig(steps=24))
BEFORE_ISSUE_25 = SetupPlan("before-issue-25",
                            InversionConfig(latent_steps=80, joint_steps=120, schedule="constant"),
                            AdaptConfig(steps=240, delta_penalty=0.05, schedule="constant", contraction=0.0))
PLANS = {p.name: p for p in (FULL_FIT, QUICK_FIT, BEFORE_ISSUE_25)}
