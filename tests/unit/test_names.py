"""The naming rules: constants match botocore's CodeArtifact model, validators follow them."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader import constants as c
from uploader.names import (
    check_account_id,
    check_asset_name,
    check_domain,
    check_package_part,
    check_repository,
    check_sha256,
)

FAST = settings(max_examples=200, deadline=None)


@pytest.fixture(scope="module")
def model() -> Any:
    """botocore's CodeArtifact service model, as shipped with the installed botocore."""
    return botocore.session.get_session().get_service_model("codeartifact")


def shape(model: Any, name: str) -> dict[str, Any]:
    metadata: dict[str, Any] = model.shape_for(name).metadata
    return metadata


@pytest.mark.parametrize(
    ("shape_name", "pattern", "min_len", "max_len"),
    [
        ("DomainName", c.DOMAIN_PATTERN, c.DOMAIN_MIN_LEN, c.DOMAIN_MAX_LEN),
        ("RepositoryName", c.REPOSITORY_PATTERN, c.REPOSITORY_MIN_LEN, c.REPOSITORY_MAX_LEN),
        ("PackageName", c.PACKAGE_PATTERN, c.PACKAGE_MIN_LEN, c.PACKAGE_MAX_LEN),
        ("PackageNamespace", c.PACKAGE_PATTERN, c.PACKAGE_MIN_LEN, c.PACKAGE_MAX_LEN),
        ("PackageVersion", c.PACKAGE_PATTERN, c.PACKAGE_MIN_LEN, c.PACKAGE_MAX_LEN),
        ("AssetName", r"\P{C}+", c.ASSET_NAME_MIN_LEN, c.ASSET_NAME_MAX_LEN),
        ("AccountId", c.ACCOUNT_ID_PATTERN, 12, 12),
    ],
)
def test_constants_match_the_botocore_model(
    model: Any, shape_name: str, pattern: str, min_len: int, max_len: int
) -> None:
    """Each name rule in constants.py is the model's pattern, min and max for that shape."""
    assert shape(model, shape_name) == {"pattern": pattern, "min": min_len, "max": max_len}


def test_sha256_rule_is_within_the_model_hash_shape(model: Any) -> None:
    """A SHA-256 as we send it fits the model's HashValue shape (hex, 32..512 characters)."""
    hash_shape = shape(model, "HashValue")
    digest = hashlib.sha256(b"x").hexdigest()
    assert re.fullmatch(hash_shape["pattern"], digest)
    assert hash_shape["min"] <= len(digest) <= hash_shape["max"]
    assert re.fullmatch(c.SHA256_PATTERN, digest)


def test_non_strings_are_refused_by_every_check() -> None:
    """Every check refuses a non-string and names its type."""
    checks = [
        check_domain,
        check_repository,
        check_package_part,
        check_account_id,
        check_sha256,
        check_asset_name,
    ]
    for check in checks:
        assert check(12) == "must be a string, not int"
        assert check(None) == "must be a string, not null"


@FAST
@given(st.from_regex(c.DOMAIN_PATTERN, fullmatch=True))
def test_domains_drawn_from_the_pattern_are_valid(name: str) -> None:
    """Every string the domain pattern matches is a valid domain."""
    assert check_domain(name) is None


@FAST
@given(st.from_regex(c.REPOSITORY_PATTERN, fullmatch=True))
def test_repositories_drawn_from_the_pattern_are_valid(name: str) -> None:
    """Every string the repository pattern matches is a valid repository name."""
    assert check_repository(name) is None


@FAST
@given(st.text(max_size=60))
def test_domain_check_is_the_model_rule(text: str) -> None:
    """check_domain accepts exactly the full matches of the model pattern within 2..50."""
    expected = bool(re.fullmatch(c.DOMAIN_PATTERN, text)) and 2 <= len(text) <= 50
    assert (check_domain(text) is None) == expected


@FAST
@given(st.text(st.characters(codec="ascii"), max_size=40))
def test_package_part_refuses_hash_slash_and_ascii_space(text: str) -> None:
    """ASCII: valid iff 1..255 long, no "#", "/" or white space (Python's \\s: also \\x1c-\\x1f)."""
    expected = 1 <= len(text) <= 255 and not any(
        ch in "#/ \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f" for ch in text
    )
    assert (check_package_part(text) is None) == expected


def test_package_part_length_bounds() -> None:
    """255 characters are accepted, 256 and 0 refused."""
    assert check_package_part("a" * 255) is None
    assert check_package_part("a" * 256) is not None
    assert check_package_part("") is not None


@FAST
@given(st.text(max_size=40))
def test_asset_name_refuses_exactly_unicode_category_c(text: str) -> None:
    """An asset name is valid iff it is 1..255 long with no character of category C (\\P{C}+)."""
    expected = 1 <= len(text) <= 255 and not any(
        unicodedata.category(ch).startswith("C") for ch in text
    )
    assert (check_asset_name(text) is None) == expected


@FAST
@given(st.binary(max_size=64))
def test_sha256_accepts_hexdigests_and_refuses_upper_case(data: bytes) -> None:
    """A real SHA-256 hex digest is valid; its upper-case form is not (callers lower-case)."""
    digest = hashlib.sha256(data).hexdigest()
    assert check_sha256(digest) is None
    if digest != digest.upper():
        assert check_sha256(digest.upper()) is not None
    assert check_sha256(digest[:-1]) is not None


@FAST
@given(st.text(max_size=14))
def test_account_id_is_twelve_ascii_digits(text: str) -> None:
    """An account id is valid iff it is exactly twelve ASCII digits."""
    expected = len(text) == 12 and all(ch in "0123456789" for ch in text)
    assert (check_account_id(text) is None) == expected
