"""Run a server until SIGINT or SIGTERM: `uploader emulator` and `uploader serve`.

The first line on stdout is `listening on URL` (scripts and tests read it); a signal
leaves the server's context, which stops it as that server does (the service drains).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import click

from uploader.errors import Outcome


async def serve_until_signal(
    server: AbstractAsyncContextManager[Any], url: Callable[[], str]
) -> Outcome:
    """Enter `server`, announce `url()`, wait for SIGINT or SIGTERM, leave it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        click.echo(f"listening on {url()}")
        sys.stdout.flush()
        await stop.wait()
    return Outcome.DONE
