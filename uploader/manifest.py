"""The manifest: which versions to publish, with which assets, read as a stream of checked specs.

Formats, chosen by the file's extension:

    .yaml / .yml       a mapping with `versions` (a list) and optional `defaults`
    .json              the same mapping in JSON
    .jsonl / .ndjson   one version object per line; blank lines are skipped
    -                  JSON Lines from stdin
    anything else      sniffed: a first non-blank line holding one `{...}` object that is
                       not a whole manifest (no `versions` key) means JSON Lines, else YAML

`read_manifest` yields, in manifest order, a `VersionSpec` for each valid entry and every
`Problem` of each invalid one, so `uploader validate` can report them all in one run. JSON
Lines are read line by line, so memory does not grow with the manifest; YAML and JSON are
parsed whole but keep the line of every entry and field.

Nothing here raises on bad input: unreadable files, bad UTF-8, broken syntax, NUL bytes,
deep nesting and huge numbers all become Problems. Decisions the format leaves open:

* Values must be strings where names are expected: YAML reads `version: 1.10` as the
  number 1.1, so numbers, booleans and dates are refused with a hint to quote them.
* Merge precedence is caller defaults < file `defaults` < the entry; a null value in the
  caller's defaults means "not given" (an unset flag). Defaults are checked once, before
  any entry; if they are invalid, their problems are reported and reading stops, rather
  than repeating the same problem for every entry.
* An entry's `assets` replace those of the defaults; they are never concatenated.
* Asset paths are relative to the folder of the manifest as named (a symlinked manifest
  keeps its link's folder); the escape rule applies to the resolved target.
* An empty manifest is valid and holds no versions, in every format: an empty or blank
  file, a YAML file of comments only, or `versions: []` (an empty nightly scan piped to
  `run -` must not page anyone).
* YAML merge keys (`<<`) are refused: `defaults` does the same job without the risk of
  exponential expansion.
"""

from __future__ import annotations

import asyncio
import bisect
import difflib
import enum
import hashlib
import itertools
import json
import os
import re
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, AnyStr, Final, NamedTuple, Protocol, TextIO, TypeAlias, TypeVar, cast

import yaml

from uploader.constants import MAX_ASSETS_PER_VERSION
from uploader.domain import PackageRef, Target, TargetStatus
from uploader.names import (
    Check,
    check_account_id,
    check_asset_name,
    check_domain,
    check_package_part,
    check_repository,
    check_sha256,
)

__all__ = [
    "STDIN_NAME",
    "AssetSpec",
    "Place",
    "Problem",
    "TargetStatus",
    "VersionSpec",
    "count_entries",
    "read_manifest",
]

T = TypeVar("T")
STDIN_NAME: Final = "<stdin>"
"""How problems name a manifest read from stdin."""
CALLER_DEFAULTS_NAME: Final = "<defaults>"
"""How problems name the defaults the caller passed (flags, config)."""

