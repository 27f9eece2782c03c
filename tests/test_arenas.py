"""The cap on glibc's malloc arenas that ``copy --all-tags`` sets for its many threads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ocimodel import _arenas

_CAP = "from ocimodel._arenas import cap_arenas; print(cap_arenas())"


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        return False


@pytest.mark.skipif(not _glibc(), reason="the cap is glibc's")
def test_the_cap_is_set_on_glibc_unless_the_environment_sets_one() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    run = [sys.executable, "-c", _CAP]
    assert subprocess.run(run, capture_output=True, text=True, env=environment, check=True).stdout.strip() == "True"
    chosen = {**environment, "MALLOC_ARENA_MAX": "4"}
    assert subprocess.run(run, capture_output=True, text=True, env=chosen, check=True).stdout.strip() == "False"


def test_without_glibc_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)

    def no_glibc(name: str) -> str:
        raise ValueError(f"unrecognized configuration name {name}")

    monkeypatch.setattr(os, "confstr", no_glibc)
    assert _arenas.cap_arenas() is False
    monkeypatch.setattr(os, "confstr", lambda name: None)  # defined, but the C library says nothing
    assert _arenas.cap_arenas() is False
