"""The emulator's persistent state: SQLite for metadata, content-addressed files for bytes.

All methods are synchronous and meant to run on one dedicated thread (the server owns a
single-thread executor), so every method is one transaction and no two interleave: the
check-then-write rules of the service (status transitions, asset conflicts) hold without
further locking.

Asset bytes are kept by `Blobs` (see `blobs`), in this store's transactions: the blob is
in place before the metadata naming it commits. Nothing is fsync'ed (SQLite runs with
`synchronous=OFF`): the store survives the process being killed, not an OS crash or a
power cut, which a test service does not need to.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from uploader import constants as c
from uploader.domain import VersionStatus
from uploader.emulator.blobs import Blobs
from uploader.emulator.records import (
    AssetRow,
    Digests,
    PackageKey,
    StoreError,
    VersionRow,
    mismatched_status,
    not_found,
    status_problem,
    version_not_unfinished,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS domains (
    name TEXT PRIMARY KEY, owner TEXT NOT NULL, created_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS repositories (
    domain TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL, created_s REAL NOT NULL,
    PRIMARY KEY (domain, name)
);
CREATE TABLE IF NOT EXISTS versions (
    domain TEXT NOT NULL, repository TEXT NOT NULL, format TEXT NOT NULL,
    namespace TEXT NOT NULL, package TEXT NOT NULL, version TEXT NOT NULL,
    status TEXT NOT NULL, revision TEXT NOT NULL, published_s REAL NOT NULL,
    PRIMARY KEY (domain, repository, format, namespace, package, version)
);
CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS assets (
    domain TEXT NOT NULL, repository TEXT NOT NULL, format TEXT NOT NULL,
    namespace TEXT NOT NULL, package TEXT NOT NULL, version TEXT NOT NULL,
    name TEXT NOT NULL, size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL, sha512 TEXT NOT NULL, sha1 TEXT NOT NULL, md5 TEXT NOT NULL,
    PRIMARY KEY (domain, repository, format, namespace, package, version, name)
);
"""

# DomainStatus from the model (Active or Deleted): a domain the emulator holds is Active.
DOMAIN_STATUS = "Active"


# Which versions a publish may go to: any asset to an Unfinished version; an asset sent again
# with identical content also to a Published one (AWS documents the idempotent republish,
# not which statuses allow it; Unlisted, Archived and Disposed versions refuse it here).
_TAKES_NEW_ASSETS = frozenset({VersionStatus.UNFINISHED})
_TAKES_REPUBLISHED_ASSETS = frozenset({VersionStatus.UNFINISHED, VersionStatus.PUBLISHED})


def _status(unfinished: bool) -> VersionStatus:
    """The status a publish leaves a version in."""
    return VersionStatus.UNFINISHED if unfinished else VersionStatus.PUBLISHED


def _new_revision() -> str:
    # The service's revisions are opaque strings that change on every modification.
    return secrets.token_urlsafe(24)


