"""Compression: detection, every installed backend, streaming compression."""

from __future__ import annotations

import gzip
import io
import itertools
import os
import struct
import subprocess
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocimodel.compression import (
    GZIP_BACKEND_VARIABLE,
    GZIP_HEADER,
    CompressingReader,
    Compression,
    compressor,
    decompressing_reader,
    detect,
    gzip_backend,
    gzip_backends,
    zlib_is_madler,
    zstd_backends,
)
from ocimodel.errors import BackendNotInstalled, UnsupportedMediaType

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


# ---------------------------------------------------------------------------------------------------
# Reproducible gzip: the default compressor, the fixed header, the choice of a faster one


def test_every_gzip_backend_writes_the_fixed_header_and_a_right_trailer() -> None:
    data = os.urandom(70_000) + b"b" * 70_000
    for backend in gzip_backends():
        packed = compress_all(data, Compression.GZIP, backend)
        assert packed[:10] == GZIP_HEADER == bytes.fromhex("1f8b08000000000000ff")
        crc, size = struct.unpack("<II", packed[-8:])
        assert (crc, size) == (zlib.crc32(data), len(data))
        assert gzip.decompress(packed) == data
    empty = compress_all(b"", Compression.GZIP, "zlib")
    assert empty[:10] == GZIP_HEADER
    assert empty[-8:] == bytes(8)
    assert gzip.decompress(empty) == b""


def test_the_default_gzip_compressor_is_the_standard_librarys_whatever_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(GZIP_BACKEND_VARIABLE, raising=False)
    assert gzip_backends()[0] != "zlib"  # a faster one is installed here ...
    assert gzip_backend() == "zlib"  # ... and is not used unless asked for
    data = os.urandom(10_000) + bytes(50_000)
    engine = compressor(Compression.GZIP)
    assert engine.compress(data) + engine.flush() == compress_all(data, Compression.GZIP, "zlib")


@pytest.mark.parametrize("backend", ["isal", "zlib-ng", "zlib"])
def test_the_environment_variable_picks_the_gzip_compressor(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setenv(GZIP_BACKEND_VARIABLE, backend)
    assert gzip_backend() == backend
    assert gzip_backend("zlib") == "zlib"  # an explicit backend= wins
    data = os.urandom(10_000) + bytes(50_000)
    engine = compressor(Compression.GZIP)
    assert engine.compress(data) + engine.flush() == compress_all(data, Compression.GZIP, backend)


@pytest.mark.parametrize(("variable", "backend"), [("pigz", None), (None, "pigz"), ("ISAL", None)])
def test_an_unknown_gzip_compressor_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str | None, backend: str | None
) -> None:
    if variable is None:
        monkeypatch.delenv(GZIP_BACKEND_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(GZIP_BACKEND_VARIABLE, variable)
    with pytest.raises(BackendNotInstalled, match=f"'{variable or backend}'.*expected one of isal, zlib-ng, zlib"):
        compressor(Compression.GZIP, backend=backend)


@settings(max_examples=30)
@given(data=st.binary(max_size=300_000), cuts=st.lists(st.integers(min_value=0, max_value=300_000), max_size=6))
def test_the_default_gzip_bytes_do_not_depend_on_how_the_input_is_fed(data: bytes, cuts: list[int]) -> None:
    # a layer's content arrives in reads of any size (a pipe, a generated tar): its digest must not care
    whole = compress_all(data, Compression.GZIP, "zlib")
    bounds = [0, *sorted(min(cut, len(data)) for cut in cuts), len(data)]
    engine = compressor(Compression.GZIP, backend="zlib")
    pieces = b"".join(engine.compress(data[start:end]) for start, end in itertools.pairwise(bounds))
    assert pieces + engine.flush() == whole


@pytest.mark.parametrize(
    ("version", "madler"),
    [("1.2.13", True), ("1.3.1", True), ("1.2.11.1", True), ("1.3.0.zlib-ng", False), ("1.2.11-optimized", False)],
)
def test_zlib_is_madler_reads_the_runtime_version(monkeypatch: pytest.MonkeyPatch, version: str, madler: bool) -> None:
    monkeypatch.setattr(zlib, "ZLIB_RUNTIME_VERSION", version)
    assert zlib_is_madler() is madler
