"""``bench --suite service``: a short run end to end (the app in a child process)."""
from __future__ import annotations

import pytest

from ganpaint_core.bench import service as B
from ganpaint_core.bench import service_probes as P


@pytest.mark.slow
def test_a_short_service_bench_reports_every_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(B, "CANCELLED", 4)
    monkeypatch.setattr(B, "CLIENT_LEVELS", (1, 2))
    monkeypatch.setattr(B, "ROUNDS", 1)
    monkeypatch.setattr(P, "LARGE_SIZE", (1600, 1200))  # the bench's is 40 MP: minutes on a loaded 2-core CPU
    out = B.bench_service(n=3, folder=tmp_path)
    assert out["memory"]["edits"] == 3 and out["memory"]["rss_end_mb"] > 0
    assert set(out["latency"]) == {"1", "2"} and out["latency"]["2"]["requests"] == 2
    assert out["cancel"]["cancelled"] == 4 and out["cancel"]["after_cancel_s"] > 0
    bad = out["bad_inputs"]
    assert bad["kinds"] >= 20 and bad["refused"] == bad["kinds"] == bad["kept_serving"]
    assert all(case["message"] for case in bad["cases"])
    kinds = {case["kind"]: case for case in bad["cases"]}
    for field in ("mask", "color", "sketch"):  # a 32 KB bomb in any base64 image field: refused at once
        bomb = kinds[f"recipe: 12000² PNG bomb as {field}_png_base64"]
        assert "too large" in bomb["message"] and bomb["seconds"] < 5 and bomb["peak_over_mb"] < 50
    assert "too large" in kinds["recipe: 12000² PNG bomb as a style reference"]["message"]
    assert "nested too deeply" in kinds["recipe: JSON nested 50000 deep"]["message"]
    assert "whole number" in kinds["style seed 2^70"]["message"] and "whole number" in kinds["style seed -5"]["message"]
    large = out["large_photo"]
    assert large["size"] == [1600, 1200] and large["first"]["seconds"] > 0 and len(large["two_at_once"]["seconds"]) == 2
    store = out["damaged_setup"]
    assert store["damaged_files"] == 1 and store["equal"] and store["logged"] == 1
    # None: not for our refusals, the damaged setup or the restarts, nor for gradio's refusal of a payload naming a
    # server path (/etc/passwd, /dev/zero), which reaches the client as a sentence (app_binding.refuse_server_paths).
    assert out["log_tracebacks"] == {}
    for kind in ("server path outside uploads", "/dev/zero as a path"):
        assert "not uploaded to this app" in kinds[kind]["message"]
