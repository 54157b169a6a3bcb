"""The aioboto3 client and the calls we make; AWS's errors become ours here and nowhere else.

One client serves a whole run. botocore's own retries are off (`total_max_attempts=1`):
tenacity (retry.py) retries, so attempts are never multiplied. The connection pool is
sized for the upload concurrency, because requests waiting for a pooled connection wait
inside aiohttp, outside every botocore timeout; each attempt also runs under an
`asyncio.timeout` that covers that wait.

A hostile endpoint gets no more than a faithful one (issue 15):
- no redirect is ever followed, for any call: aiohttp follows them by default (botocore's
  urllib3 pool does not), which would send the session token and the file's bytes to
  whatever host the `Location` names. A 3xx is a `FatalRemoteError` naming the status
  and that host: CodeArtifact never redirects, so an endpoint that does is not one we
  can use, for this version or any other.
- a reply body is read up to `MAX_REPLY_BYTES` and no further: the attempt then fails
  as retryable (a garbled reply, not an answer: the same request may succeed later),
  and memory stays bounded whatever the server sends.
- a listing ends at a repeated `nextToken` and after `MAX_LIST_PAGES` pages
  (`RejectedError`: that version fails, the run goes on).
- a file that ends early while it is sent (truncated during its upload) fails the
  attempt at once (`file changed during upload`), instead of leaving the server waiting
  for bytes that never come; the next attempt finds the file changed and hashes it again.

Every request is one `CodeArtifact._call`, named by its `Operation`: an error it ends in
carries that name (`RemoteError.operation`), and an optional `RequestObserver` hears of
its duration and outcome (metrics.py). Why there, and not in aiobotocore's event hooks
(`before-call`/`after-call` on `client.meta.events`): a request our deadline cancels
(`asyncio.timeout`) never reaches `after-call` or `after-call-error`, the hooks see
botocore's errors rather than ours (the retry reason is decided by `translate`, here),
and their arguments hold the request's headers, which a metrics observer has no business
seeing. `_call` sees every attempt, ours and theirs alike, and nothing secret.

Both HTTP guards live in `_GuardedResponse`, aiohttp's `response_class` of the session
aiobotocore builds (`GuardedHTTPSession`, given as `AioConfig(http_session_cls=...)`).
Errors raised there reach us wrapped by aiobotocore (`HTTPClientError(error=...)`) and
aiohttp (`__cause__`); `translate` unwraps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import shlex
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    BinaryIO,
    Final,
    Literal,
    NotRequired,
    Self,
    TypedDict,
    TypeVar,
    cast,
)

import aioboto3
import aiohttp
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.httpsession import AIOHTTPSession
from aiohttp import hdrs
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from yarl import URL

from uploader import constants as c
from uploader.api import Operation, RequestObserver
from uploader.domain import (
    AssetListing,
    PackageRef,
    PublishReply,
    RemoteAsset,
    RemoteVersion,
    Target,
    VersionStatus,
)
from uploader.errors import (
    ConflictError,
    FatalRemoteError,
    RejectedError,
    RemoteError,
    RetryableRemoteError,
    RetryReason,
    ThrottledError,
)
from uploader.hashing import ShortReadError

if TYPE_CHECKING:
    from types_aiobotocore_codeartifact import CodeArtifactClient

T = TypeVar("T")
log = structlog.get_logger(__name__)

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
# A publish refused by the package's origin controls (PutPackageOriginConfiguration with
# publish=BLOCK). AWS documents the control, not the error it answers with: it is
# recognised by its message, whatever the 4xx code (the emulator's ValidationException, or
# an AccessDeniedException or ConflictException from AWS), since the cause and the fix are
# the same, and they concern that package only: its version fails, not retried, and the
# run goes on (an AccessDeniedException would otherwise end the run, a ConflictException
# would be taken for an asset already there).
_ORIGIN_BLOCKED: Final = re.compile(r"\borigin (configuration|control|restriction)", re.IGNORECASE)
_TARGET_TYPES: Final = frozenset({"domain", "repository"})
_READ_CHUNK_BYTES: Final = 64 * 1024
_MAX_WRAPPED_DEPTH: Final = 8  # how deep translate looks for our error inside theirs


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


def _redirect_refused(status: int, location: str | None) -> FatalRemoteError:
    try:
        host = URL(location).host if location else None
    except ValueError:
        host = None
    where = f"to {host}" if host else f"to {location!r}" if location else "without a Location"
    return FatalRemoteError(
        f"the endpoint answered HTTP {status}, a redirect {where}: redirects are never"
        " followed (check --endpoint-url)",
        code="Redirect",
        status=status,
    )


def _too_large(size_bytes: int | None = None) -> RetryableRemoteError:
    what = f"of {size_bytes} bytes" if size_bytes is not None else "too long"
    return RetryableRemoteError(
        f"reply {what} refused: replies are read up to {c.MAX_REPLY_BYTES} bytes",
        code="ReplyTooLarge",
    )


class _GuardedResponse(aiohttp.ClientResponse):
    """An aiohttp reply that is never a redirect and never read past `MAX_REPLY_BYTES`."""

    async def start(self, connection: aiohttp.connector.Connection) -> Self:
        """Read the status and headers; refuse a 3xx before aiohttp can follow it."""
        await super().start(connection)
        if 300 <= self.status < 400:
            raise _redirect_refused(self.status, self.headers.get(hdrs.LOCATION))
        if self.content_length is not None and self.content_length > c.MAX_REPLY_BYTES:
            raise _too_large(self.content_length)
        return self

    async def read(self) -> bytes:
        """The whole body, read in chunks and given up past the cap."""
        if self._body is None:
            body = bytearray()
            try:
                while chunk := await self.content.read(_READ_CHUNK_BYTES):
                    body += chunk
                    if len(body) > c.MAX_REPLY_BYTES:
                        raise _too_large()
            except BaseException:
                self.close()
                raise
            # aiohttp's own read() keeps the body here: set it, then let it finish
            # (release the connection) as it always does.
            self._body = bytes(body)
        return await super().read()


class GuardedHTTPSession(AIOHTTPSession):
    """aiobotocore's aiohttp session, its replies `_GuardedResponse`s.

    `_get_session` is aiobotocore 2.25.1's, with `response_class` added: aiohttp's knob
    for every reply of a session (aiobotocore calls `request()` itself, so a per-request
    `allow_redirects=False` cannot be passed without copying its whole `send`).
    """

    async def _get_session(self, proxy_url: str | None) -> aiohttp.ClientSession:
        inner: Any = self  # aiobotocore's private attributes, absent from its stubs
        session: aiohttp.ClientSession | None = inner._sessions.get(proxy_url)
        if session is None:
            session = await inner._exit_stack.enter_async_context(
                aiohttp.ClientSession(
                    connector=inner._create_connector(proxy_url),
                    timeout=inner._timeout,
                    skip_auto_headers={"CONTENT-TYPE"},
                    auto_decompress=False,
                    response_class=_GuardedResponse,
                )
            )
            inner._sessions[proxy_url] = session
        return session


@contextlib.asynccontextmanager
async def open_client(settings: ClientSettings) -> AsyncIterator[CodeArtifactClient]:
    """An aioboto3 CodeArtifact client: botocore's retries off, replies guarded."""
    try:
        session = aioboto3.Session(
            profile_name=settings.profile,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
        )
    except ProfileNotFound as error:
        raise FatalRemoteError(str(error), code="ProfileNotFound") from error
    config = AioConfig(
        http_session_cls=GuardedHTTPSession,
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
    ours = _ours_within(error)
    if ours is not None:
        return ours
    if isinstance(error, ClientError):
        return _from_client_error(error)
    if isinstance(error, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return FatalRemoteError(f"no usable AWS credentials: {error}", code=type(error).__name__)
    if isinstance(error, NoRegionError | ProfileNotFound):
        return FatalRemoteError(str(error), code=type(error).__name__)
    if isinstance(error, BotoConnectionError | HTTPClientError | aiohttp.ClientError | OSError):
        return RetryableRemoteError(
            f"connection failed: {error}", code=type(error).__name__, reason=_transport(error)
        )
    if isinstance(error, TimeoutError):
        return RetryableRemoteError("request timed out", code="Timeout", reason=RetryReason.TIMEOUT)
    if isinstance(error, BotoCoreError):
        return FatalRemoteError(str(error), code=type(error).__name__)
    return None


def _transport(error: BaseException) -> RetryReason:
    """A transport failure's kind: a deadline passed (ours, botocore's or aiohttp's), or
    the connection failed. (TimeoutError is an OSError: it is caught with the others.)"""
    timeouts = TimeoutError | ReadTimeoutError | ConnectTimeoutError | aiohttp.ServerTimeoutError
    return RetryReason.TIMEOUT if isinstance(error, timeouts) else RetryReason.CONNECTION


def _ours_within(error: BaseException) -> RemoteError | None:
    """Our own error raised inside the HTTP stack, under the wrappers it comes back in.

    aiobotocore wraps what aiohttp raises as `HTTPClientError(error=...)` or a botocore
    connection error; aiohttp wraps a failed body read as `ClientConnectionError` with
    the reader's error as `__cause__`.
    """
    found: BaseException | None = error
    for _ in range(_MAX_WRAPPED_DEPTH):
        if found is None:
            return None
        if isinstance(found, RemoteError):
            return found
        if isinstance(found, ShortReadError):
            return RetryableRemoteError(f"file changed during upload: {found}", code="FileChanged")
        wrapped = found.kwargs.get("error") if isinstance(found, BotoCoreError) else None
        found = wrapped if isinstance(wrapped, BaseException) else found.__cause__
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
    # Read as any mapping: a hostile endpoint's reply need not match the model.
    response = cast("dict[str, Any]", error.response)
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = str(response.get("Error", {}).get("Message", "")) or code
    text = f"{code}: {message}" if code else message
    if code == "ThrottlingException" or status == 429:
        return ThrottledError(text, retry_after_s=_retry_after_s(response), status=status)
    if code == "InternalServerException" or (status is not None and status >= 500):
        return RetryableRemoteError(
            text, code=code or str(status), status=status, reason=RetryReason.SERVER_ERROR
        )
    if _ORIGIN_BLOCKED.search(message):
        return RejectedError(text, code=code, status=status)
    if code == "ConflictException":
        return ConflictError(text, code=code, status=status)
    if code in _FATAL_CODES:
        return FatalRemoteError(text, code=code, status=status)
    if code == "ResourceNotFoundException" and response.get("resourceType") in _TARGET_TYPES:
        return FatalRemoteError(text, code=code, status=status)
    return RejectedError(text, code=code, status=status)


def _publish_blocked(package: PackageRef, error: RejectedError) -> RejectedError:
    """The refusal of a package whose origin configuration blocks publishing, naming the
    command that allows it (upstream=BLOCK is AWS's default for a published package)."""
    target = package.target
    owner = ["--domain-owner", target.domain_owner] if target.domain_owner else []
    command = shlex.join([
        "aws", "codeartifact", "put-package-origin-configuration",
        "--domain", target.domain, *owner, "--repository", target.repository,
        "--format", "generic", "--namespace", package.namespace, "--package", package.package,
        "--restrictions", "publish=ALLOW,upstream=BLOCK",
    ])  # fmt: skip
    blocked = RejectedError(
        f"package {package.namespace}/{package.package} in {target}: its origin configuration"
        f" blocks publishing ({error}); to allow it: {command}",
        code=error.code, status=error.status,
    )  # fmt: skip
    blocked.operation = error.operation
    return blocked


def _publish_reply(reply: Mapping[str, Any]) -> PublishReply:
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


class _RepositoryMembers(TypedDict):
    domain: str
    repository: str
    domainOwner: NotRequired[str]


class _PackageMembers(_RepositoryMembers):
    format: Literal["generic"]
    namespace: str
    package: str


def _repository(target: Target) -> _RepositoryMembers:
    """The request members that name a repository."""
    members = _RepositoryMembers(domain=target.domain, repository=target.repository)
    if target.domain_owner:
        members["domainOwner"] = target.domain_owner
    return members


def _package(package: PackageRef) -> _PackageMembers:
    """The request members that name a generic package (its repository's included)."""
    return _PackageMembers(
        **_repository(package.target), format="generic", namespace=package.namespace,
        package=package.package,
    )  # fmt: skip


class CodeArtifact:
    """The operations the pipeline needs, each one attempt, errors translated.

    Retrying and rate limiting are the caller's (pipeline + retry + limits): this class
    only makes single, deadline-bounded requests.

    Args:
        client: the aioboto3 client.
        max_pages: the most pages a listing may take.
        observer: told of every request's operation, duration and error (metrics).
        clock: monotonic seconds, for the durations.
    """

    def __init__(
        self,
        client: CodeArtifactClient,
        *,
        max_pages: int = c.MAX_LIST_PAGES,
        observer: RequestObserver | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._client = client
        self._max_pages = max_pages
        self._observer = observer
        self._clock = clock

    async def _call(
        self, operation: Operation, call: Callable[[], Awaitable[T]], timeout_s: float
    ) -> T:
        """One request: under its deadline, its error ours and naming `operation`."""
        started_s = self._clock()
        try:
            with translated():
                async with asyncio.timeout(timeout_s):
                    result = await call()
        except RemoteError as error:
            error.operation = operation
            self._observe(operation, started_s, error)
            raise
        self._observe(operation, started_s, None)
        return result

    def _observe(self, operation: Operation, started_s: float, error: RemoteError | None) -> None:
        if self._observer is not None:
            self._observer.request_ended(operation, self._clock() - started_s, error)

    async def describe_repository(self, target: Target) -> None:
        """Raise FatalRemoteError unless the domain and repository exist and are reachable."""
        await self._call(
            Operation.DESCRIBE_REPOSITORY,
            lambda: self._client.describe_repository(**_repository(target)),
            attempt_timeout_s(),
        )

    async def create_repository(self, target: Target) -> None:
        """Create the domain and repository, ignoring the ones that exist (emulator set-up)."""
        with contextlib.suppress(ConflictError):
            await self._call(
                Operation.CREATE_DOMAIN, lambda: self._client.create_domain(domain=target.domain),
                30.0,
            )  # fmt: skip
        with contextlib.suppress(ConflictError):
            await self._call(
                Operation.CREATE_REPOSITORY,
                lambda: self._client.create_repository(**_repository(target)), 30.0,
            )  # fmt: skip

    async def publish(
        self,
        package: PackageRef,
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

        async def send() -> Mapping[str, Any]:
            reply: Mapping[str, Any] = await self._client.publish_package_version(
                **_package(package),
                packageVersion=version, assetName=asset_name, assetContent=body,
                assetSHA256=sha256, unfinished=True,
            )  # fmt: skip
            return reply

        try:
            reply = await self._call(
                Operation.PUBLISH_PACKAGE_VERSION, send, attempt_timeout_s(size_bytes)
            )
        except RetryableRemoteError as error:
            if error.code == "FileChanged":
                log.warning("file changed during upload", asset=asset_name, error=str(error))
            raise
        except RejectedError as error:
            if _ORIGIN_BLOCKED.search(str(error)):
                raise _publish_blocked(package, error) from error
            raise
        finally:
            if not isinstance(body, bytes):
                body.close()
        return _publish_reply(reply)

    async def describe_version(self, package: PackageRef, version: str) -> RemoteVersion | None:
        """The version's status and assets, or None if the server has no such version."""
        kwargs = _package(package)
        try:
            described = await self._call(
                Operation.DESCRIBE_PACKAGE_VERSION,
                lambda: self._client.describe_package_version(**kwargs, packageVersion=version),
                attempt_timeout_s(),
            )
        except RejectedError as error:
            if error.code == "ResourceNotFoundException":
                return None
            raise
        listing = await self.list_assets(package, version)
        info = described["packageVersion"]
        status = VersionStatus.parse(info.get("status"))
        if status is None:
            raise RejectedError(
                f"the service named an unknown status {str(info.get('status'))[:40]!r}"
            )
        return RemoteVersion(status, listing.revision, listing.assets)

    async def _pages(
        self,
        operation: Operation,
        method: Callable[..., Awaitable[Mapping[str, Any]]],
        **kwargs: Any,
    ) -> AsyncGenerator[Mapping[str, Any], None]:
        """Every page of a list call, each request under its own deadline.

        Raises RejectedError at a `nextToken` seen before, or past `max_pages` pages: a
        listing that does not end is the endpoint's fault, not a reason to loop forever.
        """
        token: dict[str, str] = {}
        seen: set[bytes] = set()  # digests: a hostile token may be megabytes long
        for number in range(1, self._max_pages + 1):
            page = await self._call(
                operation,
                functools.partial(method, **kwargs, maxResults=c.MAX_RESULTS_LIMIT, **token),
                attempt_timeout_s(),
            )
            yield page
            next_token = page.get("nextToken")
            if not next_token:
                return
            digest = hashlib.sha256(str(next_token).encode()).digest()
            if digest in seen:
                raise RejectedError(
                    f"the listing repeated a nextToken after {number} pages; stopped",
                    code="RepeatedNextToken",
                )
            seen.add(digest)
            token = {"nextToken": str(next_token)}
        raise RejectedError(
            f"the listing did not end after {self._max_pages} pages; stopped",
            code="TooManyPages",
        )

    async def list_assets(self, package: PackageRef, version: str) -> AssetListing:
        """Every asset of a version, following pagination, and the version's revision.

        Raises RejectedError (code ResourceNotFoundException) when there is no such version.
        """
        kwargs = _package(package)
        found: dict[str, RemoteAsset] = {}
        revision = ""
        pages = self._pages(Operation.LIST_PACKAGE_VERSION_ASSETS,
                            self._client.list_package_version_assets, **kwargs,
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
        self, package: PackageRef, *, limit: int
    ) -> dict[str, VersionStatus | None] | None:
        """version -> status of every version of a package ({} if there is no such package).

        None when the package has more than `limit` versions: the caller then asks about
        each version on its own, so memory stays bounded.
        """
        kwargs = _package(package)
        found: dict[str, VersionStatus | None] = {}
        pages = self._pages(
            Operation.LIST_PACKAGE_VERSIONS, self._client.list_package_versions, **kwargs
        )
        try:
            async with contextlib.aclosing(pages):
                async for page in pages:
                    versions = page.get("versions", [])
                    found.update(
                        (v["version"], VersionStatus.parse(v.get("status"))) for v in versions
                    )
                    if len(found) > limit:
                        return None
        except RejectedError as error:
            if error.code == "ResourceNotFoundException":
                return {}
            raise
        return found

    async def update_status(
        self,
        package: PackageRef,
        versions: dict[str, str],
        target_status: VersionStatus,
    ) -> tuple[set[str], dict[str, tuple[str, str]]]:
        """Move Unfinished versions to `target_status`: (succeeded, failed as (code, message)).

        `versions` maps each version to the revision it was checked at (or ""): the service
        refuses a version whose revision has moved on since (MISMATCHED_REVISION), so what
        is finalized is exactly what was checked.
        """
        revisions = {v: r for v, r in versions.items() if r}
        extra = {"versionRevisions": revisions} if revisions else {}
        reply = await self._call(
            Operation.UPDATE_PACKAGE_VERSIONS_STATUS,
            lambda: self._client.update_package_versions_status(
                **_package(package), versions=list(versions),
                expectedStatus=VersionStatus.UNFINISHED.value, targetStatus=target_status.value,
                **extra,
            ),
            attempt_timeout_s(),
        )  # fmt: skip
        failed = {
            v: (str(info.get("errorCode", "")), str(info.get("errorMessage", "")))
            for v, info in reply.get("failedVersions", {}).items()
        }
        return set(reply.get("successfulVersions", {})), failed
