"""Run as a script (a fresh process): one /edit through the API's function on a photo of the given size, after a
warm-up edit on a small photo; prints JSON with the process's RSS when idle, its peak (ru_maxrss) and what it
holds afterwards, in MB. Used by test_memory.py."""
from __future__ import annotations

import gc
import json
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def rss_mb(field: str = "VmRSS") -> float:
    """The process's resident memory now (VmRSS) or at its peak since the last reset (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    """Start the peak (VmHWM) afresh, so that it measures the next edit alone, not the warm-up before it."""
    Path("/proc/self/clear_refs").write_text("5")


def photo(folder: Path, width: int, height: int) -> Path:
    rng = np.random.default_rng(26)
    small = rng.integers(0, 256, (max(height // 64, 2), max(width // 64, 2), 3), dtype=np.uint8)
    path = folder / f"photo-{width}x{height}.jpg"
    Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC).save(path, quality=85)
    return path


def main(width: int, height: int) -> None:
    torch.set_num_threads(1)
    from ganpaint_core.page.api import edit_file
    from ganpaint_core.page.page import EditPage
    from tests.helpers import make_engine

    folder = Path(tempfile.mkdtemp(prefix="ganpaint-memory-"))
    mask = np.zeros((300, 400), np.uint8)
    mask[40:260, 60:340] = 255  # most of the square: the paste-back covers ~55 % of the photo
    Image.fromarray(mask).save(folder / "mask.png")
    big = photo(folder, width, height)
    page = EditPage(make_engine(), out_dir=folder / "renders")
    edit_file(page, str(photo(folder, 400, 300)), str(folder / "mask.png"), concept="tree")  # warm-up
    gc.collect()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reset_peak()
    idle = rss_mb()
    out = edit_file(page, str(big), str(folder / "mask.png"), concept="tree")
    peak = rss_mb("VmHWM")
    assert Image.open(out).size == (width, height)
    gc.collect()
    print(json.dumps({"idle_mb": idle, "peak_mb": peak, "warm_up_peak_mb": peak_before, "held_mb": rss_mb() - idle,
                      "pixels": width * height}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
