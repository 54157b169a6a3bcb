"""`--source-header 'Name: value'`: one header for a remote store, its value maybe `env:VAR`.

Light to import (the settings check it): no HTTP client here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from uploader.errors import InvalidInputError

ENV_PREFIX: Final = "env:"


def parse_source_header(text: str, env: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """`Name: value` as a header; a value `env:VAR` is read from the environment.

    Raises InvalidInputError naming the header, never its value.
    """
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not name or not value or any(c in name for c in " \t\r\n"):
        raise InvalidInputError(f"--source-header {name or '?'!r}: expected 'Name: value'")
    if value.startswith(ENV_PREFIX):
        variable = value.removeprefix(ENV_PREFIX)
        if not env.get(variable):
            raise InvalidInputError(f"--source-header {name}: ${variable} is not set")
        value = env[variable]
    if any(c in value for c in "\r\n\0"):
        raise InvalidInputError(f"--source-header {name}: the value holds a line break")
    return name, value
