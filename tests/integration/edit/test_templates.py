"""The bundled synth-church's template concepts (dome, door) draw what the segmenter then sees."""
from __future__ import annotations

import numpy as np
import torch

from ganpaint_core.edit.strokes import apply_strokes
from ganpaint_core.hub.concepts import ConceptDictionary


def test_the_bundled_model_draws_domes_and_doors_where_an_add_stroke_is_painted():
    """synth-church's dictionary draws dome and door by their templates (a constant write of their units
    made a texture, 0.05): on fresh samples an add stroke in a square makes the segmenter see them there."""
    from ganpaint_core.analysis.dissect import latents, random_squares
    from ganpaint_core.hub.loading import load_model
    from ganpaint_core.synth.scenes import LABELS

    model = load_model("synth-church")
    d = model.concepts
    assert d.template("dome") is not None and d.template("door") is not None and d.template("tree") is None
    head, tail = model.generator.split(d.layer)
    z = latents(48, model.generator.latent_size, seed=424_242, device="cpu")
    boxes = random_squares(48, 16, fraction=1 / 16, seed=7)
    with torch.no_grad():
        f = head(z)
        base = model.segmenter.predict(tail(f).clamp(-1, 1))
        for concept in ("dome", "door"):
            rises = []
            for i, (y0, x0, y1, x1) in enumerate(boxes.tolist()):
                mask = np.zeros((64, 64), np.float32)
                mask[y0 * 4 : y1 * 4, x0 * 4 : x1 * 4] = 1
                stroke = engine_stroke(d, mask, concept)
                after = model.segmenter.predict(tail(apply_strokes(f[i : i + 1], [stroke], d)).clamp(-1, 1))
                label = LABELS.index(concept)
                region = torch.from_numpy(mask > 0)
                rises.append(float((after[0][region] == label).float().mean() - (base[i][region] == label).float().mean()))
            assert np.mean(rises) > 0.2, (concept, np.mean(rises))


def engine_stroke(d: ConceptDictionary, mask: np.ndarray, concept: str):
    from ganpaint_core.edit.strokes import EditStroke

    stroke = EditStroke(mask=mask, concept=concept, action="add", strength=1.0)
    stroke.validate(d)
    return stroke
