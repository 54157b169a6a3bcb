"""The shape of a manifest: the top level, `defaults`, and each entry made into a spec.

This module owns how fields combine into a version: caller defaults < the file's
`defaults` < the entry (defaults checked once, before any entry; invalid defaults stop
the read), the fields every version needs, and the `VersionSpec` built when nothing is
wrong. The per-field rules are in `fields`; which bytes make a node is the readers'.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Final, TypeAlias, cast

from uploader.domain import TargetStatus
from uploader.manifest.fields import (
    TOP_CHECKS,
    VERSION_CHECKS,
    Context,
    Fields,
    check_fields,
    field_path,
)
from uploader.manifest.jsonpos import JsonNode
from uploader.manifest.nodes import JsonObject, Node
from uploader.manifest.spec import Asset, Place, Problem, VersionSpec

CALLER_DEFAULTS_NAME: Final = "<defaults>"
"""How problems name the defaults the caller passed (flags, config)."""

Entries: TypeAlias = Iterator[VersionSpec | Problem]


def caller_defaults(defaults: Mapping[str, object], ctx: Context) -> Fields:
    """The caller's defaults (None values left out), checked as fields of a version."""
    given = JsonObject([(key, value) for key, value in defaults.items() if value is not None])
    node = JsonNode.wrap(given, 0, None)
    return check_fields(node, "", replace(ctx, file=CALLER_DEFAULTS_NAME), VERSION_CHECKS)


def read_tree(root: Node, inherited: Mapping[str, object], ctx: Context) -> Entries:
    """A whole YAML or JSON manifest: top-level checks, `defaults`, then each entry."""
    if root.kind != "mapping":
        message = f"the manifest must be a mapping with a `versions` list, not {root.kind}"
        yield Problem(ctx.place(root.line, ""), message)
        return
    values, problems = check_fields(root, "", ctx, TOP_CHECKS)
    yield from problems  # unknown top-level keys: reported, not fatal
    parts = cast(dict[str, Node], values)  # TOP_CHECKS pass the nodes through
    versions = _top_versions(root, parts, ctx)
    if isinstance(versions, Problem):
        yield versions
        return
    merged, problems = _file_defaults(parts, inherited, ctx)
    if problems:
        yield from problems
        return
    for index, entry in enumerate(versions.elements()):
        yield from read_entry(entry, index, f"versions[{index}]", merged, ctx)


def _top_versions(root: Node, parts: dict[str, Node], ctx: Context) -> Node | Problem:
    versions = parts.get("versions")
    if versions is None:
        return Problem(ctx.place(root.line, "versions"), "is required: the list of versions")
    if versions.kind != "list":
        return Problem(ctx.place(versions.line, "versions"), f"must be a list, not {versions.kind}")
    return versions


def _file_defaults(parts: dict[str, Node], inherited: Mapping[str, object], ctx: Context) -> Fields:
    node = parts.get("defaults")
    if node is None:
        return dict(inherited), []
    if node.kind != "mapping":
        message = f"must be a mapping of version fields, not {node.kind}"
        return {}, [Problem(ctx.place(node.line, "defaults"), message)]
    values, problems = check_fields(node, "defaults", ctx, VERSION_CHECKS)
    return {**inherited, **values}, problems


def read_entry(
    node: Node, index: int, path: str, inherited: Mapping[str, object], ctx: Context
) -> Entries:
    """One version entry: all its problems, or its spec."""
    place = ctx.place(node.line, path)
    if node.kind != "mapping":
        yield Problem(place, f"must be a mapping of version fields, not {node.kind}")
        return
    values, problems = check_fields(node, path, ctx, VERSION_CHECKS)
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


def _missing(merged: Mapping[str, object], line: int, path: str, ctx: Context) -> list[Problem]:
    return [
        Problem(ctx.place(line, field_path(path, key)), message)
        for key, message in _REQUIRED.items()
        if key not in merged
    ]


def _version_spec(merged: Mapping[str, object], place: Place, index: int) -> VersionSpec:
    text = cast(Mapping[str, str], merged)
    assets = cast(tuple[Asset, ...], merged["assets"])
    return VersionSpec(
        domain=text["domain"],
        domain_owner=text.get("domain_owner"),
        repository=text["repository"],
        namespace=text["namespace"],
        package=text["package"],
        version=text["version"],
        status=cast(TargetStatus, merged.get("status", TargetStatus.PUBLISHED)),
        assets=assets,
        place=place,
        index=index,
    )