# A JSON Lines entry with 150 assets and long paths is well under 1 MiB; the cap keeps a
# file without newlines from being read into memory whole.
MAX_LINE_BYTES: Final = 4 * 1024 * 1024
# Only four levels matter (manifest, versions, entry, assets, asset); deeper JSON is junk,
# and the cap keeps the position-tracking parser well inside Python's recursion limit.
MAX_JSON_DEPTH: Final = 100
_CHUNK_BYTES: Final = 1024 * 1024
_NO_DEFAULTS: Final[Mapping[str, object]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Place:
    """Where a value sits: `str(place) == "manifest.yaml:14: versions[3].assets[0].path"`.

    `line` is 1-based; 0 means no particular line (the whole file, or the caller's
    defaults), and is left out of the string. `field` is empty for a whole line or file.
    """

    file: str
    line: int
    field: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}" if self.field else where


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """One file to publish: its asset name, its resolved path and an optional known hash."""

    name: str
    path: Path
    sha256: str | None
    place: Place


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """One package version to publish, fully checked; `index` is its ordinal in the manifest."""

    domain: str
    domain_owner: str | None
    repository: str
    namespace: str
    package: str
    version: str
    status: TargetStatus
    assets: tuple[AssetSpec, ...]
    place: Place
    index: int

    @property
    def target(self) -> Target:
        """The repository the version goes to."""
        return Target(self.domain, self.repository, self.domain_owner)

    @property
    def package_ref(self) -> PackageRef:
        """The package the version belongs to."""
        return PackageRef(self.target, self.namespace, self.package)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the manifest: `manifest.yaml:14: versions[3].path: file not found`."""

    place: Place
    message: str

    def __str__(self) -> str:
        return f"{self.place}: {self.message}"


def read_manifest(
    source: str | Path,
    *,
    defaults: Mapping[str, object] = _NO_DEFAULTS,
    stdin: TextIO | None = None,
    base_dir: Path | None = None,
    allow_outside: bool = False,
    check_files: bool = True,
) -> Iterator[VersionSpec | Problem]:
    """Yield each entry of a manifest as a `VersionSpec`, or as the `Problem`s that stop it.

    Args:
        source: the manifest's path, or `-` for JSON Lines on `stdin`.
        defaults: fields every entry inherits (from flags or config), below the file's own
            `defaults`; None values are ignored.
        stdin: the text stream `-` reads (default `sys.stdin`).
        base_dir: asset paths must resolve inside this folder (default: the manifest's
            folder; for stdin, the current directory, which also anchors relative paths).
        allow_outside: accept asset paths outside `base_dir`.
        check_files: report missing, unreadable and non-regular asset files.
    """
    ctx = _context(source, base_dir, allow_outside, check_files)
    inherited, problems = _caller_defaults(defaults, ctx)
    if problems:
        yield from problems
        return
    yield from _without_duplicates(_read_source(source, stdin, inherited, ctx))


def _read_source(
    source: str | Path, stdin: TextIO | None, inherited: Mapping[str, object], ctx: _Context
) -> Iterator[VersionSpec | Problem]:
    if str(source) == "-":
        stream: TextIO | None = stdin or sys.stdin
        if stream is None:  # started with stdin closed (`<&-`): Python sets sys.stdin to None
            yield Problem(ctx.place(0, ""), "cannot read the manifest: standard input is closed")
            return
        yield from _read_lines(_text_lines(stream), inherited, ctx)
        return
    path = Path(source)
    readers = {_Format.YAML: _read_yaml, _Format.JSON: _read_json, _Format.JSONL: _read_jsonl}
    yield from readers[_format_of(path)](path, inherited, ctx)


def count_entries(source: str | Path) -> int | None:
    """The number of entries in a JSON Lines manifest (its non-blank lines), for progress.

    Cheap: lines are counted, not parsed. None for stdin, for YAML and JSON, and when the
    file cannot be read (`read_manifest` reports why).
    """
    if str(source) == "-":
        return None
    path = Path(source)
    try:
        if _format_of(path) is not _Format.JSONL:
            return None
        with path.open("rb") as stream:
            return _count_nonblank_lines(stream)
    except OSError:
        return None


# --- Duplicate versions ---------------------------------------------------------------


def _without_duplicates(
    entries: Iterator[VersionSpec | Problem],
) -> Iterator[VersionSpec | Problem]:
    """The entries, with a version seen before replaced by a Problem naming both places.

    Runs before any sharding, so every shard sees the same duplicates.
    """
    seen = _SeenVersions()
    try:
        for entry in entries:
            if isinstance(entry, Problem):
                yield entry
                continue
            first = seen.add(_identity(entry), entry.place.line)
            if first is None:
                yield entry
            else:
                yield _duplicate(entry, first)
    finally:
        seen.close()


def _identity(spec: VersionSpec) -> bytes:
    """A 16-byte digest of what names a version on the service, after defaults."""
    parts = (spec.domain, spec.domain_owner or "", spec.repository, spec.namespace)
    key = "\0".join((*parts, spec.package, spec.version)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(key, digest_size=16).digest()


def _duplicate(spec: VersionSpec, first_line: int) -> Problem:
    first = Place(spec.place.file, first_line, "")
    name = f"{spec.namespace}/{spec.package}@{spec.version}"
    return Problem(spec.place, f"duplicate of {first} ({name})")


class _SeenVersions:
    """A set of version digests with the line each was first seen on, in bounded memory.

    Up to `MEMORY_ENTRIES` digests sit in a dict (~100 bytes each: ~10 MB); past that they
    move to a private temporary SQLite database (`connect("")`: on disk, deleted on close),
    so a manifest of millions of lines holds a few MB of page cache, not a set per line.
    """

    MEMORY_ENTRIES: Final = 100_000
    CACHE_KIB: Final = 16 * 1024  # SQLite page cache: the hot part of the B-tree stays in memory

    def __init__(self, memory_entries: int = MEMORY_ENTRIES) -> None:
        self._memory: dict[bytes, int] = {}
        self._limit = memory_entries
        self._db: sqlite3.Connection | None = None

    def add(self, digest: bytes, line: int) -> int | None:
        """Record a digest; return the line it was first seen on if it was seen before."""
        first = self._memory.get(digest)
        if first is not None:
            return first
        if self._db is None:
            if len(self._memory) < self._limit:
                self._memory[digest] = line
                return None
            self._db = self._spill()
        return self._add_on_disk(self._db, digest, line)

    def _spill(self) -> sqlite3.Connection:
        db = sqlite3.connect("", isolation_level=None)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(f"PRAGMA cache_size=-{self.CACHE_KIB}")
        db.execute("CREATE TABLE seen (digest BLOB PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        db.execute("BEGIN")  # one transaction for the whole read: never committed to disk
        db.executemany("INSERT INTO seen VALUES (?, ?)", self._memory.items())
        self._memory = {}
        return db

    @staticmethod
    def _add_on_disk(db: sqlite3.Connection, digest: bytes, line: int) -> int | None:
        cursor = db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (digest, line))
        if cursor.rowcount:
            return None
        row = db.execute("SELECT line FROM seen WHERE digest = ?", (digest,)).fetchone()
        return int(row[0])

    def close(self) -> None:
        """Drop the temporary database, if there is one."""
        if self._db is not None:
            self._db.close()
            self._db = None


# --- Formats and line sources ----------------------------------------------------------


class _Format(enum.Enum):
    YAML = "yaml"
    JSON = "json"
    JSONL = "jsonl"


_FORMATS: Final = {
    ".yaml": _Format.YAML,
    ".yml": _Format.YAML,
    ".json": _Format.JSON,
    ".jsonl": _Format.JSONL,
    ".ndjson": _Format.JSONL,
}


def _format_of(path: Path) -> _Format:
    known = _FORMATS.get(path.suffix.lower())
    if known is not None:
        return known
    try:
        with path.open("rb") as stream:
            first = next(_binary_lines(stream), None)
    except OSError:
        return _Format.YAML  # the reader reports the error
    return _Format.JSONL if first is not None and _looks_like_entry(first.text) else _Format.YAML


def _looks_like_entry(text: str) -> bool:
    """A whole `{...}` on one line, not a one-line manifest with `versions`."""
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return False
    try:
        whole = json.loads(stripped)
    except (ValueError, RecursionError):
        return True  # a broken entry; the JSON Lines reader says what is wrong
    return not (isinstance(whole, dict) and "versions" in whole)


class _Line(NamedTuple):
    number: int
    text: str
    error: str | None = None


def _binary_lines(stream: IO[bytes]) -> Iterator[_Line]:
    """Non-blank lines, decoded one at a time; a bad line becomes an error, not an exception."""
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            _skip_rest(stream.readline, b"\n")
            yield _Line(number, "", f"line is longer than {MAX_LINE_BYTES} bytes")
        elif raw.strip():
            yield _decode_line(raw, number)


def _decode_line(raw: bytes, number: int) -> _Line:
    try:
        return _Line(number, raw.decode("utf-8-sig" if number == 1 else "utf-8"))
    except UnicodeDecodeError as error:
        return _Line(number, "", f"not valid UTF-8 (byte {error.start + 1} of the line)")


_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_ASCII_BLANK: Final = " \t\n\r\x0b\x0c"  # what bytes.strip() strips, so counts agree


def _text_lines(stream: TextIO) -> Iterator[_Line]:
    """Non-blank lines of a text stream; read errors end it with an error line."""
    number = 0
    try:
        while text := stream.readline(MAX_LINE_BYTES + 1):
            number += 1
            line = _check_text_line(stream, text, number)
            if line is not None:
                yield line
    except (OSError, UnicodeDecodeError) as error:
        yield _Line(number + 1, "", f"cannot read further: {error}")


def _check_text_line(stream: TextIO, text: str, number: int) -> _Line | None:
    if len(text) > MAX_LINE_BYTES and not text.endswith("\n"):
        _skip_rest(stream.readline, "\n")
        return _Line(number, "", f"line is longer than {MAX_LINE_BYTES} characters")
    if not text.strip(_ASCII_BLANK):
        return None
    if _SURROGATE.search(text):  # undecodable bytes, from errors="surrogateescape"
        return _Line(number, "", "not valid UTF-8")
    return _Line(number, text)


def _skip_rest(readline: Callable[[int], AnyStr], newline: AnyStr) -> None:
    while (chunk := readline(_CHUNK_BYTES)) and not chunk.endswith(newline):
        pass


def _count_nonblank_lines(stream: IO[bytes]) -> int:
    count, pending = 0, False  # pending: the unfinished line so far is not blank
    while chunk := stream.read(_CHUNK_BYTES):
        *done, rest = chunk.split(b"\n")
        for part in done:
            count += pending or bool(part.strip())
            pending = False
        pending = pending or bool(rest.strip())
    return count + pending


# --- Readers ---------------------------------------------------------------------------

_Entries: TypeAlias = Iterator[VersionSpec | Problem]


def _read_jsonl(path: Path, inherited: Mapping[str, object], ctx: _Context) -> _Entries:
    try:
        with path.open("rb") as stream:
            yield from _read_lines(_binary_lines(stream), inherited, ctx)
    except OSError as error:
        yield Problem(ctx.place(0, ""), f"cannot read the manifest: {_reason(error)}")


def _read_lines(lines: Iterator[_Line], inherited: Mapping[str, object], ctx: _Context) -> _Entries:
    for index, line in enumerate(lines):  # the lines are not blank: each is an entry
        if line.error is not None:
            yield Problem(ctx.place(line.number, ""), line.error)
        else:
            yield from _read_json_line(line, index, inherited, ctx)


def _read_json_line(
    line: _Line, index: int, inherited: Mapping[str, object], ctx: _Context
) -> _Entries:
    try:
        value = _LINE_DECODER.decode(line.text)
    except json.JSONDecodeError as error:
        yield Problem(ctx.place(line.number, ""), f"not valid JSON: {_json_message(error)}")
        return
    except (ValueError, RecursionError) as error:
        yield Problem(ctx.place(line.number, ""), f"not valid JSON: {_nesting(error)}")
        return
    node = _JsonNode.wrap(value, line.number, None)
    if node.kind != "mapping":
        message = f"must be a JSON object (one version per line), not {node.kind}"
        yield Problem(ctx.place(line.number, ""), message)
        return
    yield from _read_entry(node, index, "", inherited, ctx)


def _read_yaml(path: Path, inherited: Mapping[str, object], ctx: _Context) -> _Entries:
    text = yield from _read_text(path, ctx)
    if text is None:
        return
    loader = _Loader(text)
    try:
        root = yield from _compose(loader, text, ctx)
        if root is not None:
            yield from _read_tree(_YamlNode.wrap(root, loader, None), inherited, ctx)
    finally:
        loader.dispose()


def _read_json(path: Path, inherited: Mapping[str, object], ctx: _Context) -> _Entries:
    text = yield from _read_text(path, ctx)
    if text is None:
        return
    try:
        root = _JsonParser(text).document()
    except json.JSONDecodeError as error:
        message = f"not valid JSON: {_json_message(error)}"
        yield Problem(ctx.place(error.lineno, ""), message)
        return
    yield from _read_tree(_JsonNode.wrap(root, 1, _LineIndex(text)), inherited, ctx)


def _read_text(path: Path, ctx: _Context) -> Generator[Problem, None, str | None]:
    """Return the whole manifest as text (a generator: `text = yield from ...`), or None."""
    try:
        data = path.read_bytes()
    except OSError as error:
        yield Problem(ctx.place(0, ""), f"cannot read the manifest: {_reason(error)}")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        yield Problem(ctx.place(line, ""), f"not valid UTF-8 (byte {error.start + 1})")
        return None
    return text if text.strip() else None  # empty: 0 versions, as an empty JSON Lines file


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


# --- YAML ------------------------------------------------------------------------------


class _YamlLoader(Protocol):
    """What is used of a PyYAML loader, C or pure Python."""

    def get_single_node(self) -> yaml.Node | None: ...
    def construct_object(self, node: yaml.Node, deep: bool = ...) -> Any: ...
    def dispose(self) -> None: ...


_Loader: Final[Callable[[str], _YamlLoader]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG: Final = "tag:yaml.org,2002:str"
_TAG_KINDS: Final = {"int": "integer", "float": "float", "bool": "boolean"}


def _compose(
    loader: _YamlLoader, text: str, ctx: _Context
) -> Generator[Problem, None, yaml.Node | None]:
    """Return the document's root node (a generator: `root = yield from ...`), or None."""
    try:
        return loader.get_single_node()
    except yaml.YAMLError as error:
        line, message = _yaml_error(error, text)
    except RecursionError:
        line, message = 1, "nested too deeply"
    yield Problem(ctx.place(line, ""), f"not valid YAML: {message}")
    return None


