"""The pipeline's decisions over the in-memory fake (tests/fake_api.py): conflicts, lost
replies, failedVersions, journal skips, resume, dry run, another tool's versions.

The pipeline is built as runner.py builds it (Remote around the API, the journal as the
hash cache, manifest entries from the settings), with the fake in place of the HTTP
client and a back-off sleep that only records its waits. Each test asserts on the fake's
state, on the report and on the journal. No HTTP, no emulator: milliseconds each.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fake_api import FakeCodeArtifact
from uploader.api import CodeArtifactAPI
from uploader.assets import Assets
from uploader.config import Rate, RunSettings
from uploader.domain import AssetState, PackageRef, Target, VersionState, VersionStatus
from uploader.filters import manifest_entries
from uploader.finalizer import Finalizer
from uploader.hashing import Hasher
from uploader.journal import Journal, JournalVersion, VersionKey
from uploader.pipeline import Pipeline
from uploader.remote import Remote
from uploader.report import Report

_: CodeArtifactAPI = FakeCodeArtifact()  # the fake has the Protocol's shape (mypy --strict)

TARGET = Target("demo", "repo")
ONE = PackageRef(TARGET, "acme", "one")
SCOPE = "fake"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake() -> FakeCodeArtifact:
    """A fake service holding the repository `demo/repo`."""
    api = FakeCodeArtifact()
    api.add_repository(TARGET.domain, TARGET.repository)
    return api


def write_manifest(
    root: Path, versions: Mapping[str, Mapping[str, bytes]], *, package: str = "one"
) -> Path:
    """Files and a JSON Lines manifest: version -> asset name -> bytes, one package."""
    lines = []
    for version, assets in versions.items():
        folder = root / "files" / version
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in assets.items():
            (folder / name).write_bytes(content)
        paths = [{"path": f"files/{version}/{name}"} for name in assets]
        lines.append(json.dumps({"package": package, "version": version, "assets": paths}))
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


@dataclass
class Outcome:
    """What a run left: the report (object and JSON) and the back-off waits it slept."""

    report: Report
    written: dict[str, Any]
    waits: list[float] = field(default_factory=list)

    def version(self, version: str) -> dict[str, Any]:
        """The report's record of one version."""
        records: list[dict[str, Any]] = self.written["versions"]
        (record,) = (v for v in records if v["version"] == version)
        return record

    def assets(self, version: str) -> dict[str, str]:
        """Asset name -> its outcome in the report."""
        return {a["name"]: a["outcome"] for a in self.version(version)["assets"]}


async def upload(
    api: FakeCodeArtifact,
    manifest: Path,
    *,
    journal: Path | None = None,
    linger_s: float = 0.0,
    **overrides: Any,
) -> Outcome:
    """One run of the pipeline over `api`, built as runner.py builds it."""
    settings = RunSettings(manifest=str(manifest), domain=TARGET.domain,
                           repository=TARGET.repository, namespace="acme", rate=Rate(1000.0),
                           **overrides)  # fmt: skip
    report = Report(manifest.parent / "report.json")
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    try:
        async with contextlib.AsyncExitStack() as stack:
            opened = None
            if journal is not None and not settings.dry_run:
                opened = await stack.enter_async_context(Journal(journal))
            cache = opened if settings.resume else None
            hasher = await stack.enter_async_context(Hasher(hash_threads=2, cache=cache))
            remote, finalizer = None, None
            if not settings.dry_run:  # as runner.open_api: a dry run has no client at all
                remote = Remote(api, settings.rate_limits(), report.totals,
                                max_attempts=settings.max_attempts,
                                max_retry_after_s=settings.max_retry_after_s,
                                sleep=sleep)  # fmt: skip
                finalizer = Finalizer(remote, linger_s=linger_s)
            pipeline = Pipeline(remote, Assets(hasher), report, settings, scope=SCOPE,
                                journal=opened, finalizer=finalizer)  # fmt: skip
            await pipeline.run(manifest_entries(settings))
        report.write()
    finally:
        report.close()
    return Outcome(report, json.loads((manifest.parent / "report.json").read_text()), waits)


async def remembered(journal: Path, version: str, package: str = "one") -> JournalVersion | None:
    """What the journal at `journal` holds of a version of `demo/repo`."""
    async with Journal(journal) as opened:
        return await opened.lookup(VersionKey(f"{SCOPE}|demo||repo", "acme", package, version))


