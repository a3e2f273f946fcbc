"""Long work in a background thread, with progress and a way to stop it: what the app runs setups,
downloads and dissections in.

Example::

    board = JobBoard()
    for update in run_job(lambda cb: engine.prepare(photo, callback=cb), board=board):
        if update.done:
            state = update.result
    # elsewhere (a Cancel button, a test): board.running()[0].cancel()
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.progress import Callback, JobCancelled

JOB_THREAD_NAME = "ganpaint-job"
_START_LOCK = threading.Lock()  # two callers starting one job start it once


@dataclass
class JobUpdate:
    """Progress of a long job, or its result (``done``)."""

    step: int = 0  # last step reported
    total: int = 0  # steps in the current stage (0: unknown)
    info: dict[str, Any] = field(default_factory=dict)  # the job's own details ("stage", "psnr", "file"…)
    done: bool = False  # True on the last update, which carries ``result``
    result: Any = None  # what the job returned
    seconds: float = 0.0  # since the job started
    stage_seconds: float = 0.0  # since the current stage (``info["stage"]``) started

    def seconds_left(self) -> float | None:
        """The current stage's remaining time at its pace so far (None until a step of it is done)."""
        if not self.total or self.step <= 0 or self.step >= self.total or self.stage_seconds <= 0:
            return None
        return self.stage_seconds * (self.total - self.step) / self.step


