"""skopeo, the interoperability peer: one copy, with the flags every interop test wants."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


def _installed() -> None:
    assert shutil.which("skopeo"), "skopeo is not on PATH: run scripts/install-system-deps"


def copy(source: str, destination: str, *options: str) -> str:
    """Copy ``source`` to ``destination`` (skopeo's ``transport:place`` names) and return the
    manifest digest skopeo wrote. Registries on either side are spoken to without TLS; a failure
    raises :class:`subprocess.CalledProcessError`."""
    _installed()
    tls = [
        *(["--src-tls-verify=false"] if source.startswith("docker://") else []),
        *(["--dest-tls-verify=false"] if destination.startswith("docker://") else []),
    ]
    with tempfile.TemporaryDirectory(prefix="ocimodel-skopeo-") as folder:
        digest_file = Path(folder) / "digest"
        argv = ["skopeo", "copy", "--quiet", *tls, "--digestfile", str(digest_file), *options, source, destination]
        subprocess.run(argv, check=True, capture_output=True)
        return digest_file.read_text().strip()


def raw_manifest(reference: str) -> bytes:
    """The manifest bytes skopeo reads for ``reference`` (``docker://…``, without TLS)."""
    _installed()
    argv = ["skopeo", "inspect", "--raw", "--tls-verify=false", reference]
    return subprocess.run(argv, check=True, capture_output=True).stdout