def published(*sha256s: tuple[str, str]) -> dict[str, tuple[str, AssetState]]:
    """The journal's assets: each (name, SHA-256) published."""
    return {name: (sha256, AssetState.PUBLISHED) for name, sha256 in sha256s}


# --- a clean run, as the reference ---------------------------------------------------------


async def test_a_new_version_is_sent_once_and_finalized(tmp_path: Path) -> None:
    """No such version: each asset is published once, the version is finalized at the
    revision last listed, and report, journal and service agree."""
    api = fake()
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"a", "b.bin": b"bb"}})
    journal = tmp_path / "journal.sqlite"

    run = await upload(api, manifest, journal=journal)

    assert sorted(api.sent) == [("1.0", "a.bin"), ("1.0", "b.bin")]
    assert api.status(ONE, "1.0") is VersionStatus.PUBLISHED
    assert api.held(ONE, "1.0") == {"a.bin": sha(b"a"), "b.bin": sha(b"bb")}
    assert api.count("update_status") == 1
    assert run.version("1.0")["status"] == "finalized"
    assert run.assets("1.0") == {"a.bin": "published", "b.bin": "published"}
    assert run.report.totals.bytes_published == 3
    assert run.report.totals.publish_requests == 2
    assert run.written["exit_code"] == 0
    known = await remembered(journal, "1.0")
    assert known is not None
    assert known.state is VersionState.FINALIZED
    assert known.assets == published(("a.bin", sha(b"a")), ("b.bin", sha(b"bb")))


# --- conflicts -----------------------------------------------------------------------------


async def test_an_asset_held_with_other_content_fails_the_version_before_any_send(
    tmp_path: Path,
) -> None:
    """The service holds `a.bin` with other bytes: the plan is a conflict; nothing is sent,
    the service keeps its bytes, the journal records nothing, the run exits 1."""
    api = fake()
    api.put_version(ONE, "1.0", VersionStatus.UNFINISHED, {"a.bin": b"theirs"})
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"ours"}})
    journal = tmp_path / "journal.sqlite"

    run = await upload(api, manifest, journal=journal)

    assert api.sent == []
    assert api.held(ONE, "1.0") == {"a.bin": sha(b"theirs")}
    assert api.status(ONE, "1.0") is VersionStatus.UNFINISHED
    assert api.count("update_status") == 0
    record = run.version("1.0")
    assert record["status"] == "failed"
    assert record["error"] == (
        f"asset a.bin already exists with different content"
        f" (remote sha256 {sha(b'theirs')}, local {sha(b'ours')})"
    )
    assert run.written["exit_code"] == 1
    assert await remembered(journal, "1.0") is None  # never started: nothing to resume


async def test_a_conflict_at_publish_time_is_looked_up_and_reported(tmp_path: Path) -> None:
    """Another tool stores other bytes under our asset's name between our plan and our
    publish: the conflict is looked up (one listing), found to be real, and the version
    fails with both SHA-256s; the journal records the asset and the version as failed."""
    api = fake()
    api.conflict_publish(1, held=b"theirs")
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"ours"}})
    journal = tmp_path / "journal.sqlite"

    run = await upload(api, manifest, journal=journal)

    assert api.sent == [("1.0", "a.bin")]  # a conflict is not retried
    assert api.held(ONE, "1.0") == {"a.bin": sha(b"theirs")}
    assert api.status(ONE, "1.0") is VersionStatus.UNFINISHED
    assert api.count("list_assets") == 1
    record = run.version("1.0")
    assert record["status"] == "failed"
    assert "asset a.bin already exists with different content" in record["error"]
    assert f"remote sha256 {sha(b'theirs')}, local {sha(b'ours')}" in record["error"]
    assert run.assets("1.0") == {"a.bin": "failed"}
    known = await remembered(journal, "1.0")
    assert known is not None
    assert known.state is VersionState.FAILED
    assert known.assets == {"a.bin": (sha(b"ours"), AssetState.FAILED)}


