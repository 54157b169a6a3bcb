"""The service's parts without HTTP: tokens, the start-up rule, the durable job table."""

from __future__ import annotations

from pathlib import Path

import pytest

from uploader.domain import JobState
from uploader.errors import InvalidInputError
from uploader.service.auth import check_can_start, is_loopback, load_tokens
from uploader.service.jobs import JobStore

GOOD = "a-token-of-sixteen-or-more"


def test_tokens_come_from_the_variable_and_files(tmp_path: Path) -> None:
    """UPLOADER_API_TOKENS (comma or space separated) and each file's non-comment lines."""
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# rotated on Monday\n{GOOD}-file\n\n")
    env = {"UPLOADER_API_TOKENS": f"{GOOD}-1, {GOOD}-2"}
    assert load_tokens([token_file], env) == [f"{GOOD}-1", f"{GOOD}-2", f"{GOOD}-file"]


def test_a_short_token_is_refused_without_showing_it() -> None:
    """A token under 16 characters is no secret; the error does not print it."""
    with pytest.raises(InvalidInputError, match="at least 16") as caught:
        load_tokens([], {"UPLOADER_API_TOKENS": "short"})
    assert "short" not in str(caught.value).split("(")[0]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.8.9.1", True),
     ("0.0.0.0", False), ("10.0.0.5", False), ("example.com", False), ("::", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    """Only loopback addresses (and `localhost`) count as loopback."""
    assert is_loopback(host) is loopback


def test_no_token_starts_only_on_loopback_and_only_when_asked() -> None:
    """Without a token: refused; with --insecure-no-auth: only on a loopback host."""
    check_can_start([GOOD], "0.0.0.0", insecure_no_auth=False)
    check_can_start([], "127.0.0.1", insecure_no_auth=True)
    with pytest.raises(InvalidInputError, match="no API token"):
        check_can_start([], "127.0.0.1", insecure_no_auth=False)
    with pytest.raises(InvalidInputError, match="loopback"):
        check_can_start([], "0.0.0.0", insecure_no_auth=True)


async def _submit(store: JobStore, key: str | None = None) -> str:
    staged = store.staging() / "manifest.jsonl"
    staged.write_text("{}\n")
    job, _ = await store.create(staged, lambda path: {"manifest": str(path)}, idempotency_key=key)
    return job.id


async def test_jobs_page_newest_first_and_filter_by_state(tmp_path: Path) -> None:
    """Five jobs, two per page: newest first, `next` continues, the last page has none."""
    async with JobStore(tmp_path) as store:
        ids = [await _submit(store) for _ in range(5)]
        await store.started(ids[0])
        pages, after = [], None
        while True:
            page = await store.page(limit=2, after=after)
            pages.append([job.id for job in page.jobs])
            if page.next is None:
                break
            after = page.next
        running = await store.page(state=JobState.RUNNING)
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[:1]]
    assert [job.id for job in running.jobs] == [ids[0]]


async def test_a_restart_requeues_what_was_running_and_finishes_cancelled_ones(
    tmp_path: Path,
) -> None:
    """Running and interrupted jobs go back to the queue, oldest first; one whose cancel
    was asked is cancelled; finished ones stay finished. The key is kept as a hash."""
    async with JobStore(tmp_path) as store:
        a, b, c, d = [await _submit(store, key=f"key-{n}") for n in range(4)]
        await store.started(a)
        await store.ended(b, JobState.INTERRUPTED, error=None, totals={})
        await store.request_cancel(c)
        await store.ended(d, JobState.SUCCEEDED, error=None, totals={"versions": {}})
    async with JobStore(tmp_path) as store:
        queued = [job.id for job in await store.requeue_unfinished()]
        states = {job_id: (await store.get(job_id)).state for job_id in (a, b, c, d)}  # type: ignore[union-attr]
    assert queued == [a, b]
    assert states == {a: JobState.QUEUED, b: JobState.QUEUED, c: JobState.CANCELLED,
                      d: JobState.SUCCEEDED}  # fmt: skip
    assert b"key-1" not in (tmp_path / "jobs.sqlite").read_bytes()
