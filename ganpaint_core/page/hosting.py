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

import argparse
import errno
import importlib.util
import logging
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
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


def serving_address(argv: Sequence[str], env: Mapping[str, str] = os.environ) -> tuple[str, int]:
    """The ``--host`` and ``--port`` of the app's command line, else a Space's ``GRADIO_SERVER_NAME`` /
    ``_PORT``, else 127.0.0.1:7860 (the app's own parser takes its defaults from here)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--host", default=env.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--port", default=env.get("GRADIO_SERVER_PORT", "7860"))
    args, _ = p.parse_known_args(list(argv))
    try:
        return args.host, int(args.port)
    except ValueError:
        return args.host, -1  # the app's parser says what is wrong with it


def port_problem(host: str, port: int) -> str | None:
    """Why the app could not serve on ``host:port`` (in use, not an address of this machine), or None. Asked
    before the model loads, so a busy port is one line in a second, not a traceback after a minute."""
    if not 0 < port < 65536:
        return None  # the argument parser's refusal is clearer
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is free
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is in use (another server?): stop it, or pass --port with a free port"
            return f"cannot serve on {host}:{port} ({exc.strerror or exc}): pass --host 127.0.0.1 or 0.0.0.0"
    return None


def exit_if_port_busy(argv: Sequence[str]) -> None:
    """For ``python app.py``: a port that cannot be served on ends the start at once with one line, exit 2."""
    host, port = serving_address(argv)
    problem = port_problem(host, port)
    if problem is not None:
        print(f"ganpaint: {problem}", file=sys.stderr)
        raise SystemExit(2)
