"""Every figure the workshop reports, in one run: `python benchmarks/run.py`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    status = 0
    for script in ("account_api_load.py", "check_latency.py"):
        status |= subprocess.call([sys.executable, str(HERE / script)])
    sys.exit(status)