class Store:
    """The emulator's domains, repositories, package versions and assets.

    Args:
        data_dir: where `emulator.sqlite3`, `blobs/` and `tmp/` live; created if missing.
        account_id: the owner of every domain (the emulator serves one account).
        clock: seconds since the epoch, for created and published times.
        republish_conflicts: a second publish of an asset name is a ConflictException even
            with the same SHA-256 (by default identical bytes are accepted, as on AWS).
        max_assets_per_version: a version's assets beyond it are a
            ServiceQuotaExceededException.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        account_id: str = c.DEFAULT_ACCOUNT_ID,
        region: str = c.DEFAULT_REGION,
        clock: Any = time.time,
        republish_conflicts: bool = False,
        max_assets_per_version: int = c.MAX_ASSETS_PER_VERSION,
    ) -> None:
        self.data_dir = data_dir
        self.republish_conflicts = republish_conflicts
        self.max_assets_per_version = max_assets_per_version
        self.account_id = account_id
        self.region = region
        self._clock = clock
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(data_dir / "emulator.sqlite3", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # OFF: SQLite hands its writes to the OS and never waits for the disk, not even at
        # checkpoints. That survives the process being killed (the OS has the data), not
        # an OS crash or a power cut, which a test service need not: as for blobs (above).
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(SCHEMA)
        self.blobs = Blobs(self._db, data_dir)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            yield self._db

    # --- domains and repositories ---------------------------------------------------------

    def create_domain(self, domain: str) -> dict[str, Any]:
        with self._tx() as db:
            if self._domain_row(domain) is not None:
                raise StoreError(
                    "ConflictException",
                    f"Domain {domain} already exists",
                    resource_type="domain",
                    resource_id=domain,
                )
            db.execute(
                "INSERT INTO domains VALUES (?, ?, ?)", (domain, self.account_id, self._clock())
            )
        return self.describe_domain(domain)

    def describe_domain(self, domain: str) -> dict[str, Any]:
        row = self._domain_row(domain)
        if row is None:
            raise not_found("domain", domain)
        repositories, size = self._db.execute(
            "SELECT (SELECT COUNT(*) FROM repositories WHERE domain = ?),"
            " (SELECT COALESCE(SUM(size_bytes), 0) FROM assets WHERE domain = ?)",
            (domain, domain),
        ).fetchone()
        arn = f"arn:aws:codeartifact:{self.region}:{row[1]}:domain/{domain}"
        return {
            "name": domain,
            "owner": row[1],
            "arn": arn,
            "status": DOMAIN_STATUS,
            "createdTime": row[2],
            "encryptionKey": f"arn:aws:kms:{self.region}:{row[1]}:alias/aws/codeartifact",
            "repositoryCount": repositories,
            "assetSizeBytes": size,
            "s3BucketArn": f"arn:aws:s3:::assets-{row[1]}-{self.region}",
        }

    def create_repository(self, domain: str, repository: str, description: str) -> dict[str, Any]:
        with self._tx() as db:
            self._require_domain(domain)
            if self._repository_row(domain, repository) is not None:
                raise StoreError(
                    "ConflictException",
                    f"Repository {repository} already exists in domain {domain}",
                    resource_type="repository",
                    resource_id=repository,
                )
            db.execute(
                "INSERT INTO repositories VALUES (?, ?, ?, ?)",
                (domain, repository, description, self._clock()),
            )
        return self.describe_repository(domain, repository)

    def describe_repository(self, domain: str, repository: str) -> dict[str, Any]:
        self._require_domain(domain)
        row = self._repository_row(domain, repository)
        if row is None:
            raise not_found("repository", repository)
        return {
            "name": repository,
            "administratorAccount": self.account_id,
            "domainName": domain,
            "domainOwner": self.account_id,
            "arn": f"arn:aws:codeartifact:{self.region}:{self.account_id}:repository/"
            f"{domain}/{repository}",
            "description": row[0],
            "upstreams": [],
            "externalConnections": [],
            "createdTime": row[1],
        }

    def require_repository(self, domain: str, repository: str) -> None:
        """Raise ResourceNotFoundException unless the domain and repository exist."""
        self._require_domain(domain)
        if self._repository_row(domain, repository) is None:
            raise not_found("repository", repository)

    def _domain_row(self, domain: str) -> tuple[str, str, float] | None:
        row: tuple[str, str, float] | None = self._db.execute(
            "SELECT name, owner, created_s FROM domains WHERE name = ?", (domain,)
        ).fetchone()
        return row

    def _repository_row(self, domain: str, repository: str) -> tuple[str, float] | None:
        row: tuple[str, float] | None = self._db.execute(
            "SELECT description, created_s FROM repositories WHERE domain = ? AND name = ?",
            (domain, repository),
        ).fetchone()
        return row

    def _require_domain(self, domain: str) -> None:
        if self._domain_row(domain) is None:
            raise not_found("domain", domain)

    # --- publishing -------------------------------------------------------------------------

    def check_publish(self, key: PackageKey, version: str, asset: str, sha256: str) -> None:
        """Fail early, before the body is read, when a publish cannot succeed.

        `sha256` is the header's: the body has yet to be read, but only a body with that
        SHA-256 can be stored.
        """
        self.require_repository(key.domain, key.repository)
        row = self._version_row(key, version)
        existing = self._accepting(key, version, row, asset)
        if existing is not None:
            self._check_same_content(existing, sha256, asset)

    def _accepting(
        self, key: PackageKey, version: str, row: VersionRow | None, asset: str
    ) -> AssetRow | None:
        """The asset already stored under this name, if any, once the version is known to
        take the publish: an Unfinished version takes any, a Published one only an asset
        it holds (to be sent again identically), others none."""
        existing = self._asset_row(key, version, asset) if row is not None else None
        accepting = _TAKES_NEW_ASSETS if existing is None else _TAKES_REPUBLISHED_ASSETS
        if row is not None and row.status not in accepting:
            raise version_not_unfinished(key, version, row.status)
        return existing

    def publish_asset(
        self,
        key: PackageKey,
        version: str,
        asset: str,
        blob: Path | bytes,
        digests: Digests,
        *,
        unfinished: bool,
        verify: Callable[[], None] | None = None,
    ) -> tuple[VersionRow, AssetRow]:
        """Add one asset to a version.

        `blob` is a temporary file this call moves or removes, or the bytes themselves (a
        small body, written only if the store does not hold them yet). The blob is in
        place before the transaction commits, so the metadata never names bytes that are
        not there. `verify` checks the bytes (their SHA-256), after the version is known
        to accept an asset and before anything is written; None if the caller did.
        """
        placed = False
        with self._tx():
            self.require_repository(key.domain, key.repository)
            row = self._version_row(key, version)
            existing = self._accepting(key, version, row, asset)
            if verify is not None:
                verify()
            if existing is not None:
                self._check_same_content(existing, digests.sha256, asset)
                new_row = self._republished(key, version, row, unfinished=unfinished)
            else:
                self._check_asset_count(key, version, self.max_assets_per_version)
                placed = self._insert_asset(key, version, asset, blob, digests)
                new_row = self._upsert_version(key, version, row, _status(unfinished))
        if isinstance(blob, Path) and not placed:
            blob.unlink(missing_ok=True)
        return new_row, AssetRow(asset, digests)

    def _insert_asset(
        self, key: PackageKey, version: str, asset: str, blob: Path | bytes, digests: Digests
    ) -> bool:
        """Store the bytes and the asset's row; True if `blob` was moved into place."""
        placed = self.blobs.put(blob, digests.sha256)
        self._db.execute(
            "INSERT INTO assets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*key.row(), version, asset, digests.size_bytes, digests.sha256,
             digests.sha512, digests.sha1, digests.md5),
        )  # fmt: skip
        return placed

    def _republished(
        self, key: PackageKey, version: str, row: VersionRow | None, *, unfinished: bool
    ) -> VersionRow:
        """An identical asset sent again: nothing is added. An Unfinished version takes the
        publish's status as any publish sets it; a finished one is left as it is (a
        Published version never returns to Unfinished)."""
        assert row is not None  # an asset exists only in a version
        if row.status is VersionStatus.UNFINISHED:
            return self._upsert_version(key, version, row, _status(unfinished))
        return row

    def _check_same_content(self, existing: AssetRow, sha256: str, asset: str) -> None:
        """Refuse a second publish of an asset name unless it is idempotent.

        AWS's user guide ("Overwriting package assets") says an asset can be published
        again only with identical content (same checksums), and that other content under
        the same name is an HTTP 409 conflict (the version statuses that allow it are
        `_TAKES_REPUBLISHED_ASSETS`). With `republish_conflicts` every second publish of a
        name is a ConflictException: stricter than AWS, for clients that must never rely
        on the idempotent case.
        """
        if self.republish_conflicts or existing.digests.sha256 != sha256:
            same = existing.digests.sha256 == sha256
            what = "already exists" if same else "already exists with a different SHA-256"
            raise StoreError(
                "ConflictException", f"Asset {asset} {what}",
                resource_type="asset", resource_id=asset,
            )  # fmt: skip

    def _check_asset_count(self, key: PackageKey, version: str, max_assets: int) -> None:
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM assets WHERE domain = ? AND repository = ? AND format = ?"
            " AND namespace = ? AND package = ? AND version = ?",
            (*key.row(), version),
        ).fetchone()
        if count >= max_assets:
            raise StoreError(
                "ServiceQuotaExceededException",
                f"A package version can have at most {max_assets} assets",
                resource_type="package-version",
                resource_id=version,
            )

    def _upsert_version(
        self, key: PackageKey, version: str, row: VersionRow | None, status: VersionStatus
    ) -> VersionRow:
        revision = _new_revision()
        now = self._clock() if row is None else row.published_s
        self._db.execute(
            "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO UPDATE SET status = excluded.status, revision = excluded.revision",
            (*key.row(), version, status.value, revision, now),
        )
        return VersionRow(version, status, revision, now)

    # --- versions -----------------------------------------------------------------------------

    def _version_row(self, key: PackageKey, version: str) -> VersionRow | None:
        row = self._db.execute(
            "SELECT version, status, revision, published_s FROM versions WHERE domain = ?"
            " AND repository = ? AND format = ? AND namespace = ? AND package = ? AND version = ?",
            (*key.row(), version),
        ).fetchone()
        return None if row is None else VersionRow(row[0], VersionStatus(row[1]), row[2], row[3])

    def _asset_row(self, key: PackageKey, version: str, asset: str) -> AssetRow | None:
        rows = self._asset_rows(key, version, " AND name = ?", (asset,))
        return rows[0] if rows else None

    def _asset_rows(
        self, key: PackageKey, version: str, extra: str = "", params: tuple[Any, ...] = ()
    ) -> list[AssetRow]:
        cursor = self._db.execute(
            "SELECT name, size_bytes, sha256, sha512, sha1, md5 FROM assets WHERE domain = ?"
            " AND repository = ? AND format = ? AND namespace = ? AND package = ? AND version = ?"
            f"{extra} ORDER BY name",
            (*key.row(), version, *params),
        )
        return [AssetRow(r[0], Digests(*r[1:])) for r in cursor]

    def describe_version(self, key: PackageKey, version: str) -> VersionRow:
        self.require_repository(key.domain, key.repository)
        row = self._version_row(key, version)
        if row is None:
            raise not_found("package-version", version)
        return row

    def list_assets(self, key: PackageKey, version: str) -> tuple[VersionRow, list[AssetRow]]:
        row = self.describe_version(key, version)
        return row, self._asset_rows(key, version)

    def get_asset(self, key: PackageKey, version: str, asset: str) -> tuple[VersionRow, AssetRow]:
        row = self.describe_version(key, version)
        found = self._asset_row(key, version, asset)
        if found is None:
            raise not_found("asset", asset)
        return row, found

    def list_versions(self, key: PackageKey) -> list[VersionRow]:
        self.require_repository(key.domain, key.repository)
        rows = self._db.execute(
            "SELECT version, status, revision, published_s FROM versions WHERE domain = ?"
            " AND repository = ? AND format = ? AND namespace = ? AND package = ?"
            " ORDER BY version",
            key.row(),
        ).fetchall()
        if not rows:
            raise not_found("package", key.package)
        return [VersionRow(r[0], VersionStatus(r[1]), r[2], r[3]) for r in rows]

    def list_packages(self, domain: str, repository: str) -> list[tuple[str, str, str]]:
        """(format, namespace, package) of every package in a repository, sorted."""
        self.require_repository(domain, repository)
        rows = self._db.execute(
            "SELECT DISTINCT format, namespace, package FROM versions"
            " WHERE domain = ? AND repository = ? ORDER BY format, namespace, package",
            (domain, repository),
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def update_status(
        self,
        key: PackageKey,
        versions: list[str],
        *,
        target: VersionStatus,
        expected: VersionStatus | None,
        revisions: dict[str, str],
    ) -> tuple[dict[str, VersionRow], dict[str, tuple[str, str]]]:
        """Move versions to `target`; returns (successful, failed as (code, message))."""
        done: dict[str, VersionRow] = {}
        failed: dict[str, tuple[str, str]] = {}
        with self._tx():
            self.require_repository(key.domain, key.repository)
            for version in versions:
                row = self._version_row(key, version)
                problem = status_problem(row, version, target, expected, revisions.get(version))
                if problem is not None:
                    failed[version] = problem
                    continue
                assert row is not None
                done[version] = self._upsert_version(key, version, row, target)
        return done, failed

    def delete_versions(
        self, key: PackageKey, versions: list[str], *, expected: VersionStatus | None
    ) -> tuple[dict[str, VersionRow], dict[str, tuple[str, str]]]:
        """Delete versions and their assets; bytes no other asset uses are removed."""
        done: dict[str, VersionRow] = {}
        failed: dict[str, tuple[str, str]] = {}
        orphans: list[str] = []
        with self._tx() as db:
            self.require_repository(key.domain, key.repository)
            for version in versions:
                row = self._version_row(key, version)
                if row is None:
                    failed[version] = ("NOT_FOUND", f"Package version {version} not found")
                    continue
                if expected is not None and row.status is not expected:
                    failed[version] = mismatched_status(row.status, expected)
                    continue
                orphans += [a.digests.sha256 for a in self._asset_rows(key, version)]
                where = (
                    "domain = ? AND repository = ? AND format = ? AND namespace = ?"
                    " AND package = ? AND version = ?"
                )
                db.execute(f"DELETE FROM assets WHERE {where}", (*key.row(), version))
                db.execute(f"DELETE FROM versions WHERE {where}", (*key.row(), version))
                done[version] = VersionRow(version, VersionStatus.DELETED, row.revision, 0.0)
        self._remove_unreferenced(orphans)
        return done, failed

    def _remove_unreferenced(self, sha256s: list[str]) -> None:
        with self._tx() as db:
            for sha256 in set(sha256s):
                (uses,) = db.execute(
                    "SELECT COUNT(*) FROM assets WHERE sha256 = ?", (sha256,)
                ).fetchone()
                if uses == 0:
                    self.blobs.drop(sha256)

    def replace_asset_bytes(self, key: PackageKey, version: str, asset: str, data: bytes) -> None:
        """Overwrite an asset's content behind the service's back (for audit tests).

        The recorded digests are recomputed, as if storage had been tampered with or a
        different file had been published under the same name by another tool.
        """
        digests = Digests.of(data)
        with self._tx() as db:
            self.blobs.put(data, digests.sha256)
            db.execute(
                "UPDATE assets SET size_bytes = ?, sha256 = ?, sha512 = ?, sha1 = ?, md5 = ?"
                " WHERE domain = ? AND repository = ? AND format = ? AND namespace = ?"
                " AND package = ? AND version = ? AND name = ?",
                (digests.size_bytes, digests.sha256, digests.sha512, digests.sha1,
                 digests.md5, *key.row(), version, asset),
            )  # fmt: skip

    def delete_asset(self, key: PackageKey, version: str, asset: str) -> None:
        """Remove one asset of a version behind the service's back (for integrity tests).

        No CodeArtifact operation does this; storage losing an asset, or another tool's
        bug, would. The version's revision changes, as on any modification.
        """
        with self._tx() as db:
            where = (
                "domain = ? AND repository = ? AND format = ? AND namespace = ?"
                " AND package = ? AND version = ?"
            )
            db.execute(
                f"DELETE FROM assets WHERE {where} AND name = ?", (*key.row(), version, asset)
            )
            db.execute(
                f"UPDATE versions SET revision = ? WHERE {where}",
                (_new_revision(), *key.row(), version),
            )
