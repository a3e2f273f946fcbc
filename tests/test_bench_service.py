"""``bench --suite service``: its crafted inputs are what they claim, and (slow) a short run end to end."""
from __future__ import annotations

import pytest

from ganpaint_core.bench import service as B
from ganpaint_core.core.photo import PhotoError, load_photo


def test_the_crafted_bad_photos_are_refused_by_the_photo_loader_before_decoding():
    with pytest.raises(PhotoError, match="too large to decode safely|over the 40 MP limit"):
        load_photo(B._png_header_only(20000, 20000), size=64)
    with pytest.raises(PhotoError, match="42.0 MP, over the 40 MP limit"):
        load_photo(B._png_header_only(7500, 5600), size=64)
    assert load_photo(B._noise_photo(1), size=64).size == (256, 192)


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
