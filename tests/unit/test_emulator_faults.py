"""Quotas, fault schedules and stats of the emulator (uploader/emulator/faults.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uploader import constants as c
from uploader.emulator.faults import (
    ACCOUNT_WRITES,
    LIST_ASSETS,
    PUBLISH,
    FaultDecision,
    FaultKind,
    FaultPlan,
    FaultSpec,
    Quotas,
    Stats,
    TokenBucket,
    parse_fault_specs,
    parse_latency_s,
    parse_rate,
    retry_after_header,
)


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, now_s: float = 1000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


def take_all(take: Callable[[], float | None], attempts: int) -> list[float | None]:
    """The results of `attempts` calls to `take` at one instant."""
    return [take() for _ in range(attempts)]


def error_of(parse: Callable[[str], object], text: str) -> str | None:
    """The message of the ValueError `parse(text)` raises, or None if it raises nothing."""
    try:
        parse(text)
    except ValueError as error:
        return str(error)
    return None


# --- TokenBucket ---------------------------------------------------------------------------


def test_bucket_admits_one_burst_then_refuses() -> None:
    """A full bucket admits `burst` requests at one instant and refuses the next."""
    bucket = TokenBucket(10.0, clock=FakeClock())
    results = take_all(bucket.try_take, 11)
    assert results[:10] == [None] * 10
    assert results[10] == pytest.approx(0.1)


def test_bucket_default_burst_is_one_second_of_rate() -> None:
    """The default burst is max(1, rate_per_s): one second's worth, never below one token."""
    assert TokenBucket(10.0, clock=FakeClock()).burst == 10.0
    assert TokenBucket(0.25, clock=FakeClock()).burst == 1.0


def test_bucket_explicit_burst() -> None:
    """An explicit burst sets how many requests one instant admits."""
    bucket = TokenBucket(10.0, burst=3, clock=FakeClock())
    assert take_all(bucket.try_take, 4)[:3] == [None] * 3
    assert bucket.try_take() == pytest.approx(0.1)


def test_bucket_refills_at_rate() -> None:
    """An empty bucket regains rate_per_s tokens per second of the clock."""
    clock = FakeClock()
    bucket = TokenBucket(10.0, clock=clock)
    take_all(bucket.try_take, 10)
    clock.advance(0.35)
    assert take_all(bucket.try_take, 4)[:3] == [None] * 3
    assert bucket.try_take() == pytest.approx(0.05)


def test_bucket_refill_is_capped_at_burst() -> None:
    """A long idle period refills the bucket only up to its burst."""
    clock = FakeClock()
    bucket = TokenBucket(5.0, clock=clock)
    take_all(bucket.try_take, 5)
    clock.advance(3600)
    assert bucket.tokens == 5.0


def test_bucket_wait_is_time_until_next_token() -> None:
    """The returned wait is exactly when a token appears: waiting it admits a request."""
    clock = FakeClock()
    bucket = TokenBucket(4.0, burst=1, clock=clock)
    assert bucket.try_take() is None
    wait_s = bucket.try_take()
    assert wait_s == pytest.approx(0.25)
    assert wait_s is not None
    clock.advance(wait_s)
    assert bucket.try_take() is None


def test_bucket_refusal_takes_nothing() -> None:
    """A refused request does not consume a token or delay the next one."""
    clock = FakeClock()
    bucket = TokenBucket(2.0, burst=1, clock=clock)
    bucket.try_take()
    take_all(bucket.try_take, 5)
    clock.advance(0.5)
    assert bucket.try_take() is None


def test_bucket_sub_one_rate() -> None:
    """A rate below one per second still admits one request, then waits 1/rate."""
    bucket = TokenBucket(0.5, clock=FakeClock())
    assert bucket.try_take() is None
    assert bucket.try_take() == pytest.approx(2.0)


@pytest.mark.parametrize(("rate_per_s", "burst"), [(0, None), (-1, None), (1, 0.5)])
def test_bucket_rejects_bad_parameters(rate_per_s: float, burst: float | None) -> None:
    """A non-positive rate or a burst under one token is a ValueError."""
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate_per_s, burst, clock=FakeClock())


