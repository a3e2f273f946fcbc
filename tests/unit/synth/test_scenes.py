"""Procedural church scenes: determinism, shapes, concept coverage and image/label agreement."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.synth.scenes import (
    CONCEPTS,
    LABEL_COLOURS,
    LABELS,
    colourise,
    concept_shares,
    main,
    render_batch,
    render_scene,
)

_LUMA = np.array([0.299, 0.587, 0.114])


def _id(name: str) -> int:
    return LABELS.index(name)


@pytest.fixture(scope="module")
def batch64() -> tuple[np.ndarray, np.ndarray]:
    return render_batch(range(200), resolution=64)  # [200, 64, 64, 3], [200, 64, 64]


def test_label_names_are_fixed() -> None:
    assert LABELS == ("other", "sky", "cloud", "grass", "tree", "brick", "dome", "door")
    assert CONCEPTS == LABELS[1:]
    assert len(LABEL_COLOURS) == len(LABELS)


def test_same_seed_gives_identical_arrays() -> None:
    a = render_scene(11, resolution=64)
    b = render_scene(11, resolution=64)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.labels, b.labels)


def test_different_seeds_give_different_scenes() -> None:
    images, labels = render_batch(range(8), resolution=64)
    for i in range(8):
        for j in range(i + 1, 8):
            assert np.abs(images[i].astype(np.int16) - images[j]).mean() > 5, (i, j)
            assert (labels[i] != labels[j]).mean() > 0.02, (i, j)


def test_global_numpy_rng_is_neither_used_nor_advanced() -> None:
    np.random.seed(0)
    a = render_scene(5, resolution=32)
    state = np.random.get_state()[1].copy()
    np.random.seed(1)
    b = render_scene(5, resolution=32)
    np.random.seed(0)
    render_scene(6, resolution=32)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("resolution", [16, 64, 100, 128])
def test_shapes_and_dtypes(resolution: int) -> None:
    images, labels = render_batch([0, 1, 2], resolution=resolution)
    assert images.shape == (3, resolution, resolution, 3) and images.dtype == np.uint8
    assert labels.shape == (3, resolution, resolution) and labels.dtype == np.uint8
    scene = render_scene(1, resolution=resolution)
    assert np.array_equal(scene.image, images[1]) and np.array_equal(scene.labels, labels[1])


def test_too_small_resolution_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        render_scene(0, resolution=15)


def test_labels_stay_in_range(batch64: tuple[np.ndarray, np.ndarray]) -> None:
    _, labels = batch64
    assert int(labels.max()) < len(LABELS)
    assert set(np.unique(labels).tolist()) == set(range(len(LABELS)))


def test_every_concept_appears_in_most_scenes(batch64: tuple[np.ndarray, np.ndarray]) -> None:
    _, labels = batch64
    least = {"sky": 0.95, "grass": 0.95, "brick": 0.95, "tree": 0.85, "dome": 0.85, "door": 0.85, "cloud": 0.7}
    for name in CONCEPTS:
        present = (labels == _id(name)).any(axis=(1, 2)).mean()
        assert present >= least[name], f"{name} present in only {present:.0%} of scenes"


def test_average_shares_within_loose_bounds(batch64: tuple[np.ndarray, np.ndarray]) -> None:
    _, labels = batch64
    shares = concept_shares(labels)
    bounds = {"sky": (0.2, 0.45), "cloud": (0.02, 0.12), "grass": (0.1, 0.3), "tree": (0.06, 0.22),
              "brick": (0.07, 0.22), "dome": (0.015, 0.07), "door": (0.008, 0.04)}
    for name, (lo, hi) in bounds.items():
        assert lo <= shares[name] <= hi, f"{name} covers {shares[name]:.3f}, expected [{lo}, {hi}]"


def test_label_colours_match_the_image(batch64: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = batch64
    mean = {n: images[labels == _id(n)].reshape(-1, 3).astype(np.float64).mean(0) for n in LABELS}
    luma = {n: float(mean[n] @ _LUMA) for n in LABELS}
    assert mean["grass"][1] > mean["grass"][2] + 30 and mean["grass"][1] > mean["grass"][0]  # green
    assert mean["tree"][1] > mean["tree"][2]
    assert mean["sky"][2] > mean["grass"][2] + 50 and mean["sky"][2] > mean["sky"][0]  # blue-ish
    assert luma["cloud"] > luma["sky"] + 30  # clouds are the brightest part of the sky
    assert luma["door"] < luma["brick"] - 25  # dark wooden doors in lighter walls
    assert luma["tree"] < luma["grass"]


def test_labels_line_up_with_image_edges(batch64: tuple[np.ndarray, np.ndarray]) -> None:
    # Classify each pixel by the nearest per-image label mean colour: the true label map must explain
    # the image clearly better than the same map shifted by two pixels.
    images, labels = batch64

    def agreement(maps: np.ndarray) -> float:
        scores = []
        for image, lab in zip(images[:60].astype(np.float32), maps[:60]):
            ids = np.unique(lab)
            means = np.stack([image[lab == i].mean(0) for i in ids])  # [K, 3]
            nearest = ids[((image[:, :, None] - means[None, None]) ** 2).sum(-1).argmin(-1)]
            scores.append((nearest == lab).mean())
        return float(np.mean(scores))

    true = agreement(labels)
    assert true > 0.7
    assert true > agreement(np.roll(labels, 2, axis=2)) + 0.08
    assert true > agreement(np.roll(labels, 2, axis=1)) + 0.08


def test_brick_walls_show_courses(batch64: tuple[np.ndarray, np.ndarray]) -> None:
    # Mortar lines make luminance jump between vertically adjacent brick pixels; flat walls do not.
    images, labels = batch64
    luma = images.astype(np.float32) @ _LUMA.astype(np.float32)  # [N, H, W]
    both = (labels[:, 1:] == _id("brick")) & (labels[:, :-1] == _id("brick"))
    step = np.abs(luma[:, 1:] - luma[:, :-1])[both].mean()
    assert step > 8.0, f"brick texture too faint: mean vertical step {step:.1f}"


def test_same_layout_at_64_and_128() -> None:
    for seed in range(12):
        small = render_scene(seed, resolution=64)
        large = render_scene(seed, resolution=128)
        agree = (large.labels[::2, ::2] == small.labels).mean()
        assert agree >= 0.9, f"seed {seed}: label maps agree on {agree:.1%} only"
        reduced = np.asarray(Image.fromarray(large.image).reduce(2), dtype=np.float32)
        assert np.abs(reduced - small.image).mean() < 8.0, f"seed {seed}: images differ"
    other = render_scene(100, resolution=128)
    assert (other.labels[::2, ::2] == render_scene(0, resolution=64).labels).mean() < 0.9


def test_concept_shares_counts_pixels() -> None:
    one = np.array([[1, 1], [3, 7]], dtype=np.uint8)
    shares = concept_shares(one)
    assert set(shares) == set(LABELS)
    assert shares["sky"] == 0.5 and shares["grass"] == 0.25 and shares["door"] == 0.25 and shares["dome"] == 0.0
    batch = concept_shares(np.stack([one, np.full((2, 2), 5, np.uint8)]))
    assert batch["brick"] == 0.5 and batch["sky"] == 0.25
    assert abs(sum(batch.values()) - 1.0) < 1e-9


def test_colourise_uses_label_colours() -> None:
    labels = np.arange(len(LABELS), dtype=np.uint8).reshape(2, 4)
    rgb = colourise(labels)
    assert rgb.shape == (2, 4, 3) and rgb.dtype == np.uint8
    assert [tuple(int(v) for v in c) for c in rgb.reshape(-1, 3)] == list(LABEL_COLOURS)
    assert len(set(LABEL_COLOURS)) == len(LABELS)
    with pytest.raises(ValueError, match="out of range"):
        colourise(np.array([[len(LABELS)]], dtype=np.uint8))


def test_cli_writes_grids(tmp_path) -> None:
    grid, label_grid = tmp_path / "scenes.png", tmp_path / "labels.png"
    main(["--n", "4", "--resolution", "32", "--seed", "3", "--grid", str(grid), "--labels-grid", str(label_grid)])
    with Image.open(grid) as g, Image.open(label_grid) as lg:
        assert g.size == lg.size == (2 * 34 + 2, 2 * 34 + 2)
        first = np.asarray(g.convert("RGB"))[2:34, 2:34]
    assert np.array_equal(first, render_scene(3, resolution=32).image)
