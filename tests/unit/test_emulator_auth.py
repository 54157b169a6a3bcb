"""SigV4 verification in the emulator, checked against signatures the real SDK makes.

Requests are built and signed by a real botocore `codeartifact` client; a `before-send`
hook captures the prepared request and answers with an empty reply, so each test sees
exactly what the SDK would put on the wire.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aioboto3
import botocore.session
import pytest
from aiohttp import web
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from uploader.emulator.auth import (
    AuthError,
    SignedBy,
    parse_authorization,
    verify_request,
)

AKID = "AKIDAUTHTEST"
SECRET = "auth/test+SECRET/value0123456789abcdefghij"
REGION = "eu-west-3"
ENDPOINT = "http://127.0.0.1:8123"
ASSET = b"the asset's bytes"
ASSET_SHA256 = hashlib.sha256(ASSET).hexdigest()
CREDENTIALS = {AKID: SECRET}


class _EmptyBody:
    """The raw body of the dummy reply the capture hook returns."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b"{}"


@dataclass(frozen=True)
class Received:
    """A captured request as the emulator's HTTP layer hands it to `verify_request`."""

    method: str
    path: str
    query_string: str
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def signed_at(self) -> datetime:
        return datetime.strptime(self.headers["x-amz-date"], SIGV4_TIMESTAMP).replace(tzinfo=UTC)

    @property
    def signature(self) -> str:
        return parse_authorization(self.headers["authorization"]).signature

    def payload_sha256(self) -> str:
        declared = self.headers.get("x-amz-content-sha256")
        return declared or hashlib.sha256(self.body).hexdigest()

    def verify(self, credentials: dict[str, str] | None = CREDENTIALS, **changes: Any) -> SignedBy:
        """`verify_request` with this request's parts, clock at signing time, and `changes`."""
        arguments: dict[str, Any] = {
            "method": self.method,
            "path": self.path,
            "query_string": self.query_string,
            "headers": self.headers,
            "payload_sha256": self.payload_sha256(),
            "credentials": credentials,
            "now": self.signed_at,
        }
        arguments.update(changes)
        return verify_request(**arguments)

    def with_headers(self, **replacements: str) -> CIMultiDictProxy[str]:
        headers = CIMultiDict(self.headers)
        for name, value in replacements.items():
            headers[name.replace("_", "-")] = value
        return CIMultiDictProxy(headers)


def _received(prepared: AWSPreparedRequest) -> Received:
    url = urlsplit(prepared.url)
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in prepared.headers.items():
        headers.add(name, value.decode() if isinstance(value, bytes) else value)
    if "host" not in headers:
        headers["Host"] = url.netloc  # the HTTP client adds it, as botocore signed it
    body = prepared.body or b""
    return Received(
        method=prepared.method,
        path=url.path,
        query_string=url.query,
        headers=CIMultiDictProxy(headers),
        body=body.encode() if isinstance(body, str) else body,
    )


