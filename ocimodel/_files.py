"""Writing outputs without destroying what is at the path, and without leaving anything behind.

Every file ocimodel writes (tarballs, exports, layouts, the credentials file, the embedded
registry's storage) goes through :func:`output`, which looks at what is at the path first:

- nothing, or a regular file: a new file is written under a temporary name in the same folder,
  synced and renamed onto the path, so a failure never leaves a half-written file there. A replaced
  file keeps its mode (and, where allowed, its owner), as ``cp`` and ``tar`` keep it; a file we may
  not write (``0444``, someone else's) is refused, as ``cp`` refuses it. Where the folder takes no
  new file (it is not ours) or the rename is refused (another user's file in a sticky ``/tmp``, a
  bind-mounted file), the file is written into in place, as ``cp`` does. A hard link is broken:
  the other names keep the old content;
- a symbolic link: the same, at the file it points to (a dangling link's target is created); the
  link stays a link;
- a FIFO or a character device (``/dev/null``, a tape, a terminal): opened and streamed into,
  never renamed over, never removed;
- a name of one of this process's descriptors (``/dev/stdout``, ``/dev/fd/3``): written into
  through a copy of the descriptor, with the offset and append mode the shell gave it;
- anything else (a directory, a socket, a block device, a name ending in ``/``):
  :class:`~ocimodel.errors.NotWritable` or the :class:`OSError` the system gives, one line naming
  the path.

A file output's folder must exist, as for ``cp``, the shell's ``>`` and crane: it is made only for
``folders=True``, which the library passes for the folders it owns (a layout's ``blobs/sha256``, the
embedded registry's storage, docker's credentials folder).

New files are created with mode ``0o666`` and new folders ``0o777``, from which the kernel takes
the umask (or a default ACL), as ``tar``, ``cp`` and crane do; ``secret=True`` (credentials) makes
new ones ``0o600`` and ``0o700``. The umask is never read or changed here: it is process-wide.

Every temporary file is known to this module while it lives, so that a process about to end
without unwinding (the command line after a signal, when a worker thread does not stop) removes
them all with :func:`remove_temporaries`. Scratch space (:func:`scratch_file`) has no name at all,
so nothing is left in ``$TMPDIR`` however the process ends, ``SIGKILL`` included.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ocimodel.errors import Cancelled, NotWritable

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

Target = str | os.PathLike[str]

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFSOCK: "a socket",
    stat.S_IFBLK: "a block device",
}

#: The longest file name (in bytes) Linux and the BSDs' file systems take.
NAME_MAX = 255
_SUFFIX = ".00000000.partial"  # the random part and the end of a temporary name

#: Why a new file could not be made in a folder that is not ours to write: the existing file is
#: then written into in place.
_NO_NEW_FILE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
#: Why a finished file could not be renamed onto the existing one (another user's file in a sticky
#: folder; a bind-mounted file; a file on another file system): written into in place then.
_NO_RENAME = frozenset({errno.EACCES, errno.EPERM, errno.EBUSY, errno.EXDEV})


def _named(error: OSError, shown: Path | str) -> OSError:
    """The same error, naming the path the caller gave (never a temporary name)."""
    return OSError(error.errno, error.strerror, str(shown))


# ------------------------------------------------------------------ temporary files alive now

_live: set[Path] = set()
_live_lock = threading.Lock()
_closing = False


def _create(path: Path, mode: int) -> int:
    """Make a new file at ``path`` (``O_EXCL``) and remember it until :func:`_forget`."""
    with _live_lock:
        if _closing:
            raise Cancelled("the process is ending: no new file is made")
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        _live.add(path)
    return handle


def _forget(path: Path, *, remove: bool) -> None:
    with _live_lock:
        _live.discard(path)
    if remove:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_temporaries() -> None:
    """Remove every temporary file still being written and make no new one: for a process that is
    about to end without running its ``finally`` blocks (``os._exit`` after a signal, with a worker
    thread still blocked). The lock is waited for a moment only, so that a signal handler running
    in the thread that holds it cannot hang on it."""
    global _closing
    locked = _live_lock.acquire(timeout=1)
    try:
        _closing = True
        for path in list(_live):
            with contextlib.suppress(OSError):
                path.unlink()
        _live.clear()
    finally:
        if locked:
            _live_lock.release()


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
            raise _named(error, self.shown) from None

    def sync(self) -> None:
        try:
            os.fsync(self.fileno())
        except OSError as error:
            raise _named(error, self.shown) from None


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
        """Flush, sync and rename the file to ``destination`` (whose folder is made if missing).

        :raises OSError: naming the path the caller gave, never the temporary one.
        """
        self.file.flush()
        self._raw.sync()
        self.file.close()
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            self.path.replace(destination)
        except OSError as error:
            raise _named(error, self._raw.shown) from None
        self.committed = True

    def copy_into(self, destination: Path) -> None:
        """Write the finished file's content into ``destination`` itself, in place (``cp``'s way):
        for an existing file it may write but not rename over. The temporary file stays until the
        block that made it ends."""
        with self.path.open("rb") as source, _in_place(destination, self._raw.shown) as out:
            shutil.copyfileobj(source, out, 1 << 20)


def _temporary_name(name: str) -> str:
    """``.<name>.<random>.partial``, ``name`` cut so that the whole stays within :data:`NAME_MAX`
    bytes (in the file system's encoding, never inside a character)."""
    room, used = NAME_MAX - len(".") - len(_SUFFIX), 0
    for index, character in enumerate(name):
        used += len(os.fsencode(character))
        if used > room:
            name = name[:index]
            break
    return f".{name}.{secrets.token_hex(4)}.partial"


@contextlib.contextmanager
def staged(
    folder: Path,
    name: str,
    *,
    shown: Path,
    secret: bool = False,
    like: os.stat_result | None = None,
    folders: bool = False,
) -> Iterator[Staged]:
    """A new file in ``folder`` named ``.<name>.<random>.partial`` until the caller commits it;
    removed if the block ends without a commit, however it ends.

    :param shown: the path errors name (never the temporary one).
    :param secret: create it ``0o600`` (and ``folder`` ``0o700``) rather than from the umask.
    :param like: the file it will replace: its mode, and its owner where allowed, are kept.
    :param folders: make ``folder`` (and its parents) if missing.
    :raises OSError: the file cannot be made (``folder`` is missing, or not ours to write).
    """
    if folders:
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700 if secret else 0o777)
        except OSError as error:
            raise _named(error, shown) from None
    temporary: Path | None = None
    new: Staged | None = None
    try:  # one block from the file's making to its end: an interrupt anywhere in it removes the file
        while new is None:
            temporary = folder / _temporary_name(name)
            try:
                handle = _create(temporary, 0o600 if secret else 0o666)
            except FileExistsError:
                continue
            except OSError as error:
                temporary = None
                raise _named(error, shown) from None
            try:
                if like is not None:
                    _take_over(handle, like)
                new = Staged(_File(handle, shown), temporary)
            except BaseException:
                os.close(handle)
                raise
        yield new
    finally:
        if new is not None and not new.committed:
            with contextlib.suppress(OSError):  # what is still buffered need not reach the disk
                new.file.close()
        if temporary is not None:
            _forget(temporary, remove=new is None or not new.committed)


