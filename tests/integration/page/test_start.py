"""The host's start model (flag, GANPAINT_MODEL, device), its background preparation, and the folders the
app writes to (persistent storage on a Space)."""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest
import torch

from ganpaint_core.core.errors import FileUnavailable
from ganpaint_core.core.storage import host_storage
from ganpaint_core.edit.setup_store import SetupStore
from ganpaint_core.hub.fetch import cache_dir
from ganpaint_core.hub.loading import load_model
from ganpaint_core.hub.manifest import load_manifest
from ganpaint_core.hub.registry import Registry
from ganpaint_core.page.catalog import EngineCatalog, NotDissected
from ganpaint_core.page.preparation import Preparation
from ganpaint_core.page.share import ShareStore
from ganpaint_core.page.start import BUNDLED_MODEL, GPU_MODEL, StartChoice, choose_start_model, open_start_model
from tests.helpers import make_engine, tiny_generator, undissected_model, wait_for, write_model_folder
from tests.hub_server import HubStandIn

CUDA = torch.device("cuda")  # only compared, never used: these tests run on the CPU


def registry_with_church(folder: Path, *, sources: list[dict] | None = None, write_file: bool = True) -> Registry:
    path = write_model_folder(folder / GPU_MODEL, generator=tiny_generator(), sources=sources, write_file=write_file)
    return Registry(manifests={GPU_MODEL: load_manifest(path)})


# -- the choice ---------------------------------------------------------------------------------------------------
def test_the_flag_wins_over_the_variable_which_wins_over_the_device(tmp_path):
    reg = registry_with_church(tmp_path)
    env = {"GANPAINT_MODEL": "progan-church"}
    assert choose_start_model(flag="synth-church", env=env, device=CUDA, registry=reg) == StartChoice(
        "synth-church", "--model")
    assert choose_start_model(flag=None, env=env, device="cpu", registry=reg) == StartChoice(
        "progan-church", "GANPAINT_MODEL=progan-church")


def test_cpu_stays_on_the_bundled_model_even_with_the_church_model_at_hand(tmp_path):
    choice = choose_start_model(flag=None, env={}, device="cpu", registry=registry_with_church(tmp_path))
    assert choice == StartChoice(BUNDLED_MODEL, "CPU: bundled model")


def test_cuda_starts_on_the_church_model_when_its_generator_is_here(tmp_path):
    choice = choose_start_model(flag=None, env={"GANPAINT_MODEL": ""}, device=CUDA,
                                registry=registry_with_church(tmp_path))
    assert choice == StartChoice(GPU_MODEL, f"CUDA device and {GPU_MODEL} available")


def test_cuda_starts_on_the_church_model_when_the_hub_answers(tmp_path):
    data = b"generator bytes"
    source = [{"hub": {"repo_id": "owner/church", "filename": "generator.safetensors", "revision": "main"}}]
    reg = registry_with_church(tmp_path, sources=source, write_file=False)
    with HubStandIn({("owner/church", "generator.safetensors"): data}) as hub, pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_ENDPOINT", hub.endpoint)
        choice = choose_start_model(flag=None, env={}, device=CUDA, registry=reg)
        assert choice.name == GPU_MODEL and choice.reason.endswith("available")
        assert hub.requests and all(method == "HEAD" for method, _ in hub.requests)  # asked, not downloaded


def test_cuda_stays_on_the_bundled_model_when_the_church_model_cannot_be_had(tmp_path, monkeypatch):
    monkeypatch.setenv("GANPAINT_OFFLINE", "1")
    source = [{"hub": {"repo_id": "owner/church", "filename": "generator.safetensors", "revision": "main"}}]
    reg = registry_with_church(tmp_path, sources=source, write_file=False)
    choice = choose_start_model(flag=None, env={}, device=CUDA, registry=reg)
    assert choice.name == BUNDLED_MODEL
    assert choice.reason.startswith(f"CUDA device, but {GPU_MODEL} unavailable") and "offline" in choice.reason


