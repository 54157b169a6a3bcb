"""Request-rate limits per API family, shared by all workers, optionally adaptive (AIMD).

Families and their default rates (CodeArtifact's published quotas, `constants.py`):

    publish   PublishPackageVersion              10/s   also takes a `write` token
    list      ListPackageVersions/-Assets       200/s
    write     every write from the account      100/s
    finalize  UpdatePackageVersionsStatus       100/s   also takes a `write` token

Each family is one `asyncio_throttle.Throttler`. That throttler counts acquisitions in a
sliding window of `period` seconds, polling every 10 ms, so `Throttler(50, 1.0)` lets 50
requests through in the first instants of each second and then nothing: a burst the
service sees as throttling-worthy even though the average is within quota. We therefore
shape every rate as a small window: `n = max(1, round(rate * WINDOW_S))` requests per
`n / rate` seconds (50/s becomes 5 per 100 ms, 10/s becomes 1 per 100 ms, 0.5/s 1 per
2 s). The average is exact and no 100 ms sees more than about rate/10 + 1 requests.
Why not `Throttler(1, 1 / rate)`: at 200/s that period (5 ms) is shorter than the
throttler's poll, so a lone waiter could reach at most ~100/s; windows of ~100 ms keep
the poll's cost small, always on the safe side. The poll itself is 1 ms (the library's
10 ms lost up to 10 ms a window: 20/s came out at 19.4/s), and only the waiter at the
head of a family's queue polls; the others wait on a lock, so the fine poll stays cheap.

Adaptive mode (`--rate auto`) is AIMD: a throttling reply halves the family's rate (not
below `min_rate_per_s`), at most once per cool-down, because the requests already in
flight when the quota was hit come back throttled too and must not halve it again; each
second of success then adds a fixed step, up to the ceiling (the starting quota or a
rate an operator set).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Protocol

import structlog
from asyncio_throttle.throttler import Throttler

from uploader import constants as c

WINDOW_S: Final = 0.1  # the span over which requests may bunch; see the module docstring
# How often the waiter at the head of a family's queue looks for a free slot. The
# library's default (10 ms) costs up to 10 ms per window: 20/s came out at 19.4/s.
POLL_S: Final = 0.001

log = structlog.get_logger(__name__)


class Family(StrEnum):
    """An API family: the requests that share one rate quota."""

    PUBLISH = "publish"
    LIST = "list"
    WRITE = "write"
    FINALIZE = "finalize"


DEFAULT_RATES_PER_S: Final[Mapping[Family, float]] = MappingProxyType(
    {
        Family.PUBLISH: c.PUBLISH_RATE_PER_S,
        Family.LIST: min(c.LIST_ASSETS_RATE_PER_S, c.LIST_VERSIONS_RATE_PER_S),
        Family.WRITE: c.ACCOUNT_WRITE_RATE_PER_S,
        # No separate quota is published for UpdatePackageVersionsStatus; it is a write.
        Family.FINALIZE: c.ACCOUNT_WRITE_RATE_PER_S,
    }
)

# Calls that are also account writes, and so must also fit the account's write quota.
_ALSO_COUNTS_UNDER: Final[Mapping[Family, tuple[Family, ...]]] = MappingProxyType(
    {Family.PUBLISH: (Family.WRITE,), Family.FINALIZE: (Family.WRITE,)}
)


def throttle_shape(rate_per_s: float) -> tuple[int, float]:
    """`(requests, period_s)` for a Throttler that spreads `rate_per_s` over ~100 ms windows."""
    if not (math.isfinite(rate_per_s) and rate_per_s > 0):
        raise ValueError(f"rate must be a positive number of requests per second: {rate_per_s}")
    requests = max(1, round(rate_per_s * WINDOW_S))
    return requests, requests / rate_per_s


@dataclass(frozen=True)
class AdaptivePolicy:
    """How `--rate auto` moves a family's rate.

    Args:
        decrease_factor: the rate is multiplied by this on throttling.
        min_rate_per_s: the rate never goes below this.
        increase_fraction_per_s: each second of success adds this fraction of the
            family's ceiling (0.05: from half the quota back to all of it in 10 s).
        cooldown_s: after a cut, further throttling replies are counted but cut nothing,
            and successes earn no increase, for this long.
        max_credit_s: the most one success can be credited with; an idle gap is not
            a second of success.
    """

    decrease_factor: float = 0.5
    min_rate_per_s: float = 0.5
    increase_fraction_per_s: float = 0.05
    cooldown_s: float = 2.0
    max_credit_s: float = 1.0


@dataclass(frozen=True)
class FamilySnapshot:
    """One family's limit as it stands, for progress and logs."""

    rate_per_s: float
    ceiling_per_s: float
    throttles_seen: int
    rate_cuts: int
    window_requests: int
    window_s: float


class Limits(Protocol):
    """What a run's requests ask of the rate limits: `RateLimits`, or in service mode one
    job's share of the service's (`service.broker`)."""

    async def acquire(self, family: Family | str) -> None:
        """Wait until one request of `family` may be sent."""

    def on_success(self, family: Family | str) -> None:
        """A request of `family` succeeded."""

    def on_throttled(self, family: Family | str) -> None:
        """A request of `family` was throttled."""

    def snapshot(self) -> dict[Family, FamilySnapshot]:
        """Every family's current rate, ceiling and throttling counts."""


class _Throttle(Protocol):
    """The part of asyncio_throttle.Throttler we use, typed (the library is not)."""

    rate_limit: int
    period: float

    async def acquire(self) -> None:
        """Wait for a slot in the sliding window and take it."""


