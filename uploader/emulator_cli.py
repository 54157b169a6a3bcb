"""`uploader emulator`: run the CodeArtifact emulator as a server until interrupted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from uploader import constants as c
from uploader.errors import Outcome
from uploader.logs import configure_logging
from uploader.serving import serve_until_signal


def _parse_credentials(values: tuple[str, ...]) -> dict[str, str] | None:
    if not values:
        return None
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, secret = value.partition(":")
        if not sep or not key or not secret:
            raise click.BadParameter("expected ACCESS_KEY:SECRET", param_hint="--credentials")
        pairs[key] = secret
    return pairs


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port; 0 picks a free one.",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Persistent store folder (default: a temporary one, removed at exit).",
)
@click.option(
    "--repo",
    "repos",
    multiple=True,
    metavar="DOMAIN/REPO",
    help="Create this domain and repository at start (repeatable).",
)
@click.option(
    "--credentials",
    "credential_pairs",
    multiple=True,
    metavar="KEY:SECRET",
    help="Accept only SigV4 signatures by these keys (repeatable). "
    "Without it any well-formed signature is accepted.",
)
@click.option(
    "--quotas",
    type=click.Choice(["none", "aws"]),
    default="none",
    show_default=True,
    help="Request-rate quotas: none, or AWS's defaults (publish 10/s, ...).",
)
@click.option(
    "--rate",
    "rates",
    multiple=True,
    metavar="OPERATION=N",
    help="Quota for one operation in requests/s, e.g. publish=20 (repeatable).",
)
@click.option(
    "--faults",
    "fault_specs",
    multiple=True,
    metavar="SPEC",
    help="Seeded faults, e.g. 'publish:error=0.05,reset=0.02,lost_reply=0.02,"
    "latency=20ms' (repeatable).",
)
@click.option(
    "--republish",
    type=click.Choice(["accept", "conflict"]),
    default="accept",
    show_default=True,
    help="A second publish of an asset with the same SHA-256: accepted without adding an "
    "asset, as AWS documents (identical checksums are idempotent, other content is 409), "
    "or 'conflict': a ConflictException, stricter than AWS.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the fault schedule.")
@click.option(
    "--max-asset-size",
    "max_asset_size_bytes",
    type=click.IntRange(min=1),
    default=None,
    help="Largest asset in bytes (default: AWS's 5 GB).",
)
@click.option(
    "--max-assets-per-version",
    "max_assets_per_version",
    type=click.IntRange(min=1),
    default=c.MAX_ASSETS_PER_VERSION,
    show_default=True,
    help="Most assets a package version may hold; one more is a "
    "ServiceQuotaExceededException. AWS's English quotas page says 150, a newer "
    "translated one 350.",
)
def emulator(
    host: str,
    port: int,
    data_dir: Path | None,
    repos: tuple[str, ...],
    credential_pairs: tuple[str, ...],
    quotas: str,
    rates: tuple[str, ...],
    fault_specs: tuple[str, ...],
    republish: str,
    seed: int,
    max_asset_size_bytes: int | None,
    max_assets_per_version: int,
) -> Outcome:
    """Run a CodeArtifact-compatible server until interrupted.

    The first line on stdout is `listening on http://HOST:PORT`.
    """
    from uploader.emulator import Emulator  # the server's modules load only when it runs
    from uploader.emulator.catalog import Limits
    from uploader.emulator.faults import FaultPlan, Quotas, parse_rate

    configure_logging()
    try:
        limits = Quotas.aws() if quotas == "aws" else Quotas.none()
        for text in rates:
            limits = limits.with_rate(*parse_rate(text))
        plan = FaultPlan.parse(fault_specs, seed=seed)
        server = Emulator(
            data_dir,
            host=host,
            port=port,
            repos=repos,
            credentials=_parse_credentials(credential_pairs),
            quotas=limits,
            faults=plan,
            max_asset_size_bytes=max_asset_size_bytes or c.MAX_ASSET_SIZE_BYTES,
            republish_conflicts=republish == "conflict",
            limits=Limits(assets_per_version=max_assets_per_version),
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    return asyncio.run(serve_until_signal(server, lambda: server.endpoint_url))
