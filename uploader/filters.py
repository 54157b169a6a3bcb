"""Which of a manifest's versions this process takes: its shard, its part.

    --shard K/N      the K-th of N shares of the packages (a package's versions stay
                     together: each is finalized by one job), for parallel jobs
    --processes M    this process is part J of M: every M-th version of its shard, round
                     robin, so parts get equal shares however the packages are sized

Manifest problems pass every shard (each job reports them) and go to part 1 only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from uploader.manifest import Problem, VersionSpec, read_manifest

if TYPE_CHECKING:
    from uploader.config import RunSettings


def manifest_entries(settings: RunSettings) -> Iterator[VersionSpec | Problem]:
    """The manifest's entries (this shard's, this part's), the settings' defaults beneath
    the file's own. Light to import: `validate` reads a manifest without loading the SDK."""
    entries = read_manifest(
        settings.manifest,
        defaults=settings.manifest_defaults(),
        allow_outside=settings.allow_outside,
        paths_from=settings.asset_root,
    )
    return in_part(in_shard(entries, settings.shard), settings.part)


def shard_of(spec: VersionSpec, shards: int) -> int:
    """The 1-based shard of a version: by package, so a package's versions stay together."""
    key = f"{spec.domain}/{spec.repository}/{spec.namespace}/{spec.package}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % shards + 1


def in_shard(
    entries: Iterator[VersionSpec | Problem], shard: tuple[int, int]
) -> Iterator[VersionSpec | Problem]:
    """The entries of shard (k, n): its versions, and every manifest problem."""
    k, n = shard
    for entry in entries:
        if n == 1 or isinstance(entry, Problem) or shard_of(entry, n) == k:
            yield entry


def in_part(
    entries: Iterator[VersionSpec | Problem], part: tuple[int, int]
) -> Iterator[VersionSpec | Problem]:
    """The entries of process j of m (`--processes`): every m-th version, round robin;
    the manifest's problems go to the first process only, so each is reported once."""
    j, m = part
    index = 0
    for entry in entries:
        if isinstance(entry, Problem):
            if j == 1:
                yield entry
            continue
        if index % m == j - 1:
            yield entry
        index += 1
