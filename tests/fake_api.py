"""An in-memory CodeArtifact behind `uploader.api.CodeArtifactAPI`, for fast tests of decisions.

In the spirit of httpx's `MockTransport`: a real object with state, not a mock. It holds
domains, repositories, packages, versions (status, revision) and assets (their bytes,
SHA-256 and size), and refuses what the service refuses, with the errors
`codeartifact.CodeArtifact` translates the service's refusals to:

    a missing domain/repository   FatalRemoteError (ResourceNotFoundException)
    publish                       the body's SHA-256 must be the one claimed
                                  (RejectedError, ValidationException); only a new or
                                  Unfinished version takes assets (ConflictError); a name
                                  held with other bytes is a ConflictError (the same bytes
                                  are accepted, as a retry whose reply was lost, unless
                                  `republish_conflicts`); at most 150 assets a version
    list_assets                   RejectedError (ResourceNotFoundException) for no version
    update_status                 per version, in failedVersions: NOT_FOUND,
                                  MISMATCHED_STATUS (it must be Unfinished),
                                  MISMATCHED_REVISION (a revision given that moved on);
                                  more than 100 versions a call is a ValidationException
    every change of a version     a new revision (`rev-1`, `rev-2`, ...: deterministic)

Knobs, each deterministic (counted in calls, never timed):

    lose_reply(n, ...)         the n-th publish stores its asset, then its caller gets a
                               transient error (the reply was lost on the way back)
    conflict_publish(n)        the n-th publish is a ConflictError; nothing is stored
    conflict_publish(n, held=b)  just before the n-th publish, another tool stores `b`
                               under its asset name: other bytes make it a conflict, by
                               the service's own rule (the same bytes are accepted)
    fail_versions({v: code})   the next update_status naming version v lists it in
                               failedVersions with that code; nothing changes for v
    throttle(n)                the next n calls (of one operation, or any) are throttled
    another_hand(v, status)    just before the next update_status naming v is applied,
                               another tool sets v to `status` (a new revision)

Publishes are numbered from 1 in the order they are called, throttled ones included.
Every call is recorded in `calls` (operation names, in order); `count` counts them; every
publish in `sent` as (version, asset name).

    fake = FakeCodeArtifact()
    fake.add_repository("demo", "repo")
    fake.lose_reply(1)
    ... run the Pipeline over Remote(fake, ...) ...
    assert fake.count("publish") == 2 and fake.held(ref, "1.0") == {"a.bin": sha256}
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Final

from uploader import constants as c
from uploader.domain import (
    AssetListing,
    PackageRef,
    PublishReply,
    RemoteAsset,
    RemoteVersion,
    Target,
    VersionStatus,
)
from uploader.errors import (
    ConflictError,
    FatalRemoteError,
    RejectedError,
    RetryableRemoteError,
    ThrottledError,
)

if TYPE_CHECKING:
    from uploader.api import CodeArtifactAPI

NOT_FOUND: Final = "ResourceNotFoundException"
OPERATIONS: Final = (
    "describe_repository",
    "create_repository",
    "publish",
    "describe_version",
    "list_assets",
    "list_versions",
    "update_status",
)

_PackageKey = tuple[str, str, str, str]  # domain, repository, namespace, package


@dataclass(frozen=True)
class FakeAsset:
    """One stored asset: its bytes and what the service says of them."""

    name: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def size_bytes(self) -> int:
        return len(self.content)

    def remote(self) -> RemoteAsset:
        """The asset as ListPackageVersionAssets reports it."""
        return RemoteAsset(self.name, self.size_bytes, self.sha256)


@dataclass
class FakeVersion:
    """One package version: its status, its revision and its assets."""

    status: VersionStatus
    revision: str
    assets: dict[str, FakeAsset] = field(default_factory=dict)


@dataclass
class _Throttle:
    calls: int
    operation: str | None
    retry_after_s: float | None


class FakeCodeArtifact:
    """CodeArtifact in memory: one account, every domain owned by it.

    Args:
        republish_conflicts: a second publish of an asset name is a ConflictError even
            with the same bytes (as the emulator's option: AWS documents neither case).
    """

    def __init__(self, *, republish_conflicts: bool = False) -> None:
        self.republish_conflicts = republish_conflicts
        self.domains: set[str] = set()
        self.repositories: set[tuple[str, str]] = set()
        self.packages: dict[_PackageKey, dict[str, FakeVersion]] = {}
        self.calls: list[str] = []
        self.sent: list[tuple[str, str]] = []
        self._revisions = 0
        self._publishes = 0
        self._lose: set[int] = set()
        self._conflicts: dict[int, bytes | None] = {}
        self._failing: dict[str, tuple[str, str]] = {}
        self._other_hands: dict[str, VersionStatus] = {}
        self._throttles: list[_Throttle] = []

    def __repr__(self) -> str:
        versions = sum(len(v) for v in self.packages.values())
        assets = sum(len(v.assets) for vs in self.packages.values() for v in vs.values())
        return f"<FakeCodeArtifact versions={versions} assets={assets} calls={len(self.calls)}>"

    # --- set-up and inspection (not part of the API) -------------------------------------------

    def add_repository(self, domain: str, repository: str) -> Target:
        """Create a domain and a repository in it; returns them as a Target."""
        self.domains.add(domain)
        self.repositories.add((domain, repository))
        return Target(domain, repository)

    def put_version(
        self,
        package: PackageRef,
        version: str,
        status: VersionStatus,
        assets: Mapping[str, bytes],
    ) -> FakeVersion:
        """Store a version as another tool left it (its repository must exist)."""
        self._require_repository(package.target)
        stored = FakeVersion(status, self._new_revision(), {
            name: FakeAsset(name, content) for name, content in assets.items()
        })  # fmt: skip
        self.packages.setdefault(_key(package), {})[version] = stored
        return stored

    def version(self, package: PackageRef, version: str) -> FakeVersion | None:
        """The version as stored, or None."""
        return self.packages.get(_key(package), {}).get(version)

    def held(self, package: PackageRef, version: str) -> dict[str, str]:
        """Asset name -> SHA-256 of what the version holds ({} if there is no version)."""
        stored = self.version(package, version)
        return {} if stored is None else {n: a.sha256 for n, a in stored.assets.items()}

    def status(self, package: PackageRef, version: str) -> VersionStatus | None:
        """The version's status, or None if there is no such version."""
        stored = self.version(package, version)
        return None if stored is None else stored.status

    def count(self, operation: str) -> int:
        """How many calls of `operation` were made (throttled ones included)."""
        if operation not in OPERATIONS:
            raise ValueError(f"no such operation: {operation!r}")
        return self.calls.count(operation)

    # --- knobs ---------------------------------------------------------------------------------

    def lose_reply(self, *publishes: int) -> None:
        """These publishes (numbered from 1) store their asset, then fail as transient."""
        self._lose.update(publishes)

    def conflict_publish(self, *publishes: int, held: bytes | None = None) -> None:
        """These publishes (numbered from 1) conflict.

        Args:
            held: None: the publish is refused as a conflict and nothing is stored. Bytes:
                another tool stores them under the asset's name just before the publish
                is applied, which the service's rules then judge (other bytes conflict).
        """
        self._conflicts.update(dict.fromkeys(publishes, held))

    def fail_versions(
        self, codes: Mapping[str, str], *, message: str = "refused by the test"
    ) -> None:
        """The next update_status naming each version (version -> errorCode) lists it in
        failedVersions with that code, and leaves it as it was."""
        self._failing.update({version: (code, message) for version, code in codes.items()})

    def throttle(
        self, calls: int, *, operation: str | None = None, retry_after_s: float | None = None
    ) -> None:
        """The next `calls` calls (of `operation` only, if given) are throttled."""
        if operation is not None and operation not in OPERATIONS:
            raise ValueError(f"no such operation: {operation!r}")
        self._throttles.append(_Throttle(calls, operation, retry_after_s))

    def another_hand(self, version: str, status: VersionStatus = VersionStatus.PUBLISHED) -> None:
        """Before the next update_status naming `version` is applied, another tool sets it
        to `status` (as between our last listing and our finalization)."""
        self._other_hands[version] = status

    # --- the API -------------------------------------------------------------------------------

    async def describe_repository(self, target: Target) -> None:
        """FatalRemoteError unless the domain and repository exist."""
        await self._enter("describe_repository")
        self._require_repository(target)

    async def create_repository(self, target: Target) -> None:
        """Create the domain and repository, keeping the ones that exist."""
        await self._enter("create_repository")
        self.add_repository(target.domain, target.repository)

    async def publish(
        self,
        package: PackageRef,
        version: str,
        *,
        asset_name: str,
        body: bytes | BinaryIO,
        sha256: str,
        size_bytes: int,
    ) -> PublishReply:
        """Add one asset to a new or Unfinished version, which stays Unfinished."""
        try:
            self._publishes += 1
            number = self._publishes
            self.sent.append((version, asset_name))
            await self._enter("publish")
            content = body if isinstance(body, bytes) else body.read()
        finally:
            if not isinstance(body, bytes):
                body.close()
        self._require_repository(package.target)
        if number in self._conflicts:
            held = self._conflicts.pop(number)
            if held is None:
                raise ConflictError(
                    f"ConflictException: publish {number} refused by the test",
                    code="ConflictException",
                )
            self._store(package, version, asset_name, held, hashlib.sha256(held).hexdigest())
        stored = self._store(package, version, asset_name, content, sha256)
        if number in self._lose:
            raise RetryableRemoteError(
                f"publish {number}: the connection closed before the reply", code="LostReply"
            )
        return PublishReply(asset_name, sha256, stored.revision)

    async def describe_version(self, package: PackageRef, version: str) -> RemoteVersion | None:
        """The version's status and assets, or None."""
        await self._enter("describe_version")
        self._require_repository(package.target)
        stored = self.version(package, version)
        if stored is None:
            return None
        return RemoteVersion(stored.status, stored.revision, _listed(stored))

    async def list_assets(self, package: PackageRef, version: str) -> AssetListing:
        """The version's assets and revision; RejectedError if there is no such version."""
        await self._enter("list_assets")
        self._require_repository(package.target)
        stored = self.version(package, version)
        if stored is None:
            raise RejectedError(
                f"{NOT_FOUND}: package version {version} not found", code=NOT_FOUND, status=404
            )
        return AssetListing(stored.revision, _listed(stored))

    async def list_versions(
        self, package: PackageRef, *, limit: int
    ) -> dict[str, VersionStatus | None] | None:
        """version -> status ({} if no such package); None above `limit` versions."""
        await self._enter("list_versions")
        self._require_repository(package.target)
        versions = self.packages.get(_key(package), {})
        if len(versions) > limit:
            return None
        return {name: stored.status for name, stored in versions.items()}

    async def update_status(
        self, package: PackageRef, versions: dict[str, str], target_status: VersionStatus
    ) -> tuple[set[str], dict[str, tuple[str, str]]]:
        """Move Unfinished versions (at the revision given, unless "") to `target_status`."""
        await self._enter("update_status")
        self._require_repository(package.target)
        if len(versions) > c.MAX_VERSIONS_PER_STATUS_UPDATE:
            raise RejectedError(
                f"ValidationException: at most {c.MAX_VERSIONS_PER_STATUS_UPDATE} versions",
                code="ValidationException",
                status=400,
            )
        done: set[str] = set()
        failed: dict[str, tuple[str, str]] = {}
        for version, revision in versions.items():
            problem = self._update_one(package, version, revision, target_status)
            if problem is None:
                done.add(version)
            else:
                failed[version] = problem
        return done, failed

    # --- the service's rules -------------------------------------------------------------------

    async def _enter(self, operation: str) -> None:
        """Record the call, throttle it if a knob says so, and let other tasks run once
        (a request is never instantaneous: callers interleave as they would over HTTP)."""
        self.calls.append(operation)
        await asyncio.sleep(0)
        for throttle in self._throttles:
            if throttle.calls > 0 and throttle.operation in (None, operation):
                throttle.calls -= 1
                raise ThrottledError(
                    f"ThrottlingException: {operation} throttled by the test",
                    retry_after_s=throttle.retry_after_s,
                )

    def _require_repository(self, target: Target) -> None:
        if target.domain not in self.domains:
            raise FatalRemoteError(
                f"{NOT_FOUND}: domain {target.domain} not found", code=NOT_FOUND, status=404
            )
        if (target.domain, target.repository) not in self.repositories:
            raise FatalRemoteError(
                f"{NOT_FOUND}: repository {target.repository} not found",
                code=NOT_FOUND,
                status=404,
            )

    def _store(
        self, package: PackageRef, version: str, name: str, content: bytes, sha256: str
    ) -> FakeVersion:
        """Add an asset as the service does; the version's new state."""
        actual = hashlib.sha256(content).hexdigest()
        if actual != sha256:
            raise RejectedError(
                "ValidationException: the provided content hashes do not match the content"
                f" of the asset: computed SHA-256 {actual}, header {sha256}",
                code="ValidationException",
                status=400,
            )
        versions = self.packages.setdefault(_key(package), {})
        stored = versions.get(version)
        if stored is not None and stored.status is not VersionStatus.UNFINISHED:
            raise ConflictError(
                f"ConflictException: package version {version} is {stored.status}; assets"
                " can only be added to an Unfinished version",
                code="ConflictException",
                status=409,
            )
        stored = stored or FakeVersion(VersionStatus.UNFINISHED, "")
        existing = stored.assets.get(name)
        if existing is not None and (self.republish_conflicts or existing.sha256 != sha256):
            raise ConflictError(
                f"ConflictException: asset {name} already exists", code="ConflictException"
            )
        if existing is None and len(stored.assets) >= c.MAX_ASSETS_PER_VERSION:
            raise RejectedError(
                f"ServiceQuotaExceededException: at most {c.MAX_ASSETS_PER_VERSION} assets",
                code="ServiceQuotaExceededException",
                status=402,
            )
        stored.assets[name] = FakeAsset(name, content)
        stored.revision = self._new_revision()
        versions[version] = stored
        return stored

    def _update_one(
        self, package: PackageRef, version: str, revision: str, target: VersionStatus
    ) -> tuple[str, str] | None:
        """One version of an update_status call: None if moved, else (code, message)."""
        stored = self.version(package, version)
        other = self._other_hands.pop(version, None)
        if stored is not None and other is not None:
            stored.status = other
            stored.revision = self._new_revision()
        if version in self._failing:
            return self._failing.pop(version)
        if stored is None:
            return ("NOT_FOUND", f"package version {version} not found")
        if stored.status is not VersionStatus.UNFINISHED:
            return ("MISMATCHED_STATUS", f"expected status Unfinished, found {stored.status}")
        if revision and revision != stored.revision:
            return ("MISMATCHED_REVISION", f"expected revision {revision}, found {stored.revision}")
        stored.status = target
        stored.revision = self._new_revision()
        return None

    def _new_revision(self) -> str:
        self._revisions += 1
        return f"rev-{self._revisions}"


def _key(package: PackageRef) -> _PackageKey:
    target = package.target
    return (target.domain, target.repository, package.namespace, package.package)


def _listed(stored: FakeVersion) -> dict[str, RemoteAsset]:
    return {name: asset.remote() for name, asset in stored.assets.items()}


if TYPE_CHECKING:
    _: CodeArtifactAPI = FakeCodeArtifact()  # mypy proves the fake has the Protocol's shape
