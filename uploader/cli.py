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
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import click
from click.core import ParameterSource

from uploader import __version__
from uploader import constants as c
from uploader.config import (
    CONFIG_TABLE,
    DEFAULT_LOCAL_DIR,
    MAX_PROCESSES,
    RunSettings,
    check_endpoint_env,
    check_endpoint_url,
    load_config_file,
    parse_rate,
    parse_shard,
)
from uploader.domain import TargetStatus
from uploader.errors import ExitCode, InvalidInputError
from uploader.logs import LogFormat, configure_logging

if TYPE_CHECKING:
    from rich.console import Console

    from uploader.emulator import Emulator

FC = TypeVar("FC", bound=Callable[..., Any])
# A reader that went away (`uploader verify ... | head -2`): end as a process killed by
# SIGPIPE would, 128 + 13, which is what shells report for `yes | head -1` too.
EXIT_BROKEN_PIPE: Final = 128 + signal.SIGPIPE


class _Uploader(click.Group):
    """The command group; a closed stdout ends any command quietly (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a broken pipe, bare or from inside a task group, exits quietly."""
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _closed_stdout()
        except BaseExceptionGroup as group:
            rest = group.subgroup(
                lambda e: not isinstance(e, (BrokenPipeError, BaseExceptionGroup))
            )
            if rest is not None or group.subgroup(BrokenPipeError) is None:
                raise
            _closed_stdout()


def _closed_stdout() -> NoReturn:
    """Exit for a reader that closed stdout, as Python's docs on SIGPIPE recommend.

    stdout now points at /dev/null, so the interpreter's last flush cannot fail again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_BROKEN_PIPE)


@click.group(cls=_Uploader, context_settings={"help_option_names": ["-h", "--help"]})
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


# --- settings: one table of options, shared by every command that reads a manifest -----


class SettingOption(click.Option):
    """A click option whose bad value names where it came from: flag, variable or file.

    click reports a bad `UPLOADER_WORKERS=abc` as `Invalid value for '--workers'`; a user
    who never typed `--workers` then looks in the wrong place.
    """

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        """Convert and check the value; a failure names its source."""
        try:
            return super().process_value(ctx, value)
        except click.BadParameter as error:
            assert self.name is not None
            source = ctx.get_parameter_source(self.name)
            if source is ParameterSource.ENVIRONMENT:
                error.param_hint = f"{_envvar_used(self)} (environment)"
            elif source is ParameterSource.DEFAULT_MAP:
                key = self.name.replace("_", "-")
                error.param_hint = f"{ctx.meta.get(CONFIG_META)}: {CONFIG_TABLE}.{key}"
            raise


def _envvar_used(option: click.Option) -> str:
    """The environment variable an option's value was read from."""
    names = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or ())
    return next((name for name in names if os.environ.get(name)), names[0] if names else "")


