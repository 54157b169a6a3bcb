"""The CodeArtifact operations the pipeline, the finalizer and `verify` use, as a Protocol.

Two implementations: `codeartifact.CodeArtifact` (aioboto3 over HTTP; every call one
deadline-bounded attempt, its errors translated to `uploader.errors`) and
`tests/fake_api.FakeCodeArtifact` (in memory, for unit tests of the decisions). Retrying
and rate limiting are `Remote`'s, around either.

Every method raises the errors of `uploader.errors`: `RejectedError` with code
`ResourceNotFoundException` where the service has no such thing (unless the method says it
returns None), `ConflictError`, `RetryableRemoteError`, `FatalRemoteError`.

`Operation` names the requests those methods make, as CodeArtifact names them; the two
observer Protocols are how a watcher (`metrics.Metrics`) hears of each request and retry
without the client or `Remote` knowing what it does with them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import BinaryIO, Protocol

from uploader.domain import (
    AssetListing,
    PackageRef,
    PublishReply,
    RemoteVersion,
    Target,
    VersionStatus,
)
from uploader.errors import RemoteError, RetryableRemoteError


class Operation(StrEnum):
    """A CodeArtifact operation we call, by its API name (botocore's model holds each)."""

    CREATE_DOMAIN = "CreateDomain"
    CREATE_REPOSITORY = "CreateRepository"
    DESCRIBE_REPOSITORY = "DescribeRepository"
    DESCRIBE_PACKAGE_VERSION = "DescribePackageVersion"
    LIST_PACKAGE_VERSIONS = "ListPackageVersions"
    LIST_PACKAGE_VERSION_ASSETS = "ListPackageVersionAssets"
    PUBLISH_PACKAGE_VERSION = "PublishPackageVersion"
    UPDATE_PACKAGE_VERSIONS_STATUS = "UpdatePackageVersionsStatus"


class RequestObserver(Protocol):
    """Hears of every request the client made (one attempt each), as it ends."""

    def request_ended(
        self, operation: Operation, duration_s: float, error: RemoteError | None
    ) -> None:
        """`operation` took `duration_s`, and failed with `error` (None: it succeeded)."""


class RetryObserver(Protocol):
    """Hears of every failed attempt that `Remote` is about to try again."""

    def retrying(self, error: RetryableRemoteError) -> None:
        """`error` ended an attempt; another one follows after the back-off."""


class CodeArtifactAPI(Protocol):
    """One request per call; no retries."""

    async def describe_repository(self, target: Target) -> None:
        """Return if the domain and repository exist and may be used; FatalRemoteError if not."""

    async def create_repository(self, target: Target) -> None:
        """Create the domain and repository, keeping the ones that exist."""

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
        """Add one asset to a version, leaving it Unfinished (creating it if need be).

        A file `body` is closed by the call. A ConflictError if the version is finished or
        holds the asset already (with other bytes, or, depending on the service, the same).
        """

    async def describe_version(self, package: PackageRef, version: str) -> RemoteVersion | None:
        """The version's status and assets, or None if there is no such version."""

    async def list_assets(self, package: PackageRef, version: str) -> AssetListing:
        """The version's assets and revision; RejectedError (ResourceNotFoundException) if
        there is no such version."""

    async def list_versions(
        self, package: PackageRef, *, limit: int
    ) -> dict[str, VersionStatus | None] | None:
        """version -> status of every version ({} if no such package; a status the service
        does not document is None); None when there are more than `limit`."""

    async def update_status(
        self, package: PackageRef, versions: dict[str, str], target_status: VersionStatus
    ) -> tuple[set[str], dict[str, tuple[str, str]]]:
        """Move Unfinished versions (version -> revision checked, or "") to `target_status`:
        (succeeded, failed version -> (errorCode, errorMessage))."""