def _yaml_error(error: yaml.YAMLError, text: str) -> tuple[int, str]:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        parts = [part for part in (error.context, error.problem) if part]
        return (mark.line + 1 if mark else 1), "; ".join(parts) or "syntax error"
    if isinstance(error, yaml.reader.ReaderError) and isinstance(error.character, int):
        found = text.find(chr(error.character))
        line = text.count("\n", 0, found) + 1 if found >= 0 else 1
        return line, f"unacceptable character #x{error.character:04x}: {error.reason}"
    return 1, str(error).splitlines()[0] if str(error) else type(error).__name__


@dataclass(slots=True)  # not frozen: made per field, and frozen init is twice as slow
class _YamlNode:
    """A composed YAML node seen through `_Node`; scalars are built one at a time."""

    node: yaml.Node
    loader: _YamlLoader
    line: int
    kind: str
    value: object

    @classmethod
    def wrap(cls, node: yaml.Node, loader: _YamlLoader, line: int | None) -> _YamlNode:
        line = node.start_mark.line + 1 if line is None else line
        if isinstance(node, yaml.MappingNode):
            return cls(node, loader, line, "mapping", None)
        if isinstance(node, yaml.SequenceNode):
            return cls(node, loader, line, "list", None)
        kind, value = _yaml_scalar(node, loader)
        return cls(node, loader, line, kind, value)

    def pairs(self) -> Iterator[tuple[str, _Node]]:
        for key, value in self.node.value:
            yield _yaml_key(key), self.wrap(value, self.loader, key.start_mark.line + 1)

    def elements(self) -> Iterator[_Node]:
        for item in self.node.value:
            yield self.wrap(item, self.loader, None)

    def __len__(self) -> int:
        return len(self.node.value) if self.kind in ("list", "mapping") else 0


