"""Every request the pipeline makes goes through `Remote.call`: rate limit, retry, stop.

attempt:  stop requested? -> Interrupted (the work stays pending)
          take an upload slot (publishes only)
          take a rate token of the call's family (and an account-write token)
          one request, under its own deadline (codeartifact.py)
on error: tenacity decides (retry.py); a throttle also slows the family (limits.py);
          the back-off sleep wakes early when a stop is requested
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from tenacity import RetryCallState

from uploader.api import CodeArtifactAPI, RetryObserver
from uploader.errors import Interrupted, RetryableRemoteError, ThrottledError
from uploader.limits import Family, Limits
from uploader.report import Totals
from uploader.retry import log_retry, retrying

T = TypeVar("T")
log = structlog.get_logger(__name__)


def shared_task(awaitable: Awaitable[T]) -> asyncio.Future[T]:
    """A task several callers await through `asyncio.shield`, its outcome always retrieved.

    When every awaiter of a shield is cancelled (the drain timeout), asyncio drops the
    shield's callback on the inner task; an error that task raises later (`Interrupted`)
    would be reported as "Task exception was never retrieved" on stderr. The callback
    here retrieves it: each awaiter still gets it through its shield.
    """
    task = asyncio.ensure_future(awaitable)
    task.add_done_callback(_retrieve)
    return task


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class Remote:
    """The client's calls made safe to repeat and to stop.

    Args:
        api: single-attempt CodeArtifact calls.
        limits: the shared rate limits.
        totals: where retries and throttles are counted.
        max_attempts: attempts per request, the first included.
        max_retry_after_s: the longest wait a server's Retry-After can impose.
        sleep: the back-off's sleep (tests record the waits); a stop ends it early.
        observer: told of every retry, with the error that caused it (metrics).
    """

    def __init__(
        self,
        api: CodeArtifactAPI,
        limits: Limits,
        totals: Totals,
        *,
        max_attempts: int,
        max_retry_after_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observer: RetryObserver | None = None,
    ) -> None:
        self.api = api
        self.limits = limits
        self._totals = totals
        self._max_attempts = max_attempts
        self._max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._observer = observer
        self.stopping = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Remote {self.limits!r} stopping={self.stopping.is_set()}>"

    def stop(self) -> None:
        """Start no new request from now on; back-off sleeps end now."""
        self.stopping.set()

    def check_running(self) -> None:
        """Raise Interrupted once a stop was requested."""
        if self.stopping.is_set():
            raise Interrupted("stopping: the work was left pending")

    async def call(
        self,
        family: Family,
        request: Callable[[], Awaitable[T]],
        slot: asyncio.Semaphore | None = None,
    ) -> T:
        """`request` under the family's rate limit, retried by the tenacity policy.

        With `slot`, each attempt first takes a place in it, then a rate token: a token is
        never spent by a request that still has to queue for a connection, and the slot
        is not held during back-off, so other uploads go on meanwhile.
        """
        async for attempt in retrying(
            max_attempts=self._max_attempts,
            max_retry_after_s=self._max_retry_after_s,
            sleep=self._interruptible_sleep,
            on_retry=lambda state: self._on_retry(family, state),
        ):
            with attempt:
                self.check_running()
                async with slot or contextlib.nullcontext():
                    self.check_running()
                    await self.limits.acquire(family)
                    result = await request()
                self.limits.on_success(family)
                return result
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _interruptible_sleep(self, seconds: float) -> None:
        waits = [
            asyncio.ensure_future(self.stopping.wait()),
            asyncio.ensure_future(self._sleep(seconds)),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def _on_retry(self, family: Family, state: RetryCallState) -> None:
        """One event per retry: `throttled` for a 429, `retrying` for anything else."""
        error = state.outcome.exception() if state.outcome is not None else None
        self._totals.retries += 1
        if self._observer is not None and isinstance(error, RetryableRemoteError):
            self._observer.retrying(error)
        if not isinstance(error, ThrottledError):
            log_retry(state)
            return
        self._totals.throttled += 1
        self.limits.on_throttled(family)
        log.info(
            "throttled",
            family=family.value,
            attempt=state.attempt_number,
            retry_after_s=error.retry_after_s,
            wait_s=round(state.upcoming_sleep, 3),
        )
