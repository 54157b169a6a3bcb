"""`make demo`: start the emulator, publish a sample generic package with aioboto3, show it.

A first look at the product with nothing set up: no AWS account, no network.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from typing import Any

import aioboto3
from botocore.config import Config

from uploader import constants as c
from uploader.emulator import Emulator

DOMAIN = "demo"
REPOSITORY = "sample"
PACKAGE = {"domain": DOMAIN, "repository": REPOSITORY, "format": "generic", "namespace": "acme"}
ASSETS = {
    "hello-1.0.0.tar.gz": b"pretend this is a tarball\n" * 100,
    "hello-1.0.0.sha256": b"checksums\n",
}


async def publish_sample(client: Any) -> None:
    """Publish every asset unfinished, then finalize the version as Published."""
    for name, data in ASSETS.items():
        await client.publish_package_version(
            **PACKAGE,
            package="hello",
            packageVersion="1.0.0",
            assetName=name,
            assetContent=io.BytesIO(data),
            assetSHA256=hashlib.sha256(data).hexdigest(),
            unfinished=True,
        )
    await client.update_package_versions_status(
        **PACKAGE,
        package="hello",
        versions=["1.0.0"],
        expectedStatus="Unfinished",
        targetStatus="Published",
    )


async def show(client: Any) -> None:
    """Print what the emulator holds, as ListPackageVersions/Assets report it."""
    versions = await client.list_package_versions(**PACKAGE, package="hello")
    for version in versions["versions"]:
        print(f"acme/hello {version['version']}: {version['status']}")
        assets = await client.list_package_version_assets(
            **PACKAGE, package="hello", packageVersion=version["version"]
        )
        for asset in assets["assets"]:
            sha256 = asset["hashes"]["SHA-256"]
            print(f"  {asset['name']:<22} {asset['size']:>6} bytes  sha256 {sha256}")


async def demo() -> None:
    async with Emulator(repos=[f"{DOMAIN}/{REPOSITORY}"]) as emulator:
        print(f"emulator listening on {emulator.endpoint_url}")
        session = aioboto3.Session(
            aws_access_key_id="demo", aws_secret_access_key="demo", region_name=c.DEFAULT_REGION
        )
        config = Config(retries={"total_max_attempts": 1})
        async with session.client(
            "codeartifact", endpoint_url=emulator.endpoint_url, config=config
        ) as client:
            await publish_sample(client)
            await show(client)


if __name__ == "__main__":
    asyncio.run(demo())
