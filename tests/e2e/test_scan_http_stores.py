"""`uploader scan --artifactory/--nexus` against the store fakes, over loopback HTTP."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner, Result

from tests.stores_fakes import PASSWORD, TOKEN, USER, StoredFile, StoreServer
from uploader.cli import main
from uploader.errors import FatalRemoteError, InvalidInputError
from uploader.stores.http import (
    GuardedClient,
    Origin,
    SourceAuth,
    open_session,
    parse_source_header,
)

TARGET = ("--domain", "demo", "--repository", "repo")
BEARER = ("--source-header", "Authorization: env:STORE_TOKEN")
ENV = {"STORE_TOKEN": f"Bearer {TOKEN}"}


def packages(count: int, *, sha256_every: int = 1) -> dict[str, StoredFile]:
    """`acme/tool-N/1.N/tool-N.tgz` for N < count; only every `sha256_every`th has a SHA-256."""
    return {
        f"acme/tool-{n}/1.{n}/tool-{n}.tgz": StoredFile(
            b"tool %d" % n, sha256=n % sha256_every == 0
        )
        for n in range(count)
    }


@pytest.fixture
def store() -> Iterator[StoreServer]:
    """A store fake holding `generic-local`: 50 packages, SHA-256s on every other one."""
    server = StoreServer(repos={"generic-local": packages(50, sha256_every=2)}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def no_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME is an empty folder: no developer's ~/.netrc is read."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def scan(*args: str, env: dict[str, str] | None = None) -> Result:
    """`uploader scan ARGS` in this process."""
    return CliRunner().invoke(main, ["scan", *args], env=env, catch_exceptions=False)


def lines(output: str) -> list[dict[str, Any]]:
    """The manifest's entries."""
    return [json.loads(line) for line in output.splitlines()]


def test_artifactory_repository_scans_to_a_manifest_validate_accepts(
    store: StoreServer, tmp_path: Path
) -> None:
    """50 packages become url assets with sha2 as sha256 where given, sha1 always; validate OK."""
    manifest = tmp_path / "m.jsonl"
    result = scan("--artifactory", f"{store.url}/artifactory", "generic-local", *BEARER,
                  "-o", str(manifest), env=ENV)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    entries = lines(manifest.read_text())
    assert sorted(e["package"] for e in entries) == sorted(f"tool-{n}" for n in range(50))
    by_package = {e["package"]: e["assets"][0] for e in entries}
    body = b"tool 3"
    assert by_package["tool-3"] == {
        "url": f"{store.url}/artifactory/generic-local/acme/tool-3/1.3/tool-3.tgz",
        "name": "tool-3.tgz",
        "size": len(body),
        "sha1": hashlib.sha1(body).hexdigest(),
        "last_modified": "2026-01-02T03:04:05.678Z",
    }
    assert by_package["tool-4"]["sha256"] == hashlib.sha256(b"tool 4").hexdigest()
    checked = CliRunner().invoke(main, ["validate", str(manifest), *TARGET])
    assert checked.exit_code == 0, checked.output
    assert "OK, 50 version(s), 50 asset(s)" in checked.output


def test_artifactory_credentials_from_netrc(store: StoreServer, no_netrc: Path) -> None:
    """A ~/.netrc entry for the host is sent as basic auth."""
    netrc = no_netrc / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    result = scan("--artifactory", f"{store.url}/artifactory", "generic-local")
    assert result.exit_code == 0, result.stderr
    assert len(lines(result.stdout)) == 50


def test_artifactory_without_credentials_is_401_exit_3(store: StoreServer) -> None:
    """No credentials: exit 3, the URL and 401 named, with a hint where to give them."""
    result = scan("--artifactory", f"{store.url}/artifactory", "generic-local")
    assert result.exit_code == 3
    assert "401 Unauthorized (give credentials in ~/.netrc or with --source-header)" in (
        result.stderr
    )


