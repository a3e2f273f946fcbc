"""The start model's missing files (concept dictionary, directions), made once in the background while the
page serves, with a status line every visitor sees.

Example::

    prep = Preparation("stylegan2-church", serving="synth-church", lacking=("concept dictionary",),
                       work=prepare_work("stylegan2-church", device=device))
    prep.start()
    prep.status()   # "Preparing stylegan2-church (dissecting: 3/7, about 2 min left). Meanwhile editing on synth-church."
    prep.ready      # True once the files are made (they land in the cache, which a restart keeps on /data)

While a model lacks its dictionary it cannot edit, so the page edits on the bundled model meanwhile (the
choice made here): every visitor can work at once, and the prepared model appears in the Model list, ready,
when the job ends. A failure (offline, no segmenter) ends the job with one message; the page keeps serving.
"""
from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable
from typing import Any

import torch

from ganpaint_core.analysis.directions import directions_path
from ganpaint_core.analysis.prepare import PrepareConfig, prepare_model
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.progress import Callback
from ganpaint_core.hub.model import LoadedModel
from ganpaint_core.page.jobs import Job, JobUpdate

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often the background job's progress is read


def missing_files(model: LoadedModel) -> tuple[str, ...]:
    """What a loaded model lacks for the page: its concept dictionary, its latent directions."""
    lacking = []
    if model.concepts is None:
        lacking.append("concept dictionary")
    path = directions_path(model)
    if path is None or not path.is_file():
        lacking.append("directions")
    return tuple(lacking)


SAMPLES_ENV = "GANPAINT_PREPARE_SAMPLES"  # caps the samples a background preparation looks at (small models, tests)


def prepare_work(model: str | LoadedModel, *, device: torch.device | str) -> Callable[[Callback], Any]:
    """The real preparation of ``model`` (a name, or the model as the start loaded it: not loaded twice;
    ``analysis.prepare.prepare_model``), as a job's work: with the
    CLI's defaults, or with ``$GANPAINT_PREPARE_SAMPLES=N`` no stage looking at more than N samples
    (``PrepareConfig.at_most``: seconds on a CPU for a small model; a rough dictionary)."""
    samples = os.environ.get(SAMPLES_ENV)
    if samples is not None and not samples.isdigit():
        raise GanpaintError(f"{SAMPLES_ENV} must be a whole number of samples, got {samples!r}")
    cfg = PrepareConfig.at_most(int(samples)) if samples else PrepareConfig()

    def work(callback: Callback) -> Any:
        return prepare_model(model, device=device, cfg=cfg, callback=callback)

    return work


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


class Preparation:
    """A model's preparation: nothing to do, blocked (and why), running, done or failed.

    The work runs as a :class:`~ganpaint_core.page.jobs.Job` (progress ``callback(step, total, info)`` with
    ``info["stage"]``), read by a thread of its own, so that it goes on with no visitor on the page."""

    def __init__(self, model_name: str, *, serving: str, lacking: tuple[str, ...] = (),
                 work: Callable[[Callback], Any] | None = None, blocked: str | None = None,
                 poll_s: float = POLL_S) -> None:
        self.model_name = model_name  # the model being prepared
        self.serving = serving  # the model the page edits on meanwhile
        self.lacking = lacking  # what is being made ("concept dictionary", "directions")
        self.blocked = blocked  # why it cannot be prepared here (None: it can)
        self.error: str | None = None  # why the work failed, once it has
        self.latest = JobUpdate()  # the work's last progress
        self.finished = threading.Event()  # set when the work ended (made, failed) or will never run
        self._work = work
        self._poll_s = poll_s
        self._thread: threading.Thread | None = None
        if work is None:
            self.finished.set()

    @classmethod
    def nothing_to_do(cls, model_name: str) -> Preparation:
        return cls(model_name, serving=model_name)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self.finished.is_set()

    @property
    def ready(self) -> bool:
        """True when the model has every file it needs (nothing was missing, or the work made them)."""
        return self.finished.is_set() and self.blocked is None and self.error is None

    def start(self) -> Preparation:
        """Start the work in the background (once; nothing when there is nothing to do or it is blocked)."""
        if self._work is not None and self._thread is None and self.blocked is None:
            self._thread = threading.Thread(target=self._run, name="ganpaint-prepare", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        assert self._work is not None
        job = Job(self._work, orphan_s=math.inf)  # nobody needs to watch: it runs until done
        try:
            for update in job.updates(poll_s=self._poll_s):
                self.latest = update
        except GanpaintError as exc:  # offline, no segmenter, a file refused: the message says what to do
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the page; it is logged and shown
            log.exception("preparing %s failed", self.model_name)
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.finished.set()
        if self.error is None:
            log.info("%s prepared in %.0f s", self.model_name, self.latest.seconds)
        else:
            log.warning("%s could not be prepared: %s", self.model_name, self.error)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work ends (or ``timeout``); True when it has."""
        return self.finished.wait(timeout)

    def status(self) -> str:
        """One line for the page (markdown), the same for every visitor; "" when there was nothing to do."""
        if self.blocked is not None:
            return f"{self.model_name} is not ready: {self.blocked}. Editing on {self.serving}."
        if self.error is not None:
            return f"{self.model_name} could not be prepared here: {self.error}. Editing on {self.serving}."
        if self._work is None:
            return ""
        if self.finished.is_set():
            return f"{self.model_name} is prepared ({_duration(self.latest.seconds)}): choose it in the Model list."
        if self._thread is None:
            return f"{self.model_name} will be prepared ({', '.join(self.lacking)}). Editing on {self.serving}."
        u = self.latest
        stage = str(u.info.get("stage") or "starting")
        steps = f": {u.step}/{u.total}" if u.total else ""
        left = u.seconds_left()
        left_text = f", about {_duration(left)} left in this stage" if left is not None else ""
        return (f"Preparing {self.model_name} ({stage}{steps}{left_text}; {_duration(u.seconds)} so far). "
                f"Meanwhile editing on {self.serving}.")
