"""Segmenters behind one interface: the bundled scene segmenter, and the SegFormer adapter on a tiny
random SegFormer (preprocessing, class mapping, dissection with it)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from ganpaint_core.analysis.segmenters import ADE20K_CONCEPTS, SegformerADE20KSegmenter, load_scene_segmenter
from ganpaint_core.core.errors import GanpaintError
from tests.helpers import ADE_NAMES, needs_transformers, tiny_segformer


def _force_class(seg: SegformerADE20KSegmenter, ade_name: str) -> None:
    """Make the classifier answer one ADE class everywhere."""
    head = seg.model.decode_head.classifier
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-10.0)
        head.bias[ADE_NAMES.index(ade_name)] = 10.0


def test_synth_church_segmenter_labels_renders_with_the_scene_concepts():
    from ganpaint_core.synth.scenes import LABELS, render_batch
    from ganpaint_core.training.segmenter import to_unit_range

    seg = load_scene_segmenter("synth-church")
    assert seg.label_names == LABELS and seg.concepts == LABELS[1:] and seg.missing_concepts == ()
    assert seg.fingerprint.startswith("synth-church-unet:")
    images, labels = render_batch(range(5_000_000, 5_000_004), resolution=64)
    predicted = seg.segment(to_unit_range(images))
    assert predicted.shape == (4, 64, 64) and predicted.dtype == torch.int64
    assert (predicted.numpy() == labels).mean() > 0.9


def test_segformer_without_transformers_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name, *a))
    with pytest.raises(GanpaintError, match=r"pip install \.\[dissect\]"):
        load_scene_segmenter("segformer-ade20k")


@needs_transformers
def test_segformer_adapter_preprocesses_like_its_processor_and_maps_classes_to_concepts(tmp_path):
    from PIL import Image
    from transformers import SegformerImageProcessor

    seg = load_scene_segmenter("segformer-ade20k", source=tiny_segformer(tmp_path / "sf"))
    assert seg.label_names[0] == "other" and set(seg.label_names[1:]) == set(ADE20K_CONCEPTS)
    assert seg.missing_concepts == ("cloud", "brick", "dome")
    assert seg.concepts == ("tree", "grass", "door", "sky", "building", "tower", "window")

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    theirs = SegformerImageProcessor.from_pretrained(tmp_path / "sf")(Image.fromarray(photo), return_tensors="pt")
    ours = seg.preprocess(torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 127.5 - 1)
    assert ours.shape == theirs["pixel_values"].shape == (1, 3, 64, 64)
    # Pillow's bilinear resize rounds to uint8 and filters slightly differently; the normalisation must match.
    assert (ours - theirs["pixel_values"]).abs().mean() < 0.05

    images = torch.rand(3, 3, 40, 56) * 2 - 1
    for ade, concept in (("palm", "tree"), ("windowpane", "window"), ("sky", "sky"), ("floor", "other")):
        _force_class(seg, ade)
        labels = seg.segment(images)
        assert labels.shape == (3, 40, 56) and labels.dtype == torch.int64
        assert (labels == seg.label_names.index(concept)).all(), (ade, concept)


@needs_transformers
def test_dissection_runs_with_the_segformer_adapter(tmp_path):
    from ganpaint_core.analysis.dissect import DissectConfig
    from ganpaint_core.analysis.dissect_run import run_dissection
    from ganpaint_core.hub.concepts import ConceptDictionary
    from tests.helpers import tiny_loaded_model, tiny_segformer

    seg = load_scene_segmenter("segformer-ade20k", source=tiny_segformer(tmp_path / "sf", size=32))
    path = run_dissection(tiny_loaded_model(), seg, concepts=["sky", "tree"],
                          cfg=DissectConfig(samples=8, batch=8, ace_steps=2, ace_batch=2, causal_samples=8, keep=4))
    assert ConceptDictionary.load(path).names() == ["sky", "tree"]
