"""Writing outputs without destroying what is at the path, and without leaving anything behind.

Every file ocimodel writes (tarballs, exports, layouts, the credentials file, the embedded
registry's storage) goes through :func:`output`, which looks at what is at the path first:

- nothing, or a regular file: a new file is written under a temporary name in the same folder,
  synced and renamed onto the path, so a failure never leaves a half-written file there. A replaced
  file keeps its mode (and, where allowed, its owner), as ``cp`` and ``tar`` keep it;
- a symbolic link: the same, at the file it points to (a dangling link's target is created); the
  link stays a link;
- a FIFO or a character device (``/dev/null``, a tape, a terminal): opened and streamed into,
  never renamed over, never removed;
- a name of one of this process's descriptors (``/dev/stdout``, ``/dev/fd/3``): written into
  through a copy of the descriptor, with the offset and append mode the shell gave it;
- anything else (a directory, a socket, a block device): :class:`~ocimodel.errors.NotWritable`.

New files are created with mode ``0o666`` and new folders ``0o777``, from which the kernel takes
the umask (or a default ACL), as ``tar``, ``cp`` and crane do; ``secret=True`` (credentials) makes
new ones ``0o600`` and ``0o700``. The umask is never read or changed here: it is process-wide.

Scratch space (:func:`scratch_file`) has no name at all, so nothing is left in ``$TMPDIR``
however the process ends, ``SIGKILL`` included.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ocimodel.errors import NotWritable

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

Target = str | os.PathLike[str]

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
    stat.S_IFBLK: "a block device",
}


class _File(io.FileIO):
    """A file opened for writing whose errors name the path the caller gave (``No space left on
    device: '/dev/full'``), not a temporary name or nothing."""

    def __init__(self, handle: int, shown: Path) -> None:
        super().__init__(handle, "wb")
        self.shown = shown

    def write(self, data: ReadableBuffer, /) -> int:
        try:
            return super().write(data)
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(self.shown)) from None

    def sync(self) -> None:
        try:
            os.fsync(self.fileno())
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(self.shown)) from None


class Staged:
    """A new file under a temporary name (:attr:`path`) until :meth:`commit` renames it."""

    def __init__(self, raw: _File, path: Path) -> None:
        self._raw = raw
        #: Where to write.
        self.file: IO[bytes] = io.BufferedWriter(raw)
        #: The temporary name.
        self.path = path
        self.committed = False

    def commit(self, destination: Path) -> None:
        """Flush, sync and rename the file to ``destination`` (whose folder is made if missing)."""
        self.file.flush()
        self._raw.sync()
        self.file.close()
        destination.parent.mkdir(parents=True, exist_ok=True)
        self.path.replace(destination)
        self.committed = True


@contextlib.contextmanager
def staged(
    folder: Path, name: str, *, shown: Path | None = None, secret: bool = False, like: os.stat_result | None = None
) -> Iterator[Staged]:
    """A new file in ``folder`` (made if missing) named ``.<name>.<random>.partial`` until the
    caller commits it; removed if the block ends without a commit, however it ends.

    :param shown: the path errors name (default: the temporary one).
    :param secret: create it ``0o600`` (and ``folder`` ``0o700``) rather than from the umask.
    :param like: the file it will replace: its mode, and its owner where allowed, are kept.
    """
    folder.mkdir(parents=True, exist_ok=True, mode=0o700 if secret else 0o777)
    temporary: Path | None = None
    new: Staged | None = None
    try:  # one block from the file's making to its end: an interrupt anywhere in it removes the file
        while new is None:
            temporary = folder / f".{name[:200]}.{secrets.token_hex(4)}.partial"  # within NAME_MAX
            try:
                handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o666)
            except FileExistsError:
                continue
            try:
                if like is not None:
                    _take_over(handle, like)
                new = Staged(_File(handle, shown or temporary), temporary)
            except BaseException:
                os.close(handle)
                raise
        yield new
    finally:
        if new is not None and not new.committed:
            with contextlib.suppress(OSError):  # what is still buffered need not reach the disk
                new.file.close()
        if (new is None or not new.committed) and temporary is not None:
            _remove(temporary)


def _take_over(handle: int, old: os.stat_result) -> None:
    """Give a new file the owner (where allowed: it needs privilege) and mode of the one it replaces."""
    mine = os.fstat(handle)
    if (mine.st_uid, mine.st_gid) != (old.st_uid, old.st_gid):
        with contextlib.suppress(PermissionError):
            os.fchown(handle, old.st_uid, old.st_gid)
    os.fchmod(handle, stat.S_IMODE(old.st_mode))


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _resolved(path: Path, found: os.stat_result | None) -> Path | None:
    """Where a file at ``path`` really is, symbolic links followed; ``None`` when the links cannot
    be followed by name (``/dev/stdout`` is a link to ``/proc/self/fd/1``, whose target is no path)."""
    real = Path(os.path.realpath(path))
    if found is None:
        return real
    again = _stat(real)
    if again is None or (again.st_dev, again.st_ino) != (found.st_dev, found.st_ino):
        return None
    return real


# The names of an open file descriptor: /dev/fd/N, /proc/self/fd/N, /proc/<pid>/fd/N (and what
# links to them: /dev/stdout is /proc/self/fd/1).
_DESCRIPTOR = re.compile(r"/dev/fd/(?P<fd>\d+)|/proc/(?P<pid>self|thread-self|\d+)(?:/task/\d+)?/fd/(?P<n>\d+)")


def _own_descriptor(path: Path) -> int | None:
    """The descriptor of this process that ``path`` names (``/dev/stdout`` is 1), if it names one."""
    current = Path(os.path.normpath(path.absolute()))
    for _ in range(40):  # the kernel's limit on links followed
        found = _DESCRIPTOR.fullmatch(str(current))
        if found is not None:
            pid = found["pid"]
            if pid is None or pid in ("self", "thread-self") or int(pid) == os.getpid():
                return int(found["fd"] or found["n"])
            return None
        if not current.is_symlink():
            return None
        current = Path(os.path.normpath(current.parent / current.readlink()))
    return None


@contextlib.contextmanager
def output(target: Target | IO[bytes], *, secret: bool = False) -> Iterator[IO[bytes]]:
    """A binary file to write ``target``'s content into, by the rules in this module's docstring:
    atomically (a temporary file renamed when the block ends without an error) for a new path or
    a regular file, through a symbolic link, straight into a FIFO or a character device. A name of
    one of this process's descriptors (``/dev/stdout``, ``/dev/fd/3``) is written into as it is
    (its offset and append mode kept, as the shell opened it); an open stream too (and flushed).

    :raises NotWritable: ``target`` is a directory, a socket or a block device.
    :raises OSError: the path cannot be written; the message names it.
    """
    if not isinstance(target, str | os.PathLike):
        yield target
        target.flush()
        return
    path = Path(target)
    descriptor = _own_descriptor(path)
    if descriptor is not None:  # what the caller's shell opened: written into as it is
        try:
            handle = os.dup(descriptor)
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(path)) from None
    else:
        found = _stat(path)
        kind = stat.S_IFMT(found.st_mode) if found is not None else None
        if kind in _KINDS:
            raise NotWritable(f"cannot write to {path}: it is {_KINDS[kind]}, not a file")
        if kind in (None, stat.S_IFREG):
            real = _resolved(path, found)
            if real is not None:
                with staged(real.parent, real.name, shown=path, secret=secret, like=found) as new:
                    yield new.file
                    new.commit(real)
                return
        # A FIFO, a character device, or a file reached through a link with no name to follow:
        # written into, never renamed over or removed (a regular file is truncated, as by `>`).
        handle = os.open(path, os.O_WRONLY | os.O_NOCTTY | (os.O_TRUNC if kind == stat.S_IFREG else 0))
    with io.BufferedWriter(_File(handle, path)) as stream:
        yield stream


def write_file(target: Target | IO[bytes], data: Iterable[bytes | memoryview] | bytes, *, secret: bool = False) -> None:
    """Write ``data`` (bytes, or pieces of it) to ``target`` with :func:`output`."""
    with output(target, secret=secret) as out:
        for piece in [data] if isinstance(data, bytes) else data:
            out.write(piece)


def scratch_file() -> IO[bytes]:
    """A temporary file (read and write) with no name: ``O_TMPFILE`` where the system has it, else
    unlinked as soon as it is made, so nothing stays in ``$TMPDIR`` however the process ends."""
    return tempfile.TemporaryFile(prefix="ocimodel-")
