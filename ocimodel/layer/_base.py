"""The abstract :class:`Layer` and its two cores: what a subclass implements, and what it gets."""

from __future__ import annotations

import shutil
import weakref
from abc import ABC, abstractmethod
from typing import IO, Any

import attrs

from ocimodel._files import scratch_file
from ocimodel._hooks import LAYER_HOOKS, normalise_hooks
from ocimodel._memo import memoized, peek
from ocimodel._streams import FileReader, PrefixedReader, binary, read_head
from ocimodel.compression import CompressingReader, Compression, decompressing_reader, detect
from ocimodel.descriptor import Descriptor
from ocimodel.hashing import Hash, Hasher, VerifyingReader
from ocimodel.mediatype import MediaType

_CHUNK = 1 << 20


class Layer(ABC):
    """A filesystem layer: a tar, usually compressed, addressed by the digest of its compressed bytes.

    Subclass it and implement the *compressed core*, which is what registries serve:

    - :meth:`digest` and :meth:`size` of the compressed bytes,
    - :meth:`open_compressed`, a fresh binary stream of those bytes (unverified),
    - and, if not a gzip'd Docker layer, :meth:`media_type`.

    Everything else is derived: :meth:`compressed` verifies what :meth:`open_compressed` gives
    against the digest and size, :meth:`uncompressed` decompresses it (the compression is found
    from the content's magic number, not trusted from the media type), and :meth:`diff_id` hashes
    the uncompressed content once and remembers it. Layers whose uncompressed side is the natural
    one subclass :class:`UncompressedLayer` instead.

    Methods may do I/O; small results are memoised, blob bytes never are. Streams are context
    managers and must be closed.

    Hooks may return plain values (normalised once, here, for every reader): a ``str`` for
    :meth:`media_type`, :meth:`digest` or :meth:`diff_id`; bytes, a path or an iterable of byte
    chunks for :meth:`open_compressed` (and :meth:`UncompressedLayer.open_uncompressed`).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        normalise_hooks(cls, LAYER_HOOKS)

    #: Where the bytes are read from (a file, and the member of a tarball), for error messages;
    #: ``None`` when the digest says enough.
    where: str | None = None

    @abstractmethod
    def digest(self) -> Hash:
        """The digest of the compressed bytes: how registries and manifests address the layer."""

    @abstractmethod
    def size(self) -> int:
        """The length of the compressed bytes."""

    @abstractmethod
    def open_compressed(self) -> IO[bytes]:
        """A new stream of the compressed bytes, not yet verified (use :meth:`compressed` to read)."""

    def media_type(self) -> MediaType:
        """The layer's media type; a gzip'd Docker layer unless a subclass says otherwise."""
        return MediaType.DOCKER_LAYER

    def compressed(self) -> IO[bytes]:
        """The compressed bytes, verified against :meth:`digest` and :meth:`size` as they are read."""
        digest = self.digest()
        return binary(VerifyingReader(self.open_compressed(), digest, self.size(), what=self.named(f"layer {digest}")))

    def named(self, what: str) -> str:
        """``what`` (how a message names the layer), with :attr:`where` its bytes are, if known."""
        return f"{what} ({self.where})" if self.where else what

    def uncompressed(self) -> IO[bytes]:
        """The uncompressed tar, decompressed from :meth:`compressed` (so verified through it)."""
        stream = self.compressed()
        head = read_head(stream, 4)
        return decompressing_reader(binary(PrefixedReader(head, stream)), detect(head))

    @memoized
    def diff_id(self) -> Hash:
        """The digest of the uncompressed tar: how image configs address the layer."""
        with self.uncompressed() as stream:
            return Hash.of_stream(stream)[0]

    def descriptor(self) -> Descriptor:
        """The descriptor a manifest uses for this layer."""
        return Descriptor(self.media_type(), self.size(), self.digest())

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


@attrs.frozen
class _Spill:
    """The compressed form of an uncompressed layer, made once: in a temporary file with no name
    (closed, and so gone, when the last of the layer and its readers is), or (when the media type
    is uncompressed) nowhere, since the two sides are the same bytes."""

    file: IO[bytes] | None
    digest: Hash
    size: int
    diff_id: Hash


class UncompressedLayer(Layer):
    """A layer whose natural form is the uncompressed tar; the compressed side is derived.

    Implement :meth:`open_uncompressed` (and :meth:`media_type`, which decides the compression:
    gzip for ``…tar.gzip`` types, zstd for ``…tar+zstd``, none for plain ``…tar``). If the diff_id
    is known without reading the content, return it from :meth:`known_diff_id`: reads are then
    verified against it.

    The compressed form is made once, on first need, by one pass that also computes the diff_id,
    and is kept in a temporary file with no name (gone with the layer, and with the process however
    it ends), so asking for
    the digest and then uploading does not compress twice and memory does not grow with the layer.
    """

    #: gzip or zstd level for the compressed form (``None``: the module default, fast).
    compression_level: int | None = None
    #: The implementation that makes the compressed form (``None``: the default of
    #: :mod:`ocimodel.compression`, whose gzip digests are the same on every machine).
    compression_backend: str | None = None

    @abstractmethod
    def open_uncompressed(self) -> IO[bytes]:
        """A new stream of the uncompressed tar, not yet verified."""

    def known_diff_id(self) -> Hash | None:
        """The diff_id, if it is known without reading the content (``None`` otherwise)."""
        return None

    def diff_id(self) -> Hash:
        return self.known_diff_id() or self._spill().diff_id

    def digest(self) -> Hash:
        return self._spill().digest

    def size(self) -> int:
        return self._spill().size

    def uncompressed(self) -> IO[bytes]:
        """The uncompressed tar, verified against the diff_id when one is known."""
        spill: _Spill | None = peek(self, "_spill")
        expected = self.known_diff_id() or (spill.diff_id if spill else None)
        raw = self.open_uncompressed()
        if expected is None:
            return raw
        return binary(VerifyingReader(raw, expected, what=self.named(f"uncompressed layer {expected}")))

    def open_compressed(self) -> IO[bytes]:
        spill = self._spill()
        if spill.file is None:
            return self.open_uncompressed()
        return binary(FileReader(spill.file, keep=spill))

    @memoized
    def _spill(self) -> _Spill:
        compression = Compression.of(self.media_type().compression())
        diff_hasher, hasher = Hasher(), Hasher()
        known = self.known_diff_id()
        source: IO[bytes] = self.open_uncompressed()
        if known is not None:
            source = binary(VerifyingReader(source, known, what=self.named(f"uncompressed layer {known}")))
        reader = CompressingReader(
            source,
            compression,
            self.compression_level,
            backend=self.compression_backend,
            on_input=diff_hasher.update,
            on_output=hasher.update,
        )
        with reader:
            if compression is Compression.NONE:
                while reader.read(_CHUNK):
                    pass
                return _Spill(None, hasher.digest(), hasher.size, diff_hasher.digest())
            out = scratch_file()
            try:
                shutil.copyfileobj(reader, out, _CHUNK)
                out.flush()
            except BaseException:
                out.close()
                raise
        spill = _Spill(out, hasher.digest(), hasher.size, diff_hasher.digest())
        weakref.finalize(spill, out.close)
        return spill
