"""Tests of uploader.limits: even spacing, write tokens, runtime rates, AIMD."""

from __future__ import annotations

import asyncio
import time

import pytest
from asyncio_throttle.throttler import Throttler
from structlog.testing import capture_logs

from uploader.limits import (
    DEFAULT_RATES_PER_S,
    AdaptivePolicy,
    Family,
    FamilySnapshot,
    RateLimits,
    throttle_shape,
)


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        """The current time."""
        return self.now_s

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now_s += seconds


async def _acquire_until(limits: RateLimits, family: str, deadline_s: float) -> list[float]:
    stamps: list[float] = []
    while time.monotonic() < deadline_s:
        await limits.acquire(family)
        stamps.append(time.monotonic())
    return stamps


def _max_in_window(stamps: list[float], window_s: float) -> int:
    stamps = sorted(stamps)
    best = 0
    j = 0
    for i, start in enumerate(stamps):
        j = max(j, i)
        while j < len(stamps) and stamps[j] < start + window_s:
            j += 1
        best = max(best, j - i)
    return best


async def test_naive_throttler_bursts_a_whole_second_at_once() -> None:
    """asyncio-throttle's Throttler(50, 1.0) lets 50 through instantly: why we reshape it."""
    throttler = Throttler(rate_limit=50, period=1.0)
    start_s = time.monotonic()
    for _ in range(50):
        await throttler.acquire()  # type: ignore[no-untyped-call]  # the library is untyped
    assert time.monotonic() - start_s < 0.05


async def test_requests_are_spread_evenly_within_each_second() -> None:
    """At 50/s, no 100 ms window gets more than 6 requests, and ~50/s get through."""
    limits = RateLimits({Family.LIST: 50})
    start_s = time.monotonic()
    deadline_s = start_s + 2.5
    per_worker = await asyncio.gather(
        *(_acquire_until(limits, "list", deadline_s) for _ in range(10))
    )
    stamps = sorted(t for worker in per_worker for t in worker)

    assert _max_in_window(stamps, 0.1) <= 50 / 10 + 1
    # Steady state, past the first window: the average holds (the 10 ms poll costs a little).
    steady = [t for t in stamps if start_s + 0.5 <= t < start_s + 2.5]
    assert 40 <= len(steady) / 2.0 <= 51


@pytest.mark.parametrize(
    ("rate_per_s", "shape"),
    [(50, (5, 0.1)), (10, (1, 0.1)), (200, (20, 0.1)), (0.5, (1, 2.0)), (15, (2, 2 / 15))],
)
def test_throttle_shape_spreads_rate_over_100ms(
    rate_per_s: float, shape: tuple[int, float]
) -> None:
    """A rate becomes n requests per n/rate seconds with n ≈ rate/10, at least 1."""
    requests, period_s = throttle_shape(rate_per_s)
    assert requests == shape[0]
    assert period_s == pytest.approx(shape[1])
    assert requests / period_s == pytest.approx(rate_per_s)


@pytest.mark.parametrize("rate_per_s", [0, -1, float("inf"), float("nan")])
def test_throttle_shape_refuses_non_positive_rates(rate_per_s: float) -> None:
    """Zero, negative, infinite and NaN rates are refused."""
    with pytest.raises(ValueError, match="positive"):
        throttle_shape(rate_per_s)


def test_defaults_are_the_published_quotas() -> None:
    """Without overrides every family starts at CodeArtifact's default quota."""
    limits = RateLimits()
    assert {f: limits.rate_per_s(f) for f in Family} == {
        Family.PUBLISH: 10.0,
        Family.LIST: 200.0,
        Family.WRITE: 100.0,
        Family.FINALIZE: 100.0,
    }
    assert dict(DEFAULT_RATES_PER_S) == {f: limits.rate_per_s(f) for f in Family}
    assert repr(limits) == (
        "RateLimits(publish=10/s, list=200/s, write=100/s, finalize=100/s, adaptive=False)"
    )


def test_unknown_family_is_refused() -> None:
    """A family name that does not exist raises ValueError."""
    with pytest.raises(ValueError, match="upload"):
        RateLimits({"upload": 1.0})


async def test_publish_and_finalize_also_take_a_write_token() -> None:
    """Publish and finalize share the account's write budget; list does not."""
    limits = RateLimits({Family.WRITE: 0.5})  # one write per 2 s

    await asyncio.wait_for(limits.acquire("publish"), timeout=0.5)
    await asyncio.wait_for(limits.acquire(Family.LIST), timeout=0.5)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limits.acquire("finalize"), timeout=0.1)


async def test_set_rate_releases_waiters_already_queued() -> None:
    """Raising a rate at runtime lets a task already waiting through at the new pace."""
    limits = RateLimits({Family.LIST: 0.5})
    await limits.acquire("list")
    waiter = asyncio.create_task(limits.acquire("list"))
    await asyncio.sleep(0.1)
    assert not waiter.done()

    limits.set_rate("list", 100)

    await asyncio.wait_for(waiter, timeout=0.2)
    assert limits.rate_per_s("list") == 100
    assert limits.snapshot()[Family.LIST].window_requests == 10


