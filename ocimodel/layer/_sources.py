"""Layers from anything: bytes, files, openers, mappings of files, directories, streams."""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import IO

import attrs

from ocimodel._memo import memoized
from ocimodel._reading import open_file
from ocimodel._streams import IteratorReader, binary
from ocimodel.compression import Compression, detect
from ocimodel.errors import BadLayerError
from ocimodel.hashing import Hash
from ocimodel.layer._base import Layer, UncompressedLayer
from ocimodel.layer._head import sniff
from ocimodel.layer._stream import StreamLayer
from ocimodel.layer._tar import directory_entries, mapping_entries, tar_chunks
from ocimodel.mediatype import MediaType

Opener = Callable[[], IO[bytes]]

_DEFAULT_FOR = {Compression.GZIP: MediaType.DOCKER_LAYER, Compression.ZSTD: MediaType.OCI_LAYER_ZSTD}


def _compressed_media_type(found: Compression, media_type: str | None) -> MediaType:
    if media_type is None:
        return _DEFAULT_FOR[found]
    chosen = MediaType(media_type)
    declared = Compression.of(chosen.compression())
    if chosen.is_layer() and declared is not found:
        raise BadLayerError(f"the content is {found.value}-compressed but media type {chosen} says {declared.value}")
    return chosen


class _CompressedLayer(Layer):
    """Compressed bytes from an opener; digest and size cost one hashing pass, remembered."""

    def __init__(self, opener: Opener, media_type: MediaType) -> None:
        self._opener = opener
        self._media_type = media_type

    def media_type(self) -> MediaType:
        return self._media_type

    def open_compressed(self) -> IO[bytes]:
        return self._opener()

    @memoized
    def _measure(self) -> tuple[Hash, int]:
        with self._opener() as stream:
            return Hash.of_stream(stream)

    def digest(self) -> Hash:
        return self._measure()[0]

    def size(self) -> int:
        return self._measure()[1]


class _BytesLayer(_CompressedLayer):
    def __init__(self, data: bytes, media_type: MediaType) -> None:
        super().__init__(lambda: io.BytesIO(data), media_type)
        self._data = data

    @memoized
    def _measure(self) -> tuple[Hash, int]:
        return Hash.sha256(self._data), len(self._data)


@attrs.frozen
class _Compressing:
    """How a maker was asked to compress uncompressed content: the level and the backend
    (``None``: the defaults of :mod:`ocimodel.compression`)."""

    level: int | None = None
    backend: str | None = None


class _UncompressedSource(UncompressedLayer):
    """An uncompressed tar from an opener, compressed (once) as its media type says."""

    def __init__(
        self, opener: Opener, media_type: MediaType, compressing: _Compressing, diff_id: Hash | None = None
    ) -> None:
        self._opener = opener
        self._media_type = media_type
        self._diff_id = diff_id
        self.compression_level = compressing.level
        self.compression_backend = compressing.backend

    def media_type(self) -> MediaType:
        return self._media_type

    def open_uncompressed(self) -> IO[bytes]:
        return self._opener()

    def known_diff_id(self) -> Hash | None:
        return self._diff_id


def _checked(media_type: str | None) -> bool:
    """Whether content given this media type must be a tar: a layer type, or none (a layer by
    default); an artifact's type says the caller knows it is not."""
    return media_type is None or MediaType(media_type).is_layer()


class _DeferredLayer(Layer):
    """A layer whose kind (compressed or not) is learnt from its content on first use, so that
    making it does no I/O; that first look also refuses content that does not start as a tar."""

    def __init__(
        self, opener: Opener, media_type: str | None, compressing: _Compressing, where: str | None = None
    ) -> None:
        self._opener = opener
        self._requested = media_type
        self._compressing = compressing
        self.where = where

    @memoized
    def _inner(self) -> Layer:
        with self._opener() as stream:
            found = sniff(stream, self.where or "the layer's content", check=_checked(self._requested))
        inner: Layer
        if found is Compression.NONE:
            kind = MediaType(self._requested or MediaType.DOCKER_LAYER)
            inner = _UncompressedSource(self._opener, kind, self._compressing)
        else:
            inner = _CompressedLayer(self._opener, _compressed_media_type(found, self._requested))
        inner.where = self.where
        return inner

    def digest(self) -> Hash:
        return self._inner().digest()

    def size(self) -> int:
        return self._inner().size()

    def media_type(self) -> MediaType:
        return self._inner().media_type()

    def open_compressed(self) -> IO[bytes]:
        return self._inner().open_compressed()

    def compressed(self) -> IO[bytes]:
        return self._inner().compressed()

    def uncompressed(self) -> IO[bytes]:
        return self._inner().uncompressed()

    def diff_id(self) -> Hash:
        return self._inner().diff_id()


