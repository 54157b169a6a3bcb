"""How a setting is given, checked and carried: the kinds of value, and `Setting`.

`RunSettings` (config.py) declares each field with `setting(...)`; cli.py turns each
`Setting` into a click option. A kind gives click its type, checks a value built in
code, and writes it to and reads it from JSON, so every value passes one check.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

from uploader.errors import InvalidInputError

T = TypeVar("T")
SETTING: Final = "uploader.setting"  # the key of a field's Setting in its metadata


class Command(enum.Enum):
    """The commands that take run settings (`config show` takes run's)."""

    RUN = "run"
    VERIFY = "verify"
    VALIDATE = "validate"
    STATUS = "status"
    SERVE = "serve"


# Who takes what: a manifest's defaults (the service's jobs too) and share, the endpoint,
# how hard to work. The service reads each job's manifest itself, from a `--root`.
DEFAULTS: Final = frozenset(Command)
MANIFEST: Final = DEFAULTS - {Command.SERVE}
ENDPOINT: Final = frozenset({Command.RUN, Command.VERIFY, Command.SERVE})
WORK: Final = ENDPOINT
SOURCES: Final = ENDPOINT  # remote assets are read wherever the service is written to
ONE_RUN: Final = frozenset({Command.RUN, Command.VERIFY})  # not for a service's jobs
RUN_AND_SERVE: Final = frozenset({Command.RUN, Command.SERVE})
RUN_ONLY: Final = frozenset({Command.RUN})
VERIFY_ONLY: Final = frozenset({Command.VERIFY})
JOURNAL: Final = frozenset({Command.RUN, Command.STATUS})


# --- kinds: how a value is written, checked and carried in JSON --------------------------


class _AsJson:
    """A kind whose values JSON holds as they are (numbers, booleans, text)."""

    read: ClassVar[Callable[[Any], Any]]  # rebuilds a value JSON gave back

    def to_json(self, value: Any) -> Any:
        return value

    def from_json(self, value: Any) -> Any:
        return type(self).read(value)


@dataclass(frozen=True)
class Count(_AsJson):
    """A whole number within bounds."""

    read = int

    minimum: int = 1
    maximum: int | None = None

    def check(self, flag: str, value: Any) -> None:
        if not isinstance(value, int) or value < self.minimum:
            raise InvalidInputError(f"{flag} must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise InvalidInputError(f"{flag} must be at most {self.maximum}")


@dataclass(frozen=True)
class Seconds(_AsJson):
    """A finite duration in seconds, at least `minimum` (or above it, when `above`)."""

    read = float

    minimum: float = 0.0
    above: bool = False

    def check(self, flag: str, value: Any) -> None:
        low_ok = value > self.minimum if self.above else value >= self.minimum
        if not (isinstance(value, int | float) and low_ok and math.isfinite(value)):
            bound = "more than" if self.above else "at least"
            raise InvalidInputError(f"{flag} must be {bound} {self.minimum:g} seconds")


@dataclass(frozen=True)
class Switch(_AsJson):
    """On or off; a setting on by default is turned off with `--no-NAME`."""

    read = bool

    def check(self, flag: str, value: Any) -> None:
        if not isinstance(value, bool):
            raise InvalidInputError(f"{flag} must be true or false")


@dataclass(frozen=True)
class Text(_AsJson):
    """Free text (a name the service checks, a profile)."""

    read = str

    def check(self, flag: str, value: Any) -> None:
        if not isinstance(value, str):
            raise InvalidInputError(f"{flag} must be text")


@dataclass(frozen=True)
class FilePath:
    """A local path: a file (`folder=False`) or a folder."""

    folder: bool = False

    def check(self, flag: str, value: Any) -> None:
        if not isinstance(value, Path):
            raise InvalidInputError(f"{flag} must be a path")

    def to_json(self, value: Any) -> Any:
        return str(value)

    def from_json(self, value: Any) -> Any:
        return Path(value)


@dataclass(frozen=True)
class Choice:
    """One of a few words; `make` turns the word into the value (an enum member)."""

    words: tuple[str, ...]
    make: Callable[[str], Any] = str

    def check(self, flag: str, value: Any) -> None:
        if str(getattr(value, "value", value)) not in self.words:
            raise InvalidInputError(f"{flag} must be one of {', '.join(self.words)}")

    def to_json(self, value: Any) -> Any:
        return str(getattr(value, "value", value))

    def from_json(self, value: Any) -> Any:
        return self.make(str(value))


@dataclass(frozen=True)
class Parsed:
    """A value written as text in one notation (`2/8`, `auto`), read by one parser.

    `parse` raises InvalidInputError naming the flag; `show` writes the value back in
    the same notation, so a value built in code is checked by parsing what it shows.
    """

    parse: Callable[[str], Any]
    show: Callable[[Any], str]
    metavar: str

    def check(self, flag: str, value: Any) -> None:
        self.parse(self.show(value))

    def to_json(self, value: Any) -> Any:
        return self.show(value)

    def from_json(self, value: Any) -> Any:
        return self.parse(str(value))


Kind = Count | Seconds | Switch | Text | FilePath | Choice | Parsed


@dataclass(frozen=True)
class Setting:
    """How one field of RunSettings is given: flag, variable, config key, help.

    Args:
        help: the help text, or one per command where they differ.
        kind: how the value is written and checked.
        commands: the commands that take it.
        envvars: variables read after `UPLOADER_<NAME>`, in order (AWS_REGION, ...).
        metavar: the placeholder in `--help`.
        hidden: set by the program itself (`--part`): no help, no config key.
    """

    help: str | Mapping[Command, str]
    kind: Kind
    commands: frozenset[Command]
    envvars: tuple[str, ...] = ()
    metavar: str | None = None
    hidden: bool = False

    def help_for(self, command: Command) -> str:
        """The help text `command` shows."""
        if isinstance(self.help, str):
            return self.help
        return self.help.get(command) or next(iter(self.help.values()))


def setting(
    default: T,
    help: str | Mapping[Command, str],
    kind: Kind,
    commands: frozenset[Command],
    **more: Any,
) -> T:
    """A RunSettings field with its Setting (see `Setting` for `more`)."""
    meta = {SETTING: Setting(help, kind, commands, **more)}
    return field(default=default, metadata=meta)
