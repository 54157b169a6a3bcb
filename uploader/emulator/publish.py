"""PublishPackageVersion: one asset's bytes, checked and stored.

A small body (up to 64 KiB) is read whole and hashed, checked and stored in one hop to the
store's thread. A larger one is first checked against the version, before its body is read,
then streamed to a temporary file in 1 MiB writes while hashed
(`blobs.BlobWriter`), its size held to the asset limit and its SHA-256 to the header.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from uploader import names
from uploader.emulator import replies
from uploader.emulator.blobs import BlobWriter
from uploader.emulator.errors import ApiError, invalid
from uploader.emulator.params import CHUNK_BYTES, package_key, param
from uploader.emulator.records import Digests, PackageKey, VersionRow
from uploader.emulator.state import EmulatorState

SMALL_BODY_BYTES: Final = 64 * 1024  # read whole, stored in one hop to the store's thread


@dataclass(frozen=True)
class _Publish:
    key: PackageKey
    version: str
    asset: str
    sha256: str
    unfinished: bool


def _publish_params(request: web.Request, state: EmulatorState) -> _Publish:
    key = package_key(request, state)
    version = param(request, "version", names.check_package_part)
    asset = param(request, "asset", names.check_asset_name)
    sha256 = request.headers.get("x-amz-content-sha256", "")
    problem = names.check_sha256(sha256)
    if problem is not None:
        raise invalid(f"Invalid header x-amz-content-sha256: {problem}")
    unfinished = request.query.get("unfinished", "false")
    if unfinished not in ("true", "false"):
        raise invalid("unfinished must be true or false")
    return _Publish(key, version, asset, sha256, unfinished == "true")


async def publish_package_version(request: web.Request, state: EmulatorState) -> web.Response:
    params = _publish_params(request, state)
    size_bytes = request.content_length
    if (size_bytes or 0) > state.max_asset_size_bytes:
        raise _too_large(params.asset, state.max_asset_size_bytes)
    if size_bytes is not None and size_bytes <= SMALL_BODY_BYTES:
        row, digests = await state.db(_publish_small, state, params, await request.read())
    else:
        row, digests = await _publish_large(request, state, params)
    state.stats.count_publish("/".join((*params.key.row(), params.version, params.asset)))
    return web.json_response({
        "format": params.key.format,
        "namespace": params.key.namespace,
        "package": params.key.package,
        "version": params.version,
        "versionRevision": row.revision,
        "status": row.status.value,
        "asset": replies.asset_summary(params.asset, digests),
    })  # fmt: skip


def _publish_small(
    state: EmulatorState, params: _Publish, body: bytes
) -> tuple[VersionRow, Digests]:
    """A body held in memory: hashed, checked and stored in one go on the store's thread."""
    digests = Digests.of(body)
    row, _ = state.store.publish_asset(
        params.key, params.version, params.asset, body, digests,
        unfinished=params.unfinished, verify=lambda: _check_sha256(digests, params),
    )  # fmt: skip
    return row, digests


async def _publish_large(
    request: web.Request, state: EmulatorState, params: _Publish
) -> tuple[VersionRow, Digests]:
    """A body streamed to a temporary file, once the version is known to accept it."""
    await state.db(
        state.store.check_publish, params.key, params.version, params.asset, params.sha256
    )
    writer = BlobWriter(state.store.blobs.tmp_dir)
    try:
        digests = await _receive(request, state, writer, params)
        row, _ = await state.db(
            state.store.publish_asset, params.key, params.version, params.asset,
            writer.path, digests, unfinished=params.unfinished,
        )  # fmt: skip
    except BaseException:
        await asyncio.shield(state.io(writer.discard))
        raise
    return row, digests


async def _receive(
    request: web.Request, state: EmulatorState, writer: BlobWriter, params: _Publish
) -> Digests:
    """Stream the body to disk in 1 MiB writes, hashing it; check size and SHA-256."""
    pending = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK_BYTES):
        pending += chunk
        if writer.size_bytes + len(pending) > state.max_asset_size_bytes:
            raise _too_large(params.asset, state.max_asset_size_bytes)
        if len(pending) >= CHUNK_BYTES:
            await state.io(writer.write, bytes(pending))
            pending.clear()
    digests = await state.io(writer.finish, bytes(pending))
    _check_sha256(digests, params)
    return digests


def _check_sha256(digests: Digests, params: _Publish) -> None:
    if digests.sha256 != params.sha256:
        raise invalid(
            "The provided content hashes do not match the content of the asset:"
            f" computed SHA-256 {digests.sha256}, header {params.sha256}"
        )


def _too_large(asset: str, limit_bytes: int) -> ApiError:
    return ApiError(
        "ServiceQuotaExceededException",
        f"Asset {asset} is larger than the {limit_bytes}-byte limit",
        resourceType="asset",
        resourceId=asset,
    )
