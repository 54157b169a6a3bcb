"""The operations on whole packages: DescribePackage, ListPackages, DeletePackage and
PutPackageOriginConfiguration (origin controls).

A package exists while it has versions or an origin configuration (PutPackageOriginConfiguration
creates one with no versions, as AWS documents). Its restrictions are AWS's default for a
package first published directly (publish=ALLOW, upstream=BLOCK) until they are set; a
package whose publish is BLOCK refuses PublishPackageVersion (`Store._check_publish_allowed`
says with which error, and why).
"""

from __future__ import annotations

from aiohttp import web

from uploader import names
from uploader.emulator import params, replies
from uploader.emulator.records import RESTRICTION_VALUES
from uploader.emulator.state import EmulatorState


async def describe_package(request: web.Request, state: EmulatorState) -> web.Response:
    key = params.package_key(request, state)
    row = await state.db(state.store.describe_package, key)
    return web.json_response({
        "package": {
            "format": row.format,
            "namespace": row.namespace,
            "name": row.package,
            "originConfiguration": row.restrictions.to_json(),
        }
    })  # fmt: skip


async def list_packages(request: web.Request, state: EmulatorState) -> web.Response:
    domain, repository = params.repository(request, state)
    fmt = params.param(request, "format", params.check_format, required=False)
    namespace = params.param(request, "namespace", names.check_package_part, required=False)
    prefix = params.param(request, "package-prefix", names.check_package_part, required=False)
    publish = params.param(request, "publish", _check_restriction, required=False)
    upstream = params.param(request, "upstream", _check_restriction, required=False)
    rows = await state.db(state.store.list_packages, domain, repository)
    rows = [
        r for r in rows
        if (not fmt or r.format == fmt) and (not namespace or r.namespace == namespace)
        and r.package.startswith(prefix)
        and (not publish or r.restrictions.publish == publish)
        and (not upstream or r.restrictions.upstream == upstream)
    ]  # fmt: skip
    page, token = replies.page(request, rows)
    packages = [row.summary() for row in page]
    return web.json_response({"packages": packages, **replies.next_token(token)})


async def delete_package(request: web.Request, state: EmulatorState) -> web.Response:
    key = params.package_key(request, state)
    row = await state.db(state.store.delete_package, key)
    return web.json_response({"deletedPackage": row.summary()})


async def put_package_origin_configuration(
    request: web.Request, state: EmulatorState
) -> web.Response:
    key = params.package_key(request, state)
    restrictions = params.restrictions(await params.json_body(request))
    row = await state.db(state.store.put_origin_configuration, key, restrictions)
    return web.json_response({"originConfiguration": row.restrictions.to_json()})


def _check_restriction(value: object) -> str | None:
    return None if value in RESTRICTION_VALUES else f"{value!r} is not ALLOW or BLOCK"
