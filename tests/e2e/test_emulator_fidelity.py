"""Issue 16, emulator fidelity: republishing, upstreams, quotas, packages, origin controls,
domains and repositories, driven by boto3 over loopback (a few by the AWS CLI)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.conftest import DOMAIN, REPOSITORY, start_emulator
from tests.e2e.test_emulator_api import PKG, error_code, make_client, publish
from uploader.emulator import EmulatorThread
from uploader.emulator.catalog import Limits

BIG = b"0123456789abcdef" * 8192  # 128 KiB: streamed to a file, not read whole


@pytest.fixture
def client(emulator: EmulatorThread) -> BaseClient:
    """A boto3 client for the emulator."""
    return make_client(emulator.endpoint_url)


@pytest.fixture
def raw(emulator: EmulatorThread) -> BaseClient:
    """A client that skips botocore's parameter validation, to reach the server's own rules."""
    return make_client(emulator.endpoint_url, parameter_validation=False)


def asset_names(client: BaseClient, version: str = "1.0.0", package: str = "app") -> list[str]:
    """The names of a version's assets, as ListPackageVersionAssets reports them."""
    reply = client.list_package_version_assets(**PKG, package=package, packageVersion=version)
    return [a["name"] for a in reply["assets"]]


# --- 1. republishing an identical asset -------------------------------------------------------


@pytest.mark.parametrize("data", [b"small", BIG], ids=["small", "streamed"])
def test_identical_republish_to_a_published_version_succeeds(
    client: BaseClient, data: bytes
) -> None:
    """Sending a Published version's asset again with the same SHA-256 succeeds, adds no
    asset and leaves the version Published at its revision."""
    first = publish(client, data, unfinished=False)
    again = publish(client, data, unfinished=True)
    assert again["status"] == "Published"
    assert again["versionRevision"] == first["versionRevision"]
    assert again["asset"]["hashes"]["SHA-256"] == hashlib.sha256(data).hexdigest()
    assert asset_names(client) == ["app.tar.gz"]


@pytest.mark.parametrize("data", [b"small", BIG], ids=["small", "streamed"])
def test_identical_republish_to_an_unfinished_version_adds_no_asset(
    client: BaseClient, data: bytes
) -> None:
    """An Unfinished version's asset sent again identically succeeds once more, one asset."""
    publish(client, data)
    assert publish(client, data)["status"] == "Unfinished"
    assert asset_names(client) == ["app.tar.gz"]


@pytest.mark.parametrize("unfinished", [True, False], ids=["unfinished", "published"])
def test_other_content_under_an_asset_name_is_a_conflict(
    client: BaseClient, unfinished: bool
) -> None:
    """Other bytes under an existing asset name are 409 ConflictException, whatever the
    version's status, and the stored asset is unchanged."""
    publish(client, b"first", unfinished=unfinished)
    with pytest.raises(ClientError) as excinfo:
        publish(client, BIG)
    assert error_code(excinfo) == ("ConflictException", 409)
    assert excinfo.value.response["resourceType"] == "asset"
    stored = client.list_package_version_assets(**PKG, package="app", packageVersion="1.0.0")
    assert stored["assets"][0]["hashes"]["SHA-256"] == hashlib.sha256(b"first").hexdigest()


def test_an_archived_version_refuses_even_an_identical_asset(client: BaseClient) -> None:
    """Only Unfinished and Published versions take an identical asset again."""
    publish(client, b"x", unfinished=False)
    client.update_package_versions_status(
        **PKG, package="app", versions=["1.0.0"], targetStatus="Archived"
    )
    with pytest.raises(ClientError) as excinfo:
        publish(client, b"x")
    assert error_code(excinfo) == ("ConflictException", 409)
    assert excinfo.value.response["resourceType"] == "package-version"


@pytest.mark.parametrize("data", [b"small", BIG], ids=["small", "streamed"])
def test_strict_republish_mode_refuses_identical_bytes(tmp_path: Path, data: bytes) -> None:
    """With republish_conflicts, even an identical second publish is a ConflictException."""
    emu = start_emulator(tmp_path, republish_conflicts=True)
    try:
        client = make_client(emu.endpoint_url)
        publish(client, data)
        with pytest.raises(ClientError) as excinfo:
            publish(client, data)
        assert error_code(excinfo) == ("ConflictException", 409)
        assert "already exists" in str(excinfo.value)
        assert asset_names(client) == ["app.tar.gz"]
    finally:
        emu.stop()


