"""Start and stop the service: its store, broker, scheduler and HTTP server, in order.

`Service` is an async context manager: entering opens the job store, continues the
jobs the last service left unfinished, and listens; leaving stops accepting jobs (503),
drains the running ones (each within the settings' --drain-timeout; they become
`interrupted` and continue at the next start), and closes everything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import structlog
from aiohttp import web

from uploader.config import RunSettings
from uploader.metrics import Metrics
from uploader.service.api import STATE, add_routes
from uploader.service.auth import bearer_middleware
from uploader.service.broker import QuotaBroker
from uploader.service.jobs import JobStore
from uploader.service.scheduler import Scheduler
from uploader.service.state import ServiceState

log = structlog.get_logger(__name__)
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


class Service:
    """The long-running service: `async with Service(...) as service: ...`."""

    def __init__(
        self,
        settings: RunSettings,
        *,
        data_dir: Path,
        roots: Sequence[Path],
        tokens: Sequence[str],
        host: str = "127.0.0.1",
        port: int = 8080,
        max_jobs: int = 4,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not roots:
            raise ValueError("a service needs at least one --root")
        self.settings = settings
        self._host = host
        self._port = port
        self._tokens = list(tokens)
        self._max_body_bytes = max_body_bytes
        self.store = JobStore(data_dir)
        self.broker = QuotaBroker(settings.rate_limits())
        self.metrics = Metrics()
        self.scheduler = Scheduler(self.store, self.broker, max_jobs=max_jobs, metrics=self.metrics)
        self.state = ServiceState(
            settings, [r.resolve() for r in roots], self.store, self.broker, self.scheduler,
            metrics=self.metrics,
        )  # fmt: skip
        self._stack = contextlib.AsyncExitStack()
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        return f"<Service {self.url if self._runner else 'stopped'} {self.scheduler!r}>"

    @property
    def url(self) -> str:
        """`http://HOST:PORT` it listens on."""
        assert self._runner is not None, "not started"
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def app(self) -> web.Application:
        """The aiohttp application (routes, auth, the body limit)."""
        app = web.Application(
            client_max_size=self._max_body_bytes, middlewares=[bearer_middleware(self._tokens)]
        )
        app[STATE] = self.state
        add_routes(app)
        return app

    async def __aenter__(self) -> Self:
        await self._stack.enter_async_context(self.store)
        self._stack.push_async_callback(self.broker.close)
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)  # after the drain: status answers
        await self.scheduler.start()
        self._stack.push_async_callback(self.scheduler.stop)
        await web.TCPSite(runner, self._host, self._port).start()
        self._runner = runner
        log.info("service listening", url=self.url, roots=[str(r) for r in self.state.roots])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.scheduler.stopping = True  # POST answers 503 from now on
        log.info("service stopping: draining running jobs")
        await self._stack.aclose()
