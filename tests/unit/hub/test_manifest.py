from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ganpaint_core.core.errors import GanpaintError, ManifestError
from ganpaint_core.hub.manifest import load_manifest, parse_manifest
from ganpaint_core.hub.registry import Registry, bundled_weights_dir
from tests.helpers import tiny_generator, write_model_folder


@pytest.fixture
def valid(tmp_path: Path) -> dict:
    path = write_model_folder(tmp_path / "tiny", generator=tiny_generator())
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.pop("edit_layer"), "missing key 'edit_layer'"),
        (lambda m: m.update(family="biggan"), "'family' must be one of"),
        (lambda m: m.update(resolution=100), "power of two"),
        (lambda m: m.update(resolution="256"), "'resolution' must be int"),
        (lambda m: m.update(fine_layers=["layer4"]), "cannot also be a fine layer"),
        (lambda m: m["files"].pop("generator"), "must name a 'generator'"),
        (lambda m: m["files"]["generator"].update(sha256="abc"), "64 lowercase hex"),
        (lambda m: m["files"]["generator"].update(sources=[]), "'sources' is empty"),
        (lambda m: m["files"]["generator"].update(sources=[{"path": "../../etc/passwd"}]), "inside the model folder"),
        (lambda m: m["files"]["generator"].update(sources=[{"url": "ftp://x/y"}]), "https://"),
        (lambda m: m["files"]["generator"].update(sources=[{"hub": {"filename": "g.pt"}}]), "exactly one of 'repo_id'"),
        (lambda m: m["files"]["generator"].update(sources=[{"hub": {"repo_id": "no-slash", "filename": "g"}}]), "owner/name"),
        (lambda m: m["files"]["generator"].update(sha256=None), "needs its 'sha256'"),
        (lambda m: m["files"]["generator"].update(format="pickle"), "'format' must be one of"),
        (lambda m: m["files"].update(weights={}), "unknown role"),
        (lambda m: m.update(colour="blue"), "unknown keys"),
    ],
)
def test_invalid_manifests_are_refused_with_the_reason(valid, tmp_path, change, message):
    data = copy.deepcopy(valid)
    change(data)
    with pytest.raises(ManifestError, match=message):
        parse_manifest(data, folder=tmp_path)


def test_name_must_match_folder(tmp_path):
    path = write_model_folder(tmp_path / "tiny", generator=tiny_generator(), name="other")
    with pytest.raises(ManifestError, match="make them equal"):
        load_manifest(path)


def test_unreadable_json_is_a_manifest_error(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(tmp_path / "broken" / "model.json")


def test_registry_finds_bundled_and_user_models_and_reports_broken_ones(isolated_env):
    user = isolated_env / "models"
    write_model_folder(user / "tiny", generator=tiny_generator())
    (user / "broken").mkdir(parents=True)
    (user / "broken" / "model.json").write_text("[]")
    reg = Registry.scan()
    assert "progan-church" in reg.names() and reg.get("progan-church").bundled
    assert "tiny" in reg.names() and not reg.get("tiny").bundled
    assert any("broken" in p for p in reg.problems)
    with pytest.raises(GanpaintError, match="known models: .*progan-church"):
        reg.get("nope")


def test_user_manifest_overrides_a_bundled_one(isolated_env):
    write_model_folder(isolated_env / "models" / "progan-church", generator=tiny_generator())
    assert Registry.scan().get("progan-church").description == "tiny test model"


def test_a_broken_user_manifest_does_not_silently_yield_to_the_bundled_one(isolated_env):
    (isolated_env / "models" / "progan-church").mkdir(parents=True)
    (isolated_env / "models" / "progan-church" / "model.json").write_text("{not json")
    reg = Registry.scan()
    assert "progan-church" not in reg.names()
    with pytest.raises(GanpaintError, match="your manifest cannot be read .*not valid JSON.*remove its folder"):
        reg.get("progan-church")


def test_every_bundled_manifest_is_valid():
    paths = sorted(bundled_weights_dir().glob("*/model.json"))
    assert paths, "no bundled manifests found"
    for path in paths:
        load_manifest(path, bundled=True)