def _yaml_scalar(node: yaml.Node, loader: _YamlLoader) -> tuple[str, object]:
    if node.tag == _STR_TAG:
        return "string", node.value
    try:
        value: object = loader.construct_object(node)
    except Exception:  # any tag's constructor may fail on any text: 1e99999, !custom, ...
        short = node.tag.rsplit(":", 1)[-1]
        return _TAG_KINDS.get(short, f"tagged {node.tag}"), None
    return _kind_of(value), value


def _yaml_key(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return "<list>" if isinstance(node, yaml.SequenceNode) else "<mapping>"


# --- JSON ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _JsonObject:
    """A decoded JSON object, its pairs in order, duplicates kept (so they can be reported)."""

    pairs: list[tuple[str, object]]


@dataclass(frozen=True, slots=True)
class _Pos:
    """A value of a whole-file JSON manifest, with the offset its line is taken from."""

    value: object
    offset: int


def _parse_int(text: str) -> object:
    try:
        return int(text)
    except ValueError:  # more digits than int() takes; any number is refused anyway
        return float(text)


_LINE_DECODER: Final = json.JSONDecoder(object_pairs_hook=_JsonObject, parse_int=_parse_int)


def _json_message(error: json.JSONDecodeError) -> str:
    return f"{error.msg} (column {error.colno})"


def _nesting(error: Exception) -> str:
    return "nested too deeply" if isinstance(error, RecursionError) else str(error)


class _JsonParser:
    """Strict JSON with the offset of every value and key, for lines in problems.

    Objects and arrays are walked here; strings, numbers and literals go to the standard
    decoder's `raw_decode`, so escapes and numbers follow the standard exactly.
    """

    _SPACE: Final = re.compile(r"[ \t\n\r]*")

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder = json.JSONDecoder(parse_int=_parse_int)

    def document(self) -> _Pos:
        value, end = self.value(self.skip(0), 0)
        end = self.skip(end)
        if end != len(self.text):
            raise json.JSONDecodeError("Extra data", self.text, end)
        return value

    def skip(self, index: int) -> int:
        match = self._SPACE.match(self.text, index)
        return match.end() if match else index

    def value(self, index: int, depth: int) -> tuple[_Pos, int]:
        if depth > MAX_JSON_DEPTH:
            raise json.JSONDecodeError("nested too deeply", self.text, index)
        char = self.text[index : index + 1]
        if char == "{":
            return self.object(index, depth + 1)
        if char == "[":
            return self.array(index, depth + 1)
        value, end = self.decoder.raw_decode(self.text, index)
        return _Pos(value, index), end

    def object(self, start: int, depth: int) -> tuple[_Pos, int]:
        pairs: list[tuple[str, object]] = []
        index = self.skip(start + 1)
        if self.text.startswith("}", index):
            return _Pos(_JsonObject(pairs), start), index + 1
        closed = False
        while not closed:
            key, key_start, index = self.key(index)
            value, index = self.value(self.skip(index), depth)
            pairs.append((key, _Pos(value.value, key_start)))  # a field's line is its key's
            index, closed = self.after_item(index, "}")
        return _Pos(_JsonObject(pairs), start), index

    def key(self, index: int) -> tuple[str, int, int]:
        """The key at `index`, its offset, and where its value starts."""
        if not self.text.startswith('"', index):
            message = "Expecting property name enclosed in double quotes"
            raise json.JSONDecodeError(message, self.text, index)
        key, end = self.decoder.raw_decode(self.text, index)
        end = self.skip(end)
        if not self.text.startswith(":", end):
            raise json.JSONDecodeError("Expecting ':' delimiter", self.text, end)
        return str(key), index, end + 1

    def array(self, start: int, depth: int) -> tuple[_Pos, int]:
        items: list[object] = []
        index = self.skip(start + 1)
        if self.text.startswith("]", index):
            return _Pos(items, start), index + 1
        closed = False
        while not closed:
            item, index = self.value(index, depth)
            items.append(item)
            index, closed = self.after_item(index, "]")
        return _Pos(items, start), index

    def after_item(self, index: int, close: str) -> tuple[int, bool]:
        """Past the `,` to the next item, or past `close`, and whether it closed."""
        index = self.skip(index)
        if self.text.startswith(close, index):
            return index + 1, True
        if not self.text.startswith(",", index):
            raise json.JSONDecodeError("Expecting ',' delimiter", self.text, index)
        return self.skip(index + 1), False


class _LineIndex:
    """Line numbers of offsets in a text, by binary search over its newlines."""

    def __init__(self, text: str) -> None:
        self.newlines = [match.start() for match in re.finditer("\n", text)]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_left(self.newlines, offset) + 1


@dataclass(slots=True)  # not frozen: made per field, and frozen init is twice as slow
class _JsonNode:
    """A decoded JSON value seen through `_Node`; in JSON Lines every child shares the line."""

    raw: object
    lines: _LineIndex | None
    line: int
    kind: str
    value: object

    @classmethod
    def wrap(cls, raw: object, line: int, lines: _LineIndex | None) -> _JsonNode:
        if isinstance(raw, _Pos) and lines is not None:
            return cls(raw.value, lines, lines.line_of(raw.offset), _kind_of(raw.value), raw.value)
        return cls(raw, lines, line, _kind_of(raw), raw)

    def pairs(self) -> Iterator[tuple[str, _Node]]:
        assert isinstance(self.raw, _JsonObject)
        for key, value in self.raw.pairs:
            yield key, self.wrap(value, self.line, self.lines)

    def elements(self) -> Iterator[_Node]:
        assert isinstance(self.raw, list)
        for item in self.raw:
            yield self.wrap(item, self.line, self.lines)

    def __len__(self) -> int:
        return len(self.raw) if isinstance(self.raw, list) else 0


_KINDS: Final[Mapping[type, str]] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "float",
    type(None): "null",
    list: "list",
    dict: "mapping",
    _JsonObject: "mapping",
}


