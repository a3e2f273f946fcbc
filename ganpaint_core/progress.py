"""Progress of long work: one callback type for every stage, and the signal that stops it.

Long library calls (inversion, adaptation, downloads, dissection, training) take
``callback(step, total, info)``: ``step`` of ``total`` (0 when unknown) in the stage ``info["stage"]``,
with whatever else the stage reports (``psnr``, ``file``, ``concept``…). The app turns it into a progress
bar, the CLI into tqdm. A callback may raise :class:`JobCancelled` to stop the work it reports on.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

Callback = Callable[[int, int, dict[str, Any]], None]


class JobCancelled(BaseException):
    """Raised inside a long job's callback once its caller stopped listening (the user pressed Cancel).

    A ``BaseException`` on purpose: library code that retries on ``Exception`` (one download source after
    another) must let it through, the way it lets ``KeyboardInterrupt`` through.
    """


def report(callback: Callback | None, step: int, total: int, **info: Any) -> None:
    """``callback(step, total, info)`` when there is a callback."""
    if callback is not None:
        callback(step, total, info)
