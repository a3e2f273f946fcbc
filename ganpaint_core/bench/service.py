"""``bench --suite service``: the app as a service, measured from outside on 127.0.0.1.

It starts ``python app.py`` in a child process on a free loopback port and reports: the server's memory over
``n`` sequential ``/edit`` calls (growth per edit), p50/p95 latency for 1, 4 and 8 parallel clients, how long
a fresh request waits after 30 queued submissions are cancelled (against its time on an idle server), the
server's CPU use while idle, every kind of bad input tried (its message, its time, the server's peak and held
RSS, and whether it still served afterwards: uploads and arguments of ``/edit``, and every base64 image field and
structured argument of ``/edit_recipe``), the largest photo accepted (40 MP: time, peak and held RSS, alone and
two at once), a setup damaged on disk between two identical ``/edit`` calls (a restart between them, so that the
second reads it: the same pixels after the recompute), and the tracebacks in the servers' logs by exception (none is
expected: a payload naming a server path, which gradio refuses, is answered with a sentence, ``app_binding``).
Every loop is bounded; nothing leaves the machine.

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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganpaint_core.bench.service_probes import (RssWatch, bomb_png, damage, hostile_recipes, large_photo_case,
                                                png_header_only, rss_mb, same_pixels)
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


class _Server:
    """``python app.py`` on a free loopback port, stopped on exit."""

    def __init__(self, model: str, folder: Path, *, log_name: str = "server.log") -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", GRADIO_TEMP_DIR=str(folder / "gradio"))
        self.log = open(folder / log_name, "wb")  # noqa: SIM115 - closed in __exit__
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
        out["large_photo"] = large_photo_case(client, folder, mask_path, server.proc.pid,
                                              edit=lambda photo, m: client.predict(
                                                  handle_file(str(photo)), handle_file(str(m)), "tree", "add", 0.8,
                                                  api_name="/edit"))
        out["idle_cpu_after"] = _idle_cpu(server.proc.pid)
        out["final_rss_mb"] = round(rss_mb(server.proc.pid), 1)
    out["damaged_setup"] = _damaged_setup(model, folder, mask_path)
    logs = [folder / name for name in ("server.log", "server-store-1.log", "server-store-2.log")]
    out["log_tracebacks"] = _tracebacks([p.read_text(errors="replace") for p in logs if p.is_file()])
    return out


def _tracebacks(logs: list[str]) -> dict[str, int]:
    """The tracebacks in the servers' logs, counted by the exception that ends each."""
    counts: dict[str, int] = {}
    for text in logs:
        for tail in text.split("Traceback (most recent call last):")[1:]:
            last = next((line for line in tail.splitlines() if line and not line.startswith((" ", "\t"))), "?")
            name = last.split(":", 1)[0].rsplit(".", 1)[-1]
            counts[name] = counts.get(name, 0) + 1
    return counts


def _damaged_setup(model: str, folder: Path, mask: Path) -> dict[str, Any]:
    """An /edit of a new photo; its stored setup damaged on disk; the server restarted (its memory holds the
    setup too); the same /edit again: its pixels, against the first's, and what the log says."""
    import shutil

    from gradio_client import Client, handle_file

    from ganpaint_core.hub.fetch import cache_dir

    photo = folder / "store-photo.png"
    photo.write_bytes(_noise_photo(time.time_ns() % 2**31))  # never set up before, in any earlier run
    setups = cache_dir() / "setups"
    before = set(setups.glob("*.safetensors"))
    results = []
    for round_ in (1, 2):
        with _Server(model, folder, log_name=f"server-store-{round_}.log") as server:
            t0 = time.monotonic()
            got = Client(server.url, verbose=False).predict(handle_file(str(photo)), handle_file(str(mask)), "tree",
                                                            "add", 0.8, api_name="/edit")
            seconds = time.monotonic() - t0
            results.append((Path(shutil.copy(got, folder / f"store-{round_}.png")), seconds))
        if round_ == 1:
            stored = sorted(set(setups.glob("*.safetensors")) - before)
            damage(stored)
    log_text = (folder / "server-store-2.log").read_text(errors="replace")
    return {"damaged_files": len(stored), "clean_s": round(results[0][1], 2),
            "after_damage_s": round(results[1][1], 2), "logged": log_text.count("does not match its sha256"),
            **same_pixels(results[0][0], results[1][0])}


def _idle_cpu(pid: int, seconds: float = 10.0) -> dict[str, float]:
    c0, t0 = _cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return {"seconds": seconds, "core_share": round((_cpu_s(pid) - c0) / (time.monotonic() - t0), 3)}


