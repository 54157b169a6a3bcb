"""The naming rules: constants match botocore's CodeArtifact model, validators follow them."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path
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


def _documented_asset_name(text: str) -> bool:
    """The user guide's rule for generic asset names, written out independently."""
    allowed = set("~!@^&()-_+[]{};,. ")
    letters = {"Ll", "Lm", "Lo", "Lt", "Lu", "Nl", "Nd"}
    chars_ok = all(ch in allowed or unicodedata.category(ch) in letters for ch in text)
    spaces_ok = not (text.startswith(" ") or text.endswith(" ") or "  " in text)
    return 1 <= len(text) <= 255 and text not in (".", "..") and chars_ok and spaces_ok


@FAST
@given(st.text(st.sampled_from("aZé9_.-~!@^&()+[]{};, :?/#*$%'=\t\n\u200bЖ٣"), max_size=12))
def test_asset_name_is_the_documented_generic_rule(text: str) -> None:
    """Valid iff it is the user guide's rule: letters, digits, the specials, lone spaces."""
    assert (check_asset_name(text) is None) == _documented_asset_name(text)


@FAST
@given(st.text(max_size=40))
def test_asset_name_check_agrees_with_the_rule_on_any_text(text: str) -> None:
    """On arbitrary Unicode too, the check and the written-out rule agree."""
    assert (check_asset_name(text) is None) == _documented_asset_name(text)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bad:name?.txt", "contains ':'; asset names take letters, digits, single spaces"),
        ("  spaced  name .txt", "must not start or end with a space"),
        ("a  b", "must not hold two spaces in a row"),
        ("linux/tool.bin", "contains '/'"),
        ("..", "'..' is not a name"),
        ("x\x07", "contains the control or invisible character U+0007"),
    ],
)
def test_asset_names_the_service_refuses_say_why(name: str, reason: str) -> None:
    """Each refused name gets a reason naming what is wrong."""
    got = check_asset_name(name)
    assert got is not None
    assert got.startswith(reason)


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


@pytest.mark.parametrize("asset", ["bad:name?.txt", "  spaced  name .txt"])
def test_the_emulator_refuses_what_the_service_refuses(emulator: Any, asset: str) -> None:
    """Publishing an asset named outside the documented set is a 400 ValidationException."""
    import io

    import boto3
    from botocore.client import Config
    from botocore.exceptions import ClientError

    from tests.conftest import DOMAIN, REGION, REPOSITORY

    config = Config(retries={"total_max_attempts": 1})
    client = boto3.client(
        "codeartifact", endpoint_url=emulator.endpoint_url, region_name=REGION, config=config
    )
    with pytest.raises(ClientError) as excinfo:
        client.publish_package_version(
            domain=DOMAIN, repository=REPOSITORY, format="generic", namespace="acme",
            package="app", packageVersion="1.0", assetName=asset,
            assetContent=io.BytesIO(b"x"), assetSHA256=hashlib.sha256(b"x").hexdigest(),
            unfinished=True,
        )  # fmt: skip
    error = excinfo.value.response
    assert error["Error"]["Code"] == "ValidationException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "asset" in error["Error"]["Message"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bad:name?.txt", "contains ':'"),
        ("  spaced  name .txt", "must not start or end with a space"),
    ],
)
def test_validate_names_the_field_of_a_bad_asset_name(
    tmp_path: Path, name: str, reason: str
) -> None:
    """`uploader validate`: exit 2 and a line naming the asset's `name` field and the reason."""
    from click.testing import CliRunner

    from uploader.cli import main

    (tmp_path / "a.bin").write_bytes(b"a")
    entry = {"domain": "d-1", "repository": "r1", "namespace": "n", "package": "p",
             "version": "1", "assets": [{"path": "a.bin", "name": name}]}  # fmt: skip
    (tmp_path / "m.jsonl").write_text(json.dumps(entry) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "m.jsonl")])
    assert result.exit_code == 2, result.output
    assert f"m.jsonl:1: assets[0].name: {reason}" in result.output
