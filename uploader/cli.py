"""The command line. Thin: parse, set logging up, call one function, return its Outcome.

The options of every command that reads a manifest or talks to the service are built
from the RunSettings fields (config.py) by `settings_options`. Every command returns an Outcome; the
command group turns it, or the error that ended the command, into the exit code through
`errors.exit_code`, the one mapping (the table is in README.md).
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click
from click.core import ParameterSource

from uploader import __version__
from uploader import constants as c
from uploader.config import (
    CONFIG_TABLE,
    RunSettings,
    check_endpoint_env,
    default_of,
    envvar_of,
    flag_of,
    key_of,
    load_config_file,
    settings_of,
)
from uploader.errors import InvalidInputError, Outcome, UploaderError, exit_code, outcome_of
from uploader.logs import configure_logging
from uploader.setting import (
    Choice,
    Command,
    Count,
    FilePath,
    Kind,
    Parsed,
    Seconds,
    Setting,
    Switch,
    Text,
)

if TYPE_CHECKING:
    from rich.console import Console

    from uploader.emulator import Emulator

FC = TypeVar("FC", bound=Callable[..., Any])


class _Uploader(click.Group):
    """The command group: every command returns an Outcome, which `exit_code` maps.

    An error a command leaves is one line (`error: ...`) and its category's outcome;
    Ctrl-C is `interrupted`; a closed stdout, bare or from inside a task group, ends the
    command quietly (no traceback).
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, then exit with the code of how it ended."""
        try:
            ended = super().invoke(ctx)
        except BrokenPipeError:
            ended = Outcome.BROKEN_PIPE
        except BaseExceptionGroup as group:
            rest = group.subgroup(
                lambda e: not isinstance(e, (BrokenPipeError, BaseExceptionGroup))
            )
            if rest is not None or group.subgroup(BrokenPipeError) is None:
                raise
            ended = Outcome.BROKEN_PIPE
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ended = Outcome.INTERRUPTED
        except UploaderError as error:  # found before any work (an unwritable --report)
            click.echo(f"error: {error}", err=True)
            ended = error
        if ended is Outcome.BROKEN_PIPE:
            _closed_stdout()
        assert isinstance(ended, Outcome | BaseException), f"{ctx.invoked_subcommand}: {ended}"
        ctx.exit(exit_code(ended))


def _closed_stdout() -> None:
    """Ready the exit for a reader that closed stdout, as Python's docs on SIGPIPE say.

    stdout now points at /dev/null, so the interpreter's last flush cannot fail again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


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
) -> Outcome:
    """Run a CodeArtifact-compatible server until interrupted.

    The first line on stdout is `listening on http://HOST:PORT`.
    """
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
    return asyncio.run(_serve(server))


async def _serve(server: Emulator) -> Outcome:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        click.echo(f"listening on {server.endpoint_url}")
        sys.stdout.flush()
        await stop.wait()
    return Outcome.DONE


# --- settings: one table of options, shared by every command that reads a manifest -----


class SettingOption(click.Option):
    """A click option built from a RunSettings field; a bad value names its source.

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
                error.param_hint = (
                    f"{ctx.meta.get(CONFIG_META)}: {CONFIG_TABLE}.{key_of(self.name)}"
                )
            raise


def _envvar_used(option: click.Option) -> str:
    """The environment variable an option's value was read from."""
    names = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or ())
    return next((name for name in names if os.environ.get(name)), names[0] if names else "")


class _ParsedBy(click.ParamType[Any]):
    """A click type from a setting's parser (InvalidInputError -> usage error).

    Values from the config file may already be numbers (`rate = 20`), or already parsed
    (a default); both are handled, so flags, variables and the file share one check.
    """

    def __init__(self, flag: str, kind: Parsed) -> None:
        self.name = kind.metavar
        self._flag = flag
        self._kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse `value`, or fail with the parser's message (without the flag's name)."""
        if not isinstance(value, str | int | float):
            return value
        try:
            return self._kind.parse(str(value))
        except InvalidInputError as error:
            self.fail(str(error).removeprefix(self._flag).lstrip(": "), param, ctx)


class _Word(click.Choice[str]):
    """A choice among words whose value is what the setting's kind makes of the word."""

    def __init__(self, kind: Choice) -> None:
        super().__init__(kind.words)
        self._make = kind.make

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The word checked by click, then made into the value."""
        return self._make(super().convert(str(getattr(value, "value", value)), param, ctx))


CONFIG_META: Final = "uploader.config"


def _click_type(flag: str, kind: Kind) -> click.ParamType[Any] | None:
    """The click type of a setting's kind (None: a flag without a value)."""
    match kind:
        case Count(minimum=low, maximum=high):
            return click.IntRange(low, high)
        case Seconds(minimum=low, above=above):
            return click.FloatRange(min=low, min_open=above, max=math.inf, max_open=True)
        case FilePath(folder=folder):
            return click.Path(file_okay=not folder, dir_okay=folder, path_type=Path)
        case Choice():
            return _Word(kind)
        case Parsed():
            return _ParsedBy(flag, kind)
        case Text():
            return click.STRING
    return None


