"""Tests of uploader.progress: when to draw, what a frame shows, the lifecycle, a real pty."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import re
import select
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from structlog.testing import capture_logs

from uploader.domain import TargetStatus
from uploader.limits import AdaptivePolicy, RateLimits
from uploader.manifest import AssetSpec, Place, VersionSpec
from uploader.progress import (
    HashCounter,
    ProgressDisplay,
    RateWindow,
    Sample,
    Total,
    log_stream,
    progress_enabled,
    render,
)
from uploader.report import Totals

REPO = Path(__file__).resolve().parents[2]
DEFAULT_LIMITS = RateLimits()  # read only: publish at 10/s
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeStream(io.StringIO):
    """A text stream that says whether it is a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        """What the test chose."""
        return self.tty


class FakeHasher:
    """Bytes hashed, as the test sets them."""

    bytes_hashed = 0


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        """The current fake time."""
        return self.now_s


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system=None), out


def _text(console: Console, renderable: object) -> str:
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def _display(
    totals: Totals,
    clock: FakeClock,
    console: Console | None = None,
    *,
    hasher: HashCounter | None = None,
    limits: RateLimits | None = DEFAULT_LIMITS,
    versions_total: int | None = 10,
    assets_total: int | None = 30,
    **options: Any,
) -> ProgressDisplay:
    return ProgressDisplay(
        totals, hasher=hasher, limits=limits,
        versions_total=versions_total, assets_total=assets_total, console=console, clock=clock,
        **options,
    )  # fmt: skip


def _spec(n_assets: int) -> VersionSpec:
    place = Place("m.jsonl", 1, "")
    assets = tuple(AssetSpec(f"a{i}", Path(f"a{i}"), None, place) for i in range(n_assets))
    return VersionSpec("d", None, "r", "ns", "pkg", "1.0", TargetStatus.PUBLISHED, assets, place, 0)


# --- progress_enabled ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tty", "no_progress", "term", "expected"),
    [
        (True, False, "xterm-256color", True),
        (True, False, None, True),
        (False, False, "xterm-256color", False),
        (True, True, "xterm-256color", False),
        (True, False, "dumb", False),
        (False, True, "dumb", False),
    ],
)
def test_progress_enabled_only_on_a_real_terminal_not_turned_off(
    tty: bool, no_progress: bool, term: str | None, expected: bool
) -> None:
    """Progress is drawn on a tty whose TERM is not dumb, unless --no-progress."""
    environ = {} if term is None else {"TERM": term}
    assert progress_enabled(no_progress, FakeStream(tty), environ) is expected


