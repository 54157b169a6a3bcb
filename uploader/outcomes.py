"""The one writer of outcomes: a version's report record and its journal rows, together.

Every change of what a run knows about a version goes through `Outcomes`: the report's
record (what the user reads) and the journal (what the next run resumes from) are never
updated apart, so they cannot disagree. The decisions (skip, send, fail) are made
elsewhere (`plan.py`, `sending.py`); this module only writes them down.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import structlog

from uploader.domain import AssetOutcome, VersionOutcome
from uploader.hashing import FileDigest
from uploader.journal import Journal, JournalVersion, VersionKey
from uploader.manifest import Asset, Problem, RemoteAssetSpec, VersionSpec
from uploader.plan import Plan
from uploader.report import AssetRecord, Report, VersionRecord
from uploader.sources.errors import redacted

log = structlog.get_logger(__name__)


def new_record(spec: VersionSpec) -> VersionRecord:
    """A version's record before anything happened to it: pending, as are its assets."""
    return VersionRecord(
        domain=spec.domain,
        repository=spec.repository,
        namespace=spec.namespace,
        package=spec.package,
        version=spec.version,
        target_status=spec.status,
        assets=[AssetRecord(a.name, location_of(a)) for a in spec.assets],
    )


def location_of(asset: Asset) -> str:
    """Where an asset is, as a report may show it: a URL redacted (`sources.errors`)."""
    return redacted(asset.location) if isinstance(asset, RemoteAssetSpec) else asset.location


def version_key(spec: VersionSpec, scope: str) -> VersionKey:
    """A version's identity in the journal: the endpoint (`scope`) and the target in it."""
    owner = spec.domain_owner or ""
    where = f"{scope}|{spec.domain}|{owner}|{spec.repository}"
    return VersionKey(where, spec.namespace, spec.package, spec.version)


@dataclass
class Job:
    """One version on its way: what the manifest says, what we found, what happened."""

    spec: VersionSpec
    key: VersionKey
    record: VersionRecord
    digests: dict[str, FileDigest] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: VersionSpec, scope: str) -> Job:
        """A job for a version not yet started."""
        return cls(spec, version_key(spec, scope), new_record(spec))

    def pairs(self) -> list[tuple[Asset, AssetRecord]]:
        """Each manifest asset with its report record."""
        return list(zip(self.spec.assets, self.record.assets, strict=True))

    def wanted(self) -> dict[str, str]:
        """Asset name -> the SHA-256 the service must hold."""
        return {name: digest.sha256 for name, digest in self.digests.items()}

    def drop_contents(self) -> None:
        """Forget the kept bytes of small files (a later send reads the file again)."""
        for name, digest in self.digests.items():
            if digest.content is not None:
                self.digests[name] = dataclasses.replace(digest, content=None)


