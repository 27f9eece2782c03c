"""Flattening an image's layers into one filesystem tar, with the image-spec's whiteout rules."""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Iterator

from ocimodel.errors import BadLayerError
from ocimodel.image import Image
from ocimodel.layer._members import layer_name, tar_members
from ocimodel.layer._tar import TarChunks, read_exactly

_OPAQUE = ".wh..wh..opq"
_WHITEOUT = ".wh."


def _clean(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/"))


def _has_drive(name: str) -> bool:
    return len(name) >= 2 and name[0].isascii() and name[0].isalpha() and name[1] == ":"


def member_name(name: str) -> str:
    """The member's path relative to the root; :class:`BadLayerError` if it would leave the root."""
    clean = _clean(name)
    if clean == ".." or clean.startswith("../") or name.startswith("\\") or _has_drive(clean):
        raise BadLayerError(f"unsafe tar path {name!r}: it would be written outside the root")
    return clean.lstrip("/") or "."


def escapes_root(member: tarfile.TarInfo, name: str) -> bool:
    """Whether a link's relative target points outside the root (absolute targets stay inside a
    container's root when it is unpacked there)."""
    target = _clean(member.linkname)
    if target.startswith("/"):
        return False
    if _has_drive(target):
        return True
    anchor = posixpath.dirname(name) if member.issym() else ""
    return posixpath.normpath(posixpath.join(anchor, target)).startswith("..")


def _ancestors(name: str) -> Iterator[str]:
    parent = posixpath.dirname(name)
    while parent not in ("", "/", "."):
        yield parent
        parent = posixpath.dirname(parent)


def flattened_tar(image: Image) -> Iterator[bytes]:
    """The image's filesystem as one tar.

    Upper layers win; whiteouts and opaque directories hide what lies beneath them (in lower
    layers only); a non-directory hides a lower directory's contents, even if a layer above it
    makes that path a directory again. Links whose relative target escapes the root are dropped;
    paths that escape it raise.
    """
    out = TarChunks()
    seen: dict[str, bool] = {}  # path -> is not a directory
    hidden: set[str] = set()  # whited out by a layer above
    opaque: set[str] = set()  # directories whose lower contents are hidden
    layers = image.layers()
    for position in reversed(range(len(layers))):
        layer = layers[position]
        what = layer_name(layer, position)
        layer_hidden, layer_opaque = set(), set()
        with layer.uncompressed() as stream:
            for member, content in tar_members(stream, what):  # reads to the end: the digest is checked
                name = member_name(member.name)
                base = posixpath.basename(name)
                if base == _OPAQUE:
                    layer_opaque.add(posixpath.dirname(name))
                    continue
                if base.startswith(_WHITEOUT):
                    layer_hidden.add(posixpath.join(posixpath.dirname(name), base[len(_WHITEOUT) :]))
                    continue
                if (member.issym() or member.islnk()) and escapes_root(member, name):
                    continue
                if not member.isdir():
                    # A non-directory replaces whatever lay beneath it, even when a layer
                    # above replaces it in turn: lower layers' children of it are gone.
                    layer_opaque.add(name)
                if name in seen or name in hidden:
                    continue
                if any(seen.get(a) or a in hidden or a in opaque for a in _ancestors(name)):
                    continue
                seen[name] = not member.isdir()
                member.name = name
                yield from out.member(member, read_exactly(content, member.size) if content is not None else ())
        hidden |= layer_hidden
        opaque |= layer_opaque
    yield out.end()
