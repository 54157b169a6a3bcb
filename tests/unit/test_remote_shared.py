"""Tests of remote.shared_task: a shared task's error is never left unretrieved."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from uploader.errors import Interrupted
from uploader.remote import shared_task


async def test_an_error_after_every_awaiter_left_is_still_retrieved() -> None:
    """Awaiters cancelled, then the shared task fails: no 'never retrieved' report."""
    reports: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    go = asyncio.Event()

    async def fails_later() -> None:
        await go.wait()
        raise Interrupted("stopping")

    task = shared_task(fails_later())
    waiter = asyncio.ensure_future(asyncio.shield(task))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.sleep(0)
    go.set()
    await asyncio.sleep(0.01)
    assert task.done()
    del task, waiter
    gc.collect()
    loop.set_exception_handler(None)
    assert reports == []
