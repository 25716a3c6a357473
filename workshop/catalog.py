"""Reads workshop/modules.toml, the course's module metadata: the one source of numbers, titles, Parts and hints.

The file has a format version and is read strictly: an unknown key, a missing one or a value of the
wrong kind is an error that names the module and the key, so a typo never silently drops a hint.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

METADATA = Path(__file__).with_name("modules.toml")
FORMAT = 1

MODULE_KEYS: dict[str, type] = {"number": str, "folder": str, "title": str, "goal": str, "timebox_minutes": int, "ready": bool,
               "runner": str, "notebook": str, "part": list}
REQUIRED_MODULE_KEYS = {"number", "folder", "title", "goal", "timebox_minutes"}
PART_KEYS: dict[str, type] = {"letter": str, "title": str, "hints": list}


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
    runner: str = "run_workflow.py"
    notebook: str | None = None
    parts: tuple[Part, ...] = field(default_factory=tuple)

    @property
    def topic(self) -> str:
        """"retries" for module02_retries."""
        return self.folder.split("_", 1)[1]

    def part(self, letter: str) -> Part:
        for part in self.parts:
            if part.letter == letter:
                return part
        raise KeyError(f"Module {self.number} has no Part {letter}")


class UnknownModule(LookupError):
    """A module number the course does not have."""


class MetadataError(ValueError):
    """modules.toml says something the toolkit cannot use."""


def _check_keys(table: dict[str, Any], allowed: dict[str, type], required: set[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise MetadataError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}.")
    missing = sorted(required - set(table))
    if missing:
        raise MetadataError(f"{where}: missing key(s) {', '.join(missing)}.")
    for key, value in table.items():
        expected = allowed[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise MetadataError(f"{where}: {key} must be a {expected.__name__}, not {type(value).__name__}.")


def parse(text: str, source: str = "modules.toml") -> tuple[Module, ...]:
    """The modules of a modules.toml text; MetadataError if anything in it is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise MetadataError(f"{source}: {err}") from None
    if data.get("format") != FORMAT:
        raise MetadataError(f"{source}: expected `format = {FORMAT}` at the top, found {data.get('format')!r}.")
    unknown = sorted(set(data) - {"format", "module"})
    if unknown:
        raise MetadataError(f"{source}: unknown top-level key(s) {', '.join(unknown)}.")
    modules: list[Module] = []
    for index, entry in enumerate(data.get("module", []), start=1):
        where = f"{source}, module #{index} ({entry.get('number', '?')})"
        _check_keys(entry, MODULE_KEYS, REQUIRED_MODULE_KEYS, where)
        number, folder = entry["number"], entry["folder"]
        if not re.fullmatch(r"\d\d", number) or not re.fullmatch(rf"module{number}_[a-z0-9_]+", folder):
            raise MetadataError(f"{where}: number must be two digits and folder 'module{number}_<topic>'.")
        if entry["timebox_minutes"] <= 0:
            raise MetadataError(f"{where}: timebox_minutes must be positive.")
        notebook = entry.get("notebook")
        if notebook is not None and not re.fullmatch(rf"{number}_[a-z0-9_]+\.ipynb", notebook):
            raise MetadataError(f"{where}: notebook must be named '{number}_<topic>.ipynb'.")
        parts = []
        for letter_index, part in enumerate(entry.get("part", [])):
            part_where = f"{where}, part #{letter_index + 1}"
            _check_keys(part, PART_KEYS, set(PART_KEYS), part_where)
            expected_letter = "ABCDEFGHIJ"[letter_index]
            if part["letter"] != expected_letter:
                raise MetadataError(f"{part_where}: Parts go A, B, C, ...; expected {expected_letter}, "
                                    f"found {part['letter']!r}.")
            if not part["hints"] or not all(isinstance(h, str) and h.strip() for h in part["hints"]):
                raise MetadataError(f"{part_where}: hints must be a non-empty list of texts.")
            parts.append(Part(part["letter"], part["title"], tuple(part["hints"])))
        ready = entry.get("ready", True)
        if ready and not parts:
            raise MetadataError(f"{where}: a ready module needs Parts.")
        modules.append(Module(number=number, folder=folder, title=entry["title"], goal=entry["goal"],
                              timebox_minutes=entry["timebox_minutes"], ready=ready,
                              runner=entry.get("runner", "run_workflow.py"), notebook=notebook, parts=tuple(parts)))
    numbers = [m.number for m in modules]
    if numbers != sorted(set(numbers)):
        raise MetadataError(f"{source}: module numbers must be unique and in order; found {', '.join(numbers)}.")
    return tuple(modules)


@lru_cache(maxsize=1)
def modules() -> tuple[Module, ...]:
    return parse(METADATA.read_text(encoding="utf-8"), str(METADATA.name))


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
