"""HttpSource against a real aiohttp server over loopback (tests/sources_server.py)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from structlog.testing import capture_logs

from tests.sources_server import FileServer
from uploader.errors import InvalidInputError
from uploader.sources.base import SourceObject
from uploader.sources.errors import (
    PermanentSourceError,
    SourceChangedError,
    SourceDeniedError,
    SourceError,
    SourceNotFoundError,
    TransientSourceError,
)
from uploader.sources.http import HttpSettings, HttpSource

TOKEN = "Bearer s3cr3t-t0ken"
DATA = b"0123456789" * 100_000


@pytest.fixture
async def server() -> AsyncIterator[FileServer]:
    """A file server on port 0 holding `a.tgz`, with its true checksums declared."""
    files = FileServer(auth=TOKEN)
    files.put("a.tgz", DATA)
    await files.start()
    try:
        yield files
    finally:
        await files.stop()


def source(**settings: object) -> HttpSource:
    """An HttpSource that may read http:// (the test server's), with no netrc file."""
    settings.setdefault("allow_http", True)
    environ = {"TOKEN": TOKEN, "NETRC": "/nonexistent/netrc"}
    return HttpSource(HttpSettings(**settings), environ=environ)  # type: ignore[arg-type]


async def read_all(http: HttpSource, obj: SourceObject) -> bytes:
    """The whole body of `obj`, read through `open`."""
    async with await http.open(obj) as body:
        return b"".join([chunk async for chunk in body])


async def test_stat_reads_size_identity_and_artifactory_checksums(server: FileServer) -> None:
    """stat gives the length, ETag, Last-Modified and the X-Checksum-Sha256/-Sha1 values."""
    async with source() as http:
        obj = await http.stat(f"{server.base()}/files/a.tgz")
    assert obj.size_bytes == len(DATA)
    assert obj.sha256 == hashlib.sha256(DATA).hexdigest()
    assert obj.sha1 == hashlib.sha1(DATA, usedforsecurity=False).hexdigest()
    assert obj.identity.etag == server.files["a.tgz"].etag
    assert obj.identity.last_modified is not None


async def test_open_streams_exactly_the_body(server: FileServer) -> None:
    """open yields the object's bytes, in chunks, and sends If-Match with its ETag."""
    async with source() as http:
        obj = await http.stat(f"{server.base()}/files/a.tgz")
        assert await read_all(http, obj) == DATA
    method, _, headers = server.requests[-1]
    assert (method, headers["If-Match"]) == ("GET", obj.identity.etag)
    assert headers["Accept-Encoding"] == "identity"


async def test_no_declared_checksums_give_none(server: FileServer) -> None:
    """A server without X-Checksum headers (Nexus, a plain web server) declares no hash."""
    server.put("plain.bin", b"x", declare=False)
    async with source() as http:
        obj = await http.stat(f"{server.base()}/files/plain.bin")
    assert (obj.sha256, obj.sha1) == (None, None)


async def test_changed_object_is_a_permanent_error(server: FileServer) -> None:
    """An object replaced between stat and open fails with SourceChangedError (412)."""
    async with source() as http:
        obj = await http.stat(f"{server.base()}/files/a.tgz")
        server.put("a.tgz", DATA + b"!")
        with pytest.raises(SourceChangedError, match=r"412") as raised:
            await http.open(obj)
    assert not isinstance(raised.value, TransientSourceError)


async def test_change_is_seen_when_the_server_ignores_if_match(server: FileServer) -> None:
    """A reply with another ETag than the stat's is a change, whatever the server checks."""
    async with source() as http:
        obj = await http.stat(f"{server.base()}/files/a.tgz")
        server.put("a.tgz", DATA)
        server.files["a.tgz"].etag = '"other"'
        stale = SourceObject(obj.url, obj.size_bytes, None, None, obj.identity.__class__())
        assert await read_all(http, stale) == DATA  # no identity: nothing to compare
        weak = obj.identity.__class__(etag="W/" + obj.identity.etag)  # type: ignore[operator]
        with pytest.raises(SourceChangedError, match="ETag"):
            await http.open(SourceObject(obj.url, obj.size_bytes, None, None, weak))


async def test_a_server_refusing_head_is_asked_by_get(server: FileServer) -> None:
    """A 405 to HEAD (presigned URLs, some proxies) falls back to GET for the stat."""
    async with source() as http:
        obj = await http.stat(f"{server.base()}/nohead/a.tgz")
        assert obj.size_bytes == len(DATA)
        assert await read_all(http, obj) == DATA
    assert [method for method, _, _ in server.requests] == ["HEAD", "GET", "GET"]


async def test_404_names_the_url(server: FileServer) -> None:
    """A missing object is a SourceNotFoundError: `source: URL: 404 Not Found`."""
    url = f"{server.base()}/files/missing.tgz"
    async with source() as http:
        with pytest.raises(SourceNotFoundError) as raised:
            await http.stat(url)
    assert str(raised.value) == f"source: {url}: 404 Not Found"
    assert isinstance(raised.value, PermanentSourceError)


async def test_5xx_is_transient_then_succeeds(server: FileServer) -> None:
    """A 503 is a TransientSourceError; the next try reads the object."""
    url = f"{server.base()}/flaky/1/a.tgz"
    async with source() as http:
        with pytest.raises(TransientSourceError, match="503"):
            await http.stat(url)
        obj = await http.stat(url)
        assert await read_all(http, obj) == DATA


async def test_reset_mid_body_is_transient(server: FileServer) -> None:
    """A connection closed halfway through the body is a TransientSourceError."""
    async with source() as http:
        obj = await http.stat(f"{server.base()}/reset/a.tgz")
        with pytest.raises(TransientSourceError, match=r"/reset/a\.tgz"):
            await read_all(http, obj)


