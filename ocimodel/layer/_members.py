"""Reading a layer's tar one member at a time, as Go's ``archive/tar`` reads it.

An empty stream is an empty tar (docker, containerd, go-containerregistry and umoci all accept
the 0-byte ``layer.tar`` of older ``docker save``\\s and moby/moby#18226's zero-sized layers), and
so is a tar that ends after a whole member without the end-of-archive blocks. A tar cut short
(inside a header or a member's content) or with a corrupt header raises
:class:`~ocimodel.errors.BadLayerError` naming the layer and the entry, never a :mod:`tarfile`,
:mod:`zlib` or ``EOFError`` of the standard library; :mod:`tarfile` alone would stop silently at
a broken header after the first.
"""

from __future__ import annotations

import collections
import tarfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, cast

from ocimodel._streams import PrefixedReader, Reader, binary, read_head
from ocimodel.errors import BadLayerError, OCIError
from ocimodel.layer._tarinfo import members, open_bounded

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from ocimodel.layer._base import Layer

_CHUNK = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
#: What the standard library raises for a tar or a compressed stream that is cut short or corrupt
#: (the decompressors of :mod:`ocimodel.compression` raise BadLayerError already: given context).
_BROKEN = (tarfile.TarError, EOFError, zlib.error, ValueError)  # tarfile's sparse maps: ValueError
_GNU_MAGIC = b"ustar  \0"


def layer_name(layer: Layer, position: int) -> Callable[[], str]:
    """A namer of the ``position``-th layer (base first) for :func:`tar_members`: where its bytes
    are, when the layer says, else its digest."""

    def name() -> str:
        if layer.where:
            return f"layer {position} ({layer.where})"
        try:
            return f"layer {position} ({layer.digest()})"
        except OCIError:
            return f"layer {position}"

    return name


def _after(entry: str | None) -> str:
    return f"after entry {entry!r}" if entry is not None else "before its first entry"


def unreadable(name: str, entry: str | None, error: BaseException) -> BadLayerError:
    """The error for a tar (``name``: the layer or file) that tarfile could not read past ``entry``."""
    return BadLayerError(f"{name}: not a readable tar, {_after(entry)}: {error}")


class _Content(Reader):
    """A member's content; a read that fails names the layer and the entry."""

    def __init__(self, inner: IO[bytes], what: Callable[[], str], entry: str) -> None:
        super().__init__()
        self._inner, self._what, self._entry = inner, what, entry

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._inner.read(len(view))
        except _BROKEN as error:
            raise BadLayerError(f"{self._what()}: entry {self._entry!r} is cut short or corrupt: {error}") from error
        view[: len(data)] = data
        return len(data)


#: How many reads at the end of the data tarfile may make: it makes one or two; a stream's
#: ``seek`` past the end (a member claiming more than the data holds) would go on for ever.
_READS_AT_END = 8


