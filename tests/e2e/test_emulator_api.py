"""Every emulator operation and error case, driven by boto3 over loopback."""

from __future__ import annotations

import hashlib
import io
import sqlite3
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import DOMAIN, REGION, REPOSITORY, start_emulator
from uploader.emulator import EmulatorThread

PKG = {"domain": DOMAIN, "repository": REPOSITORY, "format": "generic", "namespace": "acme"}


def make_client(endpoint_url: str, **config: Any) -> BaseClient:
    """A boto3 CodeArtifact client with exactly one attempt per call."""
    cfg = Config(retries={"total_max_attempts": 1}, **config)
    return boto3.client("codeartifact", endpoint_url=endpoint_url, region_name=REGION, config=cfg)


@pytest.fixture
def client(emulator: EmulatorThread) -> BaseClient:
    """A boto3 client for the emulator."""
    return make_client(emulator.endpoint_url)


@pytest.fixture
def raw(emulator: EmulatorThread) -> BaseClient:
    """A client that skips botocore's parameter validation, to reach the server's own rules."""
    return make_client(emulator.endpoint_url, parameter_validation=False)


def publish(
    client: BaseClient, data: bytes, *, package: str = "app", version: str = "1.0.0",
    asset: str = "app.tar.gz", unfinished: bool = True, sha256: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Publish `data` as one asset."""
    reply: dict[str, Any] = client.publish_package_version(
        **PKG, package=package, packageVersion=version, assetName=asset,
        assetContent=io.BytesIO(data), assetSHA256=sha256 or hashlib.sha256(data).hexdigest(),
        unfinished=unfinished,
    )  # fmt: skip
    return reply


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    """The service error code and HTTP status of a ClientError."""
    error = excinfo.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


def test_domain_create_describe_and_conflict(client: BaseClient) -> None:
    """A new domain is Active and described; creating it twice is a ConflictException."""
    created = client.create_domain(domain="other")["domain"]
    assert created["name"] == "other"
    assert created["status"] == "Active"
    assert client.describe_domain(domain="other")["domain"]["owner"] == created["owner"]
    with pytest.raises(ClientError) as excinfo:
        client.create_domain(domain="other")
    assert error_code(excinfo) == ("ConflictException", 409)


def test_unknown_domain_and_repository_are_not_found(client: BaseClient) -> None:
    """Describing a missing domain or repository is ResourceNotFoundException (404)."""
    with pytest.raises(ClientError) as excinfo:
        client.describe_domain(domain="nope")
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        client.describe_repository(domain=DOMAIN, repository="nope")
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)
    assert excinfo.value.response["resourceType"] == "repository"
    with pytest.raises(ClientError) as excinfo:
        client.publish_package_version(
            domain=DOMAIN, repository="nope", format="generic", namespace="acme", package="a",
            packageVersion="1", assetName="a", assetContent=b"x",
            assetSHA256=hashlib.sha256(b"x").hexdigest(),
        )  # fmt: skip
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)


def test_repository_create_describe_and_conflict(client: BaseClient) -> None:
    """A repository is created in a domain, described, and cannot be created twice."""
    repo = client.create_repository(domain=DOMAIN, repository="second", description="d")
    assert repo["repository"]["name"] == "second"
    described = client.describe_repository(domain=DOMAIN, repository="second")["repository"]
    assert described["description"] == "d"
    assert described["domainName"] == DOMAIN
    with pytest.raises(ClientError) as excinfo:
        client.create_repository(domain=DOMAIN, repository="second")
    assert error_code(excinfo) == ("ConflictException", 409)
    with pytest.raises(ClientError) as excinfo:
        client.create_repository(domain="missing", repository="second")
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)


def test_publish_unfinished_then_finalize(client: BaseClient) -> None:
    """Assets published with unfinished=true stay Unfinished until the status update."""
    first = publish(client, b"one", asset="a.bin")
    assert first["status"] == "Unfinished"
    assert first["asset"]["hashes"]["SHA-256"] == hashlib.sha256(b"one").hexdigest()
    assert first["asset"]["size"] == 3
    publish(client, b"two", asset="b.bin")
    described = client.describe_package_version(**PKG, package="app", packageVersion="1.0.0")
    assert described["packageVersion"]["status"] == "Unfinished"
    reply = client.update_package_versions_status(
        **PKG, package="app", versions=["1.0.0"], expectedStatus="Unfinished",
        targetStatus="Published",
    )  # fmt: skip
    assert reply["successfulVersions"]["1.0.0"]["status"] == "Published"
    assert reply["failedVersions"] == {}
    assets = client.list_package_version_assets(**PKG, package="app", packageVersion="1.0.0")
    assert [a["name"] for a in assets["assets"]] == ["a.bin", "b.bin"]
    assert assets["assets"][1]["hashes"]["SHA-256"] == hashlib.sha256(b"two").hexdigest()


def test_publish_without_unfinished_publishes_and_then_conflicts(client: BaseClient) -> None:
    """Without unfinished the version becomes Published; it then takes no more assets."""
    assert publish(client, b"x", unfinished=False)["status"] == "Published"
    with pytest.raises(ClientError) as excinfo:
        publish(client, b"y", asset="other.bin")
    assert error_code(excinfo) == ("ConflictException", 409)
    assert excinfo.value.response["resourceType"] == "package-version"


def test_republish_same_content_is_idempotent_other_content_conflicts(client: BaseClient) -> None:
    """The same name and SHA-256 again is accepted; another SHA-256 is a ConflictException."""
    publish(client, b"same")
    again = publish(client, b"same")
    assert again["asset"]["hashes"]["SHA-256"] == hashlib.sha256(b"same").hexdigest()
    with pytest.raises(ClientError) as excinfo:
        publish(client, b"different")
    assert error_code(excinfo) == ("ConflictException", 409)
    assert excinfo.value.response["resourceType"] == "asset"


def test_hash_mismatch_is_a_validation_error(client: BaseClient) -> None:
    """A body whose SHA-256 differs from x-amz-content-sha256 is refused and not stored."""
    with pytest.raises(ClientError) as excinfo:
        publish(client, b"body", sha256=hashlib.sha256(b"other").hexdigest())
    assert error_code(excinfo) == ("ValidationException", 400)
    assert "The provided content hashes do not match" in str(excinfo.value)
    with pytest.raises(ClientError) as excinfo:
        client.describe_package_version(**PKG, package="app", packageVersion="1.0.0")
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"assetSHA256": "ABC"}, "x-amz-content-sha256"),
        ({"assetSHA256": "A" * 64}, "x-amz-content-sha256"),
        ({"namespace": None}, "namespace is required"),
        ({"format": "npm"}, "generic packages only"),
        ({"package": "has space"}, "Invalid parameter package"),
        ({"packageVersion": "1/2"}, "Invalid parameter version"),
        ({"assetName": "bad\x07name"}, "Invalid parameter asset"),
        ({"assetName": "x" * 256}, "Invalid parameter asset"),
        ({"domain": "Upper"}, "Invalid parameter domain"),
        ({"repository": "-bad"}, "Invalid parameter repository"),
    ],
)
def test_publish_name_rules(raw: BaseClient, override: dict[str, Any], fragment: str) -> None:
    """Each of the model's name rules is enforced by the server as a ValidationException."""
    params: dict[str, Any] = {
        **PKG, "package": "app", "packageVersion": "1.0.0", "assetName": "a",
        "assetContent": b"x", "assetSHA256": hashlib.sha256(b"x").hexdigest(),
    }  # fmt: skip
    params.update(override)
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(ClientError) as excinfo:
        raw.publish_package_version(**params)
    assert error_code(excinfo) == ("ValidationException", 400)
    assert fragment in str(excinfo.value)


def test_more_than_150_assets_exceeds_the_quota(client: BaseClient) -> None:
    """The 151st asset of a version is ServiceQuotaExceededException (402)."""
    for i in range(150):
        publish(client, b"%d" % i, asset=f"a{i}")
    with pytest.raises(ClientError) as excinfo:
        publish(client, b"last", asset="a150")
    assert error_code(excinfo) == ("ServiceQuotaExceededException", 402)


def test_asset_over_the_size_limit_exceeds_the_quota(tmp_path: Path) -> None:
    """An asset larger than the configured limit is ServiceQuotaExceededException."""
    emu = start_emulator(tmp_path, max_asset_size_bytes=1000)
    try:
        client = make_client(emu.endpoint_url)
        publish(client, b"x" * 1000, asset="fits")
        with pytest.raises(ClientError) as excinfo:
            publish(client, b"x" * 1001, asset="too-big")
        assert error_code(excinfo) == ("ServiceQuotaExceededException", 402)
    finally:
        emu.stop()


def test_update_status_reports_failures_per_version(client: BaseClient) -> None:
    """NOT_FOUND, MISMATCHED_STATUS and MISMATCHED_REVISION come back per version."""
    publish(client, b"1", version="1")
    publish(client, b"2", version="2")
    rev2 = publish(client, b"3", version="3")["versionRevision"]
    publish(client, b"x", version="4", unfinished=False)
    reply = client.update_package_versions_status(
        **PKG, package="app", versions=["1", "2", "3", "4", "9"], expectedStatus="Unfinished",
        versionRevisions={"2": "stale-revision", "3": rev2}, targetStatus="Published",
    )  # fmt: skip
    assert set(reply["successfulVersions"]) == {"1", "3"}
    codes = {v: f["errorCode"] for v, f in reply["failedVersions"].items()}
    assert codes == {"2": "MISMATCHED_REVISION", "4": "MISMATCHED_STATUS", "9": "NOT_FOUND"}


def test_update_status_not_allowed_from_a_final_status(emulator: EmulatorThread) -> None:
    """A Disposed version cannot be moved: NOT_ALLOWED."""
    client = make_client(emulator.endpoint_url)
    publish(client, b"1", version="1")
    emulator.call(
        lambda store: store._db.execute(
            "UPDATE versions SET status = 'Disposed'"
        ).connection.commit()
    )
    reply = client.update_package_versions_status(
        **PKG, package="app", versions=["1"], targetStatus="Published"
    )
    assert reply["failedVersions"]["1"]["errorCode"] == "NOT_ALLOWED"


@pytest.mark.parametrize(
    ("target", "versions"),
    [("Unfinished", ["1"]), ("Deleted", ["1"]), ("Published", [str(i) for i in range(101)])],
)
def test_update_status_validation(raw: BaseClient, target: str, versions: list[str]) -> None:
    """Unfinished or Deleted as a target, or more than 100 versions, is a ValidationException."""
    with pytest.raises(ClientError) as excinfo:
        raw.update_package_versions_status(
            **PKG, package="app", versions=versions, targetStatus=target
        )
    assert error_code(excinfo) == ("ValidationException", 400)


def test_unlist_archive_and_republish(client: BaseClient) -> None:
    """Published, Unlisted and Archived move freely; an Archived asset cannot be downloaded."""
    publish(client, b"x", unfinished=False)
    for target in ("Unlisted", "Archived"):
        reply = client.update_package_versions_status(
            **PKG, package="app", versions=["1.0.0"], targetStatus=target
        )
        assert reply["successfulVersions"]["1.0.0"]["status"] == target
    with pytest.raises(ClientError) as excinfo:
        client.get_package_version_asset(
            **PKG, package="app", packageVersion="1.0.0", asset="app.tar.gz"
        )
    assert error_code(excinfo) == ("ConflictException", 409)


def test_get_asset_returns_the_bytes_and_headers(client: BaseClient) -> None:
    """GetPackageVersionAsset streams the stored bytes with the modelled headers."""
    data = bytes(range(256)) * 1000
    publish(client, data, unfinished=False)
    reply = client.get_package_version_asset(
        **PKG, package="app", packageVersion="1.0.0", asset="app.tar.gz"
    )
    assert reply["asset"].read() == data
    assert reply["assetName"] == "app.tar.gz"
    assert reply["packageVersion"] == "1.0.0"
    assert reply["packageVersionRevision"]
    with pytest.raises(ClientError) as excinfo:
        client.get_package_version_asset(
            **PKG, package="app", packageVersion="1.0.0", asset="missing"
        )
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)