class Job:
    """``work(callback)`` in a daemon thread. Its callback raises :class:`JobCancelled` once the job is
    cancelled, or once nobody polled it for ``orphan_s`` seconds (a caller that went away without saying)."""

    def __init__(self, work: Callable[[Callback], Any], *, orphan_s: float = 15.0,
                 first: dict[str, Any] | None = None) -> None:
        self._work = work
        self.orphan_s = orphan_s
        # What the job says before the work's first callback (``{"stage": "load"}``): a display names the work
        # from its first poll, instead of sitting at "Starting" through a slow first step.
        self.latest = JobUpdate(info=dict(first or {}))
        self.started = time.monotonic()
        self.finished = threading.Event()  # set when the work returned, raised or was stopped
        self._cancel = threading.Event()
        self._polled = time.monotonic()
        # the current stage and when it started
        self._stage: tuple[Any, float] = (self.latest.info.get("stage"), self.started)
        self._box: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._target, name=JOB_THREAD_NAME, daemon=True)

    def _callback(self, step: int, total: int, info: dict[str, Any]) -> None:
        if self._cancel.is_set() or time.monotonic() - self._polled > self.orphan_s:
            raise JobCancelled()
        if info.get("stage") != self._stage[0]:
            self._stage = (info.get("stage"), time.monotonic())
        self.latest = JobUpdate(int(step), int(total), dict(info))

    def _target(self) -> None:
        try:
            self._box["result"] = self._work(self._callback)
        except BaseException as exc:  # noqa: BLE001 - handed to the polling thread, re-raised there
            self._box["error"] = exc
        finally:
            self.finished.set()

    def cancel(self) -> None:
        """Stop at the work's next progress callback."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> Job:
        """Start the work (once)."""
        with _START_LOCK:
            if self.thread.ident is None:
                self.thread.start()
        return self

    def poll(self) -> JobUpdate:
        """Its progress now, or its result (``done``; an error is raised here). Polling keeps it from being
        an orphan: a job watched this way stops once nobody polled it for ``orphan_s``."""
        self._polled = time.monotonic()
        if not self.finished.is_set():
            return self._snapshot()
        if "error" in self._box:
            raise self._box["error"]
        return self._snapshot(done=True, result=self._box["result"])

    def updates(self, *, poll_s: float = 0.25) -> Iterator[JobUpdate]:
        """Start the job; yield its progress every ``poll_s``, then its result (errors are raised here).
        Closing this iterator (a web app does when the user cancels) cancels the job."""
        self.start()
        try:
            while not self.finished.wait(poll_s):
                self._polled = time.monotonic()
                yield self._snapshot()
            self._polled = time.monotonic()
            if "error" in self._box:
                raise self._box["error"]
            yield self._snapshot(done=True, result=self._box["result"])
        finally:
            self.cancel()

    def _snapshot(self, **done: Any) -> JobUpdate:
        latest, now = self.latest, time.monotonic()
        return JobUpdate(latest.step, latest.total, dict(latest.info), seconds=now - self.started,
                         stage_seconds=now - self._stage[1], **done)


class JobBoard:
    """The jobs running now, so that whoever owns them (a page, a test) can see and stop them."""

    def __init__(self) -> None:
        self._jobs: set[Job] = set()
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs = {j for j in self._jobs if not j.finished.is_set()} | {job}

    def running(self) -> list[Job]:
        """Jobs whose work has not ended yet (a cancelled one stays until its next progress callback)."""
        with self._lock:
            return [j for j in self._jobs if not j.finished.is_set()]


def run_job(work: Callable[[Callback], Any], *, poll_s: float = 0.25, orphan_s: float = 15.0,
            board: JobBoard | None = None, first: dict[str, Any] | None = None) -> Iterator[JobUpdate]:
    """Run ``work(callback)`` as a :class:`Job` (listed on ``board`` until it ends): its progress every
    ``poll_s`` (``first``: its info until the work reports), then its result. The job starts when the iteration
    does; stopping the iteration cancels it."""
    job = Job(work, orphan_s=orphan_s, first=first)
    if board is not None:
        board.add(job)
    return job.updates(poll_s=poll_s)


def job_result(work: Callable[[Callback], Any], *, board: JobBoard | None = None, orphan_s: float = 15.0,
               poll_s: float = 0.25, first: dict[str, Any] | None = None) -> Generator[JobUpdate, None, Any]:
    """:func:`run_job`'s progress re-yielded, then its result returned (``result = yield from job_result(…)``).
    Closing the iterator, or not advancing it for ``orphan_s``, stops the job at its next step."""
    for update in run_job(work, board=board, orphan_s=orphan_s, poll_s=poll_s, first=first):
        if update.done:
            return update.result
        yield update
    raise GanpaintError("the job ended without a result")


# The memory one edit request may take over the warm idle server's RSS: a fixed part plus bytes per pixel of
# its photo (decode: Pillow's copy and ours; paste-back: the result and its change map, in bands; PNG: Pillow's
# copy of the result). Measured 40 MP: +0.61 GB of 0.71 allowed, nothing held after (tests/integration/page/
# test_memory.py, bench --suite service).
EDIT_BUDGET_FIXED_MB = 100
EDIT_BUDGET_BYTES_PER_PIXEL = 16


def edit_memory_budget_mb(pixels: int) -> float:
    """The peak RSS one edit of a ``pixels`` photo may add to a warm idle server, in MB (2**20 bytes)."""
    return EDIT_BUDGET_FIXED_MB + EDIT_BUDGET_BYTES_PER_PIXEL * pixels / 2**20


# A photo over this many pixels is a heavy request; one at a time, so that two 40-MP edits never add up to twice
# the budget (a heavy one and a light one together stay under 0.71 + 0.28 GB).
HEAVY_PIXELS = 12_000_000
HEAVY_SLOTS = 1  # heavy requests that run at once, so that two together stay under the budget of one
HEAVY_WAIT_S = 900.0  # a heavy request waits this long for its turn, then is refused in a sentence


class HeavySlots:
    """At most ``slots`` requests on photos over ``pixels`` at once; smaller photos never wait. A heavy request
    waits its turn inside its job, saying so in its progress (stage "queued"), and stops waiting when the job is
    cancelled or its caller goes away.

    Example::

        slots = HeavySlots()
        with slots.held(header_pixels(path), callback=cb):   # cb: the job's callback (raises when cancelled)
            outcome = edit_files(engine, path, strokes)
    """

    def __init__(self, *, pixels: int = HEAVY_PIXELS, slots: int = HEAVY_SLOTS, wait_s: float = HEAVY_WAIT_S) -> None:
        self.pixels = int(pixels)
        self.wait_s = float(wait_s)
        self._free = threading.BoundedSemaphore(slots)

    @contextlib.contextmanager
    def held(self, pixels: int, *, callback: Callback | None = None) -> Iterator[None]:
        """The block runs once a heavy slot is free (at once for a photo of ``pixels`` ≤ ``self.pixels``)."""
        if pixels <= self.pixels:
            yield
            return
        t0 = time.monotonic()
        while not self._free.acquire(timeout=0.1):
            waited = time.monotonic() - t0
            if callback is not None:
                callback(0, 0, {"stage": "queued", "waited_s": round(waited, 1)})
            if waited > self.wait_s:
                raise GanpaintError(f"the server is busy with other large photos (over {self.pixels / 1e6:.0f} MP), "
                                    "one at a time: try again in a few minutes, or downscale the photo")
        try:
            yield
        finally:
            self._free.release()
