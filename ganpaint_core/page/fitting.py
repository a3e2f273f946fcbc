"""A photo's full fit in the background, while the page already edits on its quick fit.

The page opens a photo on its quick fit (:data:`~ganpaint_core.edit.plans.QUICK_FIT`: about a second on a
CPU), so strokes preview at once; the full fit (``EditEngine.prepare``) then runs here, in a thread of its
own. The page's timer polls it (progress for the line under the preview), every action takes the full fit
as soon as it is there (:meth:`BackgroundFits.upgrade`), and a render asked for earlier waits for it
(:meth:`BackgroundFits.full`), so what is downloaded or shared is always the full fit.

Example::

    fits = BackgroundFits(board)              # the page's job board: the fits are listed with its jobs
    fits.start(engine, session.state)         # a quick state: its full fit starts (once per photo and model)
    fits.poll(engine, session.state)          # JobUpdate: progress, or done
    session = fits.upgrade(engine, session)   # the full fit when it is ready, else the session as it was
    fits.cancel(engine, session.state)        # Cancel, a new photo, another model

A fit that nobody polls for ``orphan_s`` (the tab was closed, so its timer stopped) stops at its next step;
a finished one stays in a small cache (by the setup key) until the session takes it.
"""
from __future__ import annotations

import dataclasses
import logging
import threading

from ganpaint_core.core.lru import LRUCache
from ganpaint_core.core.progress import Callback, JobCancelled
from ganpaint_core.edit.engine import EditEngine, PhotoState
from ganpaint_core.page.jobs import Job, JobBoard, JobUpdate
from ganpaint_core.page.session import EditSession

log = logging.getLogger(__name__)

ORPHAN_S = 30.0  # a full fit nobody polled for this long stops (the page's timer polls every second)
DONE_KEPT = 32  # finished full fits kept until their sessions take them (a few MB each at 256 px)


class BackgroundFits:
    """Full fits running (or done) for photos open on their quick fit, by setup key."""

    def __init__(self, board: JobBoard | None = None, *, orphan_s: float = ORPHAN_S) -> None:
        self.board = board
        self.orphan_s = orphan_s
        self._jobs: dict[str, Job] = {}
        self._done: LRUCache[str, PhotoState] = LRUCache(DONE_KEPT)
        self._lock = threading.Lock()

    @staticmethod
    def key(engine: EditEngine, state: PhotoState) -> str:
        return engine.setup_key(state.photo, adapt=True, seed=0, invert=state.invert)

    def start(self, engine: EditEngine, state: PhotoState) -> None:
        """Start ``state``'s full fit (nothing when it is one, or when it runs or ran already)."""
        if state.fit == "full":
            return
        key = self.key(engine, state)
        with self._lock:
            job = self._jobs.get(key)
            if key in self._done or (job is not None and not job.cancelled and not job.finished.is_set()):
                return
            photo, invert = state.photo, state.invert
            job = Job(lambda cb: engine.prepare(photo, adapt=True, invert=invert, callback=cb),
                      orphan_s=self.orphan_s, first={"stage": "invert"})
            self._jobs[key] = job
        if self.board is not None:
            self.board.add(job)
        job.start()

    def poll(self, engine: EditEngine, state: PhotoState) -> JobUpdate | None:
        """The full fit's progress (``done`` once it is ready), or None when none runs for ``state`` (never
        started, cancelled, failed: the failure is logged)."""
        if state.fit == "full":
            return JobUpdate(done=True, result=state)
        key = self.key(engine, state)
        done = self._done.get(key)
        if done is not None:
            return JobUpdate(done=True, result=done)
        job = self._jobs.get(key)
        if job is None or job.cancelled:
            return None
        try:
            update = job.poll()
        except JobCancelled:  # nobody polled it for orphan_s
            self._forget(key, job)
            return None
        except Exception as exc:  # noqa: BLE001 - the quick fit stays usable; a render sets up in full again
            log.warning("the full fit stopped: %s", exc)
            self._forget(key, job)
            return None
        if update.done:
            self._done.put(key, update.result)
            self._forget(key, job)
        return update

    def ready(self, engine: EditEngine, state: PhotoState) -> PhotoState | None:
        """``state``'s full fit if it is there now (made here, or set up before), else None."""
        update = self.poll(engine, state)
        if update is not None and update.done:
            return dataclasses.replace(update.result, photo=state.photo)
        return engine.cached_setup(state.photo, invert=state.invert) if state.fit == "quick" else None

    def upgrade(self, engine: EditEngine, session: EditSession) -> EditSession:
        """``session`` on its photo's full fit when that is ready, else unchanged."""
        if session.state is None or session.state.fit == "full":
            return session
        full = self.ready(engine, session.state)
        return session if full is None else dataclasses.replace(session, state=full)

    def full(self, engine: EditEngine, state: PhotoState, *, callback: Callback | None = None) -> PhotoState:
        """``state``'s full fit: at once when it is ready, else once the running fit ends (waiting polls it, and
        reports its progress to ``callback``), else set up here."""
        while True:
            full = self.ready(engine, state)
            if full is not None:
                return full
            job = self._jobs.get(self.key(engine, state))
            if job is None or job.cancelled:
                return dataclasses.replace(engine.prepare(state.photo, adapt=True, invert=state.invert,
                                                          callback=callback), photo=state.photo)
            job.finished.wait(0.25)
            if callback is not None:
                latest = job.latest
                callback(latest.step, latest.total, latest.info)

    def cancel(self, engine: EditEngine, state: PhotoState | None) -> bool:
        """Stop ``state``'s full fit at its next step; True when one was running."""
        if state is None or state.fit == "full":
            return False
        key = self.key(engine, state)
        job = self._jobs.get(key)
        if job is None or job.finished.is_set():
            return False
        job.cancel()
        self._forget(key, job)
        return True

    def _forget(self, key: str, job: Job) -> None:
        with self._lock:
            if self._jobs.get(key) is job:
                del self._jobs[key]
