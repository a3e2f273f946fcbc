"""Dissection on tiny seeded generators, in this process: templates, wrong or broken dictionaries,
the work folder's key, refusals, and a StyleGAN2 run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ganpaint_core.analysis.dissect import DissectConfig
from ganpaint_core.analysis.dissect_run import run_dissection
from ganpaint_core.core.errors import ConceptDictionaryError, GanpaintError
from ganpaint_core.hub.concepts import ConceptDictionary
from ganpaint_core.hub.derived import CONCEPTS_FILE, derived_dir
from ganpaint_core.hub.fetch import sha256_file
from ganpaint_core.hub.loading import load_model
from tests.helpers import ColourSegmenter, tiny_generator, tiny_loaded_model, tiny_stylegan2_model, write_model_folder

QUICK = DissectConfig(samples=20, batch=10, ace_steps=3, ace_batch=4, causal_samples=10, keep=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # small convs run fastest single-threaded


def _tiny_model_folder(isolated_env: Path) -> Path:
    return write_model_folder(Path(os.environ["GANPAINT_MODELS_DIR"]) / "tiny", generator=tiny_generator())


def test_templates_survive_the_per_concept_run_and_its_merge(tmp_path):
    from dataclasses import replace

    keep_all = replace(QUICK, template_samples=16, template_margin=-2.0)  # every concept keeps its template
    path = run_dissection(tiny_loaded_model(), ColourSegmenter(), cfg=keep_all, concepts=["sky", "tree"],
                          out=tmp_path / "concepts.json")
    d = ConceptDictionary.load(path)
    assert set(d.templates) == {"sky", "tree"}
    assert d.template("sky").shape == (32, 2, 2)  # all units, over the add test's 1/16 square of the 8×8 grid
    assert not torch.equal(d.template("sky"), d.template("tree"))


def test_a_dictionary_made_for_other_weights_is_not_used_and_a_broken_one_says_what_to_do(isolated_env):
    manifest_path = _tiny_model_folder(isolated_env)
    d = tiny_loaded_model().concepts  # right name, but measured on another generator (32 units)
    other = derived_dir("tiny", "f" * 64) / CONCEPTS_FILE
    other.parent.mkdir(parents=True)
    d.save(other)
    assert load_model("tiny").concepts is None
    mine = derived_dir("tiny", sha256_file(manifest_path.parent / "generator.safetensors")) / CONCEPTS_FILE
    mine.parent.mkdir(parents=True)
    d.save(mine)  # 32 units for a 16-unit layer
    with pytest.raises(ConceptDictionaryError, match="delete .*concepts.json or run dissect again"):
        load_model("tiny")


def test_dissection_settings_and_code_key_the_work_folder():
    model, seg = tiny_loaded_model(), ColourSegmenter()
    run_dissection(model, seg, cfg=QUICK, concepts=["sky"])
    seg.calls = 0
    run_dissection(model, seg, cfg=QUICK, concepts=["sky"], seed=1)  # another seed: measured anew
    assert seg.calls > 0
    seg.calls = 0
    seg.fingerprint = "colour-v2"  # other segmenter weights: measured anew
    run_dissection(model, seg, cfg=QUICK, concepts=["sky"])
    assert seg.calls > 0


def test_dissection_refuses_what_cannot_work(tmp_path):
    model, seg = tiny_loaded_model(), ColourSegmenter()
    with pytest.raises(GanpaintError, match="no concept dome; it knows: sky, tree, brick; it cannot see"):
        run_dissection(model, seg, cfg=QUICK, concepts=["dome"])
    with pytest.raises(GanpaintError, match="would not fit tiny's edit layer layer4"):
        run_dissection(model, seg, cfg=QUICK, layer="layer5")
    with pytest.raises(GanpaintError, match="no layer 'layer99'"):
        run_dissection(model, seg, cfg=QUICK, layer="layer99")
    out = run_dissection(model, seg, cfg=QUICK, layer="layer5", concepts=["sky"], out=tmp_path / "l5.json")
    assert ConceptDictionary.load(out).layer == "layer5"


def test_dissection_runs_on_a_stylegan2_generator():
    model = tiny_stylegan2_model()
    model.sha256["generator"] = "1" * 64
    path = run_dissection(model, ColourSegmenter(), cfg=QUICK, concepts=["sky"])
    assert ConceptDictionary.load(path).layer == "convs.1"
