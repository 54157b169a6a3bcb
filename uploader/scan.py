"""`uploader scan`: build a JSON Lines manifest from a folder tree, such as a repository export.

A *layout* names what each folder level below DIR means, e.g. the default
`{namespace}/{package}/{version}/`. Every file below a version's folder, in subfolders
too, is one of that version's assets. `scan` walks the tree and yields a `ScannedVersion`
per version and a `ScanProblem` for everything it has to leave out; `write_jsonl` writes
the versions as manifest lines that `uploader run` reads back unchanged.

Decisions the task leaves open:

* Layout: as `uploader.layout` parses it (re-exported here); without `{namespace}`, the
  caller gives one namespace for all.
* Asset names: the file's base name; when two files of one version share a base name
  (in different subfolders), each of them is named by its path below the version's
  folder with each `/` as `_` (`linux_app`, `mac_app`): generic packages' asset names take
  no `/` (see `uploader.names.check_asset_name`). A name outside the documented set
  (`bad:name?.txt`), or one that two files would get, is not changed: the file is reported
  with "version not written", and renaming it is the user's call.
* All or nothing per version: a version is written only if every selected file under
  its folder became an asset. A file that cannot be one (a bad name, more than
  `MAX_ASSETS_PER_VERSION` files, an unreadable subfolder, a symbolic link to a folder)
  is reported with "version not written": a published version cannot take files later.
  A version folder without selected files is left out silently.
* Problems outside versions (a file above the version level, a folder that does not fit
  the layout or whose name breaks the service's rules) are reported once per file or
  folder, with the number of files it holds, and only when it holds selected files.
* Filters (`--include`, `--exclude`) are gitignore patterns as gitignore(5) documents
  them, matched by `pathspec` over the path relative to DIR: `*` and `?` stay within one
  name, `**` spans folders, `[...]` is a class (an unclosed `[` is literal), `!` negates,
  `\\` escapes, a trailing `/` matches folders only; a pattern without `/` matches a name
  at any depth, and a pattern matching a folder matches everything in it. A file is taken
  if it is not excluded and, when there are includes, included; an excluded folder is
  not entered, so nothing below it is taken back. Names starting with `.` are skipped
  unless `hidden`. An empty pattern, or one gitignore reads as a comment or blank
  (`#x`: write `\\#x`), is refused.
* Symbolic links to files inside DIR are taken (the manifest reader resolves them); one
  that leads outside DIR is reported with "version not written", as a FIFO is, since
  `uploader run` would refuse it (`path escapes the base directory`) and so the whole
  version. Links to folders are never followed.
* Order: folders are visited in string order of the value their segment gives, so with
  the placeholders in the order namespace, package, version (the default, and any sane
  layout) versions come sorted by (namespace, package, version), as strings: `1.10`
  before `1.9`. Assets are sorted by their path below the version's folder.
* Memory is bounded by the largest folder listing plus the largest version (at most
  `MAX_ASSETS_PER_VERSION` files are kept), never by the tree.
* Paths are written relative to `output_dir` (the folder the manifest is written to),
  or absolute when a file is not below it: `uploader run` resolves them against the
  manifest's folder and refuses the absolute ones without `--allow-outside`, so write
  the manifest into DIR (pass its path in `ignore_files`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple, Protocol, TextIO

import pathspec

from uploader.constants import MAX_ASSETS_PER_VERSION
from uploader.layout import DEFAULT_LAYOUT, FIELDS, Layout, Segment
from uploader.names import check_asset_name, check_package_part

__all__ = [
    "DEFAULT_LAYOUT",
    "FIELDS",
    "NOT_WRITTEN",
    "Filters",
    "JsonlWriter",
    "Layout",
    "ManifestAsset",
    "ScanProblem",
    "ScanTotals",
    "ScannedAsset",
    "ScannedVersion",
    "Segment",
    "asset_names",
    "check_namespace",
    "file_above_versions",
    "files_skipped",
    "folder_problem",
    "scan",
    "write_jsonl",
]

NOT_WRITTEN: Final = "version not written"
"""How a problem ends when it keeps its whole version out of the manifest."""


# --- Results ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScannedAsset:
    """One file of a version: its path as written in the manifest, and its asset name."""

    path: str
    name: str

    def to_json(self) -> dict[str, object]:
        """The manifest's asset: path and name."""
        return {"path": self.path, "name": self.name}


