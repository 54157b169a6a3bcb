"""The operations on package versions and assets.

Each handler reads its request (`params`), makes one store call on the store's thread
and answers in the service's shape (`replies`). PublishPackageVersion, which streams
bodies, has a module of its own (`publish`); domains and repositories are `domains`',
whole packages `packages`'.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from uploader import names
from uploader.domain import VersionStatus
from uploader.emulator import params, replies
from uploader.emulator.errors import ApiError, invalid
from uploader.emulator.state import EmulatorState

ALLOWED_TARGETS: Final = frozenset(
    {VersionStatus.PUBLISHED, VersionStatus.UNLISTED, VersionStatus.ARCHIVED}
)


async def update_package_versions_status(
    request: web.Request, state: EmulatorState
) -> web.Response:
    key = params.package_key(request, state)
    body = await params.json_body(request)
    versions = params.versions_member(body)
    if "targetStatus" not in body:
        raise invalid("targetStatus is required")
    target = params.status(body["targetStatus"], "targetStatus")
    if target not in ALLOWED_TARGETS:
        raise invalid(f"targetStatus: cannot set a package version to {target}")
    expected = body.get("expectedStatus")
    revisions = body.get("versionRevisions") or {}
    if not isinstance(revisions, dict):
        raise invalid("versionRevisions must be a map of version to revision")
    done, failed = await state.db(
        state.store.update_status, key, versions, target=target,
        expected=None if expected is None else params.status(expected, "expectedStatus"),
        revisions=revisions,
    )  # fmt: skip
    return replies.statuses_reply(done, failed)


async def describe_package_version(request: web.Request, state: EmulatorState) -> web.Response:
    key = params.package_key(request, state)
    version = params.param(request, "version", names.check_package_part)
    row = await state.db(state.store.describe_version, key, version)
    return web.json_response({
        "packageVersion": {
            "format": key.format,
            "namespace": key.namespace,
            "packageName": key.package,
            "displayName": key.package,
            "version": row.version,
            "publishedTime": row.published_s,
            "licenses": [],
            "revision": row.revision,
            "status": row.status.value,
            "origin": replies.origin(key.repository),
        }
    })  # fmt: skip


async def list_package_versions(request: web.Request, state: EmulatorState) -> web.Response:
    key = params.package_key(request, state)
    status = request.query.get("status")
    rows = await state.db(state.store.list_versions, key)
    if status is not None:
        rows = [r for r in rows if r.status is params.status(status, "status")]
    if request.query.get("sortBy") == "PUBLISHED_TIME":
        rows.sort(key=lambda r: r.published_s, reverse=True)
    page, token = replies.page(request, rows)
    published = [r for r in rows if r.status is VersionStatus.PUBLISHED]
    reply: dict[str, Any] = {
        "format": key.format,
        "namespace": key.namespace,
        "package": key.package,
        "versions": [replies.version_summary(key, r) for r in page],
        **replies.next_token(token),
    }
    if published:  # the service's default display version is the latest published one
        reply["defaultDisplayVersion"] = max(published, key=lambda r: r.published_s).version
    return web.json_response(reply)


async def list_package_version_assets(request: web.Request, state: EmulatorState) -> web.Response:
    key = params.package_key(request, state)
    version = params.param(request, "version", names.check_package_part)
    row, assets = await state.db(state.store.list_assets, key, version)
    page, token = replies.page(request, assets)
    return web.json_response({
        "format": key.format,
        "namespace": key.namespace,
        "package": key.package,
        "version": version,
        "versionRevision": row.revision,
        "assets": [replies.asset_summary(a.name, a.digests) for a in page],
        **replies.next_token(token),
    })  # fmt: skip


async def get_package_version_asset(
    request: web.Request, state: EmulatorState
) -> web.StreamResponse:
    key = params.package_key(request, state)
    version = params.param(request, "version", names.check_package_part)
    asset = params.param(request, "asset", names.check_asset_name)
    row, found = await state.db(state.store.get_asset, key, version, asset)
    content = await state.db(state.store.blobs.read, found.digests.sha256)
    revision = request.query.get("revision")
    if revision is not None and revision != row.revision:
        raise ApiError("ResourceNotFoundException", f"Revision {revision} not found",
                       resourceType="package-version", resourceId=version)  # fmt: skip
    if row.status in (VersionStatus.ARCHIVED, VersionStatus.DISPOSED):
        # AWS documents that assets of archived and disposed versions cannot be
        # downloaded; the error type is our choice from the operation's error list.
        raise ApiError("ConflictException", f"Package version {version} is {row.status}",
                       resourceType="package-version", resourceId=version)  # fmt: skip
    headers = {
        "X-AssetName": asset,
        "X-PackageVersion": version,
        "X-PackageVersionRevision": row.revision,
        "Content-Type": "application/octet-stream",
    }
    if isinstance(content, bytes):
        return web.Response(body=content, headers=headers)
    return web.FileResponse(content, headers=headers)


async def delete_package_versions(request: web.Request, state: EmulatorState) -> web.Response:
    key = params.package_key(request, state)
    body = await params.json_body(request)
    versions = params.versions_member(body)
    expected = body.get("expectedStatus")
    done, failed = await state.db(
        state.store.delete_versions, key, versions,
        expected=None if expected is None else params.status(expected, "expectedStatus"),
    )  # fmt: skip
    return replies.statuses_reply(done, failed)
