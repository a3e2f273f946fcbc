"""GANPaint's church model through the whole edit chain, once its file is supplied.

NVIDIA's weights cannot be downloaded here, so random tensors in exactly their layout stand in for them:
the test uses the real ``progan-church`` manifest (edit layer, fine layers) and GAN Dissection's measured
dictionary, with only the generator file swapped for the stand-in (its sha256 recorded, as for any file).
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.adapt import AdaptConfig
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.invert import InversionConfig
from ganpaint_core.hub.fetch import sha256_file
from ganpaint_core.hub.loading import load_model
from tests.helpers import REPO, church_state_dict


@pytest.mark.slow  # a 256-px, 23M-parameter generator set up on a photo: 30 s and more on a shared 2-core CPU
def test_ganpaints_church_model_inverts_edits_and_pastes_back_once_supplied(isolated_env):
    source = REPO / "weights" / "progan-church"
    folder = isolated_env / "models" / "progan-church"
    folder.mkdir(parents=True)
    weights = folder / "church-stand-in.pth"
    torch.save(church_state_dict(seed=3), weights)
    shutil.copyfile(source / "concepts.json", folder / "concepts.json")
    manifest = json.loads((source / "model.json").read_text())
    manifest["files"]["generator"].update(filename=weights.name, sha256=sha256_file(weights), sha256_prefix=None,
                                          size=weights.stat().st_size, sources=[{"path": weights.name}])
    (folder / "model.json").write_text(json.dumps(manifest))

    model = load_model("progan-church")
    assert model.manifest.resolution == 256 and model.concepts.layer == "layer4" and model.concepts.num_units == 512
    engine = EditEngine(model, inversion=InversionConfig(latent_steps=2, joint_steps=2, candidates=2),
                        adaptation=AdaptConfig(steps=3), use_lpips=False)
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    photo = load_photo(Image.fromarray(original), size=engine.resolution)
    state = engine.prepare(photo)
    assert state.features.shape == (1, 512, 8, 8) and np.isfinite(state.recon_psnr_after)

    mask = np.zeros(original.shape[:2], np.float32)
    mask[100:200, 150:250] = 1
    strokes = [engine.stroke(mask, concept="tree", action="add", strength=1.0, photo=photo),
               engine.stroke(mask, concept="dome", action="remove", strength=0.5, photo=photo)]
    result = engine.render(state, strokes, final=True)
    assert result.final.shape == original.shape
    diff = np.abs(result.final.astype(int) - original.astype(int)).max(axis=-1)
    assert diff[100:200, 150:250].mean() > 1.0  # the stroke changed the photo under it
    assert (diff[:, :40] == 0).all() and (diff[:, -40:] == 0).all()  # far from it, the original's pixels
