"""Request quotas, seeded fault injection and the counters the emulator serves.

Three independent pieces the HTTP layer (`app.py`) composes for every request:

- `Quotas`: one `TokenBucket` per operation plus one shared "account writes" bucket for
  the write operations, as AWS documents its request-rate quotas. A refusal carries the
  wait in seconds, which becomes a 429 `ThrottlingException` with `Retry-After`.
- `FaultPlan`: a seeded schedule of 500/503 replies, connection resets, lost replies and
  added latency, parsed from `--faults` specs. The n-th request of an operation gets the
  same decision for the same seed and spec, whatever other operations do meanwhile.
- `Stats`: counters served as JSON at `GET /__emulator/stats`, so tests can check what
  the client really sent (for instance, that no asset was published twice).

Operation names are CodeArtifact's (`PublishPackageVersion`); flags also accept the short
aliases in `ALIASES`, case-insensitively. Nothing here imports the rest of the emulator.
"""

from __future__ import annotations

import enum
import hashlib
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final

from uploader import constants as c

Clock = Callable[[], float]

PUBLISH: Final = "PublishPackageVersion"
UPDATE_STATUS: Final = "UpdatePackageVersionsStatus"
LIST_ASSETS: Final = "ListPackageVersionAssets"
LIST_VERSIONS: Final = "ListPackageVersions"
GET_ASSET: Final = "GetPackageVersionAsset"
ACCOUNT_WRITES: Final = "AccountWrites"  # not an operation: the bucket every write shares
ALL_OPERATIONS: Final = "*"  # in fault specs: every operation

WRITE_OPERATIONS: Final = frozenset({
    "CreateDomain", "DeleteDomain", "CreateRepository", "UpdateRepository", "DeleteRepository",
    "DeletePackage", "PutPackageOriginConfiguration", PUBLISH, UPDATE_STATUS,
    "DeletePackageVersions",
})  # fmt: skip
# Every operation the emulator serves; flags naming anything else are typos.
OPERATIONS: Final = frozenset({
    *WRITE_OPERATIONS,
    "DescribeDomain", "ListDomains", "DescribeRepository", "ListRepositories",
    "ListRepositoriesInDomain", "GetRepositoryEndpoint", "DescribePackage", "ListPackages",
    "DescribePackageVersion", LIST_VERSIONS, LIST_ASSETS, GET_ASSET,
})  # fmt: skip
ALIASES: Final = {
    "publish": PUBLISH,
    "update-status": UPDATE_STATUS,
    "list-assets": LIST_ASSETS,
    "list-versions": LIST_VERSIONS,
    "get-asset": GET_ASSET,
    "writes": ACCOUNT_WRITES,
}
AWS_RATES_PER_S: Final = {
    PUBLISH: c.PUBLISH_RATE_PER_S,
    LIST_ASSETS: c.LIST_ASSETS_RATE_PER_S,
    LIST_VERSIONS: c.LIST_VERSIONS_RATE_PER_S,
    GET_ASSET: c.GET_ASSET_RATE_PER_S,
    ACCOUNT_WRITES: c.ACCOUNT_WRITE_RATE_PER_S,
}

_RATE_NAMES: Final = OPERATIONS | {ACCOUNT_WRITES}  # what --rate may limit
_FAULT_NAMES: Final = OPERATIONS | {ALL_OPERATIONS}  # what --faults may target
_BY_LOWER_NAME: Final = {**{name.lower(): name for name in _RATE_NAMES}, **ALIASES}


def _resolve(name: str, allowed: frozenset[str]) -> str:
    """The canonical name for `name` (an operation name or alias, any case)."""
    canonical = _BY_LOWER_NAME.get(name.strip().lower(), name.strip())
    if canonical not in allowed:
        shorts = [a for a, op in ALIASES.items() if op in allowed] + list(allowed - OPERATIONS)
        choices = ", ".join(sorted(set(shorts) - {ACCOUNT_WRITES}))
        raise ValueError(f"unknown operation {name!r}; use an operation name or one of: {choices}")
    return canonical


