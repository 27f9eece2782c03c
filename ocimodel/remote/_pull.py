"""Pulling everything an image or index holds into a blob sink, several blobs at a time."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

import attrs

from ocimodel._files import atomic_write
from ocimodel._streams import Reader, binary
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.index import ImageIndex
from ocimodel.layer import Layer
from ocimodel.remote._session import DEFAULT_JOBS, Progress

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_CHUNK = 1 << 20


class BlobSink(Protocol):
    """Where pulled blobs go: a layout, a tarball writer, a cache."""

    def has(self, digest: Hash) -> bool:
        """Whether the blob is there already (it is then not fetched)."""
        ...

    def write(self, digest: Hash, stream: IO[bytes]) -> None:
        """Store the blob, reading ``stream`` to its end (where its digest is checked)."""
        ...


@attrs.frozen
class _Blob:
    digest: Hash
    size: int
    open: Callable[[], IO[bytes]]


def _bytes_blob(data: bytes) -> _Blob:
    return _Blob(Hash.sha256(data), len(data), lambda: io.BytesIO(data))


def _layer_blob(layer: Layer) -> _Blob:
    return _Blob(layer.digest(), layer.size(), layer.compressed)


def blobs(target: Image | ImageIndex) -> Iterator[_Blob]:
    """Every blob of ``target``, children before parents: layers and config, then each manifest."""
    if isinstance(target, ImageIndex):
        for _, child in target.children():
            if isinstance(child, Image | ImageIndex):
                yield from blobs(child)
            else:
                yield _layer_blob(child)
    else:
        for layer in target.layers():
            if layer.media_type().is_distributable():
                yield _layer_blob(layer)
        yield _bytes_blob(target.raw_config_file())
    yield _bytes_blob(target.raw_manifest())


class _Counting(Reader):
    """Reports bytes as they are read, per blob and overall."""

    def __init__(self, stream: IO[bytes], digest: str, size: int, total: _Total) -> None:
        super().__init__()
        self._stream, self._digest, self._size, self._total = stream, digest, size, total
        self._done = 0

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(len(view))
        view[: len(data)] = data
        self._done += len(data)
        self._total.add(self._digest, self._done, self._size, len(data))
        return len(data)


class _Total:
    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress, self._total, self._done = progress, total, 0
        self._lock = threading.Lock()

    def add(self, digest: str, done: int, size: int, delta: int) -> None:
        if self._progress is None:
            return
        with self._lock:
            self._done += delta
            overall = self._done
        self._progress(digest, done, size)
        self._progress("", overall, self._total)


def pull(
    target: Image | ImageIndex, sink: BlobSink, *, jobs: int = DEFAULT_JOBS, progress: Progress | None = None
) -> None:
    """Copy every blob of ``target`` into ``sink``, ``jobs`` at a time.

    The limit is on transfers (a worker fetches one blob to its end, then takes the next), never
    on how long anyone holds a reader open, so it cannot deadlock. Blobs already in the sink are
    skipped, as are non-distributable layers; ``progress(digest, done, size)`` is called as bytes
    arrive, and ``progress("", done, total)`` for the whole.
    """
    unique: dict[Hash, _Blob] = {}
    for blob in blobs(target):
        unique.setdefault(blob.digest, blob)
    wanted = [blob for blob in unique.values() if not sink.has(blob.digest)]
    total = _Total(progress, sum(blob.size for blob in wanted))

    def fetch(blob: _Blob) -> None:
        with blob.open() as stream:
            sink.write(blob.digest, binary(_Counting(stream, str(blob.digest), blob.size, total)))

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="ocimodel-pull") as pool:
        for future in [pool.submit(fetch, blob) for blob in wanted]:
            future.result()


@attrs.frozen
class DirectorySink:
    """Blobs as files ``<root>/blobs/<algorithm>/<hex>`` (an OCI layout's blob store), each written
    to a temporary name and renamed when complete, so a failure never leaves a partial blob."""

    root: Path

    def path(self, digest: Hash) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def has(self, digest: Hash) -> bool:
        return self.path(digest).is_file()

    def write(self, digest: Hash, stream: IO[bytes]) -> None:
        atomic_write(self.path(digest), iter(lambda: stream.read(_CHUNK), b""))
