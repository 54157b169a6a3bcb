"""Artifactory as a store: the storage API's file lists, walked down the layout's folders.

The deep file list of a whole repository is one reply, however large the repository;
here each level above the versions is listed on its own (`?list&deep=0&listFolders=1`)
and each folder that holds versions in one deep list (`?list&deep=1&listFolders=0&
mdTimestamps=1`), so memory holds one package's listing, never the repository. Children
are visited in key order (a folder's name with its `/`), which makes the files come in
the order `ListingScan` takes. A file's `sha2` (deployed on 5.5+ or migrated) is its
declared SHA-256, `sha1` its SHA-1; the download URL is `BASE/REPO/PATH`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from uploader.errors import FatalRemoteError
from uploader.stores.http import GuardedClient
from uploader.stores.listing import StoreFile, store_file

__all__ = ["ArtifactoryRepo", "list_artifactory"]

_LEVEL_QUERY: Final = "list&deep=0&listFolders=1&mdTimestamps=0"
_DEEP_QUERY: Final = "list&deep=1&listFolders=0&mdTimestamps=1"


@dataclass(frozen=True)
class ArtifactoryRepo:
    """`https://host/artifactory` and a repository key."""

    base: str
    repo: str

    def api(self, folder: str, query: str) -> str:
        """The storage API's URL of `folder` (relative, `""` for the root, ends with `/`)."""
        path = urllib.parse.quote(f"{self.repo}/{folder}".rstrip("/"))
        return f"{self.base.rstrip('/')}/api/storage/{path}?{query}"

    def download(self, rel: str) -> str:
        """The URL a file is downloaded from."""
        return f"{self.base.rstrip('/')}/{urllib.parse.quote(f'{self.repo}/{rel}')}"


async def list_artifactory(
    client: GuardedClient,
    where: ArtifactoryRepo,
    *,
    deep_at: int,
    pruned: Callable[[str], bool] = lambda folder: False,
) -> AsyncIterator[StoreFile]:
    """Every file of the repository in key order, as `StoreFile`s.

    Args:
        deep_at: the depth whose folders are listed deep (the layout's last folder level
            above the versions: `len(layout.segments) - 1`).
        pruned: folders (`a/b/`) not to list at all (hidden or excluded).
    """
    walk = _Walk(client, where, deep_at, pruned)
    async for file in walk.folder("", 0):
        yield file


@dataclass(frozen=True)
class _Walk:
    client: GuardedClient
    where: ArtifactoryRepo
    deep_at: int
    pruned: Callable[[str], bool]

    async def folder(self, folder: str, depth: int) -> AsyncIterator[StoreFile]:
        """The files below `folder`: listed deep at `deep_at`, else level by level."""
        if depth >= self.deep_at:
            url = self.where.api(folder, _DEEP_QUERY)
            for entry in sorted(await _files(self.client, url), key=_uri):
                yield _store_file(self.where, folder + _uri(entry).lstrip("/"), entry)
            return
        url = self.where.api(folder, _LEVEL_QUERY)
        for entry in sorted(await _files(self.client, url), key=_key):
            rel = folder + _uri(entry).strip("/")
            if entry.get("folder") is not True:
                yield _store_file(self.where, rel, entry)
            elif not self.pruned(rel + "/"):
                async for file in self.folder(rel + "/", depth + 1):
                    yield file


async def _files(client: GuardedClient, url: str) -> list[Mapping[str, object]]:
    """The reply's `files`, each with a string `uri`; a reply of another shape is fatal."""
    reply = await client.get_json(url)
    files = reply.get("files") if isinstance(reply, dict) else None
    if not isinstance(files, list) or not all(_is_entry(entry) for entry in files):
        raise FatalRemoteError(f"source: {url}: not a storage API file list")
    return files


def _is_entry(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("uri"), str)
        and bool(entry["uri"].strip("/"))
    )


def _uri(entry: Mapping[str, object]) -> str:
    return str(entry["uri"])


def _key(entry: Mapping[str, object]) -> str:
    """A child's place in key order: a folder's name sorts as `name/`."""
    name = _uri(entry).strip("/")
    return name + "/" if entry.get("folder") is True else name


def _store_file(where: ArtifactoryRepo, rel: str, entry: Mapping[str, object]) -> StoreFile:
    return store_file(
        rel,
        where.download(rel),
        size_bytes=entry.get("size"),
        sha256=entry.get("sha2"),
        sha1=entry.get("sha1"),
        last_modified=entry.get("lastModified"),
    )
