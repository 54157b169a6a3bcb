"""The node protocol: the one view of a parsed value that crosses from the parsers to the checks.

YAML (`yamlnodes`), whole-file JSON and JSON Lines (`jsonpos`) each wrap their parse
results as `Node`s; the field checks (`fields`, `entries`) see only this protocol, so a
format never leaks into a rule. `JsonObject` is the decoded JSON object both JSON paths
share (pairs in order, duplicates kept), and `kind_of` names a value's kind the same way
in every format's messages.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Protocol


class Node(Protocol):
    """A parsed value, whatever the format: its kind, scalar value, line and children.

    Children are wrapped only when asked for, so checking touches just the known fields
    and aliases or junk in unknown keys are never expanded.
    """

    @property
    def line(self) -> int: ...
    @property
    def kind(self) -> str: ...  # "string", "integer", ..., "list", "mapping"
    @property
    def value(self) -> object: ...  # meaningful for scalars only
    def pairs(self) -> Iterator[tuple[str, Node]]: ...  # a child's line is its key's
    def elements(self) -> Iterator[Node]: ...
    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class JsonObject:
    """A decoded JSON object, its pairs in order, duplicates kept (so they can be reported)."""

    pairs: list[tuple[str, object]]


_KINDS: Final[Mapping[type, str]] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "float",
    type(None): "null",
    list: "list",
    dict: "mapping",
    JsonObject: "mapping",
}


def kind_of(value: object) -> str:
    """The kind messages name: "string", "integer", "mapping", ... or the type's name."""
    return _KINDS.get(type(value), type(value).__name__)