def test_progress_enabled_reads_term_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit environment, TERM comes from os.environ."""
    monkeypatch.setenv("TERM", "dumb")
    assert not progress_enabled(False, FakeStream(True))
    monkeypatch.setenv("TERM", "xterm")
    assert progress_enabled(False, FakeStream(True))


# --- what a frame shows ----------------------------------------------------------------------


def test_frame_shows_counts_limit_throttles_and_eta() -> None:
    """A frame shows hashed bytes and speed, done/total, the measured rate, the limit, ETA."""
    totals, clock, hasher = Totals(), FakeClock(), FakeHasher()
    display = _display(totals, clock, hasher=hasher)
    display.poll()
    clock.now_s += 2
    hasher.bytes_hashed = 4 * 2**20
    totals.versions.update({"finalized": 3, "skipped": 1, "pending": 2})
    totals.assets.update({"published": 10, "already_present": 2})
    totals.throttled, totals.retries = 3, 5
    console, _ = _console()
    text = _text(console, render(display.poll()))
    assert "4.0 MiB" in text
    assert "at 2.0 MiB/s" in text
    assert "4/10" in text  # pending versions are not done
    assert "12/30" in text
    assert "10 published, 2 present, 0 failed" in text
    assert "5.0 assets/s" in text
    assert "limit 10/s" in text
    assert "throttled 3" in text
    assert "retries 5" in text
    assert "ETA 0:00:03" in text  # 18 assets left at 6 done per second
    assert " 40%" in text


def test_frame_before_any_time_passed_shows_no_rate_and_no_eta() -> None:
    """With one sample there is no rate yet: the rate and the ETA are shown as unknown."""
    text = _text(_console()[0], render(_display(Totals(), FakeClock()).poll()))
    assert "- assets/s" in text
    assert "ETA --:--:--" in text
    assert "0/30" in text


def test_eta_is_zero_once_every_asset_is_done() -> None:
    """Nothing remaining means an ETA of zero, whatever the rate."""
    totals = Totals()
    totals.assets.update({"published": 29, "failed": 1})
    assert _display(totals, FakeClock()).poll().eta_s == 0.0


def test_lowered_limit_shows_its_ceiling() -> None:
    """In adaptive mode a cut publish rate is shown with the rate it may climb back to."""
    limits = RateLimits(adaptive=AdaptivePolicy())
    limits.on_throttled("publish")
    text = _text(_console()[0], render(_display(Totals(), FakeClock(), limits=limits).poll()))
    assert "limit 5/s (of 10/s)" in text


def test_dry_run_frame_has_no_limit_and_reads_totals_bytes() -> None:
    """Without limits no limit is shown; without a hasher Totals.bytes_hashed is used."""
    totals = Totals(bytes_hashed=3 * 2**30)
    text = _text(_console()[0], render(_display(totals, FakeClock(), limits=None).poll()))
    assert "limit" not in text
    assert "3.0 GiB" in text


def test_manifest_problems_are_shown_beside_versions() -> None:
    """Invalid entries never become versions, so their count explains a short total."""
    totals = Totals(problems=2)
    text = _text(_console()[0], render(_display(totals, FakeClock()).poll()))
    assert "manifest problems 2" in text


def test_rate_window_measures_the_last_seconds_only() -> None:
    """Samples older than the window are dropped: an early burst stops counting."""
    window = RateWindow(window_s=5)
    for at_s, published in [(0, 0), (1, 100), (6, 105), (8, 107)]:
        window.add(Sample(at_s, 0, published, published))
    assert window.per_s(lambda s: s.assets_published) == pytest.approx((107 - 100) / 7)


# --- totals that grow ------------------------------------------------------------------------


def test_totals_grow_as_read_and_become_final_at_the_end() -> None:
    """Counting the manifest's entries grows the totals, shown as `n+` until reading ends."""
    display = _display(Totals(), FakeClock(), versions_total=None, assets_total=None)
    console = _console()[0]
    first = display.poll()
    assert (first.versions_total, first.assets_total) == (None, None)
    entries = display.counting([_spec(2), "a problem", _spec(3)])
    next(entries)
    growing = display.poll()
    assert (growing.versions_total, growing.assets_total) == (Total(1, False), Total(2, False))
    assert re.search(r"versions\s+0/1\+", _text(console, render(growing)))
    assert list(entries) == ["a problem", _spec(3)]
    final = display.poll()
    assert (final.versions_total, final.assets_total) == (Total(2, True), Total(5, True))
    assert re.search(r"assets\s+0/5 ", _text(console, render(final)))
    assert "reading_done=True" in repr(display)


def test_given_totals_are_fixed_whatever_is_read() -> None:
    """A total given up front (count_entries) is not bumped again by add_expected."""
    display = _display(Totals(), FakeClock(), versions_total=4, assets_total=None)
    display.add_expected(1, 3)
    state = display.poll()
    assert state.versions_total is not None
    assert (state.versions_total.count, state.versions_total.final) == (4, True)
    assert state.assets_total is not None
    assert (state.assets_total.count, state.assets_total.final) == (3, False)


def test_eta_extrapolates_assets_per_version_when_only_versions_are_counted() -> None:
    """With 10 versions expected and 2 read holding 6 assets, 30 assets are expected in all."""
    totals, clock = Totals(), FakeClock()
    display = _display(totals, clock, versions_total=10, assets_total=None)
    display.add_expected(2, 6)
    display.poll()
    clock.now_s += 4
    totals.assets["published"] = 6
    assert display.poll().eta_s == pytest.approx((30 - 6) / 1.5)


