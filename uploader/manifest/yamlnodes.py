"""YAML manifests as `Node`s: composed once, scalars constructed only when a check asks.

This module owns everything PyYAML: the loader (the C one when built), composing the
single document into a node tree (never constructing it whole, so aliases and junk in
unknown keys are not expanded), turning PyYAML's errors into a line and a message
(`YamlSyntaxError`), and `YamlNode`, the `Node` view of a composed node with the line of
each field taken from its key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Protocol

import yaml

from uploader.manifest.nodes import Node, kind_of


class YamlLoader(Protocol):
    """What is used of a PyYAML loader, C or pure Python."""

    def get_single_node(self) -> yaml.Node | None: ...
    def construct_object(self, node: yaml.Node, deep: bool = ...) -> Any: ...
    def dispose(self) -> None: ...


Loader: Final[Callable[[str], YamlLoader]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG: Final = "tag:yaml.org,2002:str"
_TAG_KINDS: Final = {"int": "integer", "float": "float", "bool": "boolean"}


class YamlSyntaxError(Exception):
    """The text is not one valid YAML document: the line to name, and why."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(line, message)
        self.line = line
        self.message = message


def compose(loader: YamlLoader, text: str) -> yaml.Node | None:
    """The document's root node, or None for an empty document.

    Raises:
        YamlSyntaxError: broken syntax, unacceptable characters, or nesting too deep.
    """
    try:
        return loader.get_single_node()
    except yaml.YAMLError as error:
        line, message = _yaml_error(error, text)
    except RecursionError:
        line, message = 1, "nested too deeply"
    raise YamlSyntaxError(line, message)


def _yaml_error(error: yaml.YAMLError, text: str) -> tuple[int, str]:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        parts = [part for part in (error.context, error.problem) if part]
        return (mark.line + 1 if mark else 1), "; ".join(parts) or "syntax error"
    if isinstance(error, yaml.reader.ReaderError) and isinstance(error.character, int):
        found = text.find(chr(error.character))
        line = text.count("\n", 0, found) + 1 if found >= 0 else 1
        return line, f"unacceptable character #x{error.character:04x}: {error.reason}"
    return 1, str(error).splitlines()[0] if str(error) else type(error).__name__


@dataclass(slots=True)  # not frozen: made per field, and frozen init is twice as slow
class YamlNode:
    """A composed YAML node seen through `Node`; scalars are built one at a time."""

    node: yaml.Node
    loader: YamlLoader
    line: int
    kind: str
    value: object

    @classmethod
    def wrap(cls, node: yaml.Node, loader: YamlLoader, line: int | None) -> YamlNode:
        """A view of `node`, on `line` (a field's key's) or else on the node's own line."""
        line = node.start_mark.line + 1 if line is None else line
        if isinstance(node, yaml.MappingNode):
            return cls(node, loader, line, "mapping", None)
        if isinstance(node, yaml.SequenceNode):
            return cls(node, loader, line, "list", None)
        kind, value = _yaml_scalar(node, loader)
        return cls(node, loader, line, kind, value)

    def pairs(self) -> Iterator[tuple[str, Node]]:
        for key, value in self.node.value:
            yield _yaml_key(key), self.wrap(value, self.loader, key.start_mark.line + 1)

    def elements(self) -> Iterator[Node]:
        for item in self.node.value:
            yield self.wrap(item, self.loader, None)

    def __len__(self) -> int:
        return len(self.node.value) if self.kind in ("list", "mapping") else 0


def _yaml_scalar(node: yaml.Node, loader: YamlLoader) -> tuple[str, object]:
    if node.tag == _STR_TAG:
        return "string", node.value
    try:
        value: object = loader.construct_object(node)
    except Exception:  # any tag's constructor may fail on any text: 1e99999, !custom, ...
        short = node.tag.rsplit(":", 1)[-1]
        return _TAG_KINDS.get(short, f"tagged {node.tag}"), None
    return kind_of(value), value


def _yaml_key(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return "<list>" if isinstance(node, yaml.SequenceNode) else "<mapping>"
