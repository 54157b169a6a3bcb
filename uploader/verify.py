"""`uploader verify`: compare what the service holds with the manifest's assets, for audits.

For each version of the manifest: hash the local files and the remote objects (read
anew, or with `--no-download` the SHA-256 their stores declare), then ask the service
(DescribePackageVersion + ListPackageVersionAssets) and report every difference:
a missing version, a missing or extra asset, a different SHA-256, a wrong status.
Nothing is ever written to the service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from uploader.assets import Assets
from uploader.domain import RemoteVersion
from uploader.errors import FatalRemoteError, Outcome, UploaderError
from uploader.limits import Family
from uploader.manifest import Problem, VersionSpec, batches
from uploader.plan import compare_assets
from uploader.remote import Remote

READ_BATCH: Final = 64
REPAIR_HINT: Final = (
    "to repair: `uploader run MANIFEST --reconcile` with the same settings sends what is"
    " missing (a finished version with other or missing assets cannot be mended: publish a"
    " new version)"
)


class Difference(StrEnum):
    """What can differ between the manifest's files and the service."""

    VERSION_MISSING = "version_missing"
    ASSET_MISSING = "missing"
    ASSET_EXTRA = "extra"
    SHA256 = "different_sha256"
    STATUS = "wrong_status"
    ERROR = "error"  # the version could not be checked


@dataclass(frozen=True)
class Finding:
    """One difference: `acme/app@1.2.3 app.tar.gz: different_sha256: remote ..., local ...`."""

    where: str
    kind: Difference
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind.value}: {self.detail}"

    def to_json(self) -> dict[str, str]:
        return {"where": self.where, "kind": self.kind.value, "detail": self.detail}


@dataclass
class Tally:
    """Counts for the summary line and the exit code."""

    versions: int = 0
    matching: int = 0
    findings: int = 0
    problems: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.by_kind.items())) or "none"
        line = (
            f"verified {self.versions} version(s): {self.matching} match, "
            f"{self.versions - self.matching} differ ({kinds}); "
            f"manifest problems: {self.problems}"
        )
        if self.matching < self.versions:
            line += f"; {REPAIR_HINT}"
        return line

    def outcome(self) -> Outcome:
        """Done when everything matches; bad input when no entry was valid; else some
        failed (a difference, or an invalid entry)."""
        if self.problems and not self.versions:
            return Outcome.BAD_INPUT
        return Outcome.SOME_FAILED if self.findings or self.problems else Outcome.DONE


def compare(
    spec: VersionSpec, local: dict[str, str], remote: RemoteVersion | None
) -> list[Finding]:
    """Every difference between a version's local SHA-256s and the service's version."""
    where = f"{spec.namespace}/{spec.package}@{spec.version}"
    if remote is None:
        return [Finding(where, Difference.VERSION_MISSING, "not on the service")]
    findings = []
    expected = spec.status.status
    if remote.status != expected:
        findings.append(Finding(where, Difference.STATUS, f"{remote.status}, expected {expected}"))
    assets = compare_assets(local, remote.assets)
    for name in sorted({*assets.missing, *assets.different}):
        if name in assets.different:
            remote_sha256, local_sha256 = assets.different[name]
            detail = f"remote sha256 {remote_sha256}, local {local_sha256}"
            findings.append(Finding(f"{where} {name}", Difference.SHA256, detail))
        else:
            findings.append(
                Finding(f"{where} {name}", Difference.ASSET_MISSING, "not on the service")
            )
    for name in assets.extra:
        findings.append(Finding(f"{where} {name}", Difference.ASSET_EXTRA, "not in the manifest"))
    return findings


class Verifier:
    """Checks versions against the service, `workers` at a time.

    Args:
        remote: rate-limited, retried calls (list family only).
        assets: hashes the local files and reads (or stats) the remote ones.
        workers: versions checked at once.
        on_finding: called with each difference as it is found.
        on_problem: called with each manifest problem.
    """

    def __init__(
        self,
        remote: Remote,
        assets: Assets,
        *,
        workers: int,
        download: bool = True,
        on_finding: Callable[[Finding], None],
        on_problem: Callable[[Problem], None],
    ) -> None:
        self._remote = remote
        self._assets = assets
        self._download = download
        self._slots = asyncio.Semaphore(workers)
        self._on_finding = on_finding
        self._on_problem = on_problem
        self.tally = Tally()

    async def run(self, entries: Iterator[VersionSpec | Problem]) -> Tally:
        """Check every entry; FatalRemoteError (access, missing target) ends the run."""
        try:
            async with asyncio.TaskGroup() as group:
                async for batch in batches(entries, READ_BATCH):
                    for entry in batch:
                        if isinstance(entry, Problem):
                            self.tally.problems += 1
                            self._on_problem(entry)
                            continue
                        await self._slots.acquire()
                        group.create_task(self._checked(entry))
        except* FatalRemoteError as fatal:
            raise fatal.exceptions[0] from None
        return self.tally

    async def _checked(self, spec: VersionSpec) -> None:
        try:
            findings = await self._check(spec)
        except FatalRemoteError:
            raise
        except UploaderError as error:
            where = f"{spec.namespace}/{spec.package}@{spec.version}"
            findings = [Finding(where, Difference.ERROR, str(error))]
        finally:
            self._slots.release()
        self._count(findings)

    async def _check(self, spec: VersionSpec) -> list[Finding]:
        digests = await self._assets.digest_all(spec.assets, download=self._download)
        local = {a.name: d.sha256 for a, d in zip(spec.assets, digests, strict=True)}
        api = self._remote.api
        remote = await self._remote.call(
            Family.LIST,
            lambda: api.describe_version(spec.package_ref, spec.version),
        )
        return compare(spec, local, remote)

    def _count(self, findings: list[Finding]) -> None:
        self.tally.versions += 1
        if not findings:
            self.tally.matching += 1
        for finding in findings:
            self.tally.findings += 1
            self.tally.by_kind[finding.kind.value] = (
                self.tally.by_kind.get(finding.kind.value, 0) + 1
            )
            self._on_finding(finding)
