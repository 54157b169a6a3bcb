"""Tests of uploader.groupcommit: calls share transactions, yet each returns only once
committed, and a failing call undoes only itself (on a real SQLite file)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from uploader.groupcommit import GroupCommitter

WAIT_S = 5.0  # a bound on every wait in these tests; none should take more than milliseconds


def _connect(path: Path) -> Callable[[], sqlite3.Connection]:
    """What the committer opens: `path` in WAL mode, with a table of numbered calls."""

    def connect() -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS calls (n INTEGER PRIMARY KEY)")
        return db

    return connect


def _committed(path: Path) -> list[int]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as other:
        rows = [n for (n,) in other.execute("SELECT n FROM calls ORDER BY n")]
    other.close()
    return rows


def _insert(db: sqlite3.Connection, n: int) -> int:
    """Insert call `n`; return how many rows were committed before its group.

    The calls of one group all see the same committed rows (their own are not committed
    yet), so this number tells the groups apart.
    """
    db.execute("INSERT INTO calls VALUES (?)", (n,))
    (_, _, path) = db.execute("PRAGMA database_list").fetchone()
    return len(_committed(Path(path)))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """The database file."""
    return tmp_path / "db.sqlite"


@pytest.fixture
async def committer(path: Path) -> AsyncIterator[GroupCommitter]:
    """An open committer on `path`, closed after the test."""
    committer = GroupCommitter(_connect(path))
    await committer.open()
    yield committer
    await committer.close()


async def test_concurrent_calls_share_groups_and_each_returns_committed(
    committer: GroupCommitter, path: Path
) -> None:
    """100 calls made at once go in at most two groups, and each is committed on return."""

    async def insert_then_look(n: int) -> tuple[int, bool]:
        group = await committer.grouped(_insert, n)
        return group, n in _committed(path)

    results = await asyncio.gather(*(insert_then_look(n) for n in range(100)))

    assert all(committed for _, committed in results)
    # One loop turn's calls join one group (a second may start early).
    assert len({group for group, _ in results}) <= 2
    assert _committed(path) == list(range(100))


async def test_calls_made_during_a_write_go_together_in_the_next_group(
    committer: GroupCommitter, path: Path
) -> None:
    """Calls made while a group is on the thread wait, none returning, then form one group."""
    started, release = threading.Event(), threading.Event()

    def held(db: sqlite3.Connection) -> int:
        started.set()
        release.wait(WAIT_S)
        return _insert(db, 0)

    first = asyncio.ensure_future(committer.grouped(held))
    assert await asyncio.to_thread(started.wait, WAIT_S)
    later = [asyncio.ensure_future(committer.grouped(_insert, n)) for n in (1, 2, 3)]
    await asyncio.sleep(0)
    assert repr(committer) == "<GroupCommitter open, 3 waiting>"
    assert not any(call.done() for call in [first, *later])
    release.set()

    assert await first == 0  # alone in the first group
    assert await asyncio.gather(*later) == [1, 1, 1]  # together, after it
    assert _committed(path) == [0, 1, 2, 3]


async def test_a_failing_call_undoes_only_itself(committer: GroupCommitter, path: Path) -> None:
    """A call that fails mid-way is rolled back; the others of its group are committed."""

    def half_then_fail(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO calls VALUES (2)")  # undone with the call
        db.execute("INSERT INTO no_such_table VALUES (1)")

    results = await asyncio.gather(
        committer.grouped(_insert, 1),
        committer.grouped(half_then_fail),
        committer.grouped(_insert, 3),
        return_exceptions=True,
    )

    assert results[::2] == [0, 0]  # one group
    assert isinstance(results[1], sqlite3.OperationalError)
    assert "no such table" in str(results[1])
    assert _committed(path) == [1, 3]


class _OwnError(Exception):
    """The error type of a committer's owner."""


async def test_sqlite_errors_are_raised_as_the_owner_s_others_as_they_are(path: Path) -> None:
    """`errors` translates a call's sqlite3.Error (the cause kept); other exceptions pass."""

    def fails(db: sqlite3.Connection, error: Exception) -> None:
        raise error

    committer = GroupCommitter(_connect(path), errors=lambda error: _OwnError(f"own: {error}"))
    await committer.open()
    try:
        with pytest.raises(_OwnError, match="own: locked") as raised:
            await committer.grouped(fails, sqlite3.OperationalError("locked"))
        assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
        with pytest.raises(ValueError, match="not SQLite"):
            await committer.grouped(fails, ValueError("not SQLite"))
    finally:
        await committer.close()


async def test_a_caller_cancelled_while_queued_does_not_break_its_group(
    committer: GroupCommitter, path: Path
) -> None:
    """A caller cancelled while its call is queued: the others still get their results."""
    first = asyncio.ensure_future(committer.grouped(_insert, 1))
    second = asyncio.ensure_future(committer.grouped(_insert, 2))
    await asyncio.sleep(0)  # both joined the group
    first.cancel()
    assert await second == 0
    with pytest.raises(asyncio.CancelledError):
        await first
    assert _committed(path) == [1, 2]  # the cancelled call's write still happened, in the group


async def test_close_commits_what_is_queued_and_later_calls_fail_cleanly(path: Path) -> None:
    """Calls made just before close() are committed; a call after it is an sqlite3 error."""
    committer = GroupCommitter(_connect(path))
    await committer.open()
    queued = asyncio.ensure_future(committer.grouped(_insert, 1))
    await asyncio.sleep(0)  # queued, not yet written
    await committer.close()
    await queued
    assert _committed(path) == [1]
    assert repr(committer) == "<GroupCommitter closed, 0 waiting>"
    with pytest.raises(sqlite3.ProgrammingError, match="not open"):
        await committer.grouped(_insert, 2)
