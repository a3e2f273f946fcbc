"""Latent directions found on the bundled synth-church (few samples): what they move, their cache
file, StyleGAN2's W, and the ``directions`` command."""
from __future__ import annotations

import json
import logging

import pytest
import torch

from ganpaint_core.analysis.direction_fits import observe
from ganpaint_core.analysis.directions import (
    Directions,
    direction_metrics,
    directions_path,
    find_directions,
    forget_cached_directions,
    load_directions,
)
from ganpaint_core.analysis.segmenters import segmenter_for
from ganpaint_core.hub.loading import LoadedModel, load_model
from tests.helpers import TINY_STYLEGAN2, run_cli
from tests.helpers import made_up_directions as made_up


@pytest.fixture(scope="module")
def church():
    model = load_model("synth-church")
    return model, segmenter_for(model)


@pytest.fixture(scope="module")
def church_dirs(church):
    model, seg = church
    return find_directions(model, samples=256, components=2, segmenter=seg)


@pytest.fixture(autouse=True)
def fresh_memory():
    forget_cached_directions()
    yield
    forget_cached_directions()


def _share(model, seg, latents, concept):
    shares, _ = observe(model.generator, seg, latents)
    return float(shares[:, seg.label_names.index(concept)].mean())


def test_church_directions_have_every_concept_then_components(church_dirs):
    assert church_dirs.space == "z" and church_dirs.skipped == {}
    assert church_dirs.names() == ["sky", "cloud", "grass", "tree", "brick", "dome", "door", "pc1", "pc2"]
    assert church_dirs.get("pc1").kind == "pca" and church_dirs.get("sky").label == "more sky"
    ev = church_dirs.explained_variance_top10
    assert len(ev) == 10 and all(a >= b > 0 for a, b in zip(ev, ev[1:])) and sum(ev) < 1
    std = torch.stack([d.vector for d in church_dirs.directions.values()]).norm(dim=1)
    assert torch.allclose(std, torch.ones_like(std), atol=0.05)  # z ~ N(0, I): one std is unit length


def test_sky_direction_raises_the_sky_share(church, church_dirs):
    model, seg = church
    z = model.generator.sample_latents(8, seed=5)
    more = _share(model, seg, church_dirs.shift(z, "sky", 2), "sky")
    less = _share(model, seg, church_dirs.shift(z, "sky", -2), "sky")
    assert more > less + 0.05, (less, more)


def test_metrics_on_the_found_directions(church, church_dirs):
    model, seg = church
    m = direction_metrics(model, church_dirs, samples=6, amounts=(-3, 0, 3), segmenter=seg)
    assert set(m["directions_spearman"]) == set(church_dirs.names(kind="supervised"))
    assert m["directions_spearman"]["sky"] == 1.0 and m["directions_spearman"]["grass"] == 1.0
    low, high = m["directions_share_range"]["sky"]
    assert high > low
    assert all(0 <= v <= 1 for v in m["directions_max_side_effect"].values())
    assert m["directions_max_side_effect_on"]["sky"] in {"cloud", "grass", "tree", "brick", "dome", "door"}
    assert all(0 <= v <= 1 for v in m["directions_unmoved_samples"].values())
    assert m["pca_explained_variance_top10"] == [round(v, 4) for v in church_dirs.explained_variance_top10]


@pytest.mark.slow  # over 4 s: the full suite runs it, the fast lane does not
def test_load_writes_the_cache_file_and_reuses_it(church, isolated_env):
    model, _ = church
    calls = []
    first = load_directions(model, samples=64, components=1, callback=lambda s, t, i: calls.append(i["stage"]))
    path = directions_path(model)
    assert calls and set(calls) == {"directions"}
    assert path.is_file() and path.is_relative_to(isolated_env / "cache" / "derived" / "synth-church")
    mtime = path.stat().st_mtime_ns
    assert load_directions(model, samples=64, components=1, callback=lambda *a: calls.append("again")) is first
    forget_cached_directions()  # a new process: only the file is left
    again = load_directions(model, samples=64, components=1, callback=lambda *a: calls.append("again"))
    assert "again" not in calls and path.stat().st_mtime_ns == mtime
    assert again.names() == first.names() and torch.equal(again.get("sky").vector, first.get("sky").vector)
    assert again.settings == first.settings and again.generator_sha256 == model.sha256["generator"]
    other = load_directions(model, samples=80, components=1, callback=lambda *a: calls.append("other"))
    assert "other" in calls and other.settings["samples"] == 80  # other settings: found again


def test_corrupt_or_foreign_cache_file_is_found_again(church, caplog):
    model, _ = church
    path = directions_path(model)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not safetensors")
    calls = []
    with caplog.at_level(logging.WARNING, logger="ganpaint_core.analysis.directions"):
        found = load_directions(model, samples=64, components=1, callback=lambda *a: calls.append(1))
    assert calls and "not a readable safetensors file" in caplog.text
    assert Directions.load(path).settings == found.settings  # rewritten
    forget_cached_directions()
    foreign = made_up(dim=model.generator.latent_size)
    foreign.save(path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ganpaint_core.analysis.directions"):
        load_directions(model, samples=64, components=1)
    assert "was made for generator abababababab" in caplog.text
    assert Directions.load(path).generator_sha256 == model.sha256["generator"]


def test_stylegan2_directions_live_in_w_and_stay_in_memory(church, isolated_env):
    from ganpaint_core.models.stylegan2 import StyleGAN2Generator

    church_model, _ = church
    torch.manual_seed(0)
    g = StyleGAN2Generator(TINY_STYLEGAN2).eval().requires_grad_(False)  # 64 px: the church segmenter reads it
    model = LoadedModel(manifest=church_model.manifest, generator=g, concepts=None, device=torch.device("cpu"),
                        paths={"segmenter": church_model.paths["segmenter"]})  # no sha256: built in memory
    dirs = load_directions(model, samples=32, components=2)
    assert dirs.space == "w" and dirs.generator_sha256 == "" and directions_path(model) is None
    assert load_directions(model, samples=32, components=2) is dirs
    assert not (isolated_env / "cache" / "derived").exists()
    assert dirs.names(kind="pca") == ["pc1", "pc2"] and dirs.get("pc1").vector.shape == (g.latent_size,)
    wplus = g.to_wplus(g.mapping(g.sample_latents(2, seed=0)))  # [2, n, L]
    moved = dirs.shift(wplus, "pc1", 1.0)
    assert torch.allclose(moved - wplus, dirs.get("pc1").vector.expand_as(wplus), atol=1e-6)


@pytest.mark.slow  # over 5 s: the full suite runs it, the fast lane does not
def test_cli_finds_then_reads_back(tmp_path):
    out = tmp_path / "dirs.json"
    args = ("directions", "--model", "synth-church", "--samples", "32", "--components", "1", "--device", "cpu")
    result = run_cli(*args, "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "more sky" in result.stdout and "found in" in result.stdout and "directions.safetensors" in result.stdout
    table = json.loads(out.read_text())
    assert [r["name"] for r in table["directions"]][-1] == "pc1" and table["space"] == "z"
    again = run_cli(*args)
    assert again.returncode == 0 and "read from the cache" in again.stdout


def test_cli_unknown_model_is_one_line():
    result = run_cli("directions", "--model", "nope")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == result.stderr.strip().splitlines()[0] and "unknown model 'nope'" in result.stderr
