"""Ten clients at once against one 20 publishes/s quota: the service's broker against ten
separate `uploader run` processes.

A: one `uploader serve --rate 20`; ten clients POST a job of 100 single-asset versions
(1 KiB) each, at once, over HTTP, then poll until every job ended. B: the same ten
manifests as ten `uploader run` processes started together, each at the default rate
(10/s: each believes it owns the quota). The emulator enforces 20/s on
PublishPackageVersion in both. Figures: aggregate publishes/s over the emulator's first
to last publish, the share of publish requests throttled, and the spread of finish
times. Target (issue 11): A at >= 0.97 x 20/s with <= 1 % throttled.

    python bench/service_quota.py [--jobs 10] [--versions 100]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import _harness as h

QUOTA_PER_S = 20
TOKEN = "bench-token-0123456789abcdef"


class PublishWatch:
    """Polls the emulator's distinct published assets every 50 ms: when the first one
    landed, and when the count last grew (throttled and failed requests do not count)."""

    def __init__(self, emulator: h.EmulatorProcess) -> None:
        self._emulator = emulator
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.first_s: float | None = None
        self.last_s: float | None = None
        self.count = 0

    def __enter__(self) -> PublishWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            count = len(self._emulator.stats()["publishes"])
            now = time.perf_counter()
            if count and self.first_s is None:
                self.first_s = now
            if count > self.count:
                self.count, self.last_s = count, now


def _publish_figures(emulator: h.EmulatorProcess, watch: PublishWatch) -> dict[str, float]:
    stats = emulator.stats()
    throttled = stats["throttled"].get("PublishPackageVersion", 0)
    sent = stats["requests"].get("PublishPackageVersion", 0)
    assert watch.first_s is not None
    assert watch.last_s is not None
    published = len(stats["publishes"])
    return {"rate": published / (watch.last_s - watch.first_s), "throttled": throttled / sent,
            "published": published}  # fmt: skip


def _call(url: str, method: str = "GET", body: bytes | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as reply:
        document: dict[str, Any] = json.load(reply)
    return document


def with_service(root: Path, jobs: int, versions: int) -> dict[str, float]:
    """A: one service, `jobs` clients submitting at once."""
    with h.EmulatorProcess(root / "emu-a", ["--rate", f"publish={QUOTA_PER_S}"]) as emulator:
        env = {**os.environ, **h.DUMMY_AWS_ENV, "UPLOADER_API_TOKENS": TOKEN,
               "UPLOADER_LOG_FORMAT": "json"}  # fmt: skip
        log = (root / "serve.log").open("w")
        serve = subprocess.Popen(
            [sys.executable, "-m", "uploader", "serve", "--port", "0", "--root", str(root),
             "--data", str(root / "service"), "--endpoint-url", emulator.endpoint, *h.TARGET,
             "--rate", str(QUOTA_PER_S), "--max-jobs", str(jobs)],
            env=env, stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
        assert serve.stdout is not None
        url = serve.stdout.readline().split()[-1]
        with PublishWatch(emulator) as watch:
            bodies = [(root / f"job{i}" / "manifest.jsonl").read_text() for i in range(jobs)]
            ids: list[str] = [""] * jobs
            started = time.perf_counter()

            def submit(i: int) -> None:
                ids[i] = _call(f"{url}/v1/jobs", "POST", _rooted(bodies[i], f"job{i}"))["id"]

            threads = [threading.Thread(target=submit, args=(i,)) for i in range(jobs)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            ended: dict[str, float] = {}
            while len(ended) < jobs:
                for job_id in ids:
                    if job_id not in ended and _call(f"{url}/v1/jobs/{job_id}")["state"] in (
                        "succeeded", "failed"):  # fmt: skip
                        ended[job_id] = time.perf_counter() - started
                time.sleep(0.1)
        figures = _publish_figures(emulator, watch)
        serve.terminate()
        serve.wait(timeout=60)
        log.close()
    return {**figures, "first_end_s": min(ended.values()), "last_end_s": max(ended.values())}


def _rooted(body: str, folder: str) -> bytes:
    """A job's manifest lines with paths relative to the service's root, own packages."""
    lines = []
    for line in body.splitlines():
        entry = json.loads(line)
        entry["package"] = f"{folder}-{entry['package']}"
        for asset in entry["assets"]:
            asset["path"] = f"{folder}/{asset['path']}"
        lines.append(json.dumps(entry))
    return "\n".join(lines).encode()


def with_processes(root: Path, jobs: int, versions: int) -> dict[str, float]:
    """B: `jobs` separate `uploader run` processes at once, each at the default rate."""
    with h.EmulatorProcess(root / "emu-b", ["--rate", f"publish={QUOTA_PER_S}"]) as emulator:
        with PublishWatch(emulator) as watch:
            started = time.perf_counter()
            ends: list[float] = [0.0] * jobs

            def one(i: int) -> None:
                work = root / f"run{i}"
                work.mkdir()
                h.run_uploader(root / f"job{i}" / "manifest.jsonl", emulator.endpoint, work,
                               ["--no-progress"])  # fmt: skip
                ends[i] = time.perf_counter() - started

            threads = [threading.Thread(target=one, args=(i,)) for i in range(jobs)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        figures = _publish_figures(emulator, watch)
    return {**figures, "first_end_s": min(ends), "last_end_s": max(ends)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--versions", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for i in range(args.jobs):
            h.write_versions(root / f"job{i}", args.versions, 1, seed=i)
        a = with_service(root, args.jobs, args.versions)
        b = with_processes(root, args.jobs, args.versions)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    lines = [
        f"\n### service_quota ({datetime.date.today()}, {commit}, {h.machine()})\n",
        f"`python bench/service_quota.py --jobs {args.jobs} --versions {args.versions}`: "
        f"{args.jobs} jobs x {args.versions} single-asset versions, emulator quota "
        f"{QUOTA_PER_S} publishes/s.\n",
        "| | assets published | publishes/s | throttled | first job done | last job done "
        "| target |",
        "|---|---|---|---|---|---|---|",
        f"| A: one `serve --rate {QUOTA_PER_S}`, {args.jobs} clients | {a['published']:.0f} | "
        f"{a['rate']:.2f} | {a['throttled']:.1%} | {a['first_end_s']:.1f} s | "
        f"{a['last_end_s']:.1f} s | >= {0.97 * QUOTA_PER_S:.1f}/s, <= 1 % |",
        f"| B: {args.jobs} `uploader run` processes | {b['published']:.0f} | {b['rate']:.2f} | "
        f"{b['throttled']:.1%} | {b['first_end_s']:.1f} s | {b['last_end_s']:.1f} s | |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    with (Path(__file__).parent / "RESULTS.md").open("a") as results:
        results.write(text)


if __name__ == "__main__":
    main()
