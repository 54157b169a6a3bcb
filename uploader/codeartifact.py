"""The aioboto3 client and the calls we make; AWS's errors become ours here and nowhere else.

One client serves a whole run. botocore's own retries are off (`total_max_attempts=1`):
tenacity (retry.py) retries, so attempts are never multiplied. The connection pool is
sized for the upload concurrency, because requests waiting for a pooled connection wait
inside aiohttp, outside every botocore timeout; each attempt also runs under an
`asyncio.timeout` that covers that wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Final, TypeVar

import aioboto3
import aiohttp
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from uploader import constants as c
from uploader.errors import (
    ConflictError,
    FatalRemoteError,
    RejectedError,
    RemoteError,
    RetryableRemoteError,
    ThrottledError,
)

T = TypeVar("T")

CONNECT_TIMEOUT_S: Final = 10.0
READ_TIMEOUT_S: Final = 120.0
BASE_ATTEMPT_TIMEOUT_S: Final = 60.0
MIN_UPLOAD_BYTES_PER_S: Final = 1024 * 1024  # an attempt slower than 1 MiB/s is given up

_FATAL_CODES: Final = frozenset({
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
})  # fmt: skip
_REJECTED_CODES: Final = frozenset({"ValidationException", "ServiceQuotaExceededException"})
_TARGET_TYPES: Final = frozenset({"domain", "repository"})


@dataclass(frozen=True)
class Target:
    """Where versions go: a repository of a domain, possibly owned by another account."""

    domain: str
    repository: str
    domain_owner: str | None = None

    def params(self) -> dict[str, str]:
        """The request members that name this target."""
        found = {"domain": self.domain, "repository": self.repository}
        if self.domain_owner:
            found["domainOwner"] = self.domain_owner
        return found

    def __str__(self) -> str:
        return f"{self.domain}/{self.repository}"


@dataclass(frozen=True)
class RemoteAsset:
    """An asset as ListPackageVersionAssets reports it."""

    name: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class RemoteVersion:
    """A package version's status and assets on the server."""

    status: str
    revision: str
    assets: dict[str, RemoteAsset]


@dataclass(frozen=True)
class AssetListing:
    """A version's assets as ListPackageVersionAssets gives them, with the revision they
    belong to (a finalization naming this revision applies only to exactly these assets)."""

    revision: str
    assets: dict[str, RemoteAsset]


@dataclass(frozen=True)
class PublishReply:
    """What a PublishPackageVersion reply says was stored ("" where the reply is silent)."""

    asset_name: str
    sha256: str
    revision: str

    def confirms(self, asset_name: str, sha256: str) -> bool:
        """Whether the reply names this asset with this SHA-256: nothing less is a success."""
        return self.asset_name == asset_name and self.sha256 == sha256


@dataclass(frozen=True)
class ClientSettings:
    """How to reach the service.

    Args:
        region: AWS region; None takes the standard chain (env, profile).
        profile: a named AWS profile.
        endpoint_url: another endpoint (an emulator); None keeps botocore's resolution,
            which honours `AWS_ENDPOINT_URL_CODEARTIFACT`.
        max_connections: size of the connection pool: at least the upload concurrency.
        access_key_id/secret_access_key: explicit credentials (the `--local` emulator).
    """

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    max_connections: int = 32
    access_key_id: str | None = None
    secret_access_key: str | None = None


@contextlib.asynccontextmanager
async def open_client(settings: ClientSettings) -> AsyncIterator[Any]:
    """An aioboto3 CodeArtifact client with botocore's retries off."""
    try:
        session = aioboto3.Session(
            profile_name=settings.profile,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
        )
    except ProfileNotFound as error:
        raise FatalRemoteError(str(error), code="ProfileNotFound") from error
    config = Config(
        retries={"total_max_attempts": 1},
        max_pool_connections=settings.max_connections,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )
    with translated():
        async with session.client(
            c.SERVICE_NAME, endpoint_url=settings.endpoint_url, config=config
        ) as client:
            yield client


def attempt_timeout_s(size_bytes: int = 0) -> float:
    """The deadline of one attempt: a base, plus time for the body at a slow floor rate."""
    return BASE_ATTEMPT_TIMEOUT_S + size_bytes / MIN_UPLOAD_BYTES_PER_S


