"""A small HTTP server on 127.0.0.1 that stands in for the Hugging Face Hub (and for plain URLs).

It answers ``HEAD``/``GET /{repo_id}/resolve/{revision}/{filename}`` with the headers
``huggingface_hub`` needs (``X-Repo-Commit``, ``ETag``, ``Content-Length``), and ``GET /files/{name}``
as a plain download. It records every request so tests can tell what was asked for.

It also takes uploads the way ``HfApi.create_repo`` and ``HfApi.upload_folder`` / ``create_commit`` send
them (huggingface_hub 1.x-2.x): ``POST /api/repos/create``, ``POST /api/validate-yaml`` (a README's front
matter), ``POST /api/models/{repo}/preupload/{revision}`` (answered "regular" for every file, so no LFS
upload follows) and ``POST /api/models/{repo}/commit/{revision}`` with NDJSON lines (a header, then one
``file`` line per file, base64). Each commit gets its own id; its files are then served at ``main`` and at
that id, so ``hf_hub_download`` reads back what was pushed. With ``token`` set, writes need
``Authorization: Bearer <token>``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Handler(BaseHTTPRequestHandler):
    """Answers for ``self.server.hub`` (a :class:`HubStandIn`)."""

    @property
    def hub(self) -> HubStandIn:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _lookup(self) -> tuple[bytes | None, str]:
        path = unquote(self.path.split("?")[0])
        self.hub.requests.append((self.command, path))
        if path.startswith("/files/"):
            return self.hub.plain.get(path[len("/files/"):]), COMMIT
        parts = path.strip("/").split("/")
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
            if revision in self.hub.commits.get(repo, {}):
                return self.hub.commits[repo][revision].get(filename), revision
            return self.hub.files.get((repo, filename)), self.hub.heads.get(repo, COMMIT)
        return None, COMMIT

    def _json(self, status: int, data: object, error_code: str = "") -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if error_code:
            self.send_header("X-Error-Code", error_code)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        path = unquote(self.path.split("?")[0])
        self.hub.requests.append(("POST", path))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.hub.token is not None and self.headers.get("Authorization") != f"Bearer {self.hub.token}":
            return self._json(401, {"error": "Invalid credentials in Authorization header"})
        parts = path.strip("/").split("/")
        if path == "/api/repos/create":
            request = json.loads(body)
            repo = f"{request['organization']}/{request['name']}"
            if repo in self.hub.repos:
                return self._json(409, {"error": "You already created this model repo",
                                        "url": f"{self.hub.endpoint}/{repo}"})
            self.hub.repos.add(repo)
            return self._json(200, {"url": f"{self.hub.endpoint}/{repo}"})
        if path == "/api/validate-yaml":
            return self._json(200, {"errors": [], "warnings": []})
        if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] in ("preupload", "commit"):
            repo = "/".join(parts[2:4])
            if repo not in self.hub.repos:
                return self._json(404, {"error": "Repository not found"}, "RepoNotFound")
            if parts[4] == "preupload":
                files = json.loads(body)["files"]
                return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                   "shouldIgnore": False} for f in files]})
            return self._commit(repo, [json.loads(line) for line in body.splitlines() if line.strip()])
        return self._json(404, {"error": f"no such endpoint {path}"})

    def _commit(self, repo: str, lines: list[dict]) -> None:
        added = {}
        for line in lines[1:]:  # the first is the header (summary, description)
            if line["key"] != "file" or line["value"].get("encoding") != "base64":
                return self._json(400, {"error": f"the stand-in takes regular files only, got {line['key']}"})
            added[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
        head = dict(self.hub.commits.get(repo, {}).get(self.hub.heads.get(repo, ""), {}))
        head.update(added)
        oid = hashlib.sha1(json.dumps([self.hub.heads.get(repo, ""), sorted(
            (k, hashlib.sha256(v).hexdigest()) for k, v in head.items())]).encode()).hexdigest()
        self.hub.commits.setdefault(repo, {})[oid] = head
        self.hub.heads[repo] = oid
        self.hub.files.update({(repo, name): data for name, data in head.items()})
        self._json(200, {"commitUrl": f"{self.hub.endpoint}/{repo}/commit/{oid}", "commitOid": oid,
                         "pullRequestUrl": None})

    def _answer(self, body: bool) -> None:
        data, commit = self._lookup()
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.send_header("X-Error-Code", "EntryNotFound")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
        self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(body=True)


class HubStandIn:
    """``with HubStandIn({("owner/repo", "file.safetensors"): data}) as hub: hub.endpoint``"""

    def __init__(self, files: dict[tuple[str, str], bytes], plain: dict[str, bytes] | None = None,
                 token: str | None = None) -> None:
        self.files = dict(files)  # (repo, filename) -> bytes at "main"
        self.plain = dict(plain or {})
        self.token = token  # the write token uploads must carry (None: any)
        self.repos: set[str] = {repo for repo, _ in files}  # created (or served) repositories
        self.commits: dict[str, dict[str, dict[str, bytes]]] = {}  # repo -> commit id -> filename -> bytes
        self.heads: dict[str, str] = {}  # repo -> commit id of "main"
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.hub = self  # type: ignore[attr-defined]
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
