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


def tqdm_callback(desc: str) -> Callback:
    """A callback that shows each stage as a tqdm bar (the CLI's progress)."""
    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}

    def callback(step: int, total: int, info: dict[str, Any]) -> None:
        stage = info.get("stage", "")
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=f"{desc} {stage}", leave=False)
        bar.update(step - bar.n)
        if "psnr" in info:
            bar.set_postfix(psnr=f"{info['psnr']:.1f}")
        if step >= total:
            bar.close()

    return callback
