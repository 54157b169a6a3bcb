"""README.md's Troubleshooting table quotes messages a user really gets.

Each backquoted message in the table's symptom column must be one the code can print:
a string of uploader's sources (the emulator included, for the service's error codes),
or of botocore's exceptions (`You must specify a region`). Placeholders are tolerated on
both sides: `X`, `...` and `[...]` in the README, `{expression}` in an f-string, so
`asset X already exists ...` matches f"asset {name} already exists ...".
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import botocore.exceptions
import pytest

REPO = Path(__file__).resolve().parents[2]
README_PLACEHOLDER = re.compile(r"\[\.\.\.\]|\.\.\.|\b[A-Z][A-Z_]*\b")  # X, N, PATH, HOST: any text
SOURCE_PLACEHOLDER = "\x00"  # where an f-string's {expression} was
MIN_LITERAL_SHARE = 0.6  # a source string matching a quote must be mostly literal text


def troubleshooting_quotes(readme: str) -> list[str]:
    """The backquoted messages of the Troubleshooting table's first column."""
    section = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    quotes = []
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith(("|---", "| symptom")):
            continue
        symptom = line.split("|")[1]
        quotes += re.findall(r"`([^`]+)`", symptom)
    return quotes


def _strings(path: Path) -> Iterator[str]:
    """Every string constant and f-string of a Python file, f-string holes as a marker."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            yield "".join(
                v.value if isinstance(v, ast.Constant) else SOURCE_PLACEHOLDER for v in node.values
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


@cache
def source_strings() -> tuple[str, ...]:
    """The strings of uploader's sources and botocore's exceptions."""
    paths = [*sorted((REPO / "uploader").rglob("*.py")), Path(botocore.exceptions.__file__)]
    return tuple(s for path in paths for s in _strings(path) if len(s) >= 4)


def _quote_pattern(quote: str) -> re.Pattern[str]:
    """The quote with its placeholders free: it may sit where a source has a hole."""
    pieces = README_PLACEHOLDER.split(quote)
    return re.compile(".+?".join(re.escape(piece) for piece in pieces))


def _source_pattern(text: str) -> re.Pattern[str]:
    return re.compile(".+?".join(re.escape(piece) for piece in text.split(SOURCE_PLACEHOLDER)))


def is_printed(quote: str, strings: tuple[str, ...]) -> bool:
    """Whether some source string prints `quote` (or a message that contains it)."""
    within = _quote_pattern(quote)
    for text in strings:
        if within.search(text):  # the quote, its placeholders over the source's holes
            return True
        literal = len(text.replace(SOURCE_PLACEHOLDER, ""))
        if literal >= MIN_LITERAL_SHARE * len(quote) and _source_pattern(text).search(quote):
            return True  # the source's holes over the quote's concrete words (`Published`)
    return False


QUOTES = troubleshooting_quotes((REPO / "README.md").read_text(encoding="utf-8"))


def test_the_table_quotes_messages() -> None:
    """The extraction finds the table's quoted messages (so the test below tests something)."""
    assert len(QUOTES) >= 5
    assert "path escapes the base directory" in QUOTES


@pytest.mark.parametrize("quote", QUOTES)
def test_every_quoted_message_is_in_the_code(quote: str) -> None:
    """Each message the Troubleshooting table quotes occurs in the sources (placeholders aside)."""
    assert is_printed(quote, source_strings()), f"README quotes {quote!r}; no source prints it"


@pytest.mark.parametrize(
    ("quote", "source", "expected"),
    [
        ("asset X already exists (remote ...)", "asset \x00 already exists (remote \x00)", True),
        ("version is already Published here", "version is already \x00 here", True),
        ("no usable AWS credentials", "no usable AWS credentials: \x00", True),
        ("version is already Published here", "cannot add \x00: version \x00 is not", False),
        ("a message", "\x00", False),
    ],
)
def test_placeholders_match_either_way(quote: str, source: str, expected: bool) -> None:
    """README placeholders match source holes, and source holes match the README's words."""
    assert is_printed(quote, (source,)) is expected
