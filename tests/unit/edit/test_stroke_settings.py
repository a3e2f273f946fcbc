"""A kept stroke's own settings (``StrokeKind.settings`` / ``with_settings``): a concept stroke lets its strength,
and its look's strength where it copies a look, change in place, checked; a brush and a direction have none."""
from __future__ import annotations

import numpy as np
import pytest

from ganpaint_core.edit.direction_edit import DirectionSpec
from ganpaint_core.edit.kinds import KINDS, SETTINGS
from ganpaint_core.edit.spec import StrokeSpec, StyleSpec
from ganpaint_core.edit.strokes import StrokeError
from ganpaint_core.page.values import SETTING_NAMES, STROKE_DEFAULTS
from tests.helpers import blue_brush

MASK = np.zeros((16, 16), np.float32)
MASK[4:9, 3:10] = 1


def test_a_concept_stroke_changes_its_own_strength_and_looks_strength_and_nothing_else():
    plain = StrokeSpec(mask=MASK, concept="tree", action="add", strength=0.8)
    assert plain.settings() == {"strength": 0.8}  # the default look: nothing of a look to change
    sampled = StrokeSpec(mask=MASK, concept="tree", action="add", strength=0.8,
                         style=StyleSpec(kind="sample", seed=7, strength=0.6))
    assert sampled.settings() == {"strength": 0.8, "style_strength": 0.6}
    tuned = sampled.with_settings({"style_strength": 0.2})
    assert tuned.settings() == {"strength": 0.8, "style_strength": 0.2} and tuned.style.seed == 7
    assert tuned.mask is sampled.mask and sampled.style.strength == 0.6  # a new stroke; the old one as it was
    assert sampled.with_settings({"strength": 0.3}).label().startswith("add tree · strength 0.30")
    removing = StrokeSpec(mask=MASK, concept="tree", action="remove", style=StyleSpec(kind="sample", seed=7))
    assert removing.settings() == {"strength": 0.75}  # "remove" draws no look
    with pytest.raises(StrokeError, match="stroke remove tree has no style_strength to change"):
        removing.with_settings({"style_strength": 0.5})
    for bad in (1.5, -0.1, float("nan"), "0.5", None):
        with pytest.raises(StrokeError, match="strength must be a number in"):
            plain.with_settings({"strength": bad})


def test_brushes_and_directions_have_no_settings_in_place_and_refuse_one():
    for stroke in (blue_brush(), DirectionSpec(name="sky", amount=1.5)):
        assert stroke.settings() == {} and stroke.with_settings({}) is stroke
        with pytest.raises(StrokeError, match="has no strength to change"):
            stroke.with_settings({"strength": 0.5})


def test_every_kind_answers_settings_in_the_one_vocabulary_the_page_names():
    assert set(SETTINGS) == set(STROKE_DEFAULTS) == set(SETTING_NAMES)
    for kind in KINDS.values():
        assert callable(kind.spec.settings) and callable(kind.spec.with_settings)