async def test_set_rate_slows_down_at_runtime() -> None:
    """Lowering a rate at runtime makes the next request wait."""
    limits = RateLimits({Family.LIST: 200})
    await limits.acquire("list")
    limits.set_rate("list", 0.5)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limits.acquire("list"), timeout=0.1)


def test_fixed_mode_counts_throttles_but_keeps_the_rate() -> None:
    """Without --rate auto, throttling is counted and the rate stays."""
    limits = RateLimits()
    limits.on_throttled("publish")
    limits.on_success("publish")
    assert limits.rate_per_s("publish") == 10
    assert limits.snapshot()[Family.PUBLISH].throttles_seen == 1


def test_burst_of_throttles_halves_once_per_cooldown() -> None:
    """Many 429s inside one cool-down halve the rate once; after it, once more."""
    clock = FakeClock()
    limits = RateLimits(adaptive=AdaptivePolicy(cooldown_s=2.0), clock=clock)

    for _ in range(8):
        limits.on_throttled("publish")
        clock.advance(0.1)
    assert limits.rate_per_s("publish") == 5.0

    clock.advance(2.0)
    limits.on_throttled("publish")
    assert limits.rate_per_s("publish") == 2.5
    assert limits.snapshot()[Family.PUBLISH] == FamilySnapshot(
        rate_per_s=2.5,
        ceiling_per_s=10.0,
        throttles_seen=9,
        rate_cuts=2,
        window_requests=1,
        window_s=0.4,
    )
    assert limits.rate_per_s("write") == 100.0  # families move independently


def test_rate_never_drops_below_the_floor() -> None:
    """Repeated cuts stop at min_rate_per_s."""
    clock = FakeClock()
    limits = RateLimits(adaptive=AdaptivePolicy(min_rate_per_s=0.5), clock=clock)
    for _ in range(20):
        limits.on_throttled("publish")
        clock.advance(10.0)
    assert limits.rate_per_s("publish") == 0.5


def test_success_raises_the_rate_slowly_after_the_cooldown() -> None:
    """After a cut, successes add 5% of the ceiling per second, starting after the cool-down."""
    clock = FakeClock()
    limits = RateLimits(adaptive=AdaptivePolicy(cooldown_s=2.0), clock=clock)
    limits.on_throttled("publish")  # 10 -> 5

    clock.advance(1.0)
    limits.on_success("publish")
    assert limits.rate_per_s("publish") == 5.0  # still cooling down

    clock.advance(2.0)  # one second past the cool-down
    limits.on_success("publish")
    assert limits.rate_per_s("publish") == pytest.approx(5.5)

    for _ in range(4):
        clock.advance(0.25)
        limits.on_success("publish")
    assert limits.rate_per_s("publish") == pytest.approx(6.0)


def test_increase_stops_at_the_ceiling() -> None:
    """However long the success, the rate returns to the starting quota and no higher."""
    clock = FakeClock()
    limits = RateLimits({"list": 40}, adaptive=AdaptivePolicy(), clock=clock)
    limits.on_throttled("list")
    for _ in range(200):
        clock.advance(0.5)
        limits.on_success("list")
    assert limits.rate_per_s("list") == 40


def test_an_idle_gap_is_not_a_second_of_success() -> None:
    """One success after a long silence earns at most max_credit_s of increase."""
    clock = FakeClock()
    policy = AdaptivePolicy(cooldown_s=1.0, max_credit_s=1.0)
    limits = RateLimits(adaptive=policy, clock=clock)
    limits.on_throttled("publish")  # 10 -> 5

    clock.advance(60.0)
    limits.on_success("publish")
    assert limits.rate_per_s("publish") == pytest.approx(5.5)


def test_set_rate_is_the_new_ceiling_in_adaptive_mode() -> None:
    """An operator's lower rate caps the AIMD climb."""
    clock = FakeClock()
    limits = RateLimits(adaptive=AdaptivePolicy(), clock=clock)
    limits.set_rate("publish", 4)
    limits.on_throttled("publish")
    for _ in range(100):
        clock.advance(1.0)
        limits.on_success("publish")
    assert limits.snapshot()[Family.PUBLISH].ceiling_per_s == 4
    assert limits.rate_per_s("publish") == 4


def test_a_cut_is_logged() -> None:
    """Lowering a rate leaves one log event naming the family and the new rate."""
    limits = RateLimits(adaptive=AdaptivePolicy(), clock=FakeClock())
    with capture_logs() as events:
        limits.on_throttled("publish")
        limits.on_throttled("publish")
    assert events == [
        {"event": "rate lowered", "family": "publish", "rate_per_s": 5.0, "log_level": "info"}
    ]
