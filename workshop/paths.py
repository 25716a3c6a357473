"""Where the workshop keeps its files."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
NOTEBOOKS = ROOT / "notebooks"
CHECKS = ROOT / "tests" / "checks"


def module_env(modules_root: Path) -> dict[str, str]:
    """The environment of a subprocess that runs a module (`python -m <package>.<module>.worker`):
    the folder holding the package of modules and the repository (for `workshop`) on PYTHONPATH."""
    env = dict(os.environ)
    paths = [str(modules_root.parent), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def state_dir() -> Path:
    """The state folder: databases of `workshop up` and the learner's progress.

    ``WORKSHOP_STATE_DIR`` moves it (tests point it at a temporary folder).
    """
    path = Path(os.environ.get("WORKSHOP_STATE_DIR") or ROOT / ".workshop")
    path.mkdir(parents=True, exist_ok=True)
    return path