@dataclass
class _FamilyState:
    throttler: _Throttle
    rate_per_s: float
    ceiling_per_s: float
    throttles_seen: int = 0
    rate_cuts: int = 0
    last_cut_s: float = -math.inf
    # One waiter at a time polls the throttler; the rest queue here, in order, without
    # polling. That keeps a fine poll cheap, however many uploads are waiting.
    gate: asyncio.Lock = field(default_factory=asyncio.Lock)
    grow_from_s: float | None = None  # successes after this moment earn an increase


class RateLimits:
    """Shared rate limits for every API family.

    Args:
        rates_per_s: starting rates by family; the others keep `DEFAULT_RATES_PER_S`.
            In adaptive mode a starting rate is also the family's ceiling, unless
            `ceilings_per_s` sets a higher one for the rate to probe up to.
        adaptive: an `AdaptivePolicy` turns on `--rate auto`; None keeps rates fixed.
        clock: monotonic seconds, for the adaptive bookkeeping (the throttlers
            themselves use `time.monotonic`, which asyncio-throttle hard-codes).
    """

    def __init__(
        self,
        rates_per_s: Mapping[Family, float] | Mapping[str, float] | None = None,
        *,
        adaptive: AdaptivePolicy | None = None,
        ceilings_per_s: Mapping[Family, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        rates = dict(DEFAULT_RATES_PER_S)
        rates.update({Family(name): rate for name, rate in (rates_per_s or {}).items()})
        self._policy = adaptive
        self._clock = clock
        self._states = {family: self._new_state(rate) for family, rate in rates.items()}
        for family, ceiling in (ceilings_per_s or {}).items():
            self._states[family].ceiling_per_s = max(ceiling, self._states[family].rate_per_s)

    @staticmethod
    def _new_state(rate_per_s: float) -> _FamilyState:
        requests, period_s = throttle_shape(rate_per_s)
        throttler: _Throttle = Throttler(
            rate_limit=requests, period=period_s, retry_interval=POLL_S
        )
        return _FamilyState(throttler, rate_per_s, ceiling_per_s=rate_per_s)

    @property
    def adaptive(self) -> bool:
        """Whether rates follow throttling (AIMD) or stay as set."""
        return self._policy is not None

    async def acquire(self, family: Family | str) -> None:
        """Wait until one request of `family` may be sent (and its write, if it is one).

        A plain coroutine rather than a context manager: a rate token is spent when the
        request starts and is never given back, so there is nothing to do on exit.
        """
        first = Family(family)
        for each in (first, *_ALSO_COUNTS_UNDER.get(first, ())):
            state = self._states[each]
            async with state.gate:
                await state.throttler.acquire()

    def rate_per_s(self, family: Family | str) -> float:
        """The family's current rate."""
        return self._states[Family(family)].rate_per_s

    def set_rate(self, family: Family | str, rate_per_s: float) -> None:
        """Set the family's rate now, for waiters already queued too.

        It also becomes the ceiling: adaptive mode never climbs above an operator's order.
        """
        state = self._states[Family(family)]
        self._apply(state, rate_per_s)
        state.ceiling_per_s = rate_per_s

    def on_throttled(self, family: Family | str) -> None:
        """Record a throttling reply; in adaptive mode cut the rate, once per cool-down."""
        name = Family(family)
        state = self._states[name]
        state.throttles_seen += 1
        if self._policy is None:
            return
        now_s = self._clock()
        if now_s - state.last_cut_s < self._policy.cooldown_s:
            return  # a reply to a request sent before the last cut
        rate = max(self._policy.min_rate_per_s, state.rate_per_s * self._policy.decrease_factor)
        self._apply(state, rate)
        state.rate_cuts += 1
        state.last_cut_s = now_s
        state.grow_from_s = now_s + self._policy.cooldown_s
        log.info("rate lowered", family=name.value, rate_per_s=round(rate, 3))

    def on_success(self, family: Family | str) -> None:
        """Record a success; in adaptive mode raise the rate by its share of elapsed time."""
        if self._policy is None:
            return
        state = self._states[Family(family)]
        now_s = self._clock()
        if state.grow_from_s is None:
            state.grow_from_s = now_s
            return
        if now_s <= state.grow_from_s:
            return
        credit_s = min(now_s - state.grow_from_s, self._policy.max_credit_s)
        state.grow_from_s = now_s
        step_per_s = self._policy.increase_fraction_per_s * state.ceiling_per_s
        rate = min(state.ceiling_per_s, state.rate_per_s + step_per_s * credit_s)
        if rate != state.rate_per_s:
            self._apply(state, rate)

    @staticmethod
    def _apply(state: _FamilyState, rate_per_s: float) -> None:
        # Change the throttler in place: tasks already waiting in it read these on each poll.
        requests, period_s = throttle_shape(rate_per_s)
        state.throttler.rate_limit = requests
        state.throttler.period = period_s
        state.rate_per_s = rate_per_s

    def snapshot(self) -> dict[Family, FamilySnapshot]:
        """Every family's current rate, ceiling and throttling counts."""
        return {
            family: FamilySnapshot(
                rate_per_s=s.rate_per_s,
                ceiling_per_s=s.ceiling_per_s,
                throttles_seen=s.throttles_seen,
                rate_cuts=s.rate_cuts,
                window_requests=s.throttler.rate_limit,
                window_s=s.throttler.period,
            )
            for family, s in self._states.items()
        }

    def __repr__(self) -> str:
        rates = ", ".join(f"{f}={s.rate_per_s:g}/s" for f, s in self._states.items())
        return f"RateLimits({rates}, adaptive={self.adaptive})"
