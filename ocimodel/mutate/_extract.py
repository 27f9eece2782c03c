"""Flattening an image's layers into one filesystem tar, by the image-spec's layer rules.

The layers are read once, the top layer first, and a member is written as soon as it is known to
belong to the final filesystem: a path that a higher layer has already given, whited out or
replaced does not. Each rule, and where it comes from (image-spec ``layer.md`` unless named):

- *Applying changesets*: layers apply base first, so the highest entry of a path wins (for a
  directory, its metadata); :meth:`_Flattener.visible`.
- *Modifications*: a non-directory replaces what lay beneath it, a directory and its children
  included, even when a layer above makes the path a directory again; a path given in a layer
  is a directory there, so a lower non-directory at a parent of it is gone (``buried`` and
  ``implied``).
- *Whiteouts*: ``.wh.NAME`` hides NAME and its children in the lower layers only (``hidden``).
- *Opaque whiteouts*: ``DIR/.wh..wh..opq`` hides DIR's lower children, the root's when DIR is the
  root; the marker's own layer keeps its entries (``buried``).
- *Hardlinks*: a hard link is a second name of its target's inode as the target stood when the
  link was applied (earlier in its own layer, else below it); a later change to the target's name
  leaves the link's content alone. A link is written as a hard link to the name its inode is
  written under; when no name of that inode survives in the final filesystem, the first surviving
  link carries the inode itself (a regular file with its bytes, or the symlink), read again from
  its layer at the end. A link to nothing, or to a directory, raises (docker and umoci refuse to
  apply such a layer); :class:`_Inode`.
- AUFS metadata (docker's ``UnpackLayer``, containerd, containers/storage): root entries named
  ``.wh..wh.*`` are not content and are dropped; hard links into ``.wh..wh.plnk`` get the plnk
  file's content.
- Sparse members come out as plain files, as :func:`~ocimodel.layer._members.tar_members` reads them.
- What is written is safe for any extractor, Python's ``tarfile`` without a filter included: a
  path that would leave the root raises; names are relative with no ``..``; hard links name only
  what was written before them; nothing is written beneath a symlink; a symlink whose relative
  target leaves the root is dropped (go-containerregistry's rule), though it still replaces what
  lay beneath it; an absolute symlink target is written as the relative path to the same place
  inside the root (:func:`symlink_target`), so each name of a hard-linked symlink is a symlink of
  its own.
"""

from __future__ import annotations

import copy
import posixpath
import tarfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from ocimodel.errors import BadLayerError
from ocimodel.image import Image
from ocimodel.layer._members import layer_name, tar_members
from ocimodel.layer._tar import TarChunks, read_exactly

_OPAQUE = ".wh..wh..opq"
_WHITEOUT = ".wh."
_AUFS = ".wh..wh."


