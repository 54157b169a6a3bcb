"""Finalization: set each complete version's status, a package's ready versions together.

UpdatePackageVersionsStatus takes up to 100 versions of one package per call, and every
call is an account write; so the finalizer lingers a moment after the first ready
version, gathers the others that are ready, and makes one call per package. Replies list
`failedVersions` per version: each is settled on its own. A MISMATCHED_STATUS may be our
own earlier attempt whose reply was lost: the version is looked up, and if it is already
at the target status with exactly the checked assets, that is a success.

Each version is finalized at the revision at which its assets were last checked
(`versionRevisions`): if anything changed on the service since (an asset added, the
version deleted and published anew), the service refuses it (MISMATCHED_REVISION) and
the version fails instead of being Published with something other than was checked.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

import structlog

from uploader import constants as c
from uploader.errors import RejectedError, UploaderError
from uploader.limits import Family
from uploader.manifest import VersionSpec
from uploader.remote import Remote

LINGER_S: Final = 0.05  # how long to wait for more versions of a package to be ready


@dataclass
class _Pending:
    spec: VersionSpec
    revision: str  # the revision at which its assets were checked ("" if unknown)
    wanted: dict[str, str]  # asset name -> SHA-256, as checked
    done: asyncio.Future[None]

    def succeed(self) -> None:
        if not self.done.done():  # its version may have been cancelled meanwhile
            self.done.set_result(None)

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)


class Finalizer:
    """Sets ready versions to their target status; `run` is its task, `close` ends it.

    Args:
        remote: the retried, rate-limited calls.
        linger_s: how long to wait after a first ready version for more of its package.
    """

    def __init__(self, remote: Remote, *, linger_s: float | None = None) -> None:
        self._remote = remote
        self._linger_s = LINGER_S if linger_s is None else linger_s
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()

    def __repr__(self) -> str:
        return f"<Finalizer waiting={self._queue.qsize()}>"

    async def finalize(self, spec: VersionSpec, revision: str, wanted: dict[str, str]) -> None:
        """Return once `spec` is at its target status; raise if the service refused.

        Args:
            spec: the version.
            revision: the revision at which the service was seen to hold `wanted`.
            wanted: asset name -> SHA-256, exactly what the version must hold.
        """
        pending = _Pending(spec, revision, wanted, asyncio.get_running_loop().create_future())
        await self._queue.put(pending)
        await pending.done

    def close(self) -> None:
        """Let `run` return once what is queued is done."""
        self._queue.put_nowait(None)

    async def run(self) -> None:
        """Until closed: gather what is ready, one call per package (at most 100 versions)."""
        closed = False
        while not closed:
            first = await self._queue.get()
            if first is None:
                return
            await asyncio.sleep(self._linger_s)
            batch = [first]
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    closed = True
                    break
                batch.append(item)
            await asyncio.gather(*(self._call(group) for group in _by_package(batch)))

    async def _call(self, group: list[_Pending]) -> None:
        spec = group[0].spec
        versions = {p.spec.version: p.revision for p in group}
        with structlog.contextvars.bound_contextvars(
            namespace=spec.namespace, package=spec.package, versions=list(versions)
        ):
            await self._call_bound(group, spec, versions)

    async def _call_bound(
        self, group: list[_Pending], spec: VersionSpec, versions: dict[str, str]
    ) -> None:
        api = self._remote.api
        try:
            done, failed = await self._remote.call(
                Family.FINALIZE,
                lambda: api.update_status(spec.package_ref, versions, spec.status.status),
            )
        except UploaderError as error:
            for pending in group:
                pending.fail(error)
            return
        for pending in group:
            await self._settle(pending, done, failed)

    async def _settle(
        self, pending: _Pending, done: set[str], failed: dict[str, tuple[str, str]]
    ) -> None:
        version = pending.spec.version
        if version in done:
            pending.succeed()
            return
        code, message = failed.get(version, ("MISSING", "not in the service's reply"))
        try:
            if code == "MISMATCHED_STATUS" and await self._already_there(pending):
                pending.succeed()  # an earlier attempt's reply was lost
                return
        except UploaderError as error:
            pending.fail(error)
            return
        if code == "MISMATCHED_REVISION":
            message = "the version changed on the service after its assets were checked; rerun"
        pending.fail(RejectedError(f"finalizing failed: {code}: {message}"))

    async def _already_there(self, pending: _Pending) -> bool:
        """At the target status, holding exactly the checked assets."""
        spec, api = pending.spec, self._remote.api
        remote = await self._remote.call(
            Family.LIST,
            lambda: api.describe_version(spec.package_ref, spec.version),
        )
        if remote is None or remote.status is not spec.status.status:
            return False
        return {n: a.sha256 for n, a in remote.assets.items()} == pending.wanted


def _by_package(batch: list[_Pending]) -> list[list[_Pending]]:
    groups: dict[tuple[object, ...], list[_Pending]] = defaultdict(list)
    for pending in batch:
        s = pending.spec
        key = (s.domain, s.domain_owner, s.repository, s.namespace, s.package, s.status)
        groups[key].append(pending)
    size = c.MAX_VERSIONS_PER_STATUS_UPDATE
    return [g[i : i + size] for g in groups.values() for i in range(0, len(g), size)]