def test_list_operations_paginate(client: BaseClient) -> None:
    """ListPackages, ListPackageVersions and ListPackageVersionAssets page with max-results."""
    for p in range(3):
        for v in range(5):
            publish(client, b"%d-%d" % (p, v), package=f"pkg{p}", version=f"{v}.0")
    for a in range(7):
        publish(client, b"asset %d" % a, package="pkg0", version="0.0", asset=f"f{a}")

    def pages(operation: str, key: str, **params: Any) -> list[list[Any]]:
        paginator = client.get_paginator(operation)
        config = {"PageSize": 2}
        return [page[key] for page in paginator.paginate(**params, PaginationConfig=config)]

    packages = pages("list_packages", "packages", domain=DOMAIN, repository=REPOSITORY)
    assert [len(p) for p in packages] == [2, 1]
    assert [x["package"] for p in packages for x in p] == ["pkg0", "pkg1", "pkg2"]
    versions = pages("list_package_versions", "versions", **PKG, package="pkg1")
    assert [len(p) for p in versions] == [2, 2, 1]
    assert {x["status"] for p in versions for x in p} == {"Unfinished"}
    assets = pages("list_package_version_assets", "assets", **PKG, package="pkg0",
                   packageVersion="0.0")  # fmt: skip
    assert [x["name"] for p in assets for x in p] == ["app.tar.gz"] + [f"f{a}" for a in range(7)]


