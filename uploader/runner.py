"""`uploader run` as one function: settings in, a finished Report out.

Composes the pieces (manifest reader, emulator for `--local`, client, hasher, limits,
pipeline, report) and owns their lifetimes; the CLI only parses and prints.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator

import structlog

from uploader import constants as c
from uploader.codeartifact import ClientSettings, CodeArtifact, open_client
from uploader.config import LOCAL_CREDENTIALS, RunSettings
from uploader.emulator import Emulator
from uploader.errors import FatalRemoteError
from uploader.hashing import Hasher
from uploader.manifest import Problem, VersionSpec, read_manifest
from uploader.pipeline import Options, Pipeline
from uploader.report import Report

log = structlog.get_logger(__name__)
CONNECTIONS_BEYOND_UPLOADS = 8  # for the list, describe and finalize calls beside uploads


def manifest_entries(settings: RunSettings) -> Iterator[VersionSpec | Problem]:
    """The manifest's entries, with the settings' defaults beneath the file's own."""
    return read_manifest(
        settings.manifest,
        defaults=settings.manifest_defaults(),
        allow_outside=settings.allow_outside,
    )


def _options(settings: RunSettings) -> Options:
    return Options(
        workers=settings.workers,
        max_uploads=settings.max_uploads,
        max_attempts=settings.max_attempts,
        dry_run=settings.dry_run,
        create_missing=settings.local,
        shard=settings.shard,
    )


async def _open_api(settings: RunSettings, stack: contextlib.AsyncExitStack) -> CodeArtifact | None:
    """The client for this run: None for a dry run; the embedded emulator for `--local`."""
    if settings.dry_run:
        return None
    client_settings = ClientSettings(
        region=settings.region,
        profile=settings.profile,
        endpoint_url=settings.endpoint_url,
        max_connections=settings.max_uploads + CONNECTIONS_BEYOND_UPLOADS,
    )
    if settings.local:
        emulator = await stack.enter_async_context(Emulator(settings.local_dir))
        log.info("local emulator started", endpoint=emulator.endpoint_url)
        client_settings = ClientSettings(
            region=settings.region or c.DEFAULT_REGION,
            endpoint_url=emulator.endpoint_url,
            max_connections=client_settings.max_connections,
            access_key_id=LOCAL_CREDENTIALS[0],
            secret_access_key=LOCAL_CREDENTIALS[1],
        )
    client = await stack.enter_async_context(open_client(client_settings))
    return CodeArtifact(client)


async def run(
    settings: RunSettings, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> Report:
    """Upload everything the manifest lists; the report says how it went.

    Args:
        settings: what to upload, where, how hard.
        sleep: the retry back-off's sleep (tests observe the waits through it).
    """
    report = Report(settings.report)
    try:
        async with contextlib.AsyncExitStack() as stack:
            hasher = await stack.enter_async_context(Hasher(hash_threads=settings.hash_threads))
            try:
                api = await _open_api(settings, stack)
                limits = settings.rate_limits()
                pipeline = Pipeline(api, hasher, limits, report, _options(settings), sleep=sleep)
                await pipeline.run(manifest_entries(settings))
            except FatalRemoteError as error:
                report.fatal = str(error)
                log.error("cannot go on", error=str(error), code=error.code)
        report.write()
    finally:
        report.close()
    return report