def _number(text: str) -> float | None:
    """`text` as a finite float, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --- quotas --------------------------------------------------------------------------------


class TokenBucket:
    """A token bucket: `rate_per_s` tokens a second, holding at most `burst`.

    AWS documents its quotas only as "requests per second" and says nothing of bursts,
    so the default burst is one second's worth (`max(1, rate_per_s)`): a client that
    stays within N requests in every one-second window is never refused, and one that
    sends more than N at once is, which is how "N per second" reads. The floor of 1
    lets rates below 1/s admit a request at all. The bucket starts full.

    Args:
        rate_per_s: tokens added per second; positive.
        burst: capacity in tokens; at least 1. Default: one second's worth.
        clock: monotonic seconds; inject a fake one in tests.
    """

    def __init__(
        self, rate_per_s: float, burst: float | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        if not (math.isfinite(rate_per_s) and rate_per_s > 0):
            raise ValueError(f"rate must be a positive number of requests/s, got {rate_per_s}")
        self.rate_per_s = rate_per_s
        self.burst = max(1.0, rate_per_s) if burst is None else burst
        if not (math.isfinite(self.burst) and self.burst >= 1):
            raise ValueError(f"burst must be at least 1 token, got {self.burst}")
        self._clock = clock
        self._tokens = self.burst
        self._updated_s = clock()

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_s={self.rate_per_s}, burst={self.burst})"

    @property
    def tokens(self) -> float:
        """The tokens available now."""
        self._refill()
        return self._tokens

    def wait_s(self) -> float | None:
        """None if a token is available now, else the seconds until one will be."""
        self._refill()
        if self._tokens >= 1:
            return None
        return (1 - self._tokens) / self.rate_per_s

    def take(self) -> None:
        """Remove one token; call only after `wait_s()` returned None."""
        self._tokens -= 1

    def try_take(self) -> float | None:
        """Take a token: None when taken, else the seconds until one will be available."""
        wait_s = self.wait_s()
        if wait_s is None:
            self.take()
        return wait_s

    def _refill(self) -> None:
        now_s = self._clock()
        elapsed_s = max(0.0, now_s - self._updated_s)
        self._tokens = min(self.burst, self._tokens + elapsed_s * self.rate_per_s)
        self._updated_s = now_s


class Quotas:
    """Request-rate quotas: a bucket per operation, and one shared by all writes.

    A write (`WRITE_OPERATIONS`) must get a token from its own bucket (if it has one)
    and from the `ACCOUNT_WRITES` bucket (if set); it takes from neither unless both
    have one, so a refusal by one does not drain the other.

    Args:
        rates_per_s: operation name (or `ACCOUNT_WRITES`) -> requests per second.
            Operations not named are unlimited.
        clock: monotonic seconds, shared by every bucket.
    """

    def __init__(
        self, rates_per_s: Mapping[str, float] | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        self._clock = clock
        self.rates_per_s: dict[str, float] = dict(rates_per_s or {})
        self._buckets = {
            name: TokenBucket(rate_per_s, clock=clock)
            for name, rate_per_s in self.rates_per_s.items()
        }

    @classmethod
    def none(cls) -> Quotas:
        """No limits at all: the emulator's default."""
        return cls()

    @classmethod
    def aws(cls, *, clock: Clock = time.monotonic) -> Quotas:
        """AWS's default quotas per account and Region (see `constants.py`)."""
        return cls(AWS_RATES_PER_S, clock=clock)

    def __repr__(self) -> str:
        return f"Quotas(rates_per_s={dict(sorted(self.rates_per_s.items()))})"

    def with_rate(self, operation: str, rate_per_s: float) -> Quotas:
        """A copy with `operation` (name or alias) limited to `rate_per_s`; buckets start full."""
        name = _resolve(operation, _RATE_NAMES)
        return Quotas({**self.rates_per_s, name: rate_per_s}, clock=self._clock)

    def check(self, operation: str) -> float | None:
        """Admit one request: None if allowed (tokens taken), else the wait in seconds."""
        buckets = [self._buckets.get(operation)]
        if operation in WRITE_OPERATIONS:
            buckets.append(self._buckets.get(ACCOUNT_WRITES))
        present = [bucket for bucket in buckets if bucket is not None]
        waits_s = [w for w in (bucket.wait_s() for bucket in present) if w is not None]
        if waits_s:
            return max(waits_s)
        for bucket in present:
            bucket.take()
        return None