class ManifestAsset(Protocol):
    """An asset a scan found, local (`ScannedAsset`) or in a store (`uploader.stores`)."""

    @property
    def name(self) -> str: ...
    def to_json(self) -> dict[str, object]: ...


@dataclass(frozen=True, slots=True)
class ScannedVersion:
    """One version found in the tree, ready to be a manifest line."""

    namespace: str
    package: str
    version: str
    assets: tuple[ManifestAsset, ...]

    def to_json(self) -> dict[str, object]:
        """The manifest entry: namespace, package, version and assets (as each writes itself)."""
        return {
            "namespace": self.namespace,
            "package": self.package,
            "version": self.version,
            "assets": [a.to_json() for a in self.assets],
        }


@dataclass(frozen=True, slots=True)
class ScanProblem:
    """Something left out: `str(problem) == "acme/app/1 0/: version '1 0' does not ..."`.

    `path` is relative to the scanned folder, with `/` after a folder's name.
    """

    path: str
    message: str

    def __str__(self) -> str:
        shown = self.path if self.path.isprintable() else ascii(self.path)
        return f"{shown}: {self.message}"


class ScanTotals(NamedTuple):
    """What `write_jsonl` wrote, and how many problems it passed on."""

    versions: int
    assets: int
    problems: int


def write_jsonl(
    items: Iterable[ScannedVersion | ScanProblem],
    out: TextIO,
    *,
    on_problem: Callable[[ScanProblem], object],
) -> ScanTotals:
    """Write each version as one JSON line (UTF-8 text) and hand each problem to `on_problem`."""
    writer = JsonlWriter(out, on_problem=on_problem)
    for item in items:
        writer.write(item)
    return writer.totals


