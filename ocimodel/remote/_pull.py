"""Pulling everything an image or index holds into a blob sink, several blobs at a time."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Protocol

import attrs

from ocimodel._files import write_file
from ocimodel._streams import CountingReader, binary, chunks, piece_for
from ocimodel.hashing import Hash, VerifyingReader
from ocimodel.image import Image
from ocimodel.index import ImageIndex, unseen_children
from ocimodel.layer import Layer
from ocimodel.remote._session import DEFAULT_JOBS, Progress


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
    open: Callable[[], IO[bytes]]  # the bytes, not yet verified
    what: str  # how errors name it


def _bytes_blob(data: bytes, what: str) -> _Blob:
    digest = Hash.sha256(data)
    return _Blob(digest, len(data), lambda: io.BytesIO(data), f"{what} {digest}")


def _layer_blob(layer: Layer) -> _Blob:
    digest = layer.digest()
    return _Blob(digest, layer.size(), layer.open_compressed, f"layer {digest}")


def blobs(target: Image | ImageIndex, depth: int = 1, seen: set[Hash] | None = None) -> Iterator[_Blob]:
    """Every blob of ``target``, children before parents: layers and config, then each manifest
    (each distinct child once, no deeper than the cap: :func:`~ocimodel.index.deeper`)."""
    if isinstance(target, ImageIndex):
        seen = set() if seen is None else seen
        for _, child, nested in unseen_children(target, depth, seen):
            if isinstance(child, Image | ImageIndex):
                yield from blobs(child, nested, seen)
            else:
                yield _layer_blob(child)
    else:
        for layer in target.layers():
            if layer.media_type().is_distributable():
                yield _layer_blob(layer)
        yield _bytes_blob(target.raw_config_file(), "config")
    yield _bytes_blob(target.raw_manifest(), "manifest")


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
        raw = blob.open()
        if progress is not None:
            raw = binary(CountingReader(raw, str(blob.digest), blob.size, total.add))
        # Verified here, once: a sink given a fresh VerifyingReader for the digest does not hash again.
        with binary(VerifyingReader(raw, blob.digest, blob.size, what=blob.what)) as stream:
            sink.write(blob.digest, stream)

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
        write_file(self.path(digest), chunks(stream, piece_for(stream)), folders=True)