# --- 2. upstreams ------------------------------------------------------------------------------


def test_upstreams_are_stored_returned_and_replaced(client: BaseClient) -> None:
    """CreateRepository keeps its upstreams in order; Describe returns them; UpdateRepository
    replaces the list (and an absent list leaves it as it is)."""
    for name in ("up1", "up2"):
        client.create_repository(domain=DOMAIN, repository=name)
    upstreams = [{"repositoryName": "up2"}, {"repositoryName": "up1"}]
    created = client.create_repository(domain=DOMAIN, repository="down", upstreams=upstreams)
    assert created["repository"]["upstreams"] == upstreams
    described = client.describe_repository(domain=DOMAIN, repository="down")
    assert described["repository"]["upstreams"] == upstreams
    updated = client.update_repository(domain=DOMAIN, repository="down", description="d")
    assert updated["repository"]["upstreams"] == upstreams
    assert updated["repository"]["description"] == "d"
    replaced = client.update_repository(
        domain=DOMAIN, repository="down", upstreams=[{"repositoryName": REPOSITORY}]
    )
    assert replaced["repository"]["upstreams"] == [{"repositoryName": REPOSITORY}]


def test_an_upstream_must_exist_in_the_same_domain(client: BaseClient) -> None:
    """An upstream no repository of the domain has is ResourceNotFoundException naming it,
    and the repository is not created; one of another domain is not found either."""
    client.create_domain(domain="other")
    client.create_repository(domain="other", repository="elsewhere")
    for missing in ("nowhere", "elsewhere"):
        with pytest.raises(ClientError) as excinfo:
            client.create_repository(
                domain=DOMAIN, repository="down", upstreams=[{"repositoryName": missing}]
            )
        assert error_code(excinfo) == ("ResourceNotFoundException", 404)
        assert excinfo.value.response["resourceId"] == missing
    with pytest.raises(ClientError) as excinfo:
        client.describe_repository(domain=DOMAIN, repository="down")
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)


@pytest.mark.parametrize(
    ("upstreams", "fragment"),
    [
        ([f"u{i:02}" for i in range(11)], "at most 10"),
        (["u00", "u00"], "more than once"),
        (["down"], "its own upstream"),
    ],
)
def test_upstream_lists_that_are_refused(
    client: BaseClient, upstreams: list[str], fragment: str
) -> None:
    """More than 10 upstreams, one named twice, or the repository itself: ValidationException."""
    for i in range(11):
        client.create_repository(domain=DOMAIN, repository=f"u{i:02}")
    client.create_repository(domain=DOMAIN, repository="down")
    with pytest.raises(ClientError) as excinfo:
        client.update_repository(
            domain=DOMAIN, repository="down",
            upstreams=[{"repositoryName": name} for name in upstreams],
        )  # fmt: skip
    assert error_code(excinfo) == ("ValidationException", 400)
    assert fragment in str(excinfo.value)
    assert (
        client.describe_repository(domain=DOMAIN, repository="down")["repository"]["upstreams"]
        == []
    )


def test_ten_upstreams_are_allowed(client: BaseClient) -> None:
    """Exactly 10 upstreams is within the limit."""
    names = [f"u{i}" for i in range(10)]
    for name in names:
        client.create_repository(domain=DOMAIN, repository=name)
    upstreams = [{"repositoryName": name} for name in names]
    reply = client.create_repository(domain=DOMAIN, repository="down", upstreams=upstreams)
    assert reply["repository"]["upstreams"] == upstreams


# --- 3. quotas ------------------------------------------------------------------------------


def quota_error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str, str]:
    """Code, status, resourceType and resourceId of a ServiceQuotaExceededException."""
    response = excinfo.value.response
    return (*error_code(excinfo), response["resourceType"], response["resourceId"])


