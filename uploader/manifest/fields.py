"""The rules for each field of a version and of an asset, with the place of every problem.

This module owns the per-field checks: which keys a version, an asset and the top level
take (a close match is suggested for an unknown key), strings where names are expected
(with the service's name rules from `uploader.names`), statuses, SHA-256s, the asset list
(not empty, at most the service's limit, names unique) and each asset's location: a
`path` (a local file) or a `url` (`uploader.manifest.urls`), with what a store declares
about it (`sha256`, `size`, `sha1`, `etag`, `last_modified`; all but `sha256` for a
`url` only). A `url` asset is a problem unless the reader was asked for remote assets:
nothing uploads them yet. Checks see values only through the `Node` protocol, so they
are the same for every format.
"""

from __future__ import annotations

import datetime
import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, NamedTuple, TypeAlias, cast

from uploader.constants import MAX_ASSETS_PER_VERSION
from uploader.domain import TargetStatus
from uploader.manifest.nodes import Node
from uploader.manifest.paths import Paths
from uploader.manifest.spec import AssetSpec, Place, Problem, RemoteAssetSpec
from uploader.manifest.urls import SourceURL, parse_url
from uploader.names import (
    Check,
    check_account_id,
    check_asset_name,
    check_domain,
    check_package_part,
    check_repository,
    check_sha256,
)


@dataclass(frozen=True, slots=True)
class Context:
    """What every check of one manifest shares: its name, its paths, how to hint at quoting."""

    file: str  # as the user gave it
    paths: Paths
    quote_hint: str = " (quote it)"
    # (field, value) pairs found valid, so that a name every line repeats (the domain,
    # the namespace, a package's name) is checked once; bounded by its user (fastpath).
    valid_names: set[tuple[str, object]] = field(default_factory=set)

    def place(self, line: int, field: str) -> Place:
        """The place of `field` on `line` of this manifest."""
        return Place(self.file, line, field)


MAX_TAG_CHARS: Final = 1024
"""The longest `etag` taken: S3's are 34 to 68 characters, a server's rarely more."""
_SHA1_RE: Final = re.compile(r"[0-9a-fA-F]{40}")


class _Invalid:
    """Stands for a field whose problems were reported; never reaches a spec."""


_INVALID: Final = _Invalid()
Result: TypeAlias = tuple[object, list[Problem]]
Fields: TypeAlias = tuple[dict[str, object], list[Problem]]
Checker: TypeAlias = Callable[[Node, "Where"], Result]


class Where(NamedTuple):
    """A field being checked; cheaper than a `Place`, which is made only for a problem."""

    ctx: Context
    line: int
    field: str

    def place(self) -> Place:
        return Place(self.ctx.file, self.line, self.field)

    def problem(self, message: str) -> list[Problem]:
        return [Problem(self.place(), message)]


def check_fields(node: Node, path: str, ctx: Context, checks: Mapping[str, Checker]) -> Fields:
    """Check each key of a mapping; return {key: value or _INVALID} and the problems."""
    values: dict[str, object] = {}
    problems: list[Problem] = []
    for key, child in node.pairs():
        where = Where(ctx, child.line, f"{path}.{key}" if path else key)
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


def field_path(path: str, key: str) -> str:
    """The path of `key` within the field at `path` (`versions[3]` + `assets`)."""
    return f"{path}.{key}" if path else key


def _string(node: Node, where: Where) -> tuple[str | None, list[Problem]]:
    if isinstance(node.value, str):
        return node.value, []
    hint = "" if node.kind in ("list", "mapping", "null") else where.ctx.quote_hint
    return None, where.problem(f"must be a string, not {node.kind}{hint}")


def _name_checker(check: Check) -> Checker:
    def checker(node: Node, where: Where) -> Result:
        text, problems = _string(node, where)
        reason = check(text) if text is not None else None
        return text, where.problem(reason) if reason else problems

    return checker


def _check_status(node: Node, where: Where) -> Result:
    text, problems = _string(node, where)
    if text is None:
        return None, problems
    try:
        return TargetStatus(text), []
    except ValueError:
        return None, where.problem(f"must be one of {', '.join(TargetStatus)}, not {text!r}")


def _check_sha256(node: Node, where: Where) -> Result:
    text, problems = _string(node, where)
    if text is None:
        return None, problems
    reason = check_sha256(text.lower())
    return text.lower(), where.problem(reason) if reason else []


def _check_assets(node: Node, where: Where) -> Result:
    if node.kind != "list":
        return None, where.problem(f"must be a list of assets, not {node.kind}")
    count = len(node)
    if count == 0:
        return None, where.problem("must not be empty: a version needs at least one asset")
    if count > MAX_ASSETS_PER_VERSION:
        message = f"has {count} assets; a version takes at most {MAX_ASSETS_PER_VERSION}"
        return None, where.problem(message)
    specs: list[AnyAssetSpec] = []
    problems: list[Problem] = []
    for index, item in enumerate(node.elements()):
        spec, found = _check_asset(item, f"{where.field}[{index}]", where.ctx)
        specs += [spec] if spec is not None else []
        problems += found
    return tuple(specs), problems + _duplicate_names(specs)


def _duplicate_names(specs: list[AnyAssetSpec]) -> list[Problem]:
    first: dict[str, AnyAssetSpec] = {}
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
    where: Where


class _AssetURL(NamedTuple):
    written: str
    parsed: SourceURL
    where: Where


AnyAssetSpec: TypeAlias = AssetSpec | RemoteAssetSpec
_REMOTE_ONLY: Final = ("size", "sha1", "etag", "last_modified")


