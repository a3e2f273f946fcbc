from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_every_training_stage_runs_and_the_export_loads_and_edits(tmp_path, isolated_env):
    out, models = tmp_path / "run", isolated_env / "models"
    cmd = [sys.executable, "-m", "ganpaint_core.synth.train", "all", "--smoke", "--threads", "1",
           "--out", str(out), "--export-dir", str(models / "synth-smoke")]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-2000:]
    for stage in ("gan", "segmenter", "dissect", "encoder", "export"):
        assert f"stage {stage} done" in result.stderr
    manifest = json.loads((models / "synth-smoke" / "model.json").read_text())
    assert set(manifest["files"]) == {"generator", "segmenter", "encoder", "concepts"}

    # The exported suite loads through the product's own path and runs the whole chain.
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig
    from ganpaint_core.loading import load_model
    from ganpaint_core.photo import load_photo
    from ganpaint_core.synth.scenes import render_scene

    model = load_model("synth-smoke")
    assert model.segmenter is not None and model.encoder is not None
    engine = EditEngine(model, inversion=InversionConfig(latent_steps=3, joint_steps=3),
                        adaptation=AdaptConfig(steps=3), use_lpips=False)
    from PIL import Image

    photo = load_photo(Image.fromarray(render_scene(5_000_000, resolution=48).image), size=32)
    state = engine.prepare(photo)
    mask = np.zeros((48, 48), np.float32)
    mask[10:30, 10:30] = 1
    edited = engine.render(state, [engine.stroke(mask, concept="tree", action="add", strength=1.0, photo=photo)])
    assert edited.final.shape == (48, 48, 3)


@pytest.mark.slow
def test_training_resumes_from_its_checkpoint(tmp_path):
    cmd = [sys.executable, "-m", "ganpaint_core.synth.train", "gan", "--smoke", "--threads", "1", "--out", str(tmp_path)]
    first = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    again = subprocess.run(cmd + ["--kimg", "0.128"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed from" in again.stderr and "at 0.1 kimg" in again.stderr
