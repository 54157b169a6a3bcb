"""The emulator's HTTP face: CodeArtifact's REST-JSON protocol as botocore's model defines it.

Routes, query and header members, JSON bodies, status codes and error shapes follow
`botocore/data/codeartifact/2018-09-22/service-2.json`. Errors carry the service's
`x-amzn-ErrorType` header and a JSON body with `message` (and the shape's other members),
which is what botocore parses into `ClientError`.

This module routes requests and runs the pipeline every request passes, in order:
authentication (403), quotas (429 with Retry-After), fault injection, then the operation.
The operations are in `handlers` (and `publish`, which streams bodies), the error shape in
`errors`; state lives in `Store`, which runs on one thread (`state.EmulatorState`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from uploader.emulator import auth, domains, handlers, packages, params, publish, routes
from uploader.emulator.errors import ApiError, invalid
from uploader.emulator.faults import FaultKind, retry_after_header
from uploader.emulator.records import StoreError
from uploader.emulator.state import EmulatorState

RESET_AFTER_BYTES: Final = 64 * 1024  # how much of a body a `reset` fault reads first
STATS_PATH: Final = "/__emulator/stats"

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
    raise ApiError(routes.NOT_IMPLEMENTED, f"not implemented by the emulator: {operation}")


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
        if (request.content_length or 0) > params.CHUNK_BYTES:
            # Only JSON bodies are hashed here; large bodies must declare their hash.
            raise invalid("Bodies over 1 MiB need an x-amz-content-sha256 header")
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
        while await request.content.read(params.CHUNK_BYTES):
            pass


def _store_error(error: StoreError) -> ApiError:
    members: dict[str, str] = {}
    if error.resource_type:
        members = {"resourceType": error.resource_type, "resourceId": error.resource_id}
    if error.reason:
        members["reason"] = error.reason
    return ApiError(error.code, error.message, **members)


HANDLERS: Final[dict[str, Handler]] = {
    "CreateDomain": domains.create_domain,
    "DescribeDomain": domains.describe_domain,
    "ListDomains": domains.list_domains,
    "DeleteDomain": domains.delete_domain,
    "CreateRepository": domains.create_repository,
    "DescribeRepository": domains.describe_repository,
    "UpdateRepository": domains.update_repository,
    "DeleteRepository": domains.delete_repository,
    "ListRepositories": domains.list_repositories,
    "ListRepositoriesInDomain": domains.list_repositories_in_domain,
    "GetRepositoryEndpoint": domains.get_repository_endpoint,
    "DescribePackage": packages.describe_package,
    "ListPackages": packages.list_packages,
    "DeletePackage": packages.delete_package,
    "PutPackageOriginConfiguration": packages.put_package_origin_configuration,
    "PublishPackageVersion": publish.publish_package_version,
    "UpdatePackageVersionsStatus": handlers.update_package_versions_status,
    "DescribePackageVersion": handlers.describe_package_version,
    "ListPackageVersions": handlers.list_package_versions,
    "ListPackageVersionAssets": handlers.list_package_version_assets,
    "GetPackageVersionAsset": handlers.get_package_version_asset,
    "DeletePackageVersions": handlers.delete_package_versions,
}

# (method, path) -> operation name, for the operations implemented here (from the model).
OPERATIONS: Final = routes.places(set(HANDLERS))