def _setting_option(name: str, spec: Setting, command: Command) -> Callable[[FC], FC]:
    """The click option of one setting, as `command` shows it."""
    flag = flag_of(name)
    default = default_of(name)
    kwargs: dict[str, Any] = {
        "cls": SettingOption, "help": spec.help_for(command), "hidden": spec.hidden,
        "envvar": [envvar_of(name), *spec.envvars], "metavar": spec.metavar,
        "default": default, "show_default": default is not None and default is not False,
    }  # fmt: skip
    if isinstance(spec.kind, Parsed):
        kwargs["metavar"] = spec.metavar or spec.kind.metavar
        kwargs["show_default"] = default is not None and spec.kind.show(default)
    if isinstance(spec.kind, Switch):
        kwargs["show_default"] = False
        decls = f"{flag}/--no-{flag[2:]}" if default else flag
        return click.option(decls, name, is_flag=True, **kwargs)
    return click.option(flag, name, type=_click_type(flag, spec.kind), **kwargs)


def _load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """`--config FILE` (eager): its `[run]` table gives this command's defaults.

    Every command reads the same table: a key this command does not take is left to the
    others; a key no command takes is an error.
    """
    if value is None:
        return
    try:
        values = load_config_file(value)
    except InvalidInputError as error:
        raise click.BadParameter(str(error), ctx=ctx, param_hint="--config") from None
    names = {p.name for p in ctx.command.params if isinstance(p, SettingOption)}
    ctx.default_map = {name: v for name, v in values.items() if name in names}
    ctx.meta[CONFIG_META] = value


_CONFIG: Final = click.option(
    "--config", type=click.Path(dir_okay=False, exists=True, path_type=Path), is_eager=True,
    expose_value=False, callback=_load_config, envvar="UPLOADER_CONFIG",
    help="TOML settings file (its [run] table, shared by every command); flags and UPLOADER_* "
         "variables win over it.",
)  # fmt: skip


def settings_options(command: Command) -> Callable[[FC], FC]:
    """`--config` and every setting `command` takes, in RunSettings's order."""

    def decorate(function: FC) -> FC:
        taken = [(n, s) for n, s in settings_of().items() if command in s.commands]
        for name, spec in reversed(taken):
            function = _setting_option(name, spec, command)(function)
        return _CONFIG(function)

    return decorate


def _settings(manifest: str, params: dict[str, Any]) -> RunSettings:
    """The typed settings from a command's setting options (flags < env < config < defaults).

    Each command passes the settings it takes; the rest keep RunSettings's defaults.
    Checks across settings (RunSettings) are usage errors too, the same for every command.
    """
    try:
        if "endpoint_url" in params:  # a command that talks to the service
            check_endpoint_env()
        return RunSettings(manifest=manifest, **params)
    except InvalidInputError as error:
        raise click.UsageError(str(error), ctx=click.get_current_context()) from None


def _progress_console(settings: RunSettings) -> Console | None:
    """A console to draw progress on (stderr, a terminal), or None; logs go through it."""
    from uploader.progress import log_stream, progress_console, progress_enabled

    console = None
    if progress_enabled(not settings.progress, sys.stderr) and settings.log_format != "json":
        console = progress_console()
    configure_logging(settings.log_format, stream=log_stream(console) if console else None)
    return console


@main.command()
@click.argument("manifest")
@settings_options(Command.RUN)
def run(manifest: str, **params: Any) -> Outcome:
    """Upload every package version a MANIFEST lists (`-` reads JSON Lines from stdin)."""
    settings = _settings(manifest, params)
    console = _progress_console(settings)
    if settings.processes > 1:
        from uploader import parts  # not the runner: the parent only starts the others

        report = asyncio.run(parts.run_parts(settings))
    else:
        from uploader import runner

        report = asyncio.run(runner.run(settings, console=console))
    click.echo(report.summary(), err=report.to_stdout)  # `--report -` has stdout to itself
    if report.write_error is not None:
        click.echo(f"error: {report.write_error}", err=True)
    elif settings.report is not None and not report.to_stdout:
        click.echo(f"report: {settings.report}")
    return report.outcome()