def _kind_of(value: object) -> str:
    return _KINDS.get(type(value), type(value).__name__)


# --- Checking entries ------------------------------------------------------------------


class _Node(Protocol):
    """A parsed value, whatever the format: its kind, scalar value, line and children.

    Children are wrapped only when asked for, so checking touches just the known fields
    and aliases or junk in unknown keys are never expanded.
    """

    @property
    def line(self) -> int: ...
    @property
    def kind(self) -> str: ...  # "string", "integer", ..., "list", "mapping"
    @property
    def value(self) -> object: ...  # meaningful for scalars only
    def pairs(self) -> Iterator[tuple[str, _Node]]: ...  # a child's line is its key's
    def elements(self) -> Iterator[_Node]: ...
    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _Context:
    file: str  # as the user gave it
    paths: _Paths
    quote_hint: str = " (quote it)"

    def place(self, line: int, field: str) -> Place:
        return Place(self.file, line, field)


def _context(
    source: str | Path, base_dir: Path | None, allow_outside: bool, check_files: bool
) -> _Context:
    if str(source) == "-":
        root = (base_dir or Path.cwd()).resolve()
        paths = _Paths(root, root, allow_outside=allow_outside, check_files=check_files)
        return _Context(STDIN_NAME, paths)
    root = Path(os.path.abspath(source)).parent.resolve()
    base = base_dir.resolve() if base_dir is not None else root
    paths = _Paths(root, base, allow_outside=allow_outside, check_files=check_files)
    known = _FORMATS.get(Path(source).suffix.lower())
    hint = " (quote it)" if known in (_Format.JSON, _Format.JSONL) else " (quote it in YAML)"
    return _Context(str(source), paths, hint)


