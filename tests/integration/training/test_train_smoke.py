from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from ganpaint_core.training.gan import GANConfig
from tests.helpers import REPO


@pytest.mark.slow
def test_every_training_stage_runs_and_the_export_loads_and_edits(tmp_path, isolated_env):
    out, models = tmp_path / "run", isolated_env / "models"
    cmd = [sys.executable, "-m", "ganpaint_core.training.synth_suite", "all", "--smoke", "--threads", "1",
           "--out", str(out), "--export-dir", str(models / "synth-smoke")]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-2000:]
    for stage in ("gan", "segmenter", "dissect", "encoder", "export"):
        assert f"stage {stage} done" in result.stderr
    manifest = json.loads((models / "synth-smoke" / "model.json").read_text())
    assert set(manifest["files"]) == {"generator", "segmenter", "encoder", "concepts"}

    # The exported suite loads through the product's own path and runs the whole chain.
    from ganpaint_core.core.photo import load_photo
    from ganpaint_core.edit.adapt import AdaptConfig
    from ganpaint_core.edit.engine import EditEngine
    from ganpaint_core.edit.invert import InversionConfig
    from ganpaint_core.hub.loading import load_model
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
    cmd = [sys.executable, "-m", "ganpaint_core.training.synth_suite", "gan", "--smoke", "--threads", "1", "--out", str(tmp_path)]
    first = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    again = subprocess.run(cmd + ["--kimg", "0.128"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed from" in again.stderr and "at 0.1 kimg" in again.stderr


def test_a_run_can_start_from_an_exported_generator(tmp_path):
    """``--init-generator``: G and its EMA start from the given weights, the fresh discriminator trains
    alone for the warm-up, then both train; a generator of other widths is refused with its sizes."""

    from ganpaint_core.synth.scenes import render_batch
    from ganpaint_core.training.gan import build_state, train_gan
    from ganpaint_core.training.synth_suite import SMOKE_GAN

    images = render_batch(range(32), resolution=SMOKE_GAN.resolution)[0]
    torch.manual_seed(7)
    given = {k: v + 0.05 * torch.randn_like(v) for k, v in build_state(SMOKE_GAN, device=torch.device("cpu"))
             .generator.state_dict().items()}
    fresh_d = build_state(SMOKE_GAN, device=torch.device("cpu")).discriminator.state_dict()

    warm = train_gan(replace(SMOKE_GAN, kimg=0), images, out_dir=tmp_path / "warm", init_generator=given,
                     d_warmup_steps=3, mixed_precision=False)
    for k, v in warm.generator_ema.state_dict().items():
        assert torch.equal(v, given[k]), k  # warm-up leaves the generator alone
    assert any(not torch.equal(v, fresh_d[k]) for k, v in warm.discriminator.state_dict().items())

    run = train_gan(replace(SMOKE_GAN, kimg=0.016), images, out_dir=tmp_path / "run", init_generator=given,
                    d_warmup_steps=2, mixed_precision=False)
    assert run.images_seen == 16
    moved = max((run.generator.state_dict()[k] - v).abs().max().item() for k, v in given.items())
    assert 0 < moved < 1  # trained from the given weights, not from a fresh initialisation

    wrong = replace(SMOKE_GAN, g_widths=(16, 16, 8, 8))
    with pytest.raises(ValueError, match="does not match"):
        train_gan(wrong, images, out_dir=tmp_path / "wrong", init_generator=given, mixed_precision=False)


@pytest.mark.slow
def test_the_suite_trains_at_the_issues_128_px_target(tmp_path, isolated_env):
    """``--resolution 128`` (what a GPU run uses; tiny widths here): a six-stage generator whose edit layer is
    still 16×16, a segmenter trained on 128-px renders, an encoder with one more level, and an export whose
    manifest says 128 and adapts the six layers after the edit layer."""
    import torch

    from ganpaint_core.hub.loading import load_model
    from ganpaint_core.training.synth_suite import build_parser, gan_config, main

    assert gan_config(build_parser().parse_args(["gan"])) == GANConfig()  # the bundled model's recipe is the default
    out, export = tmp_path / "run", isolated_env / "models" / "synth-128"
    common = ["--smoke", "--threads", "1", "--out", str(out)]
    main(["gan", *common, "--resolution", "128", "--kimg", "0.016"])
    main(["segmenter", *common, "--resolution", "128"])
    main(["encoder", *common])
    main(["export", *common, "--export-dir", str(export)])
    manifest = json.loads((export / "model.json").read_text())
    assert manifest["resolution"] == 128 and manifest["edit_layer"] == "layer6"
    assert manifest["fine_layers"] == [f"layer{i}" for i in range(7, 13)]

    model = load_model("synth-128")
    assert dict((n, s) for n, _, s in model.generator.layer_shapes())["layer6"] == 16
    with torch.no_grad():
        image = model.generator(torch.randn(2, model.generator.latent_size))
        assert image.shape == (2, 3, 128, 128)
        assert model.encoder(image).shape == (2, model.generator.latent_size)
        assert model.segmenter.predict(image).shape == (2, 128, 128)


def test_a_checkpoint_of_another_resolution_is_refused_in_one_line(tmp_path):
    from ganpaint_core.training.synth_suite import main

    main(["gan", "--smoke", "--threads", "1", "--out", str(tmp_path), "--kimg", "0.008"])
    with pytest.raises(SystemExit, match="another resolution or widths .* 64-px one: pass another --out"):
        main(["gan", "--smoke", "--threads", "1", "--out", str(tmp_path), "--resolution", "64"])


@pytest.mark.slow
def test_the_time_budgeted_runner_trains_for_its_minutes_and_exports_a_complete_suite_in_its_folder(tmp_path):
    """``all --minutes M``: renders with worker processes, trains the GAN for M minutes with a checkpoint every
    minute, runs the later stages and exports a suite inside ``--out`` that loads through ``load_model``."""
    import time

    from ganpaint_core.hub.loading import load_model
    from ganpaint_core.hub.manifest import load_manifest

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ganpaint_core.training.synth_suite", "all", "--smoke", "--minutes", "0.5", "--threads", "1",
           "--workers", "2", "--out", str(out)]
    t0 = time.monotonic()
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert time.monotonic() - t0 > 30  # the GAN trained for its half minute, not for the smoke kimg
    assert "with 2 workers" in result.stderr
    suite = out / "synth-church-32"  # everything in the one output folder
    manifest = json.loads((suite / "model.json").read_text())
    assert set(manifest["files"]) == {"generator", "segmenter", "encoder", "concepts"}
    assert (out / "gan" / "gan.pt").is_file() and (out / "train.log").is_file()
    model = load_model(load_manifest(suite / "model.json"), device="cpu")
    assert model.segmenter is not None and model.encoder is not None and model.concepts is not None
    assert model.generator(torch.zeros(1, model.generator.latent_size)).shape == (1, 3, 32, 32)


@pytest.mark.slow
def test_rendering_in_worker_processes_gives_the_same_set_as_one_process():
    from ganpaint_core.synth.data import render_set

    one = render_set(7_000_000, 10, resolution=32)
    two = render_set(7_000_000, 10, resolution=32, workers=2)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])