def test_bucket_repr() -> None:
    """The repr shows rate and burst."""
    assert repr(TokenBucket(3.0, clock=FakeClock())) == "TokenBucket(rate_per_s=3.0, burst=3.0)"


# --- Quotas --------------------------------------------------------------------------------


def test_quotas_none_never_throttles() -> None:
    """Quotas.none() admits any number of requests of any operation."""
    quotas = Quotas.none()
    assert all(quotas.check(PUBLISH) is None for _ in range(10_000))


def test_quotas_aws_defaults_come_from_constants() -> None:
    """Quotas.aws() uses AWS's published rates from constants.py."""
    assert Quotas.aws(clock=FakeClock()).rates_per_s == {
        "PublishPackageVersion": c.PUBLISH_RATE_PER_S,
        "ListPackageVersionAssets": c.LIST_ASSETS_RATE_PER_S,
        "ListPackageVersions": c.LIST_VERSIONS_RATE_PER_S,
        "GetPackageVersionAsset": c.GET_ASSET_RATE_PER_S,
        "AccountWrites": c.ACCOUNT_WRITE_RATE_PER_S,
    }
    assert (c.PUBLISH_RATE_PER_S, c.ACCOUNT_WRITE_RATE_PER_S) == (10.0, 100.0)


def test_quotas_aws_throttles_publish_at_ten_per_second() -> None:
    """Under AWS defaults the 11th publish in one instant waits a tenth of a second."""
    quotas = Quotas.aws(clock=FakeClock())
    results = take_all(lambda: quotas.check(PUBLISH), 11)
    assert results[:10] == [None] * 10
    assert results[10] == pytest.approx(0.1)


def test_quotas_unlisted_operation_is_unlimited() -> None:
    """An operation without a bucket that is not a write is never throttled."""
    quotas = Quotas.aws(clock=FakeClock())
    assert all(quotas.check("DescribePackageVersion") is None for _ in range(1000))


def test_account_bucket_is_shared_by_all_writes() -> None:
    """Every write operation draws on the one account-writes bucket."""
    quotas = Quotas({ACCOUNT_WRITES: 3.0}, clock=FakeClock())
    assert quotas.check("CreateDomain") is None
    assert quotas.check("CreateRepository") is None
    assert quotas.check("DeletePackageVersions") is None
    assert quotas.check("UpdatePackageVersionsStatus") == pytest.approx(1 / 3)
    assert quotas.check(LIST_ASSETS) is None  # reads do not use the write bucket


def test_operation_refusal_does_not_drain_account_bucket() -> None:
    """When the operation's bucket refuses a write, the account bucket keeps its token."""
    quotas = Quotas({PUBLISH: 1.0, ACCOUNT_WRITES: 2.0}, clock=FakeClock())
    assert quotas.check(PUBLISH) is None
    assert take_all(lambda: quotas.check(PUBLISH), 50) == [pytest.approx(1.0)] * 50
    assert quotas.check("CreateDomain") is None  # the account's second token is still there
    assert quotas.check("CreateDomain") is not None


def test_account_refusal_does_not_drain_operation_bucket() -> None:
    """When the account bucket refuses a write, the operation's bucket keeps its token."""
    clock = FakeClock()
    quotas = Quotas({PUBLISH: 1.0, ACCOUNT_WRITES: 1.0}, clock=clock)
    assert quotas.check("CreateDomain") is None
    assert quotas.check(PUBLISH) == pytest.approx(1.0)
    clock.advance(1.0)
    assert quotas.check(PUBLISH) is None  # would wait another second had the refusal taken one


def test_quotas_wait_is_the_longer_of_both_buckets() -> None:
    """A write refused by both buckets waits until both have a token."""
    quotas = Quotas({PUBLISH: 1.0, ACCOUNT_WRITES: 4.0}, clock=FakeClock())
    take_all(lambda: quotas.check(PUBLISH), 1)
    take_all(lambda: quotas.check("CreateDomain"), 3)
    assert quotas.check(PUBLISH) == pytest.approx(1.0)  # operation: 1 s, account: 0.25 s
    quotas = Quotas({PUBLISH: 1.0, ACCOUNT_WRITES: 0.5}, clock=FakeClock())
    take_all(lambda: quotas.check(PUBLISH), 1)
    assert quotas.check(PUBLISH) == pytest.approx(2.0)  # operation: 1 s, account: 2 s


