"""Every module README's `console` blocks are run, and their output compared, so the text cannot rot.

In a ```console block a line starting with `$ ` is a command; the lines up to the next command are the
output it shows (standard output only: worker logs go to standard error). Commands run as a learner who
has solved the module runs them: against a copy of solutions/ named `exercises` (WORKSHOP_MODULES_DIR),
with the session's servers, the bank reset at the start of each README. Output is compared after the
notebooks' sanitize patterns; a line `...` stands for any number of lines.
"""

import configparser
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from workshop import catalog
from workshop.paths import NOTEBOOKS, ROOT, SOLUTIONS
from workshop.targets import Target


@dataclass
class Command:
    line: int
    command: str
    expected: list[str]


def console_commands(readme: Path) -> list[Command]:
    commands: list[Command] = []
    in_console = False
    for number, line in enumerate(readme.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip().startswith("```"):
            in_console = line.strip() == "```console"
            continue
        if not in_console:
            continue
        if line.startswith("$ "):
            commands.append(Command(number, line[2:], []))
        elif commands:
            commands[-1].expected.append(line.rstrip())
    return commands


def sanitize(text: str) -> str:
    config = configparser.ConfigParser(interpolation=None)
    config.read(NOTEBOOKS / "sanitize.cfg")
    for section in config.sections():
        text = re.sub(config[section]["regex"], config[section]["replace"], text)
    return text


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; `...` matches any number of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


READMES = [SOLUTIONS / m.folder / "README.md" for m in catalog.ready_modules()]


@pytest.fixture(scope="session")
def solved_exercises(tmp_path_factory) -> Target:
    """exercises/ as a learner has it once every module is solved: the solutions, under the exercises' name."""
    root = tmp_path_factory.mktemp("solved") / "exercises"
    shutil.copytree(SOLUTIONS, root, ignore=shutil.ignore_patterns("__pycache__"))
    return Target("exercises", root)


@pytest.mark.parametrize("readme", READMES, ids=[p.parent.name for p in READMES])
def test_readme_commands_show_what_they_print(readme, bank, client, services, solved_exercises):
    commands = console_commands(readme)
    assert commands, f"{readme.relative_to(ROOT)} shows no command in a ```console block"
    env = services.env(modules_dir=solved_exercises.root, **solved_exercises.python_path())
    for command in commands:
        # From the copy's folder, so `python -m exercises...` finds the solved copy, as a learner's would.
        completed = subprocess.run(command.command, shell=True, cwd=solved_exercises.root.parent, env=env,
                                   text=True, capture_output=True, timeout=120)
        actual = sanitize(completed.stdout.rstrip("\n")).splitlines()
        expected = [sanitize(line) for line in command.expected]
        assert matches(expected, actual), (
            f"{readme.relative_to(ROOT)}:{command.line}: `{command.command}` printed\n"
            + "\n".join(actual) + "\n\nbut the README shows\n" + "\n".join(command.expected)
            + f"\n\n(its standard error:\n{completed.stderr[-2000:]})"
        )