def test_the_eleventh_domain_exceeds_the_quota(client: BaseClient) -> None:
    """An account holds 10 domains (the fixture's is one); the 11th is a 402 in the model's
    ServiceQuotaExceededException shape, and is not created."""
    for i in range(9):
        client.create_domain(domain=f"d{i}")
    with pytest.raises(ClientError) as excinfo:
        client.create_domain(domain="d-eleven")
    assert quota_error(excinfo) == ("ServiceQuotaExceededException", 402, "domain", "d-eleven")
    assert "at most 10 domains" in excinfo.value.response["message"]
    assert len(client.list_domains()["domains"]) == 10


def test_repositories_per_domain_and_assets_per_version_are_limited(tmp_path: Path) -> None:
    """Past the configured repositories per domain, or assets per version, a 402 names the
    resource; other domains and versions are not affected."""
    emu = start_emulator(tmp_path, limits=Limits(repositories_per_domain=2, assets_per_version=2))
    try:
        client = make_client(emu.endpoint_url)
        client.create_repository(domain=DOMAIN, repository="second")
        with pytest.raises(ClientError) as excinfo:
            client.create_repository(domain=DOMAIN, repository="third")
        assert quota_error(excinfo) == (
            "ServiceQuotaExceededException", 402, "repository", "third",
        )  # fmt: skip
        client.create_domain(domain="other")
        client.create_repository(domain="other", repository="third")
        publish(client, b"1", asset="a1")
        publish(client, b"2", asset="a2")
        publish(client, b"2", asset="a2")  # an identical republish adds nothing
        with pytest.raises(ClientError) as excinfo:
            publish(client, b"3", asset="a3")
        assert quota_error(excinfo) == (
            "ServiceQuotaExceededException", 402, "package-version", "1.0.0",
        )  # fmt: skip
        publish(client, b"3", asset="a3", version="2.0")
    finally:
        emu.stop()


# --- 4. packages -----------------------------------------------------------------------------

DEFAULT_ORIGIN = {"restrictions": {"publish": "ALLOW", "upstream": "BLOCK"}}


def test_describe_package_and_not_found(client: BaseClient) -> None:
    """DescribePackage names a published package and its origin configuration (AWS's
    default for a package first published directly); a missing one is not found."""
    publish(client, b"x")
    described = client.describe_package(**PKG, package="app")["package"]
    assert described == {
        "format": "generic", "namespace": "acme", "name": "app",
        "originConfiguration": DEFAULT_ORIGIN,
    }  # fmt: skip
    with pytest.raises(ClientError) as excinfo:
        client.describe_package(**PKG, package="nope")
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)
    assert excinfo.value.response["resourceType"] == "package"


def test_list_packages_filters_by_namespace_and_prefix_and_pages(client: BaseClient) -> None:
    """ListPackages keeps the packages of a namespace and with a name prefix, page by page."""
    for namespace, package in [("acme", "lib-a"), ("acme", "lib-b"), ("acme", "tool"),
                               ("other", "lib-c")]:  # fmt: skip
        client.publish_package_version(
            **{**PKG, "namespace": namespace}, package=package, packageVersion="1",
            assetName="a", assetContent=b"a", assetSHA256=hashlib.sha256(b"a").hexdigest(),
        )  # fmt: skip
    paginator = client.get_paginator("list_packages")
    pages = list(paginator.paginate(
        domain=DOMAIN, repository=REPOSITORY, namespace="acme", packagePrefix="lib",
        PaginationConfig={"PageSize": 1},
    ))  # fmt: skip
    assert [[p["package"] for p in page["packages"]] for page in pages] == [["lib-a"], ["lib-b"]]
    everything = client.list_packages(domain=DOMAIN, repository=REPOSITORY)["packages"]
    assert [(p["namespace"], p["package"]) for p in everything] == [
        ("acme", "lib-a"), ("acme", "lib-b"), ("acme", "tool"), ("other", "lib-c"),
    ]  # fmt: skip
    assert {str(p["originConfiguration"]) for p in everything} == {str(DEFAULT_ORIGIN)}


