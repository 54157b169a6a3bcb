"""Scan layouts: which folder levels below a scanned folder hold namespace, package, version.

A layout such as `{namespace}/{package}/{version}/` is parsed once by `Layout.parse`
(ValueError with the reason when bad) and then matches folder names without I/O. Each
segment is a literal folder name, or one placeholder with an optional literal prefix and
suffix (`v{version}`, `{package}-bin`); a placeholder matches a whole, non-empty folder
name, never a `/`. `{package}` and `{version}` are required, each at most once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_LAYOUT", "FIELDS", "Layout", "Segment"]

FIELDS: Final = ("namespace", "package", "version")
"""The placeholders a layout may hold, in the order versions are sorted by."""
DEFAULT_LAYOUT: Final = "{namespace}/{package}/{version}/"

_PLACEHOLDER: Final = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class Segment:
    """One folder level of a layout: a literal name, or `prefix{field}suffix`."""

    prefix: str
    field: str | None = None
    suffix: str = ""

    def value(self, name: str) -> str | None:
        """The placeholder's value in folder `name` (the name itself if literal), or None."""
        if self.field is None:
            return name if name == self.prefix else None
        head, tail = len(self.prefix), len(self.suffix)
        if len(name) <= head + tail or not name.startswith(self.prefix):
            return None
        return name[head : len(name) - tail] if name.endswith(self.suffix) else None

    def __str__(self) -> str:
        middle = "" if self.field is None else "{" + self.field + "}"
        return f"{self.prefix}{middle}{self.suffix}"


@dataclass(frozen=True, slots=True)
class Layout:
    """Which folder levels below the scanned folder hold the namespace, package and version.

    `str(Layout.parse("{package}/v{version}")) == "{package}/v{version}/"`.
    """

    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, text: str) -> Layout:
        """Parse a template such as `{namespace}/{package}/{version}/`; ValueError if bad."""
        if not text.strip("/"):
            raise ValueError(f"layout {text!r} is empty")
        if text.startswith("/"):
            raise ValueError(f"layout {text!r} must be relative (no leading '/')")
        if "\0" in text:
            raise ValueError(f"layout {text!r} contains a NUL character")
        body = text.removesuffix("/")
        segments = tuple(_parse_segment(part, text) for part in body.split("/"))
        _check_fields(segments, text)
        return cls(segments)

    @property
    def fields(self) -> tuple[str, ...]:
        """The placeholders of the layout, in its order."""
        return tuple(s.field for s in self.segments if s.field is not None)

    def match(self, parts: Sequence[str]) -> dict[str, str] | None:
        """The placeholder values of a path's first folders (`path.split("/")`), or None."""
        if len(parts) < len(self.segments):
            return None
        values: dict[str, str] = {}
        for segment, name in zip(self.segments, parts, strict=False):
            value = segment.value(name)
            if value is None:
                return None
            if segment.field is not None:
                values[segment.field] = value
        return values

    def __str__(self) -> str:
        return "/".join(str(segment) for segment in self.segments) + "/"


def _parse_segment(part: str, layout: str) -> Segment:
    if part in ("", ".", ".."):
        what = "an empty segment ('//')" if not part else f"a {part!r} segment"
        raise ValueError(f"layout {layout!r} has {what}")
    found = list(_PLACEHOLDER.finditer(part))
    if len(found) > 1:
        raise ValueError(f"layout {layout!r}: segment {part!r} has more than one placeholder")
    if not found:
        _check_braces(part, part, layout)
        return Segment(part)
    field = found[0].group(1)
    if field not in FIELDS:
        known = ", ".join("{" + name + "}" for name in FIELDS)
        raise ValueError(f"layout {layout!r}: unknown placeholder {{{field}}} (known: {known})")
    prefix, suffix = part[: found[0].start()], part[found[0].end() :]
    _check_braces(prefix + suffix, part, layout)
    return Segment(prefix, field, suffix)


def _check_braces(literal: str, part: str, layout: str) -> None:
    if "{" in literal or "}" in literal:
        raise ValueError(f"layout {layout!r}: segment {part!r} has an unmatched '{{' or '}}'")


def _check_fields(segments: tuple[Segment, ...], layout: str) -> None:
    counts = Counter(s.field for s in segments if s.field is not None)
    for name, count in counts.items():
        if count > 1:
            raise ValueError(f"layout {layout!r}: {{{name}}} appears {count} times")
    missing = [name for name in ("package", "version") if name not in counts]
    if missing:
        needed = " and ".join("{" + name + "}" for name in missing)
        raise ValueError(f"layout {layout!r} has no {needed}: a layout needs both")
