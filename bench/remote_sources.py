"""Remote sources: S3 (moto in server mode) straight to the emulator, against a copy to disk.

1. 2,000 small objects (1-16 KiB) in a moto bucket, listed by `uploader scan s3://...`:
   A. `uploader run` of that manifest (each object read from S3 once, no local copy);
   B. `aws s3 sync` of the bucket to disk, `uploader scan` of the folder, `uploader run`.
   Wall time of each, A and B alternating, each on a fresh emulator; median of ROUNDS.
2. One 1 GiB object, sent with its SHA-256 declared in the manifest (streamed) and
   without (spooled to a temp file): the uploader process's peak RSS (bar: <= 150 MiB).

    .venv/bin/python bench/remote_sources.py [ROUNDS]

Appends its figures to bench/RESULTS.md.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
from _harness import DUMMY_AWS_ENV, MIB, EmulatorProcess, machine, measure
from moto.server import ThreadedMotoServer

OBJECTS = 2_000
BIG_BYTES = 1024 * MIB
RESULTS = Path(__file__).with_name("RESULTS.md")
TARGET = ("--domain", "bench", "--repository", "repo", "--namespace", "acme")


def s3_client(url: str) -> object:
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip


def fill_small(client: object, bucket: str) -> None:
    """OBJECTS objects of 1-16 KiB, 4 to a version (500 versions)."""
    rng = random.Random(7)
    client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    jobs = [(f"acme/p{i % 50}/1.{i // 4}/a{i % 4}.bin", rng.randbytes(rng.randint(1, 16) * 1024))
            for i in range(OBJECTS)]  # fmt: skip

    def put(job: tuple[str, bytes]) -> None:
        client.put_object(Bucket=bucket, Key=job[0], Body=job[1])  # type: ignore[attr-defined]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, jobs))


def uploader(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "uploader", *args], env=env, text=True,
                          capture_output=True, check=True, timeout=900)  # fmt: skip


def run_direct(work: Path, manifest: Path, moto: str, env: dict[str, str]) -> float:
    """A: run the s3:// manifest into a fresh emulator; the wall time."""
    with EmulatorProcess(work / "emu") as emulator:
        started = time.perf_counter()
        measured = measure([sys.executable, "-m", "uploader", "run", str(manifest), *TARGET,
                            "--endpoint-url", emulator.endpoint, "--source-endpoint-url", moto,
                            "--journal", str(work / "j.sqlite"), "--rate", "1000"],
                           work / "a.log", env=env)  # fmt: skip
        wall = time.perf_counter() - started
    if measured.returncode != 0:
        raise RuntimeError((work / "a.log").read_text()[-2000:])
    return wall


def run_via_disk(work: Path, bucket: str, moto: str, env: dict[str, str]) -> float:
    """B: aws s3 sync to disk, scan the folder, run it into a fresh emulator; the wall time."""
    local = work / "copy"
    with EmulatorProcess(work / "emu") as emulator:
        started = time.perf_counter()
        subprocess.run(["aws", "s3", "sync", f"s3://{bucket}", str(local), "--endpoint-url", moto,
                        "--only-show-errors"], env=env, check=True, timeout=900)  # fmt: skip
        uploader("scan", str(local), "-o", str(local / "manifest.jsonl"), env=env)
        measured = measure([sys.executable, "-m", "uploader", "run", str(local / "manifest.jsonl"),
                            *TARGET, "--endpoint-url", emulator.endpoint,
                            "--journal", str(work / "j.sqlite"), "--rate", "1000"],
                           work / "b.log", env=env)  # fmt: skip
        wall = time.perf_counter() - started
    if measured.returncode != 0:
        raise RuntimeError((work / "b.log").read_text()[-2000:])
    return wall


def big_object(client: object, bucket: str, work: Path) -> str:
    """A 1 GiB object of repeated random blocks; its SHA-256."""
    block = random.Random(1).randbytes(MIB)
    path = work / "big.bin"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for i in range(BIG_BYTES // MIB):
            chunk = i.to_bytes(8, "big") + block[8:]
            digest.update(chunk)
            out.write(chunk)
    client.upload_file(str(path), bucket, "acme/big/1/big.bin")  # type: ignore[attr-defined]
    path.unlink()
    return digest.hexdigest()


def big_rss(
    work: Path, bucket: str, sha256: str | None, moto: str, env: dict[str, str]
) -> tuple[float, int]:
    """Peak RSS (KiB) and wall time of sending the 1 GiB object, declared or not."""
    asset: dict[str, object] = {"url": f"s3://{bucket}/acme/big/1/big.bin"}
    if sha256 is not None:
        asset["sha256"] = sha256
    manifest = work / "big.jsonl"
    manifest.write_text(json.dumps({"package": "big", "version": "1", "assets": [asset]}) + "\n")
    with EmulatorProcess(work / "emu") as emulator:
        measured = measure([sys.executable, "-m", "uploader", "run", str(manifest), *TARGET,
                            "--endpoint-url", emulator.endpoint, "--source-endpoint-url", moto,
                            "--journal", str(work / "j.sqlite"), "--spool-dir", str(work)],
                           work / "big.log", timeout_s=1200, env=env)  # fmt: skip
    if measured.returncode != 0:
        raise RuntimeError((work / "big.log").read_text()[-2000:])
    return measured.wall_s, measured.peak_rss_kib


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto = f"http://{host}:{port}"
    env = {**os.environ, **DUMMY_AWS_ENV, "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "UPLOADER_LOG_FORMAT": "json"}  # fmt: skip
    client = s3_client(moto)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
            root = Path(tmp)
            fill_small(client, "small")
            manifest = root / "s3.jsonl"
            uploader("scan", "s3://small/", "--source-endpoint-url", moto, "-o", str(manifest),
                     env=env)  # fmt: skip
            direct, via_disk = [], []
            for r in range(rounds):
                for kind in ("A", "B"):
                    work = root / f"{kind}{r}"
                    work.mkdir()
                    if kind == "A":
                        direct.append(run_direct(work, manifest, moto, env))
                    else:
                        via_disk.append(run_via_disk(work, "small", moto, env))
                    shutil.rmtree(work)
            client.create_bucket(Bucket="big")  # type: ignore[attr-defined]
            sha256 = big_object(client, "big", root)
            big = {}
            for label, declared in (("declared SHA-256 (streamed)", sha256),
                                    ("no SHA-256 (spooled to disk)", None)):  # fmt: skip
                work = root / "big"
                work.mkdir()
                big[label] = big_rss(work, "big", declared, moto, env)
                shutil.rmtree(work)
    finally:
        server.stop()
    a, b = statistics.median(direct), statistics.median(via_disk)
    lines = [
        f"\n## Remote sources (S3 via moto), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"`python bench/remote_sources.py {rounds}`; {machine()}; commit "
        + subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "",
        f"- {OBJECTS} objects of 1-16 KiB, median of {rounds} (A and B alternating):",
        f"  `run` from s3:// {a:.1f} s; `aws s3 sync` + `scan` + `run` from disk {b:.1f} s"
        f" ({b / a:.2f}x the direct run's time). Runs: A {[round(x, 1) for x in direct]},"
        f" B {[round(x, 1) for x in via_disk]}.",
    ]
    for label, (wall, rss) in big.items():
        lines.append(f"- 1 GiB object, {label}: {wall:.1f} s, peak RSS {rss / 1024:.1f} MiB"
                     " (bar: <= 150 MiB)")  # fmt: skip
    text = "\n".join(lines) + "\n"
    print(text)
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(text)


if __name__ == "__main__":
    main()