def from_bytes(
    data: bytes,
    *,
    media_type: str | None = None,
    compression_level: int | None = None,
    compression_backend: str | None = None,
) -> Layer:
    """A layer from a tar in memory, gzip'd, zstd'd or plain (found from its first bytes).

    A plain tar is compressed as ``media_type`` says (gzip'd Docker layer by default), at
    ``compression_level`` by ``compression_backend`` (see :mod:`ocimodel.compression`: the
    default is the standard library's zlib, whose digests are the same on every machine).
    Content that does not start as a tar (:mod:`ocimodel.layer._head`; empty content is an empty
    layer) raises :class:`~ocimodel.errors.BadLayerError`, unless ``media_type`` is not a layer
    type: an artifact's blob is taken as it is.
    """
    data = bytes(data)
    if data and _checked(media_type):
        sniff(io.BytesIO(data), "the bytes given")
    found = detect(data[:4])
    if found is Compression.NONE:
        return _UncompressedSource(
            lambda: io.BytesIO(data),
            MediaType(media_type or MediaType.DOCKER_LAYER),
            _Compressing(compression_level, compression_backend),
            Hash.sha256(data),
        )
    return _BytesLayer(data, _compressed_media_type(found, media_type))


def from_opener(
    opener: Opener,
    *,
    media_type: str | None = None,
    compression_level: int | None = None,
    compression_backend: str | None = None,
) -> Layer:
    """A layer from a callable that opens a fresh stream of the tar (compressed or not) each time.

    The content is first looked at when the layer is first used; then it is refused, with
    :class:`~ocimodel.errors.BadLayerError`, if it does not start as a tar (as :func:`from_bytes`).
    """
    return _DeferredLayer(opener, media_type, _Compressing(compression_level, compression_backend))


def from_file(
    path: str | os.PathLike[str],
    *,
    media_type: str | None = None,
    compression_level: int | None = None,
    compression_backend: str | None = None,
) -> Layer:
    """A layer from a tar file on disk, compressed or not (found from its first bytes, on first use).

    A file that is not a tar raises :class:`~ocimodel.errors.BadLayerError` naming it, on first
    use (as :func:`from_bytes`). The file is read more than once (for its digest, then its
    bytes), so it must be a regular file (or a link to one): a FIFO, a device or a directory
    raises :class:`~ocimodel.errors.NotReadable` on first use, without blocking; a stream is
    for :func:`stream`.
    """
    location = os.fspath(path)
    compressing = _Compressing(compression_level, compression_backend)
    opener = functools.partial(open_file, location, f"layer file {location}")
    return _DeferredLayer(opener, media_type, compressing, where=location)


def _epoch(mtime: int | datetime) -> int:
    return int(mtime.timestamp()) if isinstance(mtime, datetime) else int(mtime)


def from_files(
    files: Mapping[str, bytes],
    *,
    mtime: int | datetime = 0,
    media_type: str = MediaType.DOCKER_LAYER,
    compression_level: int | None = None,
    compression_backend: str | None = None,
) -> Layer:
    """A reproducible layer holding ``{path: content}``: sorted regular files, mode 0644, one mtime.

    The same mapping always gives the same diff_id, and, with the default compressor, the same
    digest on every machine.
    """
    entries = mapping_entries(files)
    stamp = _epoch(mtime)
    return _UncompressedSource(
        lambda: binary(IteratorReader(tar_chunks(entries, stamp))),
        MediaType(media_type),
        _Compressing(compression_level, compression_backend),
    )


def from_directory(
    path: str | os.PathLike[str],
    *,
    mtime: int | datetime = 0,
    media_type: str = MediaType.DOCKER_LAYER,
    compression_level: int | None = None,
    compression_backend: str | None = None,
) -> Layer:
    """A reproducible layer of a directory's contents: entries sorted, one mtime, uid and gid 0.

    Permission bits and symbolic links are kept; special files are refused. Nothing is read until
    the layer is used, and the tar is produced as it is consumed, so memory does not grow with the
    directory. The same directory gives the same digest on every machine with the default
    compressor (see :mod:`ocimodel.compression`).
    """
    root = os.fspath(path)
    stamp = _epoch(mtime)
    return _UncompressedSource(
        lambda: binary(IteratorReader(tar_chunks(directory_entries(root), stamp))),
        MediaType(media_type),
        _Compressing(compression_level, compression_backend),
    )


def stream(
    source: IO[bytes],
    *,
    media_type: str = MediaType.DOCKER_LAYER,
    compression_level: int | None = None,
    compression_backend: str | None = None,
) -> StreamLayer:
    """A single-pass layer from a stream of uncompressed tar; see :class:`StreamLayer`."""
    return StreamLayer(
        source, media_type=media_type, compression_level=compression_level, compression_backend=compression_backend
    )