def test_delete_package_removes_its_versions_and_assets_only(emulator: EmulatorThread) -> None:
    """DeletePackage removes every version and asset of the package (and its bytes), returns
    its summary, and leaves other packages as they were."""
    client = make_client(emulator.endpoint_url)
    for version in ("1", "2"):
        publish(client, BIG + version.encode(), version=version)  # kept as files
    publish(client, b"kept", package="keep", version="1")
    reply = client.delete_package(**PKG, package="app")
    assert reply["deletedPackage"] == {
        "format": "generic", "namespace": "acme", "package": "app",
        "originConfiguration": DEFAULT_ORIGIN,
    }  # fmt: skip
    with pytest.raises(ClientError) as excinfo:
        client.list_package_versions(**PKG, package="app")
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)
    listed = client.list_packages(domain=DOMAIN, repository=REPOSITORY)["packages"]
    assert [p["package"] for p in listed] == ["keep"]
    assert asset_names(client, "1", "keep") == ["app.tar.gz"]
    blob_dir = emulator.emulator.data_dir / "blobs"
    assert not [path for path in blob_dir.rglob("*") if path.is_file()]
    with pytest.raises(ClientError) as excinfo:
        client.delete_package(**PKG, package="app")
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)


# --- 5. origin controls -------------------------------------------------------------------------


def restrict(client: BaseClient, package: str, publish: str, upstream: str) -> dict[str, Any]:
    """PutPackageOriginConfiguration for one package of the fixture's namespace."""
    reply: dict[str, Any] = client.put_package_origin_configuration(
        **PKG, package=package, restrictions={"publish": publish, "upstream": upstream}
    )
    return reply


def test_origin_configuration_is_set_and_described(client: BaseClient) -> None:
    """PutPackageOriginConfiguration returns and stores the restrictions; on a package that
    does not exist it creates one with no versions, as AWS documents."""
    reply = restrict(client, "fresh", "BLOCK", "ALLOW")
    blocked = {"restrictions": {"publish": "BLOCK", "upstream": "ALLOW"}}
    assert reply["originConfiguration"] == blocked
    described = client.describe_package(**PKG, package="fresh")["package"]
    assert described["originConfiguration"] == blocked
    listed = client.list_packages(domain=DOMAIN, repository=REPOSITORY, publish="BLOCK")
    assert [p["package"] for p in listed["packages"]] == ["fresh"]
    assert (
        client.list_packages(domain=DOMAIN, repository=REPOSITORY, publish="ALLOW")["packages"]
        == []
    )


def test_publish_block_refuses_publishing_to_that_package_only(client: BaseClient) -> None:
    """With publish=BLOCK a publish is a ValidationException naming the origin configuration
    (and stores nothing); other packages publish; ALLOW again lets it publish."""
    publish(client, b"before", version="1")
    restrict(client, "app", "BLOCK", "BLOCK")
    for version in ("1", "2"):
        with pytest.raises(ClientError) as excinfo:
            publish(client, BIG, version=version, asset="more.bin")
        assert error_code(excinfo) == ("ValidationException", 400)
        assert "origin configuration" in excinfo.value.response["message"]
    assert asset_names(client, "1") == ["app.tar.gz"]
    publish(client, b"fine", package="other")
    restrict(client, "app", "ALLOW", "BLOCK")
    assert publish(client, b"after", version="2")["status"] == "Unfinished"


@pytest.mark.parametrize(
    "restrictions",
    [{"publish": "MAYBE", "upstream": "ALLOW"}, {"publish": "ALLOW"}],
    ids=["bad-value", "missing-member"],
)
def test_bad_restrictions_are_refused(raw: BaseClient, restrictions: dict[str, str]) -> None:
    """A restriction other than ALLOW or BLOCK, or a missing one, is a ValidationException."""
    with pytest.raises(ClientError) as excinfo:
        raw.put_package_origin_configuration(**PKG, package="app", restrictions=restrictions)
    assert error_code(excinfo) == ("ValidationException", 400)


# --- 6. domains and repositories ---------------------------------------------------------------


