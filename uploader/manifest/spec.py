"""What reading a manifest yields: checked `VersionSpec`s and `AssetSpec`s, or `Problem`s.

This module owns the values the rest of the program consumes (the pipeline, verify, the
report) and the `Place` every one of them carries, so that any message about an entry
can name its file, line and field. They are plain frozen records: nothing here reads,
parses or checks anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from uploader.domain import PackageRef, Target, TargetStatus


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

    @property
    def location(self) -> str:
        """Where the bytes are, as a report shows it."""
        return str(self.path)


@dataclass(frozen=True, slots=True)
class RemoteAssetSpec:
    """One asset read from a store (`url`), with what the store declares about it.

    `sha256` and `size_bytes` are declarations, to be verified when the bytes are read;
    `sha1` is a store's own checksum (Nexus, old Artifactory) to check the download
    against; `etag` and `last_modified` tell one state of the source from the next.
    """

    name: str
    url: str
    sha256: str | None
    place: Place
    size_bytes: int | None = None
    sha1: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def location(self) -> str:
        """Where the bytes are, as a report shows it (the URL as written: a manifest URL
        carries no user-info; the report and logs redact any query but `versionId`)."""
        return self.url


Asset = AssetSpec | RemoteAssetSpec
"""An asset of a version: a local file or an object of a remote store."""


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """One package version to publish, fully checked; `index` is its ordinal in the manifest.

    `assets` are local files (`AssetSpec`) and objects a `url` names (`RemoteAssetSpec`),
    in the manifest's order.
    """

    domain: str
    domain_owner: str | None
    repository: str
    namespace: str
    package: str
    version: str
    status: TargetStatus
    assets: tuple[Asset, ...]
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
