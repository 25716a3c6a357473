"""Targets: folders of module folders that the toolkit runs and checks.

`solutions/` and `exercises/` are packages of the installed project; a pristine exercise built into a
temporary folder (the course suite's second target) is not, so its folder goes on the import path.
This is the only place where the workshop changes the import path.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from types import ModuleType

from workshop import catalog
from workshop.paths import ROOT


@dataclass(frozen=True)
class Target:
    """A folder of module folders, importable as the package named like the folder."""

    kind: str  # "solutions", "pristine", "exercises", or the folder's name
    root: Path

    @property
    def package(self) -> str:
        return self.root.name

    @property
    def installed(self) -> bool:
        """True for solutions/ and exercises/ of this repository: importable without a path change."""
        return self.root.parent == ROOT

    def folder(self, number: str) -> Path:
        return self.root / catalog.get(number).folder

    def dotted(self, number: str, name: str) -> str:
        """The import name of a file of a module, for `python -m` and import_module."""
        return f"{self.package}.{catalog.get(number).folder}.{name}"

    def load(self, number: str, name: str) -> ModuleType:
        self.make_importable()
        return import_module(self.dotted(number, name))

    def make_importable(self) -> None:
        if not self.installed and str(self.root.parent) not in sys.path:
            sys.path.insert(0, str(self.root.parent))

    def python_path(self) -> dict[str, str]:
        """What a subprocess needs in its environment to import this target."""
        return {} if self.installed else {"PYTHONPATH": str(self.root.parent)}

    def __str__(self) -> str:
        return self.kind
