"""Progress on a terminal for `uploader run` and `verify`, drawn on stderr from their counters.

The pipeline never calls into the display. A small asyncio task reads the counters the
run keeps anyway (`Totals`, `Hasher.bytes_hashed`, `RateLimits.snapshot()`) a few times
a second and hands rich's `Live` a fresh table; a slow terminal or a bug here costs the
upload nothing but the picture. Shown:

    hashed           1.2 GiB at 350.0 MiB/s
    versions            4/10
    assets             12/30 ━━━━━━━━━━━━                    40%  ETA 0:00:19
                             10 published, 2 present, 0 failed
    publish     9.6 assets/s limit 7.2/s (of 10/s)  throttled 3  retries 5

`verify` shows the versions checked instead (`checked`: its tally), and no publishes:

    hashed           1.2 GiB at 350.0 MiB/s
    versions            4/10 3 match, 1 differ
    requests   2.0 checked/s throttled 0  retries 0  ETA 0:00:03

Every row fits 80 columns for counts up to six digits (five for retries): a terminal
that wraps a row breaks the redraw. Rates are rounded to what a person reads.

Rates are measured over the last `RATE_WINDOW_S` seconds. `Totals.assets` counts an
asset when its version ends, so the numbers move in steps of one version's assets.
A total given to the constructor is fixed; otherwise it grows as the reader finds entries
(`add_expected`, or `counting` wrapped around the manifest's entries) and is shown as a
lower bound (`30+`) until reading is done. With the versions' total known up front
(`manifest.count_entries`) and the assets' not, the ETA extrapolates the assets read so
far per version read.

Logs must not tear the display: route structlog through the same `Console` with
`log_stream(console)`, which prints each line above the live area. While the display
runs, stray writes to `sys.stderr` (warnings, tracebacks) are redirected the same way;
stdout is never touched (it carries the summary).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Protocol, Self, TextIO, TypeVar, cast

import structlog
from rich.console import Console, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from uploader.domain import AssetOutcome, VersionOutcome
from uploader.limits import Family, FamilySnapshot
from uploader.manifest import VersionSpec
from uploader.report import Totals

RATE_WINDOW_S: Final = 5.0  # long enough to smooth the per-version steps of Totals.assets
BAR_WIDTH: Final = 30
RATE_COLUMN_WIDTH: Final = 15  # "9999.9 assets/s": the column does not jitter as rates change
FRAME_WIDTH: Final = 80  # the classic terminal: no row may be wider

log = structlog.get_logger(__name__)
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


class HashCounter(Protocol):
    """What the display reads from the hasher (`uploader.hashing.Hasher`)."""

    @property
    def bytes_hashed(self) -> int:
        """Bytes hashed so far."""
        ...


class CheckCounter(Protocol):
    """What the display reads from a verification (`uploader.verify.Tally`)."""

    @property
    def versions(self) -> int:
        """Versions checked so far."""
        ...

    @property
    def matching(self) -> int:
        """Versions that match the service."""
        ...


class LimitsView(Protocol):
    """What the display reads from the rate limits (`uploader.limits.RateLimits`)."""

    def snapshot(self) -> Mapping[Family, FamilySnapshot]:
        """Every family's current rate and ceiling."""
        ...


