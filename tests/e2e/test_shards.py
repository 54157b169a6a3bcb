"""Shards of one job share its rate: four `--shard K/4` processes keep to one quota."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import start_emulator
from tests.e2e.test_resume import start_run
from tests.e2e.test_run import make_tree
from uploader.emulator.faults import Quotas


def test_four_shards_at_rate_20_stay_under_a_20_per_s_quota(tmp_path: Path) -> None:
    """4 shards at once, `--rate 20` (the whole job's), a 20/s publish quota: every version
    finalized, at most 2 % of publish requests throttled (each shard sends 5/s)."""
    manifest = make_tree(tmp_path / "tree", versions=80, assets=1)
    emu = start_emulator(
        tmp_path / "emulator", quotas=Quotas.none().with_rate("PublishPackageVersion", 20)
    )
    try:
        runs = [
            start_run(manifest, emu, "--rate", "20", "--shard", f"{k}/4", "--no-progress",
                      "--journal", str(tmp_path / f"j{k}.sqlite"),
                      "--report", str(tmp_path / f"r{k}.json"))
            for k in range(1, 5)
        ]  # fmt: skip
        for run in runs:
            run.communicate(timeout=120)
            assert run.returncode == 0
        stats = emu.stats()
    finally:
        emu.stop()
    finalized = sum(
        json.loads((tmp_path / f"r{k}.json").read_text())["totals"]["versions"].get("finalized", 0)
        for k in range(1, 5)
    )
    assert finalized == 80
    throttled = stats["throttled"].get("PublishPackageVersion", 0)
    assert throttled <= 0.02 * stats["requests"]["PublishPackageVersion"], stats["throttled"]
