"""Runs a module's script as `python -m` does, and says in one line what stops it from loading.

    python -m workshop.launch exercises.module01_durable_execution.worker [its options]

`python -m workshop worker/run` start module code through this: a syntax error or a failed import in the
learner's files then reads `error: exercises/.../workflow.py, line 12: SyntaxError: ...`, not a stack
trace of the import machinery. Once the script runs, its own `run_script` handles what goes wrong.
"""

from __future__ import annotations

import runpy
import sys
import traceback
from pathlib import Path


def where(error: BaseException) -> str:
    """The learner's file and line that the error comes from, as a learner would look it up."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{_shown(error.filename)}, line {error.lineno}"
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if "importlib" not in frame.filename and not frame.filename.endswith(("runpy.py", "launch.py"))]
    if frames:
        return f"{_shown(frames[-1].filename)}, line {frames[-1].lineno}"
    return "while loading"


def _shown(filename: str) -> str:
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd()))
    except ValueError:
        return filename


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: python -m workshop.launch <module> [options]", file=sys.stderr)
        return 2
    name = sys.argv[1]
    sys.argv = [name, *sys.argv[2:]]
    try:
        runpy.run_module(name, run_name="__main__", alter_sys=True)
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130
    except Exception as error:  # the learner's code failed to load: say where, in one line
        detail = f"{type(error).__name__}: {error}".strip()
        if isinstance(error, SyntaxError):
            detail = f"SyntaxError: {error.msg}\n    {(error.text or '').rstrip()}"
        print(f"error: {where(error)}: {detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
