"""The emulator's HTTP face: CodeArtifact's REST-JSON protocol as botocore's model defines it.

Routes, query and header members, JSON bodies, status codes and error shapes follow
`botocore/data/codeartifact/2018-09-22/service-2.json`. Errors carry the service's
`x-amzn-ErrorType` header and a JSON body with `message` (and the shape's other members),
which is what botocore parses into `ClientError`.

Every request passes, in order: authentication (403), quotas (429 with Retry-After),
fault injection, then the operation. State lives in `Store`, which runs on one thread.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from aiohttp import web

from uploader import constants as c
from uploader import names
from uploader.domain import VersionStatus
from uploader.emulator import auth, routes
from uploader.emulator.blobs import BlobWriter
from uploader.emulator.faults import FaultKind, FaultPlan, Quotas, Stats, retry_after_header
from uploader.emulator.records import Digests, PackageKey, StoreError, VersionRow
from uploader.emulator.store import Store

T = TypeVar("T")

CHUNK_BYTES: Final = 1024 * 1024
SMALL_BODY_BYTES: Final = 64 * 1024  # read whole, stored in one hop to the store's thread
RESET_AFTER_BYTES: Final = 64 * 1024  # how much of a body a `reset` fault reads first
STATS_PATH: Final = "/__emulator/stats"
FORMATS: Final = ("npm", "pypi", "maven", "nuget", "generic", "ruby", "swift", "cargo")
ALLOWED_TARGETS: Final = frozenset(
    {VersionStatus.PUBLISHED, VersionStatus.UNLISTED, VersionStatus.ARCHIVED}
)


class ApiError(Exception):
    """An error reply in the service's shape."""

    def __init__(self, code: str, message: str, **members: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.members = members

    def response(self) -> web.Response:
        body = {"message": self.message, **self.members}
        return web.json_response(
            body, status=routes.status_for(self.code), headers={"x-amzn-ErrorType": self.code}
        )


def _invalid(message: str, reason: str = "FIELD_VALIDATION_FAILED") -> ApiError:
    return ApiError("ValidationException", message, reason=reason)


@dataclass
class EmulatorState:
    """What the request handlers share.

    Args:
        store: the persistent state.
        store_executor: a single-thread executor; every store call runs there, in order.
        io_executor: threads for blob file I/O.
        credentials: access key id -> secret; None accepts any well-formed signature.
        quotas: request-rate quotas per operation.
        faults: the seeded fault schedule.
        max_asset_size_bytes: larger uploads get ServiceQuotaExceededException.
    """

    store: Store
    store_executor: Executor
    io_executor: Executor
    credentials: Mapping[str, str] | None = None
    quotas: Quotas = field(default_factory=Quotas.none)
    faults: FaultPlan = field(default_factory=FaultPlan.none)
    stats: Stats = field(default_factory=Stats)
    max_asset_size_bytes: int = c.MAX_ASSET_SIZE_BYTES
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.store_executor, lambda: fn(*args, **kwargs))

    async def io(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.io_executor, fn, *args)


STATE_KEY: Final = web.AppKey("state", EmulatorState)
Handler = Callable[[web.Request, EmulatorState], Awaitable[web.StreamResponse]]


# --- the request pipeline -----------------------------------------------------------------


def create_app(state: EmulatorState) -> web.Application:
    """The aiohttp application serving CodeArtifact's API over `state`.

    Every operation of the model has a route named after it (see `routes`); what matches
    none of them is an UnknownOperationException.
    """
    app = web.Application(middlewares=[_dispatch])
    app[STATE_KEY] = state
    app.router.add_get(STATS_PATH, _stats)
    for route in routes.model_routes().values():
        handler = _serve if route.operation in HANDLERS else _not_implemented
        app.router.add_route(route.method, route.path, handler, name=route.operation)
    app.router.add_route("*", "/{tail:.*}", _unknown)
    return app


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].stats.to_json())


