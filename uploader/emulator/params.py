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
from uploader.emulator.errors import ApiError, invalid
from uploader.emulator.records import PackageKey
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


def repository(request: web.Request, state: EmulatorState) -> tuple[str, str]:
    domain = param(request, "domain", names.check_domain)
    owner = param(request, "domain-owner", names.check_account_id, required=False)
    if owner and owner != state.store.account_id:
        # AWS answers for a domain it cannot see; which error it uses for another
        # account's domain is not documented, so the emulator says "not found".
        raise ApiError("ResourceNotFoundException", f"Domain {domain} not found",
                       resourceType="domain", resourceId=domain)  # fmt: skip
    return domain, param(request, "repository", names.check_repository)


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
