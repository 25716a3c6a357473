"""Reads workshop/modules.toml, the course's module metadata."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

METADATA = Path(__file__).with_name("modules.toml")


@dataclass(frozen=True)
class Part:
    letter: str
    title: str
    hints: tuple[str, ...]


@dataclass(frozen=True)
class Module:
    number: str
    folder: str
    title: str
    goal: str
    timebox_minutes: int
    ready: bool
    runner: str | None = None
    notebook: str | None = None
    parts: tuple[Part, ...] = field(default_factory=tuple)

    def part(self, letter: str) -> Part:
        for part in self.parts:
            if part.letter == letter:
                return part
        raise KeyError(f"Module {self.number} has no Part {letter}")


class UnknownModule(LookupError):
    """A module number the course does not have."""


@lru_cache(maxsize=1)
def modules() -> tuple[Module, ...]:
    data = tomllib.loads(METADATA.read_text(encoding="utf-8"))
    result = []
    for entry in data["module"]:
        parts = tuple(
            Part(p["letter"], p["title"], tuple(p.get("hints", ()))) for p in entry.get("part", ())
        )
        result.append(
            Module(
                number=entry["number"],
                folder=entry["folder"],
                title=entry["title"],
                goal=entry["goal"],
                timebox_minutes=entry["timebox_minutes"],
                ready=entry.get("ready", True),
                runner=entry.get("runner"),
                notebook=entry.get("notebook"),
                parts=parts,
            )
        )
    return tuple(result)


def ready_modules() -> tuple[Module, ...]:
    return tuple(m for m in modules() if m.ready)


def get(number: str | int) -> Module:
    """The module with this number; accepts "1", "01" or 1."""
    text = str(number).strip()
    if text.isdigit():
        text = f"{int(text):02d}"
    for module in modules():
        if module.number == text:
            if not module.ready:
                raise UnknownModule(
                    f"Module {module.number} ({module.title}) is not ready yet. "
                    f"Ready modules: {', '.join(m.number for m in ready_modules())}."
                )
            return module
    valid = ", ".join(m.number for m in ready_modules())
    raise UnknownModule(f"There is no module {number!r}. Valid module numbers: {valid}.")