class _ParsedBy(click.ParamType[Any]):
    """A click type from one of config.py's parsers (InvalidInputError -> usage error).

    Values from the config file may already be numbers (`rate = 20`), or already parsed
    (a default); both are handled, so flags, variables and the file share one check.
    """

    def __init__(self, name: str, flag: str, parse: Callable[[str], Any]) -> None:
        self.name = name
        self._flag = flag
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse `value`, or fail with the parser's message (without the flag's name)."""
        if isinstance(value, tuple):
            return value
        try:
            return self._parse(str(value))
        except InvalidInputError as error:
            self.fail(str(error).removeprefix(self._flag).lstrip(": "), param, ctx)


RATE = _ParsedBy("rate", "--rate", parse_rate)
SHARD = _ParsedBy("shard", "--shard", parse_shard)
PART = _ParsedBy("part", "--part", lambda text: parse_shard(text, env={}))
ENDPOINT_URL = _ParsedBy("url", "--endpoint-url", check_endpoint_url)
CONFIG_META = "uploader.config"


def _option(*decls: str, **kwargs: Any) -> Callable[[FC], FC]:
    """A setting: a click option that also reads `UPLOADER_<NAME>` and the config file."""
    name = next(d for d in decls if d.startswith("--")).split("/")[0]
    kwargs.setdefault("envvar", "UPLOADER_" + name[2:].replace("-", "_").upper())
    kwargs.setdefault("show_default", "default" in kwargs and kwargs["default"] is not None)
    kwargs.setdefault("cls", SettingOption)
    return click.option(*decls, **kwargs)


def _load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """`--config FILE` (eager): its `[run]` table gives this command's defaults.

    Every command reads the same table: a key this command does not take is left to the
    others; a key no command takes is an error.
    """
    if value is None:
        return
    try:
        values = load_config_file(value, _setting_names(run))
    except InvalidInputError as error:
        raise click.BadParameter(str(error), ctx=ctx, param_hint="--config") from None
    names = _setting_names(ctx.command)
    ctx.default_map = {key: v for key, v in values.items() if key in names}
    ctx.meta[CONFIG_META] = value


def _setting_names(command: click.Command) -> set[str]:
    """The settings of a command, as the config file names them."""
    return {
        p.name
        for p in command.params
        if p.name and isinstance(p, SettingOption) and not p.hidden and p.name != "config"
    }


def _options(*options: Callable[[FC], FC]) -> Callable[[FC], FC]:
    def decorate(command: FC) -> FC:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


_CONFIG = _option(
    "--config", type=click.Path(dir_okay=False, exists=True, path_type=Path), is_eager=True,
    expose_value=False, callback=_load_config,
    help="TOML settings file (its [run] table, shared by every command); flags and UPLOADER_* "
         "variables win over it.",
)  # fmt: skip

# What a manifest's entries inherit, and which of them this process takes.
_MANIFEST = _options(
    _CONFIG,
    _option("--domain", help="Default domain of entries."),
    _option("--domain-owner", metavar="ACCOUNT", help="Account owning the domain (12 digits)."),
    _option("--repository", help="Default repository of entries."),
    _option("--namespace", help="Default namespace of entries."),
    _option("--status", type=click.Choice([s.value for s in TargetStatus]),
            help="Default final status of versions (Published unless the manifest says)."),
    _option("--allow-outside", is_flag=True,
            help="Let asset paths resolve outside the manifest's folder."),
    _option("--shard", type=SHARD, metavar="K/N|auto",
            help="Take the K-th of N shares of the packages (for parallel jobs)."),
)  # fmt: skip


def _endpoint(local_help: str) -> Callable[[FC], FC]:
    """Where the service is; `local_help` says what this command does with `--local`."""
    return _options(
        _option("--region", envvar=["UPLOADER_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"],
                help="AWS region (also AWS_REGION, then AWS_DEFAULT_REGION; default: the "
                     "profile's)."),
        _option("--profile", help="AWS named profile."),
        _option("--endpoint-url", type=ENDPOINT_URL,
                help="Another endpoint, e.g. an emulator (AWS_ENDPOINT_URL_CODEARTIFACT works "
                     "too)."),
        _option("--local", is_flag=True, help=local_help),
        _option("--local-dir", type=click.Path(file_okay=False, path_type=Path),
                default=str(DEFAULT_LOCAL_DIR), help="Where --local keeps the emulator's data."),
    )  # fmt: skip


def _work(workers_help: str, report_help: str) -> Callable[[FC], FC]:
    """How hard to work, and what to show: the options `run` and `verify` share."""
    return _options(
        _option("--workers", type=click.IntRange(min=1), default=8, help=workers_help),
        _option("--hash-threads", type=click.IntRange(min=1), default=2,
                help="Threads hashing files."),
        _option("--max-attempts", type=click.IntRange(min=1), default=8,
                help="Attempts per request, the first included."),
        _option("--max-retry-after", type=click.FloatRange(min=0, min_open=True),
                default=60.0, metavar="SECONDS",
                help="Longest wait a server's Retry-After can impose; past it we wait this "
                     "long and count the attempt."),
        _option("--report", type=click.Path(dir_okay=False, path_type=Path), help=report_help),
        _option("--log-format", type=click.Choice(["auto", "console", "json"]), default="auto",
                help="Log lines for people or for machines (auto: console on a terminal)."),
        _option("--no-progress", is_flag=True,
                help="No progress display (there is none anyway when stderr is not a "
                     "terminal)."),
    )  # fmt: skip


_JOURNAL = _option(
    "--journal", type=click.Path(dir_okay=False, path_type=Path),
    help="Resume journal (default: .uploader/journal.sqlite beside the manifest).",
)  # fmt: skip

_RUN = _options(
    _MANIFEST,
    _endpoint("Start the embedded emulator and upload to it."),
    _work("Versions in flight at once.", "Write a JSON report here."),
    _option("--max-uploads", type=click.IntRange(min=1), default=16,
            help="Asset uploads in flight at once."),
    _option("--rate", type=RATE, metavar="REQ_PER_S|auto",
            help=f"Publish rate (default: AWS's quota, 10/s; at least {c.MIN_RATE_PER_S:g}); "
                 "`auto` adapts to throttling."),
    _option("--dry-run", is_flag=True, help="Validate and hash; send nothing."),
    _JOURNAL,
    _option("--no-resume", is_flag=True,
            help="Trust nothing the journal remembers: ask the service about every version "
                 "and hash every file again (the journal is still written)."),
    _option("--reconcile", is_flag=True,
            help="Ask the service about every version, even those the journal says are done "
                 "(unchanged files are not hashed again)."),
    _option("--drain-timeout", type=click.FloatRange(min=0), default=30.0,
            help="After SIGINT/SIGTERM, seconds requests in flight may take."),
    _option("--processes", type=click.IntRange(1, MAX_PROCESSES), default=1,
            help="Processes sharing the run, each with its own connections, and 1/N of the "
                 "rates (for endpoints that allow more than one process can send)."),
    click.option("--part", type=PART, metavar="J/M", hidden=True,
                 help="This process's share of a --processes run (set by the parent)."),
)  # fmt: skip

_NOT_SETTINGS: Final = ("log_format", "no_progress")
_RENAMED: Final = {"drain_timeout": "drain_timeout_s", "max_retry_after": "max_retry_after_s"}


def _settings(manifest: str, params: dict[str, Any]) -> RunSettings:
    """The typed settings from any command's parameters (flags < env < config < defaults).

    Each command passes the options it has; the rest keep RunSettings's defaults. Checks
    across settings (RunSettings) are usage errors too, the same for every command.
    """
    values = {_RENAMED.get(k, k): v for k, v in params.items() if k not in _NOT_SETTINGS}
    if (rate := values.pop("rate", None)) is not None:
        values["rate_per_s"], values["rate_auto"] = rate
    if (status := values.pop("status", None)) is not None:
        values["status"] = TargetStatus(status)
    if "no_resume" in values:
        values["resume"] = not values.pop("no_resume")
    values = {k: v for k, v in values.items() if not (k in ("shard", "part") and v is None)}
    try:
        if "endpoint_url" in values:  # a command that talks to the service
            check_endpoint_env()
        return RunSettings(manifest=manifest, **values)
    except InvalidInputError as error:
        raise click.UsageError(str(error), ctx=click.get_current_context()) from None


def _progress_console(no_progress: bool, log_format: LogFormat) -> Console | None:
    """A console to draw progress on (stderr, a terminal), or None; logs go through it."""
    from uploader.progress import log_stream, progress_console, progress_enabled

    console = None
    if progress_enabled(no_progress, sys.stderr) and log_format != "json":
        console = progress_console()
    configure_logging(log_format, stream=log_stream(console) if console else None)
    return console


@main.command()
@click.argument("manifest")
@_RUN
def run(manifest: str, **params: Any) -> None:
    """Upload every package version a MANIFEST lists (`-` reads JSON Lines from stdin)."""
    console = _progress_console(params["no_progress"], params["log_format"])
    settings = _settings(manifest, params)
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
@_MANIFEST
@_endpoint("Check against the embedded emulator's data (as `run --local` left it).")
@_work("Versions checked at once.", "Write the differences here as JSON.")
def verify(manifest: str, **params: Any) -> None:
    """Compare the service's assets with a MANIFEST's local files (exit 1 on any difference).

    Missing versions or assets, extra assets, different SHA-256s and wrong statuses are
    listed one per line on stdout; nothing is written to the service. Takes the same
    settings as `run` (flags, UPLOADER_* variables, the config file's [run] table).
    """
    import json

    from uploader import runner
    from uploader.errors import FatalRemoteError
    from uploader.verify import Finding

    console = _progress_console(params["no_progress"], params["log_format"])
    settings = _settings(manifest, params)
    findings: list[dict[str, str]] = []

    # Both on one terminal: print findings above the live display, not through it.
    above = console if console is not None and sys.stdout.isatty() else None

    def on_finding(finding: Finding) -> None:
        if above is not None:
            above.print(str(finding), highlight=False, soft_wrap=True, markup=False)
        else:
            click.echo(str(finding))
        if settings.report is not None:
            findings.append(finding.to_json())

    def on_problem(problem: object) -> None:
        click.echo(str(problem), err=True)

    try:
        tally = asyncio.run(
            runner.verify(settings, on_finding=on_finding, on_problem=on_problem, console=console)
        )
    except FatalRemoteError as error:
        click.echo(f"cannot verify: {error}", err=True)
        sys.exit(ExitCode.CANNOT_START)
    click.echo(tally.summary())
    if settings.report is not None:
        document = {"summary": tally.summary(), "differences": findings}
        settings.report.write_text(json.dumps(document) + "\n")
    if tally.problems and not tally.versions:
        sys.exit(ExitCode.BAD_INPUT)
    sys.exit(ExitCode.SOME_FAILED if tally.findings or tally.problems else ExitCode.OK)


@main.command()
@click.argument("manifest")
@_MANIFEST
def validate(manifest: str, **params: Any) -> None:
    """Check a MANIFEST without uploading: every problem, one line each (exit 2 if any).

    Entries inherit the same defaults as with `run` (--domain, --repository, ... from
    flags, UPLOADER_* variables or the config file's [run] table).
    """
    from uploader.manifest import Problem
    from uploader.runner import manifest_entries

    problems = versions = assets = 0
    for entry in manifest_entries(_settings(manifest, params)):
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
@_MANIFEST
@_JOURNAL
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")  # fmt: skip
def status(manifest: str | None, as_json: bool, **params: Any) -> None:
    """What the resume journal says: versions and assets done, pending, failed.

    The journal is the one beside MANIFEST (or ./.uploader/journal.sqlite), unless
    --journal (UPLOADER_JOURNAL, the config file's `journal`) names another.
    """
    import json

    from uploader.errors import JournalError
    from uploader.journal import Journal

    path = _settings(manifest or "-", params).journal_path()
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
    """Inspect the settings the commands would use."""


@config.command("show")
@click.argument("manifest", required=False)
@_RUN
def config_show(manifest: str | None, **params: Any) -> None:
    """Print the effective settings of `uploader run [MANIFEST] [OPTIONS]`, with sources.

    Sources, lowest first: default < config file (--config, UPLOADER_CONFIG) <
    environment (UPLOADER_*) < flag. The values are checked as `run` checks them; with
    a MANIFEST, the journal's path is shown too.
    """
    ctx = click.get_current_context()
    settings = _settings(manifest or "MANIFEST", params)
    for param in ctx.command.params:
        if isinstance(param, SettingOption) and not param.hidden and param.name != "config":
            assert param.name is not None
            value = ctx.params.get(param.name)
            click.echo(f"{param.name:<15} = {_shown(value):<30} {_source(ctx, param)}")
    if manifest is not None:
        where = "beside the manifest" if params.get("journal") is None else "--journal"
        click.echo(f"{'journal_path':<15} = {settings.journal_path()!s:<30} {where}")


def _source(ctx: click.Context, param: click.Option) -> str:
    assert param.name is not None
    source = ctx.get_parameter_source(param.name)
    if source is ParameterSource.DEFAULT_MAP:
        return f"config {ctx.meta.get(CONFIG_META)}"
    if source is ParameterSource.ENVIRONMENT:
        return f"env {_envvar_used(param)}"
    return "flag" if source is ParameterSource.COMMANDLINE else "default"


def _shown(value: object) -> str:
    """A setting as a user would write it: `2/8` for a share, `auto` for an adaptive rate."""
    if value is None:
        return "-"
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bool):
        rate_per_s, auto = value
        return "auto" if auto else f"{rate_per_s:g}"
    if isinstance(value, tuple):
        return "/".join(str(v) for v in value)
    return str(value)


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