def test_unknown_repository_is_404_exit_3(store: StoreServer) -> None:
    """A repository the store does not have: exit 3 naming the 404, for both stores."""
    for flag, base in (("--artifactory", "/artifactory"), ("--nexus", "")):
        result = scan(flag, f"{store.url}{base}", "nope", *BEARER, env=ENV)
        assert result.exit_code == 3
        assert "404 Not Found" in result.stderr


def test_artifactory_layout_problems_are_the_local_scans(store: StoreServer) -> None:
    """Files outside the layout are reported with the local scan's messages."""
    store.repos["generic-local"]["readme.md"] = StoredFile(b"r")
    store.repos["generic-local"]["acme/tool-1/bad version/x.tgz"] = StoredFile(b"x")
    result = scan("--artifactory", f"{store.url}/artifactory", "generic-local", *BEARER, env=ENV)
    assert result.exit_code == 1
    assert "readme.md: a file where layout '{namespace}/{package}/{version}/' expects a folder" in (
        result.stderr
    )
    assert "acme/tool-1/bad version/: version 'bad version'" in result.stderr
    assert len(lines(result.stdout)) == 50


def test_nexus_pages_are_read_whole_and_sorted(tmp_path: Path) -> None:
    """35 assets in pages of 10, in Nexus's own order, come out sorted, with sha1 and no sha256."""
    server = StoreServer(repos={"raw-hosted": packages(35)}, page_size=10).start()
    try:
        manifest = tmp_path / "m.jsonl"
        result = scan("--nexus", server.url, "raw-hosted", *BEARER, "-o", str(manifest), env=ENV)
        pages = [s for s in server.seen if s.path_qs.startswith("/service/rest/v1/assets")]
    finally:
        server.stop()
    assert result.exit_code == 0, result.stderr
    entries = lines(manifest.read_text())
    assert [e["package"] for e in entries] == sorted(f"tool-{n}" for n in range(35))
    asset = entries[0]["assets"][0]
    assert asset["url"] == f"{server.url}/repository/raw-hosted/acme/tool-0/1.0/tool-0.tgz"
    assert asset["sha1"] == hashlib.sha1(b"tool 0").hexdigest()
    assert "sha256" not in asset
    assert len(pages) == 4
    checked = CliRunner().invoke(main, ["validate", str(manifest), *TARGET])
    assert checked.exit_code == 0, checked.output


def test_nexus_repeated_token_ends_the_listing_with_a_problem() -> None:
    """A continuationToken given twice ends the listing (no loop); exit 1 names it."""
    server = StoreServer(repos={"raw": packages(35)}, page_size=10, repeat_token=True).start()
    try:
        result = scan("--nexus", server.url, "raw", *BEARER, env=ENV)
        requests = len(server.seen)
    finally:
        server.stop()
    assert result.exit_code == 1
    assert "<raw>: the server gave a continuationToken again" in result.stderr
    assert requests == 2  # the first page, then the page that gives its token again
    assert len(lines(result.stdout)) == 20


