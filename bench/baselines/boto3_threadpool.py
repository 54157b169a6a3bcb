"""The baseline `uploader run` is measured against: plain boto3 in 16 threads.

What a competent script would do without the uploader: one task per version in a
`ThreadPoolExecutor(16)`; each hashes its files with hashlib (1 MiB reads), publishes
every asset with `unfinished=true` (the file streamed from disk, its SHA-256 given),
then finalizes the version with UpdatePackageVersionsStatus. One shared client (boto3
clients are thread-safe) with a pool of 16 connections and botocore's standard retries.
No journal, no reconciliation, no rate limit. Prints its wall time as JSON.

    .venv/bin/python bench/baselines/boto3_threadpool.py MANIFEST.jsonl ENDPOINT_URL [THREADS]
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

TARGET = {"domain": "bench", "repository": "repo", "format": "generic", "namespace": "bench"}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def upload_version(client: Any, root: Path, entry: dict[str, Any]) -> None:
    package, version = entry["package"], entry["version"]
    for asset in entry["assets"]:
        path = root / asset["path"]
        sha256 = sha256_of(path)
        with path.open("rb") as body:
            client.publish_package_version(
                **TARGET, package=package, packageVersion=version, assetName=path.name,
                assetContent=body, assetSHA256=sha256, unfinished=True,
            )  # fmt: skip
    reply = client.update_package_versions_status(
        **TARGET, package=package, versions=[version],
        expectedStatus="Unfinished", targetStatus="Published",
    )  # fmt: skip
    if reply.get("failedVersions"):
        raise RuntimeError(f"{package}@{version}: {reply['failedVersions']}")


def main(manifest: Path, endpoint: str, threads: int = 16) -> None:
    started = time.perf_counter()
    entries = [json.loads(line) for line in manifest.read_text().splitlines() if line]
    client = boto3.client(
        "codeartifact", endpoint_url=endpoint, region_name="us-east-1",
        config=Config(max_pool_connections=threads, retries={"mode": "standard"}),
    )  # fmt: skip
    with ThreadPoolExecutor(threads) as pool:
        for done in [pool.submit(upload_version, client, manifest.parent, e) for e in entries]:
            done.result()
    print(json.dumps({"versions": len(entries), "elapsed_s": time.perf_counter() - started}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 16)