def _take_over(handle: int, old: os.stat_result) -> None:
    """Give a new file the owner (where allowed: it needs privilege) and mode of the one it replaces."""
    mine = os.fstat(handle)
    if (mine.st_uid, mine.st_gid) != (old.st_uid, old.st_gid):
        with contextlib.suppress(PermissionError):
            os.fchown(handle, old.st_uid, old.st_gid)
    os.fchmod(handle, stat.S_IMODE(old.st_mode))


@contextlib.contextmanager
def _in_place(path: Path, shown: Path) -> Iterator[IO[bytes]]:
    """The existing regular file at ``path``, truncated and written into (then synced), as ``cp``
    writes into a file it cannot replace."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOCTTY)
    except OSError as error:
        raise _named(error, shown) from None
    raw = _File(handle, shown)
    with io.BufferedWriter(raw) as stream:
        yield stream
        stream.flush()
        raw.sync()


def _check_writable(path: Path, shown: Path) -> None:
    """Refuse an existing file we may not write (``0444``, another user's), as ``cp`` refuses it:
    renaming a new file over it would replace what its owner made read-only."""
    if os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
        return
    try:  # access(2) only guesses (a network file system decides for itself): opening tells
        os.close(os.open(path, os.O_WRONLY | os.O_NOCTTY))
    except OSError as error:
        raise _named(error, shown) from None


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


def _check_folder_name(text: str) -> None:
    """A name ending in ``/`` names a folder, never a file: refuse it as the system does (``Not a
    directory`` for a file there, ``Is a directory`` for a new name), whatever is at it."""
    try:
        found = os.stat(text)  # noqa: PTH116 (a Path drops the "/" that matters here)
    except FileNotFoundError:
        if not Path(text).parent.is_dir():
            raise
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), text) from None
    if stat.S_ISDIR(found.st_mode):
        raise NotWritable(f"cannot write to {text}: it is a directory, not a file")
    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), text)  # stat says so first, on Linux


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
def output(target: Target | IO[bytes], *, secret: bool = False, folders: bool = False) -> Iterator[IO[bytes]]:
    """A binary file to write ``target``'s content into, by the rules in this module's docstring:
    atomically (a temporary file renamed when the block ends without an error) for a new path or
    a regular file, through a symbolic link, straight into a FIFO or a character device. A name of
    one of this process's descriptors (``/dev/stdout``, ``/dev/fd/3``) is written into as it is
    (its offset and append mode kept, as the shell opened it); an open stream too (and flushed).

    :param secret: new files ``0o600`` and new folders ``0o700`` (credentials).
    :param folders: make the file's missing folders (only for folders the library owns).
    :raises NotWritable: ``target`` is a directory, a socket or a block device.
    :raises OSError: the path cannot be written (its folder is missing, the file is read-only, …);
        the message names it.
    """
    if not isinstance(target, str | os.PathLike):
        yield target
        target.flush()
        return
    text = os.fspath(target)
    if text.endswith("/"):
        _check_folder_name(text)
    path = Path(text)
    descriptor = _own_descriptor(path)
    if descriptor is not None:  # what the caller's shell opened: written into as it is
        try:
            handle = os.dup(descriptor)
        except OSError as error:
            raise _named(error, path) from None
    else:
        found = _stat(path)
        kind = stat.S_IFMT(found.st_mode) if found is not None else None
        if kind in _KINDS:
            raise NotWritable(f"cannot write to {path}: it is {_KINDS[kind]}, not a file")
        if kind in (None, stat.S_IFREG):
            real = _resolved(path, found)
            if real is not None:
                with _replacing(real, path, found, secret=secret, folders=folders) as stream:
                    yield stream
                return
        # A FIFO, a character device, or a file reached through a link with no name to follow:
        # written into, never renamed over or removed (a regular file is truncated, as by `>`).
        handle = os.open(path, os.O_WRONLY | os.O_NOCTTY | (os.O_TRUNC if kind == stat.S_IFREG else 0))
    with io.BufferedWriter(_File(handle, path)) as stream:
        yield stream


@contextlib.contextmanager
def _replacing(
    real: Path, shown: Path, found: os.stat_result | None, *, secret: bool, folders: bool
) -> Iterator[IO[bytes]]:
    """A new file renamed onto ``real`` at the end (or the existing file written into in place,
    where its folder takes no new file or the rename is refused)."""
    if found is not None:
        _check_writable(real, shown)
    with contextlib.ExitStack() as stack:
        new: Staged | None = None
        try:
            new = stack.enter_context(
                staged(real.parent, real.name, shown=shown, secret=secret, like=found, folders=folders)
            )
        except OSError as error:
            if found is None or error.errno not in _NO_NEW_FILE:
                raise
        if new is None:  # a folder that is not ours, a file that is: written into, as cp does
            with _in_place(real, shown) as stream:
                yield stream
            return
        yield new.file
        try:
            new.commit(real)
        except OSError as error:
            if found is None or error.errno not in _NO_RENAME:
                raise
            new.copy_into(real)


def write_file(
    target: Target | IO[bytes],
    data: Iterable[bytes | memoryview] | bytes,
    *,
    secret: bool = False,
    folders: bool = False,
) -> None:
    """Write ``data`` (bytes, or pieces of it) to ``target`` with :func:`output`."""
    with output(target, secret=secret, folders=folders) as out:
        for piece in [data] if isinstance(data, bytes) else data:
            out.write(piece)


def describe(path: Path) -> str:
    """What is at ``path``, in words, for an error: "a file", "a FIFO", "a directory", …"""
    try:
        mode = path.stat().st_mode
    except OSError:
        return "a symbolic link to nothing" if path.is_symlink() else "nothing"
    names = {stat.S_IFREG: "a file", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", **_KINDS}
    return names.get(stat.S_IFMT(mode), "something else")


def scratch_file() -> IO[bytes]:
    """A temporary file (read and write) with no name: ``O_TMPFILE`` where the system has it, else
    unlinked as soon as it is made, so nothing stays in ``$TMPDIR`` however the process ends."""
    return tempfile.TemporaryFile(prefix="ocimodel-", dir=_scratch_folder())


def _scratch_folder() -> str | None:
    """The folder :mod:`tempfile` would choose, found without its probe: ``gettempdir()`` writes
    a named file to test each candidate, which a ``SIGKILL`` at that moment would leave behind."""
    if tempfile.tempdir is not None:
        return tempfile.tempdir
    candidates = [os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")]
    candidates += ["/tmp", "/var/tmp", "/usr/tmp"]  # noqa: S108 (tempfile's own list, in its order)
    for folder in candidates:
        if folder and Path(folder).is_dir() and os.access(folder, os.W_OK | os.X_OK):
            return folder
    return None  # tempfile's own search, probe and all