async def test_the_same_bytes_stored_by_another_hand_are_no_conflict(tmp_path: Path) -> None:
    """A service that refuses any second publish of a name (republish_conflicts): our
    asset stored meanwhile with the same bytes is a conflict that the lookup resolves as
    `already_present`; the version is finalized."""
    api = FakeCodeArtifact(republish_conflicts=True)
    api.add_repository(TARGET.domain, TARGET.repository)
    api.conflict_publish(1, held=b"ours")
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"ours"}})
    journal = tmp_path / "journal.sqlite"

    run = await upload(api, manifest, journal=journal)

    assert api.sent == [("1.0", "a.bin")]
    assert api.held(ONE, "1.0") == {"a.bin": sha(b"ours")}
    assert api.status(ONE, "1.0") is VersionStatus.PUBLISHED
    assert run.version("1.0")["status"] == "finalized"
    assert run.assets("1.0") == {"a.bin": "already_present"}
    known = await remembered(journal, "1.0")
    assert known is not None
    assert known.state is VersionState.FINALIZED
    assert known.assets == published(("a.bin", sha(b"ours")))


# --- lost replies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("republish_conflicts", "outcome", "bytes_published"),
    [(False, "published", 5), (True, "already_present", 0)],
)
async def test_a_lost_publish_reply_is_retried_once_and_counted_once(
    tmp_path: Path, republish_conflicts: bool, outcome: str, bytes_published: int
) -> None:
    """The first publish's reply is lost (the asset is stored): the retry is the only other
    send; the service holds one copy; the asset is counted once, as `published` where
    the service accepts the same bytes again, as `already_present` where it calls that a
    conflict (the lookup finds our SHA-256); no extra send round, the version finalized."""
    api = FakeCodeArtifact(republish_conflicts=republish_conflicts)
    api.add_repository(TARGET.domain, TARGET.repository)
    api.lose_reply(1)
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"aaaaa"}})
    journal = tmp_path / "journal.sqlite"

    run = await upload(api, manifest, journal=journal)

    assert api.sent == [("1.0", "a.bin"), ("1.0", "a.bin")]
    assert api.held(ONE, "1.0") == {"a.bin": sha(b"aaaaa")}
    assert api.status(ONE, "1.0") is VersionStatus.PUBLISHED
    assert len(run.waits) == 1  # one back-off, before the one retry
    totals = run.report.totals
    assert (totals.publish_requests, totals.retries) == (2, 1)
    assert totals.bytes_published == bytes_published
    assert dict(totals.assets) == {outcome: 1}
    assert run.version("1.0")["status"] == "finalized"
    assert run.assets("1.0") == {"a.bin": outcome}
    known = await remembered(journal, "1.0")
    assert known is not None
    assert known.state is VersionState.FINALIZED
    assert known.assets == published(("a.bin", sha(b"aaaaa")))


async def test_a_lost_finalization_reply_is_found_done(tmp_path: Path) -> None:
    """A version Published by another hand between our last listing and our finalization
    (as our own earlier attempt whose reply was lost): MISMATCHED_STATUS is looked up, the
    version holds exactly the checked assets at the target status: finalized, not failed."""
    api = fake()
    api.another_hand("1.0", VersionStatus.PUBLISHED)
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"a"}})
    journal = tmp_path / "journal.sqlite"

    run = await upload(api, manifest, journal=journal)

    assert api.sent == [("1.0", "a.bin")]
    assert api.status(ONE, "1.0") is VersionStatus.PUBLISHED
    assert api.count("update_status") == 1
    assert api.count("describe_version") == 1  # the lookup (the package had no versions)
    assert run.version("1.0")["status"] == "finalized"
    known = await remembered(journal, "1.0")
    assert known is not None
    assert known.state is VersionState.FINALIZED


# --- failedVersions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("NOT_ALLOWED", "finalizing failed: NOT_ALLOWED: refused by the test"),
        (
            "MISMATCHED_REVISION",
            "finalizing failed: MISMATCHED_REVISION: the version changed on the service"
            " after its assets were checked; rerun",
        ),
    ],
)
async def test_failed_versions_fail_alone(tmp_path: Path, code: str, error: str) -> None:
    """update_status lists one version of two in failedVersions: that one fails with the
    service's code (and its assets stay published, in the journal too), the other is
    finalized; the run exits 1."""
    api = fake()
    api.fail_versions({"2.0": code})
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"a"}, "2.0": {"a.bin": b"b"}})
    journal = tmp_path / "journal.sqlite"

    run = await upload(api, manifest, journal=journal, linger_s=0.05)

    assert api.status(ONE, "1.0") is VersionStatus.PUBLISHED
    assert api.status(ONE, "2.0") is VersionStatus.UNFINISHED
    assert api.held(ONE, "2.0") == {"a.bin": sha(b"b")}
    assert run.version("1.0")["status"] == "finalized"
    assert run.version("2.0")["status"] == "failed"
    assert run.version("2.0")["error"] == error
    assert run.assets("2.0") == {"a.bin": "published"}
    assert run.written["exit_code"] == 1
    first, second = await remembered(journal, "1.0"), await remembered(journal, "2.0")
    assert first is not None
    assert second is not None
    assert first.state is VersionState.FINALIZED
    assert second.state is VersionState.FAILED
    assert second.assets == published(("a.bin", sha(b"b")))


