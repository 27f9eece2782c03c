"""Flattening an image's layers into one filesystem tar, by the image-spec's layer rules.

Two passes. The first reads every layer's headers, base first, and applies them to a model of
the filesystem (:class:`_Model`: paths, kinds, which member holds each file), as docker's and
umoci's unpackers apply them to a folder; the second reads again the layers that hold something
of the final filesystem and writes those members, then the directories. Each rule, and where it
comes from (image-spec ``layer.md`` unless named):

- *Applying changesets*: layers apply base first and a layer's entries in the order they come, so
  the last entry of a path wins, a directory's metadata included (:meth:`_Model.entry`).
- *Modifications*: a non-directory replaces what was at its path, a directory and its children
  included; a directory over a directory keeps the children.
- *Whiteouts*: ``.wh.NAME`` removes NAME and its children as the lower layers left them; what
  the whiteout's own layer wrote stays (:meth:`_Model.prune`).
- *Opaque whiteouts*: ``DIR/.wh..wh..opq`` removes DIR's children from the lower layers (the
  root's when DIR is the root); the directory itself and its own metadata stay.
- *Hardlinks*: a hard link is a second name of its target's inode as the target stands when the
  link is applied; a later change to the target's name leaves the link alone. The inode is
  written under its first surviving name, its other names as hard links to that. A link to
  nothing or to a directory raises (docker and umoci refuse to apply such a layer).
- Paths are resolved inside the root, through symlinks, as umoci's ``securejoin`` and docker's
  chrooted unpacker resolve them: a file added under ``bin/`` lands in ``usr/bin/`` when a lower
  layer made ``bin`` a symlink to ``usr/bin`` (usrmerge), and a symlink can never lead out of the
  root (``..`` stops at it). Missing parents are made as directories (0755); a parent that is a
  file raises.
- AUFS metadata (docker's ``UnpackLayer``, containerd, containers/storage): root entries named
  ``.wh..wh.*`` are not content and are dropped; hard links into ``.wh..wh.plnk`` get the plnk
  file's content.
- Sparse members come out as plain files, as :func:`~ocimodel.layer._members.tar_members` reads them.
- What is written is safe for any extractor, Python's ``tarfile`` without a filter included:
  names are relative with no ``..`` and never beneath a symlink; hard links name only what was
  written before them; a symlink whose relative target leaves the root is not written
  (go-containerregistry's rule); an absolute symlink target is written as the relative path to
  the same place (:func:`symlink_target`), so each name of a hard-linked symlink is a symlink of
  its own. Directories come last, parents first, with their final metadata, so that extracting
  files into them does not change their times afterwards.
"""

from __future__ import annotations

import copy
import posixpath
import tarfile
from collections.abc import Callable, Iterator

from ocimodel.errors import BadLayerError
from ocimodel.image import Image
from ocimodel.layer._members import layer_name, tar_members
from ocimodel.layer._tar import TarChunks, read_exactly

_OPAQUE = ".wh..wh..opq"
_WHITEOUT = ".wh."
_AUFS = ".wh..wh."
_HOPS = 40  # symlinks followed in one path, as Linux's ELOOP limit


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


def _leads_out(target: str, anchor: str) -> bool:
    """Whether ``target``, relative to the folder ``anchor``, leads out of the root."""
    if _has_drive(target):
        return True
    for view in (posixpath.normpath(target), _windows_view(target)):
        if not view.startswith("/") and _leaves(posixpath.normpath(posixpath.join(anchor, view))):
            return True
    return False


def symlink_target(target: str, name: str) -> str:
    """``target`` as written for a symlink at ``name``: a relative target as it is; an absolute
    one as the relative path to the same place inside the root (what a container sees is
    unchanged, and an extractor, Python's ``tarfile`` ``data`` filter included, stays inside the
    folder it extracts into): as many ``..`` as ``name`` is deep, then the target, read as the
    container reads it (a ``..`` at the root stays there)."""
    if not target.startswith("/"):
        return target
    depth = name.count("/")
    relative = target.lstrip("/")
    if _leads_out(relative, posixpath.dirname(name)) or _leads_out(relative, ""):
        relative = posixpath.normpath("/" + relative).lstrip("/")  # the ..s the root stops, gone
    return "/".join([".."] * depth + [relative]) if relative else ("/".join([".."] * depth) or ".")