def parse_rate(text: str) -> tuple[str, float]:
    """Parse a `--rate OPERATION=N` flag into (canonical operation name, rate_per_s).

    Raises:
        ValueError: with a one-line message naming the bad part.
    """
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"bad --rate {text!r}: expected OPERATION=N, e.g. publish=20")
    try:
        operation = _resolve(name, _RATE_NAMES)
    except ValueError as error:
        raise ValueError(f"bad --rate {text!r}: {error}") from None
    rate_per_s = _number(value)
    if rate_per_s is None or rate_per_s <= 0:
        raise ValueError(f"bad --rate {text!r}: N must be a positive number, got {value!r}")
    return operation, rate_per_s


def retry_after_header(wait_s: float) -> str:
    """The `Retry-After` value for a wait: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait_s)))


# --- faults --------------------------------------------------------------------------------


class FaultKind(enum.Enum):
    """What the emulator does to one request instead of (or after) serving it."""

    NONE = "none"
    ERROR_500 = "error_500"  # InternalServerException, JSON body
    ERROR_503 = "error_503"  # non-JSON body, as a load balancer sends it
    RESET = "reset"  # read part of the body, then drop the connection
    LOST_REPLY = "lost_reply"  # perform and store the operation, then answer 500


@dataclass(frozen=True)
class FaultDecision:
    """The fault for one request, and the delay to add before answering it."""

    kind: FaultKind
    latency_s: float = 0.0


NO_FAULT: Final = FaultDecision(FaultKind.NONE, 0.0)


@dataclass(frozen=True)
class FaultSpec:
    """One `OPERATION:key=value,...` group; None means the group did not set that key.

    Args:
        operation: a canonical operation name, or `ALL_OPERATIONS` (`*`).
        error: probability of a 500 or (half of them) a 503.
        reset: probability of a dropped connection.
        lost_reply: probability of a performed operation answered with 500.
        latency_s: delay added before every answer.
    """

    operation: str
    error: float | None = None
    reset: float | None = None
    lost_reply: float | None = None
    latency_s: float | None = None

    def over(self, base: FaultSpec) -> FaultSpec:
        """`base` with the keys this spec sets replaced by this spec's values."""
        changes = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "operation"}
        return replace(base, **{k: v for k, v in changes.items() if v is not None})

    @property
    def probabilities(self) -> tuple[float, float, float]:
        """(error, reset, lost_reply), unset ones as 0."""
        return (self.error or 0.0, self.reset or 0.0, self.lost_reply or 0.0)


_PROBABILITY_KEYS: Final = ("error", "reset", "lost_reply")
_FAULT_KEYS: Final = (*_PROBABILITY_KEYS, "latency")
_SUM_TOLERANCE: Final = 1e-9  # so that 0.1 + 0.2 + 0.7 counts as 1


def parse_latency_s(text: str) -> float:
    """`20ms`, `0.5s`, `1s` or a plain number of seconds, as seconds.

    Raises:
        ValueError: for anything else, or a negative or infinite delay.
    """
    number, scale = text.strip().lower(), 1.0
    if number.endswith("ms"):
        number, scale = number[:-2], 0.001
    elif number.endswith("s"):
        number = number[:-1]
    value = _number(number)
    if value is None or value < 0:
        raise ValueError(f"latency must be like 20ms, 0.5s or 1, got {text!r}")
    return value * scale


def _probability(key: str, text: str) -> float:
    value = _number(text)
    if value is None or not 0 <= value <= 1:
        raise ValueError(f"{key} must be a probability in [0, 1], got {text!r}")
    return value


