"""A store's listing made versions: the local scan's rules over keys instead of folders.

A store lists files by key (`acme/app/1.0/app.tgz`, relative to the scanned prefix), not
folder by folder; `ListingScan` takes them in key order (code point order, which is
UTF-8 byte order, as S3 and SQLite sort) and yields what `uploader.scan.scan` would for
the same tree: a `ScannedVersion` per version folder and a `ScanProblem` for what is
left out, with the same messages. The rules themselves are `uploader.scan`'s (the
layout, `Filters`, `folder_problem`, `asset_names`); only the walk differs:

* Every key below one folder comes in one run of the listing (they share its prefix),
  so a version, or a folder that does not fit the layout, ends when a key outside it
  comes: memory holds one version (at most `MAX_ASSETS_PER_VERSION` files), never the
  store. A key out of order raises `ListingOrderError`: a version split in two would
  be written twice.
* Keys ending in `/` (the empty "folder" objects S3 consoles write) are not files.
* Versions come in key order, not sorted by the layout's values as a local scan's are.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from uploader.constants import MAX_ASSETS_PER_VERSION
from uploader.layout import Layout
from uploader.manifest.fields import etag_problem, last_modified_problem, sha1_problem
from uploader.names import check_sha256
from uploader.scan import (
    NOT_WRITTEN,
    Filters,
    ScannedVersion,
    ScanProblem,
    asset_names,
    check_namespace,
    file_above_versions,
    files_skipped,
    folder_problem,
)

__all__ = [
    "ListingOrderError",
    "ListingScan",
    "RemoteAsset",
    "StoreFile",
    "scan_listing",
    "store_file",
]

Item = ScannedVersion | ScanProblem


@dataclass(frozen=True, slots=True)
class StoreFile:
    """One file of a store's listing: its key below the scanned prefix, and what the store says.

    Declarations a manifest would refuse (a malformed hash, a time without an offset)
    are left out by the store module that makes these, not passed on.
    """

    rel: str
    url: str
    size_bytes: int | None = None
    sha256: str | None = None
    sha1: str | None = None
    etag: str | None = None
    last_modified: str | None = None


def store_file(rel: str, url: str, **declared: object) -> StoreFile:
    """A `StoreFile` with the declarations a manifest takes; the others are left out.

    `declared` are the store's words as it gave them (`size_bytes`, `sha256`, `sha1`,
    `etag`, `last_modified`): a hash is lower-cased, a value of the wrong kind dropped.
    """
    size = declared.get("size_bytes")
    return StoreFile(
        rel,
        url,
        size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        _text(declared.get("sha256"), check_sha256, lower=True),
        _text(declared.get("sha1"), sha1_problem, lower=True),
        _text(declared.get("etag"), etag_problem),
        _text(declared.get("last_modified"), last_modified_problem),
    )


def _text(
    value: object, problem: Callable[[str], str | None], *, lower: bool = False
) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.lower() if lower else value
    return None if problem(text) else text


@dataclass(frozen=True, slots=True)
class RemoteAsset:
    """An asset of a scanned version that stays in the store: its name and its file."""

    name: str
    file: StoreFile

    def to_json(self) -> dict[str, object]:
        """The manifest's asset: url, name, and each declaration the store made."""
        f = self.file
        declared = {
            "sha256": f.sha256,
            "size": f.size_bytes,
            "sha1": f.sha1,
            "etag": f.etag,
            "last_modified": f.last_modified,
        }
        return {"url": f.url, "name": self.name} | {
            k: v for k, v in declared.items() if v is not None
        }


class ListingOrderError(RuntimeError):
    """The store listed a key before one it had already given (a version would split)."""


@dataclass
class _Version:
    """A version folder being read: its prefix, its values, the first files, how many."""

    prefix: str
    values: dict[str, str]
    files: list[tuple[str, StoreFile]] = field(default_factory=list)
    count: int = 0


@dataclass
class _LeftOut:
    """A folder left out with all below it: why, and how many selected files it holds."""

    prefix: str
    reason: str
    count: int = 0


_FOLDER_MARKER: Final = "/"


