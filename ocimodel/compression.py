"""Layer compression: gzip and zstd, streaming.

**Digests are reproducible.** A layer's digest is the digest of its compressed bytes, so the
compressor that makes them decides it. gzip is made by the standard library's :mod:`zlib` (madler's
zlib, portable C whose deflate output at a given level is the same on every machine) at
:data:`DEFAULT_GZIP_LEVEL`, wrapped in a gzip header of fixed bytes (:data:`GZIP_HEADER`: no name,
mtime 0, OS "unknown", as Go's ``compress/gzip`` writes it; zlib's own wrapper writes the
platform's OS byte) and a CRC-32 and length trailer: the bytes depend on nothing but the content
and the level. The same input therefore gives the same layer digest on every machine with the
same ocimodel, whichever optional packages are installed. A Python whose :mod:`zlib` is a fork
(zlib-ng's compatibility build, as Fedora 40 and later ship; see :func:`zlib_is_madler`) makes
valid gzip with other bytes, so other digests.

The faster gzip compressors, ``isal`` (the ``fast`` extra) and ``zlib-ng``, compress only when
asked: ``backend=`` here, ``compression_backend=`` on the layer makers, or the environment
variable :data:`GZIP_BACKEND_VARIABLE` (``OCIMODEL_GZIP_BACKEND=isal``) for the command line and
every caller that gives none. They have CPU-specific code paths, so their bytes (and digests) may
differ from one machine to the next even at one version, and they depend on how the input
arrives in pieces (a file's reads, a generated tar's members) as well. Decompression always uses the fastest
installed: its output is the same whatever reads it.

zstd uses the standard library's ``compression.zstd`` (Python 3.14+), else ``backports.zstd``
(the ``zstd`` extra), else ``zstandard``; its bytes depend on the libzstd each bundles. The
uncompressed content, and so the diff_id, never depends on any of this.

gzip is fast by default (level 1): layers are compressed once per build but the time is spent on
every build, while the size difference to level 6 is small for typical layers.
"""

from __future__ import annotations

import enum
import gzip
import importlib
import os
import re
import struct
import zlib
from collections.abc import Callable
from functools import cache
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

from ocimodel._streams import Reader, binary, take
from ocimodel.errors import BackendNotInstalled, BadLayerError, OCIError, UnsupportedMediaType

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "DEFAULT_GZIP_LEVEL",
    "DEFAULT_ZSTD_LEVEL",
    "GZIP_BACKEND_VARIABLE",
    "GZIP_HEADER",
    "CompressingReader",
    "Compression",
    "Compressor",
    "compressor",
    "decompressing_reader",
    "detect",
    "gzip_backend",
    "gzip_backends",
    "zlib_is_madler",
    "zstd_backends",
]

DEFAULT_GZIP_LEVEL = 1
DEFAULT_ZSTD_LEVEL = 3
_CHUNK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
#: The 10 bytes that start every gzip stream ocimodel writes (RFC 1952 section 2.3): magic, method
#: deflate, no flags, mtime 0, no extra flags, OS 255 ("unknown", as Go's ``compress/gzip``).
GZIP_HEADER = GZIP_MAGIC + b"\x08\x00" + bytes(4) + b"\x00\xff"
#: The environment variable naming the gzip compressor to use when no ``backend=`` is given:
#: ``zlib`` (the default, reproducible), ``isal`` or ``zlib-ng`` (faster, machine-dependent bytes).
GZIP_BACKEND_VARIABLE = "OCIMODEL_GZIP_BACKEND"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class Compression(enum.Enum):
    """How a layer's bytes are compressed."""

    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"

    @classmethod
    def of(cls, name: str | None) -> Compression:
        """``"gzip"``, ``"zstd"`` or ``None`` (as :meth:`MediaType.compression` gives) as a member."""
        return cls.NONE if name is None else cls(name)


def detect(head: bytes) -> Compression:
    """The compression of content that starts with ``head`` (at least 4 bytes), by its magic number."""
    if head.startswith(GZIP_MAGIC):
        return Compression.GZIP
    if head.startswith(ZSTD_MAGIC):
        return Compression.ZSTD
    return Compression.NONE


class Compressor(Protocol):
    """An incremental compressor: feed :meth:`compress`, end with :meth:`flush`."""

    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


@cache
def gzip_backends() -> tuple[str, ...]:
    """The gzip implementations installed, fastest first (``"zlib"`` is always there)."""
    found = [name for name, module in (("isal", "isal.isal_zlib"), ("zlib-ng", "zlib_ng.zlib_ng")) if _optional(module)]
    return (*found, "zlib")


