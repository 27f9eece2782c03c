"""The single-pass layer: content from a stream that can be read only once."""

from __future__ import annotations

import threading
from typing import IO

from ocimodel._streams import binary
from ocimodel.compression import CompressingReader, Compression
from ocimodel.errors import NotComputed, StreamConsumed
from ocimodel.hashing import Hash, Hasher
from ocimodel.layer._base import Layer
from ocimodel.mediatype import MediaType


class StreamLayer(Layer):
    """A layer made from a stream of uncompressed tar that is read exactly once.

    Its state is explicit: until :meth:`compressed` has been read to its end, :attr:`computed`
    is false and :meth:`digest`, :meth:`diff_id` and :meth:`size` raise
    :class:`~ocimodel.errors.NotComputed`; a second :meth:`compressed` raises
    :class:`~ocimodel.errors.StreamConsumed`. Writers read such layers before writing anything
    that names them (their config and manifest). The content is compressed on the fly, in bounded
    memory, and nothing is verified on the way, since the digest is made by this very read.
    """

    def __init__(
        self, source: IO[bytes], *, media_type: str = MediaType.DOCKER_LAYER, compression_level: int | None = None
    ) -> None:
        self._source = source
        self._media_type = MediaType(media_type)
        self._level = compression_level
        self._lock = threading.Lock()
        self._consumed = False
        self._result: tuple[Hash, Hash, int] | None = None

    @property
    def consumed(self) -> bool:
        """Whether the content has been handed out (it cannot be again)."""
        return self._consumed

    @property
    def computed(self) -> bool:
        """Whether the content has been read to its end, so digest, diff_id and size are known."""
        return self._result is not None

    def media_type(self) -> MediaType:
        return self._media_type

    def _computed(self) -> tuple[Hash, Hash, int]:
        if self._result is None:
            raise NotComputed(
                "this single-pass layer's digest, diff_id and size are known only after compressed() "
                "has been read to its end"
            )
        return self._result

    def digest(self) -> Hash:
        return self._computed()[0]

    def diff_id(self) -> Hash:
        return self._computed()[1]

    def size(self) -> int:
        return self._computed()[2]

    def open_compressed(self) -> IO[bytes]:
        with self._lock:
            if self._consumed:
                raise StreamConsumed("this single-pass layer has been read already; make a new one to read again")
            self._consumed = True
        diff, digest = Hasher(), Hasher()
        reader = CompressingReader(
            self._source,
            Compression.of(self._media_type.compression()),
            self._level,
            on_input=diff.update,
            on_output=digest.update,
            on_end=lambda: self._finish(digest.digest(), diff.digest(), digest.size),
        )
        return binary(reader)

    def _finish(self, digest: Hash, diff_id: Hash, size: int) -> None:
        self._result = (digest, diff_id, size)

    def compressed(self) -> IO[bytes]:
        """The compressed bytes, made as they are read; only once."""
        return self.open_compressed()

    def uncompressed(self) -> IO[bytes]:
        """Not available: the content can be read once, and only compressed."""
        raise StreamConsumed("a single-pass layer can only be read compressed, once")