def test_list_versions_filters_and_default_display_version(client: BaseClient) -> None:
    """ListPackageVersions filters by status and names the latest Published version."""
    publish(client, b"1", version="1", unfinished=False)
    publish(client, b"2", version="2", unfinished=False)
    publish(client, b"3", version="3")
    reply = client.list_package_versions(**PKG, package="app", status="Published")
    assert [v["version"] for v in reply["versions"]] == ["1", "2"]
    assert reply["defaultDisplayVersion"] == "2"
    with pytest.raises(ClientError) as excinfo:
        client.list_package_versions(**PKG, package="missing")
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)


def test_invalid_pagination_parameters(raw: BaseClient) -> None:
    """A bad next-token or max-results is a ValidationException."""
    publish(raw, b"x")
    for params in ({"nextToken": "garbage"}, {"maxResults": 0}, {"maxResults": 1001}):
        with pytest.raises(ClientError) as excinfo:
            raw.list_packages(domain=DOMAIN, repository=REPOSITORY, **params)
        assert error_code(excinfo) == ("ValidationException", 400)


def test_delete_package_versions(client: BaseClient) -> None:
    """Deleted versions disappear; a missing one and a status mismatch are reported."""
    publish(client, b"1", version="1")
    publish(client, b"2", version="2", unfinished=False)
    reply = client.delete_package_versions(
        **PKG, package="app", versions=["1", "2", "3"], expectedStatus="Unfinished"
    )
    assert reply["successfulVersions"]["1"]["status"] == "Deleted"
    codes = {v: f["errorCode"] for v, f in reply["failedVersions"].items()}
    assert codes == {"2": "MISMATCHED_STATUS", "3": "NOT_FOUND"}
    with pytest.raises(ClientError) as excinfo:
        client.describe_package_version(**PKG, package="app", packageVersion="1")
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)