def _check_sum(spec: FaultSpec) -> FaultSpec:
    total = sum(spec.probabilities)
    if total > 1 + _SUM_TOLERANCE:
        raise ValueError(f"fault probabilities for {spec.operation} sum to {total:g}, over 1")
    return spec


def _parse_settings(body: str) -> dict[str, float]:
    settings: dict[str, float] = {}
    for item in body.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or key not in _FAULT_KEYS:
            keys = ", ".join(_FAULT_KEYS)
            raise ValueError(f"expected KEY=VALUE with KEY one of {keys}, got {item.strip()!r}")
        if key in settings:
            raise ValueError(f"{key} given twice")
        settings[key] = parse_latency_s(value) if key == "latency" else _probability(key, value)
    return settings


def _parse_group(group: str) -> FaultSpec:
    name, sep, body = group.partition(":")
    if not sep or not body.strip():
        raise ValueError("expected OPERATION:key=value,... e.g. publish:error=0.05")
    operation = _resolve(name, _FAULT_NAMES)
    settings = _parse_settings(body)
    latency_s = settings.pop("latency", None)
    return _check_sum(FaultSpec(operation, latency_s=latency_s, **settings))


def parse_fault_specs(text: str) -> list[FaultSpec]:
    """Parse one `--faults` value: `;`-separated `OPERATION:key=value,...` groups.

    Keys are `error`, `reset`, `lost_reply` (probabilities in [0, 1] summing to at most
    1) and `latency` (`20ms`, `0.5s`, plain seconds). Blank groups are skipped.

    Raises:
        ValueError: with a one-line message naming the bad group and the problem.
    """
    groups = [group.strip() for group in text.split(";") if group.strip()]
    if not groups:
        raise ValueError(f"bad --faults {text!r}: no OPERATION:key=value groups")
    specs = []
    for group in groups:
        try:
            specs.append(_parse_group(group))
        except ValueError as error:
            raise ValueError(f"bad --faults group {group!r}: {error}") from None
    return specs


