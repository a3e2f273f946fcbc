"""``bench --suite service``'s probes of what enters and what is stored: the hostile inputs of every base64 image
field and structured argument (each with its answer time and the server's peak and held RSS), the largest
photo accepted (40 MP: answer time, peak and held RSS, alone and two at once), and a setup damaged on disk
between two identical ``/edit`` calls (the pixels of the second equal to the first's after the recompute).

Example::

    with RssWatch(pid) as watch:
        call()
    watch.peak_mb - watch.before_mb, watch.after_mb - watch.before_mb
"""
from __future__ import annotations

import base64
import io
import json
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganpaint_core.core.errors import GanpaintError

SAMPLE_S = 0.01  # how often the server's RSS is read while a call runs
SETTLE_S = 2.0  # after a call, its held RSS is read this much later (the server's threads have let go)
LARGE_SIZE = (7300, 5470)  # 39.9 MP, just under the 40 MP limit: the largest photo an /edit accepts


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise GanpaintError(f"no VmRSS for process {pid}")


class RssWatch:
    """The RSS of process ``pid`` before a block, its peak while the block ran (read every ``SAMPLE_S``), and
    after it (``SETTLE_S`` later)."""

    def __init__(self, pid: int, *, settle_s: float = SETTLE_S) -> None:
        self.pid, self.settle_s = pid, settle_s
        self.before_mb = self.peak_mb = self.after_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.peak_mb = max(self.peak_mb, rss_mb(self.pid))

    def __enter__(self) -> RssWatch:
        self.before_mb = self.peak_mb = rss_mb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        time.sleep(self.settle_s)
        self._stop.set()
        self._thread.join()
        self.after_mb = rss_mb(self.pid)

    def figures(self) -> dict[str, float]:
        return {"rss_before_mb": round(self.before_mb, 1), "peak_over_mb": round(self.peak_mb - self.before_mb, 1),
                "held_mb": round(self.after_mb - self.before_mb, 1)}


def bomb_png(side: int) -> bytes:
    """A 1-bit PNG of ``side``² pixels: 32 KB on disk at 12000 px, 144 MP (and 0.4 GB as RGB) once decoded."""
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` but holds one row: a decompression bomb's header (at 30000², past
    Pillow's own bomb limit), without making the bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (1 + 3 * width)))
            + chunk(b"IEND", b""))


def large_photo(folder: Path, size: tuple[int, int] | None = None) -> Path:
    """A ``size`` (default ``LARGE_SIZE``) JPEG of smooth colour in ``folder``, made once."""
    size = size or LARGE_SIZE
    path = folder / f"large-{size[0]}x{size[1]}.jpg"
    if not path.is_file():
        rng = np.random.default_rng(26)
        small = rng.integers(0, 256, (size[1] // 64, size[0] // 64, 3), dtype=np.uint8)
        Image.fromarray(small).resize(size, Image.Resampling.BICUBIC).save(path, format="JPEG", quality=85)
    return path


def hostile_recipes(png: bytes) -> dict[str, str]:
    """``/edit_recipe`` arguments (JSON text) that must each be refused in a sentence, fast and without memory."""
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    bomb, huge = b64(bomb_png(12000)), b64(png_header_only(30000, 30000))
    ref = "0" * 64
    concept = {"concept": "tree", "action": "add"}
    return {
        "recipe: 12000² PNG bomb as mask_png_base64": json.dumps({"strokes": [concept | {"mask_png_base64": bomb}]}),
        "recipe: 12000² PNG bomb as color_png_base64": json.dumps({"strokes": [{"kind": "brush",
                                                                              "color_png_base64": bomb}]}),
        "recipe: 12000² PNG bomb as sketch_png_base64": json.dumps({"strokes": [{"kind": "brush",
                                                                               "sketch_png_base64": bomb}]}),
        "recipe: 12000² PNG bomb as a style reference": json.dumps({
            "strokes": [concept | {"mask_png_base64": b64(_mask_png()),
                                   "style": {"kind": "reference", "reference_sha256": ref}}],
            "references_png_base64": {ref: bomb}}),
        "recipe: 30000² PNG (over Pillow's bomb limit) as a mask": json.dumps({"strokes": [concept | {
            "mask_png_base64": huge}]}),
        "recipe: JSON nested 50000 deep": "[" * 50_000 + "]" * 50_000,
        "recipe: 201 strokes": json.dumps({"strokes": [concept | {"mask_png_base64": "x"}] * 201}),
        "recipe: a style seed of 2^70": json.dumps({"strokes": [concept | {
            "mask_png_base64": b64(_mask_png()), "style": {"kind": "sample", "seed": 2**70}}]}),
        "recipe: a truncated share bundle": json.dumps({"format": "ganpaint-share/1", "model": "synth-church",
                                                        "photo_png_base64": b64(png),
                                                        "strokes": [concept]})[:5000],
    }


def _mask_png(side: int = 64) -> bytes:
    mask = np.zeros((side, side), np.uint8)
    mask[side // 4: side // 2, side // 4: side // 2] = 255
    buf = io.BytesIO()
    Image.fromarray(mask).save(buf, format="PNG")
    return buf.getvalue()


def large_photo_case(client: Any, folder: Path, mask: Path, pid: int, *,
                     edit: Callable[..., Any]) -> dict[str, Any]:
    """The largest accepted photo through ``/edit``: alone (answer time, peak and held RSS), then twice at once
    (the heavy slot runs them one after the other: the peak should stay that of one)."""
    from concurrent.futures import ThreadPoolExecutor

    photo = large_photo(folder)
    out: dict[str, Any] = {"size": list(LARGE_SIZE), "jpeg_mb": round(photo.stat().st_size / 1e6, 2)}
    for label in ("first", "again"):  # the second: its setup comes from the store; memory held must not grow
        with RssWatch(pid) as watch:
            t0 = time.monotonic()
            edit(photo, mask)
            seconds = time.monotonic() - t0
        out[label] = {"seconds": round(seconds, 2), **watch.figures()}
    with RssWatch(pid) as watch, ThreadPoolExecutor(2) as pool:
        t0 = time.monotonic()
        times = list(pool.map(lambda _: _timed(edit, photo, mask), range(2)))
    out["two_at_once"] = {"seconds": [round(t, 2) for t in times], "wall_s": round(time.monotonic() - t0, 2),
                          **watch.figures()}
    return out


def _timed(fn: Callable[..., Any], *args: Any) -> float:
    t0 = time.monotonic()
    fn(*args)
    return time.monotonic() - t0


def damage(paths: list[Path]) -> None:
    """Flip bits in 400 bytes in the middle of each stored setup's data (the safetensors header left valid, as a
    bad disk sector would leave it)."""
    for path in paths:
        raw = bytearray(path.read_bytes())
        header = 8 + int.from_bytes(raw[:8], "little")
        middle = header + (len(raw) - header) // 2
        for i in range(middle, min(middle + 400, len(raw))):
            raw[i] ^= 0x5A
        path.write_bytes(bytes(raw))


def same_pixels(a: Path, b: Path) -> dict[str, Any]:
    x = np.asarray(Image.open(a).convert("RGB"), np.int16)
    y = np.asarray(Image.open(b).convert("RGB"), np.int16)
    if x.shape != y.shape:
        return {"equal": False, "shapes": [list(x.shape), list(y.shape)]}
    diff = np.abs(x - y).max(-1)
    return {"equal": bool((diff == 0).all()), "max_levels": int(diff.max()),
            "pixels_differing": round(float((diff > 0).mean()), 4)}
