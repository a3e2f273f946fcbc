"""Memory stays bounded: one edit of a large photo through the API's function (decode, setup, paste-back, PNG),
in a fresh process warmed up by a small edit, peaks under the stated budget over that idle RSS and holds nothing
afterwards. Before the paste-back worked in bands, a 12-MP edit peaked at +1.1 GB and held +0.3 GB."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganpaint_core.page.jobs import edit_memory_budget_mb

pytestmark = pytest.mark.slow  # a 12-MP photo decoded, pasted back and encoded (~15 s on a loaded 2-core CPU)

PROBE = Path(__file__).with_name("memory_probe.py")
REPO = Path(__file__).resolve().parents[3]


def test_a_12_megapixel_edit_stays_under_its_memory_budget_and_holds_nothing(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), GANPAINT_CACHE=str(tmp_path / "cache"),
               GANPAINT_SETUP_CACHE_MB="0")
    result = subprocess.run([sys.executable, str(PROBE), "4000", "3000"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    over = figures["peak_mb"] - figures["idle_mb"]
    assert over <= edit_memory_budget_mb(figures["pixels"]), figures  # 100 MB + 16 B/px: 283 MB at 12 MP
    assert figures["held_mb"] < 50, figures
