"""Assets in S3 (`s3://bucket/key`, optionally `?versionId=`), through aioboto3.

- Its own AWS settings (`S3Settings`: profile, region, endpoint), apart from the target's:
  the two are often different accounts. The endpoint is the setting, else
  `AWS_ENDPOINT_URL_S3`, as the AWS SDKs do; never the global `AWS_ENDPOINT_URL` or a
  profile's endpoint, which may name the target (`ignore_configured_endpoint_urls`).
- `stat` is HeadObject with `ChecksumMode=ENABLED`. `ChecksumSHA256` (base64) is a
  declared SHA-256 only when `ChecksumType` is `FULL_OBJECT`: for a multipart object it
  is a checksum of the parts' checksums, not the file's. The same holds for SHA-1.
- `open` is GetObject pinned to what was stat'ed: `VersionId` (when the bucket keeps
  versions, an overwritten key still reads the old bytes) and `IfMatch` with the ETag (a
  412 is a SourceChangedError); `Range` from `start_byte`; the length is checked.
- botocore's own retries are off, as for the target (retry.py retries TransientSourceError),
  and so is its response checksum validation: the service or the spool hashes the bytes.
- Errors: `ClientError`s and transport errors become ours here, by code and status only:
  an S3 error's Message can quote the request (SignatureDoesNotMatch quotes the key id).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Protocol, Self, cast

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from uploader.sources.base import CHUNK_BYTES, Body, SourceIdentity, SourceObject
from uploader.sources.errors import (
    FatalSourceError,
    PermanentSourceError,
    SourceChangedError,
    SourceDeniedError,
    SourceError,
    SourceNotFoundError,
    TransientSourceError,
)

SCHEME: Final = "s3://"
VERSION_QUERY: Final = "?versionId="
ENDPOINT_VARIABLE: Final = "AWS_ENDPOINT_URL_S3"

# A body-less reply (HeadObject) has only a status: its phrase stands for the code.
NOT_FOUND_CODES: Final = frozenset(
    {"Not Found", "NotFound", "NoSuchKey", "NoSuchBucket", "NoSuchVersion"}
)
DENIED_CODES: Final = frozenset({"Forbidden", "AccessDenied", "AllAccessDisabled"})
# The credentials themselves are wrong: no object of the store can be read with them.
BAD_CREDENTIAL_CODES: Final = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)
CHANGED_CODES: Final = frozenset({"Precondition Failed", "PreconditionFailed"})
TRANSIENT_CODES: Final = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Service Unavailable",
     "Internal Server Error", "Throttling", "ThrottlingException", "RequestLimitExceeded"}
)  # fmt: skip
_PHRASES: Final = {status.value: status.phrase for status in HTTPStatus}
NO_CREDENTIALS: Final = (NoCredentialsError, PartialCredentialsError, NoRegionError)


@dataclass(frozen=True)
class S3Settings:
    """Where and as whom S3 sources are read (not the target's settings).

    Args:
        profile: the AWS profile; None is the default credential chain.
        region: the region; None is the profile's or `AWS_DEFAULT_REGION`.
        endpoint_url: an S3-compatible endpoint; None is `AWS_ENDPOINT_URL_S3`, else AWS.
        connect_timeout_s: to open a connection.
        read_timeout_s: for each read of a reply or a body chunk.
        max_connections: the client's connection pool.
    """

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    max_connections: int = 32


@dataclass(frozen=True)
class S3Location:
    """A parsed `s3://bucket/key[?versionId=...]`: the key is taken as written."""

    bucket: str
    key: str
    version_id: str | None = None

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """The bucket, key and version of `url`; PermanentSourceError if it is not one."""
        rest = url.removeprefix(SCHEME)
        version_id = None
        if VERSION_QUERY in rest:
            rest, version_id = rest.rsplit(VERSION_QUERY, 1)
        bucket, _, key = rest.partition("/")
        if not url.startswith(SCHEME) or not bucket or not key or version_id == "":
            raise PermanentSourceError(url, "not an s3://bucket/key URL", code="InvalidURL")
        return cls(bucket, key, version_id)


class S3Client(Protocol):
    """The two calls of aioboto3's S3 client used here (it has no stubs in our set)."""

    async def head_object(self, **kwargs: Any) -> Mapping[str, Any]: ...

    async def get_object(self, **kwargs: Any) -> Mapping[str, Any]: ...


def declared_hex(head: Mapping[str, Any], member: str) -> str | None:
    """The hex of S3's base64 checksum `member` (`ChecksumSHA256`), if it is the whole
    object's (`ChecksumType` FULL_OBJECT); None otherwise or if it is not base64."""
    value = head.get(member)
    if head.get("ChecksumType") != "FULL_OBJECT" or not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return None


def identity_of(head: Mapping[str, Any]) -> SourceIdentity:
    """The object's ETag, VersionId (not S3's `null` of an unversioned bucket) and time."""
    version_id = head.get("VersionId")
    modified = head.get("LastModified")
    return SourceIdentity(
        etag=head.get("ETag"),
        version_id=version_id if version_id and version_id != "null" else None,
        last_modified=modified.isoformat() if modified is not None else None,
    )


def client_error(url: str, error: ClientError) -> SourceError:
    """Our error for S3's reply, from its code and status only (never its Message)."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code.isdigit():  # a reply without a body (HeadObject): the code is the status
        code = _PHRASES.get(int(code), code)
    text = f"{status or ''} {code}".strip()
    if code in NOT_FOUND_CODES:
        return SourceNotFoundError(url, text, code=code, status=status)
    if code in BAD_CREDENTIAL_CODES:
        return FatalSourceError(url, f"{text}: the S3 credentials are refused", code=code)
    if code in DENIED_CODES:
        return SourceDeniedError(url, text, code=code, status=status)
    if code in CHANGED_CODES:
        return SourceChangedError(url, f"{text}: the object changed", code=code, status=status)
    if code in TRANSIENT_CODES or (status or 0) >= 500:
        return TransientSourceError(url, text, code=code, status=status)
    return PermanentSourceError(url, text, code=code, status=status)


@contextlib.contextmanager
def translated(url: str) -> Iterator[None]:
    """botocore's, aiohttp's and the clock's errors as ours, at this one boundary."""
    try:
        yield
    except SourceError:
        raise
    except ClientError as error:
        raise client_error(url, error) from error
    except NO_CREDENTIALS as error:
        raise FatalSourceError(url, f"no S3 credentials ({type(error).__name__})") from error
    except (BotoCoreError, aiohttp.ClientError, TimeoutError, ConnectionError) as error:
        kind = "timed out" if isinstance(error, TimeoutError) else "connection failed"
        name = type(error).__name__
        raise TransientSourceError(url, f"{kind} ({name})", code=name) from error


class _ObjectStream:
    """The chunks of one GetObject body; closing it drops the connection."""

    def __init__(self, url: str, body: Any) -> None:
        self._url = url
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with translated(self._url):
            while chunk := await self._body.read(CHUNK_BYTES):
                yield chunk

    async def aclose(self) -> None:
        self._body.close()


class S3Source:
    """Reads `s3://` assets with one aioboto3 client.

    Use as `async with S3Source(settings) as source: ...`.

    Args:
        settings: profile, region, endpoint, timeouts.
        environ: where `AWS_ENDPOINT_URL_S3` is read.
    """

    def __init__(
        self, settings: S3Settings | None = None, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings or S3Settings()
        environ = os.environ if environ is None else environ
        self.endpoint_url = self.settings.endpoint_url or environ.get(ENDPOINT_VARIABLE) or None
        self._client: S3Client | None = None
        self._stack = contextlib.AsyncExitStack()

    def __repr__(self) -> str:
        return (
            f"S3Source(profile={self.settings.profile!r}, region={self.settings.region!r},"
            f" endpoint={self.endpoint_url!r})"
        )

    async def __aenter__(self) -> Self:
        where = f"{SCHEME}*"
        try:
            session = aioboto3.Session(
                profile_name=self.settings.profile, region_name=self.settings.region
            )
        except ProfileNotFound as error:
            raise FatalSourceError(where, f"profile {self.settings.profile!r} not found") from error
        config = AioConfig(
            retries={"total_max_attempts": 1},
            connect_timeout=self.settings.connect_timeout_s,
            read_timeout=self.settings.read_timeout_s,
            max_pool_connections=self.settings.max_connections,
            ignore_configured_endpoint_urls=True,
            response_checksum_validation="when_required",
            request_checksum_calculation="when_required",
        )
        with translated(where):
            client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
            self._client = cast(S3Client, await self._stack.enter_async_context(client))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._client = None
        await self._stack.aclose()

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("S3Source used outside `async with`")
        return self._client

    async def stat(self, url: str) -> SourceObject:
        """HeadObject with checksums: the size, identity and FULL_OBJECT SHA-256/SHA-1."""
        where = S3Location.parse(url)
        kwargs = _object_kwargs(where.bucket, where.key, where.version_id)
        with translated(url):
            head = await self.client.head_object(**kwargs, ChecksumMode="ENABLED")
        return SourceObject(
            url=url,
            size_bytes=int(head["ContentLength"]),
            sha256=declared_hex(head, "ChecksumSHA256"),
            sha1=declared_hex(head, "ChecksumSHA1"),
            identity=identity_of(head),
        )

    async def open(self, obj: SourceObject, *, start_byte: int = 0) -> Body:
        """GetObject of the version stat'ed, if its ETag still matches, from `start_byte`."""
        where = S3Location.parse(obj.url)
        kwargs = _object_kwargs(where.bucket, where.key, obj.identity.version_id)
        if obj.identity.etag:
            kwargs["IfMatch"] = obj.identity.etag
        if start_byte:
            kwargs["Range"] = f"bytes={start_byte}-"
        with translated(obj.url):
            reply = await self.client.get_object(**kwargs)
        body = reply["Body"]
        if int(reply["ContentLength"]) != obj.size_bytes - start_byte:
            body.close()
            raise SourceChangedError(
                obj.url, f"now {reply['ContentLength']} bytes from {start_byte}", code="Changed"
            )
        return Body(obj, _ObjectStream(obj.url, body), start_byte=start_byte)


def _object_kwargs(bucket: str, key: str, version_id: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    return kwargs
