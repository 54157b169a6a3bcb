"""Small Artifactory and Nexus servers for tests: the documented subset, over loopback.

`StoreServer` runs an aiohttp app in a thread of its own, on a free port (the CLI under
test runs its own event loop). What it implements, from the stores' REST docs:

* Artifactory (`/artifactory`): the storage API's file list
  `GET /api/storage/{repo}/{folder}?list&deep=0|1&listFolders=0|1&mdTimestamps=0|1`
  (`files[]` with `uri`, `size`, `lastModified`, `folder`, `sha1`, `sha2`), and download
  `GET /{repo}/{path}` with `X-Checksum-Sha1` / `X-Checksum-Sha256` headers.
* Nexus: `GET /service/rest/v1/assets?repository=R[&continuationToken=T]`, `page_size`
  items a page in the server's own order (not by path), and download
  `GET /repository/{repo}/{path}`.
* Both: 401 without the credentials (a bearer token, or basic user and password),
  404 for an unknown repository or folder. `redirect_to` answers every API request with
  a 302 to another server; `repeat_token` gives the first token again and again.

Every request's headers are kept in `seen`, for tests to see what was sent where.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

TOKEN: Final = "s3cr3t-token-for-tests"
USER: Final = "scanner"
PASSWORD: Final = "pa55-word-for-tests"
MODIFIED: Final = "2026-01-02T03:04:05.678Z"


@dataclass
class StoredFile:
    """One file of a repository; `sha256=False` plays an artifact deployed before 5.5."""

    body: bytes
    sha256: bool = True

    def sums(self) -> dict[str, str]:
        sums = {
            "sha1": hashlib.sha1(self.body).hexdigest(),
            "md5": hashlib.md5(self.body).hexdigest(),
        }
        if self.sha256:
            sums["sha256"] = hashlib.sha256(self.body).hexdigest()
        return sums


@dataclass
class Seen:
    """A request the server got: its path and query, and its headers."""

    path_qs: str
    headers: Mapping[str, str]


@dataclass
class StoreServer:
    """An Artifactory and a Nexus in one aiohttp app, started in a thread."""

    repos: dict[str, dict[str, StoredFile]] = field(default_factory=dict)
    open_access: bool = False
    page_size: int = 10
    redirect_to: str | None = None
    repeat_token: bool = False
    seed: int = 7
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="store-fake", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StoreServer:
        """Serve on a free loopback port; returns once it listens."""
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the store fake did not start")
        return self

    def stop(self) -> None:
        """Stop serving and end the thread."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/artifactory/api/storage/{repo}", self._storage)
        app.router.add_get("/artifactory/api/storage/{repo}/{folder:.*}", self._storage)
        app.router.add_get("/artifactory/{repo}/{path:.+}", self._download)
        app.router.add_get("/service/rest/v1/assets", self._assets)
        app.router.add_get("/repository/{repo}/{path:.+}", self._download)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    @web.middleware
    async def _guard(self, request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
        self.seen.append(Seen(request.path_qs, dict(request.headers)))
        if self.redirect_to is not None:
            raise web.HTTPFound(self.redirect_to + request.path_qs)
        if not self.open_access and not _authorized(request.headers.get("Authorization", "")):
            return web.json_response(
                {"errors": [{"status": 401, "message": "Unauthorized"}]}, status=401
            )
        return await handler(request)

    def _repo(self, request: web.Request) -> dict[str, StoredFile]:
        name = request.match_info.get("repo") or request.query.get("repository", "")
        if name not in self.repos:
            raise web.HTTPNotFound(text=f"repository {name!r} not found")
        return self.repos[name]

    # --- Artifactory ---

    async def _storage(self, request: web.Request) -> web.Response:
        files = self._repo(request)
        folder = request.match_info.get("folder", "").strip("/")
        prefix = f"{folder}/" if folder else ""
        below = {rel[len(prefix) :]: f for rel, f in files.items() if rel.startswith(prefix)}
        if not below or "list" not in request.query:
            raise web.HTTPNotFound(text="folder not found")
        deep = request.query.get("deep") == "1"
        with_folders = request.query.get("listFolders") == "1"
        entries = _deep(below, with_folders) if deep else _level(below, with_folders)
        return web.json_response({"uri": str(request.url), "created": MODIFIED, "files": entries})

    async def _download(self, request: web.Request) -> web.Response:
        file = self._repo(request).get(request.match_info["path"])
        if file is None:
            raise web.HTTPNotFound()
        sums = file.sums()
        headers = {"X-Checksum-Sha1": sums["sha1"]}
        if "sha256" in sums:
            headers["X-Checksum-Sha256"] = sums["sha256"]
        return web.Response(body=file.body, headers=headers)

    # --- Nexus ---

    async def _assets(self, request: web.Request) -> web.Response:
        files = self._repo(request)
        order = sorted(files)
        random.Random(self.seed).shuffle(order)  # Nexus's own order, not the paths'
        start = int(request.query.get("continuationToken", "0"))
        page = order[start : start + self.page_size]
        following = start + self.page_size
        token = None if following >= len(order) else str(following)
        if self.repeat_token and token is not None:
            token = str(self.page_size)
        repo = request.query["repository"]
        items = [_nexus_item(self.url, repo, rel, files[rel]) for rel in page]
        return web.json_response({"items": items, "continuationToken": token})


def _authorized(header: str) -> bool:
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return header in (f"Bearer {TOKEN}", f"Basic {basic}")


def _file_entry(uri: str, file: StoredFile) -> dict[str, object]:
    sums = file.sums()
    entry: dict[str, object] = {
        "uri": uri, "size": len(file.body), "lastModified": MODIFIED, "folder": False,
        "sha1": sums["sha1"], "mdTimestamps": {"properties": MODIFIED},
    }  # fmt: skip
    if "sha256" in sums:
        entry["sha2"] = sums["sha256"]
    return entry


def _level(below: Mapping[str, StoredFile], with_folders: bool) -> list[dict[str, object]]:
    entries: dict[str, dict[str, object]] = {}
    for rel, file in below.items():
        head, slash, _ = rel.partition("/")
        if not slash:
            entries[head] = _file_entry(f"/{head}", file)
        elif with_folders:
            entries[head + "/"] = {"uri": f"/{head}", "folder": True, "lastModified": MODIFIED}
    return list(reversed(entries.values()))  # the server's order is not the key order


def _deep(below: Mapping[str, StoredFile], with_folders: bool) -> list[dict[str, object]]:
    entries = [_file_entry(f"/{rel}", file) for rel, file in below.items()]
    return list(reversed(entries)) if not with_folders else entries


def _nexus_item(base: str, repo: str, rel: str, file: StoredFile) -> dict[str, object]:
    return {
        "downloadUrl": f"{base}/repository/{repo}/{rel}", "path": rel, "id": rel,
        "repository": repo, "format": "raw", "checksum": _raw_sums(file),
        "contentType": "application/octet-stream", "lastModified": MODIFIED,
        "fileSize": len(file.body),
    }  # fmt: skip


def _raw_sums(file: StoredFile) -> dict[str, str]:
    """A raw repository's checksums: MD5 and SHA-1, never SHA-256."""
    return {k: v for k, v in file.sums().items() if k != "sha256"}
