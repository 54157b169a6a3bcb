"""The service's naming rules, shared by the manifest validator and the emulator.

Each check returns None when the value is valid, or a short reason that a caller
prefixes with the place of the value (`manifest.yaml:14: versions[3].package: ...`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Final

from uploader import constants as c


def _full(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_DOMAIN_RE: Final = _full(c.DOMAIN_PATTERN)
_REPOSITORY_RE: Final = _full(c.REPOSITORY_PATTERN)
_PACKAGE_RE: Final = _full(c.PACKAGE_PATTERN)
_ACCOUNT_RE: Final = _full(c.ACCOUNT_ID_PATTERN)
_SHA256_RE: Final = _full(c.SHA256_PATTERN)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _check(
    value: object, regex: re.Pattern[str], min_len: int, max_len: int, rule: str
) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not {_type_name(value)}"
    if not min_len <= len(value) <= max_len:
        span = f"{min_len}" if min_len == max_len else f"{min_len} to {max_len}"
        return f"must be {span} characters long (got {len(value)})"
    if regex.fullmatch(value) is None:
        return f"{value!r} does not match {rule}"
    return None


def check_domain(value: object) -> str | None:
    """A CodeArtifact domain name: lower-case letters, digits and hyphens."""
    return _check(
        value,
        _DOMAIN_RE,
        c.DOMAIN_MIN_LEN,
        c.DOMAIN_MAX_LEN,
        "the domain rule (lower-case letters, digits, '-'; starts with a letter)",
    )


def check_repository(value: object) -> str | None:
    """A repository name: letters, digits, '.', '_', '-'; starts with a letter or digit."""
    return _check(
        value,
        _REPOSITORY_RE,
        c.REPOSITORY_MIN_LEN,
        c.REPOSITORY_MAX_LEN,
        "the repository rule (letters, digits, '.', '_', '-')",
    )


def check_package_part(value: object) -> str | None:
    """A namespace, package name or version: no '#', '/' or white space."""
    return _check(
        value,
        _PACKAGE_RE,
        c.PACKAGE_MIN_LEN,
        c.PACKAGE_MAX_LEN,
        "the name rule (no '#', '/' or white space)",
    )


def check_account_id(value: object) -> str | None:
    """A 12-digit AWS account id."""
    return _check(value, _ACCOUNT_RE, 12, 12, "an account id (12 digits)")


def check_sha256(value: object) -> str | None:
    """A SHA-256 as the service takes it: 64 lower-case hex digits."""
    return _check(value, _SHA256_RE, 64, 64, "a SHA-256 (64 lower-case hex digits)")


# Asset names of generic packages, from AWS's CodeArtifact user guide ("Generic packages
# overview", generic package constraints; the seed API doc says the same): Unicode letters and
# digits (categories Ll, Lm, Lo, Lt, Lu, Nl, Nd), the characters ~!@^&()-_+[]{};,. and the space,
# which is the only white space allowed, never first or last, never two in a row; `.` and `..`
# are not names. botocore's AssetName pattern (\P{C}+) is looser; the service applies this.
_ASSET_NAME_CATEGORIES: Final = frozenset({"Ll", "Lm", "Lo", "Lt", "Lu", "Nl", "Nd"})
ASSET_NAME_SPECIALS: Final = "~!@^&()-_+[]{};,."
ASSET_NAME_RULE: Final = f"letters, digits, single spaces inside and {ASSET_NAME_SPECIALS} only"


def asset_name_char_ok(char: str) -> bool:
    """Whether a character may appear in a generic package's asset name (spaces aside)."""
    return char in ASSET_NAME_SPECIALS or unicodedata.category(char) in _ASSET_NAME_CATEGORIES


# Most names are plain ASCII (`app-1.2.3.tar.gz`): one regex says so; the rest take the
# per-character rule below. Both accept exactly the documented set.
_PLAIN_ASSET_NAME: Final = re.compile(r"[A-Za-z0-9" + re.escape(ASSET_NAME_SPECIALS) + r"]+")


def check_asset_name(value: object) -> str | None:
    """An asset name of a generic package: 1..255 characters of the documented set."""
    if (
        isinstance(value, str)
        and len(value) <= c.ASSET_NAME_MAX_LEN
        and value not in (".", "..")
        and _PLAIN_ASSET_NAME.fullmatch(value)
    ):
        return None
    if not isinstance(value, str):
        return f"must be a string, not {_type_name(value)}"
    if not c.ASSET_NAME_MIN_LEN <= len(value) <= c.ASSET_NAME_MAX_LEN:
        return (
            f"must be {c.ASSET_NAME_MIN_LEN} to {c.ASSET_NAME_MAX_LEN} characters long"
            f" (got {len(value)})"
        )
    if value in (".", ".."):
        return f"{value!r} is not a name"
    return _bad_asset_char(value) or _bad_spaces(value)


def _bad_asset_char(value: str) -> str | None:
    for char in value:
        if char == " " or asset_name_char_ok(char):
            continue
        if unicodedata.category(char).startswith("C"):
            return f"contains the control or invisible character U+{ord(char):04X}"
        return f"contains {char!r}; asset names take {ASSET_NAME_RULE}"
    return None


def _bad_spaces(value: str) -> str | None:
    if value.startswith(" ") or value.endswith(" "):
        return "must not start or end with a space"
    if "  " in value:
        return "must not hold two spaces in a row"
    return None


Check = Callable[[object], "str | None"]  # the shape of every check above
