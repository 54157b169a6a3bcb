"""What the request handlers share: the store, its executors, quotas, faults and stats.

Every store call runs on the one thread of `store_executor` (see `store`), blob file I/O
on `io_executor`, so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from uploader import constants as c
from uploader.emulator.faults import FaultPlan, Quotas, Stats
from uploader.emulator.store import Store

T = TypeVar("T")


@dataclass
class EmulatorState:
    """What the request handlers share.

    Args:
        store: the persistent state.
        store_executor: a single-thread executor; every store call runs there, in order.
        io_executor: threads for blob file I/O.
        credentials: access key id -> secret; None accepts any well-formed signature.
        quotas: request-rate quotas per operation.
        faults: the seeded fault schedule.
        max_asset_size_bytes: larger uploads get ServiceQuotaExceededException.
    """

    store: Store
    store_executor: Executor
    io_executor: Executor
    credentials: Mapping[str, str] | None = None
    quotas: Quotas = field(default_factory=Quotas.none)
    faults: FaultPlan = field(default_factory=FaultPlan.none)
    stats: Stats = field(default_factory=Stats)
    max_asset_size_bytes: int = c.MAX_ASSET_SIZE_BYTES
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.store_executor, lambda: fn(*args, **kwargs))

    async def io(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.io_executor, fn, *args)
