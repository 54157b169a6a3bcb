"""Shards of one job share its rate: four `--shard K/4` processes keep to one quota."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import start_emulator
from tests.e2e.test_resume import start_run
from tests.e2e.test_run import make_tree
from uploader.emulator.faults import Quotas


def test_four_shards_at_rate_20_stay_under_a_20_per_s_quota(tmp_path: Path) -> None:
    """4 shards at once, `--rate 20` (the whole job's), a 20/s publish quota: every version
    finalized, at most 2 % of publish requests throttled (each shard sends 5/s)."""
    _, stats = run_shards(tmp_path, "20", versions=80)
    finalized = sum(
        json.loads((tmp_path / f"r{k}.json").read_text())["totals"]["versions"].get("finalized", 0)
        for k in range(1, 5)
    )
    assert finalized == 80
    throttled = stats["throttled"].get("PublishPackageVersion", 0)
    assert throttled <= 0.02 * stats["requests"]["PublishPackageVersion"], stats["throttled"]


def most_in_a_window(times: list[float], window_s: float) -> int:
    """The most arrivals within any `window_s` (a sliding window over sorted times)."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


def run_shards(tmp_path: Path, rate: str, versions: int) -> tuple[list[float], dict[str, Any]]:
    """Four `--shard K/4` runs at once at `--rate RATE` against a 20/s publish quota: the
    emulator's publish arrival times and its stats (each shard's report in rK.json)."""
    manifest = make_tree(tmp_path / "tree", versions=versions, assets=1)
    emu = start_emulator(
        tmp_path / "emulator", quotas=Quotas.none().with_rate("PublishPackageVersion", 20)
    )
    try:
        runs = [
            start_run(manifest, emu, "--rate", rate, "--shard", f"{k}/4", "--no-progress",
                      "--journal", str(tmp_path / f"j{k}.sqlite"),
                      "--report", str(tmp_path / f"r{k}.json"))
            for k in range(1, 5)
        ]  # fmt: skip
        for run in runs:
            run.communicate(timeout=180)
            assert run.returncode == 0
        return emu.arrivals("PublishPackageVersion"), emu.stats()
    finally:
        emu.stop()


def test_four_shards_never_send_more_than_the_job_s_rate(tmp_path: Path) -> None:
    """Counted at the emulator: in no 100 ms window do the four shards together send more
    than the rate's share of it plus each shard's one-request burst (20/10 + 4), and in no
    second more than the rate plus those bursts."""
    arrivals, _ = run_shards(tmp_path, "20", versions=80)
    assert len(arrivals) >= 80
    assert most_in_a_window(arrivals, 0.1) <= 2 + 4
    assert most_in_a_window(arrivals, 1.0) <= 20 + 4


def test_auto_shards_back_off_together(tmp_path: Path) -> None:
    """`--rate auto` on four shards (the quota not told): each starts at its share and
    grows slowly, so together they stay near the quota (no second above 1.2 x 20 plus the
    bursts) and few requests are throttled."""
    arrivals, stats = run_shards(tmp_path, "auto", versions=120)
    throttled = stats["throttled"].get("PublishPackageVersion", 0)
    assert throttled <= 0.05 * len(arrivals), (throttled, len(arrivals))
    assert most_in_a_window(arrivals, 1.0) <= 24 + 4
