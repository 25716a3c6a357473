"""The course suite's judge of pristine exercises: a check must fail there, and for its own Part."""

import subprocess
import sys

from workshop.paths import ROOT

CHECKS = '''
import pytest


@pytest.mark.part("A")
def test_cannot_tell_solved_from_unsolved(target):
    target.load("01", "shared")


@pytest.mark.part("A")
def test_breaks_for_an_unrelated_reason(target):
    raise KeyError("a typo in the check")


@pytest.mark.part("B")
def test_fails_because_its_part_is_unsolved(target):
    if target.kind == "pristine":
        raise AssertionError("Part B: the payroll is started twice")
'''


def test_pristine_runs_are_judged_by_the_part_they_fail_for(tmp_path):
    suite = tmp_path / "test_fake_module.py"
    suite.write_text(CHECKS)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-p", "workshop.plugin", "-c", "/dev/null",
         "--rootdir", str(tmp_path), "-q", "-rA", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    outcomes = {}
    for line in completed.stdout.splitlines():
        verdict, _, rest = line.partition(" ")
        if verdict in {"PASSED", "FAILED"}:
            outcomes[rest.split("::")[1].split(" ")[0]] = verdict
    assert outcomes == {
        "test_cannot_tell_solved_from_unsolved[solutions]": "PASSED",
        "test_cannot_tell_solved_from_unsolved[pristine]": "FAILED",
        "test_breaks_for_an_unrelated_reason[solutions]": "FAILED",
        "test_breaks_for_an_unrelated_reason[pristine]": "FAILED",
        "test_fails_because_its_part_is_unsolved[solutions]": "PASSED",
        "test_fails_because_its_part_is_unsolved[pristine]": "PASSED",
    }, completed.stdout
    assert "passed on the pristine exercise" in completed.stdout
    assert "failed for another reason than Part A" in completed.stdout
