"""What several benchmark suites share: the concepts they edit, the held-out seeds they render, random
square strokes, the segmenter on uint8 images, and timing helpers. Suites import from here, never from
one another, so none of them sits above another (``run``, ``chain``, ``peers`` and ``speed256`` are peers).
"""
from __future__ import annotations

import time

import numpy as np
import torch

BENCH_CONCEPTS = ("sky", "cloud", "grass", "tree", "brick", "dome", "door")


def held_out_seeds(seed: int, offset: int, n: int) -> range:
    """``n`` scene seeds no training stage ever sees, for bench ``seed`` (``offset`` keeps sets apart)."""
    from ganpaint_core.synth.data import HELD_OUT_SEEDS

    start = HELD_OUT_SEEDS + seed * 1_000_000 + offset
    return range(start, start + n)


@torch.no_grad()
def segment_uint8(segmenter: torch.nn.Module, images: np.ndarray, device: torch.device) -> np.ndarray:
    """Label maps [N, H, W] of uint8 images [N, H, W, 3]."""
    from ganpaint_core.training.gan import to_unit_range

    return segmenter.predict(to_unit_range(np.ascontiguousarray(images)).to(device)).cpu().numpy()


def square_mask(size: int, rng: np.random.Generator, *, fraction: float = 1 / 16) -> np.ndarray:
    """A float32 ``size``×``size`` mask, 1 in a random square covering ``fraction`` of it."""
    side = max(2, round(size * fraction**0.5))
    y, x = rng.integers(0, size - side + 1, 2)
    m = np.zeros((size, size), np.float32)
    m[y : y + side, x : x + side] = 1
    return m


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """A float32 mask [H, W] grown by ``r`` pixels (square structuring element)."""
    t = torch.from_numpy(mask)[None, None]
    return torch.nn.functional.max_pool2d(t, 2 * r + 1, stride=1, padding=r)[0, 0].numpy()


def time_forward(G: torch.nn.Module, device: torch.device, repeats: int = 10) -> float:
    """Median seconds of one generator forward pass (one latent), after a warm-up pass."""
    z = torch.randn(1, G.latent_size, device=device)
    times = []
    with torch.no_grad():
        G(z)
        for _ in range(repeats):
            t0 = time.perf_counter()
            G(z)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def device_name(device: torch.device) -> str:
    """What a result's ``device`` key says: the GPU's name, or the CPU and its torch thread count."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {torch.get_num_threads()} threads"