# --- lifecycle ---------------------------------------------------------------------------------


async def test_display_refreshes_on_its_own_and_leaves_the_final_state() -> None:
    """Inside `async with` frames are drawn every 1/refresh_per_s; the last one is final."""
    console, out = _console()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    totals = Totals()
    async with _display(totals, FakeClock(), console, refresh_per_s=4, sleep=sleep):
        for _ in range(3):
            await asyncio.sleep(0)
        totals.assets["published"] = 30
    assert waits
    assert set(waits) == {0.25}
    assert "30/30" in out.getvalue()
    assert "100%" in out.getvalue()


async def test_disabled_display_draws_nothing() -> None:
    """enabled=False (not a terminal, --no-progress) writes not a byte."""
    console, out = _console()
    totals = Totals()
    async with _display(totals, FakeClock(), console, enabled=False) as display:
        totals.assets["published"] = 3
        display.refresh()
        await asyncio.sleep(0)
    assert out.getvalue() == ""
    assert not display.enabled


async def test_a_broken_display_is_logged_not_raised() -> None:
    """A failing refresh ends the display with a warning; the run goes on."""

    class BrokenHasher:
        """A hasher whose counter cannot be read."""

        @property
        def bytes_hashed(self) -> int:
            """Fails, as a bug would."""
            raise RuntimeError("boom")

    console, _ = _console()
    with capture_logs() as logs:
        async with _display(Totals(), FakeClock(), console, hasher=BrokenHasher()):
            await asyncio.sleep(0)
    assert [e["event"] for e in logs] == ["progress display failed"]
    assert "boom" in logs[0]["error"]


def test_log_stream_prints_whole_lines_through_the_console() -> None:
    """Log text is held until its newline, then printed by the console, colours decoded."""
    console, out = _console()
    stream = log_stream(console)
    stream.write("\x1b[1mhello\x1b[0m ")
    assert out.getvalue() == ""
    stream.write("world\nsecond\nthi")
    assert out.getvalue() == "hello world\nsecond\n"  # decoded into styles, no raw escapes
    assert stream.isatty()


def test_log_stream_leaves_long_lines_whole() -> None:
    """A line wider than the console is not broken by rich (a JSON line stays one line)."""
    console, out = _console()
    line = '{"event": "' + "x" * 300 + '"}'
    log_stream(console).write(line + "\n")
    assert out.getvalue() == line + "\n"


def test_log_stream_is_not_a_tty_when_the_console_is_not() -> None:
    """configure_logging picks JSON for a console that writes to a file."""
    assert not log_stream(Console(file=io.StringIO())).isatty()


# --- a real terminal -------------------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import structlog
    from uploader.limits import RateLimits
    from uploader.logs import configure_logging
    from uploader.progress import ProgressDisplay, log_stream, progress_console, progress_enabled
    from uploader.report import Totals

    async def main():
        enabled = progress_enabled(False, sys.stderr)
        console = progress_console() if enabled else None
        configure_logging(stream=log_stream(console) if console else None)
        totals = Totals()
        async with ProgressDisplay(totals, hasher=None, limits=RateLimits(), versions_total=10,
                                   assets_total=30, console=console, refresh_per_s=20,
                                   enabled=enabled):
            for n in range(10):
                totals.versions["finalized"] += 1
                totals.assets["published"] += 3
                if n == 5:
                    structlog.get_logger().info("halfway there")
                await asyncio.sleep(0.08)
    asyncio.run(main())
    print("summary line")
    """
)


def _script_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES", "NO_COLOR"}}
    env["TERM"] = "xterm-256color"
    return env


def _read_until_closed(fd: int, timeout_s: float) -> bytes:
    """Everything the pty's other side writes, until it closes or time runs out."""
    chunks: list[bytes] = []
    deadline_s = time.monotonic() + timeout_s
    while (left_s := deadline_s - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left_s)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _run_in_pty(script: str) -> tuple[int, str]:
    primary, secondary = pty.openpty()
    termios.tcsetwinsize(secondary, (40, 120))
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", script], stdin=secondary, stdout=secondary,
            stderr=secondary, cwd=REPO, env=_script_env(), close_fds=True,
        )  # fmt: skip
        os.close(secondary)
        output = _read_until_closed(primary, timeout_s=20)
        return child.wait(timeout=10), output.decode("utf-8", "replace")
    finally:
        os.close(primary)


