"""Colour / sketch brushes: their checks refuse empty, whole-photo and out-of-range choices."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ganpaint_core.edit.brush import BrushSpec
from ganpaint_core.edit.strokes import StrokeError
from tests.helpers import blue_brush

S = 64




def test_brush_checks_refuse_empty_whole_and_bad_choices():
    empty = BrushSpec(color=np.zeros((S, S, 3), np.float32), color_mask=np.zeros((S, S), np.float32))
    with pytest.raises(StrokeError, match="the brush is empty"):
        empty.check(resolution=S)
    whole = dataclasses.replace(empty, color_mask=np.ones((S, S), np.float32))
    with pytest.raises(StrokeError, match="cover 100% of the photo.*at most 50%"):
        whole.check(resolution=S)
    for bad in (dict(pick=4), dict(pick=-1), dict(candidates=0), dict(candidates=2.5), dict(morph=float("nan")),
                dict(morph=1.5), dict(seed=True)):
        with pytest.raises(StrokeError):
            blue_brush(**bad).check(resolution=S)
    blue_brush(pick=3, morph=0.5).check(resolution=S)
