"""Requests on large photos run one at a time (two 40-MP edits together would double the memory budget); small
photos never wait; a waiting request says so in its progress and stops waiting when it is cancelled."""
from __future__ import annotations

import threading
import time

import pytest

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.progress import JobCancelled
from ganpaint_core.page.jobs import HeavySlots


def _overlap(slots: HeavySlots, pixels: list[int]) -> int:
    """How many blocks ran at once, at most, for requests of ``pixels`` started together."""
    running, most, lock = [0], [0], threading.Lock()

    def request(p: int) -> None:
        with slots.held(p):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.2)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=request, args=(p,)) for p in pixels]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return most[0]


def test_heavy_requests_take_turns_and_small_ones_never_wait():
    slots = HeavySlots(pixels=12_000_000)
    assert _overlap(slots, [40_000_000, 40_000_000, 39_000_000]) == 1
    assert _overlap(slots, [1_000_000] * 3) == 3
    assert _overlap(slots, [40_000_000, 1_000_000, 1_000_000]) == 3


def test_a_waiting_request_reports_its_wait_and_stops_when_cancelled():
    slots = HeavySlots(pixels=10)
    seen = []

    def callback(step, total, info):
        seen.append(info["stage"])
        if len(seen) >= 3:
            raise JobCancelled()

    with slots.held(100):
        with pytest.raises(JobCancelled):
            with slots.held(100, callback=callback):
                raise AssertionError("ran while the slot was taken")
    assert seen == ["queued"] * 3
    with slots.held(100):  # the slot was given back
        pass


def test_a_request_that_waits_too_long_is_refused_in_a_sentence():
    slots = HeavySlots(pixels=10, wait_s=0.3)
    with slots.held(100):
        with pytest.raises(GanpaintError, match="busy with other large photos"):
            with slots.held(100):
                pass