async def test_a_rerun_after_a_failed_finalization_sends_nothing(tmp_path: Path) -> None:
    """A version whose finalization failed: the next run finds every asset on the service,
    sends none, and finalizes it."""
    api = fake()
    api.fail_versions({"1.0": "NOT_ALLOWED"})
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"a", "b.bin": b"b"}})
    journal = tmp_path / "journal.sqlite"
    await upload(api, manifest, journal=journal)
    sent = len(api.sent)

    run = await upload(api, manifest, journal=journal)

    assert len(api.sent) == sent
    assert api.status(ONE, "1.0") is VersionStatus.PUBLISHED
    assert run.version("1.0")["status"] == "finalized"
    assert run.assets("1.0") == {"a.bin": "already_present", "b.bin": "already_present"}
    assert run.report.totals.publish_requests == 0
    known = await remembered(journal, "1.0")
    assert known is not None
    assert known.state is VersionState.FINALIZED


# --- the journal: skip and resume ----------------------------------------------------------


async def test_a_version_the_journal_saw_through_is_skipped_without_a_request(
    tmp_path: Path,
) -> None:
    """Second run, same files, same journal: the version is `skipped` on the journal's word,
    and the service is not asked anything at all."""
    api = fake()
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"a"}})
    journal = tmp_path / "journal.sqlite"
    await upload(api, manifest, journal=journal)
    calls = list(api.calls)

    run = await upload(api, manifest, journal=journal)

    assert api.calls == calls
    assert run.version("1.0")["status"] == "skipped"
    assert run.assets("1.0") == {"a.bin": "already_present"}
    known = await remembered(journal, "1.0")
    assert known is not None
    assert known.state is VersionState.FINALIZED  # a skip keeps what the journal saw


async def test_a_batch_the_journal_knows_is_settled_at_once_but_a_changed_file_is_not(
    tmp_path: Path,
) -> None:
    """100 versions seen through; then one file changes and one disappears. The other 98
    are skipped without a request, with their sizes and SHA-256s in the report; the
    changed one is asked of the service (a conflict); the missing one is the manifest's
    problem, alone."""
    api = fake()
    versions = {f"1.{n}": {"a.bin": b"%d" % n} for n in range(100)}
    manifest = write_manifest(tmp_path, versions)
    journal = tmp_path / "journal.sqlite"
    await upload(api, manifest, journal=journal)
    (tmp_path / "files" / "1.7" / "a.bin").write_bytes(b"changed")
    (tmp_path / "files" / "1.9" / "a.bin").unlink()
    calls = len(api.calls)

    run = await upload(api, manifest, journal=journal)

    statuses = {v["version"]: v["status"] for v in run.written["versions"]}
    assert [v for v, status in statuses.items() if status != "skipped"] == ["1.7"]
    assert "different content" in run.version("1.7")["error"]
    assert len(statuses) == 99  # 1.9 is not a version to try: its file is missing
    assert run.report.totals.problems == 1
    assert "publish" not in api.calls[calls:]  # only reads, for 1.7
    assert len(api.calls) - calls <= 4
    (asset,) = run.version("1.42")["assets"]
    assert asset["sha256"] == sha(b"42")
    assert asset["size"] == 2


async def test_reconcile_asks_the_service_instead_of_the_journal(tmp_path: Path) -> None:
    """With `reconcile`, a version the journal saw through is checked on the service (it
    is complete there: skipped, nothing sent); one deleted meanwhile is sent again."""
    api = fake()
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"a"}, "2.0": {"a.bin": b"b"}})
    journal = tmp_path / "journal.sqlite"
    await upload(api, manifest, journal=journal)
    del api.packages[("demo", "repo", "acme", "one")]["2.0"]  # deleted by another hand
    api.sent.clear()

    run = await upload(api, manifest, journal=journal, reconcile=True)

    assert api.sent == [("2.0", "a.bin")]
    assert api.status(ONE, "2.0") is VersionStatus.PUBLISHED
    assert run.version("1.0")["status"] == "skipped"
    assert run.version("2.0")["status"] == "finalized"
    assert run.assets("2.0") == {"a.bin": "published"}
    known = await remembered(journal, "2.0")
    assert known is not None
    assert known.state is VersionState.FINALIZED


