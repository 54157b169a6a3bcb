"""The command line. Thin: parse, set logging up, call one function, return its Outcome.

The options of every command that reads a manifest or talks to the service are built
from the RunSettings fields (config.py) by `settings_options`. Every command returns an Outcome; the
command group turns it, or the error that ended the command, into the exit code through
`errors.exit_code`, the one mapping (the table is in README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from uploader import __version__
from uploader.config import key_of, settings_of
from uploader.emulator_cli import emulator
from uploader.errors import InvalidInputError, Outcome, UploaderError, exit_code, outcome_of
from uploader.logs import configure_logging
from uploader.options import settings_from, settings_options, shown, source_of
from uploader.scan_cli import SourceOptions, prepare_store, source_options
from uploader.service_cli import serve
from uploader.setting import Command

if TYPE_CHECKING:
    from rich.console import Console

    from uploader.config import RunSettings
    from uploader.scan import JsonlWriter, ScannedVersion, ScanProblem


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


main.add_command(emulator)
main.add_command(serve)


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
    settings = settings_from(manifest, params)
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

    settings = settings_from(manifest, params)
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
    from uploader.filters import manifest_entries
    from uploader.manifest import Problem

    problems = versions = assets = 0
    # With the `url` assets `run` does not upload yet (each is a problem there): they are
    # checked here all the same.
    for entry in manifest_entries(settings_from(manifest, params)):
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

    path = settings_from(manifest or "-", params).journal_path()
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
    settings = settings_from(manifest or "MANIFEST", params)
    for name, spec in settings_of().items():
        if not spec.hidden and name in ctx.params:
            value = shown(spec, getattr(settings, name))
            click.echo(f"{key_of(name):<15} = {value:<30} {source_of(ctx, name)}")
    if manifest is not None:
        where = "beside the manifest" if settings.journal is None else "--journal"
        click.echo(f"{'journal_path':<15} = {settings.journal_path()!s:<30} {where}")
    return Outcome.DONE


@main.command()
@click.argument("root")
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
@source_options
def scan(
    root: str,
    layout: str,
    namespace: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    hidden: bool,
    output: Path | None,
    **params: Any,
) -> Outcome:
    """Build a JSON Lines manifest from a directory tree (an Artifactory or Nexus export),
    or from a store's listing: an s3://bucket/prefix/, or repository ROOT of --artifactory
    or --nexus (assets by url, with the store's sha256 and size).

    Files that do not fit the layout, or break the service's name rules, are listed on
    stderr (exit 1); the rest is written.
    """
    from uploader import scan as scanning

    def on_problem(problem: scanning.ScanProblem) -> None:
        click.echo(str(problem), err=True)

    source = SourceOptions.pop(params)
    try:
        if source.remote(root):
            from uploader.stores.listing import ListingScan

            scanner = ListingScan(
                scanning.Layout.parse(layout), include=include, exclude=exclude,
                namespace=namespace, hidden=hidden,
            )  # fmt: skip
            write = prepare_store(root, source, scanner).run
        else:
            folder = click.Path(file_okay=False, exists=True, path_type=Path).convert(
                root, None, click.get_current_context()
            )
            items = scanning.scan(
                folder, layout=scanning.Layout.parse(layout), include=include,
                exclude=exclude, namespace=namespace, hidden=hidden,
                output_dir=(output.parent if output else Path.cwd()).resolve(),
                ignore_files=[output.resolve()] if output else [],
            )  # fmt: skip
            write = functools.partial(_write_all, items)
    except (ValueError, NotADirectoryError) as error:
        raise click.UsageError(str(error)) from None
    with _manifest_out(output) as out:  # only once every argument is good
        writer = scanning.JsonlWriter(out, on_problem=on_problem)
        write(writer)
    totals = writer.totals
    click.echo(
        f"scanned {root}: {totals.versions} version(s), {totals.assets} asset(s), "
        f"{totals.problems} problem(s)" + (f"; manifest: {output}" if output else ""),
        err=True,
    )
    return Outcome.SOME_FAILED if totals.problems else Outcome.DONE


def _write_all(items: Iterable[ScannedVersion | ScanProblem], writer: JsonlWriter) -> None:
    for item in items:
        writer.write(item)


@contextlib.contextmanager
def _manifest_out(output: Path | None) -> Iterator[TextIO]:
    """Where `scan` writes: stdout, or the file (opened only once the arguments are good)."""
    if output is None:
        yield sys.stdout
        return
    with output.open("w", encoding="utf-8") as out:
        yield out
