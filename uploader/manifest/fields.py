"""The rules for each field of a version and of an asset, with the place of every problem.

This module owns the per-field checks: which keys a version, an asset and the top level
take (a close match is suggested for an unknown key), strings where names are expected
(with the service's name rules from `uploader.names`), statuses, SHA-256s, the asset list
(not empty, at most the service's limit, names unique) and each asset's path. Checks see
values only through the `Node` protocol, so they are the same for every format.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, NamedTuple, TypeAlias, cast

from uploader.constants import MAX_ASSETS_PER_VERSION
from uploader.domain import TargetStatus
from uploader.manifest.nodes import Node
from uploader.manifest.paths import Paths
from uploader.manifest.spec import AssetSpec, Place, Problem
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
    where: Where


def _check_asset(node: Node, path: str, ctx: Context) -> tuple[AssetSpec | None, list[Problem]]:
    place = ctx.place(node.line, path)
    if node.kind != "mapping":
        return None, [Problem(place, f"must be a mapping with a `path`, not {node.kind}")]
    fields, problems = check_fields(node, path, ctx, ASSET_CHECKS)
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
    "name": _name_checker(check_asset_name),
    "sha256": _check_sha256,
}
