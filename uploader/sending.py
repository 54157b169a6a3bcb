"""One version's way through a run: hash, decide, send, finalize.

    hash every asset (assets.py: local files by the Hasher, remote ones stat'ed or spooled)
      │
      ├─ the journal saw this exact version through          -> skipped, no request
      ├─ plan from the service (plan.py): complete           -> skipped
      │                                   conflict           -> failed, its message
      │                                   send these assets  -> publish them
      ▼
    until a fresh listing holds exactly the manifest's assets (≤ MAX_SEND_ROUNDS)
      ▼
    finalize at that listing's revision (the Finalizer), or leave Unfinished

`Sender` is that path; `HashOnly` is a dry run's (hash, check, send nothing). Both
write what happens through `Outcomes` and raise what ends the version: the pool (pipeline.py)
turns the error into the version's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final, Protocol

import structlog

from uploader.assets import Assets
from uploader.domain import AssetOutcome, TargetStatus, VersionOutcome
from uploader.errors import (
    ConflictError,
    FatalRemoteError,
    Interrupted,
    JournalError,
    RejectedError,
    RetryableRemoteError,
    UploaderError,
)
from uploader.finalizer import Finalizer
from uploader.hashing import FileDigest
from uploader.journal import JournalVersion
from uploader.limits import Family
from uploader.manifest import Asset
from uploader.outcomes import Job, Outcomes
from uploader.plan import Plan, different_content, done_in_journal, plan_version
from uploader.remote import Remote
from uploader.report import AssetRecord
from uploader.service_view import ServiceView

log = structlog.get_logger(__name__)

# Bytes of a version's small files kept in memory from hashing to sending (so at most
# this times --workers in all): sent without a second read, and exactly as hashed.
KEEP_BYTES_PER_VERSION: Final = 1024 * 1024
MAX_SEND_ROUNDS: Final = 3  # listings that may still lack sent assets before a version fails


class VersionFlow(Protocol):
    """What the pool runs for each version."""

    sends: bool  # whether anything is sent (a dry run sends nothing)

    async def process(self, job: Job, sent: asyncio.Event) -> None:
        """Take the version as far as it goes; set `sent` once its worker may move on."""

    async def skip_known_done(self, jobs: list[Job]) -> list[Job]:
        """Settle the versions known done without a worker; the others, still to process."""


async def hash_all(
    assets: Assets,
    job: Job,
    outcomes: Outcomes,
    *,
    keep_bytes: int,
    held: contextlib.AsyncExitStack | None = None,
) -> None:
    """Hash every asset into `job.digests`; RejectedError if a manifest sha256 disagrees.
    Remote assets' spooled bytes are held in `held` (until the version is sent)."""
    spec = job.spec
    digests = await assets.digest_all(spec.assets, keep_bytes=keep_bytes, held=held)
    outcomes.hashed(job, digests)
    for asset, digest, record in zip(spec.assets, digests, job.record.assets, strict=True):
        if asset.sha256 is not None and asset.sha256 != digest.sha256:
            record.outcome = AssetOutcome.FAILED
            raise RejectedError(
                f"{asset.place}: sha256 in the manifest is {asset.sha256},"
                f" the {'file' if digest.inode else 'object'}'s is {digest.sha256}"
            )
    job.digests = {a.name: d for a, d in zip(spec.assets, digests, strict=True)}


class HashOnly:
    """A dry run: hash and check every file; nothing is asked of the service or sent."""

    sends = False

    def __init__(self, assets: Assets, outcomes: Outcomes) -> None:
        self._assets = assets
        self._outcomes = outcomes

    async def skip_known_done(self, jobs: list[Job]) -> list[Job]:
        """A dry run hashes every version: none is skipped."""
        return jobs

    async def process(self, job: Job, sent: asyncio.Event) -> None:
        """Hash the version's files; its outcome is `hashed`."""
        await hash_all(self._assets, job, self._outcomes, keep_bytes=0)
        self._outcomes.ended(job, VersionOutcome.HASHED)