class _Inode:
    """A non-directory: the member that holds it (layer position, member index), its kind, a
    symlink's target, and the names it ends with."""

    __slots__ = ("kind", "names", "source", "target")

    def __init__(self, source: tuple[int, int] | None, kind: bytes, target: str = "") -> None:
        self.source, self.kind, self.target = source, kind, target
        self.names: list[str] = []


class _Node:
    """A path of the model: a directory (``children``; ``info``: its entry, ``None`` if only made
    as a parent) or a non-directory (``inode``); ``layer``: the layer that last wrote it."""

    __slots__ = ("children", "info", "inode", "layer")

    def __init__(self, layer: int, *, inode: _Inode | None = None, info: tarfile.TarInfo | None = None) -> None:
        self.layer = layer
        self.inode = inode
        self.info = info
        self.children: dict[str, _Node] | None = None if inode is not None else {}


class _Model:
    """The filesystem the layers build, as far as flattening needs it (no content)."""

    def __init__(self) -> None:
        self.root = _Node(-1)

    def walk(self, parts: list[str], layer: int, *, create: bool, where: Callable[[], str]) -> _Node | None:
        """The directory at ``parts``, symlinks followed inside the root; missing ones made
        (``create``) or ``None``. :class:`BadLayerError` if a part is a file, or for a loop."""
        todo = list(reversed(parts))
        trail = [self.root]
        hops = 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if len(trail) > 1:
                    trail.pop()
                continue
            folder = trail[-1]
            assert folder.children is not None
            child = folder.children.get(part)
            if child is None:
                if not create:
                    return None
                child = folder.children[part] = _Node(layer)
            elif child.inode is not None:
                if child.inode.kind != tarfile.SYMTYPE:
                    raise BadLayerError(f"{where()}: {part!r} on its path is not a directory")
                hops += 1
                if hops > _HOPS:
                    raise BadLayerError(f"{where()}: too many symbolic links on its path (a loop?)")
                if child.inode.target.startswith("/"):
                    del trail[1:]
                todo.extend(reversed(child.inode.target.split("/")))
                continue
            trail.append(child)
        return trail[-1]

    def place(self, name: str, layer: int, *, create: bool, where: Callable[[], str]) -> tuple[_Node, str] | None:
        """The directory that holds ``name`` (resolved) and ``name``'s last part."""
        head, _, tail = name.rpartition("/")
        folder = self.walk(head.split("/") if head else [], layer, create=create, where=where)
        return None if folder is None else (folder, tail)

    def prune(self, node: _Node, layer: int) -> bool:
        """Remove from ``node`` what layers below ``layer`` wrote; whether ``node`` is left empty
        of this layer's writing (then its parent drops it). Children are pruned before their
        parents, without recursion: a path may be thousands of folders deep."""
        order: list[_Node] = []  # each node before its descendants
        pending = [node]
        while pending:
            current = pending.pop()
            order.append(current)
            if current.children:
                pending.extend(current.children.values())
        for current in reversed(order):
            if current.children:
                gone = [part for part, child in current.children.items() if child.layer < layer and not child.children]
                for part in gone:
                    del current.children[part]
        return node.layer < layer and not node.children

    def entry(self, member: tarfile.TarInfo, name: str, source: tuple[int, int], where: Callable[[], str]) -> None:
        """Apply one member (not a whiteout) at ``name``."""
        layer = source[0]
        if name == ".":
            if not member.isdir():
                raise BadLayerError(f"{where()}: the root entry {member.name!r} is not a directory")
            self.root.info, self.root.layer = member, layer
            return
        found = self.place(name, layer, create=True, where=lambda: f"{where()}: entry {member.name!r}")
        assert found is not None
        folder, part = found
        assert folder.children is not None
        old = folder.children.get(part)
        if member.isdir():
            if old is not None and old.inode is None:  # a directory over a directory: metadata
                old.info, old.layer = member, layer
            else:
                folder.children[part] = _Node(layer, info=member)
            return
        if member.islnk():
            inode = self.link(member, layer, where)
        else:
            inode = _Inode(source, member.type, member.linkname if member.issym() else "")
        folder.children[part] = _Node(layer, inode=inode)

    def link(self, member: tarfile.TarInfo, layer: int, where: Callable[[], str]) -> _Inode:
        """The inode a hard link names, as its target stands now."""
        target = posixpath.normpath(member.linkname).lstrip("/") or "."
        if _leaves(target) or _leads_out(member.linkname, ""):
            return _Inode(None, tarfile.LNKTYPE)  # out of the root: not written (go-containerregistry's rule)

        def what() -> str:
            return f"{where()}: entry {member.name!r} is a hard link to {member.linkname!r}"

        found = self.place(target, layer, create=False, where=what)
        node = None if found is None or not found[0].children else found[0].children.get(found[1])
        if node is None:
            raise BadLayerError(
                f"{what()}, which is not there (a hard link names a file that exists where it is applied)"
            )
        if node.inode is None:
            raise BadLayerError(f"{what()}, a directory")
        return node.inode

    def whiteout(self, name: str, layer: int, where: Callable[[], str]) -> None:
        """``.wh.NAME`` (``name``: NAME): what lower layers wrote there goes."""
        try:
            found = self.place(name, layer, create=False, where=where)
        except BadLayerError:  # beneath a file, or a loop: nothing there to remove
            return
        if found is None or found[0].children is None:
            return
        folder, part = found
        node = folder.children.get(part) if folder.children else None
        if node is not None and self.prune(node, layer):
            del folder.children[part]  # type: ignore[union-attr]

    def opaque(self, name: str, layer: int, where: Callable[[], str]) -> None:
        """``NAME/.wh..wh..opq``: what lower layers wrote in NAME goes, NAME stays."""
        parts = name.split("/") if name else []
        try:
            folder = self.walk(parts, layer, create=False, where=where)
        except BadLayerError:  # beneath a file, or a loop: nothing there to hide
            return
        if folder is not None:
            self.prune(folder, layer)  # its children; the folder itself stays, whatever prune says of it

    def leads_out(self, name: str, target: str) -> bool:
        """Whether the symlink at ``name`` with the (relative) ``target`` leads out of the root
        as an extractor on a host resolves it: through the symlinks of the final filesystem (as
        written: :func:`symlink_target`), ``..`` at the root going above it. (In a container the
        root stops ``..``: such a link still works there; extracted, it would point outside.)"""
        trail = [self.root]
        head = posixpath.dirname(name)
        for part in head.split("/") if head else []:  # real directories: nothing is written beneath a symlink
            children = trail[-1].children
            trail.append(children[part] if children and part in children else _Node(-1))
        names = head.split("/") if head else []
        todo = list(reversed(target.split("/")))
        hops = 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if len(trail) == 1:
                    return True
                trail.pop()
                names.pop()
                continue
            children = trail[-1].children
            child = children.get(part) if children else None
            if child is not None and child.inode is not None and child.inode.kind == tarfile.SYMTYPE and hops < _HOPS:
                hops += 1
                written = symlink_target(child.inode.target, "/".join([*names, part]))
                todo.extend(reversed(written.split("/")))
                continue
            trail.append(child if child is not None and child.inode is None else _Node(-1))
            names.append(part)
        return False

    def final(self) -> tuple[list[tuple[str, _Node]], list[_Inode]]:
        """The directories (parents first) and the inodes, each with its names."""
        folders: list[tuple[str, _Node]] = []
        inodes: dict[int, _Inode] = {}
        stack: list[tuple[str, _Node]] = [("", self.root)]
        while stack:
            path, node = stack.pop()
            if node.inode is not None:
                node.inode.names.append(path)
                inodes.setdefault(id(node.inode), node.inode)
                continue
            if path:
                folders.append((path, node))
            assert node.children is not None
            stack.extend((f"{path}/{part}" if path else part, child) for part, child in node.children.items())
        folders.sort(key=lambda item: item[0].split("/"))
        for inode in inodes.values():
            inode.names.sort()
        return folders, list(inodes.values())