def test_models_and_doctor_say_which_model_the_host_chose_and_why(capsys, monkeypatch):
    from ganpaint_core.cli.doctor import diagnose, format_report
    from ganpaint_core.cli.main import main

    monkeypatch.setenv("GANPAINT_MODEL", "synth-church")
    assert main(["models", "--no-probe", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["start"] == {"name": "synth-church",
                                                           "reason": "GANPAINT_MODEL=synth-church"}
    monkeypatch.delenv("GANPAINT_MODEL")
    assert main(["models", "--no-probe"]) == 0
    assert "start: this host starts on synth-church (CPU: bundled model)" in capsys.readouterr().out
    report = format_report(diagnose())
    assert "start model: synth-church (CPU: bundled model)" in report
    assert "storage: " in report and "kept across restarts" in report


def test_the_page_labels_the_host_s_choice(tmp_path):
    from ganpaint_core.page.page import EditPage

    engine = make_engine()
    page = EditPage(engine, out_dir=tmp_path, start=StartChoice(engine.model.manifest.name, "GANPAINT_MODEL=x"))
    choices = page.model_choices()
    assert any(label.endswith("· host's start") and value == page.default_model for label, value in choices.options)
    assert "GANPAINT_MODEL=x" in choices.info


# -- opening it: served at once, or prepared in the background ------------------------------------------------------
def test_on_a_cpu_a_model_without_dictionary_is_not_prepared_and_the_bundled_one_serves(isolated_env):
    undissected_model(isolated_env / "models")
    model, prep = open_start_model(StartChoice("synth-raw", "GANPAINT_MODEL=synth-raw"), device="cpu")
    assert model.manifest.name == BUNDLED_MODEL and model.concepts is not None
    assert not prep.ready and prep.model_name == "synth-raw"
    assert "no GPU here" in prep.status() and "prepare --model synth-raw" in prep.status()
    assert prep.start() is prep and not prep.running  # blocked: never starts


def test_a_chosen_model_that_cannot_be_had_leaves_the_bundled_one_serving_with_why(isolated_env, monkeypatch):
    monkeypatch.setenv("GANPAINT_OFFLINE", "1")
    source = [{"hub": {"repo_id": "owner/church", "filename": "generator.safetensors", "revision": "main"}}]
    write_model_folder(isolated_env / "models" / "far-church", generator=tiny_generator(), sources=source,
                       write_file=False)
    served, prep = open_start_model(StartChoice("far-church", "GANPAINT_MODEL=far-church"), device="cpu")
    assert served.manifest.name == BUNDLED_MODEL and not prep.ready
    assert prep.status().startswith("far-church is not ready: it cannot be loaded here (far-church: the generator")
    assert "offline mode is on" in prep.status() and prep.status().endswith("Editing on synth-church.")
    with pytest.raises(FileUnavailable):  # asked for by --model: an error, as before
        open_start_model(StartChoice("far-church", "--model"), device="cpu")


def test_on_zerogpu_nothing_is_prepared_in_the_background(isolated_env, monkeypatch):
    import types

    monkeypatch.setitem(sys.modules, "spaces", types.ModuleType("spaces"))  # a ZeroGPU Space has the package
    undissected_model(isolated_env / "models")

    def on_cpu(name, device):  # "cuda" is ZeroGPU's emulation there; here the model loads on the CPU
        return load_model(name, device="cpu")
    served, prep = open_start_model(StartChoice("synth-raw", "x"), device=CUDA, load=on_cpu)
    assert served.manifest.name == BUNDLED_MODEL and not prep.ready
    assert "ZeroGPU lends the GPU per call" in prep.status() and "--push" in prep.status()


def test_a_model_with_its_dictionary_serves_at_once_on_a_cpu(isolated_env):
    served, prep = open_start_model(StartChoice(BUNDLED_MODEL, "CPU: bundled model"), device="cpu")
    assert served.manifest.name == BUNDLED_MODEL and prep.ready and prep.status() == ""


def test_a_model_with_every_file_needs_nothing(tmp_path):
    engine = make_engine()
    name = engine.model.manifest.name
    prep = Preparation.nothing_to_do(name)
    assert prep.ready and prep.status() == "" and prep.model_name == name


def stepped_work(gate: threading.Event, log: list[str]):
    """A real, slow preparation step that the test drives: two stages, the second waits for ``gate``."""

    def work(callback):
        callback(1, 2, {"stage": "dissecting"})
        log.append("dissecting")
        callback(2, 2, {"stage": "dissecting"})
        callback(1, 4, {"stage": "directions"})
        assert gate.wait(10), "the test never opened the gate"
        callback(4, 4, {"stage": "directions"})
        return "made"

    return work


def test_a_preparation_reports_stage_and_progress_then_ready():
    gate, log = threading.Event(), []
    prep = Preparation("synth-raw", serving=BUNDLED_MODEL, lacking=("concept dictionary",),
                       work=stepped_work(gate, log), poll_s=0.02)
    assert "will be prepared" in prep.status() and not prep.ready
    prep.start()
    line = wait_for(lambda: next((s for s in [prep.status()] if "directions: 1/4" in s), None), timeout=10)
    assert line.startswith("Preparing synth-raw (directions: 1/4") and "Meanwhile editing on synth-church" in line
    assert prep.running and not prep.ready
    gate.set()
    assert prep.wait(10) and prep.ready and log == ["dissecting"]
    assert "is prepared" in prep.status()


def test_a_preparation_that_fails_says_why_once_and_the_page_keeps_its_model():
    def offline(callback):
        callback(0, 1, {"stage": "segmenter"})
        raise FileUnavailable("the segmenter is not in the cache, and offline mode is on")

    prep = Preparation("synth-raw", serving=BUNDLED_MODEL, lacking=("concept dictionary",), work=offline).start()
    assert prep.wait(10) and not prep.ready
    assert prep.status() == ("synth-raw could not be prepared here: the segmenter is not in the cache, and offline "
                             "mode is on. Editing on synth-church.")


@pytest.mark.slow
def test_on_a_gpu_host_the_model_is_prepared_in_the_background_then_loads_ready(isolated_env):
    """The real dissection (tiny settings) as the preparation's work; the catalog then opens the model."""
    from ganpaint_core.analysis.dissect import DissectConfig
    from ganpaint_core.analysis.dissect_run import run_dissection
    from ganpaint_core.analysis.segmenters import segmenter_for

    undissected_model(isolated_env / "models")

    def on_cpu(name, device):  # a "GPU" host, on this CPU
        return load_model(name, device="cpu")

    def dissect(callback):
        model = load_model("synth-raw", device="cpu")
        run_dissection(model, segmenter_for(model, device="cpu"), concepts=["tree", "sky"],
                       cfg=DissectConfig(samples=16, batch=8, ace_steps=3, ace_batch=2, causal_samples=4,
                                         template_samples=8), callback=callback)

    served, prep = open_start_model(StartChoice("synth-raw", "x"), device=CUDA, load=on_cpu, work=dissect)
    assert served.manifest.name == BUNDLED_MODEL and prep.lacking[0] == "concept dictionary"
    catalog = EngineCatalog(make_engine(), device="cpu")
    with pytest.raises(NotDissected):
        catalog.engine("synth-raw")  # asked before it is ready: not editable yet
    prep.start()
    assert prep.wait(120) and prep.ready, prep.status()
    assert catalog.engine("synth-raw").concepts.names()  # the dictionary made in the background is picked up


# -- where the files go -----------------------------------------------------------------------------------------------
def test_a_space_with_persistent_storage_keeps_cache_shares_and_setups_there(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.delenv("GANPAINT_CACHE")
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("SPACE_ID", "someone/ganpaint")
    storage = host_storage(space_data=data)
    assert storage.persistent and storage.root == data / "ganpaint" and storage.hub_cache == data / "huggingface/hub"
    monkeypatch.setenv("GANPAINT_DATA_DIR", str(data))  # the same place, named (how tests and Docker hosts say it)
    assert cache_dir() == data / "ganpaint"
    assert ShareStore.default().folder == data / "ganpaint" / "shares"
    store = SetupStore.default()
    assert store is not None and store.folder.is_relative_to(data)


def test_a_space_without_persistent_storage_says_its_files_go_at_restart(tmp_path):
    storage = host_storage(env={"SPACE_ID": "someone/ganpaint"}, space_data=tmp_path / "absent")
    assert not storage.persistent and "emptied at every restart" in storage.reason and storage.hub_cache is None
    assert host_storage(env={}, space_data=tmp_path).persistent  # a workstation's cache stays
    explicit = host_storage(env={"GANPAINT_CACHE": str(tmp_path / "c"), "SPACE_ID": "x"}, space_data=tmp_path / "no")
    assert explicit.root == tmp_path / "c" and not explicit.persistent
