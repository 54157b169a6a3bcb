"""When a failed request is tried again, and how long we wait first: tenacity, configured.

botocore's own retries are off (`total_max_attempts=1`), so these are the only retries.

- What: `RetryableRemoteError` and its subclass `ThrottledError` (throttling, 5xx,
  dropped connections, timeouts, as translated in `codeartifact.py`). Never conflicts,
  rejections, fatal errors or bad input: those cannot succeed by trying again.
- How long: exponential back-off with full jitter, capped (`wait_random_exponential`:
  attempt n waits uniformly in [0, min(cap_s, base_s * 2**(n-1))]), so workers that
  failed together do not retry together; a server's `Retry-After` is a floor on top
  (`wait_retry_after_floor`), itself capped at `max_retry_after_s` (60 s by default,
  `constants.MAX_RETRY_AFTER_S`): no server makes us wait longer, and a capped wait
  still counts as an attempt, so a server that only ever throttles ends in a failure.
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

from uploader import constants as c
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
    """Wait as `inner` says, but never less than the server's Retry-After, up to a cap.

    Args:
        inner: the strategy whose wait is raised to the floor.
        max_retry_after_s: the largest floor a server can set; a longer Retry-After
            waits this long.
    """

    def __init__(self, inner: wait_base, *, max_retry_after_s: float = c.MAX_RETRY_AFTER_S):
        self.inner = inner
        self.max_retry_after_s = max_retry_after_s

    def __call__(self, retry_state: RetryCallState) -> float:
        """The inner wait, raised to the (capped) Retry-After of the failed attempt."""
        waited_s = self.inner(retry_state)
        floor_s = _retry_after_s(retry_state)
        if floor_s is None:
            return waited_s
        return max(waited_s, min(floor_s, self.max_retry_after_s))

    def __repr__(self) -> str:
        return f"wait_retry_after_floor({self.inner!r}, max_retry_after_s={self.max_retry_after_s})"


def backoff(
    *, base_s: float, cap_s: float, max_retry_after_s: float = c.MAX_RETRY_AFTER_S
) -> wait_base:
    """Full-jitter exponential back-off capped at `cap_s`, with Retry-After as a floor."""
    return wait_retry_after_floor(
        wait_random_exponential(multiplier=base_s, max=cap_s), max_retry_after_s=max_retry_after_s
    )


def log_retry(retry_state: RetryCallState) -> None:
    """Log one failed attempt that will be retried: the service's error code (or the
    transport's), the HTTP status if there was a reply, the reason, the coming wait."""
    error = retry_state.outcome.exception() if retry_state.outcome is not None else None
    remote = error if isinstance(error, RemoteError) else None
    log.info(
        "retrying",
        attempt=retry_state.attempt_number,
        wait_s=round(retry_state.upcoming_sleep, 3),
        code=remote.code if remote is not None else None,
        status=remote.status if remote is not None else None,
        reason=str(error),
    )


def retrying(
    *,
    max_attempts: int = c.MAX_ATTEMPTS,
    base_s: float = 0.2,
    cap_s: float = 20.0,
    max_retry_after_s: float = c.MAX_RETRY_AFTER_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_retry: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """The retry policy for one remote operation.

    Args:
        max_attempts: attempts in all, the first included.
        base_s: the back-off window of the first retry; it doubles each attempt.
        cap_s: the largest back-off window (a larger Retry-After still wins).
        max_retry_after_s: the longest wait a server's Retry-After can impose.
        sleep: how to wait; tests pass a fake that records the waits.
        on_retry: called before each wait (tenacity's `before_sleep`), e.g. to tell
            the rate limiter about throttling; None logs the retry with `log_retry`.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
    return AsyncRetrying(
        sleep=sleep,
        stop=stop_after_attempt(max_attempts),
        wait=backoff(base_s=base_s, cap_s=cap_s, max_retry_after_s=max_retry_after_s),
        retry=retry_if_exception_type(RetryableRemoteError),
        before_sleep=on_retry or log_retry,
        reraise=True,
    )