async def test_a_changed_file_is_not_skipped_by_the_journal(tmp_path: Path) -> None:
    """The journal saw 1.0 through with other bytes: no skip; the service is asked, and its
    Published version with the old bytes is a conflict (nothing is sent)."""
    api = fake()
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"old"}})
    journal = tmp_path / "journal.sqlite"
    await upload(api, manifest, journal=journal)
    write_manifest(tmp_path, {"1.0": {"a.bin": b"new"}})
    api.sent.clear()

    run = await upload(api, manifest, journal=journal)

    assert api.sent == []
    assert api.held(ONE, "1.0") == {"a.bin": sha(b"old")}
    assert run.version("1.0")["status"] == "failed"
    assert "already exists with different content" in run.version("1.0")["error"]
    known = await remembered(journal, "1.0")
    assert known is not None
    assert known.state is VersionState.FAILED


async def test_a_resumed_version_sends_only_its_missing_assets(tmp_path: Path) -> None:
    """A first run stores two assets of three (the third publish is refused), and the
    version fails; the next run sends only the third and finalizes the version."""
    api = fake()
    api.conflict_publish(3)
    assets = {"a.bin": b"a", "b.bin": b"b", "c.bin": b"c"}
    manifest = write_manifest(tmp_path, {"1.0": assets})
    journal = tmp_path / "journal.sqlite"
    first = await upload(api, manifest, journal=journal)
    stored = set(api.held(ONE, "1.0"))
    (missing,) = set(assets) - stored  # the publish refused (asyncio orders the sends)
    assert first.version("1.0")["status"] == "failed"
    assert first.assets("1.0")[missing] == "failed"
    known = await remembered(journal, "1.0")
    assert known is not None
    assert known.state is VersionState.FAILED
    assert {n for n, (_, state) in known.assets.items() if state is AssetState.PUBLISHED} == stored
    api.sent.clear()

    run = await upload(api, manifest, journal=journal)

    assert api.sent == [("1.0", missing)]
    assert api.held(ONE, "1.0") == {name: sha(content) for name, content in assets.items()}
    assert api.status(ONE, "1.0") is VersionStatus.PUBLISHED
    assert run.version("1.0")["status"] == "finalized"
    assert run.assets("1.0") == {n: "published" if n == missing else "already_present"
                                 for n in assets}  # fmt: skip
    assert run.report.totals.publish_requests == 1
    known = await remembered(journal, "1.0")
    assert known is not None
    assert known.state is VersionState.FINALIZED
    assert known.assets == published(*((n, sha(c)) for n, c in assets.items()))


# --- dry run -------------------------------------------------------------------------------


async def test_a_dry_run_hashes_and_sends_nothing(tmp_path: Path) -> None:
    """A dry run has no client (as runner.open_api gives it none): every file is hashed,
    every version is `hashed` in the report, the service is never asked, and a journal
    given to it records nothing."""
    api = fake()
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"a"}, "2.0": {"b.bin": b"bb"}})
    journal = tmp_path / "journal.sqlite"

    run = await upload(api, manifest, journal=journal, dry_run=True)

    assert api.calls == []
    assert api.packages == {}
    assert {v["version"]: v["status"] for v in run.written["versions"]} == {
        "1.0": "hashed",
        "2.0": "hashed",
    }
    assert run.version("2.0")["assets"][0]["sha256"] == sha(b"bb")
    assert run.assets("2.0") == {"b.bin": "hashed"}
    assert run.report.totals.publish_requests == 0
    assert run.report.totals.bytes_hashed == 3
    assert await remembered(journal, "1.0") is None


# --- versions made by another hand ---------------------------------------------------------