class Sender:
    """Brings one version on the service to what its manifest entry says.

    Args:
        remote: the retried, rate-limited calls.
        view: the service's read side (targets, listings).
        assets: where the assets' digests and bodies come from (files, stores).
        outcomes: where what happens is written.
        finalizer: sets the versions' statuses.
        max_uploads: asset uploads in flight at once, across all versions.
        trust_journal: skip a version the journal saw through (not with --reconcile).
    """

    sends = True

    def __init__(
        self,
        remote: Remote,
        view: ServiceView,
        assets: Assets,
        outcomes: Outcomes,
        finalizer: Finalizer,
        *,
        max_uploads: int,
        trust_journal: bool = True,
    ) -> None:
        self._remote = remote
        self._view = view
        self._assets = assets
        self._outcomes = outcomes
        self._finalizer = finalizer
        self._uploads = asyncio.Semaphore(max_uploads)
        self._trust_journal = trust_journal

    def __repr__(self) -> str:
        return f"<Sender {self._finalizer!r}>"

    async def process(self, job: Job, sent: asyncio.Event) -> None:
        """Skip, send and finalize one version, as its plans say."""
        async with contextlib.AsyncExitStack() as held:  # spooled downloads, until sent
            # Both ask the journal: at once, they share one of its transactions.
            _, known = await asyncio.gather(
                hash_all(self._assets, job, self._outcomes, keep_bytes=KEEP_BYTES_PER_VERSION,
                         held=held),
                self._remembered(job),
            )  # fmt: skip
            if done_in_journal(known, job.wanted(), job.spec.status):
                self._outcomes.skipped(job, "done in an earlier run (journal)")
                return
            await self._view.ensure_target(job.spec.target)
            plan = _checked(plan_version(job.wanted(), await self._view.version(job.spec)))
            self._outcomes.planned(job, plan)
            if plan.complete:
                self._outcomes.skipped(job, "already on the server with the same assets")
                await self._outcomes.present(job, plan.present)
                return
            await self._outcomes.started(job)
            await self._outcomes.present(job, plan.present)
            revision = await self._send_until_whole(job, plan, sent)
        await self._finish(job, revision)

    async def skip_known_done(self, jobs: list[Job]) -> list[Job]:
        """Skip, in one go, the versions of a batch the journal saw through with these files.

        The nightly rerun of an unchanged store: one journal query for the batch, one
        thread job that stats every file and takes the hash cache's word for it (a file
        whose size, mtime or inode changed is hashed again), and the skipped versions'
        records written together. A remote asset whose SHA-256 and size the manifest
        declares is taken at its word (no request to its store); others are stat'ed.
        The rest go to the workers, as ever.
        """
        if not self._trust_journal:
            return jobs
        known = await self._outcomes.remembered_many([job.key for job in jobs])
        candidates = [
            (job, seen) for job, seen in zip(jobs, known, strict=True)
            if seen is not None and seen.state.done
            and seen.target_status == job.spec.status.value
        ]  # fmt: skip
        if not candidates:
            return jobs
        try:
            digests = await self._assets.digest_all(
                [asset for job, _ in candidates for asset in job.spec.assets],
                trust_manifest=True,
            )
        except UploaderError:  # a file gone or unreadable: each version finds out alone
            return jobs
        done = self._done(candidates, digests)
        await asyncio.gather(*(self._outcomes.close(job, sent=True) for job in done))
        if done:
            log.info(
                "versions skipped", reason="done in an earlier run (journal)", versions=len(done)
            )
        skipped = {id(job) for job in done}
        return [job for job in jobs if id(job) not in skipped]

    def _done(
        self, candidates: list[tuple[Job, JournalVersion]], digests: list[FileDigest]
    ) -> list[Job]:
        done: list[Job] = []
        at = 0
        for job, seen in candidates:
            mine = digests[at : at + len(job.spec.assets)]
            at += len(mine)
            declared = all(
                a.sha256 in (None, d.sha256) for a, d in zip(job.spec.assets, mine, strict=True)
            )
            wanted = {a.name: d.sha256 for a, d in zip(job.spec.assets, mine, strict=True)}
            if declared and done_in_journal(seen, wanted, job.spec.status):
                self._outcomes.hashed(job, mine)
                job.digests = dict(zip(wanted, mine, strict=True))
                self._outcomes.skipped(job, "done in an earlier run (journal)", quiet=True)
                done.append(job)
        return done

    async def _remembered(self, job: Job) -> JournalVersion | None:
        return await self._outcomes.remembered(job.key) if self._trust_journal else None

    async def _send_until_whole(self, job: Job, plan: Plan, sent: asyncio.Event) -> str:
        """Send what the plan says, until a fresh listing shows the service holds exactly
        the manifest's assets; returns the revision that listing belongs to.

        A listing that still lacks assets (the version was deleted meanwhile, or a reply
        claimed more than was stored) sends them again, a few rounds at most.
        """
        for _ in range(MAX_SEND_ROUNDS):
            await self._publish_all(job, plan.send)
            job.drop_contents()  # the small files' bytes are sent: free them
            sent.set()
            listing = await self._view.listing(job.spec)
            plan = _checked(plan_version(job.wanted(), listing))
            if not plan.send:
                assert listing is not None  # a plan for no version sends every asset
                return listing.revision
            log.warning("the service lacks assets that were sent; sending them again",
                        missing=list(plan.send))  # fmt: skip
            self._outcomes.planned(job, plan)
        raise RejectedError(
            f"the service still lacks {list(plan.send)} after {MAX_SEND_ROUNDS} rounds of"
            " sending: not finalized"
        )

    async def _publish_all(self, job: Job, names: tuple[str, ...]) -> None:
        by_name = {asset.name: (asset, record) for asset, record in job.pairs()}
        try:
            async with asyncio.TaskGroup() as group:
                for name in names:
                    group.create_task(self._publish(job, *by_name[name]))
        except BaseExceptionGroup as errors:
            raise most_severe(errors) from None

    async def _finish(self, job: Job, revision: str) -> None:
        spec = job.spec
        if spec.status is TargetStatus.UNFINISHED:
            self._outcomes.ended(job, VersionOutcome.UNFINISHED)
            log.info("version left unfinished", assets=len(spec.assets))
            return
        await self._finalizer.finalize(spec, revision, job.wanted())
        self._outcomes.ended(job, VersionOutcome.FINALIZED)
        log.info("version finalized", status=spec.status.value, assets=len(spec.assets))

    # --- one asset --------------------------------------------------------------------------

    async def _publish(self, job: Job, asset: Asset, record: AssetRecord) -> None:
        with structlog.contextvars.bound_contextvars(asset=asset.name):
            try:
                outcome = await self._remote.call(
                    Family.PUBLISH, lambda: self._publish_once(job, asset), self._uploads
                )
            except (Interrupted, asyncio.CancelledError):
                self._outcomes.asset_pending(record)
                raise
            except BaseException as error:
                message = str(error) if isinstance(error, UploaderError) else None
                await self._outcomes.asset_failed(job, record, message)
                raise
        await self._outcomes.published(job, record, outcome)

    async def _publish_once(self, job: Job, asset: Asset) -> AssetOutcome:
        """One attempt; it counts only when the reply names the asset with our SHA-256."""
        body, digest = await self._assets.body(asset, job.digests[asset.name])
        job.digests[asset.name] = digest  # a file that changed was hashed again
        self._outcomes.publish_attempted()
        try:
            reply = await self._remote.api.publish(
                job.spec.package_ref, job.spec.version, asset_name=asset.name, body=body,
                sha256=digest.sha256, size_bytes=digest.size_bytes,
            )  # fmt: skip
        except ConflictError:
            return await self._resolve_conflict(job, asset)
        except RejectedError as error:
            raise self._assets.refused(body, digest, error) from error
        finally:
            if not isinstance(body, bytes):
                body.close()  # publish closes what it read; this is for an early error
        if reply.confirms(asset.name, digest.sha256):
            return AssetOutcome.PUBLISHED
        if reply.asset_name == asset.name and reply.sha256:
            raise RejectedError(f"server stored SHA-256 {reply.sha256}, sent {digest.sha256}")
        # A reply that does not say what was stored: ask the service what it holds.
        found = await self._view.asset(job.spec, asset.name)
        if found is not None and found.sha256 == digest.sha256:
            return AssetOutcome.PUBLISHED
        raise RetryableRemoteError(
            f"the reply to publishing {asset.name} did not confirm it (it named"
            f" {reply.asset_name or 'no asset'!r}, SHA-256 {reply.sha256 or 'none'}),"
            " and the service does not hold it",
            code="UnconfirmedPublish",
        )

    async def _resolve_conflict(self, job: Job, asset: Asset) -> AssetOutcome:
        """A conflict may be our own earlier attempt whose reply was lost: look it up."""
        found = await self._view.asset(job.spec, asset.name)
        sha256 = job.digests[asset.name].sha256
        if found is not None and found.sha256 == sha256:
            log.info("asset already stored by an earlier attempt")
            return AssetOutcome.PRESENT
        if found is None:
            raise ConflictError(
                f"cannot add {asset.name}: version {job.spec.version} is no longer Unfinished"
                " on the server: a finished version takes no new assets; publish a new version"
            )
        raise ConflictError(different_content(asset.name, found.sha256, sha256))


def most_severe(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that decides a version's fate when several of its uploads failed."""
    flat: list[BaseException] = []
    pending = [errors]
    while pending:
        for error in pending.pop().exceptions:
            if isinstance(error, BaseExceptionGroup):
                pending.append(error)
            else:
                flat.append(error)
    for kind in (FatalRemoteError, JournalError, Interrupted, UploaderError):
        for error in flat:
            if isinstance(error, kind):
                return error
    return errors  # not ours: a bug, keep every traceback


def _checked(plan: Plan) -> Plan:
    """The plan, unless it is a conflict: then the version fails with its message."""
    if plan.conflict is not None:
        raise ConflictError(plan.conflict)
    return plan