def test_with_rate_accepts_aliases_and_returns_a_copy() -> None:
    """with_rate resolves aliases case-insensitively and leaves the original unchanged."""
    base = Quotas.aws(clock=FakeClock())
    changed = base.with_rate("Publish", 20).with_rate("WRITES", 50)
    assert changed.rates_per_s[PUBLISH] == 20
    assert changed.rates_per_s[ACCOUNT_WRITES] == 50
    assert base.rates_per_s[PUBLISH] == c.PUBLISH_RATE_PER_S


def test_with_rate_rejects_unknown_operation() -> None:
    """with_rate names the unknown operation in a ValueError."""
    with pytest.raises(ValueError, match="unknown operation 'PublishPackage'"):
        Quotas.none().with_rate("PublishPackage", 1)


def test_quotas_repr_lists_rates() -> None:
    """The repr shows every configured rate, sorted."""
    quotas = Quotas({PUBLISH: 2.0, ACCOUNT_WRITES: 1.0}, clock=FakeClock())
    expected = "Quotas(rates_per_s={'AccountWrites': 1.0, 'PublishPackageVersion': 2.0})"
    assert repr(quotas) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PublishPackageVersion=20", (PUBLISH, 20.0)),
        ("publishpackageversion=20", (PUBLISH, 20.0)),
        ("publish=2.5", (PUBLISH, 2.5)),
        ("update-status=5", ("UpdatePackageVersionsStatus", 5.0)),
        ("LIST-ASSETS=1", (LIST_ASSETS, 1.0)),
        ("list-versions=3", ("ListPackageVersions", 3.0)),
        ("get-asset=4", ("GetPackageVersionAsset", 4.0)),
        (" writes = 7 ", (ACCOUNT_WRITES, 7.0)),
    ],
)
def test_parse_rate_accepts_names_and_aliases(text: str, expected: tuple[str, float]) -> None:
    """parse_rate maps names and short aliases, in any case, to (operation, rate_per_s)."""
    assert parse_rate(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("publish", "expected OPERATION=N"),
        ("publish=", "N must be a positive number, got ''"),
        ("publish=0", "N must be a positive number, got '0'"),
        ("publish=-3", "N must be a positive number"),
        ("publish=fast", "got 'fast'"),
        ("publish=inf", "got 'inf'"),
        ("publish=nan", "got 'nan'"),
        ("pub=1", "unknown operation 'pub'"),
        ("=1", "unknown operation ''"),
    ],
)
def test_parse_rate_errors_are_one_clear_line(text: str, message: str) -> None:
    """Bad --rate values raise a one-line ValueError that quotes the flag and the problem."""
    with pytest.raises(ValueError, match="bad --rate") as caught:
        parse_rate(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@given(st.text())
def test_parse_rate_raises_only_value_error(text: str) -> None:
    """parse_rate either parses arbitrary text or raises a one-line ValueError, nothing else."""
    message = error_of(parse_rate, text)
    if message is None:
        assert parse_rate(text)[1] > 0
    else:
        assert "\n" not in message


@pytest.mark.parametrize(
    ("wait_s", "header"),
    [(0.0, "1"), (0.001, "1"), (1.0, "1"), (1.01, "2"), (2.5, "3"), (30.0, "30")],
)
def test_retry_after_header_rounds_up_to_whole_seconds(wait_s: float, header: str) -> None:
    """Retry-After is the wait rounded up to whole seconds, never below 1."""
    assert retry_after_header(wait_s) == header


# --- fault spec parsing --------------------------------------------------------------------


def test_parse_fault_specs_example_from_the_docs() -> None:
    """The documented example parses into one spec with every key set."""
    text = "publish:error=0.05,reset=0.02,lost_reply=0.02,latency=20ms"
    assert parse_fault_specs(text) == [FaultSpec(PUBLISH, 0.05, 0.02, 0.02, 0.02)]


def test_parse_fault_specs_several_groups_and_star() -> None:
    """Groups separated by `;` parse in order; `*` stands for every operation."""
    specs = parse_fault_specs("*:latency=1s; list-assets:error=1 ;")
    assert specs == [FaultSpec("*", latency_s=1.0), FaultSpec(LIST_ASSETS, error=1.0)]


@pytest.mark.parametrize(
    ("text", "latency_s"),
    [("20ms", 0.02), ("0.5s", 0.5), ("1s", 1.0), ("2", 2.0), (" 3MS ", 0.003), ("0", 0.0)],
)
def test_parse_latency_units(text: str, latency_s: float) -> None:
    """Latency accepts ms, s or a plain number of seconds."""
    assert parse_latency_s(text) == pytest.approx(latency_s)


def test_probabilities_may_sum_to_exactly_one() -> None:
    """Probabilities summing to 1 (within float rounding) are accepted."""
    [spec] = parse_fault_specs("publish:error=0.1,reset=0.2,lost_reply=0.7")
    assert sum(spec.probabilities) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("publish", "expected OPERATION:key=value"),
        ("publish:", "expected OPERATION:key=value"),
        ("pubish:error=0.1", "unknown operation 'pubish'"),
        ("writes:error=0.1", "unknown operation 'writes'"),
        ("publish:error", "expected KEY=VALUE"),
        ("publish:errors=0.1", "got 'errors=0.1'"),
        ("publish:error=0.1,", "got ''"),
        ("publish:error=x", "error must be a probability in [0, 1], got 'x'"),
        ("publish:reset=1.5", "reset must be a probability in [0, 1], got '1.5'"),
        ("publish:lost_reply=-0.1", "lost_reply must be a probability"),
        ("publish:error=nan", "got 'nan'"),
        ("publish:error=0.1,error=0.2", "error given twice"),
        ("publish:error=0.6,reset=0.5", "sum to 1.1, over 1"),
        ("publish:latency=-1s", "latency must be like 20ms"),
        ("publish:latency=fast", "got 'fast'"),
        ("publish:latency=infs", "got 'infs'"),
        ("publish:latency=20 m s", "got '20 m s'"),
    ],
)
def test_parse_fault_specs_errors_name_the_bad_part(text: str, message: str) -> None:
    """Bad --faults values raise a one-line ValueError naming the group and the problem."""
    with pytest.raises(ValueError, match="bad --faults") as caught:
        parse_fault_specs(f"*:latency=1ms;{text}")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "*:latency" not in str(caught.value)  # the good group is not blamed


