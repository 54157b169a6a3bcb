"""Reading a manifest: its format, its source, and the stream of specs and problems.

This module owns the public entry points (`read_manifest`, `count_entries`, `batches`)
and what varies by format: choosing one from the extension or by sniffing, reading JSON
Lines line by line (`lines`, decoded with the standard decoder: a line is its own
position), and reading YAML (`yamlnodes`) and whole-file JSON (`jsonpos`) into a tree
whose structure `entries` checks. Duplicates across entries are dropped last
(`duplicates`).
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import json
import os
import sys
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final, TextIO, TypeVar

from uploader.manifest.duplicates import without_duplicates
from uploader.manifest.entries import Entries, caller_defaults, read_entry, read_tree
from uploader.manifest.fastpath import fast_version
from uploader.manifest.fields import Context
from uploader.manifest.jsonpos import (
    LINE_DECODER,
    JsonNode,
    JsonParser,
    LineIndex,
    json_message,
    nesting,
)
from uploader.manifest.lines import Line, binary_lines, count_nonblank_lines, text_lines
from uploader.manifest.nodes import JsonObject
from uploader.manifest.paths import Paths
from uploader.manifest.spec import Problem, VersionSpec
from uploader.manifest.yamlnodes import Loader, YamlNode, YamlSyntaxError, compose

T = TypeVar("T")
STDIN_NAME: Final = "<stdin>"
"""How problems name a manifest read from stdin."""
_NO_DEFAULTS: Final[Mapping[str, object]] = MappingProxyType({})


def read_manifest(
    source: str | Path,
    *,
    defaults: Mapping[str, object] = _NO_DEFAULTS,
    stdin: TextIO | None = None,
    base_dir: Path | None = None,
    allow_outside: bool = False,
    check_files: bool = True,
    paths_from: Path | None = None,
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
        paths_from: relative asset paths start in this folder, and must resolve inside
            it, wherever the manifest is (service mode: a job's root); overrides base_dir.
    """
    ctx = _context(source, base_dir, allow_outside, check_files, paths_from)
    inherited, problems = caller_defaults(defaults, ctx)
    if problems:
        yield from problems
        return
    yield from without_duplicates(_read_source(source, stdin, inherited, ctx))


def _read_source(
    source: str | Path, stdin: TextIO | None, inherited: Mapping[str, object], ctx: Context
) -> Iterator[VersionSpec | Problem]:
    if str(source) == "-":
        stream: TextIO | None = stdin or sys.stdin
        if stream is None:  # started with stdin closed (`<&-`): Python sets sys.stdin to None
            yield Problem(ctx.place(0, ""), "cannot read the manifest: standard input is closed")
            return
        yield from _read_lines(text_lines(stream), inherited, ctx)
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
            return count_nonblank_lines(stream)
    except OSError:
        return None


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
            first = next(binary_lines(stream), None)
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


def _read_jsonl(path: Path, inherited: Mapping[str, object], ctx: Context) -> Entries:
    try:
        with path.open("rb") as stream:
            yield from _read_lines(binary_lines(stream), inherited, ctx)
    except OSError as error:
        yield Problem(ctx.place(0, ""), f"cannot read the manifest: {_reason(error)}")


def _read_lines(lines: Iterator[Line], inherited: Mapping[str, object], ctx: Context) -> Entries:
    for index, line in enumerate(lines):  # the lines are not blank: each is an entry
        if line.error is not None:
            yield Problem(ctx.place(line.number, ""), line.error)
        else:
            yield from _read_json_line(line, index, inherited, ctx)


def _read_json_line(
    line: Line, index: int, inherited: Mapping[str, object], ctx: Context
) -> Entries:
    try:
        value = LINE_DECODER.decode(line.text)
    except json.JSONDecodeError as error:
        yield Problem(ctx.place(line.number, ""), f"not valid JSON: {json_message(error)}")
        return
    except (ValueError, RecursionError) as error:
        yield Problem(ctx.place(line.number, ""), f"not valid JSON: {nesting(error)}")
        return
    if isinstance(value, JsonObject):
        spec = fast_version(value, line.number, index, inherited, ctx)
        if spec is not None:
            yield spec
            return
    node = JsonNode.wrap(value, line.number, None)
    if node.kind != "mapping":
        message = f"must be a JSON object (one version per line), not {node.kind}"
        yield Problem(ctx.place(line.number, ""), message)
        return
    yield from read_entry(node, index, "", inherited, ctx)


def _read_yaml(path: Path, inherited: Mapping[str, object], ctx: Context) -> Entries:
    text = yield from _read_text(path, ctx)
    if text is None:
        return
    loader = Loader(text)
    try:
        root = compose(loader, text)
        if root is not None:
            yield from read_tree(YamlNode.wrap(root, loader, None), inherited, ctx)
    except YamlSyntaxError as error:
        yield Problem(ctx.place(error.line, ""), f"not valid YAML: {error.message}")
    finally:
        loader.dispose()


def _read_json(path: Path, inherited: Mapping[str, object], ctx: Context) -> Entries:
    text = yield from _read_text(path, ctx)
    if text is None:
        return
    try:
        root = JsonParser(text).document()
    except json.JSONDecodeError as error:
        message = f"not valid JSON: {json_message(error)}"
        yield Problem(ctx.place(error.lineno, ""), message)
        return
    yield from read_tree(JsonNode.wrap(root, 1, LineIndex(text)), inherited, ctx)


def _read_text(path: Path, ctx: Context) -> Generator[Problem, None, str | None]:
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


def _context(
    source: str | Path,
    base_dir: Path | None,
    allow_outside: bool,
    check_files: bool,
    paths_from: Path | None = None,
) -> Context:
    if str(source) == "-":
        root = (paths_from or base_dir or Path.cwd()).resolve()
        paths = Paths(root, root, allow_outside=allow_outside, check_files=check_files)
        return Context(STDIN_NAME, paths)
    if paths_from is not None:
        root = base = paths_from.resolve()
    else:
        root = Path(os.path.abspath(source)).parent.resolve()
        base = base_dir.resolve() if base_dir is not None else root
    paths = Paths(root, base, allow_outside=allow_outside, check_files=check_files)
    known = _FORMATS.get(Path(source).suffix.lower())
    hint = " (quote it)" if known in (_Format.JSON, _Format.JSONL) else " (quote it in YAML)"
    return Context(str(source), paths, hint)


async def batches(entries: Iterator[T], size: int = 64) -> AsyncIterator[list[T]]:
    """The entries in lists of `size`, each read in a worker thread.

    Reading a manifest is file I/O and stats of every asset: it stays off the event loop,
    and one thread hop per batch keeps its cost small.
    """
    while batch := await asyncio.to_thread(lambda: list(itertools.islice(entries, size))):
        yield batch