def _windows_view(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/"))


def _has_drive(name: str) -> bool:
    """``C:``, ``C:\\x``, ``C:/x`` or ``C:..``: a Windows drive path (``B::x``, a Perl manual page's
    name, is not one)."""
    return (
        len(name) >= 2
        and name[0].isascii()
        and name[0].isalpha()
        and name[1] == ":"
        and (len(name) == 2 or name[2] in "\\/.")
    )


def _leaves(clean: str) -> bool:
    return clean == ".." or clean.startswith("../")


def member_name(name: str) -> str:
    """The member's path relative to the root (backslashes are part of a name, as on Linux:
    systemd's ``\\x2d``); :class:`BadLayerError` if it would leave the root, read as a POSIX or
    as a Windows path."""
    clean = posixpath.normpath(name)
    if _leaves(clean) or _leaves(_windows_view(name)) or name.startswith("\\") or _has_drive(name):
        raise BadLayerError(f"unsafe tar path {name!r}: it would be written outside the root")
    return clean.lstrip("/") or "."


def link_target(member: tarfile.TarInfo) -> str:
    """A hard link's target as a path relative to the root (tar names them from the root)."""
    return posixpath.normpath(member.linkname).lstrip("/") or "."


def escapes_root(member: tarfile.TarInfo, name: str) -> bool:
    """Whether a link's relative target points outside the root, read as a POSIX or as a Windows
    path (absolute targets stay inside a container's root when it is unpacked there)."""
    return _leads_out(member.linkname, posixpath.dirname(name) if member.issym() else "")


def _leads_out(target: str, anchor: str) -> bool:
    """Whether ``target``, relative to the folder ``anchor``, leads out of the root."""
    if _has_drive(target):
        return True
    for view in (posixpath.normpath(target), _windows_view(target)):
        if not view.startswith("/") and _leaves(posixpath.normpath(posixpath.join(anchor, view))):
            return True
    return False


def _ancestors(name: str) -> Iterator[str]:
    parent = posixpath.dirname(name)
    while parent not in ("", "/", "."):
        yield parent
        parent = posixpath.dirname(parent)


class _Inode:
    """A file as hard links see it: the names it has in the final filesystem and the member that
    holds it (``source``: layer position and member index), once that member has gone by."""

    __slots__ = ("dropped", "forward", "names", "passed", "source", "symlink", "written_as")

    def __init__(self, source: tuple[int, int] | None = None, *, dropped: bool = False) -> None:
        self.names: list[str] = []
        self.source = source
        self.passed = False  # its member has gone by in the stream
        self.written_as: str | None = None
        self.forward: _Inode | None = None  # a link target wanted from below, found: the inode found
        self.dropped = dropped  # a link that is not written (its target leaves the root)
        self.symlink: str | None = None  # the target, when the inode is a symlink

    def keeps(self, name: str) -> bool:
        """Whether ``name`` can be written as this inode: not a symlink that leads out of the root
        from where ``name`` stands."""
        return self.symlink is None or not _leads_out(self.symlink, posixpath.dirname(name))

    def root(self) -> _Inode:
        inode = self
        while inode.forward is not None:
            inode = inode.forward
        return inode

    def absorb(self, other: _Inode) -> None:
        """``other`` (a target wanted from below, now found to be this inode) joins it."""
        other = other.root()
        if other is not self:
            self.names.extend(other.names)
            other.names = []
            other.forward = self


class _Flattener:
    """The state of one flattening: what the layers read so far (the higher ones) decided."""

    def __init__(self, image: Image) -> None:
        self.layers = image.layers()
        self.out = TarChunks()
        self.seen: dict[str, bool] = {}  # path -> is not a directory, given by a higher layer
        self.hidden: set[str] = set()  # whited out by a higher layer
        self.buried: set[str] = (
            set()
        )  # their lower children are gone: opaque directories ("" the root), non-directories
        self.implied: set[str] = set()  # directories by a higher layer: a lower non-directory there is gone
        # hard-link targets to be found below the layer that wants them: path -> that layer -> inode
        self.wanted: dict[str, dict[int, _Inode]] = {}
        self.rereads: dict[int, dict[int, _Inode]] = {}  # layer position -> member index -> inode to write
        self.position = len(self.layers)  # the layer being read
        self.parents: set[str] = set()  # directories only as parents: written at the end if no layer gives them
        self.covered: set[str] = set()  # parents of what was written

    def tar(self) -> Iterator[bytes]:
        for position in reversed(range(len(self.layers))):
            yield from self.layer(position)
        for target, by_layer in self.wanted.items():
            inode = _joined(by_layer.values())
            if inode.names:
                position = min(by_layer)
                raise _dangling(layer_name(self.layers[position], position), inode.names[0], target)
        for position in sorted(self.rereads):
            yield from self.reread(position, self.rereads[position])
        for parent in sorted(self.parents - self.seen.keys() - self.covered):  # else tar makes them
            folder = tarfile.TarInfo(parent)
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755  # as tar and umoci make a missing parent
            yield from self.emit(folder)
        yield self.out.end()

    def emit(self, member: tarfile.TarInfo, data: Iterable[bytes] = ()) -> Iterator[bytes]:
        self.covered.update(_ancestors(member.name))
        return self.out.member(member, data)

    def visible(self, name: str, is_dir: bool) -> bool:
        """Whether this entry is in the final filesystem: no higher layer gave, hid or replaced it."""
        if name in self.seen or name in self.hidden or "" in self.buried:
            return False
        if not is_dir and name in self.implied:
            return False
        return not any(self.seen.get(a) or a in self.hidden or a in self.buried for a in _ancestors(name))

    def layer(self, position: int) -> Iterator[bytes]:
        self.position = position
        what = layer_name(self.layers[position], position)
        whiteouts: set[str] = set()
        opaques: set[str] = set()
        buried: set[str] = set()  # opaque directories and non-directories
        implied: set[str] = set()
        here: dict[str, _Inode | None] = {}  # this layer's entries so far: inode, or None for a directory

        def gone(target: str, hiding: set[str] = buried) -> bool:
            """Whether this layer removed ``target`` for what lies below it: its whiteouts and
            opaque markers do, and so does a non-directory it put at a parent (``hiding``)."""
            return target in whiteouts or "" in hiding or any(a in whiteouts or a in hiding for a in _ancestors(target))

        with self.layers[position].uncompressed() as stream:
            for index, (member, content) in enumerate(tar_members(stream, what)):  # reads to the end
                name = member_name(member.name)
                base = posixpath.basename(name)
                if base == _OPAQUE:
                    opaques.add(posixpath.dirname(name))
                    buried.add(posixpath.dirname(name))
                    continue
                if name.startswith(_AUFS):  # AUFS metadata; its plnk files are hard-link targets
                    if member.isreg():
                        inode = here[name] = _Inode((position, index))
                        inode.passed = True
                    continue
                if base.startswith(_WHITEOUT):
                    whiteouts.add(posixpath.join(posixpath.dirname(name), base[len(_WHITEOUT) :]))
                    continue
                implied.update(_ancestors(name))  # an entry's parents are directories when it is applied
                is_dir = member.isdir()
                visible = self.visible(name, is_dir)
                if visible:
                    self.seen[name] = not is_dir
                if is_dir:
                    here[name] = None
                    above = self.found(name, position)
                    if above is not None and above.names:
                        raise BadLayerError(
                            f"{what()}: entry {above.names[0]!r} is a hard link to a directory, {name!r}"
                        )
                    if visible:
                        member.name = name
                        yield from self.emit(member)
                    continue
                buried.add(name)
                if member.islnk():
                    inode = self.link_inode(member, name, here, gone, what)
                elif member.issym() and escapes_root(member, name):
                    inode = _Inode(dropped=True)
                else:
                    inode = _Inode((position, index))
                    inode.symlink = member.linkname if member.issym() else None
                here[name] = inode
                above = self.found(name, position)
                if inode.source == (position, index):  # the member holds the inode: write it with its names
                    if above is not None:
                        inode.absorb(above)
                    if visible:
                        inode.names.insert(0, name)
                    yield from self.write(inode, member, content)
                    continue
                joining = [name] if visible else []
                if above is not None:  # names from higher layers that link to this one
                    pending = above.root()
                    joining += pending.names
                    pending.names = []
                    pending.forward = inode.root() if pending is not inode.root() else None
                for each in joining:
                    yield from self.add_name(inode, each, member, what)
        self.parents.update(parent for parent in implied if self.visible(parent, is_dir=True))
        self.hidden |= whiteouts
        self.buried |= buried
        self.implied |= implied
        for target, by_layer in list(self.wanted.items()):
            # This layer's own links were made as its entries came: only its markers (applied to
            # the layers below, before its entries) take their targets away.
            for layer in [layer for layer in by_layer if gone(target, buried if layer > position else opaques)]:
                lost = by_layer.pop(layer).root()
                if lost.names:
                    raise _dangling(what, lost.names[0], target)
            if not by_layer:
                del self.wanted[target]

    def link_inode(
        self,
        member: tarfile.TarInfo,
        name: str,
        here: dict[str, _Inode | None],
        gone: Callable[[str], bool],
        what: Callable[[], str],
    ) -> _Inode:
        """The inode a hard link names: its target's, earlier in this layer or else below it."""
        if escapes_root(member, name):
            return _Inode(dropped=True)
        target = link_target(member)
        if target in here:
            found = here[target]
            if found is None:
                raise BadLayerError(f"{what()}: entry {name!r} is a hard link to a directory, {target!r}")
            return found.root()
        if gone(target):
            missing = _Inode()  # passed, held by no member: a name joining it raises
            missing.passed = True
            return missing
        return self.wanted.setdefault(target, {}).setdefault(self.position, _Inode()).root()

    def found(self, name: str, position: int) -> _Inode | None:
        """The inode that higher layers' hard links to ``name`` want, now that the layer at
        ``position`` gives ``name`` (links in that layer itself want what lies below it)."""
        by_layer = self.wanted.get(name)
        if by_layer is None:
            return None
        above = [by_layer.pop(layer) for layer in [layer for layer in by_layer if layer > position]]
        if not by_layer:
            del self.wanted[name]
        return _joined(above) if above else None

    def add_name(self, inode: _Inode, name: str, member: tarfile.TarInfo, what: Callable[[], str]) -> Iterator[bytes]:
        """``name``, a hard link in the final filesystem, joins ``inode``; written now if the inode is."""
        inode = inode.root()
        if inode.dropped or not inode.keeps(name):
            return
        inode.names.append(name)
        if not inode.passed:
            return  # written when its member goes by, lower in the stream
        if inode.symlink is not None and inode.written_as is not None:
            yield from self.emit(_symlink(member, name, inode.symlink))
        elif inode.written_as is not None:
            yield from self.emit(_link(member, name, inode.written_as))
        elif inode.source is not None:
            self.rereads.setdefault(inode.source[0], {})[inode.source[1]] = inode
        else:
            raise _dangling(what, name, member.linkname)

    def write(self, inode: _Inode, member: tarfile.TarInfo, content: IO[bytes] | None) -> Iterator[bytes]:
        """The inode's member under its first name, then its other names as hard links to that (a
        symlink as a symlink at each name: its target is written relative to where it stands)."""
        inode.passed = True
        inode.names = [name for name in inode.names if inode.keeps(name)]  # names joined before its kind was known
        if not inode.names:
            return
        first, *others = inode.names
        inode.written_as = first
        if member.issym():
            for name in inode.names:
                yield from self.emit(_symlink(member, name, member.linkname))
            return
        member.name = first
        yield from self.emit(member, read_exactly(content, member.size) if content is not None else ())
        for other in others:
            yield from self.emit(_link(member, other, first))

    def reread(self, position: int, wanted: dict[int, _Inode]) -> Iterator[bytes]:
        """The inodes whose names all come from hard links, from their layer read a second time."""
        what = layer_name(self.layers[position], position)
        with self.layers[position].uncompressed() as stream:
            for index, (member, content) in enumerate(tar_members(stream, what)):
                inode = wanted.get(index)
                if inode is not None:
                    yield from self.write(inode, member, content)


def _dangling(what: Callable[[], str], name: str, target: str) -> BadLayerError:
    return BadLayerError(
        f"{what()}: entry {name!r} is a hard link to {target!r}, which no earlier entry of its layer and no "
        "lower layer holds (a hard link names a file that exists where it is applied)"
    )


def _joined(inodes: Iterable[_Inode]) -> _Inode:
    """One inode for links that want the same target from below."""
    first, *others = (inode.root() for inode in inodes)
    for other in others:
        first.absorb(other)
    return first


def symlink_target(target: str, name: str) -> str:
    """``target`` as written for a symlink at ``name``: an absolute target as the relative path to
    the same place inside the root (what a container sees is unchanged, and an extractor, Python's
    ``tarfile`` ``data`` filter included, stays inside the folder it extracts into), a relative one
    normalised (the reading that was checked to stay inside the root)."""
    if not target:
        return target
    clean = posixpath.normpath(target)
    if not clean.startswith("/"):
        return clean
    return posixpath.relpath("/" + clean.lstrip("/"), "/" + posixpath.dirname(name))


def _symlink(member: tarfile.TarInfo, name: str, target: str) -> tarfile.TarInfo:
    link = copy.copy(member)
    link.pax_headers = dict(member.pax_headers)
    link.type = tarfile.SYMTYPE
    link.name, link.linkname, link.size = name, symlink_target(target, name), 0
    return link


def _link(member: tarfile.TarInfo, name: str, target: str) -> tarfile.TarInfo:
    link = copy.copy(member)
    link.pax_headers = dict(member.pax_headers)
    link.type = tarfile.LNKTYPE
    link.name, link.linkname, link.size = name, target, 0
    return link


def flattened_tar(image: Image) -> Iterator[bytes]:
    """The image's filesystem as one tar (see the module's rules), a chunk at a time."""
    return _Flattener(image).tar()