def _capture(call: Callable[[Any], object], *, secret: str = SECRET, akid: str = AKID) -> Received:
    """Run `call(client)` on a real codeartifact client; return the request it would send."""
    client = botocore.session.get_session().create_client(
        "codeartifact",
        region_name=REGION,
        endpoint_url=ENDPOINT,
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )
    sent: list[AWSPreparedRequest] = []

    def reply_empty(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        sent.append(request)
        return AWSResponse(request.url, 200, {}, _EmptyBody())

    client.meta.events.register("before-send", reply_empty)
    try:
        call(client)
    finally:
        client.close()
    (request,) = sent
    return _received(request)


def _publish(client: Any, *, asset_name: str = "my file+1.tar.gz") -> object:
    return client.publish_package_version(
        domain="demo",
        repository="repo",
        format="generic",
        namespace="team",
        package="tool",
        packageVersion="1.0.0+build",
        assetContent=ASSET,
        assetName=asset_name,
        assetSHA256=ASSET_SHA256,
        unfinished=True,
    )


def _list_domains(client: Any) -> object:
    return client.list_domains(maxResults=5)


@pytest.fixture(scope="module")
def publish() -> Received:
    """A signed PublishPackageVersion request whose query needs percent-encoding."""
    return _capture(_publish)


@pytest.fixture(scope="module")
def json_post() -> Received:
    """A signed ListDomains request: a POST with a JSON body and no content hash header."""
    return _capture(_list_domains)


def _refusal(received: Received, **changes: Any) -> AuthError:
    with pytest.raises(AuthError) as caught:
        received.verify(**changes)
    return caught.value


# --- requests the SDK signs verify ---------------------------------------------------------


def test_publish_request_with_encoded_query_verifies(publish: Received) -> None:
    """A PublishPackageVersion request with `+` and spaces in its query verifies as sent."""
    assert "asset=my%20file%2B1.tar.gz" in publish.query_string
    assert "version=1.0.0%2Bbuild" in publish.query_string
    assert publish.headers["x-amz-content-sha256"] == ASSET_SHA256

    assert publish.verify() == SignedBy(AKID, REGION, "codeartifact")


def test_json_body_post_verifies(json_post: Received) -> None:
    """A JSON-body POST verifies against the SHA-256 of its body."""
    assert "x-amz-content-sha256" not in json_post.headers
    assert json.loads(json_post.body) == {"maxResults": 5}

    assert json_post.verify() == SignedBy(AKID, REGION, "codeartifact")


def test_json_body_changed_in_transit_is_refused(json_post: Received) -> None:
    """A body other than the one signed makes the signature mismatch."""
    other_body = hashlib.sha256(b'{"maxResults": 6}').hexdigest()

    error = _refusal(json_post, payload_sha256=other_body)

    assert "does not match the signature you provided" in str(error)


def test_any_signed_at_within_the_skew_verifies(publish: Received) -> None:
    """A signature exactly `max_skew_s` old, or that far ahead, is still accepted."""
    window = timedelta(seconds=900)

    assert publish.verify(now=publish.signed_at + window).access_key_id == AKID
    assert publish.verify(now=publish.signed_at - window).access_key_id == AKID


def test_equivalent_query_encoding_verifies(publish: Received) -> None:
    """A query encoded differently but meaning the same (lower-case hex, `a` escaped) verifies."""
    query = publish.query_string.replace("%2B", "%2b").replace("namespace=team", "namespace=te%61m")

    assert publish.verify(query_string=query).access_key_id == AKID


def test_repeated_signed_header_verifies_with_all_its_values() -> None:
    """A signed header sent twice verifies when the mapping holds both values, as aiohttp's does."""
    request = AWSRequest(method="GET", url=f"{ENDPOINT}/v1/domains?b=2&a=1")
    request.headers["Host"] = "127.0.0.1:8123"
    request.headers["x-amz-meta-tag"] = "first"
    request.headers["x-amz-meta-tag"] = "second"  # HTTPHeaders appends
    SigV4Auth(Credentials(AKID, SECRET), "codeartifact", REGION).add_auth(request)
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        headers.add(name, value)
    signed_at = datetime.strptime(headers["x-amz-date"], SIGV4_TIMESTAMP).replace(tzinfo=UTC)

    signed_by = verify_request(
        method="GET",
        path="/v1/domains",
        query_string="b=2&a=1",
        headers=CIMultiDictProxy(headers),
        payload_sha256=hashlib.sha256(b"").hexdigest(),
        credentials=CREDENTIALS,
        now=signed_at,
    )

    assert "x-amz-meta-tag" in headers["authorization"]
    assert signed_by == SignedBy(AKID, REGION, "codeartifact")


# --- requests that are refused ---------------------------------------------------------------


def test_wrong_secret_is_refused(publish: Received) -> None:
    """A key id we know, signing with another secret, gets the signature-mismatch error."""
    error = _refusal(publish, credentials={AKID: "not-the-secret"})

    assert str(error).startswith("The request signature we calculated does not match")
    assert (error.code, error.status) == ("InvalidSignatureException", 403)


def test_unknown_key_is_refused(publish: Received) -> None:
    """A key id missing from the credentials is an invalid security token."""
    error = _refusal(publish, credentials={"AKIDSOMEONEELSE": SECRET})

    assert str(error) == "The security token included in the request is invalid."
    assert error.code == "UnrecognizedClientException"


def test_missing_authorization_is_refused(publish: Received) -> None:
    """A request without an Authorization header is refused before anything else."""
    headers = CIMultiDict(publish.headers)
    del headers["Authorization"]

    error = _refusal(publish, headers=CIMultiDictProxy(headers))

    assert str(error) == "Missing Authentication Token"
    assert error.code == "MissingAuthenticationTokenException"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer abc",
        "AWS4-HMAC-SHA1 Credential=AKID/20250102/eu-west-3/codeartifact/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKID/20250102/eu-west-3/codeartifact/aws4_request, "
        "SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AKID/20250102/eu-west-3/codeartifact, "
        "SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKID/2025-01-02/eu-west-3/codeartifact/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKID/20250102/eu-west-3/codeartifact/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKID/20250102/eu-west-3/codeartifact/aws4_request, "
        "SignedHeaders=Host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKID/20250102/eu-west-3/codeartifact/aws4_request, "
        "SignedHeaders=host, Signature=xyz",
        "AWS4-HMAC-SHA256 Credential=AKID/20250102/eu-west-3/codeartifact/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64 + ", Signature=" + "1" * 64,
    ],
    ids=[
        "empty",
        "other-scheme",
        "other-algorithm",
        "no-signature",
        "short-scope",
        "bad-scope-date",
        "host-unsigned",
        "upper-case-header",
        "signature-not-hex",
        "repeated-parameter",
    ],
)
def test_malformed_authorization_is_refused(header: str) -> None:
    """Anything but a complete AWS4-HMAC-SHA256 header is refused without verifying."""
    with pytest.raises(AuthError) as caught:
        parse_authorization(header)

    assert caught.value.code in {
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
    }


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (timedelta(seconds=901), "Signature expired"),
        (timedelta(seconds=-901), "Signature not yet current"),
    ],
    ids=["too-old", "from-the-future"],
)
def test_signature_outside_the_skew_is_refused(
    publish: Received, offset: timedelta, message: str
) -> None:
    """A signature more than 15 minutes away from the server's clock is refused, either way."""
    error = _refusal(publish, now=publish.signed_at + offset)

    assert str(error).startswith(message)
    assert publish.headers["x-amz-date"] in str(error)


