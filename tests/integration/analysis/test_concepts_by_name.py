"""Concepts by name: the segmenters' text interface, CLIPSeg's adapter (tiny random weights) and dissect_concepts.

Only tiny random CLIPSeg weights run here; the real checkpoint (CIDAS/clipseg-rd64-refined) cannot be
downloaded in the test environment. Correctness of the text route is checked with the bundled synth-church
segmenter put behind the same text interface: a concept named by text must give what its label gives.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from ganpaint_core.analysis.dissect import DissectConfig, concept_seed
from ganpaint_core.analysis.dissect_run import run_dissection
from ganpaint_core.analysis.scene_segmenter import CompositeSegmenter, ConceptView, concept_names
from ganpaint_core.analysis.segmenters import load_scene_segmenter
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.files import write_json
from ganpaint_core.hub.concepts import ConceptDictionary
from ganpaint_core.hub.derived import CONCEPTS_FILE, derived_dir, report_path
from ganpaint_core.hub.loading import load_model

HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
needs_transformers = pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers not installed (pip install .[dissect])")
pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = DissectConfig(samples=16, batch=8, ace_steps=2, ace_batch=2, causal_samples=8, template_samples=8, keep=8)
TINY = DissectConfig(samples=8, batch=8, ace_steps=2, ace_batch=2, causal_samples=4, template_samples=4, keep=8)


def tiny_clipseg(folder: Path, *, size: int = 32) -> Path:
    """A randomly initialised CLIPSeg (two-layer CLIP towers, 16 wide) with a letters-only CLIP tokenizer and a
    ViT image processor, saved as a Hub checkpoint folder is laid out."""
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation, CLIPTokenizer, ViTImageProcessor

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {t: i for i, t in enumerate([*letters, *(c + "</w>" for c in letters), "<|startoftext|>", "<|endoftext|>"])}
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)  # no merges: one token per letter
    bos, eos = vocab["<|startoftext|>"], vocab["<|endoftext|>"]
    config = CLIPSegConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 32, "bos_token_id": bos,
                     "eos_token_id": eos, "pad_token_id": eos},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": size, "patch_size": 8},
        projection_dim=8, extract_layers=[0, 1], reduce_dim=8, decoder_num_attention_heads=2,
        decoder_intermediate_size=16)
    torch.manual_seed(0)
    CLIPSegForImageSegmentation(config).eval().save_pretrained(folder)
    ViTImageProcessor(size={"height": size, "width": size}, image_mean=[0.485, 0.456, 0.406],
                      image_std=[0.229, 0.224, 0.225]).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clipseg_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HAS_TRANSFORMERS:
        pytest.skip("transformers not installed (pip install .[dissect])")
    return tiny_clipseg(tmp_path_factory.mktemp("clipseg"))


@pytest.fixture(scope="module")
def synth_segmenter():
    return load_scene_segmenter("synth-church")


def test_names_are_normalised_and_refused_when_not_words():
    assert concept_names(" Dome,  stained   Glass ,dome,") == ["dome", "stained glass"]
    assert concept_names(["Cloud"]) == ["cloud"]
    for bad in ("", " , ", "a/b", "x" * 60):
        with pytest.raises(GanpaintError, match="concept"):
            concept_names(bad)


def test_a_concepts_seed_follows_its_name_and_the_shipped_names_keep_theirs():
    # The shipped synth-church dictionary was measured with 1000 × (label id + 1): those seeds are kept.
    assert [concept_seed(c) for c in ("sky", "cloud", "door")] == [2000, 3000, 8000]
    assert concept_seed("statue") == concept_seed("statue") != concept_seed("statues")
    assert concept_seed("statue") % 1000 == 0 and concept_seed("statue") > 8000


@needs_transformers
def test_clipseg_adapter_is_the_library_forward_with_gradients_and_overlapping_masks(clipseg_folder):
    from PIL import Image
    from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

    seg = load_scene_segmenter("clipseg", source=clipseg_folder)
    assert seg.open_vocabulary and seg.knows("anything at all") and seg.missing_concepts == ()
    assert seg.fingerprint.startswith("clipseg:") and "threshold=0.5" in seg.fingerprint
    # Preprocessing in torch matches the checkpoint's own processor (Pillow's resize rounds to uint8).
    photo = torch.randint(0, 256, (40, 48, 3), dtype=torch.uint8)
    processor = CLIPSegProcessor.from_pretrained(clipseg_folder)
    theirs = processor(text=["dome", "a statue"], images=[Image.fromarray(photo.numpy())] * 2, padding=True,
                       return_tensors="pt")
    ours = seg.preprocess(photo.permute(2, 0, 1)[None].float() / 127.5 - 1)
    assert ours.shape == theirs["pixel_values"][:1].shape == (1, 3, 32, 32)
    assert (ours - theirs["pixel_values"][:1]).abs().mean() < 0.05
    # The adapter's forward (image encoder once, with gradients) equals transformers' forward, per name.
    model = CLIPSegForImageSegmentation.from_pretrained(clipseg_folder).eval()
    images = torch.rand(3, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        ref = model(input_ids=theirs["input_ids"].repeat(3, 1), attention_mask=theirs["attention_mask"].repeat(3, 1),
                    pixel_values=seg.preprocess(images).repeat_interleave(2, dim=0)).logits  # [6, 32, 32]
    images.requires_grad_(True)
    logits = seg.logits(images, ["dome", "a statue"])
    assert logits.shape == (3, 2, 32, 32)
    torch.testing.assert_close(logits.detach().reshape(6, 32, 32), ref, rtol=1e-4, atol=1e-5)
    seg.text_probabilities(images, ["dome"]).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0  # the causal search can descend through it
    masks = seg.segment_text(images.detach(), ["dome", "a statue"])
    assert masks.shape == (3, 2, 64, 64) and masks.dtype == torch.bool
    p = seg.text_probabilities(images.detach(), ["dome", "a statue"])
    assert torch.equal(masks, p > 0.5)  # one sigmoid mask per name: they may overlap


def test_the_bundled_segmenter_answers_by_name_as_by_label(synth_segmenter):
    from ganpaint_core.synth.scenes import render_batch
    from ganpaint_core.training.segmenter import to_unit_range

    seg = synth_segmenter
    images = to_unit_range(render_batch(range(7_000_000, 7_000_003), resolution=64)[0])
    labels = seg.segment(images)
    masks = seg.segment_text(images, ["dome", "cloud"])
    assert torch.equal(masks[:, 0], labels == seg.label_names.index("dome"))
    assert torch.equal(masks[:, 1], labels == seg.label_names.index("cloud"))
    assert seg.measurer("dome") is seg  # one of its labels: measured as by label
    with pytest.raises(GanpaintError, match="no concept statue; it knows: sky, cloud"):
        seg.measurer("statue")
    view = ConceptView(seg, "dome")
    assert view.label_names == ("other", "dome") and view.fingerprint != seg.fingerprint
    assert torch.equal(view.segment(images), masks[:, 0].long())
    torch.testing.assert_close(view.probabilities(images)[:, 1],
                               seg.probabilities(images)[:, seg.label_names.index("dome")])


def test_a_concept_dissected_by_name_gives_the_units_it_gives_by_label(synth_segmenter, tmp_path):
    model = load_model("synth-church")
    by_label = ConceptDictionary.load(run_dissection(model, synth_segmenter, concepts=["dome"], cfg=TINY,
                                                     out=tmp_path / "label.json"))
    # The same segmenter through its text interface: a two-label view found by name, as CLIPSeg's concepts are.
    by_name = ConceptDictionary.load(run_dissection(model, ConceptView(synth_segmenter, "dome"), cfg=TINY,
                                                    out=tmp_path / "name.json"))
    assert by_name.concepts["dome"] == by_label.concepts["dome"]  # same units, same ACE scores
    assert by_name.removal["dome"] == by_label.removal["dome"]
    assert by_name.levels == by_label.levels
    a = json.loads(report_path(tmp_path / "label.json").read_text())
    b = json.loads(report_path(tmp_path / "name.json").read_text())
    assert a["best_iou"] == b["best_iou"] and a["units_iou_010"] == b["units_iou_010"]  # same IoU figures
    assert b["segmenter"]["measured_by"] == {"dome": "synth-church:dome"}


def test_a_composite_sends_each_name_to_the_segmenter_that_has_it(synth_segmenter):
    from tests.helpers import ColourSegmenter

    closed, text = ColourSegmenter(), synth_segmenter  # the U-Net stands in for an open-vocabulary segmenter
    seg = CompositeSegmenter(closed, text)
    assert seg.measurer("sky") is closed  # the closed set has sky
    view = seg.measurer("dome")
    assert isinstance(view, ConceptView) and view.base is text and view.label_names == ("other", "dome")
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    masks = seg.segment_text(images, ["sky", "dome"])
    assert torch.equal(masks[:, 0], closed.segment(images) == 1)
    assert torch.equal(masks[:, 1], text.segment(images) == text.label_names.index("dome"))
    assert seg.missing_concepts == () and seg.knows("door") and not seg.knows("statue")
    with pytest.raises(GanpaintError, match="no concept statue"):
        seg.measurer("statue")


@needs_transformers
def test_a_typed_concept_is_added_to_synth_churchs_dictionary_cached_and_reloaded(clipseg_folder, synth_segmenter):
    from ganpaint_core.analysis.concepts_by_name import dissect_concepts, missing_concepts

    model = load_model("synth-church")
    shipped = model.concepts
    assert missing_concepts(model) == [] and missing_concepts(model, "statue, Dome") == ["statue"]
    clipseg = load_scene_segmenter("clipseg", source=clipseg_folder)
    events = []
    d = dissect_concepts(model, "Statue, dome", segmenter=synth_segmenter, text_segmenter=clipseg, cfg=TINY,
                         callback=lambda s, t, info: events.append(info))
    assert d.names() == [*shipped.names(), "statue"]  # dome is shipped: kept, not measured again
    assert d.extends(shipped) and len(d.top_units("statue", 5)) == 5
    assert {e.get("concept") for e in events if e.get("stage") in ("ace-add", "ace-remove")} == {"statue"}
    path = derived_dir("synth-church", model.sha256["generator"]) / CONCEPTS_FILE
    report = json.loads(report_path(path).read_text())
    assert report["added"] == ["statue"] and report["segmenter"]["measured_by"] == {"statue": "clipseg:statue"}

    again = load_model("synth-church")  # the derived extension is used in place of the shipped file
    assert again.concepts == d and again.paths["concepts"] == path
    assert missing_concepts(again, ["statue", "angel"]) == ["angel"]
    events.clear()
    assert dissect_concepts(again, ["statue"], segmenter=synth_segmenter, text_segmenter=clipseg, cfg=QUICK,
                            callback=lambda s, t, info: events.append(info)) is again.concepts  # cached: nothing run
    assert [e["stage"] for e in events] == ["concept"]
    with pytest.raises(GanpaintError, match="manifest ships dome"):
        dissect_concepts(again, ["dome"], segmenter=synth_segmenter, text_segmenter=clipseg, cfg=QUICK, replace=True)

    # A derived file that changed a shipped concept is not an extension: the shipped dictionary wins.
    tampered = d.to_json()
    tampered["concepts"]["dome"]["units"] = list(reversed(tampered["concepts"]["dome"]["units"]))
    write_json(path, tampered)
    assert load_model("synth-church").concepts == shipped


def test_without_a_text_segmenter_one_sentence_says_how_to_get_it(synth_segmenter, monkeypatch):
    from ganpaint_core.analysis.concepts_by_name import dissect_concepts

    monkeypatch.setenv("GANPAINT_OFFLINE", "1")
    model = load_model("synth-church")
    with pytest.raises(GanpaintError) as caught:
        dissect_concepts(model, "statue", segmenter=synth_segmenter, cfg=QUICK)
    message = str(caught.value)
    assert "synth-church segmenter has no statue" in message and "offline mode is on" in message
    assert "--text-segmenter-source" in message and "\n" not in message
    # Names the segmenter has need no text segmenter, offline or not.
    assert dissect_concepts(model, "dome", segmenter=synth_segmenter, cfg=QUICK) is model.concepts


@pytest.mark.slow  # two CLI processes, each importing transformers (~10 s)
@needs_transformers
def test_the_dissect_cli_adds_concepts_typed_by_name_once(clipseg_folder, isolated_env):
    import os

    from ganpaint_core.hub.fetch import sha256_file
    from tests.helpers import run_cli, tiny_generator, write_model_folder

    manifest = write_model_folder(Path(os.environ["GANPAINT_MODELS_DIR"]) / "tiny", generator=tiny_generator())
    args = ("dissect", "--model", "tiny", "--segmenter", "synth-church", "--concepts", "Dome, statue",
            "--text-segmenter-source", str(clipseg_folder), "--samples", "8", "--batch", "8", "--ace-steps", "2",
            "--ace-batch", "2", "--causal-samples", "4", "--template-samples", "4", "--device", "cpu",
            "--threads", "1")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "found by name with clipseg:statue" in result.stdout
    path = derived_dir("tiny", sha256_file(manifest.parent / "generator.safetensors")) / CONCEPTS_FILE
    assert ConceptDictionary.load(path).names() == ["dome", "statue"]
    assert load_model("tiny").concepts.names() == ["dome", "statue"]
    again = run_cli(*args)
    assert again.returncode == 0 and "has dome, statue already" in again.stdout, again.stderr
