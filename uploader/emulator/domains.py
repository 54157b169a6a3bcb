"""The operations on domains and repositories: create, describe, update, list, delete, and
GetRepositoryEndpoint.

Each handler reads its request (`params`), makes one call to the store's `Catalog` (or the
`Store`, when packages go with a repository) on the store's thread and answers in the
service's shape. The rules (quotas, upstreams, what may be deleted) are the catalog's.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from uploader import names
from uploader.emulator import params, replies
from uploader.emulator.errors import invalid
from uploader.emulator.state import EmulatorState

ENDPOINT_TYPES: Final = ("ipv4", "dualstack")  # EndpointType in the model


async def create_domain(request: web.Request, state: EmulatorState) -> web.Response:
    domain = params.param(request, "domain", names.check_domain)
    await params.json_body(request)
    reply = await state.db(state.store.catalog.create_domain, domain)
    return web.json_response({"domain": reply})


async def describe_domain(request: web.Request, state: EmulatorState) -> web.Response:
    domain = params.domain(request, state)
    reply = await state.db(state.store.catalog.describe_domain, domain)
    return web.json_response({"domain": reply})


async def list_domains(request: web.Request, state: EmulatorState) -> web.Response:
    body = await params.json_body(request)
    domains = await state.db(state.store.catalog.list_domains)
    page, token = replies.body_page(body, domains)
    return web.json_response({"domains": page, **replies.next_token(token)})


async def delete_domain(request: web.Request, state: EmulatorState) -> web.Response:
    domain = params.domain(request, state)
    reply = await state.db(state.store.catalog.delete_domain, domain)
    return web.json_response({"domain": reply})


async def create_repository(request: web.Request, state: EmulatorState) -> web.Response:
    domain, repository = params.repository(request, state)
    body = await params.json_body(request)
    description = str(body.get("description", ""))
    upstreams = params.upstreams(body, repository) or []
    reply = await state.db(
        state.store.catalog.create_repository, domain, repository, description, upstreams
    )
    return web.json_response({"repository": reply})


async def update_repository(request: web.Request, state: EmulatorState) -> web.Response:
    domain, repository = params.repository(request, state)
    body = await params.json_body(request)
    description = body.get("description")
    reply = await state.db(
        lambda: state.store.catalog.update_repository(
            domain, repository,
            description=None if description is None else str(description),
            upstreams=params.upstreams(body, repository),
        )
    )  # fmt: skip
    return web.json_response({"repository": reply})


async def describe_repository(request: web.Request, state: EmulatorState) -> web.Response:
    domain, repository = params.repository(request, state)
    reply = await state.db(state.store.catalog.describe_repository, domain, repository)
    return web.json_response({"repository": reply})


async def delete_repository(request: web.Request, state: EmulatorState) -> web.Response:
    domain, repository = params.repository(request, state)
    reply = await state.db(state.store.delete_repository, domain, repository)
    return web.json_response({"repository": reply})


async def list_repositories(request: web.Request, state: EmulatorState) -> web.Response:
    prefix = params.param(request, "repository-prefix", _check_prefix, required=False)
    found = await state.db(state.store.catalog.list_repositories, None, prefix)
    page, token = replies.page(request, found)
    return web.json_response({"repositories": page, **replies.next_token(token)})


async def list_repositories_in_domain(request: web.Request, state: EmulatorState) -> web.Response:
    domain = params.domain(request, state)
    prefix = params.param(request, "repository-prefix", _check_prefix, required=False)
    admin = params.param(request, "administrator-account", names.check_account_id, required=False)
    found = await state.db(state.store.catalog.list_repositories, domain, prefix)
    if admin and admin != state.store.account_id:  # one account administers everything
        found = []
    page, token = replies.page(request, found)
    return web.json_response({"repositories": page, **replies.next_token(token)})


async def get_repository_endpoint(request: web.Request, state: EmulatorState) -> web.Response:
    """The repository's endpoint for a format, under the emulator's own base URL.

    AWS answers `https://DOMAIN-OWNER.d.codeartifact.REGION.amazonaws.com/FORMAT/REPO/`;
    the emulator has one host, so the domain goes in the path instead:
    `BASE/DOMAIN/FORMAT/REPO/`. The emulator serves no package manager's protocol there:
    the URL is for clients that only record or print it.
    """
    domain, repository = params.repository(request, state)
    fmt = params.param(request, "format", params.check_format)
    endpoint_type = request.query.get("endpointType")
    if endpoint_type is not None and endpoint_type not in ENDPOINT_TYPES:
        raise invalid(f"endpointType: {endpoint_type!r} is not ipv4 or dualstack")
    await state.db(state.store.require_repository, domain, repository)
    base = str(request.url.origin())
    return web.json_response({"repositoryEndpoint": f"{base}/{domain}/{fmt}/{repository}/"})


def _check_prefix(value: object) -> str | None:
    """A repository-prefix: any leading part of a repository name (one character too)."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    return names.check_repository(value if len(value) > 1 else value + "x")