class Outcomes:
    """Writes what happened to versions and assets into the report and the journal.

    Args:
        report: the run's report.
        journal: the resume journal; None keeps no record (a dry run).
    """

    def __init__(self, report: Report, journal: Journal | None) -> None:
        self._report = report
        self._journal = journal

    def __repr__(self) -> str:
        return f"<Outcomes {self._report!r}>"

    async def remembered(self, key: VersionKey) -> JournalVersion | None:
        """What the journal remembers of a version (None without a journal)."""
        return None if self._journal is None else await self._journal.lookup(key)

    async def remembered_many(self, keys: list[VersionKey]) -> list[JournalVersion | None]:
        """What the journal remembers of each version, in one call."""
        if self._journal is None:
            return [None] * len(keys)
        return await self._journal.lookup_many(keys)

    def problem(self, problem: Problem) -> None:
        """A manifest entry that could not be read: reported, never tried."""
        log.error(str(problem), event_kind="manifest_problem")
        self._report.add_problem(str(problem.place), problem.message)

    def never_started(self, spec: VersionSpec) -> None:
        """A version read but not started (a stop came first): pending in the report."""
        self._report.add_version(new_record(spec))

    def hashed(self, job: Job, digests: list[FileDigest]) -> None:
        """The assets' sizes and SHA-256s, as hashed."""
        for asset, digest in zip(job.record.assets, digests, strict=True):
            asset.size_bytes = digest.size_bytes
            asset.sha256 = digest.sha256
            asset.outcome = AssetOutcome.HASHED

    async def started(self, job: Job) -> None:
        """The version is being sent: pending in the journal, with its assets' digests."""
        if self._journal is not None:
            sizes = {n: (d.sha256, d.size_bytes) for n, d in job.digests.items()}
            await self._journal.start_version(job.key, job.spec.status.value, sizes)

    def planned(self, job: Job, plan: Plan) -> None:
        """Assets the service holds are `already_present`; those to send are not yet."""
        for asset, record in job.pairs():
            if asset.name in plan.present and record.outcome is not AssetOutcome.PUBLISHED:
                record.outcome = AssetOutcome.PRESENT
            elif asset.name in plan.send:
                record.outcome = AssetOutcome.HASHED

    async def present(self, job: Job, names: tuple[str, ...]) -> None:
        """Assets the service was seen to hold with the manifest's SHA-256."""
        if self._journal is not None:
            for name in names:
                await self._journal.asset_published(job.key, name, job.digests[name].sha256)

    async def published(self, job: Job, record: AssetRecord, outcome: AssetOutcome) -> None:
        """One asset is on the service (sent now, or found there by a retry)."""
        record.outcome = outcome
        digest = job.digests[record.name]
        if self._journal is not None:
            await self._journal.asset_published(job.key, record.name, digest.sha256)
        if outcome is AssetOutcome.PUBLISHED:
            self._report.totals.bytes_published += digest.size_bytes

    def asset_pending(self, record: AssetRecord) -> None:
        """An asset whose send was stopped: still to do."""
        record.outcome = AssetOutcome.PENDING

    async def asset_failed(self, job: Job, record: AssetRecord, error: str | None) -> None:
        """An asset the service refused (or that could not be read)."""
        record.outcome = AssetOutcome.FAILED
        if self._journal is not None and error is not None:
            await self._journal.asset_failed(job.key, record.name, error)

    def publish_attempted(self) -> None:
        """One PublishPackageVersion request, counted whatever its fate."""
        self._report.totals.publish_requests += 1

    def skipped(self, job: Job, reason: str, *, quiet: bool = False) -> None:
        """Nothing to do: the version is complete (the journal or the service says so).

        `quiet` logs it at debug level: a nightly rerun skips whole batches at once, and
        says so in one line a batch rather than one a version.
        """
        for _, record in job.pairs():
            record.outcome = AssetOutcome.PRESENT
        job.record.outcome = VersionOutcome.SKIPPED
        if quiet:
            spec = job.spec
            log.debug("version skipped", reason=reason, namespace=spec.namespace,
                      package=spec.package, version=spec.version)  # fmt: skip
        else:
            log.info("version skipped", reason=reason)

    def ended(self, job: Job, outcome: VersionOutcome, error: str | None = None) -> None:
        """The version's outcome (kept in memory until `close`)."""
        job.record.outcome = outcome
        job.record.error = error

    async def close(self, job: Job, *, sent: bool) -> None:
        """The version is over: its journal state, and its record into the report.

        Hashed assets that were never confirmed are pending (unless nothing was ever to be
        `sent`: a dry run keeps them `hashed`).
        """
        record = job.record
        if sent:
            for asset in record.assets:
                if asset.outcome is AssetOutcome.HASHED:
                    asset.outcome = AssetOutcome.PENDING
        state = record.outcome.journal_state
        if self._journal is not None and state is not None:
            await self._journal.version_done(job.key, state, record.error)
        self._report.add_version(record)

    def cancelled(self, job: Job) -> None:
        """A version cancelled before its outcome was known (the drain ran out): it is
        pending, and so is every asset not yet confirmed; the record goes into the report."""
        record = job.record
        if record.outcome in (VersionOutcome.PENDING, VersionOutcome.HASHED):
            record.outcome = VersionOutcome.PENDING
        for asset in record.assets:
            if asset.outcome is AssetOutcome.HASHED:
                asset.outcome = AssetOutcome.PENDING
        self._report.add_version(record)
