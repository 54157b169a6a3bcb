"""Reading a request: its query members, each checked (`uploader.names`), and its JSON body.

A reader raises the service's ValidationException (`errors.invalid`) for a value the
service would refuse, so a handler holds only checked values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from uploader import constants as c
from uploader import names
from uploader.domain import VersionStatus
from uploader.emulator.catalog import MAX_UPSTREAMS
from uploader.emulator.errors import ApiError, invalid
from uploader.emulator.records import RESTRICTION_VALUES, OriginRestrictions, PackageKey
from uploader.emulator.state import EmulatorState

CHUNK_BYTES: Final = 1024 * 1024  # how much of a request body is read at once
FORMATS: Final = ("npm", "pypi", "maven", "nuget", "generic", "ruby", "swift", "cargo")

Check = names.Check


def param(request: web.Request, name: str, check: Check, *, required: bool = True) -> str:
    value = request.query.get(name)
    if value is None:
        if required:
            raise invalid(f"Missing required parameter: {name}")
        return ""
    problem = check(value)
    if problem is not None:
        raise invalid(f"Invalid parameter {name}: {problem}")
    return value


def check_format(value: object) -> str | None:
    return None if value in FORMATS else f"{value!r} is not a package format"


def domain(request: web.Request, state: EmulatorState) -> str:
    """The `domain` member, of the account the emulator serves (`domain-owner`)."""
    name = param(request, "domain", names.check_domain)
    owner = param(request, "domain-owner", names.check_account_id, required=False)
    if owner and owner != state.store.account_id:
        # AWS answers for a domain it cannot see; which error it uses for another
        # account's domain is not documented, so the emulator says "not found".
        raise ApiError("ResourceNotFoundException", f"Domain {name} not found",
                       resourceType="domain", resourceId=name)  # fmt: skip
    return name


def repository(request: web.Request, state: EmulatorState) -> tuple[str, str]:
    return domain(request, state), param(request, "repository", names.check_repository)


def upstreams(body: Mapping[str, Any], repository_name: str) -> list[str] | None:
    """The `upstreams` member (UpstreamRepositoryList) as names, None when absent.

    At most `MAX_UPSTREAMS`, each named once and not the repository itself (a repository
    cannot be its own upstream); whether they exist is the store's to check.
    """
    value = body.get("upstreams")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(u, dict) for u in value):
        raise invalid("upstreams: a list of {repositoryName: ...} is required")
    if len(value) > MAX_UPSTREAMS:
        raise invalid(f"upstreams: at most {MAX_UPSTREAMS} upstream repositories")
    found = [u.get("repositoryName") for u in value]
    for name in found:
        problem = names.check_repository(name)
        if problem is not None:
            raise invalid(f"upstreams: repositoryName {problem}")
    if len(set(found)) < len(found):
        raise invalid("upstreams: a repository is named more than once")
    if repository_name in found:
        raise invalid(f"upstreams: {repository_name} cannot be its own upstream")
    return [str(name) for name in found]


def restrictions(body: Mapping[str, Any]) -> OriginRestrictions:
    """The `restrictions` member (PackageOriginRestrictions): both members required."""
    value = body.get("restrictions")
    if not isinstance(value, dict):
        raise invalid("restrictions: publish and upstream are required")
    members = [value.get("publish"), value.get("upstream")]
    for member, given in zip(("publish", "upstream"), members, strict=True):
        if given not in RESTRICTION_VALUES:
            raise invalid(f"restrictions.{member}: {given!r} is not ALLOW or BLOCK")
    return OriginRestrictions(str(members[0]), str(members[1]))


def package_key(request: web.Request, state: EmulatorState) -> PackageKey:
    domain, repository_name = repository(request, state)
    fmt = param(request, "format", check_format)
    if fmt != c.GENERIC_FORMAT:
        raise invalid(f"This emulator serves generic packages only, not {fmt}")
    namespace = param(request, "namespace", names.check_package_part, required=False)
    if not namespace:
        raise invalid("namespace is required for generic packages")
    package = param(request, "package", names.check_package_part)
    return PackageKey(domain, repository_name, fmt, namespace, package)


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid("Request body is not valid JSON", "CANNOT_PARSE") from None
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object", "CANNOT_PARSE")
    return body


def status(value: object, member: str) -> VersionStatus:
    status = VersionStatus.parse(value)
    if status is None:
        raise invalid(f"{member}: {value!r} is not a package version status")
    return status


def versions_member(body: Mapping[str, Any]) -> list[str]:
    versions = body.get("versions")
    if not isinstance(versions, list) or not versions:
        raise invalid("versions: a non-empty list is required")
    if len(versions) > c.MAX_VERSIONS_PER_STATUS_UPDATE:
        raise invalid(f"versions: at most {c.MAX_VERSIONS_PER_STATUS_UPDATE} per request")
    for version in versions:
        problem = names.check_package_part(version)
        if problem is not None:
            raise invalid(f"versions: {problem}")
    return versions
