"""ZeroGPU hosting without ``spaces``: the entry points are the plain functions; durations fit ZeroGPU."""
from __future__ import annotations

import sys

import pytest

from ganpaint_core.page import hosting


def test_without_spaces_the_entry_points_are_the_plain_functions(monkeypatch):
    monkeypatch.setitem(sys.modules, "spaces", None)  # import spaces -> ImportError
    work = hosting.GpuWork()
    assert (work.setup, work.edit, work.dissect) == (hosting.run_setup, hosting.run_edit, hosting.run_dissect)
    assert not work.hosted and work.setup(max, 2, 3) == 3


@pytest.mark.parametrize("duration", [hosting.SETUP_S, hosting.EDIT_S, hosting.DISSECT_S])
def test_the_durations_fit_zerogpu(duration):
    assert 0 < duration <= 300  # ZeroGPU refuses longer calls than its per-call maximum (see README)