def _check_asset(node: Node, path: str, ctx: Context) -> tuple[AnyAssetSpec | None, list[Problem]]:
    place = ctx.place(node.line, path)
    if node.kind != "mapping":
        return None, [Problem(place, f"must be a mapping with a `path`, not {node.kind}")]
    fields, problems = check_fields(node, path, ctx, ASSET_CHECKS)
    problems += _location_problems(fields, node.line, path, ctx)
    if problems:
        return None, problems
    if "url" in fields:
        return _remote_asset(fields, place, ctx)
    return _local_asset(fields, place)


def _location_problems(
    fields: Mapping[str, object], line: int, path: str, ctx: Context
) -> list[Problem]:
    """A `path` or a `url`, one of them; the store's declarations only with a `url`."""
    if "path" in fields and "url" in fields:
        return [Problem(ctx.place(line, path), "give path or url, not both")]
    if "url" in fields:
        return []
    if "path" not in fields:
        return [Problem(ctx.place(line, f"{path}.path"), "is required")]
    given = [key for key in _REMOTE_ONLY if key in fields]
    return [Problem(ctx.place(line, f"{path}.{key}"), "is for url assets only") for key in given]


def _local_asset(
    fields: Mapping[str, object], place: Place
) -> tuple[AssetSpec | None, list[Problem]]:
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


def _remote_asset(
    fields: Mapping[str, object], place: Place, ctx: Context
) -> tuple[RemoteAssetSpec | None, list[Problem]]:
    url = cast(_AssetURL, fields["url"])
    name = fields.get("name")
    if name is None:
        name = url.parsed.base_name
        reason = check_asset_name(name)
        if reason:
            message = f"the URL's base name {name!r} is not a valid asset name: {reason}"
            return None, url.where.problem(message)
    text = cast(Mapping[str, "str | None"], fields)
    size = cast("int | None", fields.get("size"))
    return RemoteAssetSpec(
        str(name), url.written, text.get("sha256"), place, size,
        text.get("sha1"), text.get("etag"), text.get("last_modified"),
    ), []  # fmt: skip


def _check_path(node: Node, where: Where) -> Result:
    text, problems = _string(node, where)
    if text is None:
        return None, problems
    if not text:
        return None, where.problem("must not be empty")
    resolved = where.ctx.paths.check(text)
    if isinstance(resolved, str):
        return None, where.problem(resolved)
    return _AssetPath(text, resolved, where), []


def _check_url(node: Node, where: Where) -> Result:
    text, problems = _string(node, where)
    if text is None:
        return None, problems
    if not text:
        return None, where.problem("must not be empty")
    parsed = parse_url(text)
    if isinstance(parsed, str):
        return None, where.problem(parsed)
    return _AssetURL(text, parsed, where), []


def _check_size(node: Node, where: Where) -> Result:
    value = node.value
    if node.kind != "integer" or not isinstance(value, int) or isinstance(value, bool):
        return None, where.problem(f"must be a non-negative integer (bytes), not {node.kind}")
    if value < 0:
        return None, where.problem(f"must be a non-negative integer (bytes), not {value}")
    return value, []


def _check_sha1(node: Node, where: Where) -> Result:
    return _checked_text(node, where, sha1_problem, str.lower)


def _check_etag(node: Node, where: Where) -> Result:
    return _checked_text(node, where, etag_problem)


def _check_last_modified(node: Node, where: Where) -> Result:
    return _checked_text(node, where, last_modified_problem)


def _checked_text(
    node: Node, where: Where, check: Callable[[str], str | None], normal: Callable[[str], str] = str
) -> Result:
    text, problems = _string(node, where)
    if text is None:
        return None, problems
    reason = check(text)
    return (None, where.problem(reason)) if reason else (normal(text), [])


def sha1_problem(text: str) -> str | None:
    """Why `text` is not a SHA-1 (40 hex digits, either case), or None."""
    if _SHA1_RE.fullmatch(text) is None:
        return f"{_shown(text)} is not a SHA-1 (40 hex digits)"
    return None


def etag_problem(text: str) -> str | None:
    """Why `text` is not an `etag` a manifest takes, or None."""
    if not text or len(text) > MAX_TAG_CHARS or not text.isprintable():
        return f"must be 1 to {MAX_TAG_CHARS} printable characters"
    return None


def last_modified_problem(text: str) -> str | None:
    """Why `text` is not an ISO 8601 time with a UTC offset, or None."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        return f"{_shown(text)} is not an ISO 8601 time with a UTC offset"
    return None


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _passthrough(node: Node, where: Where) -> Result:
    return node, []


TOP_CHECKS: Final[Mapping[str, Checker]] = {"defaults": _passthrough, "versions": _passthrough}
VERSION_CHECKS: Final[Mapping[str, Checker]] = {
    "domain": _name_checker(check_domain),
    "domain_owner": _name_checker(check_account_id),
    "repository": _name_checker(check_repository),
    "namespace": _name_checker(check_package_part),
    "package": _name_checker(check_package_part),
    "version": _name_checker(check_package_part),
    "status": _check_status,
    "assets": _check_assets,
}
ASSET_CHECKS: Final[Mapping[str, Checker]] = {
    "path": _check_path,
    "url": _check_url,
    "name": _name_checker(check_asset_name),
    "sha256": _check_sha256,
    "size": _check_size,
    "sha1": _check_sha1,
    "etag": _check_etag,
    "last_modified": _check_last_modified,
}
