"""``bench --suite service``: the app as a service, measured from outside on 127.0.0.1.

It starts ``python app.py`` in a child process on a free loopback port and reports: the server's memory over
``n`` sequential ``/edit`` calls (growth per edit), p50/p95 latency for 1, 4 and 8 parallel clients, how long
a fresh request waits after 30 queued submissions are cancelled (against its time on an idle server), the
server's CPU use while idle, and every kind of bad input tried (its message, its time, and whether the
server still served afterwards). Every loop is bounded; nothing leaves the machine.

Example::

    result = bench_service(model="synth-church", n=100)
    result["memory"]["growth_per_edit_mb"], result["cancel"]["ratio"]
"""
from __future__ import annotations

import io
import json
import logging
import math
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganpaint_core.core.errors import GanpaintError

log = logging.getLogger(__name__)

APP = Path(__file__).resolve().parents[2] / "app.py"
START_TIMEOUT_S = 180  # the app loads its model and serves within this, or the bench gives up
CALL_TIMEOUT_S = 600  # one /edit call, setup included
PHOTOS = 2  # distinct photos the timed edits cycle through (set up once each, then served from the engine's cache)
CLIENT_LEVELS = (1, 4, 8)
ROUNDS = 3  # requests per client at each level
CANCELLED = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise GanpaintError(f"no VmRSS for process {pid}")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else math.nan


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _noise_photo(seed: int, size: tuple[int, int] = (256, 192)) -> bytes:
    rng = np.random.default_rng(seed)
    return _png(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` but holds one row: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (1 + 3 * width)))
            + chunk(b"IEND", b""))


class _Server:
    """``python app.py`` on a free loopback port, stopped on exit."""

    def __init__(self, model: str, folder: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", GRADIO_TEMP_DIR=str(folder / "gradio"))
        self.log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen([sys.executable, str(APP), "--model", model, "--host", "127.0.0.1", "--port",
                                      str(self.port)], cwd=APP.parent, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def __enter__(self) -> _Server:
        import httpx

        t0 = time.monotonic()
        while time.monotonic() - t0 < START_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise GanpaintError(f"the app exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "gradio_api/info", timeout=2).status_code == 200:
                    self.start_s = time.monotonic() - t0
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise GanpaintError(f"the app did not serve within {START_TIMEOUT_S} s; see {self.log.name}")

    def __exit__(self, *exc: Any) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(20)
        self.log.close()

    def serving(self) -> bool:
        import httpx

        try:
            return httpx.get(self.url + "gradio_api/info", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False


def bench_service(*, model: str = "synth-church", n: int = 100, folder: Path | None = None) -> dict[str, Any]:
    """The figures above, as a JSON-ready dict (see the module docstring)."""
    from gradio_client import Client, handle_file

    folder = Path(folder or tempfile.mkdtemp(prefix="ganpaint-bench-service-"))
    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    for i in range(PHOTOS):
        path = folder / f"photo-{i}.png"
        path.write_bytes(_noise_photo(1_000 + i))
        photos.append(path)
    mask = np.zeros((192, 256), np.uint8)
    mask[60:140, 90:170] = 255
    mask_path = folder / "mask.png"
    mask_path.write_bytes(_png(mask))

    with _Server(model, folder) as server:
        client = Client(server.url, verbose=False)

        def edit(photo: Path, c: Client = client) -> float:
            t0 = time.monotonic()
            c.predict(handle_file(str(photo)), handle_file(str(mask_path)), "tree", "add", 0.8, api_name="/edit")
            return time.monotonic() - t0

        first = [edit(p) for p in photos]  # each photo's setup, once
        out: dict[str, Any] = {"suite": "service", "model": model, "n": n, "app_start_s": round(server.start_s, 2),
                               "first_edit_s": [round(t, 2) for t in first]}
        out["idle_cpu"] = _idle_cpu(server.proc.pid)
        out["memory"] = _memory(server.proc.pid, n, lambda i: edit(photos[i % PHOTOS]))
        out["latency"] = _latency(server.url, photos, mask_path)
        out["cancel"] = _cancel(client, folder, mask_path, lambda: edit(photos[0]), edit)
        out["bad_inputs"] = _bad_inputs(server, folder, photos[0], mask_path)
        out["idle_cpu_after"] = _idle_cpu(server.proc.pid)
        out["final_rss_mb"] = round(_rss_mb(server.proc.pid), 1)
    return out


def _idle_cpu(pid: int, seconds: float = 10.0) -> dict[str, float]:
    c0, t0 = _cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return {"seconds": seconds, "core_share": round((_cpu_s(pid) - c0) / (time.monotonic() - t0), 3)}


def _memory(pid: int, n: int, edit: Callable[[int], float]) -> dict[str, Any]:
    rss, times = [_rss_mb(pid)], []
    for i in range(n):
        times.append(edit(i))
        rss.append(_rss_mb(pid))
    slope = float(np.polyfit(np.arange(len(rss)), rss, 1)[0]) if len(rss) > 2 else math.nan
    return {"edits": n, "rss_start_mb": round(rss[0], 1), "rss_end_mb": round(rss[-1], 1),
            "growth_per_edit_mb": round((rss[-1] - rss[0]) / max(n, 1), 3), "fitted_slope_mb": round(slope, 3),
            "edit_s_p50": round(_pct(times, 50), 3)}


def _latency(url: str, photos: list[Path], mask: Path) -> dict[str, Any]:
    from gradio_client import Client, handle_file

    out = {}
    for level in CLIENT_LEVELS:
        clients = [Client(url, verbose=False) for _ in range(level)]

        def run(k: int) -> list[float]:
            times = []
            for r in range(ROUNDS):
                t0 = time.monotonic()
                clients[k].predict(handle_file(str(photos[(k + r) % len(photos)])), handle_file(str(mask)), "tree",
                                   "add", 0.8, api_name="/edit")
                times.append(time.monotonic() - t0)
            return times

        t0 = time.monotonic()
        with ThreadPoolExecutor(level) as pool:
            times = [t for ts in pool.map(run, range(level)) for t in ts]
        out[str(level)] = {"requests": len(times), "p50_s": round(_pct(times, 50), 3),
                           "p95_s": round(_pct(times, 95), 3), "wall_s": round(time.monotonic() - t0, 2)}
    return out


def _cancel(client: Any, folder: Path, mask: Path, fresh: Callable[[], float],
            fresh_setup: Callable[[Path], float]) -> dict[str, Any]:
    """A fresh request's time on an idle server, and again right after CANCELLED queued submissions (each a
    photo never seen, so each would need its own setup) are cancelled: once for a request whose photo is set
    up already (its time is the queue's and the render's), once for a photo that needs its own setup."""
    from gradio_client import handle_file

    def photo(name: str, seed: int) -> Path:
        path = folder / f"{name}.png"
        path.write_bytes(_noise_photo(seed))
        return path

    def cancel_a_full_queue(round_: int) -> float:
        jobs = [client.submit(handle_file(str(photo(f"cancelled-{round_}-{i}", 50_000 + 100 * round_ + i))),
                              handle_file(str(mask)), "tree", "add", 0.8, api_name="/edit") for i in range(CANCELLED)]
        time.sleep(3.0)  # the first ones are running their setups
        t0 = time.monotonic()
        for job in jobs:
            job.cancel()
        return time.monotonic() - t0

    idle = float(np.median([fresh() for _ in range(5)]))
    cancel_a_full_queue(0)
    after = fresh()
    idle_setup = fresh_setup(photo("fresh-idle", 70_001))
    cancel_a_full_queue(1)
    after_setup = fresh_setup(photo("fresh-after", 70_002))
    return {"cancelled": CANCELLED, "idle_s": round(idle, 3), "after_cancel_s": round(after, 3),
            "ratio": round(after / idle, 2), "setup_idle_s": round(idle_setup, 2),
            "setup_after_cancel_s": round(after_setup, 2), "setup_ratio": round(after_setup / idle_setup, 2)}


def _bad_inputs(server: _Server, folder: Path, photo: Path, mask: Path) -> dict[str, Any]:
    """Each bad input through the raw HTTP API (so that server-side paths can be named too)."""
    import httpx

    base = server.url + "gradio_api/"

    def upload(name: str, data: bytes) -> dict[str, Any]:
        r = httpx.post(base + "upload", files={"files": (name, data)}, timeout=60)
        r.raise_for_status()
        return {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}}

    good_photo, good_mask = upload("photo.png", photo.read_bytes()), upload("mask.png", mask.read_bytes())
    empty_mask = upload("empty.png", _png(np.zeros((192, 256), np.uint8)))
    png = photo.read_bytes()

    def args(image=None, msk=None, concept="tree", action="add", strength=0.8, style=None, style_strength=0.75,
             seed=None) -> list[Any]:
        return [image or good_photo, msk or good_mask, concept, action, strength, style, style_strength, seed]

    cases: dict[str, Callable[[], list[Any]]] = {
        "text renamed .jpg": lambda: args(image=upload("a.jpg", b"hello, not an image")),
        "truncated PNG": lambda: args(image=upload("t.png", png[: len(png) // 2])),
        "empty file": lambda: args(image=upload("e.png", b"")),
        "1x1 image": lambda: args(image=upload("1.png", _png(np.zeros((1, 1, 3), np.uint8)))),
        "16x16 image": lambda: args(image=upload("16.png", _png(np.zeros((16, 16, 3), np.uint8)))),
        "20000x20000 PNG bomb header": lambda: args(image=upload("bomb.png", _png_header_only(20000, 20000))),
        "42 MP PNG header": lambda: args(image=upload("42mp.png", _png_header_only(7500, 5600))),
        "SVG": lambda: args(image=upload("a.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>')),
        "server path outside uploads": lambda: args(image={"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}),
        "/dev/zero as a path": lambda: args(image={"path": "/dev/zero", "meta": {"_type": "gradio.FileData"}}),
        "no image": lambda: [None, good_mask, "tree", "add", 0.8, None, 0.75, None],
        "strength NaN": lambda: args(strength=float("nan")),
        "strength inf": lambda: args(strength=float("inf")),
        "strength -1": lambda: args(strength=-1.0),
        "strength 5": lambda: args(strength=5.0),
        "strength as text": lambda: args(strength="0.5"),
        "style_strength NaN": lambda: args(style_strength=float("nan")),
        "style_strength -3": lambda: args(style_strength=-3.0),
        "style_strength 5 with a sample": lambda: args(style_strength=5.0, seed=1000003),
        "unknown concept": lambda: args(concept="banana"),
        "1 MB concept": lambda: args(concept="x" * 1_000_000),
        "unknown action": lambda: args(action="explode"),
        "empty mask": lambda: args(msk=empty_mask),
        "mask not an image": lambda: args(msk=upload("m.png", b"not a mask")),
        "corrupt style image": lambda: args(style=upload("s.png", png[:100])),
        "style image and seed": lambda: args(style=good_photo, seed=1000003),
        "seed not a whole number": lambda: args(seed=1.5),
    }
    results = []
    for kind, make in cases.items():
        t0 = time.monotonic()
        try:
            payload = json.dumps({"data": make()}, allow_nan=True)
            status, message = _call(base, payload)
        except (httpx.HTTPError, ValueError) as exc:
            status, message = "refused", f"{type(exc).__name__}: {exc}"
        seconds = time.monotonic() - t0
        results.append({"kind": kind, "status": status, "message": message[:300], "seconds": round(seconds, 3),
                        "served_after": server.serving()})
    refused = [r for r in results if r["status"] != "complete"]
    return {"kinds": len(results), "refused": len(refused), "kept_serving": sum(r["served_after"] for r in results),
            "max_seconds": max(r["seconds"] for r in results), "cases": results}


def _call(base: str, payload: str) -> tuple[str, str]:
    """POST one /edit call and read its event stream: ("complete" | "error" | ..., the message or data)."""
    import httpx

    r = httpx.post(base + "call/edit", content=payload, headers={"Content-Type": "application/json"}, timeout=60)
    if r.status_code != 200:
        return "refused", f"HTTP {r.status_code}: {r.text[:300]}"
    event_id = r.json()["event_id"]
    event = ""
    with httpx.stream("GET", base + f"call/edit/{event_id}", timeout=CALL_TIMEOUT_S) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = line.split(":", 1)[1].strip()
                try:
                    data = json.loads(data)
                except ValueError:
                    pass
                if isinstance(data, dict) and "error" in data:  # gradio's error event
                    data = data["error"] or "(refused by gradio without a message)"
                return event, data if isinstance(data, str) else json.dumps(data)[:300]
    return "no answer", ""


def print_service_table(result: dict[str, Any]) -> None:
    mem, cancel, bad = result["memory"], result["cancel"], result["bad_inputs"]
    print(f"app start {result['app_start_s']} s; first edits (setup) {result['first_edit_s']} s")
    print(f"memory over {mem['edits']} edits: {mem['rss_start_mb']} -> {mem['rss_end_mb']} MB "
          f"({mem['growth_per_edit_mb']} MB per edit; fitted slope {mem['fitted_slope_mb']}); edit p50 "
          f"{mem['edit_s_p50']} s")
    for level, lat in result["latency"].items():
        print(f"{level} client(s): p50 {lat['p50_s']} s, p95 {lat['p95_s']} s ({lat['requests']} requests)")
    print(f"after cancelling {cancel['cancelled']}: {cancel['after_cancel_s']} s vs {cancel['idle_s']} s idle "
          f"(x{cancel['ratio']}); a photo needing setup {cancel['setup_after_cancel_s']} s vs "
          f"{cancel['setup_idle_s']} s idle (x{cancel['setup_ratio']})")
    print(f"bad inputs: {bad['kinds']} kinds, {bad['refused']} refused, {bad['kept_serving']} kept the server "
          f"serving, slowest {bad['max_seconds']} s")
    for case in bad["cases"]:
        print(f"  {case['kind']:<32} {case['seconds']:>6.2f} s  {case['status']}: {case['message'][:90]}")
    print(f"idle CPU: {result['idle_cpu']['core_share']} of a core (after: {result['idle_cpu_after']['core_share']})")