def test_smaller_skew_is_honoured(publish: Received) -> None:
    """`max_skew_s` sets the window: a 60 s window refuses a 61 s old signature."""
    error = _refusal(publish, now=publish.signed_at + timedelta(seconds=61), max_skew_s=60.0)

    assert str(error).startswith("Signature expired")


def test_missing_amz_date_is_refused(publish: Received) -> None:
    """Without `x-amz-date` the age of a signature is unknown, so it is refused."""
    headers = CIMultiDict(publish.headers)
    del headers["X-Amz-Date"]

    error = _refusal(publish, headers=CIMultiDictProxy(headers), credentials=None)

    assert "x-amz-date" in str(error)


def test_scope_date_other_than_amz_date_is_refused(publish: Received) -> None:
    """The credential scope must name the day of `x-amz-date`."""
    headers = publish.with_headers(x_amz_date="20200101T000000Z")

    error = _refusal(
        publish, headers=headers, now=datetime(2020, 1, 1, tzinfo=UTC), credentials=None
    )

    assert "credential scope date" in str(error)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda q: q.replace("version=1.0.0%2Bbuild", "version=1.0.1%2Bbuild"),
        lambda q: q.replace("asset=my%20file%2B1.tar.gz", "asset=my%20file%201.tar.gz"),
        lambda q: q + "&extra=1",
        lambda q: q.replace("&unfinished=true", ""),
    ],
    ids=["version", "plus-as-space", "added", "removed"],
)
def test_tampered_query_is_refused(publish: Received, tamper: Callable[[str], str]) -> None:
    """Any change to the query after signing makes the signature mismatch."""
    error = _refusal(publish, query_string=tamper(publish.query_string))

    assert "does not match the signature you provided" in str(error)


def test_tampered_path_method_or_signed_header_is_refused(publish: Received) -> None:
    """The path, the method and every signed header are covered by the signature."""
    changed_hash = hashlib.sha256(b"other bytes").hexdigest()

    for changes in (
        {"path": "/v1/package/version/publish/"},
        {"method": "PUT"},
        {"headers": publish.with_headers(host="127.0.0.1:9999")},
        {"headers": publish.with_headers(x_amz_content_sha256=changed_hash)},
    ):
        assert "does not match" in str(_refusal(publish, **changes)), changes


def test_signed_header_absent_from_the_request_is_refused(publish: Received) -> None:
    """A header named in SignedHeaders but not sent cannot be verified, so it is refused."""
    headers = CIMultiDict(publish.headers)
    del headers["x-amz-content-sha256"]

    error = _refusal(publish, headers=CIMultiDictProxy(headers))

    assert "'x-amz-content-sha256' is not in the request" in str(error)


def test_decoded_query_string_does_not_verify() -> None:
    """aiohttp's decoded `request.query_string` fails once a value holds a `%XX` of its own."""
    received = _capture(lambda client: _publish(client, asset_name="a%2Fb.tar.gz"))
    url = URL.build(path=received.path, query_string=received.query_string, encoded=True)

    assert received.verify(query_string=url.raw_query_string).access_key_id == AKID
    assert "does not match" in str(_refusal(received, query_string=url.query_string))


def test_naive_clock_is_a_programming_error(publish: Received) -> None:
    """`now` without a timezone is a caller bug, not a refused request."""
    with pytest.raises(ValueError, match="timezone-aware"):
        publish.verify(now=publish.signed_at.replace(tzinfo=None))


# --- without credentials ---------------------------------------------------------------------


def test_without_credentials_any_secret_is_accepted() -> None:
    """With no credentials to check against, a well-formed signature by any key is accepted."""
    received = _capture(_publish, akid="AKIDANYONE", secret="whatever")

    assert received.verify(credentials=None) == SignedBy("AKIDANYONE", REGION, "codeartifact")