async def _unknown(request: web.Request) -> web.Response:
    raise ApiError(routes.UNKNOWN_OPERATION, f"No operation at {request.method} {request.path}")


async def _not_implemented(request: web.Request) -> web.Response:
    operation = request.match_info.route.name
    raise ApiError(routes.NOT_IMPLEMENTED, f"{operation} is not implemented by the emulator")


async def _serve(request: web.Request) -> web.StreamResponse:
    operation = request.match_info.route.name
    assert operation is not None  # only the model's named routes lead here
    return await HANDLERS[operation](request, request.app[STATE_KEY])


def _operation(request: web.Request) -> str | None:
    """The implemented operation the request's route is named after, or None."""
    name = request.match_info.route.name
    return name if name in HANDLERS else None


@web.middleware
async def _dispatch(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    operation = _operation(request)
    if operation is None:
        try:
            return await handler(request)
        except ApiError as error:
            return error.response()
    state.stats.count_request(operation)
    try:
        await _authenticate(request, state)
        _apply_quota(operation, state)
        return await _run_with_faults(request, state, operation, handler)
    except ApiError as error:
        await _drain(request)
        return error.response()
    except StoreError as error:
        await _drain(request)
        return _store_error(error).response()


async def _authenticate(request: web.Request, state: EmulatorState) -> None:
    payload_sha256 = request.headers.get("x-amz-content-sha256")
    if payload_sha256 is None:
        if (request.content_length or 0) > CHUNK_BYTES:
            # Only JSON bodies are hashed here; large bodies must declare their hash.
            raise _invalid("Bodies over 1 MiB need an x-amz-content-sha256 header")
        payload_sha256 = hashlib.sha256(await request.read()).hexdigest()
    try:
        auth.verify_request(
            method=request.method,
            # Raw forms: the signature covers the bytes sent, not yarl's decoded view.
            path=request.rel_url.raw_path,
            query_string=request.rel_url.raw_query_string,
            headers=request.headers,
            payload_sha256=payload_sha256,
            credentials=state.credentials,
            now=state.clock(),
        )
    except auth.AuthError as error:
        # AWS answers with several codes here (InvalidSignatureException, ...); every one
        # means "not allowed", and the emulator's contract is one: 403 AccessDeniedException.
        raise ApiError("AccessDeniedException", str(error)) from None


def _apply_quota(operation: str, state: EmulatorState) -> None:
    wait_s = state.quotas.check(operation)
    if wait_s is None:
        return
    state.stats.count_throttle(operation)
    raise _Throttled(wait_s)


class _Throttled(ApiError):
    def __init__(self, wait_s: float) -> None:
        super().__init__("ThrottlingException", "Rate exceeded")
        self.retry_after = retry_after_header(wait_s)

    def response(self) -> web.Response:
        reply = super().response()
        reply.headers["Retry-After"] = self.retry_after
        return reply


async def _run_with_faults(
    request: web.Request,
    state: EmulatorState,
    operation: str,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    decision = state.faults.decide(operation)
    if decision.latency_s > 0:
        await asyncio.sleep(decision.latency_s)
    kind = decision.kind
    if kind is not FaultKind.NONE:
        state.stats.count_fault(operation, kind)
    if kind is FaultKind.RESET:
        return await _reset(request)
    if kind in (FaultKind.ERROR_500, FaultKind.ERROR_503):
        await _drain(request)
        return _server_error(kind)
    reply = await handler(request)
    if kind is FaultKind.LOST_REPLY:
        return _server_error(FaultKind.ERROR_500)
    return reply


def _server_error(kind: FaultKind) -> web.Response:
    if kind is FaultKind.ERROR_503:  # as a load balancer sends it: not JSON
        return web.Response(
            status=503, text="<html><body>503 Service Unavailable</body></html>",
            content_type="text/html",
        )  # fmt: skip
    return ApiError("InternalServerException", "Internal failure (injected)").response()


async def _reset(request: web.Request) -> web.StreamResponse:
    """Read part of the body, then drop the connection without a reply."""
    if request.can_read_body:
        await request.content.read(RESET_AFTER_BYTES)
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError  # aiohttp ends the handler quietly; no reply is sent


async def _drain(request: web.Request) -> None:
    """Read and drop an unread body, so the client sees our reply, not a broken pipe."""
    if request.can_read_body and not request.content.at_eof():
        while await request.content.read(CHUNK_BYTES):
            pass


def _store_error(error: StoreError) -> ApiError:
    members: dict[str, str] = {}
    if error.resource_type:
        members = {"resourceType": error.resource_type, "resourceId": error.resource_id}
    return ApiError(error.code, error.message, **members)


# --- parameters -----------------------------------------------------------------------------

Check = names.Check


def _param(request: web.Request, name: str, check: Check, *, required: bool = True) -> str:
    value = request.query.get(name)
    if value is None:
        if required:
            raise _invalid(f"Missing required parameter: {name}")
        return ""
    problem = check(value)
    if problem is not None:
        raise _invalid(f"Invalid parameter {name}: {problem}")
    return value


def _check_format(value: object) -> str | None:
    return None if value in FORMATS else f"{value!r} is not a package format"


def _repository(request: web.Request, state: EmulatorState) -> tuple[str, str]:
    domain = _param(request, "domain", names.check_domain)
    owner = _param(request, "domain-owner", names.check_account_id, required=False)
    if owner and owner != state.store.account_id:
        # AWS answers for a domain it cannot see; which error it uses for another
        # account's domain is not documented, so the emulator says "not found".
        raise ApiError("ResourceNotFoundException", f"Domain {domain} not found",
                       resourceType="domain", resourceId=domain)  # fmt: skip
    return domain, _param(request, "repository", names.check_repository)


def _package_key(request: web.Request, state: EmulatorState) -> PackageKey:
    domain, repository = _repository(request, state)
    fmt = _param(request, "format", _check_format)
    if fmt != c.GENERIC_FORMAT:
        raise _invalid(f"This emulator serves generic packages only, not {fmt}")
    namespace = _param(request, "namespace", names.check_package_part, required=False)
    if not namespace:
        raise _invalid("namespace is required for generic packages")
    package = _param(request, "package", names.check_package_part)
    return PackageKey(domain, repository, fmt, namespace, package)


def _page(request: web.Request, items: list[T]) -> tuple[list[T], str | None]:
    """One page of `items` per `max-results` and `next-token`; the token is an offset."""
    raw_max = request.query.get("max-results", str(c.DEFAULT_PAGE_SIZE))
    if not raw_max.isdigit() or not 1 <= int(raw_max) <= c.MAX_RESULTS_LIMIT:
        raise _invalid(f"max-results must be 1 to {c.MAX_RESULTS_LIMIT}")
    start = _decode_token(request.query.get("next-token"))
    end = start + int(raw_max)
    token = _encode_token(end) if end < len(items) else None
    return items[start:end], token


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str | None) -> int:
    if token is None:
        return 0
    try:
        kind, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "offset" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise _invalid("Invalid next-token")


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _invalid("Request body is not valid JSON", "CANNOT_PARSE") from None
    if not isinstance(body, dict):
        raise _invalid("Request body must be a JSON object", "CANNOT_PARSE")
    return body


def _status(value: object, member: str) -> VersionStatus:
    status = VersionStatus.parse(value)
    if status is None:
        raise _invalid(f"{member}: {value!r} is not a package version status")
    return status


def _versions_member(body: Mapping[str, Any]) -> list[str]:
    versions = body.get("versions")
    if not isinstance(versions, list) or not versions:
        raise _invalid("versions: a non-empty list is required")
    if len(versions) > c.MAX_VERSIONS_PER_STATUS_UPDATE:
        raise _invalid(f"versions: at most {c.MAX_VERSIONS_PER_STATUS_UPDATE} per request")
    for version in versions:
        problem = names.check_package_part(version)
        if problem is not None:
            raise _invalid(f"versions: {problem}")
    return versions


# --- replies ---------------------------------------------------------------------------------


def _origin(repository: str) -> dict[str, Any]:
    return {"domainEntryPoint": {"repositoryName": repository}, "originType": "INTERNAL"}


def _version_summary(key: PackageKey, row: VersionRow) -> dict[str, Any]:
    return {
        "version": row.version,
        "revision": row.revision,
        "status": row.status.value,
        "origin": _origin(key.repository),
    }


def _asset_summary(name: str, digests: Digests) -> dict[str, Any]:
    return {"name": name, "size": digests.size_bytes, "hashes": digests.hashes()}


def _statuses_reply(
    done: dict[str, VersionRow], failed: dict[str, tuple[str, str]]
) -> web.Response:
    return web.json_response({
        "successfulVersions": {
            v: {"revision": row.revision, "status": row.status.value} for v, row in done.items()
        },
        "failedVersions": {
            v: {"errorCode": code, "errorMessage": msg} for v, (code, msg) in failed.items()
        },
    })  # fmt: skip


# --- operations -------------------------------------------------------------------------------


async def create_domain(request: web.Request, state: EmulatorState) -> web.Response:
    domain = _param(request, "domain", names.check_domain)
    await _json_body(request)
    return web.json_response({"domain": await state.db(state.store.create_domain, domain)})


async def describe_domain(request: web.Request, state: EmulatorState) -> web.Response:
    domain = _param(request, "domain", names.check_domain)
    return web.json_response({"domain": await state.db(state.store.describe_domain, domain)})


async def create_repository(request: web.Request, state: EmulatorState) -> web.Response:
    domain, repository = _repository(request, state)
    description = str((await _json_body(request)).get("description", ""))
    reply = await state.db(state.store.create_repository, domain, repository, description)
    return web.json_response({"repository": reply})


async def describe_repository(request: web.Request, state: EmulatorState) -> web.Response:
    domain, repository = _repository(request, state)
    reply = await state.db(state.store.describe_repository, domain, repository)
    return web.json_response({"repository": reply})


@dataclass(frozen=True)
class _Publish:
    key: PackageKey
    version: str
    asset: str
    sha256: str
    unfinished: bool


def _publish_params(request: web.Request, state: EmulatorState) -> _Publish:
    key = _package_key(request, state)
    version = _param(request, "version", names.check_package_part)
    asset = _param(request, "asset", names.check_asset_name)
    sha256 = request.headers.get("x-amz-content-sha256", "")
    problem = names.check_sha256(sha256)
    if problem is not None:
        raise _invalid(f"Invalid header x-amz-content-sha256: {problem}")
    unfinished = request.query.get("unfinished", "false")
    if unfinished not in ("true", "false"):
        raise _invalid("unfinished must be true or false")
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
        "asset": _asset_summary(params.asset, digests),
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
    await state.db(state.store.check_publish, params.key, params.version)
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
        raise _invalid(
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


async def update_package_versions_status(
    request: web.Request, state: EmulatorState
) -> web.Response:
    key = _package_key(request, state)
    body = await _json_body(request)
    versions = _versions_member(body)
    if "targetStatus" not in body:
        raise _invalid("targetStatus is required")
    target = _status(body["targetStatus"], "targetStatus")
    if target not in ALLOWED_TARGETS:
        raise _invalid(f"targetStatus: cannot set a package version to {target}")
    expected = body.get("expectedStatus")
    revisions = body.get("versionRevisions") or {}
    if not isinstance(revisions, dict):
        raise _invalid("versionRevisions must be a map of version to revision")
    done, failed = await state.db(
        state.store.update_status, key, versions, target=target,
        expected=None if expected is None else _status(expected, "expectedStatus"),
        revisions=revisions,
    )  # fmt: skip
    return _statuses_reply(done, failed)


async def describe_package_version(request: web.Request, state: EmulatorState) -> web.Response:
    key = _package_key(request, state)
    version = _param(request, "version", names.check_package_part)
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
            "origin": _origin(key.repository),
        }
    })  # fmt: skip


