"""The package as users meet it: imports, the curated surface, the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import ocimodel
from ocimodel import cli
from ocimodel._version import __version__

ROOT = Path(__file__).resolve().parent.parent


def test_import_is_lazy() -> None:
    probe = "import sys, ocimodel; print(sorted(m for m in ('attrs', 'cattrs', 'urllib3', 'json') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_public_name_resolves() -> None:
    for attribute in ocimodel.__all__:
        assert getattr(ocimodel, attribute) is not None
    assert "Hash" in dir(ocimodel)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = ocimodel.Nope


def test_design_surface_values_are_top_level() -> None:
    from ocimodel import ConfigFile, Descriptor, Hash, IndexManifest, Manifest, MediaType, Platform, name

    assert (Hash.__module__, Platform.__module__, Descriptor.__module__) == (
        "ocimodel.hashing",
        "ocimodel.platform",
        "ocimodel.descriptor",
    )
    assert Manifest.json_kind == "image manifest"
    assert IndexManifest.json_kind == "image index"
    assert ConfigFile.json_kind == "image config"
    assert MediaType.OCI_INDEX.is_index()
    assert name.parse_reference("alpine").name == "index.docker.io/library/alpine:latest"


def test_typed_marker_ships() -> None:
    assert (ROOT / "ocimodel" / "py.typed").is_file()


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["version"]) == cli.EXIT_OK
    assert capsys.readouterr().out == f"{__version__}\n"


def test_cli_without_a_verb_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert "Usage: ocimodel" in captured.out + captured.err


def test_cli_unknown_verb_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["frobnicate"]) == cli.EXIT_USAGE
    assert "No such command 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [[sys.executable, "-m", "ocimodel"], [str(Path(sys.executable).parent / "ocimodel")]]
)
def test_installed_entry_points(command: list[str]) -> None:
    result = subprocess.run([*command, "version"], capture_output=True, text=True, check=True)
    assert result.stdout == f"{__version__}\n"
    assert result.stderr == ""
    helped = subprocess.run([*command, "--help"], capture_output=True, text=True, check=True)
    assert "version" in helped.stdout
