"""What the service holds, as the pipeline asks it: every read request of a run.

    ensure_target   each domain/repository checked once per run (created for `--local`)
    version         a version's status and assets before anything is sent: one
                    ListPackageVersions per package (cached, bounded) says which versions
                    exist; only those are described
    listing         a version's assets now (a fresh ListPackageVersionAssets), before it
                    is finalized
    asset           one asset as the service holds it now (a publish reply that said
                    nothing, a conflict that may be our own lost reply)

Every request goes through `Remote.call`: rate limited, retried, stopped by a stop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Final

from uploader.domain import (
    PackageRef,
    RemoteAsset,
    RemoteVersion,
    Target,
    VersionStatus,
)
from uploader.errors import FatalRemoteError, Interrupted, RejectedError, UploaderError
from uploader.limits import Family
from uploader.manifest import VersionSpec
from uploader.remote import Remote, shared_task

MAX_LISTED_VERSIONS: Final = 10_000  # above this, a package's versions are asked one by one
MAX_LISTED_PACKAGES: Final = 1_000  # packages whose version lists are kept (least recent go)
NOT_FOUND: Final = "ResourceNotFoundException"

VersionList = dict[str, VersionStatus | None]


class ServiceView:
    """The read side of the service for one run.

    Args:
        remote: the rate-limited, retried calls.
        create_missing: create a missing domain/repository (the `--local` emulator)
            instead of ending the run with exit 3.
    """

    def __init__(self, remote: Remote, *, create_missing: bool = False) -> None:
        self._remote = remote
        self._create_missing = create_missing
        self._targets: dict[Target, asyncio.Future[None]] = {}
        self._packages: OrderedDict[PackageRef, asyncio.Future[VersionList | None]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<ServiceView targets={len(self._targets)} packages={len(self._packages)}>"

    async def ensure_target(self, target: Target) -> None:
        """Return once the repository is known to be usable; FatalRemoteError if not."""
        task = self._targets.get(target)
        if task is None:
            task = shared_task(self._check_target(target))
            self._targets[target] = task
        await asyncio.shield(task)

    async def _check_target(self, target: Target) -> None:
        api = self._remote.api
        try:
            if self._create_missing:
                await self._remote.call(Family.WRITE, lambda: api.create_repository(target))
            await self._remote.call(Family.LIST, lambda: api.describe_repository(target))
        except (FatalRemoteError, Interrupted):
            raise
        except UploaderError as error:
            raise FatalRemoteError(f"cannot use {target}: {error}") from error

    async def version(self, spec: VersionSpec) -> RemoteVersion | None:
        """The version as the service holds it (None: it has no such version)."""
        if not await self._may_exist(spec):
            return None
        api = self._remote.api
        return await self._remote.call(
            Family.LIST, lambda: api.describe_version(spec.package_ref, spec.version)
        )

    async def _may_exist(self, spec: VersionSpec) -> bool:
        """Whether the service may hold this version: its package's list says so, or the
        package has too many versions to be listed (then every version is described)."""
        key = spec.package_ref
        task = self._packages.get(key)
        if task is not None:
            self._packages.move_to_end(key)
        else:
            api = self._remote.api
            task = shared_task(
                self._remote.call(
                    Family.LIST, lambda: api.list_versions(key, limit=MAX_LISTED_VERSIONS)
                )
            )
            self._packages[key] = task
            if len(self._packages) > MAX_LISTED_PACKAGES:  # bounded memory: forget the oldest
                self._packages.popitem(last=False)
        versions = await asyncio.shield(task)
        return versions is None or spec.version in versions

    async def listing(self, spec: VersionSpec) -> RemoteVersion | None:
        """The version's assets now, as an Unfinished version (None: no such version).

        It is Unfinished unless another hand finished it meanwhile, which its
        finalization then finds (MISMATCHED_STATUS).
        """
        api = self._remote.api
        try:
            listing = await self._remote.call(
                Family.LIST, lambda: api.list_assets(spec.package_ref, spec.version)
            )
        except RejectedError as error:
            if error.code == NOT_FOUND:
                return None
            raise
        return RemoteVersion(VersionStatus.UNFINISHED, listing.revision, listing.assets)

    async def asset(self, spec: VersionSpec, name: str) -> RemoteAsset | None:
        """One asset as the service holds it now (None: no such asset or version)."""
        listing = await self.listing(spec)
        return None if listing is None else listing.assets.get(name)
