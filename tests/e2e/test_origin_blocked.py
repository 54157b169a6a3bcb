"""A package whose origin configuration blocks publishing, end to end: `uploader run` fails
that version once, with the fix in its message, and publishes the others (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import DOMAIN, REGION, REPOSITORY
from tests.e2e.test_run import make_tree, run_cli
from uploader.codeartifact import translate
from uploader.emulator import EmulatorThread
from uploader.errors import ExitCode, RejectedError

FIX = (
    "aws codeartifact put-package-origin-configuration --domain demo --repository repo"
    " --format generic --namespace acme --package pkg1"
    " --restrictions publish=ALLOW,upstream=BLOCK"
)


def test_a_blocked_package_fails_once_and_the_others_publish(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """publish=BLOCK on one package: exit 1; its version failed after one request (no
    retry), naming the origin configuration and the command that allows publishing; the
    other versions are Published."""
    manifest = make_tree(tmp_path / "tree", versions=3, assets=1)  # pkg0, pkg1, pkg2
    client = boto3.client("codeartifact", endpoint_url=emulator.endpoint_url, region_name=REGION)
    client.put_package_origin_configuration(
        domain=DOMAIN, repository=REPOSITORY, format="generic", namespace="acme",
        package="pkg1", restrictions={"publish": "BLOCK", "upstream": "ALLOW"},
    )  # fmt: skip
    report_path = tmp_path / "report.json"

    result = run_cli(
        "run", str(manifest), "--endpoint-url", emulator.endpoint_url, "--region", REGION,
        "--domain", DOMAIN, "--repository", REPOSITORY, "--namespace", "acme",
        "--rate", "1000", "--report", str(report_path), cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == ExitCode.SOME_FAILED, result.stderr
    assert "retries 0" in result.stdout
    versions = {v["package"]: v for v in json.loads(report_path.read_text())["versions"]}
    assert {p: v["status"] for p, v in versions.items()} == {
        "pkg0": "finalized", "pkg1": "failed", "pkg2": "finalized",
    }  # fmt: skip
    error = versions["pkg1"]["error"]
    assert "origin configuration" in error
    assert FIX in error
    assert emulator.stats()["requests"]["PublishPackageVersion"] == 3  # one each, no retry
    for package in ("pkg0", "pkg2"):
        listed = client.list_package_versions(
            domain=DOMAIN, repository=REPOSITORY, format="generic", namespace="acme",
            package=package,
        )  # fmt: skip
        assert [v["status"] for v in listed["versions"]] == ["Published"]
    described = client.describe_package(
        domain=DOMAIN, repository=REPOSITORY, format="generic", namespace="acme", package="pkg1"
    )
    assert described["package"]["originConfiguration"]["restrictions"]["publish"] == "BLOCK"


@pytest.mark.parametrize(
    ("code", "status"),
    [("ValidationException", 400), ("AccessDeniedException", 403), ("ConflictException", 409)],
)
def test_an_origin_refusal_is_rejected_whatever_its_code(code: str, status: int) -> None:
    """AWS documents origin controls, not their error: a 4xx whose message names the origin
    configuration is a RejectedError (that version fails, no retry), not a fatal error
    ending the run nor a conflict taken for an asset already there."""
    response = {
        "Error": {"Code": code, "Message": "Blocked by the package origin configuration"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    error = translate(ClientError(response, "PublishPackageVersion"))
    assert type(error) is RejectedError
    assert error.code == code
