"""``python app.py`` as a stranger meets it: user errors (a PNG bomb in a recipe, a bad seed, deep JSON, a
missing image) and a client that drops its upload half-way are answered or logged in one line each; the
server's log holds no traceback, and the server keeps serving."""
from __future__ import annotations

import base64
import json
import socket
import time

import pytest

from ganpaint_core.bench import service as B
from ganpaint_core.bench.service_probes import bomb_png

pytestmark = pytest.mark.slow  # the app in a child process (~20 s to start on a loaded 2-core CPU)


def _dropped_upload(port: int) -> None:
    """Start a 1 MB multipart upload, send 64 KB of it, and hang up."""
    boundary = "ganpaintboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall((f"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 1000000\r\n\r\n")
                     .encode() + head + b"\0" * 65536)
        time.sleep(0.5)


def test_user_errors_and_dropped_uploads_leave_no_traceback_in_the_server_log(tmp_path):
    import httpx

    photo = tmp_path / "photo.png"
    photo.write_bytes(B._noise_photo(1))
    with B._Server("synth-church", tmp_path) as server:
        base = server.url + "gradio_api/"
        uploaded = httpx.post(base + "upload", files={"files": ("photo.png", photo.read_bytes())}, timeout=60).json()
        image = {"path": uploaded[0], "meta": {"_type": "gradio.FileData"}}
        bomb = base64.b64encode(bomb_png(12000)).decode()
        calls = [
            ("edit_recipe", [image, json.dumps({"strokes": [{"concept": "tree", "mask_png_base64": bomb}]})]),
            ("edit_recipe", [image, "[" * 50_000 + "]" * 50_000]),
            ("edit", [image, image, "tree", "add", 0.8, None, 0.75, 2**70, "single"]),
            ("edit", [None, image, "tree", "add", 0.8, None, 0.75, None, "single"]),
            ("edit", [image, image, "tree", "add", 0.8, None, 0.75, None, "sideways"]),
        ]
        for endpoint, data in calls:
            status, message = B._call(base, json.dumps({"data": data}), endpoint)
            assert status == "error" and message and "\n" not in message, (endpoint, message)
        for _ in range(2):
            _dropped_upload(server.port)
        time.sleep(1.0)
        assert server.serving()
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]
    assert log.count("disconnected") >= 1  # the dropped uploads, one line each
