"""The page's progress line: an estimate of the time left in a setup's stage."""
from __future__ import annotations

import time

from ganpaint_core.page.jobs import JobUpdate


def test_a_setup_shows_an_estimate_of_the_time_left_in_its_stage():
    from ganpaint_core.page.jobs import Job
    from ganpaint_core.page.text import progress_line

    line = progress_line(JobUpdate(step=10, total=100, info={"stage": "invert"}, seconds=6, stage_seconds=5))
    assert "Finding your photo in the model (10/100): about 45 s left in this stage · 6 s so far" in line
    assert "left" not in progress_line(JobUpdate(step=0, total=100, info={"stage": "invert"}, seconds=1))

    def work(callback):
        callback(1, 2, {"stage": "invert"})
        time.sleep(0.3)
        callback(1, 4, {"stage": "adapt"})  # a new stage: its own clock
        time.sleep(0.2)
        return "done"

    updates = list(Job(work).updates(poll_s=0.05))
    last_adapt = [u for u in updates if u.info.get("stage") == "adapt"][-1]
    assert last_adapt.stage_seconds < last_adapt.seconds - 0.25
