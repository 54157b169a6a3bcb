"""The S3 source's pure parts: URLs, declared checksums, identity, error categories."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from uploader.errors import FatalRemoteError, RejectedError, RetryableRemoteError
from uploader.sources.errors import (
    FatalSourceError,
    PermanentSourceError,
    SourceChangedError,
    SourceDeniedError,
    SourceNotFoundError,
    TransientSourceError,
)
from uploader.sources.s3 import S3Location, client_error, declared_hex, identity_of

SHA256 = hashlib.sha256(b"x").digest()


def test_location_parses_bucket_key_and_version() -> None:
    """`s3://bucket/key?versionId=v` gives the three parts; the key keeps its slashes."""
    assert S3Location.parse("s3://b/p/k.tgz?versionId=v1") == S3Location("b", "p/k.tgz", "v1")
    assert S3Location.parse("s3://b/a#b c") == S3Location("b", "a#b c", None)


@pytest.mark.parametrize(
    "url", ["s3://b", "s3://b/", "s3:///k", "https://b/k", "s3://b/k?versionId="]
)
def test_location_refuses_what_is_not_an_object(url: str) -> None:
    """A URL without a bucket and a key is a PermanentSourceError naming it."""
    with pytest.raises(PermanentSourceError, match="not an s3://bucket/key URL"):
        S3Location.parse(url)


def test_full_object_sha256_is_declared_as_hex() -> None:
    """A FULL_OBJECT ChecksumSHA256 is the hex of its base64."""
    head = {"ChecksumSHA256": base64.b64encode(SHA256).decode(), "ChecksumType": "FULL_OBJECT"}
    assert declared_hex(head, "ChecksumSHA256") == SHA256.hex()


@pytest.mark.parametrize(
    "head",
    [
        {"ChecksumSHA256": base64.b64encode(SHA256).decode() + "-3", "ChecksumType": "COMPOSITE"},
        {"ChecksumSHA256": base64.b64encode(SHA256).decode()},
        {"ChecksumSHA256": "not base64!", "ChecksumType": "FULL_OBJECT"},
        {"ChecksumType": "FULL_OBJECT"},
    ],
)
def test_other_checksums_are_not_declared(head: dict[str, str]) -> None:
    """A composite (multipart), untyped, malformed or absent checksum declares nothing."""
    assert declared_hex(head, "ChecksumSHA256") is None


def test_identity_drops_the_null_version() -> None:
    """An unversioned bucket's VersionId `null` is no version; the time is ISO."""
    when = datetime(2026, 12, 1, tzinfo=UTC)
    identity = identity_of({"ETag": '"e"', "VersionId": "null", "LastModified": when})
    assert (identity.etag, identity.version_id) == ('"e"', None)
    assert identity.last_modified == "2026-12-01T00:00:00+00:00"


def _error(code: str, status: int, message: str = "") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "GetObject",
    )


@pytest.mark.parametrize(
    ("code", "status", "kind", "category"),
    [
        ("NoSuchKey", 404, SourceNotFoundError, RejectedError),
        ("404", 404, SourceNotFoundError, RejectedError),
        ("AccessDenied", 403, SourceDeniedError, RejectedError),
        ("PreconditionFailed", 412, SourceChangedError, RejectedError),
        ("SlowDown", 503, TransientSourceError, RetryableRemoteError),
        ("InternalError", 500, TransientSourceError, RetryableRemoteError),
        ("WhateverNew", 502, TransientSourceError, RetryableRemoteError),
        ("InvalidAccessKeyId", 403, FatalSourceError, FatalRemoteError),
        ("InvalidRange", 416, PermanentSourceError, RejectedError),
    ],
)
def test_client_errors_fall_into_categories(
    code: str, status: int, kind: type[Exception], category: type[Exception]
) -> None:
    """Each S3 error code becomes the source error of its kind, in uploader's category."""
    error = client_error("s3://b/k", _error(code, status))
    assert type(error) is kind
    assert isinstance(error, category)
    assert str(error).startswith("source: s3://b/k: ")


def test_an_error_message_from_s3_is_never_quoted() -> None:
    """S3's Message (SignatureDoesNotMatch quotes the request) stays out of ours."""
    error = client_error("s3://b/k", _error("SignatureDoesNotMatch", 403, "AKIDSECRET..."))
    assert "AKIDSECRET" not in str(error)
