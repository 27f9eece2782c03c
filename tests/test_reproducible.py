"""Reproducible layer digests: the same input gives the same layer digest whichever optional
compressors (isal, zlib-ng) are installed, and the same digest as on any other machine whose
Python links madler's zlib."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from ocimodel import layer, tarball, validate
from ocimodel.compression import GZIP_BACKEND_VARIABLE, gzip_backends, zlib_is_madler
from ocimodel.mediatype import MediaType

#: Imports a Python process is denied (None in sys.modules blocks an import), as if the package
#: were not installed: every mix of the optional gzip compressors.
WITHOUT = {"all installed": (), "no isal": ("isal",), "no zlib-ng": ("zlib_ng",), "neither": ("isal", "zlib_ng")}

#: The command line in a process without the packages named in argv[1] (comma-separated).
CLI = (
    "import sys\n"
    "for name in filter(None, sys.argv.pop(1).split(',')): sys.modules[name] = None\n"
    "from ocimodel.compression import gzip_backends\n"
    "print(','.join(gzip_backends()), file=sys.stderr)\n"
    "from ocimodel.cli import main\n"
    "sys.exit(main())\n"
)

#: madler's zlib is not what this Python links (zlib-ng's compatibility build, say, on Fedora 40+):
#: its deflate bytes, so its digests, differ from other machines' (said in the README).
NOT_MADLER = pytest.mark.skipif(
    not zlib_is_madler(), reason=f"zlib {zlib.ZLIB_RUNTIME_VERSION} is not madler's: other bytes, other digests"
)


def demo_folder(root: Path) -> Path:
    """What scripts/demo builds an image from: one executable script, in fixed modes."""
    app = root / "app"
    (app / "bin").mkdir(parents=True)
    hello = app / "bin" / "hello"
    hello.write_text("#!/bin/sh\necho hello from an image built by ocimodel\n")
    for path in (app, app / "bin", hello):
        path.chmod(0o755)
    return app


def built_without(blocked: tuple[str, ...], folder: Path) -> tuple[str, str]:
    """``ocimodel append -f folder`` in a process without ``blocked``: its installed gzip
    backends and the image digest it prints."""
    env = {key: value for key, value in os.environ.items() if key != GZIP_BACKEND_VARIABLE}
    done = subprocess.run(
        [sys.executable, "-c", CLI, ",".join(blocked), "append", "-f", str(folder), "-t", "demo/app:v1", "-o", "-"],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    backends, result = done.stderr.decode().splitlines()[:2]
    return backends, result.rpartition("@")[2]


def test_the_demo_folder_gives_one_image_digest_whichever_compressors_are_installed(tmp_path: Path) -> None:
    folder = demo_folder(tmp_path)
    seen = {name: built_without(blocked, folder) for name, blocked in WITHOUT.items()}
    assert {name: backends for name, (backends, _) in seen.items()} == {
        "all installed": "isal,zlib-ng,zlib",
        "no isal": "zlib-ng,zlib",
        "no zlib-ng": "isal,zlib",
        "neither": "zlib",
    }
    assert len({digest for _, digest in seen.values()}) == 1, seen
    # and it is the library's digest in this process, where everything is installed
    made = layer.from_directory(folder)
    assert made.digest() == layer.from_directory(folder, compression_backend="zlib").digest()


def _data() -> bytes:
    """Some hundreds of KiB that compress in several deflate blocks, the same everywhere."""
    return b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(8000)) + b"abc" * 100_000


#: Known answers: the layer digest of fixed content, compressed by the default (madler's zlib at
#: level 1, the fixed gzip header). A change here changes every digest users have published.
KNOWN = [
    ("the demo folder", None, "sha256:dd0fb21921b8df6114b8e0962702b8ad74ef8a0226995ceb2812afd9a3dd3722"),
    (
        "one small file",
        {"hello.txt": b"hello\n"},
        "sha256:a73834b4ecadf234348e042ba25116c33880bf6c64c1bcc8775c500ee85010ad",
    ),
    ("several blocks", {"data": _data()}, "sha256:c4da1839af9ba744da1eb5196e2fdbc37d4dd78809cc2d51b00ff907a0ddc456"),
]


@NOT_MADLER
@pytest.mark.parametrize(("what", "files", "expected"), KNOWN, ids=[what for what, _, _ in KNOWN])
def test_known_layer_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, files: dict[str, bytes] | None, expected: str
) -> None:
    monkeypatch.delenv(GZIP_BACKEND_VARIABLE, raising=False)
    made = layer.from_directory(demo_folder(tmp_path)) if files is None else layer.from_files(files)
    assert str(made.digest()) == expected, what


@pytest.mark.parametrize("backend", gzip_backends())
def test_a_fast_compressor_asked_for_makes_a_valid_layer(tmp_path: Path, backend: str) -> None:
    files = {"data": _data()[:200_000], "etc/motd": b"hi\n"}
    made = layer.from_files(files, compression_backend=backend)
    validate.layer(made)
    assert made.diff_id() == layer.from_files(files).diff_id()
    assert layer.from_files(files, media_type=MediaType.OCI_LAYER_GZIP, compression_backend=backend).digest() == (
        made.digest()
    )
    path = tmp_path / "layer.tar"
    with layer.from_files(files, media_type=MediaType.OCI_LAYER).uncompressed() as source:
        path.write_bytes(source.read())
    from_disk = layer.from_file(path, compression_backend=backend)
    assert from_disk.diff_id() == made.diff_id()
    validate.layer(from_disk)
    if backend == "zlib":  # the fast compressors' bytes depend on how the input arrives, too
        # the same tar read from a file (1 MiB reads) and generated (a member at a time)
        assert from_disk.digest() == made.digest()


def test_the_environment_variable_reaches_the_command_line(tmp_path: Path) -> None:
    folder = demo_folder(tmp_path)
    out = tmp_path / "image.tar"

    def append_with(backend: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ocimodel", "append", "-f", str(folder), "-t", "demo/app:v1", "-o", str(out)],
            capture_output=True,
            text=True,
            env={**os.environ, GZIP_BACKEND_VARIABLE: backend},
            timeout=120,
            check=False,
        )

    done = append_with("isal")
    assert done.returncode == 0, done.stderr
    image = tarball.image(out)
    validate.image(image)
    assert image.layers()[0].digest() == layer.from_directory(folder, compression_backend="isal").digest()
    refused = append_with("pigz")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"ocimodel: gzip backend 'pigz' (from ${GZIP_BACKEND_VARIABLE}) is not installed: "
        "expected one of isal, zlib-ng, zlib"
    ]
