"""The JSON shapes of the service's replies, and paging through lists.

Summaries of versions and assets, the successful/failed map of batch status changes, and
the `max-results`/`next-token` paging every list operation shares (a token is an offset).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web

from uploader import constants as c
from uploader.emulator.errors import invalid
from uploader.emulator.records import Digests, PackageKey, VersionRow

T = TypeVar("T")


def page(request: web.Request, items: list[T]) -> tuple[list[T], str | None]:
    """One page of `items` per the query's `max-results` and `next-token`."""
    raw_max = request.query.get("max-results", str(c.DEFAULT_PAGE_SIZE))
    if not raw_max.isdigit():
        raise invalid(f"max-results must be 1 to {c.MAX_RESULTS_LIMIT}")
    return page_of(items, int(raw_max), request.query.get("next-token"))


def body_page(body: Mapping[str, Any], items: list[T]) -> tuple[list[T], str | None]:
    """One page of `items` per the body's `maxResults` and `nextToken` (ListDomains has
    them in its JSON body, not its query)."""
    max_results = body.get("maxResults", c.DEFAULT_PAGE_SIZE)
    token = body.get("nextToken")
    if not isinstance(max_results, int) or isinstance(max_results, bool):
        raise invalid(f"maxResults must be 1 to {c.MAX_RESULTS_LIMIT}")
    if token is not None and not isinstance(token, str):
        raise invalid("Invalid nextToken")
    return page_of(items, max_results, token)


def page_of(items: list[T], max_results: int, token: str | None) -> tuple[list[T], str | None]:
    """One page of `items`: at most `max_results` from the offset `token` encodes."""
    if not 1 <= max_results <= c.MAX_RESULTS_LIMIT:
        raise invalid(f"max-results must be 1 to {c.MAX_RESULTS_LIMIT}")
    start = _decode_token(token)
    end = start + max_results
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
