"""The vocabulary: every status, state and outcome, and the names of what we upload.

One module, imported by the client, the pipeline, the journal, the report and the
emulator, so that no status is ever a bare string elsewhere:

    VersionStatus   a package version's status on the service (botocore's
                    PackageVersionStatus: Published, Unfinished, Unlisted, Archived,
                    Disposed, Deleted)
    TargetStatus    the status a manifest asks a version to end in (a subset)
    VersionState    a version's row in the journal; AssetState an asset's
    VersionOutcome  what a run did with a version, in the report; AssetOutcome an asset's
    Target          a repository of a domain; PackageRef a package in it

The values are the wire's and the files' spellings: the service's statuses as botocore
sends them, the journal's and report's as they are stored (changing one is a schema
change).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class VersionStatus(StrEnum):
    """A package version's status on the service."""

    PUBLISHED = "Published"
    UNFINISHED = "Unfinished"
    UNLISTED = "Unlisted"
    ARCHIVED = "Archived"
    DISPOSED = "Disposed"
    DELETED = "Deleted"

    @property
    def finished(self) -> bool:
        """A finished version takes no new assets: Published, Unlisted or Archived."""
        return self in _FINISHED

    @classmethod
    def parse(cls, text: object) -> VersionStatus | None:
        """The status a reply names, or None for a name the service never sends."""
        try:
            return cls(str(text))
        except ValueError:
            return None


_FINISHED = frozenset({VersionStatus.PUBLISHED, VersionStatus.UNLISTED, VersionStatus.ARCHIVED})


class TargetStatus(StrEnum):
    """The status a version is left in once all its assets are published."""

    PUBLISHED = "Published"
    UNLISTED = "Unlisted"
    UNFINISHED = "Unfinished"  # leave it as the publish left it

    @property
    def status(self) -> VersionStatus:
        """The same status, as the service names it."""
        return VersionStatus(self.value)


class VersionState(StrEnum):
    """A version's state in the journal."""

    PENDING = "pending"  # started, not finished
    FINALIZED = "finalized"
    UNFINISHED = "unfinished"  # complete, left Unfinished on purpose
    SKIPPED = "skipped"  # found complete on the server
    FAILED = "failed"

    @property
    def done(self) -> bool:
        """Whether the journal saw the version through to the end."""
        return self in (VersionState.FINALIZED, VersionState.UNFINISHED, VersionState.SKIPPED)


class AssetState(StrEnum):
    """An asset's state in the journal."""

    PENDING = "pending"
    PUBLISHED = "published"  # the service confirmed it (or already had these bytes)
    FAILED = "failed"


class AssetOutcome(StrEnum):
    """What happened to one asset, in the report."""

    PENDING = "pending"  # not sent (interrupted, or its version failed first)
    HASHED = "hashed"  # dry run: hashed, nothing sent
    PUBLISHED = "published"  # sent and confirmed by the server in this run
    PRESENT = "already_present"  # the server already had it with the same SHA-256
    FAILED = "failed"


class VersionOutcome(StrEnum):
    """What happened to one package version, in the report."""

    PENDING = "pending"  # not finished (interrupted)
    HASHED = "hashed"  # dry run
    FINALIZED = "finalized"  # every asset in, status set to the manifest's target
    UNFINISHED = "unfinished"  # every asset in, left Unfinished as the manifest asked
    SKIPPED = "skipped"  # already on the server, complete: nothing sent
    FAILED = "failed"
    INVALID = "invalid"  # the manifest entry is wrong; nothing was tried

    @property
    def journal_state(self) -> VersionState | None:
        """The journal's state for a version that ended so (None: the journal keeps the
        state it had: a pending version stays pending, a dry run writes nothing)."""
        return _JOURNAL_STATE.get(self)


_JOURNAL_STATE = {
    VersionOutcome.FINALIZED: VersionState.FINALIZED,
    VersionOutcome.UNFINISHED: VersionState.UNFINISHED,
    VersionOutcome.SKIPPED: VersionState.SKIPPED,
    VersionOutcome.FAILED: VersionState.FAILED,
}


class JobState(StrEnum):
    """Where a service job is (`uploader serve`)."""

    QUEUED = "queued"  # accepted, waiting for a free slot (--max-jobs)
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every version done
    FAILED = "failed"  # some versions failed, or the job could not start
    CANCELLED = "cancelled"  # a client cancelled it: drained, the rest left pending
    INTERRUPTED = "interrupted"  # the service stopped mid-job; it continues at the next start

    @property
    def finished(self) -> bool:
        """Whether the job will not run again."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class Target:
    """Where versions go: a repository of a domain, possibly owned by another account."""

    domain: str
    repository: str
    domain_owner: str | None = None

    def __str__(self) -> str:
        return f"{self.domain}/{self.repository}"


@dataclass(frozen=True)
class PackageRef:
    """A generic package of a repository: the namespace is part of its name."""

    target: Target
    namespace: str
    package: str

    def __str__(self) -> str:
        return f"{self.target}/{self.namespace}/{self.package}"


@dataclass(frozen=True)
class RemoteAsset:
    """An asset as ListPackageVersionAssets reports it."""

    name: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class RemoteVersion:
    """A package version's status and assets on the server, at one revision."""

    status: VersionStatus
    revision: str
    assets: dict[str, RemoteAsset]


@dataclass(frozen=True)
class AssetListing:
    """A version's assets as ListPackageVersionAssets gives them, with the revision they
    belong to (a finalization naming this revision applies only to exactly these assets)."""

    revision: str
    assets: dict[str, RemoteAsset]


@dataclass(frozen=True)
class PublishReply:
    """What a PublishPackageVersion reply says was stored ("" where the reply is silent)."""

    asset_name: str
    sha256: str
    revision: str

    def confirms(self, asset_name: str, sha256: str) -> bool:
        """Whether the reply names this asset with this SHA-256: nothing less is a success."""
        return self.asset_name == asset_name and self.sha256 == sha256
