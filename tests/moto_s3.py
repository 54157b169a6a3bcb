"""moto's S3 in server mode on port 0, and a fresh versioned bucket, for source tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aioboto3
from moto.server import ThreadedMotoServer

BUCKET = "old-store"


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port; yields its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def fresh_bucket(url: str) -> AsyncIterator[Any]:
    """A plain aioboto3 S3 client on moto, every bucket removed but a new versioned BUCKET."""
    async with aioboto3.Session().client("s3", endpoint_url=url) as client:
        for bucket in (await client.list_buckets()).get("Buckets", []):
            await _remove(client, bucket["Name"])
        await client.create_bucket(Bucket=BUCKET)
        await client.put_bucket_versioning(
            Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
        )
        yield client


async def _remove(client: Any, bucket: str) -> None:
    """Every version of every object (all pages: moto's state is per process, so another
    test module's 1,000-object bucket may be here), then the bucket."""
    async for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            await client.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    async for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):  # an unversioned bucket's objects
            await client.delete_object(Bucket=bucket, Key=item["Key"])
    await client.delete_bucket(Bucket=bucket)