def test_auth_header_is_not_sent_to_another_host_on_redirect(
    store: StoreServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A redirect to another origin is followed without the header; it is never printed."""
    caplog.set_level(logging.DEBUG)
    front = StoreServer(redirect_to=store.url).start()
    store.open_access = True
    try:
        result = scan("--artifactory", f"{front.url}/artifactory", "generic-local", *BEARER,
                      env=ENV)  # fmt: skip
    finally:
        front.stop()
    assert result.exit_code == 0, result.stderr
    assert all(seen.headers.get("Authorization") == f"Bearer {TOKEN}" for seen in front.seen)
    assert store.seen
    assert not any("Authorization" in seen.headers for seen in store.seen)
    assert TOKEN not in result.stdout + result.stderr + caplog.text


def test_redirect_loops_end_after_a_bound(store: StoreServer) -> None:
    """A server that redirects to itself ends the scan after MAX_REDIRECTS: exit 3."""
    store.redirect_to = store.url
    result = scan("--nexus", store.url, "generic-local", *BEARER, env=ENV)
    assert result.exit_code == 3
    assert "more than 5 redirects" in result.stderr


def test_secrets_are_not_in_errors(store: StoreServer) -> None:
    """A netrc that cannot be parsed, or a header without its variable, is named, not shown."""
    home = Path.home()
    (home / ".netrc").write_text(f"machine h login u password {PASSWORD} bogus\n")
    (home / ".netrc").chmod(0o600)
    broken = scan("--artifactory", f"{store.url}/artifactory", "generic-local")
    assert broken.exit_code == 2
    assert "cannot read" in broken.stderr
    assert PASSWORD not in broken.stderr
    (home / ".netrc").unlink()
    unset = scan("--nexus", store.url, "r", "--source-header", "Authorization: env:NOT_SET_VAR")
    assert unset.exit_code == 2
    assert "--source-header Authorization: $NOT_SET_VAR is not set" in unset.stderr


async def test_replies_larger_than_the_bound_are_refused(store: StoreServer) -> None:
    """A reply past max_reply_bytes ends the request with FatalRemoteError."""
    store.open_access = True
    url = f"{store.url}/artifactory/api/storage/generic-local?list&deep=1&listFolders=0"
    async with open_session() as session:
        client = GuardedClient(session, SourceAuth(Origin.of(store.url)), max_reply_bytes=100)
        with pytest.raises(FatalRemoteError, match="larger than 100 bytes"):
            await client.get_json(url)


async def test_transient_failures_are_tried_again_then_fatal() -> None:
    """A refused connection is tried ATTEMPTS times with the set waits, then FatalRemoteError."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with open_session() as session:
        client = GuardedClient(session, SourceAuth(Origin.of("http://127.0.0.1:9")), sleep=sleep)
        with pytest.raises(FatalRemoteError, match=r"source: http://127\.0\.0\.1:9/x: Client"):
            await client.get_json("http://127.0.0.1:9/x")
    assert waits == [1.0, 4.0]


def test_source_headers_are_parsed_and_never_shown() -> None:
    """`Name: value` and `Name: env:VAR` are headers; SourceAuth's repr names, never values."""
    assert parse_source_header("X-JFrog-Art-Api: abc") == ("X-JFrog-Art-Api", "abc")
    env = {"T": "Bearer zzz"}
    assert parse_source_header("Authorization: env:T", env) == ("Authorization", "Bearer zzz")
    for bad in ("no colon", ": v", "Bad Name: v"):
        with pytest.raises(InvalidInputError):
            parse_source_header(bad, {})
    auth = SourceAuth(Origin.of("https://h"), [("Authorization", "Bearer zzz")])
    assert "zzz" not in repr(auth)
    assert auth.for_url("https://h:443/x") == {"Authorization": "Bearer zzz"}
    assert auth.for_url("https://other/x") == {}
    assert auth.for_url("http://h/x") == {}  # another scheme is another origin


async def test_the_fake_answers_401_404_and_pages(store: StoreServer) -> None:
    """The fake itself: 401 without auth, 404 for an unknown repo, tokens until the end."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{store.url}/service/rest/v1/assets?repository=generic-local") as r:
            assert r.status == 401
        async with session.get(
            f"{store.url}/service/rest/v1/assets?repository=x", headers=headers
        ) as r:
            assert r.status == 404
        token, items = "", 0
        while token is not None:
            query = f"&continuationToken={token}" if token else ""
            url = f"{store.url}/service/rest/v1/assets?repository=generic-local{query}"
            async with session.get(url, headers=headers) as r:
                page = await r.json()
            items += len(page["items"])
            token = page["continuationToken"]
    assert items == 50


def test_bad_arguments_leave_an_existing_manifest_alone(store: StoreServer, tmp_path: Path) -> None:
    """A header naming an unset variable, or a bad layout, fails before -o is opened."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("kept\n")
    unset = scan("--nexus", store.url, "r", "--source-header", "Authorization: env:NOT_SET_VAR",
                 "-o", str(manifest))  # fmt: skip
    layout = scan("--nexus", store.url, "r", "--layout", "{package}/", "-o", str(manifest))
    assert (unset.exit_code, layout.exit_code) == (2, 2)
    assert manifest.read_text() == "kept\n"
