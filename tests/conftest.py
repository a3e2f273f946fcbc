"""Fixtures for every test. Plain helpers (tiny models, model folders, photos, the CLI) are in helpers.py."""
from __future__ import annotations

from pathlib import Path

import huggingface_hub.file_download  # noqa: F401 - loaded before a test sets HF_HUB_OFFLINE (read at import)
import pytest
import torch


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