class _Tail:
    """Passes a stream to :mod:`tarfile`, keeping the last few MiB it read, so the block where
    the archive ended can be looked at afterwards (tarfile does not say why it stopped). Reading
    on at the end of the data, over and over, is an error: tarfile skips a member in a stream by
    reading forward as far as the member claims (a size of 30 digits), end or no end."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self._kept: collections.deque[tuple[int, bytes]] = collections.deque()
        self._kept_size = 0
        self._at_end = 0
        self.end = 0

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        if not data and size:
            self._at_end += 1
            if self._at_end > _READS_AT_END:
                raise tarfile.ReadError("unexpected end of data: an entry claims more than the tar holds")
        if data:
            self._kept.append((self.end, data))
            self.end += len(data)
            self._kept_size += len(data)
            while self._kept_size - len(self._kept[0][1]) >= 2 * _CHUNK:
                self._kept_size -= len(self._kept.popleft()[1])
        return data

    def block(self, offset: int) -> bytes | None:
        """The (up to) 512 bytes read from ``offset``, or None if they are no longer kept."""
        if not self._kept or offset < self._kept[0][0]:
            return None
        pieces: list[bytes] = []
        for start, data in reversed(self._kept):  # the block is near the end: look there first
            if start + len(data) <= offset:
                break
            pieces.append(data[max(0, offset - start) :])
        return b"".join(reversed(pieces))[:_BLOCK]


def end_problem(block: bytes | None, entry: str | None) -> str | None:
    """What is wrong where :mod:`tarfile` stopped reading headers (``block``: the 512 bytes
    there, fewer at the end of the data, ``None`` if unknown), or ``None``: the end-of-archive
    blocks, or the end of the data after a whole member (accepted, as Go accepts it)."""
    if not block or block == bytes(_BLOCK):
        return None
    if len(block) < _BLOCK:
        return f"the tar is cut short inside the header {_after(entry)}"
    return f"the tar has a corrupt header {_after(entry)}"


def _check_end(tail: _Tail, offset: int, entry: str | None, what: Callable[[], str]) -> None:
    if tail.end < offset:
        raise BadLayerError(f"{what()}: the tar is cut short inside entry {entry!r}")
    problem = end_problem(tail.block(offset), entry)
    if problem is not None:
        raise BadLayerError(f"{what()}: {problem} (at byte {offset})")


#: PAX records whose values tarfile has already applied to the member's fields: dropped, so that a
#: member written again says what its fields say (tarfile writes a record it finds over the field).
_APPLIED = frozenset({"path", "linkpath", "size"})


def plain(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """``member`` as a member to write again: a sparse file (GNU ``S``, PAX ``GNU.sparse.*`` 0.0,
    0.1 and 1.0) as the regular file its content reads as, and no PAX record that its fields
    already carry (image-spec layer.md: sparse files SHOULD NOT be used; Go's archive/tar, GNU tar
    and bsdtar read them as plain files)."""
    if member.sparse is not None or member.type == tarfile.GNUTYPE_SPARSE:
        member.type = tarfile.REGTYPE
        member.sparse = None
    if not member.isreg():
        member.size = 0  # a header-only member (Go reads no content for one, whatever its size says)
    member.pax_headers = {
        key: value
        for key, value in member.pax_headers.items()
        if key not in _APPLIED and not key.startswith("GNU.sparse.")
    }
    return member


#: How far deflate can expand its input, at most (1032:1, zlib's technical details): a sparse
#: member may read as no more than that over the data it stores, plus :data:`_SPARSE_SLACK`.
_DEFLATE_RATIO = 1032
_SPARSE_SLACK = 1 << 20


def _check_expansion(member: tarfile.TarInfo, what: Callable[[], str]) -> None:
    """Refuse a sparse member whose holes make it read as far more than the data it stores (a
    few KiB claiming 10 TB of zeros): one no gzip bomb of the same bytes could match. Every
    reader here writes a sparse file out as the plain file its content reads as (:func:`plain`),
    so its holes would be written as zeros in full."""
    if member.sparse is None:
        return
    blocks = cast("list[tuple[int, int]]", member.sparse)  # typeshed has it as an int
    stored = sum(size for _, size in blocks)
    if member.size > stored * _DEFLATE_RATIO + _SPARSE_SLACK:
        raise BadLayerError(
            f"{what()}: the sparse entry {member.name!r} reads as {member.size} bytes from {stored} "
            f"bytes of data, more than {_DEFLATE_RATIO} times over: refused, as a bomb that would be "
            "written out as zeros in full"
        )


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _gnu_name(member: tarfile.TarInfo, block: bytes | None) -> None:
    """Undo tarfile's reading of a GNU header's access and change times (``tar --incremental``
    fills them) as a ustar name prefix: GNU headers have no prefix field."""
    if not block or len(block) < _BLOCK or block[257:265] != _GNU_MAGIC or "path" in member.pax_headers:
        return
    prefix, raw = (_text(field) for field in (block[345:500], block[:100]))
    if prefix and member.name == f"{prefix}/{raw}".rstrip("/"):
        member.name = raw.rstrip("/") if member.isdir() else raw


def tar_members(stream: IO[bytes], what: Callable[[], str]) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """Each member of the tar in ``stream`` (as :func:`plain` makes it), with a reader of its
    content for regular files (read it before asking for the next member); then the rest of
    ``stream`` is read to its end, so that a verifying stream checks its digest.

    ``what()`` names the layer in errors (called only when something fails, so it may be costly).
    Raises :class:`~ocimodel.errors.BadLayerError` for a truncated or corrupt tar.
    """
    entry: str | None = None
    try:
        head = read_head(stream, 1)
    except _BROKEN as error:
        raise unreadable(what(), entry, error) from error
    if not head:
        return  # an empty stream is an empty tar
    tail = _Tail(binary(PrefixedReader(head, stream)))
    try:
        with open_bounded(tail, "r|", bufsize=_CHUNK) as archive:  # type: ignore[arg-type]
            for member in members(archive):
                if "/" in member.name:  # a GNU header's times may have been read as a name prefix
                    _gnu_name(member, tail.block(member.offset))
                entry = member.name
                _check_expansion(member, what)
                content = archive.extractfile(member) if member.isreg() else None
                yield plain(member), (binary(_Content(content, what, entry)) if content is not None else None)
            end = archive.offset
    except _BROKEN as error:
        raise unreadable(what(), entry, error) from error
    _check_end(tail, end, entry, what)
    try:
        while tail.read(_CHUNK):  # padding, and whatever follows the end-of-archive blocks
            pass
    except _BROKEN as error:
        raise unreadable(what(), entry, error) from error
