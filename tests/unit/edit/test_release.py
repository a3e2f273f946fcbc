"""Where a render lets the photo's adaptation go: a concept stroke on exactly the edit grid's cells it writes
(cell by cell), a feature edit (brush, warp, masked direction) half a cell further (bilinear), a whole-photo
edit nowhere."""
from __future__ import annotations

import numpy as np
import torch

from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.strokes import FeatureEdit
from tests.helpers import tiny_loaded_model


def test_a_concept_stroke_releases_its_cells_and_a_feature_edit_half_a_cell_more():
    engine = EditEngine(tiny_loaded_model(), use_lpips=False)
    grid, cell = 16, 64 // 16
    mask = np.zeros((64, 64), np.float32)
    mask[20:36, 24:40] = 1  # cells 5–8 by 6–9: one painted share of 1, its neighbours none
    cells = np.zeros((64, 64), bool)
    cells[5 * cell:9 * cell, 6 * cell:10 * cell] = True

    concept = engine.release_mask([engine.stroke(mask, concept="tree", action="add", strength=1.0)], grid=grid)
    concept = concept[0, 0].numpy()
    assert (concept[cells] == 1).all() and (concept[~cells] == 0).all()

    delta = torch.ones(1, engine.concepts.num_units, grid, grid)
    brush = FeatureEdit(kind="brush", delta=delta, mask=mask, region=mask)
    soft = engine.release_mask([brush], grid=grid)[0, 0].numpy()
    ring = np.zeros_like(cells)
    ring[5 * cell - 2:9 * cell + 2, 6 * cell - 2:10 * cell + 2] = True
    ring &= ~cells
    assert (soft[ring] > 0).all() and soft[~cells].max() < 0.5  # half a cell beyond, fading
    both = engine.release_mask([brush, engine.stroke(mask, concept="tree", action="add", strength=1.0)], grid=grid)
    assert torch.equal(both[0, 0], torch.maximum(torch.from_numpy(concept), torch.from_numpy(soft)))
    whole = FeatureEdit(kind="direction", delta=delta, mask=mask, region=np.ones_like(mask), whole=True)
    assert engine.release_mask([whole], grid=grid).abs().max() == 0
