"""Group commit for one SQLite connection: many callers, one transaction per group of calls.

Every call runs on one dedicated thread (a single-thread executor): SQLite is blocking
I/O and stays off the event loop, and calls are serialized. Calls are committed in
groups: the calls made while a group is being written wait, then go to the thread
together as the next group, one transaction and one thread hop for all of them, each
call in a savepoint of its own (a failing call undoes only itself). No call returns
before its group is committed.

A group of reads only (`writes=False` for every call in it) begins a deferred
transaction, not an immediate one: it takes no write lock, so it reads a database other
processes are writing, or a read-only one.

Errors: a call's own exception is raised to its caller; `sqlite3.Error`s (a call's, or a
call made when the committer is not open) go through `errors` first, so an owner such
as the journal raises its own error type naming its file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")


def _as_is(error: sqlite3.Error) -> Exception:
    return error


class GroupCommitter:
    """Runs calls against the connection `connect` opens, in groups, on one thread.

    Args:
        connect: opens the connection (on the committer's thread, by `open()`); it must be
            made with `isolation_level=None` and `check_same_thread=False`, as the
            committer begins and ends the transactions itself, on its own thread.
        errors: what a `sqlite3.Error` is raised as to callers (default: as it is).
        thread_name: the prefix of the committer thread's name.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        errors: Callable[[sqlite3.Error], Exception] = _as_is,
        thread_name: str = "groupcommit",
    ) -> None:
        self._connect = connect
        self._errors = errors
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        self._db: sqlite3.Connection | None = None
        self._waiting: list[_Call] = []  # calls for the next group
        self._writing = False  # a group is on the committer's thread
        self._idle = asyncio.Event()  # set while no group is being written
        self._idle.set()

    def __repr__(self) -> str:
        state = "open" if self._db is not None else "closed"
        return f"<GroupCommitter {state}, {len(self._waiting)} waiting>"

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the committer's thread, alone, outside any group (opening, closing)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as error:
            raise self._errors(error) from error

    async def grouped(self, fn: Callable[..., T], *args: Any, writes: bool = True) -> T:
        """`fn(connection, *args)` in the next group's transaction; returns once it is committed.

        Args:
            fn: runs on the committer's thread, in a savepoint of its own.
            writes: False if `fn` only reads (a group of reads takes no write lock).
        """
        try:
            if self._db is None:
                raise sqlite3.ProgrammingError("not open")
            loop = asyncio.get_running_loop()
            future: asyncio.Future[T] = loop.create_future()
            self._waiting.append(_Call(fn, args, future, writes))
            if not self._writing:
                self._writing = True
                self._idle.clear()
                loop.call_soon(self._write_group)  # the calls made in this loop turn join in
            return await future
        except sqlite3.Error as error:
            raise self._errors(error) from error

    def _write_group(self) -> None:
        group, self._waiting = self._waiting, []
        loop = asyncio.get_running_loop()
        try:
            written = loop.run_in_executor(self._executor, self._commit, group)
        except RuntimeError as error:  # the executor was shut down: the committer is closed
            written = loop.create_future()
            written.set_exception(sqlite3.ProgrammingError(str(error)))
        written.add_done_callback(lambda done: self._settle(group, done))

    def _settle(self, group: list[_Call], written: asyncio.Future[list[_Outcome]]) -> None:
        error = written.exception()
        outcomes = [_Outcome(error, None)] * len(group) if error else written.result()
        for call, outcome in zip(group, outcomes, strict=True):
            if call.future.done():  # its caller was cancelled
                continue
            if outcome.error is not None:
                call.future.set_exception(outcome.error)
            else:
                call.future.set_result(outcome.value)
        if self._waiting:
            self._write_group()
        else:
            self._writing = False
            self._idle.set()

    def _commit(self, group: list[_Call]) -> list[_Outcome]:
        """One transaction for the group, a savepoint per call (on the committer's thread)."""
        db = self._db
        assert db is not None, "the committer is not open"
        outcomes = []
        with Transaction(db, immediate=any(call.writes for call in group)):
            for call in group:
                db.execute("SAVEPOINT call")
                try:
                    outcomes.append(_Outcome(None, call.fn(db, *call.args)))
                except Exception as error:
                    db.execute("ROLLBACK TO call")
                    outcomes.append(_Outcome(error, None))
                db.execute("RELEASE call")
        return outcomes

    async def open(self) -> None:
        """Open the connection, on the committer's thread."""
        self._db = await self.run(self._connect)

    async def close(self) -> None:
        """Close the connection once the calls made so far are committed (shielded: a
        cancelled caller still leaves it closed cleanly, its last calls committed)."""
        if self._db is not None:
            await asyncio.shield(self._idle.wait())
            db, self._db = self._db, None
            await asyncio.shield(self.run(db.close))
        self._executor.shutdown(wait=True)


@dataclass(frozen=True)
class _Call:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    writes: bool


@dataclass(frozen=True)
class _Outcome:
    error: BaseException | None
    value: Any


class Transaction:
    """`with` block: BEGIN [IMMEDIATE] ... COMMIT, or ROLLBACK on any error."""

    def __init__(self, db: sqlite3.Connection, *, immediate: bool = True) -> None:
        self._db = db
        self._begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute(self._begin)
        return self._db

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
