"""Layer compression: gzip and zstd, streaming, with the fastest implementation installed.

gzip uses ``isal`` when installed (the ``fast`` extra), else ``zlib-ng``, else the standard
library; zstd uses the standard library's ``compression.zstd`` (Python 3.14+), else
``backports.zstd`` (the ``zstd`` extra), else ``zstandard``. Every function takes ``backend=`` to
pick one explicitly. Compressed bytes depend on the implementation and level (so does a layer's
digest); the uncompressed content, and so the diff_id, does not.

gzip is fast by default (level 1): layers are compressed once per build but the time is spent on
every build, while the size difference to level 6 is small for typical layers.
"""

from __future__ import annotations

import enum
import gzip
import importlib
import zlib
from collections.abc import Callable
from functools import cache
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

from ocimodel._streams import Reader, binary, take
from ocimodel.errors import BadLayerError, OCIError, UnsupportedMediaType

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "DEFAULT_GZIP_LEVEL",
    "DEFAULT_ZSTD_LEVEL",
    "CompressingReader",
    "Compression",
    "Compressor",
    "compressor",
    "decompressing_reader",
    "detect",
    "gzip_backends",
    "zstd_backends",
]

DEFAULT_GZIP_LEVEL = 1
DEFAULT_ZSTD_LEVEL = 3
_CHUNK = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
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


def _backend(compression: Compression, backend: str | None) -> str:
    available = gzip_backends() if compression is Compression.GZIP else zstd_backends()
    if backend is None:
        if not available:
            raise UnsupportedMediaType(
                "zstd needs Python 3.14+, or the 'backports.zstd' or 'zstandard' package (pip install ocimodel[zstd])"
            )
        return available[0]
    if backend not in available:
        raise ValueError(f"{compression.value} backend {backend!r} is not installed; installed: {available}")
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


def compressor(compression: Compression, level: int | None = None, *, backend: str | None = None) -> Compressor:
    """A new incremental compressor producing a gzip stream or a zstd frame."""
    if compression is Compression.GZIP:
        level = DEFAULT_GZIP_LEVEL if level is None else level
        name = _backend(compression, backend)
        if name == "isal":
            isal_zlib = importlib.import_module("isal.isal_zlib")
            return isal_zlib.compressobj(_isal_level(level), isal_zlib.DEFLATED, 31)  # type: ignore[no-any-return]
        module = importlib.import_module("zlib_ng.zlib_ng") if name == "zlib-ng" else zlib
        return module.compressobj(level, zlib.DEFLATED, 31)  # type: ignore[no-any-return]
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