async def list_packages(request: web.Request, state: EmulatorState) -> web.Response:
    domain, repository = _repository(request, state)
    fmt = _param(request, "format", _check_format, required=False)
    namespace = _param(request, "namespace", names.check_package_part, required=False)
    prefix = _param(request, "package-prefix", names.check_package_part, required=False)
    rows = await state.db(state.store.list_packages, domain, repository)
    rows = [
        r for r in rows
        if (not fmt or r[0] == fmt) and (not namespace or r[1] == namespace)
        and r[2].startswith(prefix)
    ]  # fmt: skip
    page, token = _page(request, rows)
    restrictions = {"publish": "ALLOW", "upstream": "BLOCK"}
    packages = [
        {"format": f, "namespace": ns, "package": p,
         "originConfiguration": {"restrictions": restrictions}}
        for f, ns, p in page
    ]  # fmt: skip
    return web.json_response({"packages": packages, **_token(token)})


def _token(token: str | None) -> dict[str, str]:
    return {} if token is None else {"nextToken": token}


async def list_package_versions(request: web.Request, state: EmulatorState) -> web.Response:
    key = _package_key(request, state)
    status = request.query.get("status")
    rows = await state.db(state.store.list_versions, key)
    if status is not None:
        rows = [r for r in rows if r.status is _status(status, "status")]
    if request.query.get("sortBy") == "PUBLISHED_TIME":
        rows.sort(key=lambda r: r.published_s, reverse=True)
    page, token = _page(request, rows)
    published = [r for r in rows if r.status is VersionStatus.PUBLISHED]
    reply: dict[str, Any] = {
        "format": key.format,
        "namespace": key.namespace,
        "package": key.package,
        "versions": [_version_summary(key, r) for r in page],
        **_token(token),
    }
    if published:  # the service's default display version is the latest published one
        reply["defaultDisplayVersion"] = max(published, key=lambda r: r.published_s).version
    return web.json_response(reply)


