"""S3 as a store: ListObjectsV2 page by page, with the SHA-256s S3 can vouch for.

* The listing: ListObjectsV2 below the prefix, 1,000 keys a page (S3's maximum), in
  S3's key order (UTF-8 bytes), which `ListingScan` takes as it comes.
* Declared SHA-256s: a listing names an object's checksum algorithm but not the value,
  so an object listed with SHA256 is asked for it (HeadObject, `ChecksumMode=ENABLED`,
  `HEAD_CONCURRENCY` at a time, the page's order kept). The value is kept only when the
  object's `ChecksumType` is `FULL_OBJECT`: a multipart upload's `COMPOSITE` checksum is
  a checksum of its parts' checksums, not the file's. Base64 in, hex out.
* Credentials: the AWS chain with the source's own profile, region and endpoint (the
  target's stay separate); without an endpoint botocore honours `AWS_ENDPOINT_URL_S3`
  (and `AWS_ENDPOINT_URL`), as every AWS SDK does. Keys are never logged.
* Errors: translated where every AWS error is (`codeartifact.translated`); any of them
  ends the scan as `FatalRemoteError("source: s3://bucket/prefix/: ...")`, exit 3.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import ProfileNotFound

from uploader.codeartifact import translated
from uploader.errors import FatalRemoteError, InvalidInputError, RemoteError
from uploader.manifest.urls import s3_url
from uploader.stores.listing import StoreFile

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import ObjectTypeDef

__all__ = ["S3Location", "S3Settings", "list_s3", "open_s3", "sha256_hex"]

PAGE_KEYS: Final = 1000
HEAD_CONCURRENCY: Final = 16
CONNECT_TIMEOUT_S: Final = 10.0
READ_TIMEOUT_S: Final = 60.0
_SHA256_BYTES: Final = 32


@dataclass(frozen=True)
class S3Settings:
    """How to reach the source's S3: --source-profile, --source-region, --source-endpoint-url."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True)
class S3Location:
    """`s3://bucket/prefix/`: the bucket, and the prefix every listed key starts with."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, text: str) -> S3Location:
        """`s3://bucket[/prefix]`; a prefix is a folder, so it gets a final `/`."""
        parts = urllib.parse.urlsplit(text)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise InvalidInputError(f"{text!r}: expected s3://BUCKET/PREFIX/")
        prefix = parts.path.lstrip("/")
        return cls(parts.netloc, prefix if not prefix or prefix.endswith("/") else prefix + "/")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@contextlib.asynccontextmanager
async def open_s3(settings: S3Settings) -> AsyncIterator[S3Client]:
    """An aioboto3 S3 client for the source (botocore's standard retries)."""
    try:
        session = aioboto3.Session(profile_name=settings.profile, region_name=settings.region)
    except ProfileNotFound as error:
        raise FatalRemoteError(f"source: {error}", code="ProfileNotFound") from error
    config = AioConfig(
        retries={"mode": "standard", "total_max_attempts": 4},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        max_pool_connections=HEAD_CONCURRENCY,
    )
    with _as_source("s3"):
        async with session.client(
            "s3", endpoint_url=settings.endpoint_url, config=config
        ) as client:
            yield client


async def list_s3(client: S3Client, where: S3Location) -> AsyncIterator[StoreFile]:
    """Every object below the prefix, in key order, as `StoreFile`s (key relative to it)."""
    token: str | None = None
    heads = asyncio.Semaphore(HEAD_CONCURRENCY)
    with _as_source(str(where)):
        while True:
            page = await _page(client, where, token)
            objects = page.get("Contents", [])
            sha256s = await asyncio.gather(*(_declared(client, where, o, heads) for o in objects))
            for listed, sha256 in zip(objects, sha256s, strict=True):
                yield _store_file(where, listed, sha256)
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return


async def _page(client: S3Client, where: S3Location, token: str | None) -> Any:
    if token is None:
        return await client.list_objects_v2(
            Bucket=where.bucket, Prefix=where.prefix, MaxKeys=PAGE_KEYS
        )
    return await client.list_objects_v2(
        Bucket=where.bucket, Prefix=where.prefix, MaxKeys=PAGE_KEYS, ContinuationToken=token
    )


async def _declared(
    client: S3Client, where: S3Location, listed: ObjectTypeDef, heads: asyncio.Semaphore
) -> str | None:
    """The object's SHA-256 as hex, when S3 holds one for the whole object; else None."""
    if "SHA256" not in listed.get("ChecksumAlgorithm", []):
        return None
    if listed.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
        return None
    async with heads:
        head = await client.head_object(
            Bucket=where.bucket, Key=listed["Key"], ChecksumMode="ENABLED"
        )
    if head.get("ChecksumType") != "FULL_OBJECT":
        return None
    return sha256_hex(head.get("ChecksumSHA256"))


def sha256_hex(value: str | None) -> str | None:
    """S3's base64 SHA-256 as 64 hex digits; None for none, a composite (`...-3`) or junk."""
    if not value or "-" in value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == _SHA256_BYTES else None


def _store_file(where: S3Location, listed: ObjectTypeDef, sha256: str | None) -> StoreFile:
    key = listed["Key"]
    modified = listed.get("LastModified")
    etag = listed.get("ETag")
    return StoreFile(
        rel=key[len(where.prefix) :],
        url=s3_url(where.bucket, key),
        size_bytes=listed.get("Size"),
        sha256=sha256,
        etag=etag if etag and etag.isprintable() else None,
        last_modified=_iso(modified),
    )


def _iso(moment: datetime.datetime | None) -> str | None:
    if moment is None or moment.tzinfo is None:
        return None
    return moment.astimezone(datetime.UTC).isoformat()


@contextlib.contextmanager
def _as_source(where: str) -> Iterator[None]:
    """Any AWS or transport error, translated, as the end of the scan of `where`."""
    try:
        with translated():
            yield
    except RemoteError as error:
        if isinstance(error, FatalRemoteError) and str(error).startswith("source: "):
            raise
        raise FatalRemoteError(
            f"source: {where}: {error}", code=error.code, status=error.status
        ) from error
