"""`make bench`: run every benchmark in this folder, one after another, and print figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = [
    "emulator_memory.py",
    "publish_rate.py",
    "throughput.py",
    "large_files.py",
    "service_quota.py",
]

for name in BENCHES:
    print(f"== {name}", flush=True)
    subprocess.run([sys.executable, str(Path(__file__).parent / name)], check=True)