@cache
def zstd_backends() -> tuple[str, ...]:
    """The zstd implementations installed, preferred first (may be empty)."""
    candidates = (
        ("compression.zstd", "compression.zstd"),
        ("backports.zstd", "backports.zstd"),
        ("zstandard", "zstandard"),
    )
    return tuple(name for name, module in candidates if _optional(module))


def zlib_is_madler() -> bool:
    """Whether the standard library's :mod:`zlib` is madler's zlib, whose deflate output the default
    gzip compressor's digests are pinned to (``zlib.ZLIB_RUNTIME_VERSION`` a plain version), rather
    than a fork that says so in its version (zlib-ng's compatibility build: ``1.3.0.zlib-ng``)."""
    return re.fullmatch(r"[0-9]+(\.[0-9]+)+", zlib.ZLIB_RUNTIME_VERSION) is not None


def gzip_backend(backend: str | None = None) -> str:
    """The gzip implementation that compresses: ``backend`` if given, else the one the environment
    variable :data:`GZIP_BACKEND_VARIABLE` names, else ``"zlib"`` (the standard library's, whose
    bytes, and so digests, are the same on every machine). Raises
    :class:`~ocimodel.errors.BackendNotInstalled` for a name that is not installed."""
    chosen = backend or os.environ.get(GZIP_BACKEND_VARIABLE) or "zlib"
    if chosen not in gzip_backends():
        where = f" (from ${GZIP_BACKEND_VARIABLE})" if backend is None else ""
        raise BackendNotInstalled(
            f"gzip backend {chosen!r}{where} is not installed: expected one of {', '.join(gzip_backends())}"
        )
    return chosen


def _backend(compression: Compression, backend: str | None) -> str:
    """The implementation that reads ``compression`` (or compresses zstd): the one asked for, else
    the fastest installed."""
    available = gzip_backends() if compression is Compression.GZIP else zstd_backends()
    if backend is None:
        if not available:
            raise UnsupportedMediaType(
                "zstd needs Python 3.14+, or the 'backports.zstd' or 'zstandard' package (pip install ocimodel[zstd])"
            )
        return available[0]
    if backend not in available:
        installed = ", ".join(available) or "none"
        raise BackendNotInstalled(
            f"{compression.value} backend {backend!r} is not installed: expected one of {installed}"
        )
    return backend


def _isal_level(level: int) -> int:
    """zlib's 0-9 onto ISA-L's 0-3."""
    return 0 if level <= 0 else min(3, (level + 2) // 3)


class _ZstandardCompressor:
    def __init__(self, level: int) -> None:
        self._inner = importlib.import_module("zstandard").ZstdCompressor(level=level).compressobj()

    def compress(self, data: bytes, /) -> bytes:
        return bytes(self._inner.compress(data))

    def flush(self) -> bytes:
        return bytes(self._inner.flush())


class _GzipWriter:
    """A gzip stream (RFC 1952) around a raw deflate stream: :data:`GZIP_HEADER`, the deflate
    bytes, then the CRC-32 and the length (mod 2**32) of the input, little-endian. The header is
    written here, not by the library, so that nothing but the deflate stream varies."""

    def __init__(self, deflate: Compressor, crc32: Callable[[bytes, int], int]) -> None:
        self._deflate, self._crc32 = deflate, crc32
        self._crc, self._size = 0, 0
        self._header = GZIP_HEADER

    def compress(self, data: bytes, /) -> bytes:
        self._crc = self._crc32(data, self._crc)
        self._size += len(data)
        out = self._header + self._deflate.compress(data)
        self._header = b""
        return out

    def flush(self) -> bytes:
        out = self._header + self._deflate.flush()
        self._header = b""
        return out + struct.pack("<II", self._crc, self._size & 0xFFFFFFFF)


def _gzip(level: int, name: str) -> Compressor:
    # memLevel 8 and the default strategy are zlib's defaults, written out: they shape the bytes.
    if name == "isal":
        isal_zlib = importlib.import_module("isal.isal_zlib")
        deflate = isal_zlib.compressobj(_isal_level(level), isal_zlib.DEFLATED, -zlib.MAX_WBITS)
        return _GzipWriter(deflate, isal_zlib.crc32)
    module = importlib.import_module("zlib_ng.zlib_ng") if name == "zlib-ng" else zlib
    deflate = module.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY)
    return _GzipWriter(deflate, module.crc32)


