"""Where the workshop keeps its files (settings that may move, like the state folder, are in settings.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
NOTEBOOKS = ROOT / "notebooks"
CHECKS = ROOT / "tests" / "checks"