@main.command(name="run-part", hidden=True)
@click.argument("part_dir", type=click.Path(file_okay=False, path_type=Path))
def run_part(part_dir: Path) -> Outcome:
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

    try:
        settings = parts.load_part(part_dir)
    except (OSError, ValueError, TypeError, KeyError, InvalidInputError) as error:
        click.echo(f"error: cannot read {part_dir}: {error}", err=True)
        return Outcome.CANNOT_START
    configure_logging(settings.log_format)
    stdin_fd = sys.stdin.fileno() if sys.stdin is not None else -1
    if stdin_fd >= 0 and stat.S_ISFIFO(os.fstat(stdin_fd).st_mode):  # started by a parent
        threading.Thread(target=stop_when_orphaned, name="parent-watch", daemon=True).start()
    report = asyncio.run(
        runner.run(settings, part_dir=part_dir, on_listening=lambda: parts.mark_ready(part_dir))
    )
    return report.outcome()


@main.command()
@click.argument("manifest")
@settings_options(Command.VERIFY)
def verify(manifest: str, **params: Any) -> Outcome:
    """Compare the service's assets with a MANIFEST's local files (exit 1 on any difference).

    Missing versions or assets, extra assets, different SHA-256s and wrong statuses are
    listed one per line on stdout; nothing is written to the service. Takes the same
    settings as `run` (flags, UPLOADER_* variables, the config file's [run] table).
    """
    import json

    from uploader import runner
    from uploader.errors import FatalRemoteError
    from uploader.verify import Finding

    settings = _settings(manifest, params)
    console = _progress_console(settings)
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
        return outcome_of(error)
    click.echo(tally.summary())
    if settings.report is not None:
        document = {"summary": tally.summary(), "differences": findings}
        settings.report.write_text(json.dumps(document) + "\n")
    return tally.outcome()


@main.command()
@click.argument("manifest")
@settings_options(Command.VALIDATE)
def validate(manifest: str, **params: Any) -> Outcome:
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
        return Outcome.BAD_INPUT
    click.echo(f"{name}: OK, {versions} version(s), {assets} asset(s)")
    return Outcome.DONE


@main.command()
@click.argument("manifest", required=False)
@settings_options(Command.STATUS)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")  # fmt: skip
def status(manifest: str | None, as_json: bool, **params: Any) -> Outcome:
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
        return Outcome.BAD_INPUT

    async def read() -> Any:
        async with Journal(path) as opened:
            return await opened.summary()

    try:
        summary = asyncio.run(read())
    except JournalError as error:
        click.echo(str(error), err=True)
        return outcome_of(error)
    if as_json:
        click.echo(json.dumps({"journal": str(path), **summary.to_json()}))
        return Outcome.DONE
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
    return Outcome.DONE


@main.group()
def config() -> None:
    """Inspect the settings the commands would use."""


@config.command("show")
@click.argument("manifest", required=False)
@settings_options(Command.RUN)
def config_show(manifest: str | None, **params: Any) -> Outcome:
    """Print the effective settings of `uploader run [MANIFEST] [OPTIONS]`, with sources.

    Sources, lowest first: default < config file (--config, UPLOADER_CONFIG) <
    environment (UPLOADER_*) < flag. The values are checked as `run` checks them; with
    a MANIFEST, the journal's path is shown too.
    """
    ctx = click.get_current_context()
    settings = _settings(manifest or "MANIFEST", params)
    for name, spec in settings_of().items():
        if not spec.hidden and name in ctx.params:
            shown = _shown(spec, getattr(settings, name))
            click.echo(f"{key_of(name):<15} = {shown:<30} {_source(ctx, name)}")
    if manifest is not None:
        where = "beside the manifest" if settings.journal is None else "--journal"
        click.echo(f"{'journal_path':<15} = {settings.journal_path()!s:<30} {where}")
    return Outcome.DONE


def _source(ctx: click.Context, name: str) -> str:
    source = ctx.get_parameter_source(name)
    if source is ParameterSource.DEFAULT_MAP:
        return f"config {ctx.meta.get(CONFIG_META)}"
    if source is ParameterSource.ENVIRONMENT:
        option = next(p for p in ctx.command.params if p.name == name)
        assert isinstance(option, click.Option)
        return f"env {_envvar_used(option)}"
    return "flag" if source is ParameterSource.COMMANDLINE else "default"


def _shown(spec: Setting, value: object) -> str:
    """A setting as a user would write it: `2/8` for a share, `auto` for an adaptive rate."""
    if value is None:
        return "-"
    if isinstance(spec.kind, Parsed | Choice):
        return str(spec.kind.to_json(value))
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
) -> Outcome:
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
    return Outcome.SOME_FAILED if totals.problems else Outcome.DONE