@pytest.mark.parametrize("text", ["", " ", " ; ", ";;"])
def test_parse_fault_specs_rejects_empty_spec(text: str) -> None:
    """A --faults value without any group is a ValueError, not a silent no-op."""
    with pytest.raises(ValueError, match="no OPERATION:key=value groups"):
        parse_fault_specs(text)


@given(st.text())
def test_parse_fault_specs_raises_only_value_error(text: str) -> None:
    """Arbitrary text either parses or raises a one-line ValueError, nothing else."""
    message = error_of(parse_fault_specs, text)
    if message is None:
        assert all(sum(spec.probabilities) <= 1 + 1e-9 for spec in parse_fault_specs(text))
    else:
        assert "\n" not in message


_keys = st.sampled_from(["error", "reset", "lost_reply", "latency", "Error", "", "=", ","])
_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["20ms", "1s", "-0", "1e400", "0x1", "", "1_0"]),
    st.text(max_size=5),
)
_items = st.builds(lambda k, v: f"{k}={v}", _keys, _values)
_groups = st.builds(
    lambda op, items: f"{op}:{','.join(items)}",
    st.sampled_from(["publish", "*", "GetPackageVersionAsset", "nope", ""]),
    st.lists(_items, max_size=4),
)


@given(st.lists(_groups, min_size=1, max_size=3).map(";".join))
def test_near_valid_fault_specs_raise_only_value_error(text: str) -> None:
    """Almost-valid specs (right shape, odd values) parse or raise ValueError only."""
    message = error_of(lambda t: FaultPlan.parse([t], seed=1).decide(PUBLISH), text)
    assert "\n" not in (message or "")


# --- FaultPlan -----------------------------------------------------------------------------


def decisions(plan: FaultPlan, operation: str, count: int) -> list[FaultDecision]:
    """The next `count` decisions of `plan` for `operation`."""
    return [plan.decide(operation) for _ in range(count)]