class _Invalid:
    """Stands for a field whose problems were reported; never reaches a spec."""


_INVALID: Final = _Invalid()
_Result: TypeAlias = tuple[object, list[Problem]]
_Fields: TypeAlias = tuple[dict[str, object], list[Problem]]
_Checker: TypeAlias = Callable[["_Node", "_Where"], _Result]


class _Where(NamedTuple):
    """A field being checked; cheaper than a `Place`, which is made only for a problem."""

    ctx: _Context
    line: int
    field: str

    def place(self) -> Place:
        return Place(self.ctx.file, self.line, self.field)

    def problem(self, message: str) -> list[Problem]:
        return [Problem(self.place(), message)]


def _caller_defaults(defaults: Mapping[str, object], ctx: _Context) -> _Fields:
    given = _JsonObject([(key, value) for key, value in defaults.items() if value is not None])
    node = _JsonNode.wrap(given, 0, None)
    return _check_fields(node, "", replace(ctx, file=CALLER_DEFAULTS_NAME), _VERSION_CHECKS)


def _read_tree(root: _Node, inherited: Mapping[str, object], ctx: _Context) -> _Entries:
    """A whole YAML or JSON manifest: top-level checks, `defaults`, then each entry."""
    if root.kind != "mapping":
        message = f"the manifest must be a mapping with a `versions` list, not {root.kind}"
        yield Problem(ctx.place(root.line, ""), message)
        return
    values, problems = _check_fields(root, "", ctx, _TOP_CHECKS)
    yield from problems  # unknown top-level keys: reported, not fatal
    parts = cast(dict[str, _Node], values)  # _TOP_CHECKS pass the nodes through
    versions = _top_versions(root, parts, ctx)
    if isinstance(versions, Problem):
        yield versions
        return
    merged, problems = _file_defaults(parts, inherited, ctx)
    if problems:
        yield from problems
        return
    for index, entry in enumerate(versions.elements()):
        yield from _read_entry(entry, index, f"versions[{index}]", merged, ctx)


def _top_versions(root: _Node, parts: dict[str, _Node], ctx: _Context) -> _Node | Problem:
    versions = parts.get("versions")
    if versions is None:
        return Problem(ctx.place(root.line, "versions"), "is required: the list of versions")
    if versions.kind != "list":
        return Problem(ctx.place(versions.line, "versions"), f"must be a list, not {versions.kind}")
    return versions


def _file_defaults(
    parts: dict[str, _Node], inherited: Mapping[str, object], ctx: _Context
) -> _Fields:
    node = parts.get("defaults")
    if node is None:
        return dict(inherited), []
    if node.kind != "mapping":
        message = f"must be a mapping of version fields, not {node.kind}"
        return {}, [Problem(ctx.place(node.line, "defaults"), message)]
    values, problems = _check_fields(node, "defaults", ctx, _VERSION_CHECKS)
    return {**inherited, **values}, problems


