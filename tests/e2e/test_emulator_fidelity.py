"""Issue 16, emulator fidelity: republishing, upstreams, quotas, packages, origin controls,
domains and repositories, driven by boto3 over loopback (a few by the AWS CLI)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.conftest import DOMAIN, REPOSITORY, start_emulator
from tests.e2e.test_emulator_api import PKG, error_code, make_client, publish
from uploader.emulator import EmulatorThread

BIG = b"0123456789abcdef" * 8192  # 128 KiB: streamed to a file, not read whole


@pytest.fixture
def client(emulator: EmulatorThread) -> BaseClient:
    """A boto3 client for the emulator."""
    return make_client(emulator.endpoint_url)


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


def test_the_repository_is_the_only_one(client: BaseClient) -> None:
    """The fixture's emulator holds `demo/repo` and nothing else (what these tests assume)."""
    reply = client.describe_repository(domain=DOMAIN, repository=REPOSITORY)
    assert reply["repository"]["upstreams"] == []
