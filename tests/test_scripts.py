"""The scripts a fresh machine runs first: they lint clean, and scripts/install-system-deps finds
what is missing (checked against a dpkg and a python3 that say so, since this machine has it all
and nothing here uninstalls system packages)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = [*sorted(path for path in (ROOT / "scripts").iterdir() if path.is_file()), ROOT / ".ci" / "run"]
INSTALL = ROOT / "scripts" / "install-system-deps"
FOR_TESTS = ["docker-registry", "skopeo", "umoci", "apache2-utils", "shellcheck"]


def test_the_scripts_are_shellcheck_clean() -> None:
    assert shutil.which("shellcheck"), "shellcheck is not on PATH: run scripts/install-system-deps"
    result = subprocess.run(["shellcheck", *map(str, SCRIPTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", ["demo", "test", "bench"])
def test_each_script_installs_system_packages_before_making_the_venv(script: str) -> None:
    lines = (ROOT / "scripts" / script).read_text().splitlines()
    installs = next(i for i, line in enumerate(lines) if line.startswith("scripts/install-system-deps"))
    makes_venv = next(i for i, line in enumerate(lines) if line.startswith("python3 -m venv"))
    assert installs < makes_venv
    assert ("--demo" in lines[installs]) == (script == "demo")


def _machine(tmp_path: Path, *, installed: set[str], removed: frozenset[str] = frozenset(), python: str) -> Path:
    """A PATH of bash, grep and id, a ``dpkg`` that knows ``installed`` (and ``removed``, whose
    configuration is left), and a ``python3`` that is ``"working"``, ``"no-ensurepip"`` or
    ``"absent"``."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("bash", "grep", "id"):
        found = shutil.which(tool)
        assert found is not None
        (bin_ / tool).symlink_to(found)
    cases = "".join(f"{name}) echo 'Status: install ok installed' ;;\n" for name in sorted(installed))
    cases += "".join(f"{name}) echo 'Status: deinstall ok config-files' ;;\n" for name in sorted(removed))
    dpkg = bin_ / "dpkg"
    dpkg.write_text(
        f'#!/bin/sh\n[ "$1" = -s ] || exit 2\necho "Package: $2"\ncase "$2" in\n{cases}'
        "*) echo \"dpkg-query: package '$2' is not installed\" >&2; exit 1 ;;\nesac\n"
    )
    dpkg.chmod(0o755)
    if python == "working":
        (bin_ / "python3").symlink_to(sys.executable)
    elif python == "no-ensurepip":  # Debian's python3 without python3-venv: `import ensurepip` fails
        missing = "ModuleNotFoundError: No module named 'ensurepip'"
        (bin_ / "python3").write_text(f'#!/bin/sh\necho "{missing}" >&2\nexit 1\n')
        (bin_ / "python3").chmod(0o755)
    return bin_


def _would_install(bin_: Path, *arguments: str) -> list[str]:
    result = subprocess.run(
        [str(bin_ / "bash"), str(INSTALL), "--dry-run", *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(bin_)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize(
    ("installed", "removed", "python", "arguments", "expected"),
    [
        ({*FOR_TESTS}, frozenset(), "working", (), []),
        (set(), frozenset(), "absent", (), ["python3", "python3-venv", *FOR_TESTS]),
        ({*FOR_TESTS}, frozenset(), "no-ensurepip", (), ["python3-venv"]),
        ({*FOR_TESTS} - {"umoci"}, frozenset(), "working", (), ["umoci"]),
        ({*FOR_TESTS} - {"skopeo"}, frozenset({"skopeo"}), "working", (), ["skopeo"]),
        (set(), frozenset(), "working", ("--demo",), []),
        (set(), frozenset(), "no-ensurepip", ("--demo",), ["python3-venv"]),
        (set(), frozenset(), "absent", ("--demo",), ["python3", "python3-venv"]),
    ],
    ids=[
        "all-there",
        "bare-machine",
        "python-without-venv",
        "one-missing",
        "removed-config-left",
        "demo-all-there",
        "demo-without-venv",
        "demo-bare",
    ],
)
def test_install_system_deps_finds_what_is_missing(
    tmp_path: Path,
    installed: set[str],
    removed: frozenset[str],
    python: str,
    arguments: tuple[str, ...],
    expected: list[str],
) -> None:
    bin_ = _machine(tmp_path, installed=installed, removed=removed, python=python)
    assert _would_install(bin_, *arguments) == expected


def test_install_system_deps_refuses_an_unknown_argument() -> None:
    result = subprocess.run([str(INSTALL), "--bogus"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_the_readme_names_every_package_the_scripts_install(tmp_path: Path) -> None:
    bare = _would_install(_machine(tmp_path, installed=set(), python="absent"))
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Two commands") : readme.index("## A tour")]
    assert [package for package in bare if f"`{package}`" not in section] == []
