"""The emulator's domains and repositories (with their upstreams), and the quotas on them.

`Catalog` owns the `domains`, `repositories` and `upstreams` tables of the store's SQLite
database. It runs on the store's one thread like the `Store` that holds it: a public
method that writes is one transaction; the `Store` calls the others inside its own
(deleting a repository deletes its packages too, in one go).

Quotas (AWS's "Quotas in AWS CodeArtifact", per account and Region): 10 domains, 1,000
repositories per domain, 10 direct upstreams per repository. Exceeding the first two is a
ServiceQuotaExceededException (402); upstreams beyond 10 are a ValidationException, as the
model bounds the list (`UpstreamRepositoryList`), not the account.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from uploader import constants as c
from uploader.emulator.records import StoreError, not_found

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS domains (
    name TEXT PRIMARY KEY, owner TEXT NOT NULL, created_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS repositories (
    domain TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL, created_s REAL NOT NULL,
    PRIMARY KEY (domain, name)
);
CREATE TABLE IF NOT EXISTS upstreams (
    domain TEXT NOT NULL, repository TEXT NOT NULL, position INTEGER NOT NULL,
    upstream TEXT NOT NULL, PRIMARY KEY (domain, repository, position)
);
"""

MAX_DOMAINS: Final = 10  # "Maximum number of domains per AWS account", per Region
MAX_REPOSITORIES_PER_DOMAIN: Final = 1000  # "Maximum number of repositories per domain"
MAX_UPSTREAMS: Final = 10  # "Maximum number of direct upstream repositories per repository"

# DomainStatus from the model: a domain the emulator holds is Active; one just deleted is
# described as Deleted in DeleteDomain's reply.
DOMAIN_ACTIVE: Final = "Active"
DOMAIN_DELETED: Final = "Deleted"


@dataclass(frozen=True)
class Limits:
    """The store's quotas: AWS's by default; tests may lower them.

    Args:
        domains: domains the account may hold.
        repositories_per_domain: repositories a domain may hold.
        assets_per_version: assets a package version may hold. AWS's English quotas page
            says 150 (not adjustable); a newer translated page says 350.
    """

    domains: int = MAX_DOMAINS
    repositories_per_domain: int = MAX_REPOSITORIES_PER_DOMAIN
    assets_per_version: int = c.MAX_ASSETS_PER_VERSION


def quota_exceeded(message: str, resource_type: str, resource_id: str) -> StoreError:
    """The model's ServiceQuotaExceededException (402: message, resourceId, resourceType)."""
    return StoreError(
        "ServiceQuotaExceededException", message,
        resource_type=resource_type, resource_id=resource_id,
    )  # fmt: skip


def _conflict(message: str, resource_type: str, resource_id: str) -> StoreError:
    return StoreError(
        "ConflictException", message, resource_type=resource_type, resource_id=resource_id
    )