def test_small_and_large_blobs_round_trip_and_go_with_their_versions(tmp_path: Path) -> None:
    """A 64 KiB body is kept in the database, a larger one as a file; both download
    unchanged, survive a restart, and are removed when their version is deleted."""
    small, large = b"s" * 64 * 1024, bytes(range(256)) * 1025
    emu = start_emulator(tmp_path)
    try:
        client = make_client(emu.endpoint_url)
        publish(client, small, version="1", asset="small.bin")
        publish(client, large, version="2", asset="large.bin")
    finally:
        emu.stop()
    blob_files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert [p.name for p in blob_files] == [hashlib.sha256(large).hexdigest()[2:]]
    emu = start_emulator(tmp_path)
    try:
        client = make_client(emu.endpoint_url)
        for version, asset, data in (("1", "small.bin", small), ("2", "large.bin", large)):
            reply = client.get_package_version_asset(
                **PKG, package="app", packageVersion=version, asset=asset
            )
            assert reply["asset"].read() == data
        client.delete_package_versions(**PKG, package="app", versions=["1", "2"])
    finally:
        emu.stop()
    assert not any(p.is_file() for p in (tmp_path / "blobs").rglob("*"))
    with sqlite3.connect(tmp_path / "emulator.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM blobs").fetchone() == (0,)