MIXED = "publish:error=0.2,reset=0.1,lost_reply=0.1,latency=5ms"


def test_fault_plan_none_injects_nothing() -> None:
    """FaultPlan.none() answers every request with no fault and no latency."""
    plan = FaultPlan.none()
    assert set(decisions(plan, PUBLISH, 1000)) == {FaultDecision(FaultKind.NONE, 0.0)}


def test_fault_schedule_is_reproducible_for_a_seed() -> None:
    """Two plans with the same seed and spec give the same sequence of decisions."""
    first = decisions(FaultPlan.parse([MIXED], seed=7), PUBLISH, 500)
    second = decisions(FaultPlan.parse([MIXED], seed=7), PUBLISH, 500)
    assert first == second
    assert len({d.kind for d in first}) == 5  # the schedule is not trivially constant


def test_fault_schedule_differs_for_another_seed() -> None:
    """Another seed gives another sequence of decisions."""
    first = decisions(FaultPlan.parse([MIXED], seed=7), PUBLISH, 500)
    other = decisions(FaultPlan.parse([MIXED], seed=8), PUBLISH, 500)
    assert first != other


def test_fault_schedule_is_independent_of_other_operations() -> None:
    """Requests of other operations, however interleaved, do not shift an operation's schedule."""
    specs = [MIXED, "*:error=0.3"]
    alone = decisions(FaultPlan.parse(specs, seed=3), PUBLISH, 300)
    plan = FaultPlan.parse(specs, seed=3)
    mixed = []
    for i in range(300):
        for _ in range(i % 4):
            plan.decide(LIST_ASSETS)
        mixed.append(plan.decide(PUBLISH))
    assert mixed == alone


def test_fault_schedule_does_not_depend_on_hash_randomization() -> None:
    """The schedule is the same in processes with different PYTHONHASHSEED values."""
    code = (
        "import json; from uploader.emulator.faults import FaultPlan\n"
        f"plan = FaultPlan.parse([{MIXED!r}], seed=11)\n"
        "print(json.dumps([plan.decide('PublishPackageVersion').kind.value for _ in range(50)]))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        for hash_seed in ("1", "2")
    ]
    here = decisions(FaultPlan.parse([MIXED], seed=11), PUBLISH, 50)
    assert json.loads(runs[0]) == json.loads(runs[1]) == [d.kind.value for d in here]


def test_fault_frequencies_match_the_spec() -> None:
    """Over 20,000 decisions each kind occurs within 5 standard deviations of its share."""
    count = 20_000
    plan = FaultPlan.parse(["publish:error=0.1,reset=0.05,lost_reply=0.02"], seed=2024)
    observed = Counter(d.kind for d in decisions(plan, PUBLISH, count))
    shares = {
        FaultKind.ERROR_500: 0.05,
        FaultKind.ERROR_503: 0.05,
        FaultKind.RESET: 0.05,
        FaultKind.LOST_REPLY: 0.02,
        FaultKind.NONE: 0.83,
    }
    for kind, share in shares.items():
        sigma = (count * share * (1 - share)) ** 0.5
        assert abs(observed[kind] - count * share) < 5 * sigma, kind


def test_latency_applies_to_every_request_of_the_operation() -> None:
    """Latency is added to faulty and healthy requests alike, and only where configured."""
    plan = FaultPlan.parse(["publish:error=0.5,latency=20ms"], seed=1)
    assert [d.latency_s for d in decisions(plan, PUBLISH, 200)] == [pytest.approx(0.02)] * 200
    assert {d.latency_s for d in decisions(plan, LIST_ASSETS, 200)} == {0.0}


def test_operation_settings_override_star_key_by_key() -> None:
    """An operation's group replaces the keys it sets and inherits the rest from `*`."""
    plan = FaultPlan.parse(["*:error=0.1,latency=1s", "publish:error=0.3"], seed=0)
    assert plan.settings_for(PUBLISH) == FaultSpec(PUBLISH, error=0.3, latency_s=1.0)
    assert plan.settings_for(LIST_ASSETS) == FaultSpec(LIST_ASSETS, error=0.1, latency_s=1.0)


