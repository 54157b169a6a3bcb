"""Uploader memory on large files: peak RSS of `uploader run` sending 2 x 512 MiB.

Writes two files of SIZE_MIB pseudo-random bytes (a random 1 MiB block, each copy
stamped with its index), lists them as the two assets of one version, and uploads them
with `uploader run` (default settings) to `uploader emulator`, each in its own process.
The peak RSS is the uploader process's `ru_maxrss` (the kernel's high-water mark, from
`os.wait4`); for scale, the same for a run of one 1 KiB asset. The issue's bar: <= 150 MiB.

    .venv/bin/python bench/large_files.py [SIZE_MIB]
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

from _harness import KIB, MIB, EmulatorProcess, run_uploader

ASSETS = 2


def make_file(path: Path, size_mib: int, seed: int) -> None:
    """`size_mib` MiB: one random 1 MiB block, each copy starting with its index."""
    block = random.Random(seed).randbytes(MIB)
    with path.open("wb") as out:
        for i in range(size_mib):
            out.write(i.to_bytes(8, "big") + block[8:])


def upload(root: Path, sizes_bytes: list[int]) -> tuple[float, int, dict[str, object]]:
    """Upload one version of these files; (wall s, peak RSS KiB, report totals)."""
    files = root / "files"
    files.mkdir()
    for i, size in enumerate(sizes_bytes):
        path = files / f"big{i}.bin"
        if size >= MIB:
            make_file(path, size // MIB, seed=i)
        else:
            path.write_bytes(random.Random(i).randbytes(size))
    manifest = root / "manifest.jsonl"
    assets = [{"path": f"files/big{i}.bin"} for i in range(len(sizes_bytes))]
    manifest.write_text(json.dumps({"package": "big", "version": "1", "assets": assets}) + "\n")
    with EmulatorProcess(root / "emulator") as emulator:
        run = run_uploader(manifest, emulator.endpoint, root, timeout_s=900)
    if run.process.returncode != 0:
        raise RuntimeError(f"uploader exit {run.process.returncode}: {run.report['totals']}")
    return run.process.wall_s, run.process.peak_rss_kib, run.report["totals"]


def main(size_mib: int = 512) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _, small_kib, _ = upload(Path(tmp), [KIB])
    with tempfile.TemporaryDirectory() as tmp:
        wall_s, peak_kib, totals = upload(Path(tmp), [size_mib * MIB] * ASSETS)
    total_mib = ASSETS * size_mib
    print(f"large_files: {ASSETS} x {size_mib} MiB in one version: wall {wall_s:.1f} s "
          f"({total_mib / wall_s:.0f} MiB/s, hashing included), peak RSS {peak_kib / KIB:.1f} "
          f"MiB (one 1 KiB asset: {small_kib / KIB:.1f} MiB); totals {json.dumps(totals)}; "
          f"bar <= 150 MiB")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 512)