class ListingScan:
    """Keys in, versions and problems out; `add` each file in key order, then `finish`.

    Args:
        layout: which folder levels hold the namespace, package and version.
        include, exclude: gitignore patterns over the key, as the local scan's.
        namespace: the namespace of every version, when the layout has no `{namespace}`.
        hidden: also take files and folders whose names start with `.`.
    """

    def __init__(
        self,
        layout: Layout,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        namespace: str | None = None,
        hidden: bool = False,
    ) -> None:
        check_namespace(layout, namespace)
        self._layout = layout
        self._filters = Filters(include, exclude, hidden)
        self._fixed = {} if namespace is None else {"namespace": namespace}
        self._open: _Version | _LeftOut | None = None
        self._last = ""

    @property
    def deep_at(self) -> int:
        """The depth of the folders that hold versions (`{package}/` in the default layout)."""
        return len(self._layout.segments) - 1

    def pruned(self, folder: str) -> bool:
        """Whether nothing below `folder` (`a/b/`) can be taken: hidden or excluded."""
        name = folder.rstrip("/").rpartition("/")[2]
        return self._filters.skipped(name, folder)

    def add(self, file: StoreFile) -> Iterator[Item]:
        """Take the next file of the listing; yield what it ends (and its own problem)."""
        rel = file.rel
        if not rel or rel.endswith(_FOLDER_MARKER):
            return
        if rel <= self._last:
            raise ListingOrderError(f"the store listed {rel!r} after {self._last!r}")
        self._last = rel
        parts = rel.split("/")
        if not self._selected(parts):
            return
        if self._open is not None and rel.startswith(self._open.prefix):
            self._take(self._open, file)
            return
        yield from self.finish()
        placed = self._place(parts)
        if isinstance(placed, ScanProblem):
            yield placed
            return
        self._open = placed
        self._take(placed, file)

    def finish(self) -> Iterator[Item]:
        """Yield what the open version or left-out folder comes to; the listing has ended."""
        ended, self._open = self._open, None
        if isinstance(ended, _LeftOut):
            yield ScanProblem(ended.prefix, f"{ended.reason}; {files_skipped(ended.count)}")
        elif ended is not None:
            yield from self._version(ended)

    def _selected(self, parts: list[str]) -> bool:
        """Whether the filters take this key, asking each folder above it in turn."""
        included = False
        last = len(parts) - 1
        for depth, name in enumerate(parts):
            path = "/".join(parts[: depth + 1]) + ("/" if depth < last else "")
            if self._filters.skipped(name, path):
                return False
            included = self._filters.included(path, included)
        return included

    def _place(self, parts: list[str]) -> _Version | _LeftOut | ScanProblem:
        """The version folder the key is in, the folder that keeps it out, or its problem."""
        segments = self._layout.segments
        values = dict(self._fixed)
        for depth in range(min(len(parts) - 1, len(segments))):
            segment, name = segments[depth], parts[depth]
            reason = folder_problem(self._layout, segment, name)
            if reason is not None:
                return _LeftOut("/".join(parts[: depth + 1]) + "/", reason)
            if segment.field is not None:
                values[segment.field] = segment.value(name) or ""
        if len(parts) - 1 < len(segments):
            return ScanProblem(
                "/".join(parts), file_above_versions(self._layout, segments[len(parts) - 1])
            )
        return _Version("/".join(parts[: len(segments)]) + "/", values)

    @staticmethod
    def _take(into: _Version | _LeftOut, file: StoreFile) -> None:
        into.count += 1
        if isinstance(into, _Version) and len(into.files) < MAX_ASSETS_PER_VERSION:
            into.files.append((file.rel[len(into.prefix) :], file))

    @staticmethod
    def _version(version: _Version) -> Iterator[Item]:
        if version.count > MAX_ASSETS_PER_VERSION:
            message = f"{version.count} files; a version takes at most {MAX_ASSETS_PER_VERSION}"
            yield ScanProblem(version.prefix, f"{message}; {NOT_WRITTEN}")
            return
        named = asset_names([below for below, _ in version.files])
        bad = [
            ScanProblem(file.rel, f"{reason}; {NOT_WRITTEN}")
            for (_, file), (_, reason) in zip(version.files, named, strict=True)
            if reason is not None
        ]
        if bad:
            yield from bad
            return
        assets = tuple(
            RemoteAsset(name, file)
            for (_, file), (name, _) in zip(version.files, named, strict=True)
        )
        values = version.values
        yield ScannedVersion(values["namespace"], values["package"], values["version"], assets)


async def scan_listing(
    files: AsyncIterable[StoreFile | ScanProblem], scanner: ListingScan
) -> AsyncIterator[Item]:
    """The versions and problems of a listing, as it comes; a store's own problems pass on."""
    async for file in files:
        if isinstance(file, ScanProblem):
            yield file
            continue
        for item in scanner.add(file):
            yield item
    for item in scanner.finish():
        yield item
