"""The flow transfer's parts: motion found by block matching, the guided filter, and a paste-back that keeps
the photo's pixels where the edit's region is 0."""
from __future__ import annotations

import numpy as np
import torch

from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.composite import paste_alpha
from ganpaint_core.edit.flow import estimate_motion, flow_composite, guided_filter, sample
from ganpaint_core.edit.warp_field import motion_field, move_features, shifted
from tests.helpers import scene_png


def _texture(seed: int, s: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.repeat(np.repeat(rng.uniform(0, 255, (s // 2, s // 2, 3)), 2, 0), 2, 1).astype(np.float32)


def test_block_matching_finds_a_shift_composed_over_frames():
    a = _texture(0)
    b = np.roll(a, (1, 2), axis=(0, 1))  # content moved 2 right, 1 down
    c = np.roll(b, (1, 1), axis=(0, 1))
    field = estimate_motion([a, b, c])
    inner = field[6:-6, 6:-6]
    assert np.allclose(np.median(inner.reshape(-1, 2), 0), (3, 2))
    assert np.allclose(estimate_motion([a, a]), 0)  # still content stays still


def test_guided_filter_keeps_a_constant_and_follows_the_guide():
    guide = np.zeros((20, 20), np.float32)
    guide[:, 10:] = 1
    flat = np.full((20, 20, 1), 5.0, np.float32)
    assert np.allclose(guided_filter(guide, flat, radius=3), 5.0, atol=1e-4)
    step = guide[..., None] * 10
    out = guided_filter(guide, step + np.random.default_rng(0).normal(0, 1, step.shape).astype(np.float32), radius=3)
    assert abs(out[:, 12:].mean() - out[:, :8].mean() - 10) < 1.0  # the edge kept, not blurred away


def test_flow_composite_moves_the_photos_pixels_and_keeps_the_rest():
    photo = load_photo(scene_png(9_000_703, (256, 256)), size=64)
    base = photo.model_image[0].permute(1, 2, 0).numpy() * 127.5 + 127.5
    moved = shifted(np.pad(np.ones((6, 6), bool), ((20, 38), (20, 38))), (8, 0))
    field = motion_field(moved, np.array([8.0, 0.0]), falloff=2.0)
    region = (np.hypot(field[..., 0], field[..., 1]) > 0).astype(np.float32)
    region = np.maximum(region, np.pad(np.ones((12, 22), np.float32), ((17, 35), (17, 25))))
    as_t = lambda x: torch.from_numpy(np.ascontiguousarray(x, np.float32))  # noqa: E731
    edited = sample(as_t(base).permute(2, 0, 1)[None], as_t(field)[None])[0].permute(1, 2, 0).numpy()  # it moved
    out = flow_composite(photo, edited=edited, base=base, painted=np.zeros((64, 64), np.float32), region=region,
                         motion=field)
    # inside the moved square the photo's own pixels, from 8 model pixels (32 photo pixels) to the left
    assert np.abs(out.image[100:108, 116:124].astype(int) - photo.original[100:108, 84:92].astype(int)).max() <= 1
    beyond = paste_alpha(photo, region) == 0
    assert beyond.mean() > 0.5
    assert np.array_equal(out.image[beyond], photo.original[beyond])


def test_moved_features_fill_what_was_left():
    f0 = torch.zeros(1, 2, 16, 16)
    f0[:, :, 4:6, 4:6] = 1.0  # an "object" of 2 × 2 cells
    src = np.zeros((64, 64), bool)
    src[16:24, 16:24] = True
    field = motion_field(shifted(src, (16, 0)), np.array([16.0, 0.0]), falloff=2.0)
    vacated = np.zeros((16, 16), bool)
    vacated[4:6, 4:6] = True
    out = move_features(f0, field, vacated=vacated)
    assert torch.allclose(out[0, 0, 4:6, 8:10], torch.ones(2, 2), atol=1e-5)  # arrived 4 cells to the right
    assert out[0, 0, 4:6, 4:6].abs().max() < 0.05  # the source filled from the empty cells around it
