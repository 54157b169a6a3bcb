"""When a failed request is tried again, and how long we wait first: tenacity, configured.

botocore's own retries are off (`total_max_attempts=1`), so these are the only retries.

- What: `RetryableRemoteError` and its subclass `ThrottledError` (throttling, 5xx,
  dropped connections, timeouts, as translated in `codeartifact.py`). Never conflicts,
  rejections, fatal errors or bad input: those cannot succeed by trying again.
- How long: exponential back-off with full jitter, capped (`wait_random_exponential`:
  attempt n waits uniformly in [0, min(cap_s, base_s * 2**(n-1))]), so workers that
  failed together do not retry together; a server's `Retry-After` is a floor on top
  (`wait_retry_after_floor`).
- How often: `max_attempts` in all, then the last error itself is raised, not
  tenacity's `RetryError`, so callers handle one error tree.

Usage, one `retrying()` per operation (tenacity keeps per-call state on the object)::

    async for attempt in retrying(on_retry=...):
        with attempt:
            await client.publish(...)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from uploader.errors import RemoteError, RetryableRemoteError, ThrottledError

log = structlog.get_logger(__name__)


def _retry_after_s(retry_state: RetryCallState) -> float | None:
    """The server's Retry-After carried by the attempt's error, if it sent one."""
    outcome = retry_state.outcome
    if outcome is None or not outcome.failed:
        return None
    error = outcome.exception()
    if isinstance(error, ThrottledError):
        return error.retry_after_s
    return None


# Lower-case like tenacity's own strategies, so compositions read alike.
class wait_retry_after_floor(wait_base):
    """Wait as `inner` says, but never less than the server's Retry-After.

    Args:
        inner: the strategy whose wait is raised to the floor.
    """

    def __init__(self, inner: wait_base) -> None:
        self.inner = inner

    def __call__(self, retry_state: RetryCallState) -> float:
        """The inner wait, raised to the Retry-After of the failed attempt."""
        waited_s = self.inner(retry_state)
        floor_s = _retry_after_s(retry_state)
        return waited_s if floor_s is None else max(waited_s, floor_s)

    def __repr__(self) -> str:
        return f"wait_retry_after_floor({self.inner!r})"


def backoff(*, base_s: float, cap_s: float) -> wait_base:
    """Full-jitter exponential back-off capped at `cap_s`, with Retry-After as a floor."""
    return wait_retry_after_floor(wait_random_exponential(multiplier=base_s, max=cap_s))


def log_retry(retry_state: RetryCallState) -> None:
    """Log one failed attempt that will be retried, with the error and the coming wait."""
    error = retry_state.outcome.exception() if retry_state.outcome is not None else None
    log.info(
        "retrying",
        attempt=retry_state.attempt_number,
        wait_s=round(retry_state.upcoming_sleep, 3),
        error=type(error).__name__,
        code=error.code if isinstance(error, RemoteError) else None,
        message=str(error),
    )


def retrying(
    *,
    max_attempts: int = 8,
    base_s: float = 0.2,
    cap_s: float = 20.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_retry: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """The retry policy for one remote operation.

    Args:
        max_attempts: attempts in all, the first included.
        base_s: the back-off window of the first retry; it doubles each attempt.
        cap_s: the largest back-off window (a larger Retry-After still wins).
        sleep: how to wait; tests pass a fake that records the waits.
        on_retry: called before each wait (tenacity's `before_sleep`), e.g. to tell
            the rate limiter about throttling; None logs the retry with `log_retry`.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
    return AsyncRetrying(
        sleep=sleep,
        stop=stop_after_attempt(max_attempts),
        wait=backoff(base_s=base_s, cap_s=cap_s),
        retry=retry_if_exception_type(RetryableRemoteError),
        before_sleep=on_retry or log_retry,
        reraise=True,
    )
