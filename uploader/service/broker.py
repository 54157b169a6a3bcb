"""The quota broker: one set of rate limits for the whole service, dealt fairly between jobs.

Every job's requests wait on the service's one `RateLimits` (one token bucket per API
family, `--rate N|auto`): however many jobs run, together they send at most what the
account allows. Tokens are dealt **round robin between jobs**, one at a time: each job
that has a request waiting gets the next token in turn, whatever its size and however
many requests it has queued. Among jobs that all have work, each gets an equal share
(max-min fairness); a job with less to send takes less and leaves the rest to the
others, so a small job is never starved by a large one and finishes first.

Round robin rather than weighted fair queuing: every request of a family costs one token
of the same quota (a publish is one publish, whatever its size), so there is nothing to
weigh; equal shares between jobs are what a shared CI account wants, and round robin is
exact at one token per turn with no virtual clock to keep.

Adaptive rates (`--rate auto`) stay the shared limits' own: a throttle seen by any job
halves the service's rate, not only that job's share.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from uploader.limits import Family, FamilySnapshot, RateLimits


class QuotaBroker:
    """Deals the tokens of one `RateLimits` between jobs, round robin per API family."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._dealers: dict[Family, _Dealer] = {}

    def __repr__(self) -> str:
        return f"<QuotaBroker {self.limits!r} dealers={list(self._dealers)}>"

    def share(self, job: str) -> JobShare:
        """The limits one job's requests use (`limits.Limits`)."""
        return JobShare(self, job)

    async def acquire(self, job: str, family: Family) -> None:
        """Wait for `job`'s turn at a token of `family`."""
        dealer = self._dealers.get(family)
        if dealer is None:
            dealer = self._dealers[family] = _Dealer(self.limits, family)
        await dealer.acquire(job)

    def waiting(self) -> dict[str, int]:
        """Requests waiting for a token, by job (for metrics and status)."""
        counts: dict[str, int] = {}
        for dealer in self._dealers.values():
            for job, n in dealer.waiting().items():
                counts[job] = counts.get(job, 0) + n
        return counts

    async def close(self) -> None:
        """Stop dealing; requests still waiting are cancelled."""
        for dealer in self._dealers.values():
            await dealer.close()


class JobShare:
    """One job's view of the broker: the `limits.Limits` its Remote calls."""

    def __init__(self, broker: QuotaBroker, job: str) -> None:
        self._broker = broker
        self.job = job

    def __repr__(self) -> str:
        return f"<JobShare {self.job} of {self._broker!r}>"

    async def acquire(self, family: Family | str) -> None:
        """Wait for this job's turn at a token of `family`."""
        await self._broker.acquire(self.job, Family(family))

    def on_success(self, family: Family | str) -> None:
        """A request succeeded: the shared limits may grow (`--rate auto`)."""
        self._broker.limits.on_success(family)

    def on_throttled(self, family: Family | str) -> None:
        """A request was throttled: the shared limits slow down (`--rate auto`)."""
        self._broker.limits.on_throttled(family)

    def snapshot(self) -> dict[Family, FamilySnapshot]:
        """The service's limits, as they stand."""
        return self._broker.limits.snapshot()


class _Dealer:
    """The waiting requests of one family, queued per job; one token each, jobs in turn."""

    def __init__(self, limits: RateLimits, family: Family) -> None:
        self._limits = limits
        self._family = family
        # The jobs with a request waiting, in turn order; each has its own queue.
        self._turns: dict[str, deque[asyncio.Future[None]]] = {}
        self._task: asyncio.Task[None] | None = None

    def waiting(self) -> dict[str, int]:
        return {job: sum(not f.done() for f in queue) for job, queue in self._turns.items()}

    async def acquire(self, job: str) -> None:
        future = asyncio.get_running_loop().create_future()
        self._turns.setdefault(job, deque()).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._deal(), name=f"deal-{self._family}")
        await future

    async def _deal(self) -> None:
        """Take a token whenever someone waits, and give it to the next job in turn."""
        while self._prune():
            await self._limits.acquire(self._family)
            self._give_one()

    def _prune(self) -> bool:
        """Drop requests that stopped waiting (cancelled); whether any still wait."""
        for job in list(self._turns):
            queue = self._turns[job]
            while queue and queue[0].done():
                queue.popleft()
            if not queue:
                del self._turns[job]
        return bool(self._turns)

    def _give_one(self) -> None:
        """The token goes to the first job in turn that still waits; it moves to the end."""
        while self._turns:
            job, queue = next(iter(self._turns.items()))
            del self._turns[job]
            while queue and queue[0].done():
                queue.popleft()
            if queue:
                queue.popleft().set_result(None)
                if queue:
                    self._turns[job] = queue
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for queue in self._turns.values():
            for future in queue:
                future.cancel()
        self._turns.clear()
