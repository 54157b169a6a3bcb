"""The JSON shapes of the service's replies, and paging through lists.

Summaries of versions and assets, the successful/failed map of batch status changes, and
the `max-results`/`next-token` paging every list operation shares (a token is an offset).
"""

from __future__ import annotations

import base64
from typing import Any, TypeVar

from aiohttp import web

from uploader import constants as c
from uploader.emulator.errors import invalid
from uploader.emulator.records import Digests, PackageKey, VersionRow

T = TypeVar("T")


def page(request: web.Request, items: list[T]) -> tuple[list[T], str | None]:
    """One page of `items` per `max-results` and `next-token`; the token is an offset."""
    raw_max = request.query.get("max-results", str(c.DEFAULT_PAGE_SIZE))
    if not raw_max.isdigit() or not 1 <= int(raw_max) <= c.MAX_RESULTS_LIMIT:
        raise invalid(f"max-results must be 1 to {c.MAX_RESULTS_LIMIT}")
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
    raise invalid("Invalid next-token")


def next_token(token: str | None) -> dict[str, str]:
    """The `nextToken` member of a list reply: absent on the last page."""
    return {} if token is None else {"nextToken": token}


def origin(repository: str) -> dict[str, Any]:
    return {"domainEntryPoint": {"repositoryName": repository}, "originType": "INTERNAL"}


def version_summary(key: PackageKey, row: VersionRow) -> dict[str, Any]:
    return {
        "version": row.version,
        "revision": row.revision,
        "status": row.status.value,
        "origin": origin(key.repository),
    }


def asset_summary(name: str, digests: Digests) -> dict[str, Any]:
    return {"name": name, "size": digests.size_bytes, "hashes": digests.hashes()}


def statuses_reply(done: dict[str, VersionRow], failed: dict[str, tuple[str, str]]) -> web.Response:
    return web.json_response({
        "successfulVersions": {
            v: {"revision": row.revision, "status": row.status.value} for v, row in done.items()
        },
        "failedVersions": {
            v: {"errorCode": code, "errorMessage": msg} for v, (code, msg) in failed.items()
        },
    })  # fmt: skip
