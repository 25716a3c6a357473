"""`workshop check`: run a module's check suite against the learner's folder and judge it Part by Part.

The checks run in this process (`pytest.main` with a CheckRun plugin object that chooses the target
and collects the outcomes), so nothing goes through files, and `check --watch` keeps its servers
between runs. The verdict of a Part is computed here and only here.
"""

from __future__ import annotations

import contextlib
import io
import os
import py_compile
import time
import traceback
from dataclasses import dataclass, field
from importlib import import_module

import pytest

from workshop import catalog
from workshop.paths import CHECKS, ROOT
from workshop.plugin import CheckRun, Outcome
from workshop.services import Services
from workshop.targets import Target


class CheckError(Exception):
    """The checks could not run (not: a check failed); the message says why."""


@dataclass
class PartVerdict:
    part: catalog.Part
    failures: list[str] = field(default_factory=list)  # the first line of each distinct failure

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class CheckResult:
    module: catalog.Module
    target: Target
    verdicts: list[PartVerdict]
    seconds: float

    @property
    def passed(self) -> list[str]:
        return [v.part.letter for v in self.verdicts if v.passed]

    @property
    def first_open(self) -> PartVerdict | None:
        return next((v for v in self.verdicts if not v.passed), None)


def judge(module: catalog.Module, outcomes: list[Outcome]) -> list[PartVerdict]:
    """Each Part's verdict: passed when at least one check of the Part ran and none failed."""
    verdicts = {part.letter: PartVerdict(part) for part in module.parts}
    ran: set[str] = set()
    for outcome in outcomes:
        if outcome.part not in verdicts:
            continue
        ran.add(outcome.part)
        if outcome.outcome != "passed":
            message = outcome.message.strip() or f"{outcome.test} {outcome.outcome}"
            # "Part A: ..." is the check's own message; the exception's class name adds nothing for the learner.
            first_line = message.splitlines()[0].removeprefix("AssertionError: ")
            if first_line not in verdicts[outcome.part].failures:
                verdicts[outcome.part].failures.append(first_line)
    for letter, verdict in verdicts.items():
        if letter not in ran:
            verdict.failures.append("no check ran for this Part")
    return list(verdicts.values())


def problems_in(module: catalog.Module, target: Target) -> str | None:
    """A syntax error or an import error in the learner's module files, said as the learner can act on it."""
    folder = target.root / module.folder
    for path in sorted(folder.glob("*.py")):
        try:
            py_compile.compile(str(path), doraise=True)
        except py_compile.PyCompileError as err:
            error = err.exc_value
            if isinstance(error, SyntaxError):
                where = f"{path.relative_to(target.root.parent)}, line {error.lineno}"
                return f"{where}: {error.msg}\n    {(error.text or '').rstrip()}"
            return f"{path.relative_to(target.root.parent)}: {err.msg}"
    target.make_importable()
    for path in sorted(folder.glob("*.py")):
        name = f"{target.package}.{module.folder}.{path.stem}"
        try:
            import_module(name)
        except Exception as err:  # the learner's code may raise anything while it is imported
            frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith(str(folder))]
            where = f"{frames[-1].filename.removeprefix(str(target.root.parent) + '/')}, line {frames[-1].lineno}" \
                if frames else str(path.relative_to(target.root.parent))
            return f"{where}: importing {name} raised {type(err).__name__}: {err}"
    return None


def run_checks(module: catalog.Module, target: Target, *, verbose: bool = False,
               services: Services | None = None) -> CheckResult:
    suite = CHECKS / f"test_module{module.number}.py"
    if not suite.exists():
        raise CheckError(f"Module {module.number} has no check suite yet ({suite.relative_to(ROOT)}).")
    problem = problems_in(module, target)
    if problem:
        raise CheckError(f"Your code cannot be loaded, so no check can run yet:\n  {problem}")
    borrowed = services is None
    services = services or Services(borrow_from_up=True)
    run = CheckRun(target, services)
    # Only the plugins a check needs; the rest of the course suite's (notebooks, parallel runs, fuzzing)
    # would cost the learner seconds on every check. Assertions stay plain: every check states its message.
    args = [str(suite), "--rootdir", str(ROOT), "-c", str(ROOT / "pytest.ini"), "-o", "addopts=", "--assert=plain",
            "-p", "no:nbval", "-p", "no:xdist", "-p", "no:hypothesispytest", "-p", "no:cacheprovider",
            "-p", "no:warnings", "-q", "--no-header"]
    started = time.monotonic()
    # The checks point this process's environment at their private servers; the learner's settings
    # (state folder, bank, Temporal address) must be as they were afterwards.
    environment = dict(os.environ)
    try:
        if verbose:
            code = pytest.main(args, plugins=[run])
            output = ""
        else:
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                code = pytest.main([*args, "--tb=no"], plugins=[run])
            output = buffer.getvalue()
    finally:
        os.environ.clear()
        os.environ.update(environment)
        if borrowed:
            services.stop()
    seconds = time.monotonic() - started
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) or not run.outcomes:
        raise CheckError(f"The checks of module {module.number} could not run (pytest exit code {int(code)}):\n"
                         f"{output[-3000:]}")
    return CheckResult(module, target, judge(module, run.outcomes), seconds)
