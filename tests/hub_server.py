"""A small HTTP server on 127.0.0.1 that stands in for the Hugging Face Hub (and for plain URLs).

It answers ``HEAD``/``GET /{repo_id}/resolve/{revision}/{filename}`` with the headers
``huggingface_hub`` needs (``X-Repo-Commit``, ``ETag``, ``Content-Length``), and ``GET /files/{name}``
as a plain download. It records every request so tests can tell what was asked for.
"""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubStandIn:
    """``with HubStandIn({("owner/repo", "file.safetensors"): data}) as hub: hub.endpoint``"""

    def __init__(self, files: dict[tuple[str, str], bytes], plain: dict[str, bytes] | None = None) -> None:
        self.files = dict(files)
        self.plain = dict(plain or {})
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _lookup(self) -> bytes | None:
                path = unquote(self.path.split("?")[0])
                hub.requests.append((self.command, path))
                if path.startswith("/files/"):
                    return hub.plain.get(path[len("/files/"):])
                parts = path.strip("/").split("/")
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo, filename = "/".join(parts[:2]), "/".join(parts[4:])
                    return hub.files.get((repo, filename))
                return None

            def _answer(self, body: bool) -> None:
                data = self._lookup()
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
                self._answer(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "HubStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