async def test_a_stalled_body_times_out(server: FileServer) -> None:
    """A server that stops sending is a TransientSourceError after the read timeout."""
    async with source(read_timeout_s=0.3) as http:
        obj = await http.stat(f"{server.base()}/stall/a.tgz")
        with pytest.raises(TransientSourceError, match="timed out"):
            await read_all(http, obj)


async def test_a_refused_connection_is_transient() -> None:
    """Nothing listening is a TransientSourceError naming the URL."""
    async with source(connect_timeout_s=1) as http:
        with pytest.raises(TransientSourceError, match=r"source: http://127.0.0.1:9/x: "):
            await http.stat("http://127.0.0.1:9/x")


async def test_header_auth_from_the_environment(server: FileServer) -> None:
    """A configured header `env:NAME` sends the variable's value; without it, 401."""
    url = f"{server.base()}/private/a.tgz"
    async with source(headers={"Authorization": "env:TOKEN"}) as http:
        obj = await http.stat(url)
        assert await read_all(http, obj) == DATA
    async with source() as http:
        with pytest.raises(SourceDeniedError, match="401"):
            await http.stat(url)


def test_missing_header_variable_names_it_not_a_value() -> None:
    """A header naming an unset variable is bad input, naming the header and variable."""
    with pytest.raises(InvalidInputError, match=r"source header Authorization: \$NOPE"):
        HttpSource(HttpSettings(headers={"Authorization": "env:NOPE"}), environ={})


async def test_netrc_credentials_for_the_host(server: FileServer, tmp_path: Path) -> None:
    """A netrc entry for the host is sent as Basic auth."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password pa55-w0rd\n")
    netrc.chmod(0o600)
    server.auth = aiohttp.encode_basic_auth("alice", "pa55-w0rd")
    async with source(netrc_path=netrc) as http:
        obj = await http.stat(f"{server.base()}/private/a.tgz")
        assert await read_all(http, obj) == DATA


async def test_netrc_from_the_environment_variable(server: FileServer, tmp_path: Path) -> None:
    """$NETRC names the netrc file when none is configured."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login bob password hunter2\n")
    netrc.chmod(0o600)
    server.auth = aiohttp.encode_basic_auth("bob", "hunter2")
    http = HttpSource(HttpSettings(allow_http=True), environ={"NETRC": str(netrc)})
    async with http:
        await http.stat(f"{server.base()}/private/a.tgz")


async def test_auth_is_not_sent_to_another_host_after_a_redirect(server: FileServer) -> None:
    """Redirected to another host, the request carries no Authorization header."""
    url = f"{server.base()}/redirect/2/a.tgz"
    async with source(headers={"Authorization": "env:TOKEN"}) as http:
        obj = await http.stat(url)
        assert await read_all(http, obj) == DATA
    hosts = [(headers["Host"].split(":")[0], "Authorization" in headers)
             for _, _, headers in server.requests]  # fmt: skip
    assert hosts == [
        ("127.0.0.1", True), ("localhost", False), ("127.0.0.1", False),
    ] * 2  # fmt: skip


async def test_redirects_are_bounded(server: FileServer) -> None:
    """More than five redirects fail the asset."""
    async with source() as http:
        await http.stat(f"{server.base()}/redirect/5/a.tgz")
        with pytest.raises(PermanentSourceError, match="more than 5 redirects"):
            await http.stat(f"{server.base()}/redirect/6/a.tgz")


async def test_redirect_to_another_scheme_is_refused(server: FileServer) -> None:
    """A redirect to file:// (or any non-http(s) scheme) is refused."""
    async with source() as http:
        with pytest.raises(PermanentSourceError, match="scheme 'file' refused"):
            await http.stat(f"{server.base()}/to/{quote('file:///etc/passwd', safe='')}")


async def test_http_needs_allow_http(server: FileServer) -> None:
    """Without allow_http an http:// URL is refused before any request."""
    async with source(allow_http=False) as http:
        with pytest.raises(PermanentSourceError, match=r"http:// is not allowed"):
            await http.stat(f"{server.base()}/files/a.tgz")
    assert server.requests == []


async def test_no_credential_in_errors_logs_or_repr(server: FileServer, tmp_path: Path) -> None:
    """Neither the token, nor a netrc password, nor a URL's user-info or query reaches a
    message, a log line or the source's repr."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine localhost login carol password n3trc-pw\n")
    netrc.chmod(0o600)
    secrets = ("s3cr3t-t0ken", "n3trc-pw", "url-pw", "sig-value")
    seen: list[str] = []
    with capture_logs() as logs:
        async with source(headers={"Authorization": "env:TOKEN"}) as http:
            seen.append(repr(http))
            for url in (
                f"http://user:url-pw@127.0.0.1:{server.port}/files/missing",
                f"{server.base()}/private/missing?X-Amz-Signature=sig-value",
                f"{server.base()}/redirect/9/a.tgz",
            ):
                with pytest.raises(SourceError) as raised:
                    await http.stat(url)
                seen.append(str(raised.value))
        async with source(netrc_path=netrc) as http:
            with pytest.raises(SourceError) as raised:
                await http.stat(f"http://localhost:{server.port}/private/a.tgz")
            seen.append(str(raised.value))
    assert len(seen) == 5
    assert len(logs) == 6  # the redirects followed, at debug level
    seen.extend(str(line) for line in logs)
    assert not [s for s in seen if any(secret in s for secret in secrets)]
    assert "?…" in seen[2]
