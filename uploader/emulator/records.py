"""The values the store hands out and the error it raises.

Package keys, digests, version and asset rows are plain frozen values, free of SQLite and
of HTTP: the store builds them from its rows and the HTTP layer turns them into the
service's JSON. A `StoreError` is a broken rule of the service, named by the service's
error type; the HTTP layer answers it in the service's error shape. A version that a
batch operation cannot change is not an error but a (code, message) entry of the reply's
failed versions: `status_problem` decides which.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

from uploader.domain import VersionStatus


@dataclass(frozen=True)
class PackageKey:
    """Where a package lives: domain, repository, format, namespace, package."""

    domain: str
    repository: str
    format: str
    namespace: str
    package: str

    def row(self) -> tuple[str, str, str, str, str]:
        return (self.domain, self.repository, self.format, self.namespace, self.package)


@dataclass(frozen=True)
class Digests:
    """The four hashes the service reports for an asset, and its size."""

    size_bytes: int
    sha256: str
    sha512: str
    sha1: str
    md5: str

    @classmethod
    def of(cls, data: bytes) -> Digests:
        """The digests of bytes held in memory."""
        return cls(
            len(data),
            hashlib.sha256(data).hexdigest(),
            hashlib.sha512(data).hexdigest(),
            hashlib.sha1(data).hexdigest(),
            hashlib.md5(data).hexdigest(),
        )

    def hashes(self) -> dict[str, str]:
        """The AssetHashes map as the service returns it."""
        return {"MD5": self.md5, "SHA-1": self.sha1, "SHA-256": self.sha256, "SHA-512": self.sha512}


ALLOW: Final = "ALLOW"
BLOCK: Final = "BLOCK"
RESTRICTION_VALUES: Final = (ALLOW, BLOCK)  # AllowPublish and AllowUpstream in the model


@dataclass(frozen=True)
class OriginRestrictions:
    """A package's origin controls: may versions be published directly, or come from
    upstreams and external connections."""

    publish: str
    upstream: str

    def to_json(self) -> dict[str, Any]:
        """The PackageOriginConfiguration member of the service's replies."""
        return {"restrictions": {"publish": self.publish, "upstream": self.upstream}}


# What AWS sets on a package whose first version is published directly ("Package origin
# control settings" in the user guide): publishing allowed, upstream versions blocked.
DEFAULT_RESTRICTIONS: Final = OriginRestrictions(ALLOW, BLOCK)


@dataclass(frozen=True)
class PackageRow:
    """A package of a repository and its origin restrictions."""

    format: str
    namespace: str
    package: str
    restrictions: OriginRestrictions

    def summary(self) -> dict[str, Any]:
        """The PackageSummary shape (ListPackages, DeletePackage)."""
        return {
            "format": self.format,
            "namespace": self.namespace,
            "package": self.package,
            "originConfiguration": self.restrictions.to_json(),
        }


@dataclass(frozen=True)
class VersionRow:
    version: str
    status: VersionStatus
    revision: str
    published_s: float


@dataclass(frozen=True)
class AssetRow:
    name: str
    digests: Digests


class StoreError(Exception):
    """A rule of the service was broken; `code` is the service's error type.

    Args:
        code: `ConflictException`, `ResourceNotFoundException`, ...
        message: the message the service would send.
        resource_type: `domain`, `repository`, `package`, `package-version` or `asset`.
        resource_id: the name of the resource concerned.
        reason: a ValidationException's reason (`ValidationExceptionReason` in the model).
    """

    def __init__(
        self, code: str, message: str, *, resource_type: str = "", resource_id: str = "",
        reason: str = "",
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.code = code
        self.message = message
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.reason = reason


def not_found(resource_type: str, name: str) -> StoreError:
    label = resource_type.replace("-", " ").capitalize()
    return StoreError(
        "ResourceNotFoundException",
        f"{label} {name} not found",
        resource_type=resource_type,
        resource_id=name,
    )


def version_not_unfinished(key: PackageKey, version: str, status: VersionStatus) -> StoreError:
    return StoreError(
        "ConflictException",
        f"Package version {key.namespace}/{key.package}@{version} is {status};"
        " assets can only be added to an Unfinished version",
        resource_type="package-version",
        resource_id=version,
    )


# Which status changes UpdatePackageVersionsStatus allows. AWS documents that Unfinished
# cannot be a target and that Disposed/Deleted versions cannot be restored; the rest
# (Published <-> Unlisted <-> Archived, Unfinished -> any allowed target) is allowed.
_FINAL_STATUSES = frozenset({VersionStatus.DISPOSED, VersionStatus.DELETED})


def status_problem(
    row: VersionRow | None,
    version: str,
    target: VersionStatus,
    expected: VersionStatus | None,
    revision: str | None,
) -> tuple[str, str] | None:
    if row is None:
        return ("NOT_FOUND", f"Package version {version} not found")
    if expected is not None and row.status is not expected:
        return mismatched_status(row.status, expected)
    if revision is not None and revision != row.revision:
        return ("MISMATCHED_REVISION", f"Expected revision {revision}, found {row.revision}")
    if row.status in _FINAL_STATUSES:
        return ("NOT_ALLOWED", f"Cannot change status from {row.status} to {target}")
    return None


def mismatched_status(actual: VersionStatus, expected: VersionStatus) -> tuple[str, str]:
    return ("MISMATCHED_STATUS", f"Expected status {expected}, found {actual}")
