"""What every group of page actions builds on: the catalog of engines, the job board, the GPU entry points,
the live preview and the saved render. ``EditPage`` (page.py) is this plus its action groups (``modes.py``:
brushes and directions; ``tools.py``: share, compare, units), each a subclass of :class:`PageBase`, so imports
run one way: base <- modes, tools <- page.

Example::

    page = EditPage(EditEngine(load_model("synth-church")))   # a PageBase with every action group
    outcome = page.gpu.edit(render, page.engine(session), session, final=True)
    png, record = page.save_render("church", outcome)           # a fresh folder under page.out_dir
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganpaint_core.analysis.dissect import DissectConfig
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.pipeline import EditOutcome
from ganpaint_core.page.canvas import preview_image
from ganpaint_core.page.catalog import EngineCatalog
from ganpaint_core.page.fitting import BackgroundFits
from ganpaint_core.page.hosting import GpuWork
from ganpaint_core.page.jobs import HeavySlots, JobBoard, JobUpdate, job_result
from ganpaint_core.page.preparation import Preparation
from ganpaint_core.page.session import EditSession, render
from ganpaint_core.page.start import StartChoice
from ganpaint_core.page.text import HOW_TO
from ganpaint_core.page.values import PageUpdate

# Fewer samples than the CLI's default, so that a CPU host finishes sooner.
APP_DISSECT = DissectConfig(samples=400, causal_samples=48, template_samples=200)
RENDER_MAX_AGE_S = 3600  # rendered downloads are deleted after this long


class PageBase:
    """The page's shared parts over a catalog of shared, read-only engines (the default one loaded)."""

    def __init__(self, engine: EditEngine, *, out_dir: Path | None = None,
                 dissect_cfg: DissectConfig = APP_DISSECT, start: StartChoice | None = None,
                 preparation: Preparation | None = None) -> None:
        self.catalog = EngineCatalog(engine)
        self.start = start  # which model the host chose to start on, and why (None: not said)
        self.preparation = preparation  # the start model's files being made in the background (None: none)
        self.dissect_cfg = dissect_cfg
        self.default_model = self.catalog.default_name
        self.out_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="ganpaint-app-"))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.jobs = JobBoard()  # setups, downloads and dissections running now
        self.heavy = HeavySlots()  # requests on large photos, one at a time (their memory: README's service rows)
        self.fits = BackgroundFits(self.jobs)  # photos' full fits, made while they are edited on their quick fit
        self.gpu = GpuWork()  # the GPU work's entry points (spaces.GPU calls on a ZeroGPU Space)
        self.directions_found: set[str] = set()  # models whose directions were found (or read): no wait

    def engine(self, session: EditSession) -> EditEngine:
        return self.catalog.engine(session.model or self.default_model)

    def current(self, session: EditSession) -> EditSession:
        """``session`` on its photo's full fit once that is ready (else as it is): every action edits on the
        best fit there is."""
        return self.fits.upgrade(self.engine(session), session)

    def full_session(self, session: EditSession, callback: Any = None) -> EditSession:
        """``session`` on its photo's full fit, waiting for it when it is still being made (a render, a share:
        what leaves the page is never the quick fit)."""
        if session.state is None or session.state.fit == "full":
            return session
        full = self.fits.full(self.engine(session), session.state, callback=callback)
        return dataclasses.replace(session, state=full)

    def preparation_status(self) -> str:
        """The background preparation's line, the same for every visitor ("" when nothing is prepared)."""
        return self.preparation.status() if self.preparation is not None else ""

    def preparing(self) -> bool:
        return self.preparation is not None and self.preparation.running

    def welcome(self) -> str:
        """The status line at first load: the next step, and what the host is preparing meanwhile."""
        prep = self.preparation_status()
        return HOW_TO + (f"<br>{prep}" if prep else "")

    def photo_file(self, session: EditSession) -> str:
        """The session's photo as a PNG file, for the photo box (a share link's, a recipe's photo)."""
        folder = Path(tempfile.mkdtemp(dir=self.out_dir))
        path = folder / f"{session.photo_name}.png"
        Image.fromarray(session.photo.original).save(path)
        return str(path)

    def _run(self, work: Callable[[Any], Any], *, orphan_s: float = 15.0, poll_s: float = 0.25,
             stage: str = "start") -> Generator[JobUpdate, None, Any]:
        """A long job on this page's board: re-yields its progress, returns its result (``yield from`` it).
        ``stage`` names the work until it reports its own (``text.STAGE_NAMES``). Closing the iterator, or not
        advancing it for ``orphan_s``, stops the job at its next step."""
        return (yield from job_result(work, board=self.jobs, orphan_s=orphan_s, poll_s=poll_s,
                                      first={"stage": stage}))

    def _preview(self, session: EditSession, outcome: EditOutcome) -> np.ndarray:
        return preview_image(session.photo, outcome.result)

    def _live(self, session: EditSession, pending: Any, what: str) -> PageUpdate:
        """The live preview: the kept strokes plus ``pending`` (not added yet; None: none), and its line."""
        outcome = self.gpu.edit(render, self.engine(session), session, pending=pending, final=False)
        return PageUpdate(preview=self._preview(session, outcome), session=session,
                          paint_info=f"Preview: {what} · {len(session.strokes)} stroke(s) kept · "
                                     f"{outcome.result.timings['tail_s'] * 1000:.0f} ms")

    def save_render(self, name: str, outcome: EditOutcome) -> tuple[Path, Path]:
        """The final PNG and its JSON record in a fresh folder (older renders are pruned)."""
        t0 = time.monotonic()
        now = time.time()
        for sub in self.out_dir.iterdir():
            if sub.is_dir() and now - sub.stat().st_mtime > RENDER_MAX_AGE_S:
                shutil.rmtree(sub, ignore_errors=True)
        folder = Path(tempfile.mkdtemp(dir=self.out_dir))
        png = folder / f"{name}-ganpaint.png"
        Image.fromarray(outcome.result.final).save(png)
        record = dict(outcome.record)
        record["timings_s"] = record["timings_s"] | {"save_png_s": round(time.monotonic() - t0, 4)}
        side = folder / f"{name}-ganpaint.json"
        side.write_text(json.dumps(record, indent=1) + "\n")
        return png, side