def translate(error: BaseException) -> RemoteError | None:
    """Our error for a botocore/aiohttp/timeout error, or None if it is not one of those."""
    if isinstance(error, ClientError):
        return _from_client_error(error)
    if isinstance(error, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return FatalRemoteError(f"no usable AWS credentials: {error}", code=type(error).__name__)
    if isinstance(error, NoRegionError | ProfileNotFound):
        return FatalRemoteError(str(error), code=type(error).__name__)
    if isinstance(error, BotoConnectionError | HTTPClientError | aiohttp.ClientError | OSError):
        return RetryableRemoteError(f"connection failed: {error}", code=type(error).__name__)
    if isinstance(error, TimeoutError):
        return RetryableRemoteError("request timed out", code="Timeout")
    if isinstance(error, BotoCoreError):
        return FatalRemoteError(str(error), code=type(error).__name__)
    return None


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Re-raise AWS and transport errors as uploader errors (`raise ... from`)."""
    try:
        yield
    except (ClientError, BotoCoreError, aiohttp.ClientError, OSError, TimeoutError) as error:
        ours = translate(error)
        if ours is None:
            raise
        raise ours from error


def _from_client_error(error: ClientError) -> RemoteError:
    response: dict[str, Any] = error.response
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = str(response.get("Error", {}).get("Message", "")) or code
    text = f"{code}: {message}" if code else message
    if code == "ThrottlingException" or status == 429:
        return ThrottledError(text, retry_after_s=_retry_after_s(response), status=status)
    if code == "InternalServerException" or (status is not None and status >= 500):
        return RetryableRemoteError(text, code=code or str(status), status=status)
    if code == "ConflictException":
        return ConflictError(text, code=code, status=status)
    if code in _FATAL_CODES:
        return FatalRemoteError(text, code=code, status=status)
    if code == "ResourceNotFoundException" and response.get("resourceType") in _TARGET_TYPES:
        return FatalRemoteError(text, code=code, status=status)
    return RejectedError(text, code=code, status=status)


def _publish_reply(reply: dict[str, Any]) -> PublishReply:
    asset = reply.get("asset")
    if not isinstance(asset, dict):
        return PublishReply("", "", str(reply.get("versionRevision", "")))
    hashes = asset.get("hashes")
    sha256 = hashes.get("SHA-256", "") if isinstance(hashes, dict) else ""
    return PublishReply(
        str(asset.get("name", "")), str(sha256), str(reply.get("versionRevision", ""))
    )


def _retry_after_s(response: dict[str, Any]) -> float | None:
    # botocore parses the modelled Retry-After header into `retryAfterSeconds`; it
    # never acts on it itself. Fall back to the raw header for unmodelled replies.
    value = response.get("retryAfterSeconds")
    if value is None:
        value = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
    try:
        return None if value is None else max(0.0, float(value))
    except (TypeError, ValueError):
        return None


class CodeArtifact:
    """The operations the pipeline needs, each one attempt, errors translated.

    Retrying and rate limiting are the caller's (pipeline + retry + limits): this class
    only makes single, deadline-bounded requests.
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    async def _call(self, call: Callable[[], Awaitable[T]], timeout_s: float) -> T:
        with translated():
            async with asyncio.timeout(timeout_s):
                return await call()

    async def describe_repository(self, target: Target) -> None:
        """Raise FatalRemoteError unless the domain and repository exist and are reachable."""
        await self._call(
            lambda: self._client.describe_repository(**target.params()), attempt_timeout_s()
        )

    async def create_repository(self, target: Target) -> None:
        """Create the domain and repository, ignoring the ones that exist (emulator set-up)."""
        with contextlib.suppress(ConflictError):
            await self._call(lambda: self._client.create_domain(domain=target.domain), 30.0)
        with contextlib.suppress(ConflictError):
            await self._call(lambda: self._client.create_repository(**target.params()), 30.0)

    async def publish(
        self,
        target: Target,
        package: dict[str, str],
        version: str,
        *,
        asset_name: str,
        body: bytes | BinaryIO,
        sha256: str,
        size_bytes: int,
    ) -> PublishReply:
        """Send one asset with `unfinished=true`; returns what the server says it stored.

        `body` is the file's bytes (small files) or the file opened afresh at offset 0 for
        this attempt, which this call closes: botocore rewinds a body to 0 on its own, and
        an open file streams with Content-Length instead of sitting in memory.
        """

        async def send() -> dict[str, Any]:
            reply: dict[str, Any] = await self._client.publish_package_version(
                **target.params(), format=c.GENERIC_FORMAT, **package,
                packageVersion=version, assetName=asset_name, assetContent=body,
                assetSHA256=sha256, unfinished=True,
            )  # fmt: skip
            return reply

        try:
            reply = await self._call(send, attempt_timeout_s(size_bytes))
        finally:
            if not isinstance(body, bytes):
                body.close()
        return _publish_reply(reply)

    async def describe_version(
        self, target: Target, package: dict[str, str], version: str
    ) -> RemoteVersion | None:
        """The version's status and assets, or None if the server has no such version."""
        kwargs = {**target.params(), "format": c.GENERIC_FORMAT, **package}
        try:
            described = await self._call(
                lambda: self._client.describe_package_version(**kwargs, packageVersion=version),
                attempt_timeout_s(),
            )
        except RejectedError as error:
            if error.code == "ResourceNotFoundException":
                return None
            raise
        listing = await self.list_assets(target, package, version)
        info = described["packageVersion"]
        return RemoteVersion(str(info["status"]), listing.revision, listing.assets)

    async def _pages(
        self, method: Callable[..., Awaitable[dict[str, Any]]], **kwargs: Any
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Every page of a list call, each request under its own deadline."""
        token: dict[str, str] = {}
        while True:
            page = await self._call(
                functools.partial(method, **kwargs, maxResults=c.MAX_RESULTS_LIMIT, **token),
                attempt_timeout_s(),
            )
            yield page
            if not page.get("nextToken"):
                return
            token = {"nextToken": page["nextToken"]}

    async def list_assets(
        self, target: Target, package: dict[str, str], version: str
    ) -> AssetListing:
        """Every asset of a version, following pagination, and the version's revision.

        Raises RejectedError (code ResourceNotFoundException) when there is no such version.
        """
        kwargs = {**target.params(), "format": c.GENERIC_FORMAT, **package}
        found: dict[str, RemoteAsset] = {}
        revision = ""
        pages = self._pages(self._client.list_package_version_assets, **kwargs,
                            packageVersion=version)  # fmt: skip
        async for page in pages:
            revision = revision or str(page.get("versionRevision", ""))
            for item in page.get("assets", []):
                found[item["name"]] = RemoteAsset(
                    item["name"],
                    int(item.get("size", 0)),
                    item.get("hashes", {}).get("SHA-256", ""),
                )
        return AssetListing(revision, found)

    async def list_versions(
        self, target: Target, package: dict[str, str], *, limit: int
    ) -> dict[str, str] | None:
        """version -> status of every version of a package ({} if there is no such package).

        None when the package has more than `limit` versions: the caller then asks about
        each version on its own, so memory stays bounded.
        """
        kwargs = {**target.params(), "format": c.GENERIC_FORMAT, **package}
        found: dict[str, str] = {}
        pages = self._pages(self._client.list_package_versions, **kwargs)
        try:
            async with contextlib.aclosing(pages):
                async for page in pages:
                    versions = page.get("versions", [])
                    found.update((v["version"], str(v["status"])) for v in versions)
                    if len(found) > limit:
                        return None
        except RejectedError as error:
            if error.code == "ResourceNotFoundException":
                return {}
            raise
        return found

    async def update_status(
        self,
        target: Target,
        package: dict[str, str],
        versions: dict[str, str],
        target_status: str,
    ) -> tuple[set[str], dict[str, tuple[str, str]]]:
        """Move Unfinished versions to `target_status`: (succeeded, failed as (code, message)).

        `versions` maps each version to the revision it was checked at (or ""): the service
        refuses a version whose revision has moved on since (MISMATCHED_REVISION), so what
        is finalized is exactly what was checked.
        """
        revisions = {v: r for v, r in versions.items() if r}
        extra = {"versionRevisions": revisions} if revisions else {}
        reply = await self._call(
            lambda: self._client.update_package_versions_status(
                **target.params(), format=c.GENERIC_FORMAT, **package, versions=list(versions),
                expectedStatus="Unfinished", targetStatus=target_status, **extra,
            ),
            attempt_timeout_s(),
        )  # fmt: skip
        failed = {
            v: (str(info.get("errorCode", "")), str(info.get("errorMessage", "")))
            for v, info in reply.get("failedVersions", {}).items()
        }
        return set(reply.get("successfulVersions", {})), failed