def _stable_seed(seed: int, operation: str) -> int:
    """A seed for (seed, operation) that is the same in every process (unlike `hash()`)."""
    digest = hashlib.sha256(f"{seed}\0{operation}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class FaultPlan:
    """A reproducible schedule of faults, one random stream per operation.

    For each operation the settings are those of the `*` groups, then of the groups
    naming it, in order, each key set later replacing an earlier one. Every request
    draws one number `u` from its operation's stream: `u < error/2` is a 500,
    `u < error` a 503, then `reset`, then `lost_reply`, else no fault. Latency is added
    to every request of the operation, faulty or not.

    Args:
        specs: parsed groups (`parse_fault_specs`).
        seed: the schedule's seed.

    Raises:
        ValueError: if the combined probabilities of some operation exceed 1.
    """

    def __init__(self, specs: Iterable[FaultSpec] = (), seed: int = 0) -> None:
        self.specs = tuple(specs)
        self.seed = seed
        self._settings: dict[str, FaultSpec] = {}
        self._streams: dict[str, random.Random] = {}
        named = {spec.operation for spec in self.specs}
        for operation in sorted(named | {ALL_OPERATIONS}):
            _check_sum(self.settings_for(operation))

    @classmethod
    def none(cls) -> FaultPlan:
        """A plan that injects nothing."""
        return cls()

    @classmethod
    def parse(cls, texts: Iterable[str], seed: int = 0) -> FaultPlan:
        """A plan from the values of repeated `--faults` flags."""
        return cls([spec for text in texts for spec in parse_fault_specs(text)], seed)

    def __repr__(self) -> str:
        return f"FaultPlan(specs={list(self.specs)!r}, seed={self.seed})"

    def settings_for(self, operation: str) -> FaultSpec:
        """The combined settings that apply to `operation`."""
        settings = self._settings.get(operation)
        if settings is None:
            settings = FaultSpec(operation)
            for spec in self.specs:
                if spec.operation in (ALL_OPERATIONS, operation):
                    settings = spec.over(settings)
            self._settings[operation] = settings
        return settings

    def decide(self, operation: str) -> FaultDecision:
        """The fault for the next request of `operation`."""
        settings = self.settings_for(operation)
        kind = _pick(self._stream(operation).random(), *settings.probabilities)
        return FaultDecision(kind, settings.latency_s or 0.0)

    def _stream(self, operation: str) -> random.Random:
        stream = self._streams.get(operation)
        if stream is None:
            stream = self._streams[operation] = random.Random(_stable_seed(self.seed, operation))
        return stream


def _pick(u: float, error: float, reset: float, lost_reply: float) -> FaultKind:
    """The fault that a uniform draw `u` in [0, 1) selects."""
    thresholds = (
        (error / 2, FaultKind.ERROR_500),
        (error, FaultKind.ERROR_503),
        (error + reset, FaultKind.RESET),
        (error + reset + lost_reply, FaultKind.LOST_REPLY),
    )
    for threshold, kind in thresholds:
        if u < threshold:
            return kind
    return FaultKind.NONE


# --- stats ---------------------------------------------------------------------------------


ARRIVALS_KEPT: Final = 100_000  # request times kept per operation, for tests


class Stats:
    """Counters of what the emulator saw, served at `GET /__emulator/stats`.

    `to_json()` returns these keys, each mapping sorted by key:

    - `requests`: operation -> requests received (throttled and faulted ones included).
    - `throttled`: operation -> requests refused with 429.
    - `faults`: operation -> {`error_500`|`error_503`|`reset`|`lost_reply` -> count}.
    - `publishes`: asset key -> successful publishes (an opaque string such as
      `domain/repository/namespace/package/version/asset`).
    - `duplicate_publishes`: the entries of `publishes` with a count above 1.

    Not served, for tests in the same process: `arrivals(operation)`, the monotonic times
    of the last `ARRIVALS_KEPT` requests of an operation (rates per 100 ms window).
    """

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._arrivals: dict[str, deque[float]] = {}
        self.requests: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.faults: dict[str, Counter[FaultKind]] = {}
        self.publishes: Counter[str] = Counter()

    def __repr__(self) -> str:
        return (
            f"Stats(requests={sum(self.requests.values())}, "
            f"throttled={sum(self.throttled.values())}, publishes={len(self.publishes)})"
        )

    def count_request(self, operation: str) -> None:
        """Count a request received for `operation`, and when it came."""
        self.requests[operation] += 1
        times = self._arrivals.setdefault(operation, deque(maxlen=ARRIVALS_KEPT))
        times.append(self._clock())

    def arrivals(self, operation: str) -> list[float]:
        """When the last requests of `operation` came (monotonic seconds, oldest first)."""
        return list(self._arrivals.get(operation, ()))

    def count_throttle(self, operation: str) -> None:
        """Count a request of `operation` refused by a quota."""
        self.throttled[operation] += 1

    def count_fault(self, operation: str, kind: FaultKind) -> None:
        """Count an injected fault; `FaultKind.NONE` is not counted."""
        if kind is not FaultKind.NONE:
            self.faults.setdefault(operation, Counter())[kind] += 1

    def count_publish(self, asset_key: str) -> None:
        """Count a successful publish of the asset named `asset_key`."""
        self.publishes[asset_key] += 1

    def reset(self) -> None:
        """Forget every count."""
        for counts in (self.requests, self.throttled, self.publishes):
            counts.clear()
        self.faults.clear()
        self._arrivals.clear()

    def to_json(self) -> dict[str, Any]:
        """The counters as JSON-ready dicts; see the class docstring for the keys."""
        return {
            "requests": _sorted(self.requests),
            "throttled": _sorted(self.throttled),
            "faults": {
                op: {kind.value: n for kind, n in sorted(counts.items(), key=_by_value)}
                for op, counts in sorted(self.faults.items())
            },
            "publishes": _sorted(self.publishes),
            "duplicate_publishes": {k: n for k, n in _sorted(self.publishes).items() if n > 1},
        }


def _sorted(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items()))


def _by_value(item: tuple[FaultKind, int]) -> str:
    return item[0].value
