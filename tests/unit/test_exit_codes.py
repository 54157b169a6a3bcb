"""One mapping from how a command ended to its exit code, and the README's one table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from uploader.errors import (
    EXIT_CODES,
    ExitCode,
    FatalRemoteError,
    Interrupted,
    InvalidInputError,
    JournalError,
    Outcome,
    RejectedError,
    exit_code,
)

README = Path(__file__).parents[2] / "README.md"


def test_every_outcome_has_its_own_code() -> None:
    """Each outcome maps to one documented code, and no two outcomes share one."""
    assert set(EXIT_CODES) == set(Outcome)
    assert sorted(EXIT_CODES.values()) == sorted(ExitCode)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInputError("bad flag"), ExitCode.BAD_INPUT),
        (FatalRemoteError("no credentials"), ExitCode.CANNOT_START),
        (JournalError("locked"), ExitCode.CANNOT_START),
        (Interrupted("stop"), ExitCode.INTERRUPTED),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
        (BrokenPipeError(), ExitCode.BROKEN_PIPE),
        (RejectedError("too large"), ExitCode.SOME_FAILED),
    ],
)
def test_an_error_maps_by_its_category(error: BaseException, code: ExitCode) -> None:
    """An error that ends a command is mapped by its category, as the README says."""
    assert exit_code(error) == code


def test_the_readme_table_lists_exactly_the_codes() -> None:
    """README.md's exit-code table has one row per code, no more, no fewer."""
    section = README.read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = [int(n) for n in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)]
    assert sorted(rows) == sorted(int(code) for code in ExitCode)
