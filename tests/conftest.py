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


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own caches and user folder, and no inherited Hub or offline settings."""
    monkeypatch.setenv("GANPAINT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANPAINT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for var in ("HF_HUB_OFFLINE", "GANPAINT_OFFLINE", "HF_ENDPOINT", "HF_HUB_CACHE", "GANPAINT_WEIGHTS_DIR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path
