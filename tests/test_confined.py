"""The hostile tests' confinement bites: a child that reads without bound runs out of memory, one
that never ends is killed at the deadline, and ocimodel itself fits well inside the cap."""

from __future__ import annotations

from tests.harness import confined


def test_memory_past_the_cap_is_a_memory_error() -> None:
    outcome = confined.python("blob = bytearray(400 << 20)")
    assert outcome.returncode != 0
    assert outcome.out_of_memory


def test_a_child_that_never_ends_is_killed_at_the_deadline() -> None:
    outcome = confined.python("import time; time.sleep(30)", seconds=0.5)
    assert outcome.timed_out


def test_ocimodel_runs_inside_the_cap() -> None:
    outcome = confined.cli("version")
    assert (outcome.returncode, outcome.lines) == (0, [])
    assert outcome.stdout.strip()
