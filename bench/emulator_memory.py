"""Emulator memory under a large upload: RSS growth of the server while it takes 1 GiB.

Starts `uploader emulator` in its own process, publishes one file of SIZE_MIB with boto3
(streamed from disk), and reads the server's VmRSS before and VmHWM (peak RSS) after from
/proc. The issue's bar: growth under 50 MiB for 1 GiB.

    .venv/bin/python bench/emulator_memory.py [SIZE_MIB]
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

MIB = 1024 * 1024


def proc_kib(pid: int, field: str) -> int:
    """A `Vm*` field of /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def make_file(path: Path, size_mib: int) -> str:
    """Write `size_mib` MiB of pseudo-random bytes; return their SHA-256."""
    digest = hashlib.sha256()
    block = hashlib.sha512(b"seed").digest() * (MIB // 64)
    with path.open("wb") as out:
        for i in range(size_mib):
            chunk = i.to_bytes(8, "big") + block[8:]
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def main(size_mib: int = 1024) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asset = Path(tmp) / "big.bin"
        sha256 = make_file(asset, size_mib)
        server = subprocess.Popen(
            [sys.executable, "-m", "uploader", "emulator", "--data", f"{tmp}/data",
             "--repo", "bench/repo"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            endpoint = server.stdout.readline().split()[-1]
            before_kib = proc_kib(server.pid, "VmRSS")
            client = boto3.client(
                "codeartifact", endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id="bench", aws_secret_access_key="bench",
                config=Config(retries={"total_max_attempts": 1}, read_timeout=600),
            )  # fmt: skip
            started = time.perf_counter()
            with asset.open("rb") as body:
                client.publish_package_version(
                    domain="bench", repository="repo", format="generic", namespace="bench",
                    package="big", packageVersion="1", assetName="big.bin",
                    assetContent=body, assetSHA256=sha256,
                )  # fmt: skip
            elapsed_s = time.perf_counter() - started
            peak_kib = proc_kib(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait(timeout=30)
    growth_mib = (peak_kib - before_kib) / 1024
    print(f"emulator: {size_mib} MiB upload in {elapsed_s:.1f} s "
          f"({size_mib / elapsed_s:.0f} MiB/s); RSS before {before_kib / 1024:.1f} MiB, "
          f"peak {peak_kib / 1024:.1f} MiB, growth {growth_mib:.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024)
