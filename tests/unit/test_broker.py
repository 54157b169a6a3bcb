"""The quota broker: one rate limit for every job, its tokens dealt round robin."""

from __future__ import annotations

import asyncio

from uploader.limits import Family, RateLimits
from uploader.service.broker import QuotaBroker


async def _grants(broker: QuotaBroker, sizes: dict[str, int]) -> list[str]:
    """Every job asks for all its tokens at once; the jobs in the order tokens came."""
    order: list[str] = []

    async def one(job: str) -> None:
        await broker.share(job).acquire(Family.LIST)
        order.append(job)

    await asyncio.gather(*(one(job) for job, n in sizes.items() for _ in range(n)))
    return order


async def test_tokens_go_round_robin_so_a_small_job_finishes_first() -> None:
    """Three jobs waiting at once take turns: the 5-request job is done within 15 grants."""
    broker = QuotaBroker(RateLimits({Family.LIST: 400.0}))
    order = await _grants(broker, {"big-a": 40, "big-b": 40, "small": 5})
    await broker.close()
    assert len(order) == 85
    assert [i for i, job in enumerate(order) if job == "small"][-1] < 15
    first_thirty = order[:30]
    assert abs(first_thirty.count("big-a") - first_thirty.count("big-b")) <= 1


async def test_the_jobs_together_never_exceed_the_one_rate() -> None:
    """Two jobs of 30 requests at 50/s share the rate: 60 tokens take over a second."""
    broker = QuotaBroker(RateLimits({Family.LIST: 50.0}))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await _grants(broker, {"a": 30, "b": 30})
    elapsed_s = loop.time() - started
    await broker.close()
    assert elapsed_s >= 60 / 50 - 0.25  # the first window's burst is free


async def test_a_cancelled_request_gives_its_turn_away() -> None:
    """A request cancelled while waiting is skipped; the others still get their tokens."""
    broker = QuotaBroker(RateLimits({Family.LIST: 20.0}))
    share = broker.share("a")
    waiters = [asyncio.create_task(share.acquire(Family.LIST)) for _ in range(6)]
    await asyncio.sleep(0)
    waiters[-1].cancel()
    done = await asyncio.gather(*waiters, return_exceptions=True)
    assert sum(isinstance(d, asyncio.CancelledError) for d in done) == 1
    assert broker.waiting() == {}
    await broker.close()


async def test_a_throttle_seen_by_one_job_slows_the_shared_rate() -> None:
    """With `--rate auto`, a job's throttle halves the service's rate, not only its own."""
    from uploader.limits import AdaptivePolicy

    limits = RateLimits({Family.PUBLISH: 10.0}, adaptive=AdaptivePolicy())
    broker = QuotaBroker(limits)
    broker.share("a").on_throttled(Family.PUBLISH)
    assert broker.share("b").snapshot()[Family.PUBLISH].rate_per_s == 5.0
    await broker.close()
