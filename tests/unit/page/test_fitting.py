"""The full fit in the background: started after the quick fit, polled, taken by the session once ready,
waited for by a render, stopped by Cancel (or when nobody polls it)."""
from __future__ import annotations

import threading
import time

import pytest
import torch
from PIL import Image

from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.adapt import AdaptConfig
from ganpaint_core.edit.caches import EditCaches
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.invert import InversionConfig
from ganpaint_core.edit.plans import SetupPlan
from ganpaint_core.page.fitting import BackgroundFits
from ganpaint_core.page.jobs import JobBoard
from ganpaint_core.page.session import EditSession
from ganpaint_core.synth.scenes import render_scene
from tests.helpers import tiny_loaded_model, wait_for

QUICK = SetupPlan("quick", InversionConfig(latent_steps=0, joint_steps=2, candidates=2), AdaptConfig(steps=2))


class GatedEngine(EditEngine):
    """Its full fit waits at its first progress step until ``gate`` is set (the test decides when it ends)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.stopped = threading.Event()

    def prepare(self, photo, *, callback=None, **kwargs):
        def held(step, total, info):
            while not self.gate.wait(0.01):
                if callback is not None:
                    callback(step, total, info)  # raises JobCancelled once the fit is stopped
            if callback is not None:
                callback(step, total, info)
        try:
            return super().prepare(photo, callback=held, **kwargs)
        except BaseException:
            self.stopped.set()
            raise


@pytest.fixture
def setup():
    torch.manual_seed(0)
    engine = GatedEngine(tiny_loaded_model(), use_lpips=False, quick=QUICK, caches=EditCaches(setup_store=None),
                         inversion=InversionConfig(latent_steps=2, joint_steps=10, candidates=2),
                         adaptation=AdaptConfig(steps=10))
    photo = load_photo(Image.fromarray(render_scene(5_000_322, resolution=64).image), size=64)
    quick = engine.quick_fit(photo)
    return engine, EditSession(model="tiny", state=quick), BackgroundFits(JobBoard())


def test_the_session_takes_the_full_fit_once_it_is_ready(setup):
    engine, session, fits = setup
    fits.start(engine, session.state)
    fits.start(engine, session.state)  # once per photo
    assert len(fits.board.running()) == 1
    update = wait_for(lambda: fits.poll(engine, session.state), timeout=30, message="the fit never reported")
    assert not update.done and fits.upgrade(engine, session) is session  # not ready: the quick fit stays
    engine.gate.set()
    wait_for(lambda: fits.poll(engine, session.state).done, timeout=60, message="the full fit never ended")
    upgraded = fits.upgrade(engine, session)
    assert upgraded.state.fit == "full" and upgraded.state.photo is session.state.photo
    assert not torch.equal(upgraded.state.features, session.state.features)


def test_a_render_waits_for_the_running_full_fit(setup):
    engine, session, fits = setup
    fits.start(engine, session.state)
    out: list = []
    waiter = threading.Thread(target=lambda: out.append(fits.full(engine, session.state)))
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive() and not out  # the render waits (no second setup started: the board has one job)
    assert len(fits.board.running()) == 1
    engine.gate.set()
    waiter.join(60)
    assert out and out[0].fit == "full"


def test_cancel_stops_the_full_fit_and_a_render_then_sets_it_up(setup):
    engine, session, fits = setup
    fits.start(engine, session.state)
    wait_for(lambda: fits.poll(engine, session.state), timeout=30, message="the fit never started")
    assert fits.cancel(engine, session.state)
    assert engine.stopped.wait(10), "the full fit kept running after Cancel"
    assert fits.poll(engine, session.state) is None and fits.upgrade(engine, session) is session
    engine.gate.set()
    assert fits.full(engine, session.state).fit == "full"  # a render after Cancel sets the full fit up itself


def test_a_fit_nobody_polls_stops(setup):
    engine, session, _ = setup
    fits = BackgroundFits(JobBoard(), orphan_s=0.2)  # the page's timer polls every second; the tab is gone
    fits.start(engine, session.state)
    assert engine.stopped.wait(10), "an orphaned full fit kept running"
