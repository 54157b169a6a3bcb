"""The lines of a JSON Lines manifest, one at a time, from a binary file or a text stream.

This module owns line reading and decoding: blank lines are skipped, a line longer than
`MAX_LINE_BYTES` is skipped to its end (a file without newlines is never read whole), bad
UTF-8 and read errors become a `Line` carrying an error instead of an exception, and the
first line of a file may start with a UTF-8 BOM. It also counts non-blank lines cheaply
(for progress), agreeing with the reader on what is blank.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import IO, AnyStr, Final, NamedTuple, TextIO

# A JSON Lines entry with 150 assets and long paths is well under 1 MiB; the cap keeps a
# file without newlines from being read into memory whole.
MAX_LINE_BYTES: Final = 4 * 1024 * 1024
CHUNK_BYTES: Final = 1024 * 1024
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_ASCII_BLANK: Final = " \t\n\r\x0b\x0c"  # what bytes.strip() strips, so counts agree


class Line(NamedTuple):
    """A non-blank line (1-based `number`), or why it cannot be read (`error`, no text)."""

    number: int
    text: str
    error: str | None = None


def binary_lines(stream: IO[bytes]) -> Iterator[Line]:
    """Non-blank lines, decoded one at a time; a bad line becomes an error, not an exception."""
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            _skip_rest(stream.readline, b"\n")
            yield Line(number, "", f"line is longer than {MAX_LINE_BYTES} bytes")
        elif raw.strip():
            yield _decode_line(raw, number)


def _decode_line(raw: bytes, number: int) -> Line:
    try:
        return Line(number, raw.decode("utf-8-sig" if number == 1 else "utf-8"))
    except UnicodeDecodeError as error:
        return Line(number, "", f"not valid UTF-8 (byte {error.start + 1} of the line)")


def text_lines(stream: TextIO) -> Iterator[Line]:
    """Non-blank lines of a text stream; read errors end it with an error line."""
    number = 0
    try:
        while text := stream.readline(MAX_LINE_BYTES + 1):
            number += 1
            line = _check_text_line(stream, text, number)
            if line is not None:
                yield line
    except (OSError, UnicodeDecodeError) as error:
        yield Line(number + 1, "", f"cannot read further: {error}")


def _check_text_line(stream: TextIO, text: str, number: int) -> Line | None:
    if len(text) > MAX_LINE_BYTES and not text.endswith("\n"):
        _skip_rest(stream.readline, "\n")
        return Line(number, "", f"line is longer than {MAX_LINE_BYTES} characters")
    if not text.strip(_ASCII_BLANK):
        return None
    if _SURROGATE.search(text):  # undecodable bytes, from errors="surrogateescape"
        return Line(number, "", "not valid UTF-8")
    return Line(number, text)


def _skip_rest(readline: Callable[[int], AnyStr], newline: AnyStr) -> None:
    while (chunk := readline(CHUNK_BYTES)) and not chunk.endswith(newline):
        pass


def count_nonblank_lines(stream: IO[bytes]) -> int:
    """The non-blank lines of a stream, counted in chunks without decoding them."""
    count, pending = 0, False  # pending: the unfinished line so far is not blank
    while chunk := stream.read(CHUNK_BYTES):
        *done, rest = chunk.split(b"\n")
        for part in done:
            count += pending or bool(part.strip())
            pending = False
        pending = pending or bool(rest.strip())
    return count + pending
