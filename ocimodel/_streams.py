"""Small binary-stream adapters shared by the layer sources and sinks."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


_CHUNK = 1 << 20


class Reader(io.RawIOBase):
    """Base of ocimodel's binary readers: a subclass implements ``readinto``; reading everything
    at once goes in 1 MiB steps (the standard library's default is 8 KiB)."""

    def readable(self) -> bool:
        return True

    def readall(self) -> bytes:
        out = bytearray()
        chunk = bytearray(_CHUNK)
        while count := self.readinto(chunk):
            out += memoryview(chunk)[:count]
        return bytes(out)


class Readable(Protocol):
    """Anything with ``read(n)``: files, HTTP responses, our readers."""

    def read(self, size: int = -1, /) -> bytes: ...


def read_into(stream: Readable, buffer: WriteableBuffer) -> int:
    """``stream.readinto(buffer)`` where the stream has it (no copy), else a read and a copy."""
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return int(readinto(buffer) or 0)
    view = memoryview(buffer).cast("B")
    data = stream.read(len(view))
    view[: len(data)] = data
    return len(data)


# Pieces of a copy from a stream to a file: one buffer per copy, and pulls run several at once.
# Big blobs go faster in bigger pieces (a 1 GiB blob ~15 % faster in 1 MiB pieces than in
# 256 KiB ones); many small blobs at once keep the buffers small.
_PIECE = 256 << 10
_BIG_PIECE = 1 << 20
_BIG_BLOB = 16 << 20


def piece_for(stream: object) -> int:
    """The piece size for copying ``stream``: big when it says it is big (a verifying reader
    carries the size it must have), else the small one."""
    size = getattr(stream, "size", None)
    return _BIG_PIECE if isinstance(size, int) and size >= _BIG_BLOB else _PIECE


def chunks(stream: IO[bytes], size: int = _PIECE) -> Iterator[memoryview]:
    """The rest of ``stream`` in pieces of up to ``size`` bytes, read into one reused buffer: each
    piece is valid until the next is asked for (write it, hash it; do not keep it)."""
    buffer = memoryview(bytearray(size))
    while count := read_into(stream, buffer):
        yield buffer[:count]


class CountingReader(Reader):
    """Passes a stream's bytes through, calling ``report(name, done, size, delta)`` after every
    read: how pulls and pushes report progress. Closing it closes the stream."""

    def __init__(self, stream: IO[bytes], name: str, size: int, report: Callable[[str, int, int, int], None]) -> None:
        super().__init__()
        self._stream, self._name, self._size, self._report = stream, name, size, report
        self._done = 0

    def readinto(self, buffer: WriteableBuffer) -> int:
        count = read_into(self._stream, buffer)
        self._done += count
        self._report(self._name, self._done, self._size, count)
        return count

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
            super().close()


def take(pending: memoryview, buffer: WriteableBuffer) -> tuple[int, memoryview]:
    """Copy what fits of ``pending`` into ``buffer``; return how much, and what is left."""
    view = memoryview(buffer).cast("B")
    count = min(len(view), len(pending))
    view[:count] = pending[:count]
    return count, pending[count:]


class IteratorReader(Reader):
    """A binary reader over an iterator of byte chunks (a generator that produces a tar, say).

    Closing the reader closes the generator, so its ``finally`` blocks and open files run.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        count, self._pending = take(self._pending, buffer)
        return count

    def close(self) -> None:
        if not self.closed:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
            super().close()


class FileReader(Reader):
    """A reader of an open file from its first byte, at a position of its own (``os.preadv``), so
    several read one file at once without moving each other; ``keep`` is held while it is open
    (the owner of the file, so the file stays open). Closing it leaves the file open."""

    def __init__(self, file: IO[bytes], keep: object = None) -> None:
        super().__init__()
        self._file = file
        self._keep: object = keep
        self._offset = 0

    def readinto(self, buffer: WriteableBuffer) -> int:
        count = os.preadv(self._file.fileno(), [buffer], self._offset)
        self._offset += count
        return count

    def close(self) -> None:
        self._keep = None
        super().close()


def read_head(stream: IO[bytes], size: int) -> bytes:
    """The first ``size`` bytes of ``stream`` (fewer only at its end), even from a reader that
    returns short reads, as sockets do."""
    head = b""
    while len(head) < size:
        chunk = stream.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return head


class PrefixedReader(Reader):
    """A binary reader that gives ``head`` (bytes already read from ``rest``) and then ``rest``."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._rest = rest

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._head:
            count, self._head = take(self._head, buffer)
            return count
        view = memoryview(buffer).cast("B")
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._rest.close()
            finally:
                super().close()


def binary(stream: io.RawIOBase) -> IO[bytes]:
    """Type a raw reader of ours as the binary file object it behaves as.

    Our readers derive from :class:`io.RawIOBase` (no extra buffering, so no extra copy), which
    has every method of a binary file that a reader needs; typeshed does not count it as
    ``IO[bytes]``, hence this cast.
    """
    return cast(IO[bytes], stream)
