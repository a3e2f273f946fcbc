"""``bench --suite service``: a short run end to end (the app in a child process)."""
from __future__ import annotations

import pytest

from ganpaint_core.bench import service as B


@pytest.mark.slow
def test_a_short_service_bench_reports_every_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(B, "CANCELLED", 4)
    monkeypatch.setattr(B, "CLIENT_LEVELS", (1, 2))
    monkeypatch.setattr(B, "ROUNDS", 1)
    out = B.bench_service(n=3, folder=tmp_path)
    assert out["memory"]["edits"] == 3 and out["memory"]["rss_end_mb"] > 0
    assert set(out["latency"]) == {"1", "2"} and out["latency"]["2"]["requests"] == 2
    assert out["cancel"]["cancelled"] == 4 and out["cancel"]["after_cancel_s"] > 0
    bad = out["bad_inputs"]
    assert bad["kinds"] >= 20 and bad["refused"] == bad["kinds"] == bad["kept_serving"]
    assert all(case["message"] for case in bad["cases"])
