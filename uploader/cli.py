"""The command line. Thin: parse, set logging up, call one function, map errors to exit codes.

Exit codes (documented in README.md): 0 done, 1 some versions failed, 2 bad input or
usage, 3 could not start, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from uploader import __version__
from uploader.config import (
    DEFAULT_LOCAL_DIR,
    RunSettings,
    load_config_file,
    parse_rate,
    parse_shard,
)
from uploader.errors import ExitCode, InvalidInputError
from uploader.logs import LogFormat, configure_logging
from uploader.manifest import TargetStatus

if TYPE_CHECKING:
    from uploader.emulator import Emulator

FC = TypeVar("FC", bound=Callable[..., Any])


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


async def _serve(server: Emulator) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        click.echo(f"listening on {server.endpoint_url}")
        sys.stdout.flush()
        await stop.wait()
    return ExitCode.OK


def _option(*decls: str, **kwargs: Any) -> Callable[[FC], FC]:
    """A click option that also reads `UPLOADER_<NAME>` from the environment."""
    name = next(d for d in decls if d.startswith("--")).split("/")[0]
    kwargs.setdefault("envvar", "UPLOADER_" + name[2:].replace("-", "_").upper())
    kwargs.setdefault("show_default", "default" in kwargs and kwargs["default"] is not None)
    return click.option(*decls, **kwargs)


def _load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """`--config FILE` (eager): its section for this command becomes the defaults."""
    if value is None:
        return
    assert ctx.command.name is not None
    names = {
        p.name
        for p in ctx.command.params
        if p.name and isinstance(p, click.Option) and not p.hidden
    }
    try:
        ctx.default_map = load_config_file(value, ctx.command.name, names)
        ctx.meta["uploader.config"] = value
    except InvalidInputError as error:
        raise click.BadParameter(str(error), ctx=ctx, param_hint="--config") from None


def _options(options: list[Callable[[FC], FC]]) -> Callable[[FC], FC]:
    def decorate(command: FC) -> FC:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


_CONFIG = _option(
    "--config", type=click.Path(dir_okay=False, exists=True, path_type=Path), is_eager=True,
    expose_value=False, callback=_load_config,
    help="TOML settings file (its [run] table); flags and UPLOADER_* variables win over it.",
)  # fmt: skip

_TARGET = _options([
    _option("--domain", help="Default domain of entries."),
    _option("--domain-owner", metavar="ACCOUNT", help="Account owning the domain (12 digits)."),
    _option("--repository", help="Default repository of entries."),
    _option("--namespace", help="Default namespace of entries."),
    _option("--region", help="AWS region (default: the AWS configuration's)."),
    _option("--profile", help="AWS named profile."),
    _option("--endpoint-url",
            help="Another endpoint, e.g. an emulator (AWS_ENDPOINT_URL_CODEARTIFACT works too)."),
    _option("--local", is_flag=True, help="Start the embedded emulator and upload to it."),
    _option("--local-dir", type=click.Path(file_okay=False, path_type=Path),
            default=str(DEFAULT_LOCAL_DIR), help="Where --local keeps the emulator's data."),
    _option("--allow-outside", is_flag=True,
            help="Let asset paths resolve outside the manifest's folder."),
])  # fmt: skip

_RUN = _options([
    _option("--status", type=click.Choice([s.value for s in TargetStatus]),
            help="Default final status of versions (Published unless the manifest says)."),
    _option("--workers", type=click.IntRange(min=1), default=8,
            help="Versions in flight at once."),
    _option("--max-uploads", type=click.IntRange(min=1), default=16,
            help="Asset uploads in flight at once."),
    _option("--hash-threads", type=click.IntRange(min=1), default=2, help="Threads hashing files."),
    _option("--rate", metavar="REQ_PER_S|auto",
            help="Publish rate (default: AWS's quota, 10/s); `auto` adapts to throttling."),
    _option("--max-attempts", type=click.IntRange(min=1), default=8,
            help="Attempts per request, the first included."),
    _option("--report", type=click.Path(dir_okay=False, path_type=Path),
            help="Write a JSON report here."),
    _option("--dry-run", is_flag=True, help="Validate and hash; send nothing."),
    _option("--journal", type=click.Path(dir_okay=False, path_type=Path),
            help="Resume journal (default: .uploader/journal.sqlite beside the manifest)."),
    _option("--no-resume", is_flag=True,
            help="Trust nothing the journal remembers: ask the service about every version "
                 "and hash every file again (the journal is still written)."),
    _option("--reconcile", is_flag=True,
            help="Ask the service about every version, even those the journal says are done "
                 "(unchanged files are not hashed again)."),
    _option("--drain-timeout", type=click.FloatRange(min=0), default=30.0,
            help="After SIGINT/SIGTERM, seconds requests in flight may take."),
    _option("--shard", metavar="K/N",
            help="Take the K-th of N shares of the packages (for parallel jobs)."),
    _option("--processes", type=click.IntRange(min=1), default=1,
            help="Processes sharing the run, each with its own connections, and 1/N of the "
                 "rates (for endpoints that allow more than one process can send)."),
    click.option("--part", metavar="J/M", hidden=True,
                 help="This process's share of a --processes run (set by the parent)."),
    _option("--log-format", type=click.Choice(["auto", "console", "json"]), default="auto",
            help="Log lines for people or for machines (auto: console on a terminal)."),
    _option("--no-progress", is_flag=True,
            help="No progress display (there is none anyway when stderr is not a terminal)."),
])  # fmt: skip


def _run_settings(manifest: str, params: dict[str, Any]) -> RunSettings:
    """The typed settings from click's parameters (flags < env < config < defaults)."""
    values = dict(params)
    rate = values.pop("rate")
    shard = values.pop("shard")
    part = values.pop("part")
    status = values.pop("status")
    values.pop("log_format", None)
    values.pop("no_progress", None)
    rate_per_s, rate_auto = parse_rate(rate) if rate is not None else (None, False)
    return RunSettings(
        manifest=manifest,
        rate_per_s=rate_per_s,
        rate_auto=rate_auto,
        shard=parse_shard(shard) if shard else (1, 1),
        part=parse_shard(part, env={}) if part else (1, 1),
        status=TargetStatus(status) if status else None,
        resume=not values.pop("no_resume"),
        drain_timeout_s=values.pop("drain_timeout"),
        **values,
    )