def _read_entry(
    node: _Node, index: int, path: str, inherited: Mapping[str, object], ctx: _Context
) -> _Entries:
    """One version entry: all its problems, or its spec."""
    place = ctx.place(node.line, path)
    if node.kind != "mapping":
        yield Problem(place, f"must be a mapping of version fields, not {node.kind}")
        return
    values, problems = _check_fields(node, path, ctx, _VERSION_CHECKS)
    merged = {**inherited, **values}
    problems += _missing(merged, node.line, path, ctx)
    if problems:
        yield from sorted(problems, key=lambda problem: problem.place.line)
        return
    yield _version_spec(merged, place, index)


_REQUIRED: Final = {
    "domain": "is required",
    "repository": "is required",
    "namespace": "is required: generic packages need a namespace",
    "package": "is required",
    "version": "is required",
    "assets": "is required: a version needs at least one asset",
}


def _missing(merged: Mapping[str, object], line: int, path: str, ctx: _Context) -> list[Problem]:
    return [
        Problem(ctx.place(line, _join(path, key)), message)
        for key, message in _REQUIRED.items()
        if key not in merged
    ]


def _version_spec(merged: Mapping[str, object], place: Place, index: int) -> VersionSpec:
    text = cast(Mapping[str, str], merged)
    return VersionSpec(
        domain=text["domain"],
        domain_owner=text.get("domain_owner"),
        repository=text["repository"],
        namespace=text["namespace"],
        package=text["package"],
        version=text["version"],
        status=cast(TargetStatus, merged.get("status", TargetStatus.PUBLISHED)),
        assets=cast(tuple[AssetSpec, ...], merged["assets"]),
        place=place,
        index=index,
    )


def _check_fields(node: _Node, path: str, ctx: _Context, checks: Mapping[str, _Checker]) -> _Fields:
    """Check each key of a mapping; return {key: value or _INVALID} and the problems."""
    values: dict[str, object] = {}
    problems: list[Problem] = []
    for key, child in node.pairs():
        where = _Where(ctx, child.line, f"{path}.{key}" if path else key)
        checker = checks.get(key)
        if checker is None:
            problems += where.problem(_unknown_key(key, checks))
        elif key in values:
            problems += where.problem("is given twice")
        else:
            value, found = checker(child, where)
            values[key] = _INVALID if found else value
            problems += found
    return values, problems


def _unknown_key(key: str, known: Mapping[str, object]) -> str:
    if key == "<<":
        return "YAML merge keys ('<<') are not supported; use `defaults`"
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _string(node: _Node, where: _Where) -> tuple[str | None, list[Problem]]:
    if isinstance(node.value, str):
        return node.value, []
    hint = "" if node.kind in ("list", "mapping", "null") else where.ctx.quote_hint
    return None, where.problem(f"must be a string, not {node.kind}{hint}")


def _name_checker(check: Check) -> _Checker:
    def checker(node: _Node, where: _Where) -> _Result:
        text, problems = _string(node, where)
        reason = check(text) if text is not None else None
        return text, where.problem(reason) if reason else problems

    return checker


def _check_status(node: _Node, where: _Where) -> _Result:
    text, problems = _string(node, where)
    if text is None:
        return None, problems
    try:
        return TargetStatus(text), []
    except ValueError:
        return None, where.problem(f"must be one of {', '.join(TargetStatus)}, not {text!r}")


def _check_sha256(node: _Node, where: _Where) -> _Result:
    text, problems = _string(node, where)
    if text is None:
        return None, problems
    reason = check_sha256(text.lower())
    return text.lower(), where.problem(reason) if reason else []


def _check_assets(node: _Node, where: _Where) -> _Result:
    if node.kind != "list":
        return None, where.problem(f"must be a list of assets, not {node.kind}")
    count = len(node)
    if count == 0:
        return None, where.problem("must not be empty: a version needs at least one asset")
    if count > MAX_ASSETS_PER_VERSION:
        message = f"has {count} assets; a version takes at most {MAX_ASSETS_PER_VERSION}"
        return None, where.problem(message)
    specs: list[AssetSpec] = []
    problems: list[Problem] = []
    for index, item in enumerate(node.elements()):
        spec, found = _check_asset(item, f"{where.field}[{index}]", where.ctx)
        specs += [spec] if spec is not None else []
        problems += found
    return tuple(specs), problems + _duplicate_names(specs)


def _duplicate_names(specs: list[AssetSpec]) -> list[Problem]:
    first: dict[str, AssetSpec] = {}
    problems: list[Problem] = []
    for spec in specs:
        other = first.setdefault(spec.name, spec)
        if other is not spec:
            place = replace(spec.place, field=f"{spec.place.field}.name")
            message = f"duplicate asset name {spec.name!r} (also {other.place.field})"
            problems.append(Problem(place, message))
    return problems


class _AssetPath(NamedTuple):
    written: str
    resolved: Path
    where: _Where