async def test_a_version_published_by_another_hand_with_our_assets_is_skipped(
    tmp_path: Path,
) -> None:
    """Another tool already Published 1.0 with exactly our bytes: skipped, nothing sent,
    not finalized again. The journal keeps no row for it (it was never started), so the
    next run asks the service again, and skips it again."""
    api = fake()
    revision = api.put_version(ONE, "1.0", VersionStatus.PUBLISHED, {"a.bin": b"a"}).revision
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"a"}})
    journal = tmp_path / "journal.sqlite"

    run = await upload(api, manifest, journal=journal)

    assert api.sent == []
    assert api.count("update_status") == 0
    stored = api.version(ONE, "1.0")
    assert stored is not None
    assert (stored.status, stored.revision) == (VersionStatus.PUBLISHED, revision)
    assert run.version("1.0")["status"] == "skipped"
    assert run.assets("1.0") == {"a.bin": "already_present"}
    assert run.written["exit_code"] == 0
    # As before the pipeline's split: `Outcomes.present` and `close` update rows that
    # `started` never inserted, so VersionState.SKIPPED is not written for this version.
    assert await remembered(journal, "1.0") is None
    calls = len(api.calls)
    again = await upload(api, manifest, journal=journal)
    assert again.version("1.0")["status"] == "skipped"
    assert api.calls[calls:] == ["describe_repository", "list_versions", "describe_version"]
    assert api.sent == []


async def test_a_version_published_by_another_hand_without_an_asset_fails(
    tmp_path: Path,
) -> None:
    """Another tool Published 1.0 with only one of our two assets: it can take no more, so
    the version fails with that reason; nothing is sent and the service is unchanged."""
    api = fake()
    api.put_version(ONE, "1.0", VersionStatus.PUBLISHED, {"a.bin": b"a"})
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"a", "b.bin": b"b"}})

    run = await upload(api, manifest, journal=tmp_path / "journal.sqlite")

    assert api.sent == []
    assert api.held(ONE, "1.0") == {"a.bin": sha(b"a")}
    record = run.version("1.0")
    assert record["status"] == "failed"
    assert "already Published on the server without assets ['b.bin']" in record["error"]


async def test_an_unfinished_version_left_by_another_hand_is_completed(tmp_path: Path) -> None:
    """Another tool left 1.0 Unfinished with one of our assets: only the other is sent; the
    one found is `already_present`; the version is finalized."""
    api = fake()
    api.put_version(ONE, "1.0", VersionStatus.UNFINISHED, {"a.bin": b"a"})
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"a", "b.bin": b"b"}})
    journal = tmp_path / "journal.sqlite"

    run = await upload(api, manifest, journal=journal)

    assert api.sent == [("1.0", "b.bin")]
    assert api.status(ONE, "1.0") is VersionStatus.PUBLISHED
    assert run.assets("1.0") == {"a.bin": "already_present", "b.bin": "published"}
    known = await remembered(journal, "1.0")
    assert known is not None
    assert known.state is VersionState.FINALIZED
    assert known.assets == published(("a.bin", sha(b"a")), ("b.bin", sha(b"b")))


# --- throttling and the finalizer's linger -------------------------------------------------


async def test_throttled_calls_are_retried_after_the_recorded_waits(tmp_path: Path) -> None:
    """The next 3 calls are throttled with a Retry-After of 2 s: each is retried after a
    wait of at least 2 s (recorded, never slept), counted in the report; all is sent."""
    api = fake()
    api.throttle(3, retry_after_s=2.0)
    manifest = write_manifest(tmp_path, {"1.0": {"a.bin": b"a"}})

    run = await upload(api, manifest)

    assert len(run.waits) == 3
    assert all(wait >= 2.0 for wait in run.waits)
    assert (run.report.totals.throttled, run.report.totals.retries) == (3, 3)
    assert api.status(ONE, "1.0") is VersionStatus.PUBLISHED
    assert run.version("1.0")["status"] == "finalized"


async def test_a_worker_does_not_wait_for_finalization(tmp_path: Path) -> None:
    """One worker, a finalization linger of L (injected, 0.5 s): the worker sends version
    after version while the first waits, so 7 versions of one package are finalized in 1
    or 2 calls, not 7 calls of L each, and the run takes under 3 L.

    (Formerly tests/e2e/test_run.py, with L = 3 s patched into `finalizer.LINGER_S`.)
    """
    linger_s = 0.5
    manifest = write_manifest(tmp_path, {str(v): {"a.bin": b"a"} for v in range(7)})
    api = fake()

    run = await upload(api, manifest, journal=tmp_path / "journal.sqlite", workers=1,
                       linger_s=linger_s)  # fmt: skip

    assert run.report.totals.versions["finalized"] == 7
    assert api.count("update_status") <= 2
    assert run.report.elapsed_s < 3 * linger_s
    assert all(api.status(ONE, str(v)) is VersionStatus.PUBLISHED for v in range(7))
