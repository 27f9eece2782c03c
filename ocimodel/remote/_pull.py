"""Pulling everything an image or index holds into a blob sink, several blobs at a time."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
    """Where pulled blobs go: a layout, a tarball writer, a cache. Both methods are called from
    the pull's workers, several at once."""

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


def _config_blob(image: Image) -> _Blob:
    """The config, known by its manifest's descriptor; its bytes (fetched, verified, within the
    config limit) are asked for only if the sink lacks them."""
    config = image.manifest().config
    return _Blob(config.digest, config.size, lambda: io.BytesIO(image.raw_config_file()), f"config {config.digest}")


def _image_blobs(image: Image) -> Iterator[_Blob]:
    """An image's layers (the distributable ones) and config, not its manifest."""
    for layer in image.layers():
        if layer.media_type().is_distributable():
            yield _layer_blob(layer)
    yield _config_blob(image)


class _Total:
    def __init__(self, progress: Progress | None) -> None:
        self._progress, self._total, self._done = progress, 0, 0
        self._lock = threading.Lock()

    def expect(self, size: int) -> None:
        with self._lock:
            self._total += size

    def add(self, digest: str, done: int, size: int, delta: int) -> None:
        if self._progress is None:
            return
        with self._lock:
            self._done += delta
            overall, total = self._done, self._total
        self._progress(digest, done, size)
        self._progress("", overall, max(total, overall))


class _Pull:
    """One pull: a walk whose every step (a child's manifest, each blob) is a task of one pool.

    A task may hand further tasks to the pool but never waits for one, so ``jobs=1`` cannot
    deadlock; the caller waits for every task in the order they were handed over (a task is
    handed over before the one that made it ends). Manifests are kept and stored last,
    children before parents, so a pull cut short never leaves a manifest whose blobs are missing.
    """

    def __init__(self, sink: BlobSink, pool: ThreadPoolExecutor, progress: Progress | None) -> None:
        self._sink, self._pool, self._progress = sink, pool, progress
        self._total = _Total(progress)
        self._claimed: set[Hash] = set()
        self._seen: set[Hash] = set()
        self._tasks: list[Future[None]] = []
        self._manifests: list[tuple[int, bool, _Blob]] = []  # (depth, is an index, the manifest)
        self._lock = threading.Lock()
        self._stopped = False

    def run(self, target: Image | ImageIndex) -> None:
        try:
            self._visit(target, 1)
            position = 0
            while position < len(self._tasks):  # tasks add tasks: the list grows as it is waited on
                self._tasks[position].result()
                position += 1
        except BaseException:
            with self._lock:
                self._stopped = True
            for task in self._tasks:
                task.cancel()  # those not started yet
            raise
        # deepest first, and an index after the images it holds
        for _, _, manifest in sorted(self._manifests, key=lambda entry: (-entry[0], entry[1])):
            self._want(manifest, now=True)

    def _submit(self, task: Callable[..., None], *arguments: object) -> None:
        with self._lock:
            if not self._stopped:
                self._tasks.append(self._pool.submit(task, *arguments))

    def _visit(self, target: Image | ImageIndex, depth: int) -> None:
        """Hand ``target``'s children and blobs over; keep its manifest for the end."""
        if isinstance(target, ImageIndex):
            with self._lock:
                entries = [(child, nested) for _, child, nested in unseen_children(target, depth, self._seen)]
            for child, nested in entries:
                if isinstance(child, Image | ImageIndex):
                    self._submit(self._visit, child, nested)
                else:
                    self._want(_layer_blob(child))
        else:
            for blob in _image_blobs(target):
                self._want(blob)
        manifest = _bytes_blob(target.raw_manifest(), "manifest")
        with self._lock:
            self._manifests.append((depth, isinstance(target, ImageIndex), manifest))

    def _want(self, blob: _Blob, *, now: bool = False) -> None:
        """Fetch ``blob`` into the sink (in the pool, or ``now``), once, unless it is there."""
        with self._lock:
            if blob.digest in self._claimed:
                return
            self._claimed.add(blob.digest)
        if self._sink.has(blob.digest):
            return
        self._total.expect(blob.size)
        if now:
            self._fetch(blob)
        else:
            self._submit(self._fetch, blob)

    def _fetch(self, blob: _Blob) -> None:
        raw = blob.open()
        if self._progress is not None:
            raw = binary(CountingReader(raw, str(blob.digest), blob.size, self._total.add))
        # Verified here, once: a sink given a fresh VerifyingReader for the digest does not hash again.
        with binary(VerifyingReader(raw, blob.digest, blob.size, what=blob.what)) as stream:
            self._sink.write(blob.digest, stream)


def pull(
    target: Image | ImageIndex, sink: BlobSink, *, jobs: int = DEFAULT_JOBS, progress: Progress | None = None
) -> None:
    """Copy every blob of ``target`` into ``sink``, ``jobs`` at a time.

    The walk is parallel too: an index's children are fetched by the same ``jobs`` workers, and
    each blob is fetched as soon as its manifest names it. The limit is on transfers (a worker
    fetches one blob to its end, then takes the next), never on how long anyone holds a reader
    open, so it cannot deadlock. Blobs already in the sink are skipped, as are non-distributable
    layers; manifests are stored last, children before parents. ``progress(digest, done, size)``
    is called as bytes arrive, and ``progress("", done, total)`` for the whole (``total`` is what
    is known so far: it grows as the walk finds blobs).
    """
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="ocimodel-pull") as pool:
        _Pull(sink, pool, progress).run(target)


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