def _check_asset(node: _Node, path: str, ctx: _Context) -> tuple[AssetSpec | None, list[Problem]]:
    place = ctx.place(node.line, path)
    if node.kind != "mapping":
        return None, [Problem(place, f"must be a mapping with a `path`, not {node.kind}")]
    fields, problems = _check_fields(node, path, ctx, _ASSET_CHECKS)
    if "path" not in fields:
        problems.append(Problem(ctx.place(node.line, f"{path}.path"), "is required"))
    if problems:
        return None, problems
    file = cast(_AssetPath, fields["path"])
    name = fields.get("name")
    if name is None:
        name = os.path.basename(file.written)
        reason = check_asset_name(name)
        if reason:
            message = f"the file's base name {name!r} is not a valid asset name: {reason}"
            return None, file.where.problem(message)
    sha256 = cast("str | None", fields.get("sha256"))
    return AssetSpec(str(name), file.resolved, sha256, place), []


def _check_path(node: _Node, where: _Where) -> _Result:
    text, problems = _string(node, where)
    if text is None:
        return None, problems
    if not text:
        return None, where.problem("must not be empty")
    resolved = where.ctx.paths.check(text)
    if isinstance(resolved, str):
        return None, where.problem(resolved)
    return _AssetPath(text, resolved, where), []


class _Paths:
    """Resolves asset paths like `Path.resolve()` and checks them, fast enough for a million.

    The folder part of each path is resolved once and remembered (a bounded cache, per
    manifest); only the last component is looked at per asset, with one `lstat` that also
    serves the file checks. A symlink there is resolved in full.
    """

    _CACHE_SIZE: Final = 4096

    def __init__(self, root: Path, base: Path, *, allow_outside: bool, check_files: bool) -> None:
        self.root = str(root)  # relative paths start here
        self.base = str(base)  # resolved paths must stay under here
        self._inside = self.base.rstrip(os.sep) + os.sep
        self.allow_outside = allow_outside
        self.check_files = check_files
        self._folders: dict[str, str] = {}

    def check(self, text: str) -> Path | str:
        """The absolute, symlink-free path, or why it cannot be used."""
        try:
            resolved, mode = self._realpath(os.path.join(self.root, text))
        except (OSError, ValueError) as error:  # NUL bytes, unencodable characters
            return f"is not a usable path ({error})"
        if not (self.allow_outside or resolved == self.base or resolved.startswith(self._inside)):
            return f"path escapes the base directory {self.base} (use --allow-outside to permit it)"
        problem = _file_problem(resolved, mode) if self.check_files else None
        return problem or Path(resolved)

    def _realpath(self, joined: str) -> tuple[str, int | None]:
        """`os.path.realpath(joined)`, and the file's mode when already known."""
        head, tail = os.path.split(joined)
        if tail in ("", ".", ".."):
            return os.path.realpath(joined), None
        folder = self._folders.get(head)
        if folder is None:
            if len(self._folders) >= self._CACHE_SIZE:
                self._folders.clear()
            folder = self._folders[head] = os.path.realpath(head)
        candidate = os.path.join(folder, tail)
        try:
            mode = os.lstat(candidate).st_mode
        except OSError:
            return candidate, None  # realpath keeps a missing tail as it is; stat says why
        if stat.S_ISLNK(mode):
            return os.path.realpath(candidate), None
        return candidate, mode


def _file_problem(path: str, mode: int | None) -> str | None:
    try:
        mode = os.stat(path).st_mode if mode is None else mode
    except (FileNotFoundError, NotADirectoryError):
        return "file not found"
    except PermissionError:
        return "permission denied"
    except OSError as error:  # a symlink loop, a name too long, ...
        return f"cannot be read ({error.strerror or error})"
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None if os.access(path, os.R_OK) else "permission denied"


def _passthrough(node: _Node, where: _Where) -> _Result:
    return node, []


_TOP_CHECKS: Final[Mapping[str, _Checker]] = {"defaults": _passthrough, "versions": _passthrough}
_VERSION_CHECKS: Final[Mapping[str, _Checker]] = {
    "domain": _name_checker(check_domain),
    "domain_owner": _name_checker(check_account_id),
    "repository": _name_checker(check_repository),
    "namespace": _name_checker(check_package_part),
    "package": _name_checker(check_package_part),
    "version": _name_checker(check_package_part),
    "status": _check_status,
    "assets": _check_assets,
}
_ASSET_CHECKS: Final[Mapping[str, _Checker]] = {
    "path": _check_path,
    "name": _name_checker(check_asset_name),
    "sha256": _check_sha256,
}


async def batches(entries: Iterator[T], size: int = 64) -> AsyncIterator[list[T]]:
    """The entries in lists of `size`, each read in a worker thread.

    Reading a manifest is file I/O and stats of every asset: it stays off the event loop,
    and one thread hop per batch keeps its cost small.
    """
    while batch := await asyncio.to_thread(lambda: list(itertools.islice(entries, size))):
        yield batch
