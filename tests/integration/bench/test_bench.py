from __future__ import annotations

import json

import pytest

from ganpaint_core.bench.run import bench_paste_bound
from ganpaint_core.hub.loading import load_model
from tests.helpers import run_cli

# Small convs run fastest single-threaded; each benchmark takes 5-15 s, so the suite is in the slow lane.
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]


def test_the_paste_bound_scores_real_pixels_in_the_causal_tests_squares():
    r = bench_paste_bound(load_model("synth-church"), seed=3, n=64)
    assert r["square_px"] == 16 and set(r["concepts"]) == {"sky", "cloud", "grass", "tree", "brick", "dome", "door"}
    tree, grass = r["concepts"]["tree"], r["concepts"]["grass"]
    assert tree["labels"] > 0.95 and grass["labels"] > 0.95  # the richest squares are all tree, all grass
    # The segmenter is trained with copy-paste, so real pixels of a concept are that concept wherever they land:
    # grass pasted into the sky is grass (a segmenter trained on whole scenes only saw 0.10 of it). Doors, the
    # smallest concept, fill about half of their richest square, so their bound is lowest.
    for concept, row in r["concepts"].items():
        assert row["segmenter"] > 0.3, (concept, row)
        # Inside the generator: the edit-layer features of a concept-rich square of one sample, pasted into
        # another's square, are drawn as that concept there (domes and doors too, ~0.3 here).
        assert row["features"] > 0.2, (concept, row)


def test_the_paste_suite_runs_from_the_cli_and_writes_json(tmp_path):
    result = run_cli("bench", "--model", "synth-church", "--suite", "paste", "--n", "16", "--threads", "1",
                     "--json", str(tmp_path / "p.json"))
    assert result.returncode == 0, result.stderr
    assert "segmenter gain" in result.stdout and "feature paste gain" in result.stdout
    assert json.loads((tmp_path / "p.json").read_text())["concepts"]["door"]["labels"] > 0.2


def test_the_chain_suite_reports_the_issue_keys_on_a_held_out_render():
    from ganpaint_core.bench.chain import bench_chain

    r = bench_chain(load_model("synth-church"), seed=1, n=1, church=False)  # render 0 of the README's run
    assert {"recon_psnr_before", "recon_psnr_after", "locality_psnr", "add_gain", "add_rise", "remove_drop",
            "setup_s", "edit_s", "forward_s", "device", "changed_margin", "changed_margin_max", "band_detail",
            "seam_ratio", "add_gain_final", "relit_tone_error_0.5", "edits"} <= set(r)
    assert r["changed_margin_max"] <= 0.06  # the composite changes nothing far from the stroke
    assert r["band_detail"] > 0.9 and r["edits"][0]["action"] == "add"
    assert r["recon_psnr_after"] > r["recon_psnr_before"] + 3  # the adaptation is what makes the photo exact
    assert r["locality_psnr"] > 30  # an add in one square leaves the rest of the render alone
    assert [e["action"] for e in r["edits"]] == ["add", "remove"]  # a present concept was found and removed
    # The edits do what they say (0.82 and 0.91 when written): an add raises the concept's share under the
    # stroke, a remove takes most of the concept away (1: gone; 0 or below: the stroke did nothing).
    assert r["add_rise"] > 0.4 and r["remove_drop"] > 0.5 and r["remove_drop_final"] > 0.5
    assert r["device"].startswith("cpu")
    # The page's wait (quick fit, one render) is a fraction of the full fit's, per photo and as medians.
    assert r["plan"] == "full" and [row["photo"] for row in r["setups"]] == ["render 0"]
    assert 0 < r["first_preview_s"] < r["setup_s"] and r["setups"][0]["setup_s"] == r["setup_s"]
