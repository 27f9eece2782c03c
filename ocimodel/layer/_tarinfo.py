"""Tar headers read within bounds: what Python's :mod:`tarfile` would otherwise read whole, without
end, or in time that grows with the square of their size.

Before a member, a tar may hold extended headers: PAX records (``x``, ``g``), GNU long names and
link names (``L``, ``K``), GNU sparse maps. :mod:`tarfile` reads them as they claim to be, and a
layer or a docker save is written by whoever made it:

- whole into memory, whatever size the header claims (a PAX header of 3 GiB: ``MemoryError``);
- one level of recursion per header (2,000 headers in a row: ``RecursionError``);
- PAX records with regular expressions that take time quadratic in the header (CVE-2024-6232,
  fixed in Python 3.11.10, 3.12.6 and 3.13; 64 KiB of digits take ten seconds, 1 MiB hours);
- a member whose size is a number of 30 digits is skipped, in a stream, by reading on past the
  end for ever (a stream's ``seek`` reads forward, and does not stop where the data does);
- PAX times such as ``nan`` or ``1e400``, kept as floats that no writer can write again.

:class:`BoundedTarInfo` (given as ``tarinfo=`` to :func:`tarfile.open`) reads them as Go's
``archive/tar`` (docker's, containerd's) does: each member's extended headers together within
:data:`SPECIAL_LIMIT` bytes (1 MiB, Go's ``maxSpecialFileSize``), at most :data:`CHAIN` of them
in a row; PAX records framed exactly (``<length> <keyword>=<value>\\n``, as Go and the fixed
Pythons require), their numbers (``size``, ``uid``, ``gid``, the times) decimal as Go parses
them, and no run of more than :data:`DIGIT_RUN` digits (what keeps the older regular expressions
linear); a member's size at most Go's (``2**63 - 1``). Anything else is a
:class:`tarfile.ReadError` saying what is wrong, which the readers report as a
:class:`~ocimodel.errors.BadLayerError` naming the layer or tarball and the entry.

:func:`members` goes through an archive without keeping every member it read (:mod:`tarfile`
keeps a list of them all, so that memory grows with their number: a million empty members
compress to 2 MB).
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from typing import IO, Any, cast

__all__ = ["CHAIN", "DIGIT_RUN", "SPECIAL_LIMIT", "BoundedTarInfo", "check_pax", "members", "open_bounded"]

#: The most bytes of extended headers (PAX records, GNU long names, sparse maps) one member may
#: have, all together: Go's ``maxSpecialFileSize``.
SPECIAL_LIMIT = 1 << 20
#: The most extended headers in a row before a member (a real tar has at most three or four).
CHAIN = 16
#: The longest run of digits a PAX header may hold.
DIGIT_RUN = 64
#: The largest member size (Go's ``int64``).
_SIZE_LIMIT = (1 << 63) - 1

_PAX = frozenset({tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE})
_SPECIAL = _PAX | {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.GNUTYPE_SPARSE}
_LENGTH = re.compile(rb"([0-9]{1,20}) ")
_LONG_DIGITS = re.compile(rb"[0-9]{%d}" % (DIGIT_RUN + 1))
_INTEGER = re.compile(rb"[0-9]{1,19}")
_TIME = re.compile(rb"-?[0-9]{1,19}(?:\.[0-9]*)?")
#: The PAX records whose values are numbers, and the form Go's ``archive/tar`` takes for each.
_NUMBERS = {b"size": _INTEGER, b"uid": _INTEGER, b"gid": _INTEGER, b"mtime": _TIME, b"atime": _TIME, b"ctime": _TIME}


def check_pax(data: bytes) -> None:
    """Refuse PAX header data that is not records framed as POSIX says, or whose numbers Go would
    not read, or that holds a run of more than :data:`DIGIT_RUN` digits; in time linear in its size.

    :raises tarfile.ReadError: it is one of those.
    """
    at = 0
    while at < len(data) and data[at] != 0:  # NUL padding after the records is tolerated, as tarfile does
        found = _LENGTH.match(data, at)
        length = int(found.group(1)) if found else 0
        end = at + length
        if found is None or length < 5 or end > len(data) or data[end - 1] != 0x0A:
            raise tarfile.ReadError(f"a PAX header whose record at byte {at} is not '<length> <keyword>=<value>'")
        keyword, equals, value = data[found.end() : end - 1].partition(b"=")
        if not keyword or not equals:
            raise tarfile.ReadError(f"a PAX header whose record at byte {at} has no keyword")
        form = _NUMBERS.get(keyword)
        if form is not None and form.fullmatch(value) is None:
            raise tarfile.ReadError(f"a PAX header whose {keyword.decode()} is not a number: {value[:40]!r}")
        at = end
    if _LONG_DIGITS.search(data) is not None:
        raise tarfile.ReadError(f"a PAX header holding a run of more than {DIGIT_RUN} digits")


class _Guard:
    """The archive's file while the extended headers of one member are read: every read counts
    against :data:`SPECIAL_LIMIT`, and must be whole (a header cut short is an error, not an
    ``IndexError`` or a loop); the first read may be answered from :meth:`replay` (a PAX header
    read and checked already). Anything else goes to the file as it is."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._left = SPECIAL_LIMIT
        self._depth = 0
        self._replay = b""

    def begin(self, header: tarfile.TarInfo) -> None:
        """One more extended header: refused unread if it claims more than is left (a sparse
        member's size is its content's, not its map's), or the chain is too long."""
        self._depth += 1
        if self._depth > CHAIN:
            raise tarfile.ReadError(f"more than {CHAIN} extended headers in a row")
        if header.type != tarfile.GNUTYPE_SPARSE and not 0 <= header.size <= self._left:
            raise tarfile.ReadError(
                f"an extended header of {header.size} bytes (a member's extended headers together may "
                f"take {SPECIAL_LIMIT} bytes)"
            )

    def replay(self, data: bytes) -> None:
        """Answer the next read with ``data``."""
        self._replay = data

    def read(self, size: int = -1) -> bytes:
        if self._replay:
            data, self._replay = self._replay, b""
            return data
        if not 0 <= size <= self._left:
            raise tarfile.ReadError(f"a member's extended headers take more than {SPECIAL_LIMIT} bytes")
        self._left -= size
        data = self._inner.read(size)
        while len(data) < size:  # a read may give less than asked: only the end of the data is an end
            more = self._inner.read(size - len(data))
            if not more:
                raise tarfile.ReadError("the tar is cut short inside an extended header")
            data += more
        return bytes(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class BoundedTarInfo(tarfile.TarInfo):
    """A :class:`tarfile.TarInfo` whose extended headers are read within bounds (see the module);
    ``tarinfo=BoundedTarInfo`` for :func:`tarfile.open`."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        """tarfile's extension point ("_proc_member() can be overridden in a subclass"): the
        member's extended headers read through a :class:`_Guard`, then its size checked."""
        if self.type in _SPECIAL:
            outer = archive.fileobj
            guard = outer if isinstance(outer, _Guard) else _Guard(outer)
            guard.begin(self)
            archive.fileobj = guard
            try:
                if self.type in _PAX:
                    data = guard.read(self._block(self.size))  # type: ignore[attr-defined]
                    check_pax(data[: self.size])
                    guard.replay(data)
                member = super()._proc_member(archive)  # type: ignore[misc]
            finally:
                archive.fileobj = outer
        else:
            member = super()._proc_member(archive)  # type: ignore[misc]
        if not 0 <= member.size <= _SIZE_LIMIT:
            raise tarfile.ReadError(f"entry {member.name!r} claims {member.size} bytes")
        return member  # type: ignore[no-any-return]


def members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Each member of ``archive`` in turn, without the archive keeping them all (open it with
    ``tarinfo=BoundedTarInfo``)."""
    while True:
        member = archive.next()
        cast(Any, archive).members.clear()  # tarfile keeps every member it read; a reader of one pass needs none
        if member is None:
            return
        yield member


def open_bounded(fileobj: IO[bytes], mode: str, **options: Any) -> tarfile.TarFile:
    """:func:`tarfile.open` with :class:`BoundedTarInfo`."""
    return tarfile.open(fileobj=fileobj, mode=mode, tarinfo=BoundedTarInfo, **options)  # type: ignore[call-overload,no-any-return]