def test_list_domains_pages_through_every_domain(client: BaseClient) -> None:
    """ListDomains (maxResults and nextToken in its body) returns every domain, by name."""
    for name in ("b-dom", "a-dom"):
        client.create_domain(domain=name)
    pages = list(client.get_paginator("list_domains").paginate(PaginationConfig={"PageSize": 2}))
    assert [[d["name"] for d in page["domains"]] for page in pages] == [
        ["a-dom", "b-dom"], [DOMAIN],
    ]  # fmt: skip
    assert pages[0]["domains"][0]["status"] == "Active"


def test_list_repositories_with_a_prefix_in_and_across_domains(client: BaseClient) -> None:
    """ListRepositories spans domains, ListRepositoriesInDomain one; both filter by prefix
    and page."""
    client.create_domain(domain="other")
    for domain, name in [(DOMAIN, "team-a"), (DOMAIN, "team-b"), ("other", "team-c")]:
        client.create_repository(domain=domain, repository=name)
    paginator = client.get_paginator("list_repositories")
    pages = list(paginator.paginate(repositoryPrefix="team", PaginationConfig={"PageSize": 2}))
    found = [(r["domainName"], r["name"]) for page in pages for r in page["repositories"]]
    assert found == [(DOMAIN, "team-a"), (DOMAIN, "team-b"), ("other", "team-c")]
    assert [len(page["repositories"]) for page in pages] == [2, 1]
    in_domain = client.list_repositories_in_domain(domain=DOMAIN, repositoryPrefix="team")
    assert [r["name"] for r in in_domain["repositories"]] == ["team-a", "team-b"]
    everything = client.list_repositories_in_domain(domain=DOMAIN)["repositories"]
    assert [r["name"] for r in everything] == [REPOSITORY, "team-a", "team-b"]


def test_delete_repository_takes_its_packages_and_spares_upstreams(client: BaseClient) -> None:
    """DeleteRepository removes the repository and its packages; a repository that is
    another's upstream is refused with ConflictException until that one is gone."""
    client.create_repository(domain=DOMAIN, repository="down", upstreams=[
        {"repositoryName": REPOSITORY}
    ])  # fmt: skip
    publish(client, b"x")
    with pytest.raises(ClientError) as excinfo:
        client.delete_repository(domain=DOMAIN, repository=REPOSITORY)
    assert error_code(excinfo) == ("ConflictException", 409)
    assert client.delete_repository(domain=DOMAIN, repository="down")["repository"]["name"]
    deleted = client.delete_repository(domain=DOMAIN, repository=REPOSITORY)["repository"]
    assert deleted["name"] == REPOSITORY
    for call in (client.describe_repository, client.list_packages):
        with pytest.raises(ClientError) as excinfo:
            call(domain=DOMAIN, repository=REPOSITORY)
        assert error_code(excinfo) == ("ResourceNotFoundException", 404)
    client.create_repository(domain=DOMAIN, repository=REPOSITORY)
    assert client.list_packages(domain=DOMAIN, repository=REPOSITORY)["packages"] == []


def test_delete_domain_is_refused_while_it_holds_repositories(client: BaseClient) -> None:
    """DeleteDomain is a ConflictException while repositories exist, then succeeds."""
    with pytest.raises(ClientError) as excinfo:
        client.delete_domain(domain=DOMAIN)
    assert error_code(excinfo) == ("ConflictException", 409)
    assert excinfo.value.response["resourceType"] == "domain"
    client.delete_repository(domain=DOMAIN, repository=REPOSITORY)
    assert client.delete_domain(domain=DOMAIN)["domain"]["status"] == "Deleted"
    assert client.list_domains()["domains"] == []


def test_repository_endpoint_is_under_the_emulators_url(
    client: BaseClient, emulator: EmulatorThread
) -> None:
    """GetRepositoryEndpoint answers a URL under the emulator's own base URL; a missing
    repository is not found."""
    reply = client.get_repository_endpoint(domain=DOMAIN, repository=REPOSITORY, format="generic")
    endpoint = reply["repositoryEndpoint"]
    assert endpoint == f"{emulator.endpoint_url}/{DOMAIN}/generic/{REPOSITORY}/"
    with pytest.raises(ClientError) as excinfo:
        client.get_repository_endpoint(domain=DOMAIN, repository="nope", format="generic")
    assert error_code(excinfo) == ("ResourceNotFoundException", 404)
