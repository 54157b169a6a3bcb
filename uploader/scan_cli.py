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
    from uploader.stores.listing import ListingScan, StoreFile

__all__ = ["SourceOptions", "scan_store", "source_options"]

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


def scan_store(
    root: str, options: SourceOptions, scanner: ListingScan, writer: JsonlWriter
) -> None:
    """List the store ROOT names and write its manifest as it comes (runs an event loop)."""
    asyncio.run(_scan(root, options, scanner, writer))


async def _scan(
    root: str, options: SourceOptions, scanner: ListingScan, writer: JsonlWriter
) -> None:
    from uploader.stores.listing import ListingOrderError, scan_listing

    async with _listing(root, options, scanner) as files:
        try:
            async for item in scan_listing(files, scanner):
                writer.write(item)
        except ListingOrderError as error:
            raise FatalRemoteError(f"source: {root}: {error}") from error


@contextlib.asynccontextmanager
async def _listing(
    root: str, options: SourceOptions, scanner: ListingScan
) -> AsyncIterator[AsyncIterator[StoreFile | ScanProblem]]:
    if options.artifactory or options.nexus:
        async with _http_listing(root, options, scanner) as files:
            yield files
        return
    from uploader.stores import s3

    where = s3.S3Location.parse(root)
    settings = s3.S3Settings(
        options.source_profile, options.source_region, options.source_endpoint_url
    )
    async with s3.open_s3(settings) as client:
        yield s3.list_s3(client, where)


@contextlib.asynccontextmanager
async def _http_listing(
    repo: str, options: SourceOptions, scanner: ListingScan
) -> AsyncIterator[AsyncIterator[StoreFile | ScanProblem]]:
    from uploader.stores.http import (
        GuardedClient,
        Origin,
        SourceAuth,
        load_netrc,
        open_session,
        parse_source_header,
    )

    base = _base_url(options.artifactory or options.nexus or "")
    if not repo or "/" in repo:
        raise InvalidInputError(f"repository {repo!r}: give the repository's name as ROOT")
    headers = tuple(parse_source_header(text) for text in options.source_headers)
    auth = SourceAuth(Origin.of(base), headers, load_netrc())
    async with open_session() as session:
        client = GuardedClient(session, auth)
        if options.artifactory:
            from uploader.stores import artifactory

            where = artifactory.ArtifactoryRepo(base, repo)
            yield artifactory.list_artifactory(
                client, where, deep_at=scanner.deep_at, pruned=scanner.pruned
            )
        else:
            from uploader.stores import nexus

            yield nexus.list_nexus(client, nexus.NexusRepo(base, repo))


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
