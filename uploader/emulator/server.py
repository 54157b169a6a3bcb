"""Start and stop the emulator: on the caller's loop, or in a thread of its own."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from uploader import constants as c
from uploader import names
from uploader.emulator.app import create_app
from uploader.emulator.catalog import Limits
from uploader.emulator.faults import FaultPlan, Quotas
from uploader.emulator.records import StoreError
from uploader.emulator.state import EmulatorState
from uploader.emulator.store import Store

IO_THREADS = 4
STOP_TIMEOUT_S = 10.0
SHUTDOWN_GRACE_S = 2.0  # requests still running at stop (a latency fault) are cut after it


def parse_repo_spec(spec: str) -> tuple[str, str]:
    """`DOMAIN/REPO` -> (domain, repository); ValueError with a one-line reason."""
    domain, sep, repository = spec.partition("/")
    if not sep:
        raise ValueError(f"--repo {spec!r}: expected DOMAIN/REPOSITORY")
    for what, problem in (
        ("domain", names.check_domain(domain)),
        ("repository", names.check_repository(repository)),
    ):
        if problem is not None:
            raise ValueError(f"--repo {spec!r}: {what} {problem}")
    return domain, repository


def _unless_it_exists(create: Callable[[], object]) -> None:
    try:
        create()
    except StoreError as error:
        if error.code != "ConflictException":
            raise


def ensure_repository(store: Store, domain: str, repository: str) -> None:
    """Create the domain and repository unless they exist."""
    _unless_it_exists(lambda: store.catalog.create_domain(domain))
    _unless_it_exists(lambda: store.catalog.create_repository(domain, repository, ""))


class Emulator:
    """A CodeArtifact emulator serving on this event loop.

    Args:
        data_dir: persistent store; None keeps it in a temporary folder removed at stop.
        host: address to listen on (loopback by default).
        port: 0 picks a free port; `endpoint_url` tells which.
        repos: `DOMAIN/REPO` pairs created at start when missing.
        credentials: access key id -> secret; None accepts any well-formed SigV4 signature.
        quotas: request-rate quotas; none by default.
        faults: seeded fault schedule; none by default.
        max_asset_size_bytes: uploads above it get ServiceQuotaExceededException.
        republish_conflicts: any second publish of an asset name is a ConflictException,
            even with identical bytes: stricter than AWS, which accepts identical bytes.
        limits: quotas on domains, repositories per domain and assets per version
            (AWS's by default).
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        repos: Iterable[str] = (),
        credentials: Mapping[str, str] | None = None,
        quotas: Quotas | None = None,
        faults: FaultPlan | None = None,
        max_asset_size_bytes: int = c.MAX_ASSET_SIZE_BYTES,
        account_id: str = c.DEFAULT_ACCOUNT_ID,
        republish_conflicts: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self._repos = [parse_repo_spec(spec) for spec in repos]
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="uploader-emulator-")
            data_dir = Path(self._tmp.name)
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self._store_executor = ThreadPoolExecutor(1, thread_name_prefix="emulator-store")
        self._io_executor = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="emulator-io")
        self._options: dict[str, Any] = {
            "credentials": credentials,
            "quotas": quotas or Quotas.none(),
            "faults": faults or FaultPlan.none(),
            "max_asset_size_bytes": max_asset_size_bytes,
        }
        self._account_id = account_id
        self._republish_conflicts = republish_conflicts
        self._limits = limits or Limits()
        self._runner: web.AppRunner | None = None
        self.state: EmulatorState | None = None

    def __repr__(self) -> str:
        where = self.endpoint_url if self._runner else "stopped"
        return f"<Emulator {where} data={self.data_dir}>"

    @property
    def endpoint_url(self) -> str:
        """`http://HOST:PORT` once started."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        store = await loop.run_in_executor(self._store_executor, self._open_store)
        self.state = EmulatorState(store, self._store_executor, self._io_executor, **self._options)
        self._runner = web.AppRunner(
            create_app(self.state), access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def _open_store(self) -> Store:
        store = Store(
            self.data_dir,
            account_id=self._account_id,
            republish_conflicts=self._republish_conflicts,
            limits=self._limits,
        )
        for domain, repository in self._repos:
            ensure_repository(store, domain, repository)
        return store

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.state is not None:
            store = self.state.store
            await asyncio.get_running_loop().run_in_executor(self._store_executor, store.close)
        self._store_executor.shutdown(wait=True)
        self._io_executor.shutdown(wait=True)
        if self._tmp is not None:
            self._tmp.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.stop()

    def stats(self) -> dict[str, Any]:
        """The counters served at `/__emulator/stats`."""
        assert self.state is not None, "the emulator is not running"
        return self.state.stats.to_json()


class EmulatorThread:
    """An `Emulator` on an event loop of its own, in a daemon thread.

    For synchronous clients (boto3, the AWS CLI), and for tests that want the server's
    work off the loop under test. Takes the same arguments as `Emulator`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.emulator = Emulator(*args, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="emulator")  # fmt: skip

    def __repr__(self) -> str:
        return f"<EmulatorThread {self.emulator!r}>"

    @property
    def endpoint_url(self) -> str:
        return self.emulator.endpoint_url

    @property
    def store(self) -> Store:
        assert self.emulator.state is not None, "the emulator is not running"
        return self.emulator.state.store

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self.emulator.start(), self._loop)
        future.result(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        future = asyncio.run_coroutine_threadsafe(self.emulator.stop(), self._loop)
        try:
            future.result(timeout=STOP_TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=STOP_TIMEOUT_S)
            self._loop.close()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run `fn(store, *args)` on the store's thread, e.g. to tamper with an asset."""
        state = self.emulator.state
        assert state is not None, "the emulator is not running"
        coroutine = state.db(fn, state.store, *args)
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(STOP_TIMEOUT_S)

    def stats(self) -> dict[str, Any]:
        """The counters, read on the emulator's loop: the handlers count there."""

        async def read() -> dict[str, Any]:
            return self.emulator.stats()

        return asyncio.run_coroutine_threadsafe(read(), self._loop).result(STOP_TIMEOUT_S)

    def arrivals(self, operation: str) -> list[float]:
        """When the requests of `operation` came (`Stats.arrivals`), read on its loop."""

        async def read() -> list[float]:
            assert self.emulator.state is not None, "the emulator is not running"
            return self.emulator.state.stats.arrivals(operation)

        return asyncio.run_coroutine_threadsafe(read(), self._loop).result(STOP_TIMEOUT_S)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.stop()
