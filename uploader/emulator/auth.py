"""SigV4 verification of the requests the emulator receives.

CodeArtifact refuses a request that is unsigned, signed by an unknown key, signed with the
wrong secret, or signed too long ago; the emulator does the same, so a client that works
against it signs the way AWS expects. The canonical request, string to sign and signature
are botocore's own (`botocore.auth.SigV4Auth`), so the server cannot drift from the SDK.

What the HTTP layer must pass in, and why:

- `path` is the raw, still percent-encoded path (aiohttp: `request.rel_url.raw_path`).
  botocore canonicalises it as `quote(remove_dot_segments(path), safe="/~")`: dot segments
  and empty segments (`//`) are dropped and every `%` is encoded again (`%20` -> `%2520`),
  so the decoded `request.path` would give another canonical URI.
- `query_string` is the raw query (aiohttp: `request.rel_url.raw_query_string`; both
  `request.query_string`, which is decoded, and `request.raw_path`, which carries the query
  too, are wrong). Pairs are decoded and re-encoded with RFC 3986 unreserved characters
  safe, then sorted, as the SigV4 specification asks; for the query botocore sends
  (`percent_encode`: `1.0.0+build` -> `1.0.0%2Bbuild`, a space -> `%20`) that is the string
  it signed. A literal `+` stays a plus sign, never a space.
- `payload_sha256` is the hash the client signed: the `x-amz-content-sha256` header when
  the request has one (PublishPackageVersion sends the asset's SHA-256 there), else the
  SHA-256 of the body. Checking the body against that header is the caller's job.

Nothing here logs, and no `AuthError` message holds a secret, a signature or the
`Authorization` header itself.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, unquote_to_bytes

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
SCOPE_TERMINATOR = "aws4_request"
# AWS refuses a signature more than 15 minutes away from its own clock.
DEFAULT_MAX_SKEW_S = 900.0
# RFC 3986 unreserved characters, left as they are in a canonical query (SigV4 spec).
_QUERY_SAFE = "-_.~"
_SIGNATURE_HEX_LEN = 64
_SCOPE_PARTS = 5  # AKID/DATE/REGION/SERVICE/aws4_request
# The emulator is reached over loopback; the scheme and host of this URL feed nothing
# that is signed (the signed host comes from the received Host header).
_PLACEHOLDER_ORIGIN = "http://emulator.invalid"


class AuthError(Exception):
    """Why a request is refused; `str(e)` is one line, never a secret or a signature.

    Args:
        message: the one line CodeArtifact would send back.
        code: the AWS error code for the `x-amzn-ErrorType` header.
        status: the HTTP status AWS answers with.
    """

    def __init__(
        self, message: str, *, code: str = "InvalidSignatureException", status: int = 403
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class SignedBy:
    """Who signed a request, and for which region and service."""

    access_key_id: str
    region: str
    service: str


@dataclass(frozen=True)
class Authorization:
    """A parsed SigV4 `Authorization` header; the signature is kept out of `repr`."""

    access_key_id: str
    date: str  # YYYYMMDD, from the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str = field(repr=False)


@runtime_checkable
class _MultiValued(Protocol):
    """A header mapping that can hold a name more than once (aiohttp's CIMultiDictProxy)."""

    def getall(self, key: str, default: list[str], /) -> list[str]: ...


def _missing_token() -> AuthError:
    return AuthError("Missing Authentication Token", code="MissingAuthenticationTokenException")


def _malformed(reason: str) -> AuthError:
    return AuthError(
        f"malformed Authorization header: {reason}", code="IncompleteSignatureException", status=400
    )


def parse_authorization(header: str | None) -> Authorization:
    """Split a SigV4 `Authorization` header into its parts.

    The three parameters may come in any order, separated by commas and optional spaces,
    as AWS accepts them.

    Raises:
        AuthError: the header is missing, or is not a well-formed AWS4-HMAC-SHA256 header.
    """
    if header is None or not header.strip():
        raise _missing_token()
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _malformed(f"the algorithm must be {ALGORITHM}")
    params = _parameters(rest)
    akid, date, region, service = _credential_scope(params["Credential"])
    return Authorization(
        access_key_id=akid,
        date=date,
        region=region,
        service=service,
        signed_headers=_signed_headers(params["SignedHeaders"]),
        signature=_signature(params["Signature"]),
    )


def _parameters(rest: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name in params:
            raise _malformed("expected Credential=..., SignedHeaders=..., Signature=...")
        params[name] = value
    if sorted(params) != ["Credential", "Signature", "SignedHeaders"]:
        raise _malformed("expected Credential=..., SignedHeaders=..., Signature=...")
    return params


def _credential_scope(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != _SCOPE_PARTS or not all(parts) or parts[4] != SCOPE_TERMINATOR:
        raise _malformed("Credential must be KEY/YYYYMMDD/REGION/SERVICE/aws4_request")
    akid, date, region, service, _ = parts
    if len(date) != 8 or not date.isdigit():
        raise _malformed("the credential scope date must be YYYYMMDD")
    return akid, date, region, service


def _signed_headers(value: str) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if not all(names) or any(name != name.lower() for name in names):
        raise _malformed("SignedHeaders must be lower-case names separated by ';'")
    if "host" not in names:
        raise _malformed("'host' must be a signed header")
    return names


def _signature(value: str) -> str:
    if len(value) != _SIGNATURE_HEX_LEN or value.strip("0123456789abcdef"):
        raise _malformed("Signature must be 64 lower-case hex digits")
    return value


def verify_request(
    *,
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    payload_sha256: str,
    credentials: Mapping[str, str] | None,
    now: datetime,
    max_skew_s: float = DEFAULT_MAX_SKEW_S,
) -> SignedBy:
    """Check a request's SigV4 signature as CodeArtifact would, and say who signed it.

    Args:
        method: the HTTP method.
        path: the raw, percent-encoded request path (see the module docstring).
        query_string: the raw query string as received, without the `?`.
        headers: the received headers, looked up case-insensitively.
        payload_sha256: the hex payload hash the client signed (see the module docstring).
        credentials: access key id -> secret access key; None accepts any well-formed
            signature, since without secrets nothing can be checked.
        now: the server's clock, timezone-aware.
        max_skew_s: how far `x-amz-date` may be from `now`, either way.

    Raises:
        AuthError: the request must be refused; `code` and `status` say how.
    """
    auth = parse_authorization(headers.get("authorization"))
    amz_date = _check_date(headers.get("x-amz-date"), auth, now, max_skew_s)
    signed_by = SignedBy(auth.access_key_id, auth.region, auth.service)
    if credentials is None:
        return signed_by
    secret = credentials.get(auth.access_key_id)
    if secret is None:
        raise AuthError(
            "The security token included in the request is invalid.",
            code="UnrecognizedClientException",
        )
    signer = _ReceivedRequestSigner(
        Credentials(auth.access_key_id, secret),
        auth,
        _signed_header_values(headers, auth.signed_headers),
        payload_sha256,
    )
    expected = signer.signature_of(method, _placeholder_url(path, query_string), amz_date)
    if not hmac.compare_digest(expected.encode("ascii"), auth.signature.encode("ascii")):
        raise AuthError(
            "The request signature we calculated does not match the signature you provided."
            " Check your AWS Secret Access Key and signing method."
        )
    return signed_by


def _check_date(value: str | None, auth: Authorization, now: datetime, max_skew_s: float) -> str:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if value is None:
        raise _malformed("the request has no x-amz-date header")
    try:
        signed_at = datetime.strptime(value, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise _malformed("x-amz-date must be YYYYMMDDTHHMMSSZ") from None
    if value[:8] != auth.date:
        raise _malformed("the credential scope date does not match x-amz-date")
    skew = timedelta(seconds=max_skew_s)
    if signed_at < now - skew:
        raise AuthError(
            f"Signature expired: {value} is now earlier than {_stamp(now - skew)}"
            f" ({_stamp(now)} - {max_skew_s:g} s)."
        )
    if signed_at > now + skew:
        raise AuthError(
            f"Signature not yet current: {value} is still later than {_stamp(now + skew)}"
            f" ({_stamp(now)} + {max_skew_s:g} s)."
        )
    return value


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(SIGV4_TIMESTAMP)


def _signed_header_values(
    headers: Mapping[str, str], names: tuple[str, ...]
) -> list[tuple[str, str]]:
    values: list[tuple[str, str]] = []
    for name in names:
        found = headers.getall(name, []) if isinstance(headers, _MultiValued) else []
        if not found and name in headers:
            found = [headers[name]]
        if not found:
            raise _malformed(f"signed header {name!r} is not in the request")
        values.extend((name, value) for value in found)
    return values


def _placeholder_url(path: str, query_string: str) -> str:
    pairs = (pair.partition("=") for pair in query_string.split("&") if pair)
    query = "&".join(f"{_requote(key)}={_requote(value)}" for key, _, value in pairs)
    return f"{_PLACEHOLDER_ORIGIN}{path}?{query}" if query else f"{_PLACEHOLDER_ORIGIN}{path}"


def _requote(component: str) -> str:
    # Decode to bytes first so that a non-UTF-8 escape survives the round trip.
    return quote(unquote_to_bytes(component), safe=_QUERY_SAFE)


class _ReceivedRequestSigner(SigV4Auth):
    """botocore's SigV4 signer fed the request as received, not as a client would build it.

    Clients choose which headers to sign and declare it in `SignedHeaders`; the server signs
    exactly those, with the payload hash the client signed.
    """

    def __init__(
        self,
        credentials: Credentials,
        auth: Authorization,
        signed_headers: list[tuple[str, str]],
        payload_sha256: str,
    ) -> None:
        super().__init__(credentials, auth.service, auth.region)
        self._received_headers = signed_headers
        self._payload_sha256 = payload_sha256

    def signature_of(self, method: str, url: str, amz_date: str) -> str:
        """The hex signature of `method url`, signed at `amz_date`, as botocore computes it."""
        request = AWSRequest(method=method, url=url)
        request.context["timestamp"] = amz_date
        canonical_request: str = self.canonical_request(request)
        signature: str = self.signature(self.string_to_sign(request, canonical_request), request)
        return signature

    def headers_to_sign(self, request: Any) -> HTTPHeaders:
        header_map = HTTPHeaders()
        for name, value in self._received_headers:
            header_map[name] = value  # appends: repeated headers are joined with ','
        return header_map

    def payload(self, request: Any) -> str:
        return self._payload_sha256
