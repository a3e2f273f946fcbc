"""Freed memory handed back after a setup, however the setup ends."""
from __future__ import annotations

import pytest

from ganpaint_core.core import memory


def test_the_free_memory_goes_back_after_the_work_even_when_it_fails(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "release_free_memory", lambda: calls.append("trim") or True)

    @memory.returns_free_memory
    def setup(fail: bool) -> str:
        calls.append("setup")
        if fail:
            raise KeyboardInterrupt  # a cancelled setup ends with an exception
        return "state"

    assert setup(False) == "state" and calls == ["setup", "trim"]
    with pytest.raises(KeyboardInterrupt):
        setup(True)
    assert calls == ["setup", "trim", "setup", "trim"]


def test_glibc_trims_and_other_libraries_are_left_alone(monkeypatch):
    assert memory.release_free_memory() is True  # this Linux machine's glibc has malloc_trim
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)  # musl, macOS, Windows: nothing to call
    assert memory.release_free_memory() is False