def _plain(output: str) -> str:
    return ANSI.sub("", output).replace("\r", "")


def test_draws_progress_on_a_real_terminal() -> None:
    """On a pty the display is drawn and ends on its final state, the log line above it."""
    code, output = _run_in_pty(SCRIPT)
    assert code == 0, output
    plain = _plain(output)
    assert "assets" in plain
    assert "30/30" in plain
    assert "limit 10/s" in plain
    assert "\x1b[?25l" in output  # rich hid the cursor while drawing
    # Each log line is printed where the frame was erased, whole, never inside a frame line.
    pieces = [_plain(piece) for piece in re.split(r"\r\n|\x1b\[2K", output)]
    log_pieces = [piece for piece in pieces if "halfway there" in piece]
    assert len(log_pieces) == 1
    assert "assets" not in log_pieces[0]
    assert plain.rstrip().endswith("summary line")


def test_draws_nothing_when_piped() -> None:
    """With stdout and stderr piped, the same script prints logs and the summary, no progress."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=REPO,
        env=_script_env(), timeout=20, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "summary line\n"
    assert "halfway there" in done.stderr
    assert "assets" not in done.stderr
    assert "\x1b[" not in done.stderr


# --- fits 80 columns; rates as a person reads them; verify's frame -----------------------


def test_every_row_fits_eighty_columns_with_six_digit_counts() -> None:
    """Six-digit counts, five-digit retries and a cut adaptive limit: rows fit 80 columns."""
    limits = RateLimits({"publish": 7.16098}, adaptive=AdaptivePolicy())
    limits.on_throttled("publish")
    totals, clock, hasher = Totals(), FakeClock(), FakeHasher()
    display = _display(totals, clock, hasher=hasher, limits=limits,
                       versions_total=999_999, assets_total=999_999)  # fmt: skip
    display.poll()
    clock.now_s += 100
    hasher.bytes_hashed = 1023 * 2**30
    totals.versions.update({"finalized": 500_000, "pending": 499_999})
    totals.assets.update({"published": 654_321, "already_present": 123_456, "failed": 99_999})
    totals.throttled, totals.retries, totals.problems = 12_345, 99_999, 99_999
    wide = Console(file=io.StringIO(), width=200, color_system=None)
    lines = _text(wide, render(display.poll())).splitlines()
    assert len(lines) == 5
    assert max(len(line.rstrip()) for line in lines) <= 80, "\n".join(lines)


def test_rates_are_rounded() -> None:
    """A limit of 7.16098/s is shown as 7.2/s; a ceiling of 10/s stays 10/s."""
    limits = RateLimits({"publish": 14.32196}, adaptive=AdaptivePolicy())
    limits.on_throttled("publish")  # halved: 7.16098
    text = _text(_console()[0], render(_display(Totals(), FakeClock(), limits=limits).poll()))
    assert "limit 7.2/s (of 14.3/s)" in text
    assert "7.16" not in text


class FakeTally:
    """A verification's counts, as the test sets them."""

    versions = 0
    matching = 0


def test_a_verification_frame_shows_versions_checked() -> None:
    """With `checked`, a frame shows versions checked, match/differ, and no publish row."""
    totals, clock, tally = Totals(), FakeClock(), FakeTally()
    display = _display(totals, clock, limits=None, versions_total=10, checked=tally)
    display.poll()
    clock.now_s += 2
    tally.versions, tally.matching = 4, 3
    text = _text(_console()[0], render(display.poll()))
    assert "4/10" in text
    assert "3 match, 1 differ" in text
    assert "2.0 checked/s" in text
    assert "ETA 0:00:03" in text  # 6 versions left at 2 per second
    assert "publish" not in text