def _memory(pid: int, n: int, edit: Callable[[int], float]) -> dict[str, Any]:
    rss, times = [rss_mb(pid)], []
    for i in range(n):
        times.append(edit(i))
        rss.append(rss_mb(pid))
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
             seed=None, invert="single") -> list[Any]:  # every argument of /edit: gradio refuses a short list itself
        return [image or good_photo, msk or good_mask, concept, action, strength, style, style_strength, seed, invert]

    cases: dict[str, Callable[[], list[Any]]] = {
        "text renamed .jpg": lambda: args(image=upload("a.jpg", b"hello, not an image")),
        "truncated PNG": lambda: args(image=upload("t.png", png[: len(png) // 2])),
        "empty file": lambda: args(image=upload("e.png", b"")),
        "1x1 image": lambda: args(image=upload("1.png", _png(np.zeros((1, 1, 3), np.uint8)))),
        "16x16 image": lambda: args(image=upload("16.png", _png(np.zeros((16, 16, 3), np.uint8)))),
        "20000x20000 PNG bomb header": lambda: args(image=upload("bomb.png", png_header_only(20000, 20000))),
        "42 MP PNG header": lambda: args(image=upload("42mp.png", png_header_only(7500, 5600))),
        "SVG": lambda: args(image=upload("a.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>')),
        "server path outside uploads": lambda: args(image={"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}),
        "/dev/zero as a path": lambda: args(image={"path": "/dev/zero", "meta": {"_type": "gradio.FileData"}}),
        "no image": lambda: [None, good_mask, "tree", "add", 0.8, None, 0.75, None, "single"],
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
        "unknown inversion": lambda: args(invert="sideways"),
        "empty mask": lambda: args(msk=empty_mask),
        "mask not an image": lambda: args(msk=upload("m.png", b"not a mask")),
        "corrupt style image": lambda: args(style=upload("s.png", png[:100])),
        "style image and seed": lambda: args(style=good_photo, seed=1000003),
        "seed not a whole number": lambda: args(seed=1.5),
        "style seed 2^70": lambda: args(seed=2**70),
        "style seed -5": lambda: args(seed=-5),
        "12000² PNG bomb as the mask": lambda: args(msk=upload("bomb-mask.png", bomb_png(12000))),
        "12000² PNG bomb as the style image": lambda: args(style=upload("bomb-style.png", bomb_png(12000))),
    }
    calls = {kind: ("edit", make) for kind, make in cases.items()}
    recipes = hostile_recipes(png)
    calls |= {kind: ("edit_recipe", lambda text=text: [good_photo, text]) for kind, text in recipes.items()}
    results = []
    for kind, (endpoint, make) in calls.items():
        with RssWatch(server.proc.pid, settle_s=0.5) as watch:
            t0 = time.monotonic()
            try:
                payload = json.dumps({"data": make()}, allow_nan=True)
                status, message = _call(base, payload, endpoint)
            except (httpx.HTTPError, ValueError) as exc:
                status, message = "refused", f"{type(exc).__name__}: {exc}"
            seconds = time.monotonic() - t0
        results.append({"kind": kind, "status": status, "message": message[:300], "seconds": round(seconds, 3),
                        "served_after": server.serving(), **watch.figures()})
    refused = [r for r in results if r["status"] != "complete"]
    return {"kinds": len(results), "refused": len(refused), "kept_serving": sum(r["served_after"] for r in results),
            "max_seconds": max(r["seconds"] for r in results),
            "max_peak_over_mb": max(r["peak_over_mb"] for r in results),
            "max_held_mb": max(r["held_mb"] for r in results), "cases": results}


def _call(base: str, payload: str, endpoint: str = "edit") -> tuple[str, str]:
    """POST one call of ``endpoint`` and read its event stream: ("complete" | "error" | ..., the message or data)."""
    import httpx

    r = httpx.post(base + f"call/{endpoint}", content=payload, headers={"Content-Type": "application/json"}, timeout=60)
    if r.status_code != 200:
        return "refused", f"HTTP {r.status_code}: {r.text[:300]}"
    event_id = r.json()["event_id"]
    event = ""
    with httpx.stream("GET", base + f"call/{endpoint}/{event_id}", timeout=CALL_TIMEOUT_S) as stream:
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
        print(f"  {case['kind']:<52} {case['seconds']:>6.2f} s  peak +{case['peak_over_mb']:>5.0f} MB, held "
              f"{case['held_mb']:>+5.0f} MB  {case['status']}: {case['message'][:80]}")
    large = result["large_photo"]
    for label in ("first", "again", "two_at_once"):
        row = large[label]
        print(f"{large['size'][0]}×{large['size'][1]} /edit ({label}): {row['seconds']} s; RSS "
              f"{row['rss_before_mb']} MB + peak {row['peak_over_mb']} MB, held {row['held_mb']:+} MB")
    store = result["damaged_setup"]
    print(f"setup damaged on disk ({store['damaged_files']} file(s)): {store['after_damage_s']} s vs "
          f"{store['clean_s']} s clean; pixels equal: {store['equal']} (max {store.get('max_levels')} levels); logged {store['logged']}×")
    print(f"tracebacks in the server logs, by exception: {result['log_tracebacks'] or 'none'}")
    print(f"idle CPU: {result['idle_cpu']['core_share']} of a core (after: {result['idle_cpu_after']['core_share']})")
