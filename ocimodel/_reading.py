"""Reading local files within bounds: what is at a path is looked at before a byte is read, and
documents are read with a limit.

Every file ocimodel opens for reading by name (a layout's ``index.json`` and blobs, a docker-save
tarball, a layer file, a credentials file) goes through :func:`open_file`:

- it is opened ``O_NONBLOCK``, so that a FIFO no one writes to does not hold the open for ever,
  then its type is checked on the open descriptor (no race with a rename);
- a regular file is read (the flag cleared); a FIFO, a socket, a directory or a block device is
  refused at once with :class:`~ocimodel.errors.NotReadable`; so is a character device
  (``/dev/zero``, a terminal), except where a device is a known way to say "nothing"
  (``config.json`` linked to ``/dev/null``), where it is read without blocking and within the cap.

A pipe is not a file: these inputs are read more than once, or at several places (a tarball's
members, a layer's bytes for its digest and again for its upload), which a pipe cannot give. A
stream goes through the APIs that take a file object (:func:`ocimodel.layer.stream`).

A read that fails (``EIO`` from a disk, or from ``/proc/self/mem`` behind a symbolic link) raises
an :class:`OSError` of the same kind naming the file (``[Errno 5] Input/output error:
'/x/index.json'``), as the errors of opening it do: the file object :func:`open_file` returns
says which file it is reading.

A document (JSON read whole) is read by :func:`read_file` or :func:`read_capped`: with its
descriptor's size as the limit when it has one, and never more than the document cap
(:mod:`ocimodel.limits`); a file or member larger than that is refused before it is read.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from typing import IO, Any

from ocimodel import limits
from ocimodel.errors import CredentialsError, DocumentTooLarge, ManifestTooLarge, NotReadable

__all__ = ["document_limit", "open_file", "read_capped", "read_credentials", "read_file", "too_large"]

Target = str | os.PathLike[str]

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
    stat.S_IFBLK: "a block device",
    stat.S_IFCHR: "a character device",
    stat.S_IFLNK: "a symbolic link",
}


class _Named(io.FileIO):
    """A file whose read errors name it, as the errors of opening it do: ``OSError(errno,
    strerror, path)`` (``[Errno 5] Input/output error: '/x/index.json'``), of the class the errno
    maps to (``PermissionError``, ``IsADirectoryError``, …)."""

    def __init__(self, handle: int, path: str) -> None:
        super().__init__(handle, "rb")
        self.path = path

    def _named(self, error: OSError) -> OSError:
        if error.errno is None:
            return OSError(f"{error}: {self.path!r}")
        return OSError(error.errno, error.strerror or os.strerror(error.errno), self.path)

    def read(self, size: int | None = -1, /) -> bytes:
        try:
            return super().read(size)
        except OSError as error:
            raise self._named(error) from None

    def readall(self) -> bytes:
        try:
            return super().readall()
        except OSError as error:
            raise self._named(error) from None

    def readinto(self, buffer: Any, /) -> int:
        try:
            return super().readinto(buffer)
        except OSError as error:
            raise self._named(error) from None


def open_file(path: Target, what: str | None = None, *, devices: bool = False, follow: bool = True) -> IO[bytes]:
    """``path`` opened for reading, if it is a regular file; never blocks to open.

    :param what: how errors name it (default: the path): ``"tarball /x/image.tar"``.
    :param devices: take a character device too (read unbuffered and without blocking: a read
        that would block gives ``None``, see :func:`read_capped`).
    :param follow: follow a symbolic link at the end of the path (``False``: refuse it).
    :raises ~ocimodel.errors.NotReadable: ``path`` is not a regular file (or device, if allowed).
    :raises OSError: it cannot be opened (``FileNotFoundError``, ``PermissionError``), naming it;
        so does a read of the file object returned that fails.
    """
    shown = what or os.fspath(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        handle = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP and not follow:
            raise NotReadable(f"cannot read {shown}: it is a symbolic link, not a regular file") from None
        if error.errno == errno.ENXIO:  # what opening a socket says
            raise NotReadable(f"cannot read {shown}: it is a socket, not a regular file") from None
        raise
    try:
        kind = stat.S_IFMT(os.fstat(handle).st_mode)
        if kind == stat.S_IFCHR and devices:
            return _Named(handle, os.fspath(path))
        if kind != stat.S_IFREG:
            raise NotReadable(f"cannot read {shown}: it is {_KINDS.get(kind, 'not a file')}, not a regular file")
        os.set_blocking(handle, True)
        return io.BufferedReader(_Named(handle, os.fspath(path)))
    except BaseException:
        os.close(handle)
        raise


def too_large(
    what: str, size: int | None, cap: int, *, manifest: bool = False, claimed: bool = False
) -> DocumentTooLarge:
    """The error for a document over the cap: :class:`~ocimodel.errors.ManifestTooLarge` for a
    manifest or index, :class:`~ocimodel.errors.DocumentTooLarge` for any other."""
    kind = ManifestTooLarge if manifest else DocumentTooLarge
    if size is None:
        amount = "it is larger than"
    elif claimed:
        amount = f"its descriptor says {size} bytes, more than"
    else:
        amount = f"it is {size} bytes, more than"
    return kind(f"cannot read {what}: {amount} the {cap}-byte limit ({limits.DOCUMENT_VARIABLE})")


def document_limit(what: str, size: int | None = None, *, manifest: bool = False) -> int:
    """The most bytes to read of a document whose descriptor says ``size`` (``None``: it has
    none): that size, or the cap.

    :raises ~ocimodel.errors.DocumentTooLarge: ``size`` is over the cap (nothing need be read).
    """
    cap = limits.current().document
    if size is None:
        return cap
    if size > cap:
        raise too_large(what, size, cap, manifest=manifest, claimed=True)
    return size


def read_capped(stream: IO[bytes], what: str, cap: int | None = None, *, manifest: bool = False) -> bytes:
    """The rest of ``stream``, if it is no more than ``cap`` bytes (default: the document cap).

    :raises ~ocimodel.errors.DocumentTooLarge: there is more (after reading ``cap`` + 1 bytes).
    :raises ~ocimodel.errors.NotReadable: a device with nothing to give now (a terminal).
    """
    limit = limits.current().document if cap is None else cap
    found = bytearray()
    while len(found) <= limit:
        chunk = stream.read(limit + 1 - len(found))
        if chunk is None:  # a device opened without blocking, with nothing to read now
            raise NotReadable(f"cannot read {what}: it is a device with nothing to read")
        if not chunk:
            return bytes(found)
        found += chunk
    raise too_large(what, None, limit, manifest=manifest)


def read_file(path: Target, what: str | None = None, *, devices: bool = False, manifest: bool = False) -> bytes:
    """A document's bytes from a file (:func:`open_file`), refused unread if the file is larger
    than the document cap, and read within it in any case (a file may grow)."""
    shown = what or os.fspath(path)
    cap = limits.current().document
    with open_file(path, shown, devices=devices) as stream:
        found = os.fstat(stream.fileno())
        if stat.S_ISREG(found.st_mode) and found.st_size > cap:
            raise too_large(shown, found.st_size, cap, manifest=manifest)
        return read_capped(stream, shown, cap, manifest=manifest)


def read_credentials(path: Target) -> bytes:
    """A credentials file's bytes (docker's ``config.json``, podman's ``auth.json``): a regular
    file, or a character device (``/dev/null``: no credentials), within the document cap.

    :raises CredentialsError: it is something else (a FIFO, a directory), or too large; the
        message names it.
    :raises FileNotFoundError: there is none.
    """
    shown = f"credentials file {os.fspath(path)}"
    try:
        return read_file(path, shown, devices=True)
    except (NotReadable, DocumentTooLarge) as error:
        raise CredentialsError(str(error)) from None
