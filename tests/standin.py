"""A hostile stand-in: an HTTP server in front of the emulator that answers some calls badly.

Every request is forwarded to the upstream (the emulator) unchanged, headers and SigV4
signature included, except for the operations given a `Behaviour`: those are answered
as the behaviour says (a redirect, endless throttling, a reply without end, a page
whose `nextToken` never ends, a body read slowly, any status and body). It runs on an
event loop of its own in a daemon thread, like `EmulatorThread`, so the code under test
keeps its loop to itself; it listens on port 0 and says where (`endpoint_url`).

    with StandIn(emulator.endpoint_url) as standin:
        standin.set("PublishPackageVersion", Throttle(retry_after="1000000000"))
        ... run against standin.endpoint_url ...
        assert standin.count("PublishPackageVersion") == 8

Modelled on aiobotocore's tests/mock_server.py; its own tests are tests/e2e/test_standin.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Protocol, Self

import aiohttp
from aiohttp import hdrs, web

from uploader.emulator.app import OPERATIONS

START_TIMEOUT_S: Final = 10.0
HOLD_TIMEOUT_S: Final = 30.0  # a held request is let go after this, released or not
CHUNK_BYTES: Final = 64 * 1024
# Not forwarded either way: they describe one hop, not the message.
HOP_HEADERS: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
)

Forward = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


class Behaviour(Protocol):
    """How the stand-in answers one request of an operation, given a way to forward it."""

    async def __call__(
        self, request: web.Request, forward: Forward, standin: StandIn
    ) -> web.StreamResponse:
        """The reply to send (the request's body is still unread)."""
        ...


@dataclass
class Redirect:
    """Answer `status` with `Location: {to}{path and query}`, reading none of the body."""

    to: str
    status: int = 307

    async def __call__(
        self, request: web.Request, forward: Forward, standin: StandIn
    ) -> web.StreamResponse:
        """The redirect."""
        return web.Response(status=self.status, headers={"Location": self.to + request.path_qs})


@dataclass
class Throttle:
    """A 429 ThrottlingException with this `Retry-After` (seconds, as text), every time."""

    retry_after: str = "1"

    async def __call__(
        self, request: web.Request, forward: Forward, standin: StandIn
    ) -> web.StreamResponse:
        """The throttling reply."""
        await request.read()
        return web.json_response(
            {"message": "Rate exceeded"},
            status=429,
            headers={"x-amzn-ErrorType": "ThrottlingException", "Retry-After": self.retry_after},
        )


@dataclass
class Reply:
    """Answer with this status, body and headers; with `forward_first`, after the upstream
    has handled the request (the asset is stored, the reply replaced)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    forward_first: bool = False

    async def __call__(
        self, request: web.Request, forward: Forward, standin: StandIn
    ) -> web.StreamResponse:
        """The given reply."""
        body = await request.read()
        if self.forward_first:
            await forward(request, body)
        return web.Response(status=self.status, body=self.body, headers=self.headers)


@dataclass
class EndlessBody:
    """A 200 whose body streams `total_bytes` of spaces (None: without end), chunked
    unless `declare_length`; the bytes written are counted in `StandIn.bytes_sent`."""

    total_bytes: int | None = None
    declare_length: bool = False

    async def __call__(
        self, request: web.Request, forward: Forward, standin: StandIn
    ) -> web.StreamResponse:
        """The huge reply, written until done or until the client goes away."""
        await request.read()
        reply = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        if self.declare_length and self.total_bytes is not None:
            reply.content_length = self.total_bytes
        else:
            reply.enable_chunked_encoding()
        await reply.prepare(request)
        chunk = b" " * CHUNK_BYTES
        left = self.total_bytes
        with _client_gone():
            while left is None or left > 0:
                piece = chunk if left is None else chunk[: min(left, CHUNK_BYTES)]
                await reply.write(piece)
                standin.bytes_sent += len(piece)
                left = None if left is None else left - len(piece)
            await reply.write_eof()
        return reply


@dataclass
class NextToken:
    """Forward, then set the reply's `nextToken`: always `repeat` if given (a token seen
    before), else a new one on every page (a listing that never ends)."""

    repeat: str | None = None
    _fresh: itertools.count[int] = field(default_factory=itertools.count)
    _page: dict[str, object] | None = None

    async def __call__(
        self, request: web.Request, forward: Forward, standin: StandIn
    ) -> web.StreamResponse:
        """The upstream's first page (replayed: the upstream knows no made-up token), with
        the token replaced."""
        body = await request.read()
        if self._page is None:
            upstream = await forward(request, body)
            assert isinstance(upstream, web.Response)
            if upstream.status != 200 or upstream.body is None:
                return upstream
            self._page = json.loads(bytes(upstream.body))  # type: ignore[arg-type]
        page = {**self._page, "nextToken": self.repeat or f"token-{next(self._fresh)}"}
        return web.json_response(page)


@dataclass
class Hold:
    """Read the first `after_bytes` of the body, set `reached`, wait for `StandIn.release()`
    (at most HOLD_TIMEOUT_S), then read the rest and forward (or answer `then`)."""

    after_bytes: int = CHUNK_BYTES
    then: Behaviour | None = None
    reached: threading.Event = field(default_factory=threading.Event)

    async def __call__(
        self, request: web.Request, forward: Forward, standin: StandIn
    ) -> web.StreamResponse:
        """Whatever the request gets after the pause."""
        head = await request.content.readexactly(self.after_bytes) if self.after_bytes else b""
        self.reached.set()
        with _client_gone():
            await asyncio.wait_for(standin.released.wait(), HOLD_TIMEOUT_S)
            if self.then is not None:
                return await self.then(request, forward, standin)
            return await forward(request, head + await request.read())
        return web.Response(status=400, text="the client hung up")  # never read


def _client_gone() -> contextlib.suppress:
    """Swallow the errors of a client that hung up: that is what the tests provoke."""
    return contextlib.suppress(ConnectionError, aiohttp.ClientError, TimeoutError)


@dataclass
class _Rule:
    behaviour: Behaviour
    times: int | None  # None: every request


class StandIn:
    """The stand-in server. See the module docstring.

    Args:
        upstream: where requests are forwarded (`http://host:port`); None answers 502
            to everything (a host that must receive nothing, e.g. a redirect's target).
        host: the address to listen on (`127.0.0.2` is another loopback host).
    """

    def __init__(self, upstream: str | None, *, host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.host = host
        self.port = 0
        self.requests: Counter[str] = Counter()  # operation (or path) -> requests seen
        self.bytes_received = 0  # request bytes read by the stand-in itself
        self.bytes_sent = 0  # by EndlessBody
        self._rules: dict[str, _Rule] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="standin")  # fmt: skip
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.released = asyncio.Event()  # set on the stand-in's loop by release()

    def __repr__(self) -> str:
        return f"<StandIn {self.endpoint_url} -> {self.upstream} rules={sorted(self._rules)}>"

    @property
    def endpoint_url(self) -> str:
        """`http://HOST:PORT` once started."""
        return f"http://{self.host}:{self.port}"

    def set(self, operation: str, behaviour: Behaviour, *, times: int | None = None) -> None:
        """Answer `operation` (e.g. "PublishPackageVersion") as `behaviour` says, for the
        next `times` requests (None: all of them); the others are forwarded."""
        assert operation in OPERATIONS.values(), operation
        self._rules[operation] = _Rule(behaviour, times)

    def count(self, operation: str) -> int:
        """Requests of `operation` seen so far."""
        return self.requests[operation]

    def release(self) -> None:
        """Let every `Hold` go on (thread-safe)."""
        self._loop.call_soon_threadsafe(self.released.set)

    # --- serving ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        operation = OPERATIONS.get((request.method, request.path), request.path)
        self.requests[operation] += 1
        rule = self._rules.get(operation)
        if rule is None or rule.times == 0:
            return await self._forward(request, await self._read(request))
        if rule.times is not None:
            rule.times -= 1
        return await rule.behaviour(request, self._forward, self)

    async def _read(self, request: web.Request) -> bytes:
        body = await request.read()
        self.bytes_received += len(body)
        return body

    async def _forward(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """Send the request on unchanged (the client's Host header too: it is signed)."""
        if self.upstream is None or self._session is None:
            return web.Response(status=502, text="this host forwards nothing")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body,
            allow_redirects=False, skip_auto_headers=_ALL_AUTO_HEADERS,
        ) as upstream:  # fmt: skip
            reply_body = await upstream.read()
            reply_headers = {
                k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS
            }
        return web.Response(status=upstream.status, body=reply_body, headers=reply_headers)

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        self.released.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def start(self) -> None:
        """Listen, in a thread of its own."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(START_TIMEOUT_S)

    def stop(self) -> None:
        """Stop listening and end the thread."""
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(START_TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=START_TIMEOUT_S)
            self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.stop()


_ALL_AUTO_HEADERS: Final = frozenset({hdrs.USER_AGENT, hdrs.ACCEPT, hdrs.ACCEPT_ENCODING})
