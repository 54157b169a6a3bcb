"""Nexus as a store: the REST `assets` API, page by page, put in key order.

`GET /service/rest/v1/assets?repository=R` gives a page of assets and a
`continuationToken` for the next (null on the last page). Nexus lists assets in its own
order, so the pages go into a `SortedSpool` (on disk, bounded memory) and come out in
key order once the listing ends. A token the server gave before ends the listing with a
problem (it would loop). Raw repositories declare MD5 and SHA-1, never SHA-256: the
SHA-1 is kept (`sha1`) for the download to be checked against; a `sha256` is kept only
when the server gives one. The download URL is `BASE/repository/R/PATH`.
"""

from __future__ import annotations

import asyncio
import hashlib
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Final

from uploader.errors import FatalRemoteError
from uploader.scan import ScanProblem
from uploader.stores.http import GuardedClient
from uploader.stores.listing import StoreFile, store_file
from uploader.stores.sorting import SortedSpool

__all__ = ["NexusRepo", "list_nexus"]

_ASSETS: Final = "service/rest/v1/assets"
_BATCH: Final = 1000


@dataclass(frozen=True)
class NexusRepo:
    """`https://host` (Nexus's base URL) and a repository name."""

    base: str
    repo: str

    def page(self, token: str | None) -> str:
        """The URL of the page after `token` (the first without one)."""
        query = {"repository": self.repo} | ({} if token is None else {"continuationToken": token})
        return f"{self.base.rstrip('/')}/{_ASSETS}?{urllib.parse.urlencode(query)}"

    def download(self, rel: str) -> str:
        """The URL an asset is downloaded from."""
        path = urllib.parse.quote(f"{self.repo}/{rel}")
        return f"{self.base.rstrip('/')}/repository/{path}"


async def list_nexus(
    client: GuardedClient, where: NexusRepo
) -> AsyncIterator[StoreFile | ScanProblem]:
    """Every asset of the repository in key order (after the whole listing is read)."""
    spool = SortedSpool()
    try:
        problem = await _read_pages(client, where, spool)
        if problem is not None:
            yield problem
        batches = spool.sorted_batches(_BATCH)
        done: list[StoreFile] = []
        while batch := await asyncio.to_thread(next, batches, done):
            for file in batch:
                yield file
    finally:
        spool.close()


async def _read_pages(
    client: GuardedClient, where: NexusRepo, spool: SortedSpool
) -> ScanProblem | None:
    """Every page into the spool; a problem if the server repeated a token."""
    seen: set[bytes] = set()
    token: str | None = None
    while True:
        url = where.page(token)
        items, token = _page(await client.get_json(url), url)
        files = [_store_file(where, item) for item in items]
        await asyncio.to_thread(spool.add, [f for f in files if f is not None])
        if token is None:
            return None
        digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if digest in seen:
            return ScanProblem(
                f"<{where.repo}>",
                "the server gave a continuationToken again; the listing ends there",
            )
        seen.add(digest)


def _page(reply: object, url: str) -> tuple[list[Mapping[str, object]], str | None]:
    items = reply.get("items") if isinstance(reply, dict) else None
    token = reply.get("continuationToken") if isinstance(reply, dict) else None
    if not isinstance(items, list) or not (token is None or isinstance(token, str)):
        raise FatalRemoteError(f"source: {url}: not a page of Nexus assets")
    return [item for item in items if isinstance(item, dict)], token or None


def _store_file(where: NexusRepo, item: Mapping[str, object]) -> StoreFile | None:
    path = item.get("path")
    if not isinstance(path, str) or not path.strip("/"):
        return None
    rel = path.lstrip("/")
    checksum = item.get("checksum")
    sums = checksum if isinstance(checksum, dict) else {}
    return store_file(
        rel,
        where.download(rel),
        size_bytes=item.get("fileSize"),
        sha256=sums.get("sha256"),
        sha1=sums.get("sha1"),
        last_modified=item.get("lastModified"),
    )
