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
from uploader.emulator.catalog import Catalog, Limits, quota_exceeded
from uploader.emulator.records import (
    BLOCK,
    DEFAULT_RESTRICTIONS,
    AssetRow,
    Digests,
    OriginRestrictions,
    PackageKey,
    PackageRow,
    StoreError,
    VersionRow,
    mismatched_status,
    not_found,
    status_problem,
    version_not_unfinished,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS packages (
    domain TEXT NOT NULL, repository TEXT NOT NULL, format TEXT NOT NULL,
    namespace TEXT NOT NULL, package TEXT NOT NULL, publish TEXT NOT NULL, upstream TEXT NOT NULL,
    PRIMARY KEY (domain, repository, format, namespace, package)
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

# Which versions a publish may go to: any asset to an Unfinished version; an asset sent again
# with identical content also to a Published one (AWS documents the idempotent republish,
# not which statuses allow it; Unlisted, Archived and Disposed versions refuse it here).
_TAKES_NEW_ASSETS = frozenset({VersionStatus.UNFINISHED})
_TAKES_REPUBLISHED_ASSETS = frozenset({VersionStatus.UNFINISHED, VersionStatus.PUBLISHED})


def _package(
    fmt: str, namespace: str, package: str, publish: str | None, upstream: str | None
) -> PackageRow:
    """A package's row; a package never configured has the default restrictions."""
    restrictions = DEFAULT_RESTRICTIONS if publish is None or upstream is None else (
        OriginRestrictions(publish, upstream)
    )  # fmt: skip
    return PackageRow(fmt, namespace, package, restrictions)


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
        limits: the quotas on domains, repositories and assets per version (AWS's).

    Domains and repositories are the `catalog`'s; packages, versions and assets are here.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        account_id: str = c.DEFAULT_ACCOUNT_ID,
        region: str = c.DEFAULT_REGION,
        clock: Any = time.time,
        republish_conflicts: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.republish_conflicts = republish_conflicts
        self.limits = limits or Limits()
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
        self.catalog = Catalog(
            self._db, account_id=account_id, region=region, clock=clock, limits=self.limits
        )
        self.blobs = Blobs(self._db, data_dir)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            yield self._db

    # --- domains and repositories (the catalog's) ------------------------------------------

    def require_repository(self, domain: str, repository: str) -> None:
        """Raise ResourceNotFoundException unless the domain and repository exist."""
        self.catalog.require_repository(domain, repository)

    def delete_repository(self, domain: str, repository: str) -> dict[str, Any]:
        """Delete a repository with every package, version and asset it holds."""
        with self._tx() as db:
            described = self.catalog.check_deletable(domain, repository)
            orphans = [r[0] for r in db.execute(
                "SELECT sha256 FROM assets WHERE domain = ? AND repository = ?",
                (domain, repository),
            )]  # fmt: skip
            for table in ("assets", "versions", "packages"):
                db.execute(
                    f"DELETE FROM {table} WHERE domain = ? AND repository = ?", (domain, repository)
                )
            self.catalog.remove_repository(domain, repository)
        self._remove_unreferenced(orphans)
        return described

    # --- publishing -------------------------------------------------------------------------

    def check_publish(self, key: PackageKey, version: str, asset: str, sha256: str) -> None:
        """Fail early, before the body is read, when a publish cannot succeed.

        `sha256` is the header's: the body has yet to be read, but only a body with that
        SHA-256 can be stored.
        """
        self.require_repository(key.domain, key.repository)
        self._check_publish_allowed(key)
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
            self._check_publish_allowed(key)
            row = self._version_row(key, version)
            existing = self._accepting(key, version, row, asset)
            if verify is not None:
                verify()
            if existing is not None:
                self._check_same_content(existing, digests.sha256, asset)
                new_row = self._republished(key, version, row, unfinished=unfinished)
            else:
                self._check_asset_count(key, version, self.limits.assets_per_version)
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
            raise quota_exceeded(
                f"A package version can have at most {max_assets} assets",
                "package-version", version,
            )  # fmt: skip

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

    # --- packages ---------------------------------------------------------------------------

    def describe_package(self, key: PackageKey) -> PackageRow:
        """A package that has versions or an origin configuration; else not found."""
        self.require_repository(key.domain, key.repository)
        row = self._package_row(key)
        if row is None:
            raise not_found("package", key.package)
        return row

    def list_packages(self, domain: str, repository: str) -> list[PackageRow]:
        """Every package of a repository, sorted by format, namespace and name."""
        self.require_repository(domain, repository)
        rows = self._db.execute(
            "SELECT v.format, v.namespace, v.package, p.publish, p.upstream"
            " FROM (SELECT DISTINCT domain, repository, format, namespace, package FROM versions"
            "       UNION SELECT domain, repository, format, namespace, package FROM packages) v"
            " LEFT JOIN packages p USING (domain, repository, format, namespace, package)"
            " WHERE v.domain = ? AND v.repository = ? ORDER BY v.format, v.namespace, v.package",
            (domain, repository),
        ).fetchall()
        return [_package(*row) for row in rows]

    def put_origin_configuration(
        self, key: PackageKey, restrictions: OriginRestrictions
    ) -> PackageRow:
        """Set a package's origin restrictions, creating the package (with no versions) if
        it does not exist, as AWS documents for PutPackageOriginConfiguration."""
        with self._tx() as db:
            self.require_repository(key.domain, key.repository)
            db.execute(
                "INSERT INTO packages VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE"
                " SET publish = excluded.publish, upstream = excluded.upstream",
                (*key.row(), restrictions.publish, restrictions.upstream),
            )
        return PackageRow(key.format, key.namespace, key.package, restrictions)

    def delete_package(self, key: PackageKey) -> PackageRow:
        """Delete a package: every version and asset of it, and its origin configuration."""
        where = "domain = ? AND repository = ? AND format = ? AND namespace = ? AND package = ?"
        with self._tx() as db:
            row = self.describe_package(key)
            orphans = [r[0] for r in db.execute(f"SELECT sha256 FROM assets WHERE {where}",
                                                key.row())]  # fmt: skip
            for table in ("assets", "versions", "packages"):
                db.execute(f"DELETE FROM {table} WHERE {where}", key.row())
        self._remove_unreferenced(orphans)
        return row

    def _package_row(self, key: PackageKey) -> PackageRow | None:
        where = "domain = ? AND repository = ? AND format = ? AND namespace = ? AND package = ?"
        found = self._db.execute(
            f"SELECT publish, upstream FROM packages WHERE {where}", key.row()
        ).fetchone()
        if found is None and self._db.execute(
            f"SELECT 1 FROM versions WHERE {where} LIMIT 1", key.row()
        ).fetchone() is None:  # fmt: skip
            return None
        return _package(key.format, key.namespace, key.package, *(found or (None, None)))

    def _check_publish_allowed(self, key: PackageKey) -> None:
        """Refuse a publish to a package whose origin configuration blocks publishing.

        AWS documents that publish=BLOCK stops new versions being published, not the error
        it answers. The emulator answers ValidationException: the request can never succeed
        as sent, like the model's other 400s, and it is no ConflictException (that says a
        resource's state conflicts with this request, which a retry after it changes may
        resolve: a 409 on publish is how an existing asset is reported), nor an
        AccessDeniedException (that is IAM's answer about the caller's permissions, which
        a client rightly treats as ending its whole run, while this concerns one
        package). It refuses every asset, also to versions that exist: stricter than "new
        versions" may be on AWS.
        """
        row = self._package_row(key)
        if row is not None and row.restrictions.publish == BLOCK:
            raise StoreError(
                "ValidationException",
                f"Publishing to package {key.namespace}/{key.package} in repository"
                f" {key.repository} is blocked by its package origin configuration"
                " (restrictions: publish=BLOCK)",
                reason="OTHER",
            )

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
