"""A small HTTP file server for the source tests: checksums, redirects, faults, auth.

An aiohttp app on port 0 (the aiobotocore test server pattern), reachable as both
`127.0.0.1` and `localhost`, so a redirect from one to the other goes to another host.

    /files/NAME          the bytes of NAME, with ETag, Last-Modified and, when set,
                         X-Checksum-Sha256 / -Sha1; honours If-Match (412)
    /redirect/N/NAME     N redirects, each to the other host name, then /files/NAME
    /to/URL-ENCODED      one redirect to any Location
    /flaky/K/NAME        503 for the first K requests of NAME, then /files/NAME
    /reset/NAME          a full Content-Length, half the body, then the connection closes
    /private/NAME        /files/NAME, but 401 unless `Authorization` is `auth`
    /stall/NAME          headers, then no body byte for a minute
    /nohead/NAME         405 to HEAD, /files/NAME to GET

Every request's path and headers are kept in `requests`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LAST_MODIFIED = "Wed, 02 Dec 2026 10:00:00 GMT"


@dataclass
class Served:
    """What the server holds for a name: the bytes, and the checksums it declares."""

    data: bytes
    sha256: str | None = None
    sha1: str | None = None
    etag: str = ""

    def __post_init__(self) -> None:
        if not self.etag:
            self.etag = '"' + hashlib.md5(self.data, usedforsecurity=False).hexdigest() + '"'


@dataclass
class FileServer:
    """The server's state; `base(host)` is its URL under one of its two host names."""

    files: dict[str, Served] = field(default_factory=dict)
    auth: str = "Bearer s3cr3t-t0ken"
    requests: list[tuple[str, str, CIMultiDictProxy[str]]] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    port: int = 0
    _runner: web.AppRunner | None = None

    def base(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}"

    def put(self, name: str, data: bytes, *, declare: bool = True, **kwargs: str) -> Served:
        """Serve `data` as NAME, declaring its true SHA-256 and SHA-1 unless told otherwise."""
        if declare:
            kwargs.setdefault("sha256", hashlib.sha256(data).hexdigest())
            kwargs.setdefault("sha1", hashlib.sha1(data, usedforsecurity=False).hexdigest())
        served = Served(data, **kwargs)
        self.files[name] = served
        return served

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/files/{name}", self._file)
        app.router.add_route("*", "/redirect/{n}/{name}", self._redirect)
        app.router.add_route("*", "/to/{location:.*}", self._to)
        app.router.add_route("*", "/flaky/{k}/{name}", self._flaky)
        app.router.add_route("*", "/reset/{name}", self._reset)
        app.router.add_route("*", "/private/{name}", self._private)
        app.router.add_route("*", "/stall/{name}", self._stall)
        app.router.add_route("*", "/nohead/{name}", self._no_head)
        app.middlewares.append(self._record)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path, request.headers))
        return await handler(request)

    def _served(self, request: web.Request) -> Served:
        served = self.files.get(request.match_info["name"])
        if served is None:
            raise web.HTTPNotFound()
        return served

    async def _file(self, request: web.Request) -> web.StreamResponse:
        served = self._served(request)
        if request.headers.get("If-Match", served.etag) != served.etag:
            raise web.HTTPPreconditionFailed()
        headers = CIMultiDict({"ETag": served.etag, "Last-Modified": LAST_MODIFIED})
        if served.sha256:
            headers["X-Checksum-Sha256"] = served.sha256
        if served.sha1:
            headers["X-Checksum-Sha1"] = served.sha1
        return web.Response(body=served.data, headers=headers)

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        n = int(request.match_info["n"])
        name = request.match_info["name"]
        other = "localhost" if request.host.startswith("127.") else "127.0.0.1"
        path = f"/redirect/{n - 1}/{name}" if n > 1 else f"/files/{name}"
        raise web.HTTPFound(f"{self.base(other)}{path}")

    async def _to(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(unquote(request.match_info["location"]))

    async def _flaky(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if self.failures[name] < int(request.match_info["k"]):
            self.failures[name] += 1
            raise web.HTTPServiceUnavailable()
        return await self._file(request)

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        served = self._served(request)
        reply = web.StreamResponse(headers={"ETag": served.etag, "Last-Modified": LAST_MODIFIED})
        reply.content_length = len(served.data)
        await reply.prepare(request)
        if request.method != "HEAD":
            await reply.write(served.data[: len(served.data) // 2])
            assert request.transport is not None
            request.transport.close()
        return reply

    async def _private(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != self.auth:
            raise web.HTTPUnauthorized()
        return await self._file(request)

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        served = self._served(request)
        reply = web.StreamResponse(headers={"ETag": served.etag})
        reply.content_length = len(served.data)
        await reply.prepare(request)
        if request.method != "HEAD":
            await asyncio.sleep(60)
        return reply

    async def _no_head(self, request: web.Request) -> web.StreamResponse:
        if request.method == "HEAD":
            raise web.HTTPMethodNotAllowed("HEAD", ["GET"])
        return await self._file(request)