def compressor(compression: Compression, level: int | None = None, *, backend: str | None = None) -> Compressor:
    """A new incremental compressor producing a gzip stream or a zstd frame.

    gzip is made by :func:`gzip_backend`'s choice (the standard library's zlib unless ``backend``
    or the environment says otherwise) behind the fixed :data:`GZIP_HEADER`; zstd by the first
    of :func:`zstd_backends` unless ``backend`` names another. ``level`` defaults to
    :data:`DEFAULT_GZIP_LEVEL` or :data:`DEFAULT_ZSTD_LEVEL`. Raises
    :class:`~ocimodel.errors.BackendNotInstalled` for a backend that is not installed.
    """
    if compression is Compression.GZIP:
        return _gzip(DEFAULT_GZIP_LEVEL if level is None else level, gzip_backend(backend))
    if compression is Compression.ZSTD:
        level = DEFAULT_ZSTD_LEVEL if level is None else level
        name = _backend(compression, backend)
        if name == "zstandard":
            return _ZstandardCompressor(level)
        return importlib.import_module(name).ZstdCompressor(level=level)  # type: ignore[no-any-return]
    raise ValueError("no compressor for uncompressed content")


def decompressing_reader(raw: IO[bytes], compression: Compression, *, backend: str | None = None) -> IO[bytes]:
    """A binary reader of the decompressed content of ``raw`` (closing it closes ``raw``)."""
    if compression is Compression.NONE:
        return raw
    name = _backend(compression, backend)
    inner: IO[bytes]
    if name == "isal":
        inner = importlib.import_module("isal.igzip").IGzipFile(fileobj=raw, mode="rb")
    elif name == "zlib-ng":
        inner = importlib.import_module("zlib_ng.gzip_ng").GzipNGFile(fileobj=raw, mode="rb")
    elif name == "zlib":
        inner = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    elif name == "zstandard":
        inner = importlib.import_module("zstandard").ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    else:
        inner = importlib.import_module(name).ZstdFile(raw, mode="rb")
    return binary(_ClosingReader(inner, raw, compression))


class _ClosingReader(Reader):
    """A decompressor's reader that also closes (and drains to verification) the stream beneath."""

    def __init__(self, inner: IO[bytes], raw: IO[bytes], compression: Compression) -> None:
        super().__init__()
        self._inner, self._raw, self._compression = inner, raw, compression

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._inner.read(len(view))
        except OCIError:
            raise
        except Exception as error:  # each decompressor has its own errors (OSError, zlib.error, ZstdError, ...)
            # Corrupt input is most often a blob that does not match its digest: read the rest,
            # so a verifying reader beneath can say so, before blaming the compression.
            self._drain()
            raise BadLayerError(f"the content is not valid {self._compression.value}: {error}") from error
        if not data:
            self._drain()
        view[: len(data)] = data
        return len(data)

    def _drain(self) -> None:
        """Read whatever the decompressor left (padding, a trailer, the rest of a corrupt stream)
        so that a verifying reader beneath sees its end and checks the digest."""
        while self._raw.read(_CHUNK):
            pass

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                self._raw.close()
                super().close()


class CompressingReader(Reader):
    """Reads ``source`` and hands out its compressed form, pulling only as much as asked for.

    Memory stays bounded (one chunk of input and what the compressor gives for it). Optional
    ``on_input`` and ``on_output`` callbacks see every uncompressed and compressed chunk, so
    digests of both sides can be computed in the same pass; ``on_end`` is called once, when the
    source is exhausted (before the last compressed bytes are handed out).
    """

    def __init__(
        self,
        source: IO[bytes],
        compression: Compression,
        level: int | None = None,
        *,
        backend: str | None = None,
        on_input: Callable[[bytes], None] | None = None,
        on_output: Callable[[bytes], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._source = source
        self._compressor = None if compression is Compression.NONE else compressor(compression, level, backend=backend)
        self._on_input = on_input
        self._on_output = on_output
        self._on_end = on_end
        self._pending = memoryview(b"")
        self._finished = False

    def _refill(self) -> None:
        while not self._pending and not self._finished:
            chunk = self._source.read(_CHUNK)
            if chunk:
                if self._on_input is not None:
                    self._on_input(chunk)
                out = chunk if self._compressor is None else self._compressor.compress(chunk)
            else:
                self._finished = True
                out = b"" if self._compressor is None else self._compressor.flush()
            if out and self._on_output is not None:
                self._on_output(out)
            if self._finished and self._on_end is not None:
                self._on_end()
            self._pending = memoryview(out)

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._refill()
        count, self._pending = take(self._pending, buffer)
        return count

    def readall(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            self._refill()
            if not self._pending:
                return b"".join(chunks)
            chunks.append(bytes(self._pending))
            self._pending = memoryview(b"")

    def close(self) -> None:
        if not self.closed:
            try:
                self._source.close()
            finally:
                super().close()
