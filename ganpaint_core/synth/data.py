"""Render sets for training and evaluation, cached on disk as ``.npy`` so stages and reruns share them.

Seed ranges keep training and evaluation apart: the GAN trains on seeds from 0, the segmenter and the
encoder on seeds from 1,000,000, and benchmarks draw held-out renders from 5,000,000 upward.
"""
from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import numpy as np

from ganpaint_core.core.files import atomic_path
from ganpaint_core.synth.scenes import render_batch

log = logging.getLogger(__name__)

GAN_SEEDS = 0  # first seed of the GAN's training renders
SEGMENTER_SEEDS = 1_000_000  # first seed of the segmenter's and encoder's training renders
HELD_OUT_SEEDS = 5_000_000  # first seed of renders no training stage ever sees


def render_set(
    first_seed: int, count: int, *, resolution: int, cache_dir: Path | None = None, chunk: int = 1000,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, R, R, 3] and labels uint8 [N, R, R] for seeds ``first_seed … first_seed+count-1``.

    ``workers`` > 1 renders chunks in that many processes (each seed is rendered on its own, so the result
    is the same whatever the count); a 128-px render takes ~0.1 s of one core, so a GPU run renders its
    training set this way rather than wait minutes for one core."""
    if cache_dir is not None:
        stem = cache_dir / f"renders_{resolution}px_{first_seed}_{count}"
        img_path, lab_path = stem.with_suffix(".images.npy"), stem.with_suffix(".labels.npy")
        if img_path.is_file() and lab_path.is_file():
            return np.load(img_path), np.load(lab_path)
    images = np.empty((count, resolution, resolution, 3), np.uint8)
    labels = np.empty((count, resolution, resolution), np.uint8)
    t0 = time.monotonic()
    if workers > 1:
        chunk = max(1, min(chunk, -(-count // (4 * workers))))  # a few chunks per worker keeps them all busy
    starts = range(0, count, chunk)
    seeds = [range(first_seed + a, first_seed + min(a + chunk, count)) for a in starts]
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the parent may hold CUDA or OpenMP state that a forked child cannot use.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = pool.map(functools.partial(render_batch, resolution=resolution), seeds)
            for start, (imgs, labs) in zip(starts, parts):
                images[start : start + len(imgs)], labels[start : start + len(imgs)] = imgs, labs
        log.info("rendered %d in %.1f s with %d workers", count, time.monotonic() - t0, workers)
    else:
        for start, part in zip(starts, seeds):
            images[start : start + len(part)], labels[start : start + len(part)] = render_batch(part, resolution=resolution)
            stop = start + len(part)
            log.info("rendered %d/%d (%.0f/s)", stop, count, stop / max(time.monotonic() - t0, 1e-6))
    if cache_dir is not None:
        for path, array in ((img_path, images), (lab_path, labels)):
            with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.save adds no suffix
                np.save(f, array)
    return images, labels
