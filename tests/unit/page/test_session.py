"""The session layer's parts that need no model: masks from the canvas layers, cancellable jobs."""
from __future__ import annotations

import time

import numpy as np
import pytest

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.page.canvas import (
    mask_from_layers,
)
from ganpaint_core.page.jobs import JobBoard, JobUpdate, run_job
from ganpaint_core.page.text import describe_progress
from tests.helpers import wait_for


# -- masks -------------------------------------------------------------------------------------------
def test_canvas_layers_become_a_binary_mask_from_their_alpha():
    layer = np.zeros((40, 60, 4), np.uint8)
    layer[5:10, 5:20] = (255, 0, 0, 140)  # a translucent brush
    layer[30, 30] = (255, 0, 0, 10)  # anti-aliasing fringe, below the threshold
    other = np.zeros((40, 60, 4), np.uint8)
    other[20:25, 40:50, 3] = 255
    mask = mask_from_layers([layer, None, other])
    assert mask.shape == (40, 60) and set(np.unique(mask)) == {0.0, 1.0}
    assert mask[5:10, 5:20].all() and mask[20:25, 40:50].all() and mask[30, 30] == 0
    assert mask.sum() == 5 * 15 + 5 * 10
    assert mask_from_layers([]) is None


# -- long jobs and models ------------------------------------------------------------------------------------
def test_jobs_report_progress_then_their_result_and_raise_their_errors():
    def work(cb):
        for i in range(5):
            cb(i + 1, 5, {"stage": "invert", "psnr": 20.0 + i})
            time.sleep(0.02)  # not a wait: the job's work, steps that take time while the caller polls
        return "done"

    updates = list(run_job(work, poll_s=0.01))
    assert updates[-1].done and updates[-1].result == "done"
    assert any(not u.done and u.info.get("stage") == "invert" for u in updates)
    assert describe_progress(JobUpdate(3, 5, {"stage": "adapt", "psnr": 31.25})) == \
        "Fitting the model to your photo (3/5), PSNR 31.2 dB"

    def broken(cb):
        raise GanpaintError("the photo is broken")

    with pytest.raises(GanpaintError, match="broken"):
        list(run_job(broken, poll_s=0.01))


def test_closing_a_job_stops_its_work_at_the_next_callback():
    steps: list[int] = []
    board = JobBoard()

    def work(cb):
        for i in range(1000):
            cb(i, 1000, {})
            steps.append(i)
            time.sleep(0.01)  # not a wait: the job's work, which the test stops part-way

    updates = run_job(work, poll_s=0.02, board=board)
    next(updates)
    (job,) = board.running()  # the handle of the job just started
    next(updates)
    updates.close()  # what a web server does when the user presses Cancel
    assert job.cancelled and job.finished.wait(2), "the job kept running after it was cancelled"
    assert len(steps) < 200 and board.running() == []


def test_an_abandoned_job_stops_by_itself():
    board = JobBoard()

    def work(cb):
        for i in range(1000):
            cb(i, 1000, {})
            time.sleep(0.01)  # not a wait: the job's work (10 s in all), which must stop long before its end

    updates = run_job(work, poll_s=0.01, orphan_s=0.2, board=board)
    next(updates)  # then nobody asks again
    (job,) = board.running()
    assert job.finished.wait(3)
    wait_for(lambda: not board.running(), timeout=1)
    del updates