class _Flattener:
    """One flattening: the model the first pass builds, then the writing."""

    def __init__(self, image: Image) -> None:
        self.layers = image.layers()
        self.out = TarChunks()
        self.model = _Model()

    def tar(self) -> Iterator[bytes]:
        for position in range(len(self.layers)):
            self.apply(position)
        folders, inodes = self.model.final()
        wanted: dict[int, dict[int, _Inode]] = {}
        for inode in inodes:
            names = [name for name in inode.names if not self.dropped(inode, name)]
            if names and inode.source is not None:
                inode.names = names
                wanted.setdefault(inode.source[0], {})[inode.source[1]] = inode
        for position in sorted(wanted):
            yield from self.write(position, wanted[position])
        if self.model.root.info is not None:
            yield from self.out.member(_folder(".", self.model.root.info))
        for path, node in folders:
            yield from self.out.member(_folder(path, node.info))
        yield self.out.end()

    def dropped(self, inode: _Inode, name: str) -> bool:
        """A symlink whose target leads out of the root from ``name`` is not written (the
        go-containerregistry rule, read through the final filesystem's symlinks)."""
        if inode.kind != tarfile.SYMTYPE:
            return False
        return _leads_out(inode.target, posixpath.dirname(name)) or self.model.leads_out(
            name, symlink_target(inode.target, name)
        )

    def apply(self, position: int) -> None:
        """The first pass over a layer: its headers applied to the model (its content skipped,
        its digest checked: read to its end)."""
        what = layer_name(self.layers[position], position)
        with self.layers[position].uncompressed() as stream:
            for index, (member, _) in enumerate(tar_members(stream, what)):
                name = member_name(member.name)
                base = posixpath.basename(name)
                if base == _OPAQUE:
                    self.model.opaque(posixpath.dirname(name), position, what)
                elif name.startswith(_AUFS):  # AUFS metadata; its plnk files are hard-link targets
                    if member.isreg() and name.startswith(_AUFS + "plnk/"):
                        self.model.entry(member, name, (position, index), what)
                elif base.startswith(_WHITEOUT):
                    self.model.whiteout(posixpath.join(posixpath.dirname(name), base[len(_WHITEOUT) :]), position, what)
                else:
                    self.model.entry(member, name, (position, index), what)
        plnk = self.model.root.children.get(_AUFS + "plnk") if self.model.root.children else None
        if plnk is not None:  # AUFS hard-link targets: not content
            del self.model.root.children[_AUFS + "plnk"]  # type: ignore[union-attr]

    def write(self, position: int, wanted: dict[int, _Inode]) -> Iterator[bytes]:
        """The second pass over a layer: each inode it holds, under its first name (its other
        names as hard links, or as symlinks of their own)."""
        what = layer_name(self.layers[position], position)
        with self.layers[position].uncompressed() as stream:
            for index, (member, content) in enumerate(tar_members(stream, what)):
                inode = wanted.get(index)
                if inode is None:
                    continue
                if member.issym():
                    for name in inode.names:
                        yield from self.out.member(_symlink(member, name))
                    continue
                first, *others = inode.names
                member.name = first
                yield from self.out.member(member, read_exactly(content, member.size) if content is not None else ())
                for other in others:
                    yield from self.out.member(_link(member, other, first))


def _folder(name: str, info: tarfile.TarInfo | None) -> tarfile.TarInfo:
    if info is None:  # made only as a parent: as tar and umoci make one
        made = tarfile.TarInfo(name)
        made.type, made.mode = tarfile.DIRTYPE, 0o755
        return made
    folder = copy.copy(info)
    folder.name = name
    return folder


def _symlink(member: tarfile.TarInfo, name: str) -> tarfile.TarInfo:
    link = copy.copy(member)
    link.pax_headers = dict(member.pax_headers)
    link.name, link.linkname = name, symlink_target(member.linkname, name)
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


__all__ = ["flattened_tar", "member_name", "symlink_target"]
