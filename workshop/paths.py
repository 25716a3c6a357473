"""Where the workshop keeps its files."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
NOTEBOOKS = ROOT / "notebooks"
CHECKS = ROOT / "tests" / "checks"


def state_dir() -> Path:
    """The state folder: databases of `workshop up` and the learner's progress.

    ``WORKSHOP_STATE_DIR`` moves it (tests point it at a temporary folder).
    """
    path = Path(os.environ.get("WORKSHOP_STATE_DIR") or ROOT / ".workshop")
    path.mkdir(parents=True, exist_ok=True)
    return path
