"""Throughput without a quota: `uploader run` against plain boto3 in 16 threads.

3,000 assets of 1-16 KiB (random sizes and bytes, seed 0) in 1,000 versions x 3. Each
run gets a fresh `uploader emulator` (no quota) in its own process and a fresh journal;
each side runs REPEATS times, interleaved (baseline, each setting, baseline, ...) so that
a slow spell of the machine falls on both alike, and the median wall times (spawn to
exit, interpreter start included, the same for both) are compared. The baseline is
`bench/baselines/boto3_threadpool.py`; the uploader runs with `--rate 100000` under each
of SETTINGS (workers, max-uploads, processes). Every run is checked on the server's side: 3,000
distinct assets published. The issue's bar: the uploader >= 1.5x faster than the baseline.

    .venv/bin/python bench/throughput.py [WORKERS:MAX_UPLOADS[:PROCESSES] ...]
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from _harness import (
    DUMMY_AWS_ENV,
    KIB,
    EmulatorProcess,
    Measured,
    measure,
    run_uploader,
    write_versions,
)

VERSIONS = 1000
ASSETS = 3
REPEATS = 5
SETTINGS = [(32, 16, 2), (32, 16, 1), (8, 16, 1)]
BASELINE = Path(__file__).parent / "baselines" / "boto3_threadpool.py"
Side = Callable[[Path, str, Path], Measured]  # (manifest, endpoint, workdir) -> the client's run


def baseline(manifest: Path, endpoint: str, workdir: Path) -> Measured:
    args = [sys.executable, str(BASELINE), str(manifest), endpoint]
    done = measure(args, workdir / "baseline.log", env={**os.environ, **DUMMY_AWS_ENV})
    if done.returncode != 0:
        raise RuntimeError(f"baseline exit {done.returncode}: see {workdir / 'baseline.log'}")
    return done


def uploader(workers: int, max_uploads: int, processes: int) -> Side:
    def run(manifest: Path, endpoint: str, workdir: Path) -> Measured:
        flags = ["--rate", "100000", "--workers", str(workers), "--max-uploads", str(max_uploads),
                 "--processes", str(processes)]  # fmt: skip
        done = run_uploader(manifest, endpoint, workdir, flags)
        if done.process.returncode != 0:
            raise RuntimeError(f"uploader exit {done.process.returncode}: {done.report['totals']}")
        return done.process

    return run


def one_run(name: str, side: Side, manifest: Path, i: int) -> float:
    """Run `side` once against a fresh emulator; print the run's figures; its wall time.

    Each line gives the client's wall and CPU time, the server's CPU time over the run
    and the requests the server saw: on 2 cores, whichever process nears wall = CPU is
    the bottleneck.
    """
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(Path(tmp) / "emu") as emulator:
        server_before_s = emulator.cpu_s()
        done = side(manifest, emulator.endpoint, Path(tmp))
        server_s = emulator.cpu_s() - server_before_s
        stats = emulator.stats()
    published = len(stats["publishes"])
    if published != VERSIONS * ASSETS:
        raise RuntimeError(f"{name}: {published} assets on the server, not 3000")
    requests = sum(stats["requests"].values())
    print(f"  {name} run {i + 1}: wall {done.wall_s:.2f} s, client CPU {done.cpu_s:.2f} s, "
          f"server CPU {server_s:.2f} s, {requests} requests "
          f"({1000 * done.cpu_s / requests:.2f} ms client CPU each, "
          f"{1000 * server_s / requests:.2f} ms server) {json.dumps(stats['requests'])}",
          flush=True)  # fmt: skip
    return done.wall_s


def main(settings: list[tuple[int, int, int]]) -> None:
    rng = random.Random(0)
    sizes = [rng.randint(KIB, 16 * KIB) for _ in range(VERSIONS * ASSETS)]
    sides: dict[str, Side] = {"boto3 ThreadPoolExecutor(16)": baseline}
    for workers, max_uploads, processes in settings:
        name = f"uploader --workers {workers} --max-uploads {max_uploads} --processes {processes}"
        sides[name] = uploader(workers, max_uploads, processes)
    walls: dict[str, list[float]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_versions(Path(tmp), VERSIONS, ASSETS, sizes)
        print(
            f"throughput: {VERSIONS * ASSETS} assets, {sum(sizes) / KIB / KIB:.1f} MiB", flush=True
        )
        for i in range(REPEATS):
            for name, side in sides.items():
                walls[name].append(one_run(name, side, manifest, i))
    base_name = next(iter(sides))
    base_s = statistics.median(walls[base_name])
    print(f"throughput: baseline median {base_s:.2f} s", flush=True)
    for name in list(sides)[1:]:
        wall_s = statistics.median(walls[name])
        paired = statistics.median(
            b / u for b, u in zip(walls[base_name], walls[name], strict=True)
        )
        print(f"throughput: {name}: median {wall_s:.2f} s, {base_s / wall_s:.2f}x the "
              f"baseline ({base_s:.2f} s; median of the {REPEATS} paired ratios {paired:.2f}x); "
              f"bar >= 1.5x", flush=True)  # fmt: skip


if __name__ == "__main__":
    given = [[int(n) for n in arg.split(":")] for arg in sys.argv[1:]]
    main([(w, m, p[0] if p else 1) for w, m, *p in given] or SETTINGS)
