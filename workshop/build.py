"""Derive the exercises from the solutions.

A solution file marks the code a learner writes, and (for the bug-fix module) the bugs an exercise ships
with. Markers are comments, so the solution reads naturally:

    # >>> Part B: Give the activities a retry policy and timeouts.
    retry_policy = RetryPolicy(initial_interval=timedelta(seconds=1), ...)
    # --- exercise version:
    # retry_policy = RetryPolicy(maximum_attempts=1)
    # <<< Part B

In the exercise a Part block becomes a ``# TODO Part B: ...`` comment followed by the exercise version,
or, when there is none, by ``raise NotImplementedError("Part B: ...")``. A fix block

    # >>> Fixed bug: the workflow divided by the wrong field.
    fee = amount // 100
    # --- exercise version:
    # fee = amount // 0
    # <<< Fixed bug

becomes the buggy exercise version alone, with no marker: finding it is the learner's job.
"""

from __future__ import annotations

import ast
import filecmp
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from workshop import catalog
from workshop.paths import EXERCISES, ROOT, SOLUTIONS

BEGIN = re.compile(r"^(?P<indent>\s*)# >>> (?:Part (?P<letter>[A-Z]): (?P<title>.+)|Fixed bug: (?P<bug>.+))$")
EXERCISE = re.compile(r"^\s*# --- exercise version:\s*$")
END = re.compile(r"^\s*# <<< (?:Part (?P<letter>[A-Z])|Fixed bug)\s*$")
SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


class MarkerError(ValueError):
    """A solution file whose markers do not nest or close."""


def _uncomment(line: str, indent: str, where: str) -> str:
    if not line.strip():
        return ""
    stripped = line[len(indent):] if line.startswith(indent) else line.lstrip()
    if stripped == "#":
        return ""
    if not stripped.startswith("# "):
        raise MarkerError(f"{where}: an exercise version line must be a comment starting with '# ': {line!r}")
    return indent + stripped[2:]


def derive_source(text: str, where: str = "<source>") -> str:
    """The exercise version of one solution file's text."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        begin = BEGIN.match(line)
        if END.match(line) or EXERCISE.match(line):
            raise MarkerError(f"{where}:{i + 1}: marker without a matching '# >>>' line")
        if not begin:
            out.append(line)
            i += 1
            continue
        indent, letter, title = begin["indent"], begin["letter"], begin["title"] or begin["bug"]
        start = i
        exercise: list[str] | None = None
        i += 1
        while i < len(lines) and not END.match(lines[i]):
            if BEGIN.match(lines[i]):
                raise MarkerError(f"{where}:{i + 1}: block opened at line {start + 1} is not closed")
            if EXERCISE.match(lines[i]):
                exercise = []
            elif exercise is not None:
                exercise.append(_uncomment(lines[i], indent, f"{where}:{i + 1}"))
            i += 1
        if i == len(lines):
            raise MarkerError(f"{where}:{start + 1}: block is not closed with a '# <<<' line")
        end = END.match(lines[i])
        if end is None or (end["letter"] or None) != letter:
            raise MarkerError(f"{where}:{i + 1}: closes a different block than the one opened at line {start + 1}")
        if letter:
            out.append(f"{indent}# TODO Part {letter}: {title}")
            if exercise is None:
                message = f"Part {letter} is not done yet: {title.rstrip('.')}. See README.md, Part {letter}."
                out.append(f"{indent}raise NotImplementedError({message!r})")
            else:
                out.extend(exercise)
        else:
            if exercise is None:
                raise MarkerError(f"{where}:{start + 1}: a 'Fixed bug' block needs an exercise version")
            out.extend(exercise)
        i += 1
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _used_names(tree: ast.AST) -> set[str]:
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            used.add(node.value)  # a name in a string annotation, or in __all__
    return used


def prune_unused_imports(text: str, where: str = "<source>") -> str:
    """Drop the imports that an exercise no longer uses: they were there for the code the learner writes,
    and an exercise that imports `WorkflowIDReusePolicy` has given half the answer away."""
    tree = ast.parse(text)
    used = _used_names(tree)
    lines = text.splitlines()
    edits: list[tuple[int, int, list[str]]] = []  # (first line, last line, replacement), 1-based
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or getattr(node, "module", None) == "__future__":
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            continue  # the module's own files: naming them gives nothing away
        kept = [alias for alias in node.names
                if (alias.asname or alias.name.split(".")[0]) in used or alias.name == "*"]
        if len(kept) == len(node.names):
            continue
        indent = " " * node.col_offset
        if not kept:
            replacement: list[str] = []
        elif isinstance(node, ast.Import):
            replacement = [indent + "import " + ", ".join(_alias(a) for a in kept)]
        else:
            head = f"{indent}from {'.' * node.level}{node.module or ''} import "
            one_line = head + ", ".join(_alias(a) for a in kept)
            if node.lineno == node.end_lineno or len(one_line) <= 100:
                replacement = [one_line]
            else:
                replacement = [head + "("] + [f"{indent}    {_alias(a)}," for a in kept] + [indent + ")"]
        edits.append((node.lineno, node.end_lineno or node.lineno, replacement))
    for first, last, replacement in sorted(edits, reverse=True):
        lines[first - 1:last] = replacement
        if not replacement and 1 < first <= len(lines) and not lines[first - 2].strip() and not lines[first - 1].strip():
            del lines[first - 1]  # no second blank line where an import group was
    result = "\n".join(lines) + ("\n" if text.endswith("\n") else "")
    try:
        ast.parse(result)
    except SyntaxError as err:
        raise MarkerError(f"{where}: removing the exercise's unused imports broke it ({err}); "
                          "keep something in that import block") from None
    return result


def _alias(alias: ast.alias) -> str:
    return f"{alias.name} as {alias.asname}" if alias.asname else alias.name


def solution_parts(module: catalog.Module) -> set[str]:
    """The Part letters marked in a module's solution files."""
    letters: set[str] = set()
    for path in (SOLUTIONS / module.folder).rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = BEGIN.match(line)
            if match and match["letter"]:
                letters.add(match["letter"])
    return letters


