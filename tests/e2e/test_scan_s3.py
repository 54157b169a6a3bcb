"""`uploader scan s3://...` against moto in server mode, with the real aioboto3 client."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from tests.conftest import ACCESS_KEY, REGION, SECRET_KEY
from tests.moto_s3 import moto_server
from uploader.cli import main
from uploader.stores.s3 import sha256_hex

TARGET = ("--domain", "demo", "--repository", "repo")


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto S3 server on a free loopback port, for the whole module."""
    with moto_server() as url:
        yield url


class Bucket:
    """A fresh bucket on the moto server, filled through boto3 (the test's own client)."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.client = boto3.client(
            "s3", endpoint_url=url, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        )  # fmt: skip
        self.client.create_bucket(Bucket=name)

    def put(self, key: str, body: bytes = b"x", **extra: Any) -> None:
        """One object."""
        self.client.put_object(Bucket=self.name, Key=key, Body=body, **extra)

    def put_many(self, keys: list[str]) -> None:
        """Many small objects, a few at a time."""
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda key: self.put(key, key.encode()), keys))


_buckets = iter(range(10_000))


@pytest.fixture
def bucket(moto_url: str) -> Bucket:
    """An empty bucket of its own for each test."""
    return Bucket(moto_url, f"source-{next(_buckets)}")


def scan(*args: str, env: dict[str, str] | None = None) -> Result:
    """`uploader scan ARGS` in this process (stderr kept apart)."""
    return CliRunner().invoke(main, ["scan", *args], env=env, catch_exceptions=False)


def lines(path: Path) -> list[dict[str, Any]]:
    """The manifest's entries."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_fifty_packages_scan_to_a_manifest_validate_accepts(bucket: Bucket, tmp_path: Path) -> None:
    """50 packages below a prefix become 50 lines of url assets, and `validate` says OK."""
    bucket.put_many([f"exports/acme/tool-{p}/1.{p}/tool-{p}.tgz" for p in range(50)])
    bucket.put("elsewhere/acme/other/1.0/x.tgz")
    manifest = tmp_path / "m.jsonl"
    result = scan(f"s3://{bucket.name}/exports", "--source-endpoint-url", bucket.url,
                  "-o", str(manifest))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "50 version(s), 50 asset(s), 0 problem(s)" in result.stderr
    entries = lines(manifest)
    assert [e["package"] for e in entries] == sorted(f"tool-{p}" for p in range(50))
    first = entries[0]["assets"][0]
    assert first["url"] == f"s3://{bucket.name}/exports/acme/tool-0/1.0/tool-0.tgz"
    assert first["name"] == "tool-0.tgz"
    assert first["size"] == len(b"exports/acme/tool-0/1.0/tool-0.tgz")
    assert first["etag"].startswith('"')
    assert "sha256" not in first  # moto keeps no checksum unless asked
    checked = CliRunner().invoke(main, ["validate", str(manifest), *TARGET])
    assert checked.exit_code == 0, checked.output
    assert "OK, 50 version(s), 50 asset(s)" in checked.output


def test_a_prefix_of_more_than_one_page_is_listed_whole(bucket: Bucket, tmp_path: Path) -> None:
    """1,234 objects take two ListObjectsV2 pages (moto pages at 1,000): every one is written."""
    keys = [f"acme/pkg/{v:04d}/a.bin" for v in range(1234)]
    bucket.put_many(keys)
    manifest = tmp_path / "m.jsonl"
    result = scan(f"s3://{bucket.name}/", "--source-endpoint-url", bucket.url, "-o", str(manifest))
    assert result.exit_code == 0, result.stderr
    assert [e["version"] for e in lines(manifest)] == [f"{v:04d}" for v in range(1234)]


def test_only_a_full_object_sha256_is_declared(bucket: Bucket, tmp_path: Path) -> None:
    """A FULL_OBJECT SHA-256 is written as hex; none without the type, none for a composite."""
    body = b"full object body"

    def full_object(request: Any, **_: Any) -> None:
        request.headers["x-amz-checksum-type"] = "FULL_OBJECT"  # as S3 reports single puts

    events = bucket.client.meta.events
    events.register("before-sign.s3.PutObject", full_object)
    bucket.put("acme/full/1/a.bin", body, ChecksumAlgorithm="SHA256")
    events.unregister("before-sign.s3.PutObject", full_object)
    bucket.put("acme/untyped/1/a.bin", body, ChecksumAlgorithm="SHA256")
    upload = bucket.client.create_multipart_upload(
        Bucket=bucket.name, Key="acme/multi/1/a.bin", ChecksumAlgorithm="SHA256"
    )
    part = bucket.client.upload_part(
        Bucket=bucket.name, Key="acme/multi/1/a.bin", UploadId=upload["UploadId"],
        PartNumber=1, Body=body, ChecksumAlgorithm="SHA256",
    )  # fmt: skip
    bucket.client.complete_multipart_upload(
        Bucket=bucket.name, Key="acme/multi/1/a.bin", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]}
        ]},
    )  # fmt: skip
    manifest = tmp_path / "m.jsonl"
    result = scan(f"s3://{bucket.name}/", "--source-endpoint-url", bucket.url, "-o", str(manifest))
    assert result.exit_code == 0, result.stderr
    declared = {e["package"]: e["assets"][0].get("sha256") for e in lines(manifest)}
    assert declared == {"full": hashlib.sha256(body).hexdigest(), "multi": None, "untyped": None}


