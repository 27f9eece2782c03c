"""What commands import before they do anything: start-up time is mostly imports, so the modules a
command does not need must stay unloaded (the benchmark measures the time; this pins the cause)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# What each fresh interpreter runs, and modules (package prefixes) it must not have loaded after.
CASES = {
    "version": (
        "import ocimodel.cli; ocimodel.cli.main(['version'])",
        ["attr", "attrs", "cattrs", "urllib3", "ocimodel.errors", "ocimodel.remote", "logging", "json", "pathlib"],
    ),
    "push and pull": (
        "import ocimodel.remote, ocimodel.layout",
        ["ocimodel.configfile", "ocimodel.tarball", "ocimodel.layer._sources", "tarfile", "ocimodel.mutate"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_modules_a_command_does_not_need_are_not_loaded(case: str) -> None:
    code, unwanted = CASES[case]
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"  # imports nothing more itself
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = result.stdout.splitlines()[-1].split()
    found = [name for name in loaded if any(name == each or name.startswith(f"{each}.") for each in unwanted)]
    assert found == []


def test_the_probe_sees_what_is_loaded() -> None:
    probe = "import ocimodel.tarball\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert {"ocimodel.configfile", "tarfile"} <= set(result.stdout.splitlines()[-1].split())
