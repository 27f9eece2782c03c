"""What commands import before they do anything: start-up time is mostly imports, so the modules a
command does not need must stay unloaded (the benchmark measures the time; this pins the cause)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ocimodel import random, remote
from tests.harness.distribution import DistributionRegistry

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


# What each verb must not load, run for real against the registry: the image model, the JSON
# converter and the writers are for the verbs that read or write images, not for single requests.
_IMAGE_MODEL = ["cattrs", "ocimodel.image", "ocimodel.layer", "ocimodel.remote._objects"]
_NOT_FOR_TRANSFERS = [
    "ocimodel.tarball",
    "tarfile",
    "ocimodel.mutate",
    "ocimodel.registry",
    "ocimodel.validate",
    "html",
    "ocimodel.authn._process",
]  # masking and credential helpers load theirs when used
VERBS = {
    "digest": (["digest", "{host}/startup/img:v1"], [*_IMAGE_MODEL, *_NOT_FOR_TRANSFERS, "ocimodel.remote._write"]),
    "ls": (["ls", "{host}/startup/img"], [*_IMAGE_MODEL, *_NOT_FOR_TRANSFERS, "ocimodel.remote._write"]),
    "catalog": (["catalog", "{host}"], [*_IMAGE_MODEL, *_NOT_FOR_TRANSFERS, "ocimodel.remote._write"]),
    "manifest": (
        ["manifest", "{host}/startup/img:v1"],
        [*_NOT_FOR_TRANSFERS, "ocimodel.remote._write", "ocimodel.layout"],
    ),
    "copy": (["copy", "{host}/startup/img:v1", "{host}/startup/copy:v1"], [*_NOT_FOR_TRANSFERS, "ocimodel.layout"]),
    "pull": (
        ["pull", "--format", "oci", "{host}/startup/img:v1", "{out}"],
        [*_NOT_FOR_TRANSFERS, "ocimodel.remote._write"],
    ),
    "push": (["push", "{layout}", "{host}/startup/pushed:v1"], _NOT_FOR_TRANSFERS),
}

_PROBE = """
import sys, ocimodel.cli
try:
    ocimodel.cli.main(["--insecure", *sys.argv[1:]])
except SystemExit as exit:
    assert not exit.code, exit.code
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def pushed(registry: DistributionRegistry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A layout holding an image that is also on the registry, as startup/img:v1."""
    remote.write(f"{registry.host}/startup/img:v1", random.image(2048, 2, seed=7), insecure=True)
    folder = tmp_path_factory.mktemp("startup") / "layout"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ocimodel",
            "--insecure",
            "pull",
            "--format",
            "oci",
            f"{registry.host}/startup/img:v1",
            str(folder),
        ],
        check=True,
        capture_output=True,
    )
    return folder


@pytest.mark.parametrize("verb", list(VERBS))
def test_each_verb_loads_only_what_it_uses(
    verb: str, registry: DistributionRegistry, pushed: Path, tmp_path: Path
) -> None:
    template, unwanted = VERBS[verb]
    argv = [part.format(host=registry.host, out=tmp_path / "out", layout=pushed) for part in template]
    result = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True)
    assert result.stdout or (tmp_path / "out" / "index.json").is_file()  # the verb did its work
    loaded = result.stderr.splitlines()[-1].split()
    assert "ocimodel.remote" in loaded  # the probe saw the verb run
    found = [name for name in loaded if any(name == each or name.startswith(f"{each}.") for each in unwanted)]
    assert found == []
