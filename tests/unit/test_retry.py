"""Tests of uploader.retry: what is retried, how often, and how long each wait is."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs
from tenacity import RetryCallState

from uploader.errors import (
    ConflictError,
    FatalRemoteError,
    InvalidInputError,
    RejectedError,
    RetryableRemoteError,
    ThrottledError,
)
from uploader.retry import retrying


class Waits:
    """A fake sleep that records each wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits_s: list[float] = []

    async def __call__(self, seconds: float) -> None:
        """Record the wait."""
        self.waits_s.append(seconds)


class Flaky:
    """An operation that raises the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        """Fail with the next error, or succeed when none are left."""
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _quiet(_state: RetryCallState) -> None:
    """An on_retry that does nothing."""


async def test_retries_retryable_errors_until_success() -> None:
    """Transient errors are retried; the result of the first success is returned."""
    waits = Waits()
    op = Flaky(RetryableRemoteError("503"), ThrottledError("slow down"), RetryableRemoteError("x"))

    result: str = await retrying(sleep=waits, on_retry=_quiet)(op)

    assert result == "ok"
    assert op.calls == 4
    assert len(waits.waits_s) == 3


async def test_gives_up_after_max_attempts_with_the_original_error() -> None:
    """After max_attempts the last error itself is raised, not tenacity's RetryError."""
    waits = Waits()
    errors = [RetryableRemoteError(f"attempt {i}") for i in range(1, 6)]
    op = Flaky(*errors)

    with pytest.raises(RetryableRemoteError) as raised:
        await retrying(max_attempts=4, sleep=waits, on_retry=_quiet)(op)

    assert raised.value is errors[3]
    assert op.calls == 4
    assert len(waits.waits_s) == 3