class JsonlWriter:
    """`write_jsonl` one item at a time, for a scan that comes as it is listed (stores)."""

    def __init__(self, out: TextIO, *, on_problem: Callable[[ScanProblem], object]) -> None:
        self._out = out
        self._on_problem = on_problem
        self.totals = ScanTotals(0, 0, 0)

    def write(self, item: ScannedVersion | ScanProblem) -> None:
        """Write a version as a line, or hand a problem on; count either."""
        versions, assets, problems = self.totals
        if isinstance(item, ScanProblem):
            self._on_problem(item)
            self.totals = ScanTotals(versions, assets, problems + 1)
            return
        self._out.write(
            json.dumps(item.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n"
        )
        self.totals = ScanTotals(versions + 1, assets + len(item.assets), problems)


# --- Filters ---------------------------------------------------------------------------


def _spec(patterns: Sequence[str]) -> pathspec.PathSpec[pathspec.Pattern] | None:
    """The patterns as gitignore documents them (pathspec's "gitignore"), or None if none.

    pathspec reads a lone `/` as "everything" and a comment or blank line as nothing;
    given as a filter, either is a mistake, so it is refused here.
    """
    if not patterns:
        return None
    empty = [pattern for pattern in patterns if not pattern.strip("/")]
    if empty:
        raise ValueError(f"pattern {empty[0]!r} is empty")
    try:
        spec = pathspec.PathSpec.from_lines("gitignore", patterns)
    except re.error as error:  # a bracket range pathspec passes on as is, such as `[z-a]`
        raise ValueError(f"bad pattern among {list(patterns)!r}: {error}") from error
    for pattern, compiled in zip(patterns, spec.patterns, strict=True):
        if compiled.include is None:
            raise ValueError(f"pattern {pattern!r} is a comment or blank in gitignore syntax")
    return spec


class Filters:
    """The include and exclude patterns; a folder's path is matched with its final `/`.

    A walk asks each folder in turn, from the top: `skipped` prunes it, `included`
    carries down whether an include matched it or a folder above it.
    """

    def __init__(self, include: Sequence[str], exclude: Sequence[str], hidden: bool) -> None:
        self._include = _spec(include)
        self._exclude = _spec(exclude)
        self._hidden = hidden

    def skipped(self, name: str, path: str) -> bool:
        """Hidden or excluded: pruned without a word (so nothing below is taken back)."""
        if name.startswith(".") and not self._hidden:
            return True
        return self._exclude is not None and self._exclude.match_file(path)

    def included(self, path: str, by_folder: bool) -> bool:
        """Its own last matching include decides; else a folder above it; else no includes."""
        if self._include is None:
            return True
        decided = self._include.check_file(path).include
        return by_folder if decided is None else decided


# --- Walking ---------------------------------------------------------------------------


class _Kind(enum.Enum):
    FOLDER = "folder"
    FILE = "file"
    LINKED_FOLDER = "a symbolic link to a folder, not followed"
    OTHER = "not a regular file"


def _kind(entry: os.DirEntry[str]) -> _Kind:
    try:
        if entry.is_dir(follow_symlinks=False):
            return _Kind.FOLDER
        if entry.is_file():
            return _Kind.FILE
        return _Kind.LINKED_FOLDER if entry.is_dir() else _Kind.OTHER
    except OSError:
        return _Kind.OTHER


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept as surrogates by os.scandir
        return False
    return True


def _listing(folder: str) -> list[os.DirEntry[str]] | OSError:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError as error:
        return error


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def files_skipped(count: int) -> str:
    """`3 files skipped`: how a problem about a folder says what it keeps out."""
    return f"{count} file{'' if count == 1 else 's'} skipped"


class _Place(NamedTuple):
    """A folder being walked: its absolute path, its path below the root, and its state."""

    path: str
    rel: str  # "" for the root, else ends with "/"
    included: bool  # by an include pattern matching this folder or one above


class _Found(NamedTuple):
    """One selected file of a version: its path below the version folder, and below the root."""

    below: str
    rel: str


@dataclass
class _Tally:
    """The files below a folder: how many, the first `keep` of them, and how many problems."""

    keep: int
    found: list[_Found] = dataclasses.field(default_factory=list)
    count: int = 0
    problems: int = 0

    def add(self, file: _Found) -> None:
        self.count += 1
        if len(self.found) < self.keep:
            self.found.append(file)


def scan(
    root: Path,
    *,
    layout: Layout,
    output_dir: Path,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    namespace: str | None = None,
    hidden: bool = False,
    ignore_files: Collection[Path] = (),
) -> Iterator[ScannedVersion | ScanProblem]:
    """Walk `root` and yield each version found, and each problem, in a stable order.

    Checks its arguments at once (ValueError, NotADirectoryError) and then walks lazily.

    Args:
        layout: which folder levels hold the namespace, package and version.
        output_dir: the folder the manifest will be written to; asset paths are written
            relative to it, or absolute when outside it.
        include, exclude: globs over the path relative to `root`; exclude wins.
        namespace: the namespace of every version, when the layout has no `{namespace}`.
        hidden: also take files and folders whose names start with `.`.
        ignore_files: files never taken, such as the manifest being written into `root`.
    """
    check_namespace(layout, namespace)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    walker = _Walker(root, layout, output_dir, Filters(include, exclude, hidden), namespace)
    walker.ignore(ignore_files)
    return walker.walk()


def check_namespace(layout: Layout, namespace: str | None) -> None:
    """ValueError unless the namespace comes from the layout or is given, not both."""
    if "namespace" in layout.fields:
        if namespace is not None:
            raise ValueError(f"layout {str(layout)!r} gives the namespace; do not give one too")
        return
    if namespace is None:
        raise ValueError(f"layout {str(layout)!r} has no {{namespace}}: give the namespace")
    reason = check_package_part(namespace)
    if reason:
        raise ValueError(f"namespace {reason}")


class _Walker:
    """One scan: the walk down the layout's levels, then each version's files."""

    def __init__(
        self,
        root: Path,
        layout: Layout,
        output_dir: Path,
        filters: Filters,
        namespace: str | None,
    ) -> None:
        self._root = os.path.realpath(root)
        self._root_prefix = os.path.join(self._root, "")
        self._out_prefix = os.path.join(os.path.realpath(output_dir), "")
        self._layout = layout
        self._filters = filters
        self._fixed = {} if namespace is None else {"namespace": namespace}
        self._ignored: set[str] = set()

    def ignore(self, files: Iterable[Path]) -> None:
        """Never take these files (by their real path), e.g. the manifest being written."""
        for file in files:
            real = os.path.realpath(file)
            if real.startswith(self._root_prefix):
                self._ignored.add(real[len(self._root_prefix) :].replace(os.sep, "/"))

    def walk(self) -> Iterator[ScannedVersion | ScanProblem]:
        """Everything found, in order."""
        yield from self._level(_Place(self._root, "", included=False), 0, self._fixed)

    # --- the layout's levels ---

    def _level(
        self, place: _Place, depth: int, values: dict[str, str]
    ) -> Iterator[ScannedVersion | ScanProblem]:
        listing = _listing(place.path)
        if isinstance(listing, OSError):
            yield ScanProblem(place.rel, f"cannot be read ({_reason(listing)}); skipped")
            return
        segment = self._layout.segments[depth]
        for entry in sorted(listing, key=lambda e: _order(segment, e.name)):
            rel, kind = place.rel + entry.name, _kind(entry)
            path = rel + "/" if kind is _Kind.FOLDER else rel
            if self._filters.skipped(entry.name, path):
                continue
            child = _Place(entry.path, rel + "/", self._filters.included(path, place.included))
            if kind is _Kind.FOLDER:
                yield from self._folder(child, depth, values)
            elif child.included and rel not in self._ignored:
                yield ScanProblem(rel, self._out_of_layout(kind, segment))

    def _out_of_layout(self, kind: _Kind, segment: Segment) -> str:
        if kind is _Kind.FILE:
            return file_above_versions(self._layout, segment)
        return f"{kind.value}; skipped"

    def _folder(
        self, place: _Place, depth: int, values: dict[str, str]
    ) -> Iterator[ScannedVersion | ScanProblem]:
        name = place.rel[:-1].rpartition("/")[2]
        segment = self._layout.segments[depth]
        reason = folder_problem(self._layout, segment, name)
        if reason is not None:
            count = self._count(place)
            if count:
                yield ScanProblem(place.rel, f"{reason}; {files_skipped(count)}")
            return
        if segment.field is not None:
            values = {**values, segment.field: segment.value(name) or ""}
        if depth + 1 < len(self._layout.segments):
            yield from self._level(place, depth + 1, values)
        else:
            yield from self._version(place, values)

    def _count(self, place: _Place) -> int:
        """The selected files below a folder that is left out, for the problem's message."""
        tally = _Tally(keep=0)
        for _ in self._collect(place, tally):
            pass  # problems below a folder already reported are not reported again
        return tally.count

    # --- a version's files ---

    def _version(
        self, place: _Place, values: dict[str, str]
    ) -> Iterator[ScannedVersion | ScanProblem]:
        tally = _Tally(keep=MAX_ASSETS_PER_VERSION)
        yield from self._collect(place, tally)
        if tally.count > MAX_ASSETS_PER_VERSION:
            message = f"{tally.count} files; a version takes at most {MAX_ASSETS_PER_VERSION}"
            yield ScanProblem(place.rel, f"{message}; {NOT_WRITTEN}")
            return
        assets, bad = self._assets(sorted(tally.found))
        yield from bad
        if assets and not tally.problems and not bad:
            yield ScannedVersion(values["namespace"], values["package"], values["version"], assets)

    def _collect(self, top: _Place, tally: _Tally) -> Iterator[ScanProblem]:
        """Count the selected files below `top`, keep the first few, yield what cannot be one."""
        stack = [top]
        while stack:
            place = stack.pop()
            listing = _listing(place.path)
            if isinstance(listing, OSError):
                tally.problems += 1
                yield self._file_problem(place.rel, f"cannot be read ({_reason(listing)})")
                continue
            folders: list[_Place] = []
            for entry in sorted(listing, key=lambda e: e.name):
                problem = self._sift(top, place, entry, tally, folders)
                if problem is not None:
                    tally.problems += 1
                    yield problem
            stack.extend(reversed(folders))

    def _sift(
        self,
        top: _Place,
        place: _Place,
        entry: os.DirEntry[str],
        tally: _Tally,
        folders: list[_Place],
    ) -> ScanProblem | None:
        """Take one entry below a version: a file found, a subfolder to visit, or a problem."""
        rel, kind = place.rel + entry.name, _kind(entry)
        path = rel + "/" if kind is _Kind.FOLDER else rel
        if self._filters.skipped(entry.name, path):
            return None
        included = self._filters.included(path, place.included)
        if kind is _Kind.FOLDER:
            folders.append(_Place(entry.path, rel + "/", included))
            return None
        if not included or rel in self._ignored:
            return None
        if kind is not _Kind.FILE:
            return self._file_problem(rel, kind.value)
        if not _is_utf8(entry.name):
            return self._file_problem(rel, "the name is not valid UTF-8")
        if entry.is_symlink() and self._outside(entry.path):
            return self._file_problem(rel, "a symbolic link to a file outside the scanned folder")
        tally.add(_Found(rel[len(top.rel) :], rel))
        return None

    def _outside(self, path: str) -> bool:
        """Whether a link leads out of the scanned folder (`run` would refuse the version)."""
        return not os.path.realpath(path).startswith(self._root_prefix)

    def _file_problem(self, rel: str, reason: str) -> ScanProblem:
        return ScanProblem(rel, f"{reason}; {NOT_WRITTEN}")

    def _assets(self, found: list[_Found]) -> tuple[tuple[ScannedAsset, ...], list[ScanProblem]]:
        """Name each file (`asset_names`); a name that cannot be one is a problem."""
        assets: list[ScannedAsset] = []
        problems: list[ScanProblem] = []
        for file, (name, reason) in zip(found, asset_names([f.below for f in found]), strict=True):
            if reason is not None:
                problems.append(self._file_problem(file.rel, reason))
            assets.append(ScannedAsset(self._manifest_path(file.rel), name))
        return tuple(assets), problems

    def _manifest_path(self, rel: str) -> str:
        absolute = self._root_prefix + rel
        if absolute.startswith(self._out_prefix):
            return absolute[len(self._out_prefix) :]
        return absolute


# --- Rules shared with the scans of stores (uploader.stores.listing) --------------------


def folder_problem(layout: Layout, segment: Segment, name: str) -> str | None:
    """Why folder `name` at `segment`'s level is left out (with all below it), or None."""
    if not _is_utf8(name):
        return "the name is not valid UTF-8"
    value = segment.value(name)
    if value is None:
        return f"does not fit layout {str(layout)!r}: not {str(segment)!r}"
    if segment.field is None:
        return None
    reason = check_package_part(value)
    return None if reason is None else f"{segment.field} {reason}"


def file_above_versions(layout: Layout, segment: Segment) -> str:
    """The problem of a file where the layout expects folder `segment`."""
    return f"a file where layout {str(layout)!r} expects a folder {str(segment)!r}"


def asset_names(belows: Sequence[str]) -> list[tuple[str, str | None]]:
    """Each file's asset name, and why it cannot be one (None if it can).

    `belows` are the version's files by their paths below its folder. A name is the
    base name, or the path with each `/` as `_` when two files share a base name.
    """
    bases = Counter(below.rpartition("/")[2] for below in belows)
    names = [_asset_name(below, bases) for below in belows]
    taken = Counter(names)
    named: list[tuple[str, str | None]] = []
    for name in names:
        reason = check_asset_name(name)
        if reason is None and taken[name] > 1:
            reason = f"{name!r} is the name of another file of this version too"
        named.append((name, None if reason is None else f"asset name {reason}"))
    return named


def _asset_name(below: str, bases: Counter[str]) -> str:
    base = below.rpartition("/")[2]
    return base if bases[base] == 1 else below.replace("/", "_")


def _order(segment: Segment, name: str) -> tuple[int, str, str]:
    """Folders that fit the segment first, by the value they give; then the rest by name."""
    value = segment.value(name)
    return (0, value, name) if value is not None else (1, name, "")
