"""The learner's progress: which Parts passed at the last check, which hints were shown, the module they are on.

Kept in `<state folder>/progress.json`. A file that cannot be read (edited by hand, cut short by a full
disk) is set aside as `progress.json.broken` with a warning, and progress starts again: losing the
record of hints shown is better than a toolkit that no longer starts.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workshop import settings

FORMAT = 1


@dataclass
class ModuleProgress:
    passed: list[str] = field(default_factory=list)  # Parts that passed at the last check
    checked_at: str | None = None  # ISO time of the last check
    hints_shown: dict[str, int] = field(default_factory=dict)  # Part letter -> how many hints were shown

    @classmethod
    def from_json(cls, data: Any) -> ModuleProgress:
        if not isinstance(data, dict):
            raise ValueError("a module's record is not an object")
        passed = data.get("passed", [])
        hints = data.get("hints_shown", {})
        checked_at = data.get("checked_at")
        if not (isinstance(passed, list) and all(isinstance(p, str) for p in passed)):
            raise ValueError("'passed' is not a list of Part letters")
        if not (isinstance(hints, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in hints.values())):
            raise ValueError("'hints_shown' is not a map of Part letters to counts")
        if checked_at is not None and not isinstance(checked_at, str):
            raise ValueError("'checked_at' is not a time")
        return cls(passed=list(passed), checked_at=checked_at, hints_shown=dict(hints))


@dataclass
class Progress:
    modules: dict[str, ModuleProgress] = field(default_factory=dict)
    current: str | None = None  # the module the learner checked or asked a hint for last

    def of(self, number: str) -> ModuleProgress:
        return self.modules.setdefault(number, ModuleProgress())

    @classmethod
    def from_json(cls, data: Any) -> Progress:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a progress file of format {FORMAT}")
        modules = data.get("modules", {})
        current = data.get("current")
        if not isinstance(modules, dict) or not (current is None or isinstance(current, str)):
            raise ValueError("'modules' or 'current' has the wrong type")
        return cls({str(number): ModuleProgress.from_json(record) for number, record in modules.items()}, current)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "current": self.current,
                "modules": {number: asdict(record) for number, record in sorted(self.modules.items())}}


def progress_file() -> Path:
    return settings.state_dir() / "progress.json"


def load() -> Progress:
    path = progress_file()
    try:
        return Progress.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return Progress()
    except (OSError, UnicodeDecodeError, ValueError) as err:
        broken = path.with_name(path.name + ".broken")
        try:
            path.replace(broken)
        except OSError:
            pass
        print(f"warning: {path} could not be read ({err}); it was moved to {broken.name} and progress starts "
              "again (hints shown and Parts passed are re-learned at the next check).", file=sys.stderr)
        return Progress()


def save(progress: Progress) -> None:
    path = progress_file()
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(progress.to_json(), indent=2), encoding="utf-8")
    os.replace(partial, path)  # never a half-written file, even if the process dies mid-write