@dataclass
class BuiltFile:
    relative: Path
    content: bytes


def derive_module(module: catalog.Module, solutions_root: Path = SOLUTIONS) -> list[BuiltFile]:
    """Every file of one module's exercise, as the build makes it."""
    source = solutions_root / module.folder
    files = []
    for path in sorted(source.rglob("*")):
        if path.is_dir() or SKIPPED.intersection(path.relative_to(source).parts):
            continue
        relative = path.relative_to(source)
        if path.suffix == ".py":
            where = str(path.relative_to(solutions_root.parent))
            content = prune_unused_imports(derive_source(path.read_text(encoding="utf-8"), where), where).encode("utf-8")
        else:
            content = path.read_bytes()
        files.append(BuiltFile(relative, content))
    return files


def write_module(module: catalog.Module, destination_root: Path) -> Path:
    """Write a pristine exercise of ``module`` under ``destination_root``; returns its folder."""
    target = destination_root / module.folder
    if target.exists():
        shutil.rmtree(target)
    for built in derive_module(module):
        path = target / built.relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(built.content)
    return target


def write_package(destination_root: Path, modules: tuple[catalog.Module, ...] | None = None) -> Path:
    """A whole pristine exercises package (with its __init__.py) under ``destination_root``."""
    destination_root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOLUTIONS / "__init__.py", destination_root / "__init__.py")
    for module in modules or catalog.ready_modules():
        write_module(module, destination_root)
    return destination_root


def differences(module: catalog.Module, exercises_root: Path = EXERCISES) -> list[str]:
    """Files of ``exercises_root`` that differ from the pristine build of ``module``."""
    built = {f.relative: f.content for f in derive_module(module)}
    folder = exercises_root / module.folder
    present = {
        p.relative_to(folder)
        for p in folder.rglob("*")
        if p.is_file() and not SKIPPED.intersection(p.relative_to(folder).parts)
    } if folder.exists() else set()
    changed = []
    for relative in sorted(set(built) | present):
        path = folder / relative
        if relative not in built:
            changed.append(f"{module.folder}/{relative} (not made by the build)")
        elif not path.exists():
            changed.append(f"{module.folder}/{relative} (missing)")
        elif path.read_bytes() != built[relative]:
            changed.append(f"{module.folder}/{relative}")
    return changed


TABLE_START = "<!-- module table: generated by `python -m workshop build` from workshop/modules.toml -->"
TABLE_END = "<!-- end of module table -->"


def module_table() -> str:
    rows = ["| # | module | you will learn | time |", "|---|---|---|---|"]
    for module in catalog.modules():
        name = f"[{module.title}](exercises/{module.folder}/README.md)" if module.ready else f"{module.title} (coming soon)"
        rows.append(f"| {module.number} | {name} | {module.goal} | {module.timebox_minutes} min |")
    return "\n".join(rows)


def sync_readme(check: bool = False) -> bool:
    """Put the module table into README.md; returns True when it was out of date."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    before, rest = text.split(TABLE_START, 1)
    _, after = rest.split(TABLE_END, 1)
    updated = f"{before}{TABLE_START}\n{module_table()}\n{TABLE_END}{after}"
    if updated != text and not check:
        readme.write_text(updated, encoding="utf-8")
    return updated != text


def build_all(check: bool = False, only: catalog.Module | None = None) -> list[str]:
    """Regenerate exercises/ and the README's module table (or, with ``check``, only report what differs);
    with ``only``, just that module's exercise."""
    changed: list[str] = ["README.md (module table)"] if sync_readme(check) else []
    for module in [only] if only else catalog.ready_modules():
        changed += differences(module)
        if not check:
            write_module(module, EXERCISES)
    init = EXERCISES / "__init__.py"
    if not init.exists() or not filecmp.cmp(init, SOLUTIONS / "__init__.py", shallow=False):
        changed.append("__init__.py")
        if not check:
            shutil.copyfile(SOLUTIONS / "__init__.py", init)
    return changed