def test_store_survives_a_restart(tmp_path: Path) -> None:
    """What one emulator process stored, the next one on the same data dir still serves."""
    data = b"persisted" * 1000
    emu = start_emulator(tmp_path)
    try:
        publish(make_client(emu.endpoint_url), data, unfinished=False)
    finally:
        emu.stop()
    emu = start_emulator(tmp_path)
    try:
        client = make_client(emu.endpoint_url)
        body = client.get_package_version_asset(
            **PKG, package="app", packageVersion="1.0.0", asset="app.tar.gz"
        )["asset"].read()
        assert body == data
    finally:
        emu.stop()


@pytest.fixture
def other_credentials_client(emulator: EmulatorThread) -> BaseClient:
    """A client signing with a secret the emulator does not know."""
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLEUPLOADER", aws_secret_access_key="wrong",
                            region_name=REGION)  # fmt: skip
    return session.client("codeartifact", endpoint_url=emulator.endpoint_url,
                         config=Config(retries={"total_max_attempts": 1}))  # fmt: skip


def test_wrong_secret_is_access_denied(other_credentials_client: BaseClient) -> None:
    """A signature made with the wrong secret is refused with 403 AccessDeniedException."""
    with pytest.raises(ClientError) as excinfo:
        other_credentials_client.describe_domain(domain=DOMAIN)
    assert error_code(excinfo) == ("AccessDeniedException", 403)
    assert "wrong" not in str(excinfo.value)


def test_unsigned_request_is_access_denied(emulator: EmulatorThread) -> None:
    """A request without a SigV4 Authorization header is refused with 403."""
    import urllib.error
    import urllib.request

    url = f"{emulator.endpoint_url}/v1/domain?domain={DOMAIN}"
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(url, timeout=10)
    assert excinfo.value.code == 403
    assert excinfo.value.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    excinfo.value.close()


def test_awkward_names_round_trip(client: BaseClient) -> None:
    """Names with characters that need encoding are signed, stored and listed unchanged."""
    # generic asset names take letters, digits, lone spaces and ~!@^&()-_+[]{};,. only, so
    # `=` and `%2F` travel in the version (see uploader/names.py)
    asset = "a&b c ~!@^()+[]{};,ünï.tar.gz"
    version = "1.0.0+build=c%2F"
    publish(client, b"odd", version=version, asset=asset)
    assets = client.list_package_version_assets(**PKG, package="app", packageVersion=version)
    assert [a["name"] for a in assets["assets"]] == [asset]
    reply = client.get_package_version_asset(
        **PKG, package="app", packageVersion=version, asset=asset
    )
    assert reply["asset"].read() == b"odd"


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("DisposePackageVersions", {**PKG, "package": "app", "versions": ["1"]}),
        ("GetAuthorizationToken", {"domain": DOMAIN}),
    ],
)
def test_a_model_operation_not_implemented_says_so(
    client: BaseClient, operation: str, params: dict[str, Any]
) -> None:
    """An operation of the model the emulator lacks is a 501 naming it, not an unknown path."""
    method = getattr(client, botocore.xform_name(operation))
    with pytest.raises(ClientError) as excinfo:
        method(**params)
    assert error_code(excinfo) == ("NotImplementedException", 501)
    assert excinfo.value.response["Error"]["Message"] == (
        f"not implemented by the emulator: {operation}"
    )


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nowhere"), ("PUT", "/v1/domain")])
def test_no_operation_at_a_path_is_unknown(
    emulator: EmulatorThread, method: str, path: str
) -> None:
    """A method and path no operation of the model has is 404 UnknownOperationException."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{emulator.endpoint_url}{path}", method=method)
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)
    assert excinfo.value.code == 404
    assert excinfo.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert f"No operation at {method} {path}" in excinfo.value.read().decode()
    excinfo.value.close()


def test_operation_tables_agree() -> None:
    """The routes of the HTTP layer and the operations quotas and faults know are the same."""
    from uploader.emulator import app, faults

    assert set(app.OPERATIONS.values()) == set(faults.OPERATIONS)
