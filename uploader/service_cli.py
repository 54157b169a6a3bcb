"""`uploader serve`: the jobs API, until SIGTERM or SIGINT (then drain and exit 0)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from uploader.errors import InvalidInputError, Outcome
from uploader.logs import configure_logging
from uploader.options import settings_from, settings_options
from uploader.serving import serve_until_signal
from uploader.setting import Command

DEFAULT_DATA_DIR = Path(".uploader/service")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
    help="Port; 0 picks a free one.",
)  # fmt: skip
@click.option(
    "--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR, show_default=True, envvar="UPLOADER_DATA",
    help="Where jobs, their manifests, journals and reports are kept (durable).",
)  # fmt: skip
@click.option(
    "--root", "roots", multiple=True, required=True, envvar="UPLOADER_ROOTS",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A folder asset paths resolve under (repeatable; a job takes the first unless it "
         "names another).",
)  # fmt: skip
@click.option(
    "--max-jobs", default=4, show_default=True, type=click.IntRange(1), envvar="UPLOADER_MAX_JOBS",
    help="Jobs running at once; the rest wait, in order.",
)  # fmt: skip
@click.option(
    "--token-file", "token_files", multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="API bearer tokens, one per line (repeatable; also UPLOADER_API_TOKENS).",
)  # fmt: skip
@click.option(
    "--insecure-no-auth", is_flag=True,
    help="Serve without a token (only on a loopback --host; for trying it out).",
)  # fmt: skip
@click.option(
    "--max-body-bytes", default=64 * 1024 * 1024, show_default=True, type=click.IntRange(1),
    help="Largest manifest a POST may carry (413 above it).",
)  # fmt: skip
@settings_options(Command.SERVE)
def serve(
    host: str,
    port: int,
    data_dir: Path,
    roots: tuple[Path, ...],
    max_jobs: int,
    token_files: tuple[Path, ...],
    insecure_no_auth: bool,
    max_body_bytes: int,
    **params: Any,
) -> Outcome:
    """Run the jobs API: clients POST manifests; one quota is shared by all their jobs.

    The first line on stdout is `listening on http://HOST:PORT`. SIGTERM or SIGINT stops
    taking jobs, drains the running ones (--drain-timeout) and exits 0; the next start
    continues them.
    """
    from uploader.service.auth import check_can_start, load_tokens
    from uploader.service.server import Service

    settings = settings_from("-", params)
    configure_logging(settings.log_format)
    try:
        tokens = load_tokens(token_files)
        check_can_start(tokens, host, insecure_no_auth=insecure_no_auth)
    except InvalidInputError as error:
        raise click.UsageError(str(error)) from None
    service = Service(
        settings, data_dir=data_dir, roots=roots, tokens=tokens, host=host, port=port,
        max_jobs=max_jobs, max_body_bytes=max_body_bytes,
    )  # fmt: skip
    return asyncio.run(serve_until_signal(service, lambda: service.url))
