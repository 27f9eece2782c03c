"""Compression: detection, every installed backend, streaming compression."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocimodel.compression import (
    CompressingReader,
    Compression,
    compressor,
    decompressing_reader,
    detect,
    gzip_backends,
    zstd_backends,
)
from ocimodel.errors import UnsupportedMediaType

BACKENDS = [(Compression.GZIP, name) for name in gzip_backends()] + [
    (Compression.ZSTD, name) for name in zstd_backends()
]


def compress_all(data: bytes, compression: Compression, backend: str, level: int | None = None) -> bytes:
    engine = compressor(compression, level, backend=backend)
    return engine.compress(data) + engine.flush()


def test_the_standard_library_is_always_a_gzip_backend() -> None:
    assert gzip_backends()[-1] == "zlib"


def test_the_test_environment_has_the_speed_extras() -> None:
    # scripts/test installs ocimodel[test], which brings isal, zlib-ng and a zstd implementation,
    # so that every code path below runs in CI.
    assert {"isal", "zlib-ng", "zlib"} <= set(gzip_backends())
    assert zstd_backends()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x1f\x8b\x08\x00", Compression.GZIP),
        (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
        (b"ustar", Compression.NONE),
        (b"", Compression.NONE),
        (b"\x1f", Compression.NONE),
    ],
)
def test_detect(head: bytes, expected: Compression) -> None:
    assert detect(head) is expected


@pytest.mark.parametrize(("compression", "backend"), BACKENDS)
@settings(max_examples=25)
@given(data=st.binary(max_size=200_000), level=st.sampled_from([None, 1, 6]))
def test_every_backend_round_trips(compression: Compression, backend: str, data: bytes, level: int | None) -> None:
    packed = compress_all(data, compression, backend, level)
    assert detect(packed) is compression
    for reader_backend in [name for kind, name in BACKENDS if kind is compression]:
        with decompressing_reader(io.BytesIO(packed), compression, backend=reader_backend) as stream:
            assert stream.read() == data


@pytest.mark.parametrize("backend", gzip_backends())
def test_gzip_output_is_standard_gzip(backend: str) -> None:
    data = os.urandom(100_000) + b"a" * 100_000
    assert gzip.decompress(compress_all(data, Compression.GZIP, backend)) == data


def test_multi_member_gzip_reads_whole() -> None:
    packed = gzip.compress(b"first ") + gzip.compress(b"second")
    for backend in gzip_backends():
        with decompressing_reader(io.BytesIO(packed), Compression.GZIP, backend=backend) as stream:
            assert stream.read() == b"first second"


def test_decompressing_reader_closes_and_drains_the_source() -> None:
    class Source(io.BytesIO):
        closed_by_reader = False

        def close(self) -> None:
            self.closed_by_reader = True
            super().close()

    source = Source(gzip.compress(b"payload") + b"")
    with decompressing_reader(source, Compression.GZIP) as stream:
        assert stream.read(100) == b"payload"
        assert stream.read(100) == b""
        assert source.tell() == len(source.getvalue())
    assert source.closed_by_reader


@pytest.mark.parametrize(("compression", "backend"), [*BACKENDS, (Compression.NONE, "")])
@pytest.mark.parametrize("read_size", [1000, 1 << 20, -1])
def test_compressing_reader_streams_and_reports_both_sides(
    compression: Compression, backend: str, read_size: int
) -> None:
    data = os.urandom(1_500_000) + bytes(1_500_000)
    seen_in: list[bytes] = []
    seen_out: list[bytes] = []
    ended: list[bool] = []
    reader = CompressingReader(
        io.BytesIO(data),
        compression,
        backend=backend or None,
        on_input=seen_in.append,
        on_output=seen_out.append,
        on_end=lambda: ended.append(True),
    )
    if read_size < 0:
        packed = reader.read()
    else:
        parts = []
        while part := reader.read(read_size):
            parts.append(part)
        packed = b"".join(parts)
    assert ended == [True]
    assert b"".join(seen_in) == data
    assert b"".join(seen_out) == packed
    with decompressing_reader(io.BytesIO(packed), compression) as stream:
        assert stream.read() == data


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="not installed"):
        compressor(Compression.GZIP, backend="pigz")


def test_zstd_without_any_implementation_says_what_to_install() -> None:
    # A Python where no zstd implementation can be imported (None in sys.modules blocks an import).
    probe = (
        "import sys\n"
        "for name in ('compression.zstd', 'backports.zstd', 'zstandard'): sys.modules[name] = None\n"
        "from ocimodel.compression import Compression, compressor, zstd_backends\n"
        "assert zstd_backends() == ()\n"
        "try:\n"
        "    compressor(Compression.ZSTD)\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.startswith(UnsupportedMediaType.__name__)
    assert "pip install ocimodel[zstd]" in result.stdout