def test_later_group_wins_for_the_same_key() -> None:
    """When two groups set the same key for an operation, the later one applies."""
    plan = FaultPlan.parse(["publish:reset=0.2", "publish:reset=0.4;publish:latency=2"], seed=0)
    assert plan.settings_for(PUBLISH) == FaultSpec(PUBLISH, reset=0.4, latency_s=2.0)


def test_combined_groups_over_one_are_rejected() -> None:
    """Groups that are valid alone but sum over 1 for an operation raise ValueError."""
    with pytest.raises(ValueError, match=r"PublishPackageVersion sum to 1\.2,"):
        FaultPlan.parse(["*:error=0.6", "publish:reset=0.6"])


def test_certain_fault_always_happens() -> None:
    """A probability of 1 makes every request of the operation fail that way."""
    plan = FaultPlan.parse(["get-asset:reset=1"], seed=5)
    kinds = {d.kind for d in decisions(plan, "GetPackageVersionAsset", 500)}
    assert kinds == {FaultKind.RESET}


def test_error_splits_between_500_and_503() -> None:
    """With error=1 both 500 and 503 replies occur, about half each."""
    plan = FaultPlan.parse(["publish:error=1"], seed=9)
    observed = Counter(d.kind for d in decisions(plan, PUBLISH, 2000))
    assert set(observed) == {FaultKind.ERROR_500, FaultKind.ERROR_503}
    assert 900 < observed[FaultKind.ERROR_500] < 1100


def test_fault_plan_repr_shows_seed_and_specs() -> None:
    """The repr names the seed and the parsed groups."""
    plan = FaultPlan.parse(["publish:error=0.5"], seed=42)
    assert "seed=42" in repr(plan)
    assert "FaultSpec(operation='PublishPackageVersion', error=0.5" in repr(plan)


# --- Stats ---------------------------------------------------------------------------------


def test_stats_start_empty() -> None:
    """A new Stats serves every documented key, all empty."""
    assert Stats().to_json() == {
        "requests": {},
        "throttled": {},
        "faults": {},
        "publishes": {},
        "duplicate_publishes": {},
    }


def test_stats_count_everything() -> None:
    """Requests, throttles, faults by kind and publishes by asset key are counted."""
    stats = Stats()
    for op in (PUBLISH, PUBLISH, LIST_ASSETS):
        stats.count_request(op)
    stats.count_throttle(PUBLISH)
    stats.count_fault(PUBLISH, FaultKind.RESET)
    stats.count_fault(PUBLISH, FaultKind.ERROR_503)
    stats.count_fault(PUBLISH, FaultKind.RESET)
    stats.count_fault(PUBLISH, FaultKind.NONE)
    stats.count_publish("d/r/ns/pkg/1.0/b.bin")
    stats.count_publish("d/r/ns/pkg/1.0/a.bin")
    stats.count_publish("d/r/ns/pkg/1.0/b.bin")
    assert stats.to_json() == {
        "requests": {LIST_ASSETS: 1, PUBLISH: 2},
        "throttled": {PUBLISH: 1},
        "faults": {PUBLISH: {"error_503": 1, "reset": 2}},
        "publishes": {"d/r/ns/pkg/1.0/a.bin": 1, "d/r/ns/pkg/1.0/b.bin": 2},
        "duplicate_publishes": {"d/r/ns/pkg/1.0/b.bin": 2},
    }


def test_stats_json_is_serializable_and_sorted() -> None:
    """to_json() round-trips through json with keys in sorted order."""
    stats = Stats()
    for op in ("b", "c", "a"):
        stats.count_request(op)
    data = json.loads(json.dumps(stats.to_json()))
    assert list(data["requests"]) == ["a", "b", "c"]


def test_stats_reset_clears_all_counts() -> None:
    """reset() empties every counter."""
    stats = Stats()
    stats.count_request(PUBLISH)
    stats.count_throttle(PUBLISH)
    stats.count_fault(PUBLISH, FaultKind.LOST_REPLY)
    stats.count_publish("k")
    stats.reset()
    assert stats.to_json() == Stats().to_json()
    assert repr(stats) == "Stats(requests=0, throttled=0, publishes=0)"
