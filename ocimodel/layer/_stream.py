"""The single-pass layer: content from a stream that can be read only once."""

from __future__ import annotations

import threading
from typing import IO

from ocimodel._streams import PrefixedReader, binary, read_head
from ocimodel.compression import CompressingReader, Compression
from ocimodel.errors import NotComputed, StreamConsumed
from ocimodel.hashing import Hash, Hasher
from ocimodel.layer._base import Layer
from ocimodel.layer._head import BLOCK, check_head
from ocimodel.mediatype import MediaType


class _Pass:
    """The one read of a single-pass layer's source: what it is and what it found, shared by the
    layer and any view of it under another media type (:meth:`StreamLayer.retyped`)."""

    def __init__(self, source: IO[bytes], level: int | None, backend: str | None) -> None:
        self.source, self.level, self.backend = source, level, backend
        self.lock = threading.Lock()
        self.consumed = False
        self.result: tuple[Hash, Hash, int] | None = None


class StreamLayer(Layer):
    """A layer made from a stream of uncompressed tar that is read exactly once.

    Its state is explicit: until :meth:`compressed` has been read to its end, :attr:`computed`
    is false and :meth:`digest`, :meth:`diff_id` and :meth:`size` raise
    :class:`~ocimodel.errors.NotComputed`; a second :meth:`compressed` raises
    :class:`~ocimodel.errors.StreamConsumed`. Writers read such layers before writing anything
    that names them (their config and manifest). The content is compressed on the fly, in bounded
    memory, and nothing is verified on the way, since the digest is made by this very read; its
    first 512 bytes are checked to start a tar (for a layer media type) before anything is handed
    out, and :class:`~ocimodel.errors.BadLayerError` raised if they do not.
    """

    def __init__(
        self,
        source: IO[bytes],
        *,
        media_type: str = MediaType.DOCKER_LAYER,
        compression_level: int | None = None,
        compression_backend: str | None = None,
    ) -> None:
        self._pass = _Pass(source, compression_level, compression_backend)
        self._media_type = MediaType(media_type)

    def retyped(self, media_type: str) -> StreamLayer:
        """This same single pass described by ``media_type`` (of the same compression: a layer type's
        counterpart in the other family). Reading either reads the one stream; both learn its digest."""
        new = MediaType(media_type)
        if new.compression() != self._media_type.compression():
            raise ValueError(f"{new} is not compressed as {self._media_type} is")
        view = StreamLayer.__new__(StreamLayer)
        view._pass, view._media_type = self._pass, new
        return view

    @property
    def consumed(self) -> bool:
        """Whether the content has been handed out (it cannot be again)."""
        return self._pass.consumed

    @property
    def computed(self) -> bool:
        """Whether the content has been read to its end, so digest, diff_id and size are known."""
        return self._pass.result is not None

    def media_type(self) -> MediaType:
        return self._media_type

    def _computed(self) -> tuple[Hash, Hash, int]:
        if self._pass.result is None:
            raise NotComputed(
                "this single-pass layer's digest, diff_id and size are known only after compressed() "
                "has been read to its end"
            )
        return self._pass.result

    def digest(self) -> Hash:
        return self._computed()[0]

    def diff_id(self) -> Hash:
        return self._computed()[1]

    def size(self) -> int:
        return self._computed()[2]

    def open_compressed(self) -> IO[bytes]:
        state = self._pass
        with state.lock:
            if state.consumed:
                raise StreamConsumed("this single-pass layer has been read already; make a new one to read again")
            state.consumed = True
        source = state.source
        if self._media_type.is_layer():
            head = read_head(source, BLOCK)
            check_head(head, "the single-pass layer's stream")
            source = binary(PrefixedReader(head, source))
        diff, digest = Hasher(), Hasher()
        reader = CompressingReader(
            source,
            Compression.of(self._media_type.compression()),
            state.level,
            backend=state.backend,
            on_input=diff.update,
            on_output=digest.update,
            on_end=lambda: self._finish(digest.digest(), diff.digest(), digest.size),
        )
        return binary(reader)

    def _finish(self, digest: Hash, diff_id: Hash, size: int) -> None:
        self._pass.result = (digest, diff_id, size)

    def compressed(self) -> IO[bytes]:
        """The compressed bytes, made as they are read; only once."""
        return self.open_compressed()

    def uncompressed(self) -> IO[bytes]:
        """Not available: the content can be read once, and only compressed."""
        raise StreamConsumed("a single-pass layer can only be read compressed, once")
