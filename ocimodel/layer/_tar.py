"""Reproducible tar streams, generated lazily: sorted entries, one fixed mtime, uid and gid 0.

The bytes are exactly what :mod:`tarfile` writes in PAX format for the same entries, but they are
produced a chunk at a time, so a directory of any size becomes a layer in bounded memory.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Literal

import attrs

from ocimodel._reading import open_file
from ocimodel.errors import BadLayerError

_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_CHUNK = 1 << 20
_KINDS = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}


@attrs.frozen
class TarEntry:
    """One member of a generated tar: a file (from bytes or from disk), a directory or a symlink."""

    name: str
    kind: Literal["file", "dir", "symlink"]
    mode: int
    size: int = 0
    linkname: str = ""
    content: bytes | None = None
    path: str | None = None


def clean_member_name(name: str) -> str:
    """A relative POSIX member name; refuses names that would land outside the root."""
    cleaned = posixpath.normpath("/" + name.replace("\\", "/")).lstrip("/")
    parts = name.replace("\\", "/").split("/")
    if not cleaned or cleaned == "." or ".." in parts:
        raise BadLayerError(f"unsafe or empty path {name!r} for a layer: expected a relative path inside the root")
    return cleaned


def mapping_entries(files: Mapping[str, bytes]) -> list[TarEntry]:
    """Entries for ``{path: content}``: regular files, mode 0644, sorted by path (no directories)."""
    entries = {}
    for name, content in files.items():
        cleaned = clean_member_name(name)
        if cleaned in entries:
            raise BadLayerError(f"path {name!r} appears twice (as {cleaned!r})")
        entries[cleaned] = TarEntry(cleaned, "file", 0o644, size=len(content), content=bytes(content))
    return [entries[name] for name in sorted(entries)]


def directory_entries(root: str | os.PathLike[str]) -> Iterator[TarEntry]:
    """Entries for everything under ``root``, parents before children, siblings sorted by name."""
    top = Path(root)
    if not top.is_dir():
        raise BadLayerError(f"{top}: expected a directory to make a layer of")
    yield from _walk(str(top), "")


def _walk(directory: str, prefix: str) -> Iterator[TarEntry]:
    with os.scandir(directory) as listing:
        children = sorted(listing, key=lambda entry: entry.name)
    for child in children:
        name = prefix + child.name
        info = child.stat(follow_symlinks=False)
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISDIR(info.st_mode):
            yield TarEntry(name, "dir", mode)
            yield from _walk(child.path, name + "/")
        elif stat.S_ISREG(info.st_mode):
            yield TarEntry(name, "file", mode, size=info.st_size, path=child.path)
        elif stat.S_ISLNK(info.st_mode):
            yield TarEntry(name, "symlink", mode, linkname=str(Path(child.path).readlink()))
        else:
            raise BadLayerError(
                f"{child.path}: cannot put a special file in a layer (only files, directories and symbolic links)"
            )


class TarChunks:
    """Writes tar members as byte chunks, counting the offset for the end-of-archive padding."""

    def __init__(self) -> None:
        self.offset = 0

    def member(self, info: tarfile.TarInfo, data: Iterable[bytes] = ()) -> Iterator[bytes]:
        """The member's PAX header, then ``data`` (exactly ``info.size`` bytes), then padding."""
        try:
            header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        except UnicodeEncodeError as error:  # a PAX record's name that is not UTF-8 (an xattr's)
            raise BadLayerError(
                f"tar member {info.name!r}: a PAX record's name is not UTF-8 ({error.object!r}), which "
                "cannot be written again"
            ) from error
        self.offset += len(header)
        yield header
        written = 0
        for chunk in data:
            written += len(chunk)
            yield chunk
        if written != info.size:
            raise BadLayerError(f"tar member {info.name!r}: expected {info.size} bytes of content, got {written}")
        padding = -written % _BLOCK
        if padding:
            yield b"\0" * padding
        self.offset += written + padding

    def end(self) -> bytes:
        """Two zero blocks, then zeros to a whole record, as :mod:`tarfile` ends an archive."""
        trailer = 2 * _BLOCK + (-(self.offset + 2 * _BLOCK) % _RECORD)
        self.offset += trailer
        return b"\0" * trailer


def tar_chunks(entries: Iterable[TarEntry], mtime: int = 0) -> Iterator[bytes]:
    """The tar of ``entries`` as a sequence of byte chunks."""
    out = TarChunks()
    for entry in entries:
        info = tarfile.TarInfo(entry.name)
        info.type = _KINDS[entry.kind]
        info.mode = entry.mode
        info.mtime = mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.size = entry.size if entry.kind == "file" else 0
        info.linkname = entry.linkname
        yield from out.member(info, _content(entry) if entry.kind == "file" else ())
    yield out.end()


def read_exactly(stream: IO[bytes], size: int, shortfall: str = "a tar member ended early") -> Iterator[bytes]:
    """``size`` bytes of ``stream`` in chunks; :class:`BadLayerError` saying ``shortfall`` if it ends sooner."""
    remaining = size
    while remaining:
        chunk = stream.read(min(_CHUNK, remaining))
        if not chunk:
            raise BadLayerError(shortfall)
        remaining -= len(chunk)
        yield chunk


def _content(entry: TarEntry) -> Iterator[bytes]:
    if entry.content is not None:
        yield entry.content
        return
    assert entry.path is not None
    with open_file(entry.path) as source:  # a file turned into a FIFO since it was listed is refused
        yield from read_exactly(
            source, entry.size, f"{entry.path}: the file shrank while it was being read into a layer"
        )
        if source.read(1):
            raise BadLayerError(f"{entry.path}: the file grew while it was being read into a layer")
