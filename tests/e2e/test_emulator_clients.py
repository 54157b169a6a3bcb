"""The emulator as other clients see it: aioboto3, the AWS CLI, and its own command line."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aioboto3
import pytest
from botocore.config import Config

from tests.conftest import ACCESS_KEY, DOMAIN, REGION, REPOSITORY, SECRET_KEY
from uploader.emulator import EmulatorThread

PKG = {"domain": DOMAIN, "repository": REPOSITORY, "format": "generic", "namespace": "acme"}


async def test_aioboto3_publish_finalize_and_list(emulator: EmulatorThread, tmp_path: Path) -> None:
    """aioboto3 streams a file body, finalizes the version and lists what it stored."""
    path = tmp_path / "asset.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    session = aioboto3.Session()
    config = Config(retries={"total_max_attempts": 1})
    async with session.client(
        "codeartifact", endpoint_url=emulator.endpoint_url, config=config
    ) as client:
        with path.open("rb") as body:
            reply = await client.publish_package_version(
                **PKG, package="app", packageVersion="2.0", assetName="asset.bin",
                assetContent=body, assetSHA256=sha256, unfinished=True,
            )  # fmt: skip
        assert reply["status"] == "Unfinished"
        status = await client.update_package_versions_status(
            **PKG, package="app", versions=["2.0"], expectedStatus="Unfinished",
            targetStatus="Published",
        )  # fmt: skip
        assert status["successfulVersions"]["2.0"]["status"] == "Published"
        assets = await client.list_package_version_assets(
            **PKG, package="app", packageVersion="2.0"
        )
        assert assets["assets"][0]["hashes"]["SHA-256"] == sha256
        assert assets["assets"][0]["size"] == path.stat().st_size


def test_aws_cli_publish_and_list(emulator: EmulatorThread, tmp_path: Path) -> None:
    """The AWS CLI's publish-package-version and list-package-version-assets work unchanged."""
    aws = shutil.which("aws", path=str(Path(sys.executable).parent))
    assert aws is not None, "awscli is a dev dependency; `make test` installs it"
    asset = tmp_path / "tool.zip"
    asset.write_bytes(b"zip bytes" * 500)
    sha256 = hashlib.sha256(asset.read_bytes()).hexdigest()
    common = ["--endpoint-url", emulator.endpoint_url, "--region", REGION, "--output", "json"]
    target = ["--domain", DOMAIN, "--repository", REPOSITORY, "--format", "generic",
              "--namespace", "acme", "--package", "tool", "--package-version", "3.1"]  # fmt: skip
    published = subprocess.run(
        [aws, "codeartifact", "publish-package-version", *common, *target,
         "--asset-content", str(asset), "--asset-name", "tool.zip", "--asset-sha256", sha256],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(published.stdout)["status"] == "Published"
    listed = subprocess.run(
        [aws, "codeartifact", "list-package-version-assets", *common, *target],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assets = json.loads(listed.stdout)["assets"]
    assert [(a["name"], a["hashes"]["SHA-256"]) for a in assets] == [("tool.zip", sha256)]


def test_emulator_command_prints_its_address_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`uploader emulator` prints `listening on URL` first and exits 0 on SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "uploader", "emulator", "--data", str(tmp_path),
         "--repo", f"{DOMAIN}/{REPOSITORY}", "--credentials", f"{ACCESS_KEY}:{SECRET_KEY}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("listening on http://127.0.0.1:")
        import boto3

        client = boto3.client("codeartifact", endpoint_url=first.split()[-1], region_name=REGION)
        assert client.describe_repository(domain=DOMAIN, repository=REPOSITORY)["repository"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
        _, stderr = process.communicate()
    assert SECRET_KEY not in stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--repo", "Bad/repo"], "domain"),
        (["--rate", "publish=fast"], "rate"),
        (["--faults", "publish:error=2"], "error"),
        (["--credentials", "nocolon"], "KEY:SECRET"),
        (["--max-assets-per-version", "0"], "max-assets-per-version"),
    ],
)
def test_emulator_command_rejects_bad_flags(args: list[str], fragment: str) -> None:
    """A bad flag is a one-line usage error with exit code 2, not a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "uploader", "emulator", *args],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_aws_cli_upstreams_origin_controls_and_what_is_not_implemented(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The AWS CLI sets upstreams and origin controls, is refused a blocked publish and a
    non-empty domain's deletion, and learns which operation the emulator lacks."""
    aws = shutil.which("aws", path=str(Path(sys.executable).parent))
    assert aws is not None, "awscli is a dev dependency; `make test` installs it"
    common = ["--endpoint-url", emulator.endpoint_url, "--region", REGION, "--output", "json"]
    package = ["--domain", DOMAIN, "--repository", REPOSITORY, "--format", "generic",
               "--namespace", "acme", "--package", "tool"]  # fmt: skip

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [aws, "codeartifact", *args, *common], capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip

    created = cli("create-repository", "--domain", DOMAIN, "--repository", "down",
                  "--upstreams", f"repositoryName={REPOSITORY}")  # fmt: skip
    assert json.loads(created.stdout)["repository"]["upstreams"] == [{"repositoryName": REPOSITORY}]
    cli("put-package-origin-configuration", *package,
        "--restrictions", "publish=BLOCK,upstream=ALLOW")  # fmt: skip
    described = json.loads(cli("describe-package", *package).stdout)["package"]
    assert described["originConfiguration"]["restrictions"] == {
        "publish": "BLOCK", "upstream": "ALLOW",
    }  # fmt: skip
    asset = tmp_path / "tool.zip"
    asset.write_bytes(b"zip")
    refused = cli("publish-package-version", *package, "--package-version", "1",
                  "--asset-content", str(asset), "--asset-name", "tool.zip",
                  "--asset-sha256", hashlib.sha256(b"zip").hexdigest())  # fmt: skip
    assert refused.returncode != 0
    assert "ValidationException" in refused.stderr
    assert "origin configuration" in refused.stderr
    kept = cli("delete-domain", "--domain", DOMAIN)
    assert "ConflictException" in kept.stderr
    lacking = cli("get-authorization-token", "--domain", DOMAIN)
    assert "not implemented by the emulator: GetAuthorizationToken" in lacking.stderr


def test_emulator_command_limits_assets_per_version(tmp_path: Path) -> None:
    """`uploader emulator --max-assets-per-version 1` refuses a version's second asset
    with ServiceQuotaExceededException (402)."""
    import boto3
    from botocore.exceptions import ClientError

    process = subprocess.Popen(
        [sys.executable, "-m", "uploader", "emulator", "--data", str(tmp_path),
         "--repo", f"{DOMAIN}/{REPOSITORY}", "--max-assets-per-version", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        endpoint_url = process.stdout.readline().split()[-1]
        client = boto3.client("codeartifact", endpoint_url=endpoint_url, region_name=REGION)
        sha256 = hashlib.sha256(b"x").hexdigest()
        version = {**PKG, "package": "p", "packageVersion": "1", "assetContent": b"x",
                   "assetSHA256": sha256, "unfinished": True}  # fmt: skip
        client.publish_package_version(**version, assetName="a")
        with pytest.raises(ClientError) as excinfo:
            client.publish_package_version(**version, assetName="b")
        error = excinfo.value.response
        assert error["Error"]["Code"] == "ServiceQuotaExceededException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 402
        assert error["resourceType"] == "package-version"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
        process.communicate()


async def test_aioboto3_drives_every_operation_and_error_shape(tmp_path: Path) -> None:
    """Each of the first twelve operations, and each error type, as aioboto3 parses them."""
    from botocore.exceptions import ClientError

    from tests.conftest import start_emulator
    from uploader.emulator.faults import Quotas

    quotas = Quotas.none().with_rate("ListPackageVersionAssets", 1)
    emu = start_emulator(tmp_path, quotas=quotas)
    config = Config(retries={"total_max_attempts": 1})
    try:
        async with aioboto3.Session().client(
            "codeartifact", endpoint_url=emu.endpoint_url, config=config
        ) as client:

            async def code_of(call: object) -> str:
                with pytest.raises(ClientError) as excinfo:
                    await call  # type: ignore[misc]
                return str(excinfo.value.response["Error"]["Code"])

            assert (await client.create_domain(domain="tour"))["domain"]["name"] == "tour"
            assert (await client.describe_domain(domain="tour"))["domain"]["status"] == "Active"
            await client.create_repository(domain="tour", repository="r1")
            assert (await client.describe_repository(domain="tour", repository="r1"))["repository"]
            tour = {"domain": "tour", "repository": "r1", "format": "generic", "namespace": "n"}
            sha = hashlib.sha256(b"t").hexdigest()
            await client.publish_package_version(
                **tour, package="p", packageVersion="1", assetName="t", assetContent=b"t",
                assetSHA256=sha, unfinished=True,
            )  # fmt: skip
            await client.update_package_versions_status(
                **tour, package="p", versions=["1"], targetStatus="Published"
            )
            described = await client.describe_package_version(
                **tour, package="p", packageVersion="1"
            )
            assert described["packageVersion"]["status"] == "Published"
            assert (await client.list_packages(domain="tour", repository="r1"))["packages"]
            assert (await client.list_package_versions(**tour, package="p"))["versions"]
            listed = await client.list_package_version_assets(
                **tour, package="p", packageVersion="1"
            )
            assert listed["assets"][0]["hashes"]["SHA-256"] == sha
            throttled = client.list_package_version_assets(**tour, package="p", packageVersion="1")
            with pytest.raises(ClientError) as excinfo:
                await throttled
            assert excinfo.value.response["Error"]["Code"] == "ThrottlingException"
            assert excinfo.value.response["retryAfterSeconds"] >= 1
            got = await client.get_package_version_asset(
                **tour, package="p", packageVersion="1", asset="t"
            )
            assert await got["asset"].read() == b"t"
            assert await code_of(client.create_domain(domain="tour")) == "ConflictException"
            missing = client.describe_package_version(**tour, package="p", packageVersion="9")
            assert await code_of(missing) == "ResourceNotFoundException"
            bad = client.publish_package_version(
                **tour, package="p", packageVersion="2", assetName="t", assetContent=b"t",
                assetSHA256="0" * 64,
            )  # fmt: skip
            assert await code_of(bad) == "ValidationException"
            deleted = await client.delete_package_versions(**tour, package="p", versions=["1"])
            assert deleted["successfulVersions"]["1"]["status"] == "Deleted"
        async with aioboto3.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key="not-the-secret"
        ).client("codeartifact", endpoint_url=emu.endpoint_url, config=config) as intruder:
            denied = intruder.describe_domain(domain="tour")
            assert await code_of(denied) == "AccessDeniedException"
    finally:
        emu.stop()