def test_sha256_hex_reads_only_whole_base64_sha256s() -> None:
    """Base64 of 32 bytes is hex; a composite (`...-2`), junk or another length is None."""
    digest = hashlib.sha256(b"x").digest()
    encoded = base64.b64encode(digest).decode()
    assert sha256_hex(encoded) == digest.hex()
    assert sha256_hex(f"{encoded}-2") is None
    assert sha256_hex("not base64!") is None
    assert sha256_hex(base64.b64encode(b"short").decode()) is None
    assert sha256_hex(None) is None


def test_problems_are_the_local_scans(bucket: Bucket, tmp_path: Path) -> None:
    """The same tree in S3 and on disk gives the same versions and the same problems."""
    files = [
        "acme/app/1.0/app.tgz",
        "acme/app/1.0/linux/tool",
        "acme/app/1.0/mac/tool",
        "acme/app/bad version/app.tgz",
        "acme/app/bad version/more.tgz",
        "acme/stray.txt",
        "acme/app/2.0/bad:name?.txt",
        "acme/app/3.0/.hidden",
        "acme/lib/1.0/skip.log",
        "acme/lib/1.0/lib.tgz",
        "readme.md",
    ]
    for rel in files:
        bucket.put(rel, rel.encode())
        (tmp_path / "tree" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tree" / rel).write_bytes(rel.encode())
    flags = ("--exclude", "*.log")
    remote = scan(f"s3://{bucket.name}", "--source-endpoint-url", bucket.url, *flags)
    local = scan(str(tmp_path / "tree"), *flags)
    assert remote.exit_code == local.exit_code == 1
    assert sorted(remote.stderr.splitlines()[:-1]) == sorted(local.stderr.splitlines()[:-1])
    assert "bad version/: version 'bad version'" in remote.stderr

    def shape(output: str) -> list[tuple[str, list[str]]]:
        return sorted((e["version"], [a["name"] for a in e["assets"]])
                      for e in map(json.loads, output.splitlines()))  # fmt: skip

    assert (
        shape(remote.stdout)
        == shape(local.stdout)
        == [
            ("1.0", ["app.tgz", "linux_tool", "mac_tool"]),
            ("1.0", ["lib.tgz"]),
        ]
    )


def test_aws_endpoint_url_s3_is_honoured(bucket: Bucket) -> None:
    """Without --source-endpoint-url, AWS_ENDPOINT_URL_S3 names the endpoint, as in the SDKs."""
    bucket.put("acme/app/1.0/app.tgz")
    result = scan(f"s3://{bucket.name}/", env={"AWS_ENDPOINT_URL_S3": bucket.url})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["package"] == "app"


def test_source_errors_stop_the_scan_without_credentials_in_output(
    bucket: Bucket, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing bucket is exit 3 naming it; the secret is in no output or log line at all,
    the key id in none but botocore's own DEBUG lines (its signed request)."""
    caplog.set_level(logging.DEBUG)
    result = scan("s3://no-such-bucket/x/", "--source-endpoint-url", bucket.url)
    assert result.exit_code == 3
    assert "error: source: s3://no-such-bucket/x/: NoSuchBucket" in result.stderr
    assert SECRET_KEY not in result.stdout + result.stderr + caplog.text
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert ACCESS_KEY not in result.stdout + result.stderr + "\n".join(shown)


def test_no_credentials_at_all_is_exit_3(bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any AWS credentials the scan cannot start: exit 3, one line."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = scan(f"s3://{bucket.name}/", "--source-endpoint-url", bucket.url)
    assert result.exit_code == 3
    assert "no usable AWS credentials" in result.stderr


def test_source_flags_need_their_kind_of_root(tmp_path: Path) -> None:
    """--source-region with a local folder, or --source-header with s3://, is a usage error."""
    assert scan(str(tmp_path), "--source-region", "eu-west-1").exit_code == 2
    assert scan("s3://b/", "--source-header", "Authorization: x").exit_code == 2
