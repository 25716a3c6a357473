"""Targets: folders of module folders that the toolkit runs and checks.

`solutions/` and `exercises/` are packages of the installed project; a pristine exercise built into a
temporary folder (the course suite's second target) is not, so its folder goes on the import path.
This is the only place where the workshop changes the import path.
"""

from __future__ import annotations

import importlib
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
        """Put this target first on the import path (a folder named `exercises` elsewhere must win over the
        installed one), and forget a package of the same name imported from another folder."""
        if self.installed:
            return
        parent = str(self.root.parent)
        if sys.path[:1] != [parent]:
            if parent in sys.path:
                sys.path.remove(parent)
            sys.path.insert(0, parent)
        importlib.invalidate_caches()  # the folder may have been written after the import system looked
        loaded = sys.modules.get(self.package)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").parent != self.root:
            self.forget_modules()

    def forget_modules(self) -> None:
        """Drop this package's modules from the import cache, so the next import reads the files again."""
        for name in [n for n in sys.modules if n == self.package or n.startswith(self.package + ".")]:
            del sys.modules[name]
        importlib.invalidate_caches()

    def python_path(self) -> dict[str, str]:
        """What a subprocess needs in its environment to import this target."""
        return {} if self.installed else {"PYTHONPATH": str(self.root.parent)}

    def __str__(self) -> str:
        return self.kind