@main.command()
@click.argument("manifest")
@_CONFIG
@_TARGET
@_RUN
def run(manifest: str, **params: Any) -> None:
    """Upload every package version a MANIFEST lists (`-` reads JSON Lines from stdin)."""
    from uploader.progress import log_stream, progress_console, progress_enabled

    console = None
    if progress_enabled(params["no_progress"], sys.stderr) and params["log_format"] != "json":
        console = progress_console()
    configure_logging(params["log_format"], stream=log_stream(console) if console else None)
    try:
        settings = _run_settings(manifest, params)
    except InvalidInputError as error:
        raise click.UsageError(str(error)) from None
    try:
        if settings.processes > 1:
            from uploader import parts  # not the runner: the parent only starts the others

            report = asyncio.run(parts.run_parts(settings, params["log_format"]))
        else:
            from uploader import runner

            report = asyncio.run(runner.run(settings, console=console))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except InvalidInputError as error:  # found before any work (an unwritable --report)
        click.echo(f"error: {error}", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    click.echo(report.summary(), err=report.to_stdout)  # `--report -` has stdout to itself
    if report.write_error is not None:
        click.echo(f"error: {report.write_error}", err=True)
    elif settings.report is not None and not report.to_stdout:
        click.echo(f"report: {settings.report}")
    sys.exit(report.exit_code())


@main.command(name="run-part", hidden=True)
@click.argument("part_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("log_format", type=click.Choice(["auto", "console", "json"]))
def run_part(part_dir: Path, log_format: LogFormat) -> None:
    """One process's share of `run --processes N` (started by that run; parts.py)."""
    import stat
    import threading

    from uploader import parts, runner

    def stop_when_orphaned() -> None:
        # The parent never writes: the read returns b"" when it is gone. os.read on the
        # raw fd, not sys.stdin: a daemon thread blocked inside a buffered reader holds
        # its lock, and the interpreter's shutdown then aborts (SIGABRT) trying to take it.
        while os.read(stdin_fd, 4096):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    configure_logging(log_format)
    try:
        settings = parts.load_part(part_dir)
    except (OSError, ValueError, TypeError, InvalidInputError) as error:
        click.echo(f"error: cannot read {part_dir}: {error}", err=True)
        sys.exit(ExitCode.CANNOT_START)
    stdin_fd = sys.stdin.fileno() if sys.stdin is not None else -1
    if stdin_fd >= 0 and stat.S_ISFIFO(os.fstat(stdin_fd).st_mode):  # started by a parent
        threading.Thread(target=stop_when_orphaned, name="parent-watch", daemon=True).start()
    try:
        report = asyncio.run(
            runner.run(settings, part_dir=part_dir, on_listening=lambda: parts.mark_ready(part_dir))
        )
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    sys.exit(report.exit_code())


@main.command()
@click.argument("manifest")
@_CONFIG
@_TARGET
@_options([
    _option("--workers", type=click.IntRange(min=1), default=8, help="Versions checked at once."),
    _option("--hash-threads", type=click.IntRange(min=1), default=2, help="Threads hashing files."),
    _option("--max-attempts", type=click.IntRange(min=1), default=8,
            help="Attempts per request, the first included."),
    _option("--report", type=click.Path(dir_okay=False, path_type=Path),
            help="Write the differences here as JSON."),
    _option("--log-format", type=click.Choice(["auto", "console", "json"]), default="auto",
            help="Log lines for people or for machines (auto: console on a terminal)."),
])  # fmt: skip
def verify(manifest: str, report: Path | None, log_format: LogFormat, **params: Any) -> None:
    """Compare the service's assets with a MANIFEST's local files (exit 1 on any difference).

    Missing versions or assets, extra assets, different SHA-256s and wrong statuses are
    listed one per line on stdout; nothing is written to the service.
    """
    import json

    from uploader import runner
    from uploader.errors import FatalRemoteError
    from uploader.verify import Finding

    configure_logging(log_format)
    settings = RunSettings(manifest=manifest, **params)
    findings: list[dict[str, str]] = []

    def on_finding(finding: Finding) -> None:
        click.echo(str(finding))
        if report is not None:
            findings.append(finding.to_json())

    def on_problem(problem: object) -> None:
        click.echo(str(problem), err=True)

    try:
        tally = asyncio.run(runner.verify(settings, on_finding=on_finding, on_problem=on_problem))
    except FatalRemoteError as error:
        click.echo(f"cannot verify: {error}", err=True)
        sys.exit(ExitCode.CANNOT_START)
    click.echo(tally.summary())
    if report is not None:
        report.write_text(json.dumps({"summary": tally.summary(), "differences": findings}) + "\n")
    if tally.problems and not tally.versions:
        sys.exit(ExitCode.BAD_INPUT)
    sys.exit(ExitCode.SOME_FAILED if tally.findings or tally.problems else ExitCode.OK)


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
    for repository in summary.repositories:  # never summed: each target has its own truth
        click.echo(f"{repository.name}:")
        for what, counts in (("versions", repository.versions), ("assets", repository.assets)):
            shown = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"
            click.echo(f"  {what}: {shown}")
    if not summary.repositories:
        click.echo("versions: none")
    for failure in summary.failures:
        click.echo(f"failed: {failure.key}: {failure.error}")


@main.group()
def config() -> None:
    """Inspect the settings `uploader run` would use."""


@config.command("show", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def config_show(args: tuple[str, ...]) -> None:
    """Print the effective settings of `uploader run [OPTIONS]`, each with its source.

    Sources, lowest first: default < config file (--config, UPLOADER_CONFIG) <
    environment (UPLOADER_*) < flag.
    """
    assert isinstance(run, click.Command)
    with run.make_context("run", ["-", *args]) as ctx:
        config_file = ctx.meta.get("uploader.config")
        for param in run.params:
            if (
                not isinstance(param, click.Option)
                or param.hidden
                or param.name in (None, "config")
            ):
                continue
            source = ctx.get_parameter_source(param.name)
            where = {
                ParameterSource.DEFAULT_MAP: f"config {config_file}",
                ParameterSource.ENVIRONMENT: f"env {param.envvar}",
                ParameterSource.COMMANDLINE: "flag",
            }.get(source, "default") if source else "default"  # fmt: skip
            value = ctx.params.get(param.name)
            click.echo(f"{param.name:<14} = {_shown(value):<30} {where}")


def _shown(value: object) -> str:
    return "-" if value is None else str(value)


@main.command()
@click.argument("root", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--layout",
    default="{namespace}/{package}/{version}/",
    show_default=True,
    help="Folders below ROOT, with {namespace}, {package} and {version}.",
)
@click.option("--namespace", help="The namespace, when the layout has no {namespace}.")
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="Only files matching (gitignore-style; repeatable).",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Skip files matching (wins over --include; repeatable).",
)
@click.option("--hidden", is_flag=True, help="Include files and folders starting with '.'.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON Lines manifest here (default: stdout).")  # fmt: skip
def scan(
    root: Path,
    layout: str,
    namespace: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    hidden: bool,
    output: Path | None,
) -> None:
    """Build a JSON Lines manifest from a directory tree (an Artifactory or Nexus export).

    Files that do not fit the layout, or break the service's name rules, are listed on
    stderr (exit 1); the rest is written.
    """
    from uploader import scan as scanning

    def on_problem(problem: scanning.ScanProblem) -> None:
        click.echo(str(problem), err=True)

    try:
        items = scanning.scan(
            root, layout=scanning.Layout.parse(layout), include=include, exclude=exclude,
            namespace=namespace, hidden=hidden,
            output_dir=(output.parent if output else Path.cwd()).resolve(),
            ignore_files=[output.resolve()] if output else [],
        )  # fmt: skip
        if output is None:
            totals = scanning.write_jsonl(items, sys.stdout, on_problem=on_problem)
        else:
            with output.open("w", encoding="utf-8") as out:
                totals = scanning.write_jsonl(items, out, on_problem=on_problem)
    except (ValueError, NotADirectoryError) as error:
        raise click.UsageError(str(error)) from None
    click.echo(
        f"scanned {root}: {totals.versions} version(s), {totals.assets} asset(s), "
        f"{totals.problems} problem(s)" + (f"; manifest: {output}" if output else ""),
        err=True,
    )
    sys.exit(ExitCode.SOME_FAILED if totals.problems else ExitCode.OK)