def test_without_credentials_a_made_up_signature_is_accepted(publish: Received) -> None:
    """With no credentials, the signature is not computed, only the header's form is checked."""
    date = publish.headers["x-amz-date"]
    header = (
        f"AWS4-HMAC-SHA256 Credential=AKIDX/{date[:8]}/us-east-1/codeartifact/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'ab' * 32}"
    )

    signed_by = publish.verify(credentials=None, headers=publish.with_headers(authorization=header))

    assert signed_by == SignedBy("AKIDX", "us-east-1", "codeartifact")


def test_without_credentials_the_date_is_still_checked(publish: Received) -> None:
    """With no credentials, an expired signature is still refused."""
    error = _refusal(publish, credentials=None, now=publish.signed_at + timedelta(hours=1))

    assert str(error).startswith("Signature expired")


# --- parsing and secrecy ---------------------------------------------------------------------


def test_parse_authorization_splits_the_header(publish: Received) -> None:
    """The parsed header names the key, scope and signed headers, and hides the signature."""
    auth = parse_authorization(publish.headers["authorization"])

    assert (auth.access_key_id, auth.region, auth.service) == (AKID, REGION, "codeartifact")
    assert auth.date == publish.headers["x-amz-date"][:8]
    assert auth.signed_headers == ("host", "x-amz-content-sha256", "x-amz-date")
    assert auth.signature not in repr(auth)


def test_parse_authorization_accepts_parameters_in_any_order() -> None:
    """Credential, SignedHeaders and Signature may come in any order, with or without spaces."""
    header = (
        "AWS4-HMAC-SHA256 Signature=" + "0" * 64 + ",SignedHeaders=host;x-amz-date,"
        "Credential=AKID/20250102/eu-west-3/codeartifact/aws4_request"
    )

    auth = parse_authorization(header)

    assert (auth.access_key_id, auth.signed_headers) == ("AKID", ("host", "x-amz-date"))


def test_refusals_never_reveal_the_secret_or_signature(publish: Received) -> None:
    """No refusal's message, args or repr holds the secret, the signature or the header."""
    signature = publish.signature
    later = publish.signed_at + timedelta(hours=2)
    refusals = [
        _refusal(publish, credentials={AKID: SECRET + "x"}),
        _refusal(publish, credentials={"AKIDOTHER": SECRET}),
        _refusal(publish, now=later),
        _refusal(publish, query_string=publish.query_string + "&x=1"),
        _refusal(
            publish, headers=publish.with_headers(authorization="AWS4-HMAC-SHA256 " + signature)
        ),
        _refusal(
            publish,
            headers=publish.with_headers(
                authorization=publish.headers["authorization"].replace("host;", "")
            ),
        ),
    ]

    for error in refusals:
        shown = f"{error} {error.args!r} {error!r}"
        assert "\n" not in str(error)
        assert SECRET not in shown
        assert signature not in shown
        assert publish.headers["authorization"] not in shown


# --- over a real HTTP server -----------------------------------------------------------------


@pytest.fixture
async def signed_echo_server() -> AsyncIterator[str]:
    """An aiohttp server that verifies each request the way the emulator's HTTP layer should."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_request(
                method=request.method,
                path=request.rel_url.raw_path,
                query_string=request.rel_url.raw_query_string,
                headers=request.headers,
                payload_sha256=request.headers.get("x-amz-content-sha256")
                or hashlib.sha256(body).hexdigest(),
                credentials=CREDENTIALS,
                now=datetime.now(UTC),
            )
        except AuthError as error:
            return web.json_response(
                {"message": str(error)},
                status=error.status,
                headers={"x-amzn-ErrorType": error.code},
            )
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _publish_over_http(endpoint: str, secret: str) -> None:
    session = aioboto3.Session(
        aws_access_key_id=AKID, aws_secret_access_key=secret, region_name=REGION
    )
    config = Config(retries={"max_attempts": 1})
    async with session.client("codeartifact", endpoint_url=endpoint, config=config) as client:
        await client.publish_package_version(
            domain="demo",
            repository="repo",
            format="generic",
            package="tool",
            packageVersion="1.0.0+build",
            assetContent=ASSET,
            assetName="a&b=c ~!@^()`_+[]{};,ünï%2F.tar.gz",
            assetSHA256=ASSET_SHA256,
        )
        await client.list_domains(maxResults=5)


async def test_aioboto3_requests_verify_over_aiohttp(signed_echo_server: str) -> None:
    """aioboto3's requests, as aiohttp receives them (raw path and query), verify."""
    await _publish_over_http(signed_echo_server, SECRET)


async def test_aioboto3_wrong_secret_is_refused_over_aiohttp(signed_echo_server: str) -> None:
    """Over HTTP, a wrong secret comes back to the SDK as InvalidSignatureException."""
    with pytest.raises(ClientError) as caught:
        await _publish_over_http(signed_echo_server, "not-the-secret")

    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
