"""The fast path of a JSON Lines entry: a plain, valid entry made into its spec directly.

Most lines of a big manifest are plain: known keys, each once, strings where strings go,
a short list of assets with a `path` each. For those, the full checks (`fields`, through
the node protocol, with a place for every field) cost more than the file system does.
`fast_version` checks such an entry with the same rules (`uploader.names`, the
constants, `Paths`) straight on the decoded value and returns its `VersionSpec`, or None
at the first thing that is not plain or not valid; the full checks then read that entry
and say what is wrong, and where. So the fast path decides nothing on its own: it only
accepts what the full checks accept, and yields the same spec (a differential property
test holds the two to that).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from uploader.constants import MAX_ASSETS_PER_VERSION
from uploader.domain import TargetStatus
from uploader.manifest.fields import Context
from uploader.manifest.nodes import JsonObject
from uploader.manifest.spec import AssetSpec, Place, VersionSpec
from uploader.names import (
    check_account_id,
    check_asset_name,
    check_domain,
    check_package_part,
    check_repository,
    check_sha256,
)

_NAMES: Final[Mapping[str, Callable[[str], str | None]]] = {
    "domain": check_domain,
    "domain_owner": check_account_id,
    "repository": check_repository,
    "namespace": check_package_part,
    "package": check_package_part,
    "version": check_package_part,
}
_STATUSES: Final = {status.value: status for status in TargetStatus}
_KNOWN_GOOD_CHARS: Final = 64
_KNOWN_GOOD_MAX: Final = 256  # names seen valid: most lines repeat the last few
_REQUIRED: Final = ("domain", "repository", "namespace", "package", "version")


def fast_version(
    entry: JsonObject, line: int, index: int, inherited: Mapping[str, object], ctx: Context
) -> VersionSpec | None:
    """The spec of a plain, valid entry; None sends the entry to the full checks."""
    fields = dict(inherited)
    assets = _version_fields(entry, fields, ctx.valid_names)
    if assets is _NOT_PLAIN:
        return None
    if not all(key in fields for key in _REQUIRED):
        return None
    specs = _assets(assets, line, ctx)
    if specs is None:
        return None
    return VersionSpec(
        domain=str(fields["domain"]),
        domain_owner=_optional(fields.get("domain_owner")),
        repository=str(fields["repository"]),
        namespace=str(fields["namespace"]),
        package=str(fields["package"]),
        version=str(fields["version"]),
        status=_status(fields.get("status", TargetStatus.PUBLISHED)),
        assets=specs,
        place=Place(ctx.file, line, ""),
        index=index,
    )


_NOT_PLAIN: Final = object()


def _version_fields(
    entry: JsonObject, fields: dict[str, object], good: set[tuple[str, object]]
) -> object:
    """Put the entry's checked fields in `fields`; its `assets` value, or _NOT_PLAIN."""
    seen: set[str] = set()
    assets: object = None
    for key, value in entry.pairs:
        if key in seen:
            return _NOT_PLAIN
        seen.add(key)
        if key == "assets":
            assets = value
        elif key == "status":
            status = _STATUSES.get(value) if type(value) is str else None
            if status is None:
                return _NOT_PLAIN
            fields[key] = status
        elif not _valid_name(key, value, good):
            return _NOT_PLAIN
        else:
            fields[key] = value
    return assets


def _valid_name(key: str, value: object, good: set[tuple[str, object]]) -> bool:
    """Whether `key` is a name field and `value` passes its rule (remembered if so)."""
    if type(value) is not str:
        return False
    if (key, value) in good:
        return True
    check = _NAMES.get(key)
    if check is None or check(value) is not None:
        return False
    if key != "version" and len(value) <= _KNOWN_GOOD_CHARS:  # versions rarely repeat
        if len(good) >= _KNOWN_GOOD_MAX:
            good.clear()
        good.add((key, value))
    return True


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def _status(value: object) -> TargetStatus:
    return value if isinstance(value, TargetStatus) else TargetStatus(str(value))


def _assets(value: object, line: int, ctx: Context) -> tuple[AssetSpec, ...] | None:
    if type(value) is not list or not 0 < len(value) <= MAX_ASSETS_PER_VERSION:
        return None
    specs: list[AssetSpec] = []
    names: set[str] = set()
    for number, item in enumerate(value):
        spec = _asset(item, Place(ctx.file, line, f"assets[{number}]"), ctx)
        if spec is None or spec.name in names:
            return None
        names.add(spec.name)
        specs.append(spec)
    return tuple(specs)


def _asset(item: object, place: Place, ctx: Context) -> AssetSpec | None:
    if type(item) is not JsonObject:
        return None
    path = name = sha256 = None
    seen: set[str] = set()
    for key, value in item.pairs:
        if key in seen or type(value) is not str:
            return None
        seen.add(key)
        if key == "path":
            path = value
        elif key == "name":
            name = value
        elif key == "sha256":
            sha256 = value.lower()
        else:
            return None
    if not path:
        return None
    name = os.path.basename(path) if name is None else name
    if check_asset_name(name) is not None or (sha256 is not None and check_sha256(sha256)):
        return None
    resolved = ctx.paths.check(path)
    if not isinstance(resolved, Path):
        return None
    return AssetSpec(name, resolved, sha256, place)
