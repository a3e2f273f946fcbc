"""Fixtures for every test, and the lanes: each test is marked ``unit``, ``integration`` or ``browser`` by
the folder it lives in (tests/unit, tests/integration, tests/integration/browser). Plain helpers (tiny
models, model folders, photos, the CLI) are in helpers.py."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.file_download  # noqa: F401 - loaded before a test sets HF_HUB_OFFLINE (read at import)
import numpy as np
import pytest
import torch

TESTS = Path(__file__).resolve().parent
LANES = {"unit": TESTS / "unit", "integration": TESTS / "integration"}
BROWSER = TESTS / "integration" / "browser"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its lane (its folder), so ``-m unit`` / ``-m "not browser"`` select by layer."""
    for item in items:
        path = Path(item.fspath).resolve()
        for name, folder in LANES.items():
            if path.is_relative_to(folder):
                item.add_marker(name)
        if path.is_relative_to(BROWSER):
            item.add_marker("browser")
            item.add_marker("slow")


@contextlib.contextmanager
def restored_globals() -> Iterator[None]:
    """Torch's and numpy's process-wide settings as they were: threads, default dtype, grad mode, the
    global random generators and the environment. A test or a module fixture that changes one (e.g.
    ``torch.set_num_threads(1)`` for tiny convs) changes it for itself only, not for the tests after it."""
    threads = torch.get_num_threads()
    dtype, grad = torch.get_default_dtype(), torch.is_grad_enabled()
    torch_rng, numpy_rng = torch.get_rng_state(), np.random.get_state()
    environ = dict(os.environ)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_default_dtype(dtype)
        torch.set_grad_enabled(grad)
        torch.set_rng_state(torch_rng)
        np.random.set_state(numpy_rng)
        os.environ.clear()
        os.environ.update(environ)


@pytest.fixture(autouse=True, scope="session")
def one_thread_per_run() -> Iterator[None]:
    """Torch on one thread unless a test asks for more: the tiny convs here run fastest so, and on a shared
    or busy machine two threads per process wait on each other (a 5 s test took 2 min with two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="module")
def globals_per_module() -> Iterator[None]:
    """Restores what a module's fixtures changed (set up before them, torn down after them)."""
    with restored_globals():
        yield


@pytest.fixture(autouse=True)
def globals_per_test() -> Iterator[None]:
    """Restores what a test changed."""
    with restored_globals():
        yield


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (small convs run fastest so, and the suite shares the machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def isolated_session_env(tmp_path_factory: pytest.TempPathFactory):
    """Caches of the whole run, set before any module-scoped fixture builds an engine (those are set up before
    ``isolated_env``): nothing a test writes, or reads, lies in the user's own ~/.cache (setups, shares)."""
    root = tmp_path_factory.mktemp("session-env")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANPAINT_CACHE", str(root / "cache"))
        mp.setenv("GANPAINT_MODELS_DIR", str(root / "models"))
        mp.delenv("GANPAINT_SHARE_DIR", raising=False)
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # no served app in a test reports to Gradio
        yield root


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own caches and user folder, and no inherited Hub or offline settings."""
    monkeypatch.setenv("GANPAINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANPAINT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for var in ("HF_HUB_OFFLINE", "GANPAINT_OFFLINE", "HF_ENDPOINT", "HF_HUB_CACHE", "GANPAINT_WEIGHTS_DIR",
                "GANPAINT_SHARE_DIR", "GANPAINT_SETUP_CACHE_MB", "GANPAINT_SHARE_MB"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path