def progress_enabled(
    no_progress: bool, stream: TextIO, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether to draw progress on `stream`: a terminal, not a dumb one, not turned off.

    Args:
        no_progress: the `--no-progress` flag.
        stream: where the display would be drawn (stderr).
        environ: the environment, for `TERM`; `os.environ` by default.
    """
    env = os.environ if environ is None else environ
    if no_progress or env.get("TERM", "") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def progress_console(stream: TextIO | None = None) -> Console:
    """A rich Console for the display and the logs, writing to `stream` (stderr by default)."""
    return Console(file=stream or sys.stderr)


class ConsoleLines(io.TextIOBase):
    """A text file whose complete lines are printed through a rich Console.

    Lines printed through the console appear above its live display instead of tearing
    it. ANSI colours (structlog's ConsoleRenderer) are decoded into rich styles, and long
    lines are soft-wrapped by the terminal rather than broken by rich, so a JSON log line
    stays one line. A partial line waits for its newline.
    """

    def __init__(self, console: Console) -> None:
        super().__init__()
        self._console = console
        self._partial = ""
        # structlog locks per file already; this also keeps other writers' lines whole.
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """Buffer `text`; print every line it completes."""
        with self._lock:
            *lines, self._partial = (self._partial + text).split("\n")
            for line in lines:
                self._console.print(Text.from_ansi(line), soft_wrap=True, highlight=False)
        return len(text)

    def writable(self) -> bool:
        """Always: this is an output."""
        return True

    def isatty(self) -> bool:
        """Whether the console draws on a terminal (logging picks its format by this)."""
        return self._console.is_terminal


def log_stream(console: Console) -> TextIO:
    """A file for structlog (`configure_logging(stream=...)`) that prints through `console`."""
    return cast("TextIO", ConsoleLines(console))


@dataclass(frozen=True)
class Sample:
    """The counters at one moment, for rates over a window."""

    at_s: float
    bytes_hashed: int
    assets_published: int
    assets_done: int
    versions_done: int = 0


class RateWindow:
    """Rates of change of a `Sample`'s counters over the last `window_s` seconds."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self._window_s = window_s
        self._samples: deque[Sample] = deque()

    def add(self, sample: Sample) -> None:
        """Record a sample and forget those no longer needed to span the window."""
        self._samples.append(sample)
        horizon_s = sample.at_s - self._window_s
        while len(self._samples) > 1 and self._samples[1].at_s <= horizon_s:
            self._samples.popleft()

    def per_s(self, counter: Callable[[Sample], int]) -> float | None:
        """The counter's change per second across the window; None before time has passed."""
        first, last = self._samples[0], self._samples[-1]
        span_s = last.at_s - first.at_s
        if span_s <= 0:
            return None
        return (counter(last) - counter(first)) / span_s


@dataclass(frozen=True)
class Total:
    """How many of something the run expects; `final` False means it may still grow."""

    count: int
    final: bool


@dataclass(frozen=True)
class ProgressState:
    """Everything one frame of the display shows."""

    bytes_hashed: int
    hash_bytes_per_s: float | None
    versions_done: int
    versions_total: Total | None
    assets: Mapping[str, int]
    assets_done: int
    assets_total: Total | None
    publish_per_s: float | None
    limit: FamilySnapshot | None
    throttled: int
    retries: int
    problems: int
    eta_s: float | None
    matching: int | None = None  # set when verifying: versions that match the service
    check_per_s: float | None = None


class _Expected:
    """Totals known up front, or counted as the manifest is read.

    Written by the reader (possibly in its thread), read by the display: each field has
    one writer, so no lock is needed.
    """

    def __init__(self, versions_total: int | None, assets_total: int | None) -> None:
        self.versions_given = versions_total
        self.assets_given = assets_total
        self.versions_read = 0
        self.assets_read = 0
        self.reading_done = False

    def versions(self) -> Total | None:
        """The versions' total: the given one, else those read so far."""
        return self._total(self.versions_given, self.versions_read)

    def assets(self) -> Total | None:
        """The assets' total: the given one, else those read so far."""
        return self._total(self.assets_given, self.assets_read)

    def _total(self, given: int | None, read: int) -> Total | None:
        if given is not None:
            return Total(given, final=True)
        if read or self.reading_done:
            return Total(read, final=self.reading_done)
        return None

    def assets_estimate(self) -> float | None:
        """The assets expected in all, extrapolated from those read when not yet known."""
        total = self.assets()
        if total is not None and total.final:
            return total.count
        if self.versions_given is not None and self.versions_read:
            return self.assets_read * self.versions_given / self.versions_read
        return None


class ProgressDisplay:
    """A live display of a run's counters on a terminal; an async context manager.

    `async with ProgressDisplay(report.totals, ...) as display:` starts drawing and a task
    refreshing it every `1 / refresh_per_s` seconds; leaving draws the final state, which
    stays on screen. With `enabled=False` it draws nothing (and still counts totals).

    Args:
        totals: the run's counters (`Report.totals`).
        hasher: bytes hashed live; None reads `totals.bytes_hashed`.
        limits: the publish limit shown beside the measured rate; None shows none (dry run).
        versions_total: versions expected (`count_entries`); None counts them as read.
        assets_total: assets expected; None counts them as read.
        console: where to draw; a stderr Console by default. Route logs through the same
            console with `log_stream` so that they print above the display.
        refresh_per_s: frames per second.
        clock: monotonic seconds, for the rates.
        sleep: the wait between frames.
        enabled: False turns the display into a no-op (not a terminal, `--no-progress`).
        checked: a verification's counts (`verify`): versions done are those checked,
            the ETA follows them, and there is no publish row.
    """

    def __init__(
        self,
        totals: Totals,
        *,
        hasher: HashCounter | None,
        limits: LimitsView | None,
        versions_total: int | None,
        assets_total: int | None = None,
        console: Console | None = None,
        refresh_per_s: float = 4,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        enabled: bool = True,
        checked: CheckCounter | None = None,
    ) -> None:
        if refresh_per_s <= 0:
            raise ValueError(f"refresh_per_s must be positive: {refresh_per_s}")
        self._totals = totals
        self._hasher = hasher
        self._limits = limits
        self._expected = _Expected(versions_total, assets_total)
        self._interval_s = 1 / refresh_per_s
        self._clock = clock
        self._sleep = sleep
        self._window = RateWindow()
        self._checked = checked
        self._live: Live | None = None
        if enabled:
            self._live = Live(console=console or progress_console(), auto_refresh=False,
                              redirect_stdout=False, redirect_stderr=True)  # fmt: skip
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """Whether anything is drawn."""
        return self._live is not None

    def add_expected(self, versions: int, assets: int) -> None:
        """Grow the totals not given up front, as the reader finds entries."""
        self._expected.versions_read += versions
        self._expected.assets_read += assets

    def reading_done(self) -> None:
        """The manifest is read to its end: the totals counted so far are final."""
        self._expected.reading_done = True

    def counting(self, entries: Iterable[T]) -> Iterator[T]:
        """Pass `entries` through, counting each `VersionSpec` and its assets as expected.

        Wrap the manifest's entries with it (`pipeline.run(display.counting(entries))`);
        the totals become final when the entries run out.
        """
        for entry in entries:
            if isinstance(entry, VersionSpec):
                self.add_expected(1, len(entry.assets))
            yield entry
        self.reading_done()

    def poll(self) -> ProgressState:
        """Read the counters now, update the rates, and return what a frame shows."""
        if self._checked is not None:
            return self._poll_checked(self._checked)
        versions_done = _done(self._totals.versions, VersionOutcome.PENDING)
        assets_done = _done(self._totals.assets, AssetOutcome.PENDING)
        bytes_hashed = self._bytes_hashed()
        published = self._totals.assets[AssetOutcome.PUBLISHED]
        self._window.add(Sample(self._clock(), bytes_hashed, published, assets_done))
        return ProgressState(
            bytes_hashed=bytes_hashed,
            hash_bytes_per_s=self._window.per_s(lambda s: s.bytes_hashed),
            versions_done=versions_done,
            versions_total=self._expected.versions(),
            assets=dict(self._totals.assets),
            assets_done=assets_done,
            assets_total=self._expected.assets(),
            publish_per_s=self._window.per_s(lambda s: s.assets_published),
            limit=self._publish_limit(),
            throttled=self._totals.throttled,
            retries=self._totals.retries,
            problems=self._totals.problems,
            eta_s=self._eta_s(assets_done),
        )

    def _poll_checked(self, checked: CheckCounter) -> ProgressState:
        """A verification's frame: versions checked, bytes hashed, requests retried."""
        bytes_hashed = self._bytes_hashed()
        self._window.add(Sample(self._clock(), bytes_hashed, 0, 0, checked.versions))
        check_per_s = self._window.per_s(lambda s: s.versions_done)
        total = self._expected.versions()
        eta_s = None
        if total is not None and total.final and check_per_s:
            eta_s = max(0, total.count - checked.versions) / check_per_s
        return ProgressState(
            bytes_hashed=bytes_hashed,
            hash_bytes_per_s=self._window.per_s(lambda s: s.bytes_hashed),
            versions_done=checked.versions,
            versions_total=total,
            assets={},
            assets_done=0,
            assets_total=None,
            publish_per_s=None,
            limit=None,
            throttled=self._totals.throttled,
            retries=self._totals.retries,
            problems=self._totals.problems,
            eta_s=eta_s,
            matching=checked.matching,
            check_per_s=check_per_s,
        )

    def _bytes_hashed(self) -> int:
        if self._hasher is None:
            return self._totals.bytes_hashed
        return self._hasher.bytes_hashed

    def _publish_limit(self) -> FamilySnapshot | None:
        if self._limits is None:
            return None
        return self._limits.snapshot().get(Family.PUBLISH)

    def _eta_s(self, assets_done: int) -> float | None:
        """Seconds left at the recent pace of assets ending (published, present or failed).

        Every outcome counts toward the pace, not only publishes: on a resume, assets
        found already present end the work as surely as published ones.
        """
        expected = self._expected.assets_estimate()
        if expected is None:
            return None
        remaining = max(0.0, expected - assets_done)
        if remaining == 0:
            return 0.0
        done_per_s = self._window.per_s(lambda s: s.assets_done)
        return remaining / done_per_s if done_per_s else None

    def refresh(self) -> None:
        """Poll the counters and redraw (nothing when disabled)."""
        if self._live is not None:
            self._live.update(render(self.poll()), refresh=True)

    async def _refresh_forever(self) -> None:
        while True:
            self.refresh()
            await self._sleep(self._interval_s)

    async def __aenter__(self) -> Self:
        if self._live is not None:
            self._live.start()
            self._task = asyncio.create_task(self._refresh_forever(), name="progress")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        if task is None or self._live is None:
            return
        task.cancel()
        try:
            await asyncio.wait({task})
        finally:
            self._stop(task, self._live)

    def _stop(self, task: asyncio.Task[None], live: Live) -> None:
        """Draw the final state and release the terminal, whatever happened to the task."""
        try:
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                raise error  # the refresh task died: say why, once
            self.refresh()
        except Exception as error:  # the picture is not worth failing the run for
            log.warning("progress display failed", error=repr(error))
        finally:
            live.stop()

    def __repr__(self) -> str:
        e = self._expected
        return (
            f"<ProgressDisplay enabled={self.enabled} versions_read={e.versions_read} "
            f"assets_read={e.assets_read} reading_done={e.reading_done}>"
        )


def _done(counts: Mapping[str, int], pending: str) -> int:
    """Everything counted except the pending ones."""
    return sum(n for outcome, n in counts.items() if outcome != pending)


# --- rendering ------------------------------------------------------------------------------


def render(state: ProgressState) -> RenderableType:
    """One frame: a small borderless table, one row per concern, at most 80 columns."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(justify="right", min_width=RATE_COLUMN_WIDTH, no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_row("hashed", _bytes(state.bytes_hashed), _hash_speed(state.hash_bytes_per_s))
    if state.matching is not None:
        return _render_checked(grid, state)
    grid.add_row("versions", _of(state.versions_done, state.versions_total), _problems(state))
    grid.add_row("assets", _of(state.assets_done, state.assets_total), _assets_bar(state))
    grid.add_row("", "", _outcomes(state))
    grid.add_row("publish", _rate(state.publish_per_s), _publish_detail(state))
    return grid


def _render_checked(grid: Table, state: ProgressState) -> Table:
    """The rows of a verification (`matching` is set)."""
    assert state.matching is not None
    detail = f"{state.matching} match, {state.versions_done - state.matching} differ"
    if state.problems:
        detail += f"  {_problems(state)}"
    grid.add_row("versions", _of(state.versions_done, state.versions_total), detail)
    checked = "-" if state.check_per_s is None else f"{state.check_per_s:.1f}"
    retried = f"throttled {state.throttled}  retries {state.retries}  ETA {_eta(state)}"
    grid.add_row("requests", f"{checked} checked/s", retried)
    return grid


def _of(done: int, total: Total | None) -> str:
    if total is None:
        return str(done)
    return f"{done}/{total.count}{'' if total.final else '+'}"


def _problems(state: ProgressState) -> str:
    return f"manifest problems {state.problems}" if state.problems else ""


_OUTCOME_LABELS: Final = {  # short, so six-digit counts fit 80 columns
    AssetOutcome.PUBLISHED: "published",
    AssetOutcome.PRESENT: "present",
    AssetOutcome.FAILED: "failed",
}


def _outcomes(state: ProgressState) -> str:
    return ", ".join(f"{state.assets.get(o, 0)} {label}" for o, label in _OUTCOME_LABELS.items())


def _assets_bar(state: ProgressState) -> RenderableType:
    eta = f"ETA {_eta(state)}"
    total = state.assets_total
    if total is None or not total.final or not total.count:
        return eta  # a bar against a growing total would run backwards
    row = Table.grid(padding=(0, 2))
    bar = ProgressBar(total=total.count, completed=min(state.assets_done, total.count),
                      width=BAR_WIDTH)  # fmt: skip
    row.add_row(bar, f"{min(100, 100 * state.assets_done // total.count):3d}%", eta)
    return row


def _publish_detail(state: ProgressState) -> str:
    parts = [f"throttled {state.throttled}", f"retries {state.retries}"]
    if state.limit is not None:
        parts.insert(0, _limit(state.limit))
    return "  ".join(parts)


def _limit(limit: FamilySnapshot) -> str:
    text = f"limit {_per_s(limit.rate_per_s)}/s"
    if limit.rate_per_s < limit.ceiling_per_s:
        text += f" (of {_per_s(limit.ceiling_per_s)}/s)"
    return text


def _per_s(rate_per_s: float) -> str:
    """A rate as a person reads it: `7.2`, `10`, `0.013` (never `7.16098`)."""
    if rate_per_s >= 1:
        return f"{round(rate_per_s, 1):g}"
    return f"{rate_per_s:.2g}"


def _rate(per_s: float | None) -> str:
    return "- assets/s" if per_s is None else f"{per_s:.1f} assets/s"


def _hash_speed(bytes_per_s: float | None) -> str:
    return "" if bytes_per_s is None else f"at {_bytes(bytes_per_s)}/s"


def _eta(state: ProgressState) -> str:
    if state.eta_s is None:
        return "--:--:--"
    minutes, seconds = divmod(round(state.eta_s), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def _bytes(n_bytes: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes:.0f} bytes"
