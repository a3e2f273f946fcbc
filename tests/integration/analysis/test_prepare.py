"""`prepare`: derived files made once (resumable, with progress), a publishable folder, a push to the stand-in
Hub, and a later start that downloads the prepared files instead of making them."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ganpaint_core.analysis.dissect import DissectConfig
from ganpaint_core.analysis.prepare import PrepareConfig, prepare_model
from ganpaint_core.cli.main import main as cli_main
from ganpaint_core.core.errors import ChecksumMismatch, ManifestError
from ganpaint_core.hub.concepts import ConceptDictionary
from ganpaint_core.hub.derived import CONCEPTS_FILE, DIRECTIONS_FILE, derived_dir
from ganpaint_core.hub.fetch import sha256_file
from ganpaint_core.hub.loading import load_model
from ganpaint_core.hub.manifest import parse_manifest
from tests.helpers import REPO, run_cli, tiny_generator, undissected_model, write_model_folder
from tests.hub_server import HubStandIn

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = PrepareConfig(dissect=DissectConfig(samples=20, batch=10, ace_steps=3, ace_batch=4, causal_samples=10,
                                            template_samples=16, keep=8),
                      concepts=("sky", "tree"), directions_samples=16, components=2)
REPO_ID = "ganpaint-test/tiny-prepared"
TOKEN = "hf_test_write_token"


def _tiny_model(prepared: dict | None = None, seed: int = 0) -> Path:
    """``tiny`` in the user folder: a 32 px ProGAN with the bundled synth-church segmenter, no dictionary."""
    path = write_model_folder(Path(os.environ["GANPAINT_MODELS_DIR"]) / "tiny", generator=tiny_generator(seed))
    segmenter = REPO / "weights" / "synth-church" / "segmenter.safetensors"
    shutil.copyfile(segmenter, path.parent / segmenter.name)
    data = json.loads(path.read_text())
    data["licence"] = "MIT (a test model)"
    data["files"]["segmenter"] = {"filename": segmenter.name, "format": "safetensors", "sha256": sha256_file(segmenter),
                                  "size": segmenter.stat().st_size, "sources": [{"path": segmenter.name}]}
    if prepared:
        data["prepared"] = prepared
    path.write_text(json.dumps(data))
    return path


def _fresh_start(root: Path, monkeypatch: pytest.MonkeyPatch, prepared: dict, seed: int = 0) -> Path:
    """Another machine: empty caches, the model (``seed`` 0: the same weights) with a manifest listing the repo."""
    monkeypatch.setenv("GANPAINT_CACHE", str(root / "cache"))
    monkeypatch.setenv("GANPAINT_MODELS_DIR", str(root / "models"))
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    return _tiny_model(prepared=prepared, seed=seed)


def test_prepare_makes_what_the_model_lacks_into_a_publishable_folder(isolated_env):
    _tiny_model()
    events = []
    prepared = prepare_model("tiny", cfg=QUICK, repo_id=REPO_ID, callback=lambda s, t, info: events.append(info))
    assert prepared.stages == {"dissect": "made", "directions": "made",
                               "encoder": "skipped: tiny's manifest names no e4e encoder to convert",
                               "folder": "written"}
    assert [e["stage"] for e in events if e.get("stage_index") is not None][-1] == "folder"
    assert {e["stages"] for e in events} == {4}
    assert any(e["seconds_left"] is not None and e["seconds_left"] >= 0 for e in events if e["stage"] == "directions")

    folder = prepared.folder
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", CONCEPTS_FILE, DIRECTIONS_FILE, "model.json"]
    data = json.loads((folder / "model.json").read_text())
    manifest = parse_manifest(data, folder=folder)
    assert manifest.name == "tiny" and set(manifest.files) == {"generator", "segmenter", "concepts", "directions"}
    for role in ("concepts", "directions"):
        entry = data["files"][role]
        assert entry["sha256"] == sha256_file(folder / entry["filename"]) == prepared.sha256[role]
        assert entry["size"] == (folder / entry["filename"]).stat().st_size
        assert {"hub": {"repo_id": REPO_ID, "filename": entry["filename"], "revision": "main"}} in entry["sources"]
    generator = Path(os.environ["GANPAINT_MODELS_DIR"]) / "tiny" / "generator.safetensors"
    assert data["files"]["generator"]["sha256"] == sha256_file(generator)
    # The folder's files are the ones load_model uses on this machine.
    derived = derived_dir("tiny", sha256_file(generator))
    assert sha256_file(derived / CONCEPTS_FILE) == prepared.sha256["concepts"]
    assert ConceptDictionary.load(folder / CONCEPTS_FILE).names() == ["sky", "tree"]

    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlicense: other\n") and "MIT (a test model)" in card
    assert all(f["sha256"] in card for f in data["files"].values())
    assert "## Concept dictionary" in card and "| sky |" in card and "## Latent directions" in card
    assert f'"repo_id": "{REPO_ID}"' in card


def test_a_stopped_prepare_resumes_after_the_finished_stage_and_says_so(isolated_env):
    _tiny_model()

    class Stop(Exception):
        pass

    def stop_at_directions(step, total, info):
        if info["stage"] == "directions":
            raise Stop

    with pytest.raises(Stop):
        prepare_model("tiny", cfg=QUICK, callback=stop_at_directions)
    concepts = next(Path(os.environ["GANPAINT_CACHE"]).glob(f"derived/tiny/*/{CONCEPTS_FILE}"))
    made_at = concepts.stat().st_mtime_ns

    events = []
    prepared = prepare_model("tiny", cfg=QUICK, callback=lambda s, t, info: events.append(info))
    assert prepared.stages["dissect"] == f"skipped: already here: {concepts}"
    assert prepared.stages["directions"] == "made"
    dissect = [e for e in events if e["stage"] == "dissect"]
    assert dissect == [{"stage": "dissect", "stage_index": 1, "stages": 4, "seconds_left": None,
                        "skipped": f"already here: {concepts}"}]  # nothing of the dissection ran again
    assert concepts.stat().st_mtime_ns == made_at
    assert sha256_file(prepared.folder / CONCEPTS_FILE) == sha256_file(concepts)


def test_push_then_a_fresh_start_downloads_the_prepared_files_without_dissecting(isolated_env, monkeypatch, caplog):
    _tiny_model()
    with HubStandIn({}, token=TOKEN) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        prepared = prepare_model("tiny", cfg=QUICK, repo_id=REPO_ID, push=True)
        assert prepared.stages["push"] == "pushed" and len(prepared.commit) == 40
        posts = [path for method, path in hub.requests if method == "POST"]
        assert posts[0] == "/api/repos/create" and posts[-1] == f"/api/models/{REPO_ID}/commit/main"
        assert {name for repo, name in hub.files if repo == REPO_ID} == {
            "model.json", "README.md", CONCEPTS_FILE, DIRECTIONS_FILE}
        assert hub.files[(REPO_ID, "model.json")] == (prepared.folder / "model.json").read_bytes()

        listing = {"repo_id": REPO_ID, "revision": prepared.commit, "sha256": prepared.manifest_sha256}
        _fresh_start(isolated_env / "second", monkeypatch, listing)
        model = load_model("tiny")
        derived = derived_dir("tiny", model.sha256["generator"])
        assert model.concepts == ConceptDictionary.load(prepared.folder / CONCEPTS_FILE)
        assert model.paths["concepts"] == derived / CONCEPTS_FILE
        assert sha256_file(derived / DIRECTIONS_FILE) == prepared.sha256["directions"]
        assert not (derived / "work").exists()  # no dissection ran: its work folder was never made
        assert ("GET", f"/{REPO_ID}/resolve/{prepared.commit}/{CONCEPTS_FILE}") in hub.requests
        again = prepare_model("tiny", cfg=QUICK)  # prepare on the second machine: nothing left to make
        assert again.stages["dissect"].startswith("skipped: already here")
        assert again.stages["directions"].startswith("skipped: already here")

        # A dictionary damaged on disk is found at the next load, logged once, removed and downloaded again:
        # the same dictionary as before, never the damaged one (a flipped unit id would edit other units).
        damaged = derived / CONCEPTS_FILE
        damaged.write_bytes(damaged.read_bytes().replace(b'"sky"', b'"sk_"'))
        caplog.clear()
        assert load_model("tiny").concepts == model.concepts
        assert caplog.text.count("does not match its sha256") == 1
        assert ConceptDictionary.read(damaged) == (model.concepts, True)

        # Files prepared for other weights are not used.
        _fresh_start(isolated_env / "other-weights", monkeypatch, listing, seed=1)
        assert load_model("tiny").concepts is None
        assert "was prepared for generator" in caplog.text

        # Bytes that differ from the prepared model.json's sha256 are refused, not used.
        tampered = prepared.folder / CONCEPTS_FILE
        hub.commits[REPO_ID][prepared.commit][CONCEPTS_FILE] = tampered.read_bytes().replace(b'"sky"', b'"sk_"')
        _fresh_start(isolated_env / "third", monkeypatch, listing)
        with pytest.raises(ChecksumMismatch, match="concepts"):
            load_model("tiny")
        assert not list(Path(os.environ["GANPAINT_CACHE"]).glob(f"derived/tiny/*/{CONCEPTS_FILE}"))


def test_an_unreachable_prepared_repo_leaves_the_model_loadable_without_those_files(isolated_env, monkeypatch, caplog):
    _tiny_model(prepared={"repo_id": REPO_ID, "revision": "main"})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_model("tiny")
    assert model.concepts is None
    assert "prepared files not downloaded" in caplog.text and "offline" in caplog.text


def test_a_prepared_entry_is_checked_when_the_manifest_is_read(tmp_path):
    base = json.loads(write_model_folder(tmp_path / "tiny", generator=tiny_generator()).read_text())
    ok = parse_manifest({**base, "prepared": {"repo_id": REPO_ID, "revision": "abc"}}, folder=tmp_path)
    assert (ok.prepared.repo_id, ok.prepared.revision, ok.prepared.sha256) == (REPO_ID, "abc", None)
    assert parse_manifest(base, folder=tmp_path).prepared is None
    for bad, message in (({"repo_id": "no-owner"}, "owner/name"), ({"repo_id": REPO_ID, "sha256": "x"}, "64"),
                         ({"repo_id": REPO_ID, "branch": "main"}, "repo_id, revision")):
        with pytest.raises(ManifestError, match=message):
            parse_manifest({**base, "prepared": bad}, folder=tmp_path)


def test_refusals_are_one_sentence_and_come_before_any_work(isolated_env, monkeypatch, capsys):
    _tiny_model()
    assert cli_main(["prepare", "--model", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert cli_main(["prepare", "--model", "tiny", "--push", "no-owner"]) == 2
    assert "must look like 'owner/name'" in capsys.readouterr().err
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert cli_main(["prepare", "--model", "tiny", "--push", REPO_ID]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "set HF_TOKEN" in err
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("GANPAINT_OFFLINE", "1")
    assert cli_main(["prepare", "--model", "tiny", "--push", REPO_ID]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "offline" in err
    assert not (Path(os.environ["GANPAINT_CACHE"]) / "derived").exists()  # nothing was loaded or made


@pytest.mark.slow
def test_cli_prepares_the_bundled_model_without_its_dictionary_then_skips_it_all(isolated_env):
    """The real dissection of synth-church's generator (64 px) with its own segmenter, small sample counts."""
    undissected_model(Path(os.environ["GANPAINT_MODELS_DIR"]))
    args = ("prepare", "--model", "synth-raw", "--samples", "40", "--batch", "20", "--ace-steps", "5",
            "--ace-batch", "4", "--causal-samples", "16", "--template-samples", "16", "--concepts", "sky,tree",
            "--directions-samples", "32", "--components", "2", "--threads", "1", "--device", "cpu")
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "prepare [1/4] dissect: tree 1/2" in first.stderr and "s left" in first.stderr
    assert "dissect     made" in first.stdout and "directions  made" in first.stdout
    folder = next(Path(os.environ["GANPAINT_CACHE"]).glob("derived/synth-raw/*/prepared"))
    assert ConceptDictionary.load(folder / CONCEPTS_FILE).names() == ["sky", "tree"]
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert "prepare [1/4] dissect: skipped (already here:" in second.stderr
    assert "prepare [2/4] directions: skipped (already here:" in second.stderr
    assert "ace-add" not in second.stderr and "directions: started" not in second.stderr


def test_a_background_preparation_can_be_made_quick_with_a_sample_cap(monkeypatch):
    from ganpaint_core.core.errors import GanpaintError
    from ganpaint_core.page.preparation import SAMPLES_ENV, prepare_work

    cfg = PrepareConfig.at_most(24)
    d = cfg.dissect
    assert (d.samples, d.batch, d.causal_samples, d.template_samples, cfg.directions_samples) == (24, 24, 24, 24, 24)
    assert d.ace_steps * d.ace_batch <= 24 and d.ace_steps >= 1
    assert PrepareConfig.at_most(10**6) == PrepareConfig()  # a cap above every default changes nothing
    with pytest.raises(GanpaintError, match="at least 2"):
        PrepareConfig.at_most(1)
    monkeypatch.setenv(SAMPLES_ENV, "lots")
    with pytest.raises(GanpaintError, match="GANPAINT_PREPARE_SAMPLES must be a whole number"):
        prepare_work("tiny", device="cpu")
