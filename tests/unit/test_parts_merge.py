"""What a `--processes` parent does with its children's shares, and the finalizer's guard."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from uploader.domain import AssetOutcome, TargetStatus
from uploader.finalizer import _Pending
from uploader.manifest import VersionSpec
from uploader.report import PART_TOTALS, AssetRecord, Report, VersionRecord


def _record(version: str) -> VersionRecord:
    asset = AssetRecord("a", "a.bin", 1, "0" * 64, AssetOutcome.PUBLISHED)
    return VersionRecord("d", "r", "ns", "pkg", version, TargetStatus.PUBLISHED, [asset])


def test_shares_merge_into_one_report(tmp_path: Path) -> None:
    """Two shares' counters add up and their records are all in the parent's report."""
    for j in (1, 2):
        part_dir = tmp_path / f"part-{j}"
        part_dir.mkdir()
        share = Report(part_dir=part_dir)
        share.add_version(_record(str(j)))
        share.write_part()
        share.close()
    parent = Report(tmp_path / "report.json")
    assert parent.add_part(tmp_path / "part-1")
    assert parent.add_part(tmp_path / "part-2")
    parent.write()
    parent.close()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["totals"]["versions"] == {"pending": 2}
    assert sorted(v["version"] for v in report["versions"]) == ["1", "2"]


def test_a_share_without_readable_totals_is_not_merged(tmp_path: Path) -> None:
    """Missing or truncated totals (a child that died): False, no exception."""
    (tmp_path / "dead").mkdir()
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / PART_TOTALS).write_text('{"totals": {"versi')
    parent = Report()
    assert not parent.add_part(tmp_path / "dead")
    assert not parent.add_part(tmp_path / "torn")


async def test_a_cancelled_version_is_not_settled() -> None:
    """A finalize reply for a version already cancelled is dropped, not an error."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.cancel()
    pending = _Pending(VersionSpec.__new__(VersionSpec), "", {}, done)
    pending.succeed()
    pending.fail(RuntimeError("late"))
    assert done.cancelled()
