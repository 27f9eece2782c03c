"""A child process with a memory cap and a time limit, for hostile tests: what a hostile server or
file makes ocimodel do is run there, so that reading forever or without bound fails the test
(``MemoryError``, a kill at the deadline) instead of taking the test run down with it."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Mapping, Sequence

import attrs

#: What a hostile test may use at most (the issue's bound): address space, and seconds.
MEMORY = 200 << 20
SECONDS = 10.0


@attrs.frozen
class Outcome:
    """How the child ended: ``returncode`` (``None`` if it was killed at the deadline), its
    output, and whether it hit the memory cap (a ``MemoryError`` in its stderr)."""

    returncode: int | None
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def out_of_memory(self) -> bool:
        return "MemoryError" in self.stderr

    @property
    def lines(self) -> list[str]:
        """stderr's non-empty lines."""
        return [line for line in self.stderr.splitlines() if line.strip()]


def _cap(memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(
    argv: Sequence[str],
    *,
    memory: int = MEMORY,
    seconds: float = SECONDS,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Outcome:
    """Run ``argv`` (a command) confined; never raises for how it ended."""
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
        preexec_fn=lambda: _cap(memory),
    )
    try:
        out, err = process.communicate(stdin, timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        return Outcome(None, out, err)
    return Outcome(process.returncode, out, err)


def python(
    code: str, *, memory: int = MEMORY, seconds: float = SECONDS, env: Mapping[str, str] | None = None
) -> Outcome:
    """Run Python ``code`` (with ocimodel importable) confined; see :func:`run`."""
    return run([sys.executable, "-c", code], memory=memory, seconds=seconds, env=env)


def cli(
    *arguments: str,
    memory: int = MEMORY,
    seconds: float = SECONDS,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Outcome:
    """Run ``ocimodel ARGUMENTS`` confined; see :func:`run`."""
    return run([sys.executable, "-m", "ocimodel", *arguments], memory=memory, seconds=seconds, stdin=stdin, env=env)
