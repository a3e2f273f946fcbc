"""Hosted GPUs: on a Hugging Face ZeroGPU Space the GPU is lent per call, to functions decorated with
``spaces.GPU(duration=…)``; elsewhere (no ``spaces`` package) nothing changes.

Example::

    work = GpuWork()                                    # built with the page, before the app launches
    session = work.setup(open_photo, engine, path)      # on ZeroGPU: inside a spaces.GPU(duration=120) call

The page's GPU work goes through three functions, one per kind of job, each with a duration that fits it:
a photo's setup (inversion + adaptation), an edit (one tail pass and the paste-back), a dissection. Their
results are CPU values by construction (sessions and states hold CPU tensors and arrays, renders are uint8
arrays), so nothing GPU-bound leaves the lent GPU. The decorated functions are module-level functions (ZeroGPU
runs them in a worker of its own; a bound method would drag its object along).

``spaces`` must be imported before anything initialises CUDA (it replaces torch's CUDA in the main process by
an emulation, and ``torch.cuda.is_available()`` answers False there until it has). ``app.py`` imports this
module first, and importing it imports ``spaces`` where it is installed: the one import-time effect in the
package, kept because no later moment is early enough.
"""
from __future__ import annotations

import importlib.util
import logging
import socket
import sys
from collections.abc import Callable
from typing import Any, TypeVar

try:  # first: see above (on Spaces only; elsewhere the package is absent)
    import spaces  # noqa: F401
except ImportError:
    pass

log = logging.getLogger(__name__)

T = TypeVar("T")

# Seconds asked of ZeroGPU per call: a 256-px setup (200 inversion + 240 adaptation steps) takes well under a
# minute on a large GPU, a 64-px one seconds; an edit is one tail pass; the app's dissection settings take a
# few minutes for a 256-px model. Asking more than a job needs costs the user's ZeroGPU quota, less aborts it.
SETUP_S = 120
EDIT_S = 30
DISSECT_S = 300


def gpu(duration: int) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """``spaces.GPU(duration=duration)`` when the ``spaces`` package is importable, else the identity."""
    try:
        import spaces  # noqa: PLC0415 - present only on Hugging Face Spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def gpu_lent_per_call() -> bool:
    """True on ZeroGPU (the ``spaces`` package is present): the GPU exists only inside ``spaces.GPU`` calls, so
    no background thread can use it."""
    if "spaces" in sys.modules:  # imported (None: hidden, as tests do)
        return sys.modules["spaces"] is not None
    return importlib.util.find_spec("spaces") is not None


def run_setup(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A photo's setup (``open_photo``, ``reprepare``, the ``/edit`` endpoint's whole edit)."""
    return fn(*args, **kwargs)


def run_edit(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A render of a set-up photo (``session.render``)."""
    return fn(*args, **kwargs)


def run_dissect(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A model's dissection (``EngineCatalog.dissect``)."""
    return fn(*args, **kwargs)


class GpuWork:
    """The page's GPU entry points, decorated for ZeroGPU when ``spaces`` is present (checked once, here)."""

    def __init__(self) -> None:
        self.setup = gpu(SETUP_S)(run_setup)
        self.edit = gpu(EDIT_S)(run_edit)
        self.dissect = gpu(DISSECT_S)(run_dissect)
        self.hosted = self.setup is not run_setup
        if self.hosted:
            log.info("spaces present: setup, edits and dissection run in spaces.GPU calls (%d / %d / %d s)",
                     SETUP_S, EDIT_S, DISSECT_S)


def share_possible(timeout: float = 3.0) -> bool:
    """Whether Gradio's share service can be reached (a share link needs the internet)."""
    try:
        socket.create_connection(("api.gradio.app", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def public_url(share_url: str | None, headers: Any) -> str:
    """The address a share link starts with: the public one (``--share``), else the one the page came from
    (a proxy's forwarded host first)."""
    if share_url:
        return str(share_url)
    host = (headers.get("x-forwarded-host") or headers.get("host") or "127.0.0.1:7860").split(",")[0].strip()
    proto = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip()
    return f"{proto}://{host}"
