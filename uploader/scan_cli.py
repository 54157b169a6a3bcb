"""`uploader scan` of a remote store: the source options, and the scan run on an event loop.

`uploader scan s3://bucket/prefix/`, `uploader scan --artifactory URL REPO` and
`uploader scan --nexus URL REPO` list the store (`uploader.stores`) and write the
manifest as they list: lines come out as the listing goes, with the local scan's
layout, filters and problems (`uploader.stores.listing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from uploader.errors import FatalRemoteError, InvalidInputError

if TYPE_CHECKING:
    from uploader.scan import JsonlWriter, ScanProblem
    from uploader.stores.http import SourceAuth
    from uploader.stores.listing import ListingScan, StoreFile

__all__ = ["SourceOptions", "StoreScan", "prepare_store", "source_options"]

F = TypeVar("F", bound=Callable[..., Any])


def source_options(command: F) -> F:
    """The options of `scan` that name a remote store and how to reach it."""
    options = [
        click.option("--artifactory", metavar="URL",
                     help="Scan Artifactory repository ROOT at URL (https://host/artifactory)."),
        click.option("--nexus", metavar="URL",
                     help="Scan Nexus repository ROOT at URL (https://host)."),
        click.option("--source-profile", metavar="NAME", help="AWS profile of an s3:// ROOT."),
        click.option("--source-region", metavar="REGION", help="AWS region of an s3:// ROOT."),
        click.option("--source-endpoint-url", metavar="URL",
                     help="S3 endpoint of an s3:// ROOT (default: AWS_ENDPOINT_URL_S3, else AWS)."),
        click.option("--source-header", "source_headers", multiple=True, metavar="'NAME: VALUE'",
                     help="A header for Artifactory or Nexus requests (VALUE may be env:VAR; "
                     "repeatable); else ~/.netrc."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


@dataclass(frozen=True)
class SourceOptions:
    """What `source_options` parsed."""

    artifactory: str | None = None
    nexus: str | None = None
    source_profile: str | None = None
    source_region: str | None = None
    source_endpoint_url: str | None = None
    source_headers: tuple[str, ...] = ()

    @classmethod
    def pop(cls, params: dict[str, Any]) -> SourceOptions:
        """Take this dataclass's fields out of a command's parameters."""
        return cls(**{name: params.pop(name) for name in cls.__dataclass_fields__})

    def remote(self, root: str) -> bool:
        """Whether ROOT is a store (s3://, or a repository with --artifactory/--nexus)."""
        if self.artifactory and self.nexus:
            raise click.UsageError("give --artifactory or --nexus, not both")
        store = bool(self.artifactory or self.nexus or root.startswith("s3://"))
        s3_only = self.source_profile or self.source_region or self.source_endpoint_url
        if s3_only and not root.startswith("s3://"):
            raise click.UsageError("--source-profile/-region/-endpoint-url are for an s3:// ROOT")
        if self.source_headers and not (self.artifactory or self.nexus):
            raise click.UsageError("--source-header is for --artifactory or --nexus")
        return store


@dataclass(frozen=True)
class StoreScan:
    """A scan of a store, its arguments checked (`prepare_store`), not yet started."""

    root: str
    options: SourceOptions
    scanner: ListingScan
    auth: SourceAuth | None  # Artifactory and Nexus
    base: str

    def run(self, writer: JsonlWriter) -> None:
        """List the store and write its manifest as it comes (runs an event loop)."""
        asyncio.run(self._scan(writer))

    async def _scan(self, writer: JsonlWriter) -> None:
        from uploader.stores.listing import ListingOrderError, scan_listing

        async with self._listing() as files:
            try:
                async for item in scan_listing(files, self.scanner):
                    writer.write(item)
            except ListingOrderError as error:
                raise FatalRemoteError(f"source: {self.root}: {error}") from error

    @contextlib.asynccontextmanager
    async def _listing(self) -> AsyncIterator[AsyncIterator[StoreFile | ScanProblem]]:
        if self.auth is not None:
            async with self._http_listing(self.auth) as files:
                yield files
            return
        from uploader.stores import s3

        options = self.options
        settings = s3.S3Settings(
            options.source_profile, options.source_region, options.source_endpoint_url
        )
        async with s3.open_s3(settings) as client:
            yield s3.list_s3(client, s3.S3Location.parse(self.root))

    @contextlib.asynccontextmanager
    async def _http_listing(
        self, auth: SourceAuth
    ) -> AsyncIterator[AsyncIterator[StoreFile | ScanProblem]]:
        from uploader.stores.http import GuardedClient, open_session

        async with open_session() as session:
            client = GuardedClient(session, auth)
            if self.options.artifactory:
                from uploader.stores import artifactory

                where = artifactory.ArtifactoryRepo(self.base, self.root)
                yield artifactory.list_artifactory(
                    client, where, deep_at=self.scanner.deep_at, pruned=self.scanner.pruned
                )
            else:
                from uploader.stores import nexus

                yield nexus.list_nexus(client, nexus.NexusRepo(self.base, self.root))


def prepare_store(root: str, options: SourceOptions, scanner: ListingScan) -> StoreScan:
    """Check what names the store and its credentials, before anything is written."""
    if not (options.artifactory or options.nexus):
        from uploader.stores.s3 import S3Location

        S3Location.parse(root)
        return StoreScan(root, options, scanner, None, "")
    from uploader.stores.http import Origin, SourceAuth, load_netrc, parse_source_header

    base = _base_url(options.artifactory or options.nexus or "")
    if not root or "/" in root:
        raise InvalidInputError(f"repository {root!r}: give the repository's name as ROOT")
    headers = tuple(parse_source_header(text) for text in options.source_headers)
    return StoreScan(
        root, options, scanner, SourceAuth(Origin.of(base), headers, load_netrc()), base
    )


def _base_url(text: str) -> str:
    """A store's base URL: http(s), a host, no credentials, query or fragment."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInputError(f"{text!r}: expected https://HOST[/PATH]")
    if parts.username is not None or parts.query or parts.fragment:
        raise InvalidInputError(
            f"{parts.hostname}: give the base URL without credentials or a query"
        )
    return text.rstrip("/")
