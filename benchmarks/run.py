"""Every figure the workshop reports, in one run, printed and (with --write) kept in benchmarks/README.md.

    python benchmarks/run.py            # everything, about 15 minutes on 2 cores
    python benchmarks/run.py --write    # the same, and the figures replace those in benchmarks/README.md
    python benchmarks/run.py --only transfers,bank

Each benchmark runs both sides of its comparison in the same run (absolute times vary from machine to
machine; ratios much less). Run it on a quiet machine: other load skews every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
START = "<!-- figures: written by `python benchmarks/run.py --write` -->"
END = "<!-- end of figures -->"

# name -> (title, command); each command prints its own table.
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "transfers": ("Transfer throughput: module 02's transfer, real activities vs no-op activities",
                  ["benchmarks/transfer_throughput.py"]),
    "bank": ("The account API vs a naive JSON-file bank", ["benchmarks/account_api_vs_baseline.py"]),
    "classroom": ("Classroom load: 30 learners, a worker each, one dev server", ["benchmarks/classroom_load.py"]),
    "feedback": ("The learner's feedback loop: `workshop check NN`, and a stuck execution after the fix",
                 ["benchmarks/feedback_loop.py"]),
    "chaos": ("Chaos run, short form (the one CI runs)", ["benchmarks/chaos.py"]),
    "suite": ("The course's test suite (`pytest`, every module, notebooks, browser tests, chaos short form)",
              ["-m", "pytest", "-q", "-p", "no:randomly"]),
}


def run(name: str) -> tuple[str, float, int]:
    title, command = BENCHMARKS[name]
    print(f"\n## {title}\n$ python {' '.join(command)}", flush=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    output = done.stdout.strip()
    if name == "suite":  # the summary line is the figure; the dots are not
        output = "\n".join(line for line in output.splitlines()[-3:] if " in " in line) or output[-500:]
    if done.returncode != 0:
        output += f"\n(exit code {done.returncode})\n{done.stderr.strip()[-1500:]}"
    print(output, flush=True)
    return output, seconds, done.returncode


def write(sections: list[tuple[str, str, float]]) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    body = [START, f"Measured on {date.today().isoformat()} ({machine}) by `python benchmarks/run.py --write`.", ""]
    for name, output, seconds in sections:
        title, command = BENCHMARKS[name]
        body += [f"### {title}", "", f"`python {' '.join(command)}` ({seconds:.0f} s)", "", "```text", output, "```", ""]
    body.append(END)
    text = README.read_text(encoding="utf-8")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    README.write_text(before + "\n".join(body) + after, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--write", action="store_true", help="replace the figures in benchmarks/README.md")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    sections, status = [], 0
    for name in names:
        output, seconds, code = run(name)
        sections.append((name, output, seconds))
        status |= code
    if args.write:
        write(sections)
        print(f"\nWrote {README.relative_to(ROOT)}.")
    return status


if __name__ == "__main__":
    sys.exit(main())
