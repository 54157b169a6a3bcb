"""JSON with positions: a strict parser that keeps the offset of every value and key.

No library gives line numbers for JSON values, and a whole-file `.json` manifest must
name the line of each problem, so this module owns a small parser (`JsonParser`) that
walks objects and arrays itself and leaves strings, numbers and literals to the standard
decoder's `raw_decode`: it accepts exactly what `json.loads` accepts and decodes to equal
values, as the differential property test checks, with two documented limits: nesting
deeper than `MAX_JSON_DEPTH` is refused, and an integer too long for `int()` becomes a
float (any number is refused by the checks anyway). It also owns `JsonNode`, the `Node`
view of decoded JSON, and the decoder JSON Lines use (`LINE_DECODER`: a line is its own
position, so it needs no offsets).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from uploader.manifest.nodes import JsonObject, Node, kind_of

# Only four levels matter (manifest, versions, entry, assets, asset); deeper JSON is junk,
# and the cap keeps the position-tracking parser well inside Python's recursion limit.
MAX_JSON_DEPTH: Final = 100


@dataclass(frozen=True, slots=True)
class Pos:
    """A value of a whole-file JSON manifest, with the offset its line is taken from."""

    value: object
    offset: int


def parse_int(text: str) -> object:
    """`int(text)`, or a float when the digits are more than `int()` takes."""
    try:
        return int(text)
    except ValueError:  # more digits than int() takes; any number is refused anyway
        return float(text)


LINE_DECODER: Final = json.JSONDecoder(object_pairs_hook=JsonObject, parse_int=parse_int)
"""Decodes one JSON Lines entry: objects keep their pairs in order, duplicates included."""


def json_message(error: json.JSONDecodeError) -> str:
    """The decoder's message with the column it names."""
    return f"{error.msg} (column {error.colno})"


def nesting(error: Exception) -> str:
    """What a decoder's ValueError or RecursionError says about the text."""
    return "nested too deeply" if isinstance(error, RecursionError) else str(error)


class JsonParser:
    """Strict JSON with the offset of every value and key, for lines in problems.

    Objects and arrays are walked here; strings, numbers and literals go to the standard
    decoder's `raw_decode`, so escapes and numbers follow the standard exactly.
    """

    _SPACE: Final = re.compile(r"[ \t\n\r]*")

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder = json.JSONDecoder(parse_int=parse_int)

    def document(self) -> Pos:
        """The whole text as one value; raises `json.JSONDecodeError` where it goes wrong."""
        value, end = self.value(self.skip(0), 0)
        end = self.skip(end)
        if end != len(self.text):
            raise json.JSONDecodeError("Extra data", self.text, end)
        return value

    def skip(self, index: int) -> int:
        """Past the whitespace at `index`."""
        match = self._SPACE.match(self.text, index)
        return match.end() if match else index

    def value(self, index: int, depth: int) -> tuple[Pos, int]:
        """The value starting at `index` and where it ends."""
        if depth > MAX_JSON_DEPTH:
            raise json.JSONDecodeError("nested too deeply", self.text, index)
        char = self.text[index : index + 1]
        if char == "{":
            return self.object(index, depth + 1)
        if char == "[":
            return self.array(index, depth + 1)
        value, end = self.decoder.raw_decode(self.text, index)
        return Pos(value, index), end

    def object(self, start: int, depth: int) -> tuple[Pos, int]:
        """The object whose `{` is at `start`."""
        pairs: list[tuple[str, object]] = []
        index = self.skip(start + 1)
        if self.text.startswith("}", index):
            return Pos(JsonObject(pairs), start), index + 1
        closed = False
        while not closed:
            key, key_start, index = self.key(index)
            value, index = self.value(self.skip(index), depth)
            pairs.append((key, Pos(value.value, key_start)))  # a field's line is its key's
            index, closed = self.after_item(index, "}")
        return Pos(JsonObject(pairs), start), index

    def key(self, index: int) -> tuple[str, int, int]:
        """The key at `index`, its offset, and where its value starts."""
        if not self.text.startswith('"', index):
            message = "Expecting property name enclosed in double quotes"
            raise json.JSONDecodeError(message, self.text, index)
        key, end = self.decoder.raw_decode(self.text, index)
        end = self.skip(end)
        if not self.text.startswith(":", end):
            raise json.JSONDecodeError("Expecting ':' delimiter", self.text, end)
        return str(key), index, end + 1

    def array(self, start: int, depth: int) -> tuple[Pos, int]:
        """The array whose `[` is at `start`."""
        items: list[object] = []
        index = self.skip(start + 1)
        if self.text.startswith("]", index):
            return Pos(items, start), index + 1
        closed = False
        while not closed:
            item, index = self.value(index, depth)
            items.append(item)
            index, closed = self.after_item(index, "]")
        return Pos(items, start), index

    def after_item(self, index: int, close: str) -> tuple[int, bool]:
        """Past the `,` to the next item, or past `close`, and whether it closed."""
        index = self.skip(index)
        if self.text.startswith(close, index):
            return index + 1, True
        if not self.text.startswith(",", index):
            raise json.JSONDecodeError("Expecting ',' delimiter", self.text, index)
        return self.skip(index + 1), False


class LineIndex:
    """Line numbers of offsets in a text, by binary search over its newlines."""

    def __init__(self, text: str) -> None:
        self.newlines = [match.start() for match in re.finditer("\n", text)]

    def line_of(self, offset: int) -> int:
        """The 1-based line holding `offset`."""
        return bisect.bisect_left(self.newlines, offset) + 1


@dataclass(slots=True)  # not frozen: made per field, and frozen init is twice as slow
class JsonNode:
    """A decoded JSON value seen through `Node`; in JSON Lines every child shares the line."""

    raw: object
    lines: LineIndex | None
    line: int
    kind: str
    value: object

    @classmethod
    def wrap(cls, raw: object, line: int, lines: LineIndex | None) -> JsonNode:
        """A node of `raw`: a `Pos` takes its line from `lines`, anything else is on `line`."""
        if isinstance(raw, Pos) and lines is not None:
            return cls(raw.value, lines, lines.line_of(raw.offset), kind_of(raw.value), raw.value)
        return cls(raw, lines, line, kind_of(raw), raw)

    def pairs(self) -> Iterator[tuple[str, Node]]:
        assert isinstance(self.raw, JsonObject)
        for key, value in self.raw.pairs:
            yield key, self.wrap(value, self.line, self.lines)

    def elements(self) -> Iterator[Node]:
        assert isinstance(self.raw, list)
        for item in self.raw:
            yield self.wrap(item, self.line, self.lines)

    def __len__(self) -> int:
        return len(self.raw) if isinstance(self.raw, list) else 0