async def list_package_version_assets(request: web.Request, state: EmulatorState) -> web.Response:
    key = _package_key(request, state)
    version = _param(request, "version", names.check_package_part)
    row, assets = await state.db(state.store.list_assets, key, version)
    page, token = _page(request, assets)
    return web.json_response({
        "format": key.format,
        "namespace": key.namespace,
        "package": key.package,
        "version": version,
        "versionRevision": row.revision,
        "assets": [_asset_summary(a.name, a.digests) for a in page],
        **_token(token),
    })  # fmt: skip


async def get_package_version_asset(
    request: web.Request, state: EmulatorState
) -> web.StreamResponse:
    key = _package_key(request, state)
    version = _param(request, "version", names.check_package_part)
    asset = _param(request, "asset", names.check_asset_name)
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
    key = _package_key(request, state)
    body = await _json_body(request)
    versions = _versions_member(body)
    expected = body.get("expectedStatus")
    done, failed = await state.db(
        state.store.delete_versions, key, versions,
        expected=None if expected is None else _status(expected, "expectedStatus"),
    )  # fmt: skip
    return _statuses_reply(done, failed)


HANDLERS: Final[dict[str, Handler]] = {
    "CreateDomain": create_domain,
    "DescribeDomain": describe_domain,
    "CreateRepository": create_repository,
    "DescribeRepository": describe_repository,
    "PublishPackageVersion": publish_package_version,
    "UpdatePackageVersionsStatus": update_package_versions_status,
    "DescribePackageVersion": describe_package_version,
    "ListPackages": list_packages,
    "ListPackageVersions": list_package_versions,
    "ListPackageVersionAssets": list_package_version_assets,
    "GetPackageVersionAsset": get_package_version_asset,
    "DeletePackageVersions": delete_package_versions,
}

# (method, path) -> operation name, for the operations implemented here (from the model).
OPERATIONS: Final = routes.places(set(HANDLERS))