@pytest.mark.parametrize(
    "error",
    [
        ConflictError("exists"),
        RejectedError("bad hash"),
        FatalRemoteError("access denied"),
        InvalidInputError("no such file"),
        ValueError("a bug"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_does_not_retry_other_errors(error: Exception) -> None:
    """Conflicts, rejections, fatal errors, bad input and bugs fail at once."""
    waits = Waits()
    op = Flaky(error)

    with pytest.raises(type(error)) as raised:
        await retrying(sleep=waits, on_retry=_quiet)(op)

    assert raised.value is error
    assert op.calls == 1
    assert waits.waits_s == []


async def test_retry_after_is_a_floor_on_every_wait() -> None:
    """With Retry-After: 3 every wait is at least 3 s, even when the back-off is shorter."""
    waits = Waits()
    op = Flaky(*(ThrottledError("429", retry_after_s=3.0) for _ in range(7)))

    await retrying(sleep=waits, on_retry=_quiet)(op)

    assert len(waits.waits_s) == 7
    assert all(w >= 3.0 for w in waits.waits_s)
    assert waits.waits_s[0] == 3.0  # first back-off window is 0.2 s: the floor decides


async def test_retry_after_above_the_cap_wins() -> None:
    """A Retry-After larger than cap_s is honoured; without one, waits stay under the cap."""
    waits = Waits()
    op = Flaky(
        ThrottledError("429", retry_after_s=30.0),
        *(RetryableRemoteError("500") for _ in range(8)),
    )

    await retrying(max_attempts=10, cap_s=1.0, sleep=waits, on_retry=_quiet)(op)

    assert waits.waits_s[0] == 30.0
    assert all(0 <= w <= 1.0 for w in waits.waits_s[1:])


async def test_retry_after_is_capped_and_each_capped_wait_counts() -> None:
    """Retry-After: 1e9 waits the cap (60 s by default) and the retries still end."""
    waits = Waits()
    op = Flaky(*(ThrottledError("429", retry_after_s=1e9) for _ in range(20)))

    with pytest.raises(ThrottledError):
        await retrying(max_attempts=5, sleep=waits, on_retry=_quiet)(op)

    assert waits.waits_s == [60.0] * 4
    assert op.calls == 5


async def test_retry_after_cap_is_a_setting() -> None:
    """max_retry_after_s lowers the cap; a Retry-After under it is still honoured."""
    waits = Waits()
    op = Flaky(ThrottledError("429", retry_after_s=1e9), ThrottledError("429", retry_after_s=2))

    await retrying(max_retry_after_s=5.0, cap_s=0.1, sleep=waits, on_retry=_quiet)(op)

    assert waits.waits_s == [5.0, 2.0]


async def test_throttled_without_retry_after_uses_plain_backoff() -> None:
    """A 429 with no Retry-After waits within the ordinary back-off window."""
    waits = Waits()
    op = Flaky(ThrottledError("429", retry_after_s=None))

    await retrying(base_s=0.2, sleep=waits, on_retry=_quiet)(op)

    assert 0 <= waits.waits_s[0] <= 0.2


@given(
    failures=st.integers(min_value=1, max_value=30),
    base_s=st.sampled_from([0.05, 0.2, 1.0]),
    cap_s=st.sampled_from([0.5, 5.0, 20.0]),
    retry_after_s=st.none() | st.floats(min_value=0.0, max_value=60.0),
)
async def test_waits_stay_within_the_full_jitter_window(
    failures: int, base_s: float, cap_s: float, retry_after_s: float | None
) -> None:
    """Wait n lies in [0, min(cap, base * 2**(n-1))], raised to Retry-After when given."""
    waits = Waits()
    op = Flaky(*(ThrottledError("429", retry_after_s=retry_after_s) for _ in range(failures)))

    await retrying(
        max_attempts=failures + 1, base_s=base_s, cap_s=cap_s, sleep=waits, on_retry=_quiet
    )(op)

    assert len(waits.waits_s) == failures
    for attempt, wait_s in enumerate(waits.waits_s, start=1):
        high_s = min(cap_s, base_s * 2 ** (attempt - 1))
        if retry_after_s is None:
            assert 0 <= wait_s <= high_s
        else:
            assert max(0, retry_after_s) <= wait_s <= max(high_s, retry_after_s)


async def test_jitter_spreads_the_waits() -> None:
    """Full jitter: waits at one attempt spread across the window rather than sit at its top."""
    waits = Waits()
    for _ in range(200):
        await retrying(base_s=1.0, sleep=waits, on_retry=_quiet)(Flaky(RetryableRemoteError("x")))

    assert min(waits.waits_s) < 0.25
    assert max(waits.waits_s) > 0.75


async def test_on_retry_sees_each_attempt_and_its_wait() -> None:
    """on_retry is called before each wait with the attempt number and the coming wait."""
    waits = Waits()
    seen: list[tuple[int, float]] = []

    def record(state: RetryCallState) -> None:
        seen.append((state.attempt_number, state.upcoming_sleep))

    op = Flaky(*(ThrottledError("429", retry_after_s=2.0) for _ in range(2)))
    await retrying(sleep=waits, on_retry=record)(op)

    assert seen == [(1, waits.waits_s[0]), (2, waits.waits_s[1])]


async def test_retries_are_logged_by_default() -> None:
    """Without on_retry, each retry is one 'retrying' event: AWS code, status, reason."""
    waits = Waits()
    op = Flaky(ThrottledError("slow down", retry_after_s=1.5))

    with capture_logs() as events:
        await retrying(sleep=waits)(op)

    assert events == [
        {
            "event": "retrying",
            "attempt": 1,
            "wait_s": waits.waits_s[0],
            "code": "ThrottlingException",
            "status": 429,
            "reason": "slow down",
            "log_level": "info",
        }
    ]


async def test_async_for_form_retries_too() -> None:
    """The `async for attempt in retrying()` form follows the same policy."""
    waits = Waits()
    op = Flaky(RetryableRemoteError("reset"), RetryableRemoteError("reset"))
    result: str | None = None

    async for attempt in retrying(sleep=waits, on_retry=_quiet):
        with attempt:
            result = await op()

    assert result == "ok"
    assert len(waits.waits_s) == 2


def test_max_attempts_must_be_positive() -> None:
    """max_attempts below 1 is refused."""
    with pytest.raises(ValueError, match="at least 1"):
        retrying(max_attempts=0)
