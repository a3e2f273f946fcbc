from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganpaint_core.hub.derived import ENCODER_FILE, derived_dir, report_path
from ganpaint_core.hub.fetch import sha256_file
from ganpaint_core.hub.loading import load_model
from ganpaint_core.models.encoder import load_encoder
from ganpaint_core.training.encoder_run import default_config, load_training_photos, run_encoder_training
from tests.helpers import run_cli, tiny_generator, tiny_stylegan2_model, write_model_folder

pytestmark = pytest.mark.usefixtures("one_thread")  # small convs run fastest single-threaded


@pytest.fixture
def tiny_model_folder(isolated_env) -> Path:
    return write_model_folder(Path(os.environ["GANPAINT_MODELS_DIR"]) / "tiny", generator=tiny_generator()).parent


def test_train_encoder_cli_writes_an_encoder_that_load_model_then_uses(tiny_model_folder):
    assert load_model("tiny").encoder is None
    result = run_cli("train-encoder", "--model", "tiny", "--steps", "3", "--batch", "4", "--widths", "8,8,16",
                     "--device", "cpu", "--threads", "1")
    assert result.returncode == 0, result.stderr
    path = derived_dir("tiny", sha256_file(tiny_model_folder / "generator.safetensors")) / ENCODER_FILE
    assert str(path) in result.stdout
    report = json.loads(report_path(path).read_text())
    assert report["config"]["steps"] == 3 and report["config"]["widths"] == [8, 8, 16]
    assert np.isfinite(report["psnr_generated_db"])
    model = load_model("tiny")
    assert model.encoder is not None and model.paths["encoder"] == path
    assert (model.encoder.resolution, model.encoder.latent_size) == (32, 16)
    assert model.encoder(torch.zeros(1, 3, 32, 32)).shape == (1, 16)


def test_an_interrupted_encoder_training_resumes_where_it_stopped(tiny_model_folder, tmp_path):
    model = load_model("tiny")
    cfg = default_config(model, steps=5, batch=4, widths=(8, 8, 16))

    class Stop(Exception):
        pass

    def stop_after_three(step, total, info):
        if step == 3:
            raise Stop

    with pytest.raises(Stop):
        run_encoder_training(model, cfg=cfg, checkpoint_every_s=0.0, callback=stop_after_three)
    steps: list[int] = []
    path = run_encoder_training(model, cfg=cfg, callback=lambda step, total, info: steps.append(step))
    assert steps == [4, 5]
    steps.clear()
    assert run_encoder_training(model, cfg=cfg, callback=lambda step, total, info: steps.append(step)) == path
    assert steps == []  # finished: loaded, not trained again
    fresh = run_encoder_training(model, cfg=cfg, restart=True, out=tmp_path / "fresh.safetensors")
    resumed, uninterrupted = load_encoder(path).state_dict(), load_encoder(fresh).state_dict()
    assert all(torch.allclose(resumed[k], uninterrupted[k], atol=1e-6) for k in resumed)


def test_photos_for_the_reconstruction_term_are_read_at_the_model_resolution(tiny_model_folder, tmp_path):
    (tmp_path / "photos").mkdir()
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(tmp_path / "photos" / "a.png")
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(tmp_path / "photos" / "b.jpg")
    (tmp_path / "photos" / "notes.txt").write_text("not a photo")
    photos = load_training_photos(tmp_path / "photos", resolution=32)
    assert photos.shape == (2, 32, 32, 3) and photos.dtype == np.uint8
    assert photos[0].min() == 200 and photos[1].max() < 5
    model = load_model("tiny")
    path = run_encoder_training(model, cfg=default_config(model, steps=2, batch=4, widths=(8, 8, 16)), photos=photos)
    assert json.loads(report_path(path).read_text())["photos"] == 2


def test_an_encoder_trains_for_a_stylegan2_generator_and_is_attached_to_it():
    from ganpaint_core.hub.derived import attach_derived_files

    model = tiny_stylegan2_model()
    model.sha256["generator"] = "1" * 64
    path = run_encoder_training(model, cfg=default_config(model, steps=2, batch=4, widths=(8, 8, 8, 8)))
    assert model.encoder is None
    attach_derived_files(model)
    assert model.paths["encoder"] == path
    z = model.encoder(torch.zeros(2, 3, 64, 64))  # [2, 16]: a z, which inversion maps to W+
    assert model.generator.to_inversion_latent(z, space="z").shape == (2, model.generator.n_latent, 16)
