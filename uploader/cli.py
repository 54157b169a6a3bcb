"""The command line. Thin: parse, set logging up, call one function, map errors to exit codes.

Exit codes (documented in README.md): 0 done, 1 some versions failed, 2 bad input or
usage, 3 could not start, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from uploader import __version__
from uploader.config import DEFAULT_LOCAL_DIR
from uploader.errors import ExitCode, InvalidInputError
from uploader.logs import LogFormat, configure_logging
from uploader.manifest import TargetStatus


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="uploader")
def main() -> None:
    """Bulk uploader for AWS CodeArtifact generic packages."""


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


@main.command()
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
    help="A second publish of an asset with the same SHA-256: accepted, or a "
    "ConflictException (AWS documents neither).",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the fault schedule.")
@click.option(
    "--max-asset-size",
    "max_asset_size_bytes",
    type=click.IntRange(min=1),
    default=None,
    help="Largest asset in bytes (default: AWS's 5 GB).",
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
) -> None:
    """Run a CodeArtifact-compatible server until interrupted.

    The first line on stdout is `listening on http://HOST:PORT`.
    """
    from uploader import constants as c
    from uploader.emulator import Emulator
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
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    sys.exit(asyncio.run(_serve(server)))


async def _serve(server: object) -> int:
    from uploader.emulator import Emulator

    assert isinstance(server, Emulator)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        click.echo(f"listening on {server.endpoint_url}")
        sys.stdout.flush()
        await stop.wait()
    return ExitCode.OK


def _target_options(command: Callable[..., None]) -> Callable[..., None]:
    """Where uploads go: shared by `run` and (later) `verify`."""
    options = [
        click.option("--domain", envvar="UPLOADER_DOMAIN", help="Default domain of entries."),
        click.option("--domain-owner", envvar="UPLOADER_DOMAIN_OWNER", metavar="ACCOUNT",
                     help="Account that owns the domain (12 digits)."),
        click.option("--repository", envvar="UPLOADER_REPOSITORY",
                     help="Default repository of entries."),
        click.option("--namespace", envvar="UPLOADER_NAMESPACE",
                     help="Default namespace of entries."),
        click.option("--region", envvar="UPLOADER_REGION",
                     help="AWS region (default: the AWS configuration's)."),
        click.option("--profile", envvar="UPLOADER_PROFILE", help="AWS named profile."),
        click.option("--endpoint-url", envvar="UPLOADER_ENDPOINT_URL",
                     help="Another endpoint, e.g. an emulator. "
                     "AWS_ENDPOINT_URL_CODEARTIFACT works too."),
        click.option("--local", is_flag=True,
                     help="Start the embedded emulator and upload to it."),
        click.option("--local-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=str(DEFAULT_LOCAL_DIR), show_default=True,
                     help="Where --local keeps the emulator's data."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


@main.command()
@click.argument("manifest")
@_target_options
@click.option(
    "--status",
    type=click.Choice([s.value for s in TargetStatus]),
    default=None,
    envvar="UPLOADER_STATUS",
    help="Default final status of versions (Published unless the manifest says).",
)
@click.option(
    "--workers",
    type=int,
    default=8,
    show_default=True,
    envvar="UPLOADER_WORKERS",
    help="Versions in flight at once.",
)
@click.option(
    "--max-uploads",
    type=int,
    default=16,
    show_default=True,
    envvar="UPLOADER_MAX_UPLOADS",
    help="Asset uploads in flight at once.",
)
@click.option(
    "--hash-threads",
    type=int,
    default=2,
    show_default=True,
    envvar="UPLOADER_HASH_THREADS",
    help="Threads hashing files.",
)
@click.option(
    "--rate",
    default=None,
    envvar="UPLOADER_RATE",
    metavar="REQ_PER_S|auto",
    help="Publish rate (default: AWS's quota, 10/s); `auto` adapts to throttling.",
)
@click.option(
    "--max-attempts",
    type=int,
    default=8,
    show_default=True,
    envvar="UPLOADER_MAX_ATTEMPTS",
    help="Attempts per request, the first included.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="UPLOADER_REPORT",
    help="Write a JSON report here.",
)
@click.option("--dry-run", is_flag=True, help="Validate and hash; send nothing.")
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="UPLOADER_JOURNAL",
    help="Resume journal (default: .uploader/journal.sqlite beside the manifest).",
)
@click.option(
    "--no-resume",
    "no_resume",
    is_flag=True,
    help="Ignore what the journal says is done (it is still written).",
)
@click.option(
    "--drain-timeout",
    "drain_timeout_s",
    type=float,
    default=30.0,
    show_default=True,
    envvar="UPLOADER_DRAIN_TIMEOUT",
    help="After SIGINT/SIGTERM, seconds requests in flight may take.",
)
@click.option(
    "--shard",
    default=None,
    envvar="UPLOADER_SHARD",
    metavar="K/N",
    help="Take the K-th of N shares of the packages (for parallel jobs).",
)
@click.option(
    "--allow-outside", is_flag=True, help="Let asset paths resolve outside the manifest's folder."
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "console", "json"]),
    default="auto",
    envvar="UPLOADER_LOG_FORMAT",
    show_default=True,
    help="Log lines for people or for machines (auto: console on a terminal).",
)
def run(
    manifest: str,
    report_path: Path | None,
    rate: str | None,
    shard: str | None,
    log_format: LogFormat,
    **options: Any,
) -> None:
    """Upload every package version a MANIFEST lists (`-` reads JSON Lines from stdin)."""
    configure_logging(log_format)
    from uploader import runner
    from uploader.config import RunSettings, parse_rate, parse_shard

    try:
        rate_per_s, rate_auto = parse_rate(rate) if rate is not None else (None, False)
        status = options.pop("status")
        options["resume"] = not options.pop("no_resume")
        settings = RunSettings(
            manifest=manifest, report=report_path, rate_per_s=rate_per_s, rate_auto=rate_auto,
            shard=parse_shard(shard) if shard else (1, 1),
            status=TargetStatus(status) if status else None, **options,
        )  # fmt: skip
    except InvalidInputError as error:
        raise click.UsageError(str(error)) from None
    try:
        report = asyncio.run(runner.run(settings))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    click.echo(report.summary())
    if report_path is not None:
        click.echo(f"report: {report_path}")
    sys.exit(report.exit_code())


@main.command()
@click.argument("manifest")
@click.option("--allow-outside", is_flag=True,
              help="Let asset paths resolve outside the manifest's folder.")  # fmt: skip
def validate(manifest: str, allow_outside: bool) -> None:
    """Check a MANIFEST without uploading: every problem, one line each (exit 2 if any)."""
    from uploader.manifest import Problem, read_manifest

    problems = versions = assets = 0
    for entry in read_manifest(manifest, allow_outside=allow_outside):
        if isinstance(entry, Problem):
            problems += 1
            click.echo(str(entry), err=True)
        else:
            versions += 1
            assets += len(entry.assets)
    name = "<stdin>" if manifest == "-" else manifest
    if problems:
        click.echo(f"{name}: {problems} problem(s); {versions} valid version(s)", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    click.echo(f"{name}: OK, {versions} version(s), {assets} asset(s)")


@main.command()
@click.argument("manifest", required=False)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="UPLOADER_JOURNAL",
    help="The journal to read (default: the one beside MANIFEST, or ./.uploader/journal.sqlite).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")  # fmt: skip
def status(manifest: str | None, journal: Path | None, as_json: bool) -> None:
    """What the resume journal says: versions and assets done, pending, failed."""
    import json

    from uploader.config import RunSettings
    from uploader.errors import JournalError
    from uploader.journal import Journal

    path = journal or RunSettings(manifest=manifest or "-").journal_path()
    if not path.exists():
        click.echo(f"no journal at {path}", err=True)
        sys.exit(ExitCode.BAD_INPUT)

    async def read() -> Any:
        async with Journal(path) as opened:
            return await opened.summary()

    try:
        summary = asyncio.run(read())
    except JournalError as error:
        click.echo(str(error), err=True)
        sys.exit(ExitCode.CANNOT_START)
    if as_json:
        click.echo(json.dumps({"journal": str(path), **summary.to_json()}))
        return
    click.echo(f"journal: {path}")
    for what, counts in (("versions", summary.versions), ("assets", summary.assets)):
        click.echo(
            f"{what}: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none")
        )
    for failure in summary.failures:
        click.echo(f"failed: {failure.key}: {failure.error}")