class Catalog:
    """Domains, repositories and upstreams of the one account the emulator serves.

    Args:
        db: the store's connection.
        account_id, region: the owner of every domain, and where it is.
        clock: seconds since the epoch, for created times.
        limits: the quotas.
    """

    def __init__(
        self, db: sqlite3.Connection, *, account_id: str, region: str,
        clock: Callable[[], float], limits: Limits,
    ) -> None:  # fmt: skip
        self._db = db
        self.account_id = account_id
        self.region = region
        self._clock = clock
        self.limits = limits
        db.executescript(SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            yield self._db

    # --- domains ------------------------------------------------------------------------------

    def create_domain(self, domain: str) -> dict[str, Any]:
        with self._tx() as db:
            if self._domain_row(domain) is not None:
                raise _conflict(f"Domain {domain} already exists", "domain", domain)
            (count,) = db.execute("SELECT COUNT(*) FROM domains").fetchone()
            if count >= self.limits.domains:
                raise quota_exceeded(
                    f"An account can have at most {self.limits.domains} domains per Region",
                    "domain", domain,
                )  # fmt: skip
            db.execute(
                "INSERT INTO domains VALUES (?, ?, ?)", (domain, self.account_id, self._clock())
            )
        return self.describe_domain(domain)

    def describe_domain(self, domain: str) -> dict[str, Any]:
        row = self._require_domain(domain)
        repositories, size = self._db.execute(
            "SELECT (SELECT COUNT(*) FROM repositories WHERE domain = ?),"
            " (SELECT COALESCE(SUM(size_bytes), 0) FROM assets WHERE domain = ?)",
            (domain, domain),
        ).fetchone()
        return {
            **self._domain_summary(row),
            "repositoryCount": repositories,
            "assetSizeBytes": size,
            "s3BucketArn": f"arn:aws:s3:::assets-{row[1]}-{self.region}",
        }

    def list_domains(self) -> list[dict[str, Any]]:
        """A DomainSummary of every domain, by name."""
        rows = self._db.execute("SELECT name, owner, created_s FROM domains ORDER BY name")
        return [self._domain_summary(row) for row in rows.fetchall()]

    def delete_domain(self, domain: str) -> dict[str, Any]:
        """Delete an empty domain; a ConflictException while it holds repositories (as AWS
        documents: "you cannot delete a domain that contains repositories").

        A missing domain is ResourceNotFoundException, although the model does not list
        that error for DeleteDomain: what AWS answers there is not documented.
        """
        with self._tx() as db:
            described = self.describe_domain(domain)
            if described["repositoryCount"]:
                raise _conflict(
                    f"Domain {domain} contains {described['repositoryCount']} repositories;"
                    " delete them first", "domain", domain,
                )  # fmt: skip
            db.execute("DELETE FROM domains WHERE name = ?", (domain,))
        return {**described, "status": DOMAIN_DELETED}

    def _domain_summary(self, row: tuple[str, str, float]) -> dict[str, Any]:
        name, owner, created_s = row
        return {
            "name": name,
            "owner": owner,
            "arn": f"arn:aws:codeartifact:{self.region}:{owner}:domain/{name}",
            "status": DOMAIN_ACTIVE,
            "createdTime": created_s,
            "encryptionKey": f"arn:aws:kms:{self.region}:{owner}:alias/aws/codeartifact",
        }

    def _domain_row(self, domain: str) -> tuple[str, str, float] | None:
        row: tuple[str, str, float] | None = self._db.execute(
            "SELECT name, owner, created_s FROM domains WHERE name = ?", (domain,)
        ).fetchone()
        return row

    def _require_domain(self, domain: str) -> tuple[str, str, float]:
        row = self._domain_row(domain)
        if row is None:
            raise not_found("domain", domain)
        return row

    # --- repositories -------------------------------------------------------------------------

    def create_repository(
        self, domain: str, repository: str, description: str, upstreams: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Create a repository; its upstreams must be repositories of the same domain."""
        with self._tx() as db:
            self._require_domain(domain)
            if self._repository_row(domain, repository) is not None:
                raise _conflict(
                    f"Repository {repository} already exists in domain {domain}",
                    "repository", repository,
                )  # fmt: skip
            self._check_repository_count(domain, repository)
            self._check_upstreams(domain, upstreams)
            db.execute(
                "INSERT INTO repositories VALUES (?, ?, ?, ?)",
                (domain, repository, description, self._clock()),
            )
            self._set_upstreams(domain, repository, upstreams)
        return self.describe_repository(domain, repository)

    def update_repository(
        self, domain: str, repository: str, *, description: str | None,
        upstreams: Sequence[str] | None,
    ) -> dict[str, Any]:  # fmt: skip
        """Change what is given: the description, or the whole list of upstreams."""
        with self._tx() as db:
            self.require_repository(domain, repository)
            if description is not None:
                db.execute(
                    "UPDATE repositories SET description = ? WHERE domain = ? AND name = ?",
                    (description, domain, repository),
                )
            if upstreams is not None:
                self._check_upstreams(domain, upstreams)
                self._set_upstreams(domain, repository, upstreams)
        return self.describe_repository(domain, repository)

    def describe_repository(self, domain: str, repository: str) -> dict[str, Any]:
        row = self.require_repository(domain, repository)
        upstreams = self._db.execute(
            "SELECT upstream FROM upstreams WHERE domain = ? AND repository = ? ORDER BY position",
            (domain, repository),
        ).fetchall()
        return {
            **self._repository_summary(domain, repository, row),
            "upstreams": [{"repositoryName": name} for (name,) in upstreams],
            "externalConnections": [],
        }

    def list_repositories(self, domain: str | None, prefix: str) -> list[dict[str, Any]]:
        """A RepositorySummary of every repository whose name starts with `prefix`, of one
        domain or of all, by domain and name."""
        if domain is not None:
            self._require_domain(domain)
        rows = self._db.execute(
            "SELECT domain, name, description, created_s FROM repositories"
            " WHERE (? IS NULL OR domain = ?) AND substr(name, 1, ?) = ? ORDER BY domain, name",
            (domain, domain, len(prefix), prefix),
        ).fetchall()
        return [self._repository_summary(d, name, (desc, t)) for d, name, desc, t in rows]

    def check_deletable(self, domain: str, repository: str) -> dict[str, Any]:
        """The repository's description, unless another repository has it as an upstream.

        AWS does not document deleting an upstream of another repository; the emulator
        refuses (ConflictException) rather than leave that repository naming none.
        """
        described = self.describe_repository(domain, repository)
        users = self._db.execute(
            "SELECT repository FROM upstreams WHERE domain = ? AND upstream = ?"
            " ORDER BY repository",
            (domain, repository),
        ).fetchall()
        if users:
            names = ", ".join(name for (name,) in users)
            raise _conflict(
                f"Repository {repository} is an upstream of {names}", "repository", repository
            )
        return described

    def remove_repository(self, domain: str, repository: str) -> None:
        """Delete the repository's rows (inside the caller's transaction)."""
        where = "domain = ? AND {} = ?"
        self._db.execute(f"DELETE FROM upstreams WHERE {where.format('repository')}",
                         (domain, repository))  # fmt: skip
        self._db.execute(f"DELETE FROM repositories WHERE {where.format('name')}",
                         (domain, repository))  # fmt: skip

    def require_repository(self, domain: str, repository: str) -> tuple[str, float]:
        """The repository's (description, created_s); ResourceNotFoundException unless the
        domain and repository exist."""
        self._require_domain(domain)
        row = self._repository_row(domain, repository)
        if row is None:
            raise not_found("repository", repository)
        return row

    def _repository_summary(
        self, domain: str, repository: str, row: tuple[str, float]
    ) -> dict[str, Any]:
        return {
            "name": repository,
            "administratorAccount": self.account_id,
            "domainName": domain,
            "domainOwner": self.account_id,
            "arn": f"arn:aws:codeartifact:{self.region}:{self.account_id}:repository/"
            f"{domain}/{repository}",
            "description": row[0],
            "createdTime": row[1],
        }

    def _repository_row(self, domain: str, repository: str) -> tuple[str, float] | None:
        row: tuple[str, float] | None = self._db.execute(
            "SELECT description, created_s FROM repositories WHERE domain = ? AND name = ?",
            (domain, repository),
        ).fetchone()
        return row

    def _check_repository_count(self, domain: str, repository: str) -> None:
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM repositories WHERE domain = ?", (domain,)
        ).fetchone()
        if count >= self.limits.repositories_per_domain:
            raise quota_exceeded(
                f"Domain {domain} can have at most {self.limits.repositories_per_domain}"
                " repositories", "repository", repository,
            )  # fmt: skip

    def _check_upstreams(self, domain: str, upstreams: Sequence[str]) -> None:
        """Each upstream must be a repository of the same domain (the request's shape, its
        length and duplicates, is checked before: `params.upstreams`)."""
        for name in upstreams:
            if self._repository_row(domain, name) is None:
                raise not_found("repository", name)

    def _set_upstreams(self, domain: str, repository: str, upstreams: Sequence[str]) -> None:
        self._db.execute(
            "DELETE FROM upstreams WHERE domain = ? AND repository = ?", (domain, repository)
        )
        self._db.executemany(
            "INSERT INTO upstreams VALUES (?, ?, ?, ?)",
            [(domain, repository, i, name) for i, name in enumerate(upstreams)],
        )
