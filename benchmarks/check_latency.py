"""How long a learner waits for `python -m workshop check NN`: the median of several runs on the solution.

    python benchmarks/check_latency.py [--module 01] [--runs 5]

Each run is the whole command, as a learner types it: a fresh Python, pytest, a private dev server, the
account API and the time-skipping test server, the module's checks, and the verdict per Part.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def check_latency(module: str = "01", runs: int = 5) -> dict:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        completed = subprocess.run([sys.executable, "-m", "workshop", "check", module, "--solution"],
                                   cwd=ROOT, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if completed.returncode != 0:
            raise SystemExit(f"check {module} failed on the solution:\n{completed.stdout}{completed.stderr}")
    return {"module": module, "runs": runs, "median_s": statistics.median(seconds),
            "min_s": min(seconds), "max_s": max(seconds)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="01")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    figures = check_latency(args.module, args.runs)
    print(f"workshop check {figures['module']} (solution): median {figures['median_s']:.2f} s over "
          f"{figures['runs']} runs (min {figures['min_s']:.2f} s, max {figures['max_s']:.2f} s)")
