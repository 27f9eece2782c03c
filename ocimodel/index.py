"""The abstract :class:`ImageIndex`, its children, platform selection, and an in-memory index."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Iterator
from typing import TypeAlias

from ocimodel import limits
from ocimodel._manifested import Manifested
from ocimodel._memo import memoized
from ocimodel.descriptor import Descriptor
from ocimodel.errors import IndexTooDeep, NoMatchingPlatform, NoSuchBlob
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.layer import Layer
from ocimodel.manifest import IndexManifest
from ocimodel.mediatype import MediaType
from ocimodel.platform import Platform

__all__ = ["Child", "ImageIndex", "MemoryIndex", "deeper", "unseen_children"]

#: What an index entry resolves to: an image, a nested index, or (rarely) a plain blob.
Child: TypeAlias = "Image | ImageIndex | Layer"

#: go-containerregistry's assumption for index entries that carry no platform.
_DEFAULT_PLATFORM = Platform("amd64", "linux")


def deeper(depth: int, nested: object) -> int:
    """The depth of the index ``nested`` (a digest, or anything that names it) found in an index
    at ``depth`` (the top index of a walk is at 1): every walk through indexes of indexes steps
    down with this, so that none goes deeper than the cap (:mod:`ocimodel.limits`), whatever
    the index says, and none recurses without bound.

    :raises ~ocimodel.errors.IndexTooDeep: past the cap.
    """
    cap = limits.current().index_depth
    if depth >= cap:
        raise IndexTooDeep(
            f"index {nested} is nested more than {cap} indexes deep (the limit is {limits.INDEX_DEPTH_VARIABLE})"
        )
    return depth + 1


class ImageIndex(Manifested):
    """An image index (or Docker manifest list): manifests of images or nested indexes.

    Subclass it and implement :meth:`raw_manifest`, :meth:`image` and :meth:`image_index` (and
    :meth:`layer` if entries may point at plain blobs). Derived: :meth:`index_manifest`,
    :meth:`digest`, :meth:`children` (lazily, each child fetched only when used) and
    :meth:`image_for` (platform selection with the one matching rule).
    """

    @abstractmethod
    def image(self, digest: Hash) -> Image:
        """The child image with this manifest digest."""

    @abstractmethod
    def image_index(self, digest: Hash) -> ImageIndex:
        """The child index with this digest."""

    def layer(self, digest: Hash) -> Layer:
        """A child that is a plain blob rather than a manifest (unusual; not supported by default)."""
        raise NoSuchBlob(f"index {self.digest()} cannot serve the blob {digest}")

    def media_type(self) -> MediaType:
        """The index's media type (its ``mediaType`` field; OCI if it has none)."""
        return self.index_manifest().media_type or MediaType.OCI_INDEX

    @memoized
    def index_manifest(self) -> IndexManifest:
        """The parsed index (it keeps the raw bytes)."""
        return IndexManifest.from_json(self.raw_manifest())

    @memoized
    def _entries(self) -> dict[Hash, Descriptor]:
        found: dict[Hash, Descriptor] = {}
        for descriptor in self.index_manifest().manifests:
            found.setdefault(descriptor.digest, descriptor)
        return found

    def entry(self, digest: Hash) -> Descriptor:
        """The (first) entry that names ``digest``, found in constant time; raises
        :class:`~ocimodel.errors.NoSuchBlob` if there is none."""
        found = self._entries().get(digest)
        if found is None:
            raise NoSuchBlob(f"index {self.digest()} has no entry {digest}")
        return found

    def child(self, descriptor: Descriptor) -> Child:
        """What an entry points at, chosen by its media type (anything unknown is a blob)."""
        if descriptor.media_type.is_index():
            return self.image_index(descriptor.digest)
        if descriptor.media_type.is_image():
            return self.image(descriptor.digest)
        return self.layer(descriptor.digest)

    def children(self) -> Iterator[tuple[Descriptor, Child]]:
        """Each entry with what it points at, in order; a child is made only when reached."""
        for descriptor in self.index_manifest().manifests:
            yield descriptor, self.child(descriptor)

    def image_for(self, platform: Platform) -> Image:
        """The first image (depth first, in order) whose platform matches; entries without a
        platform count as ``linux/amd64``. Raises :class:`~ocimodel.errors.NoMatchingPlatform`
        listing what is there, and :class:`~ocimodel.errors.IndexTooDeep` for indexes nested
        past the cap (each nested index is looked into once, however often it is named)."""
        found = self._find(platform, 1, set())
        if found is None:
            available = ", ".join(sorted(set(self._platforms(1, set())))) or "none"
            raise NoMatchingPlatform(f"index {self.digest()} has no image for {platform}; it has: {available}")
        return found

    def _find(self, platform: Platform, depth: int, seen: set[Hash]) -> Image | None:
        for descriptor in self.index_manifest().manifests:
            if descriptor.media_type.is_index():
                if descriptor.digest in seen:
                    continue  # looked into already: nothing there
                seen.add(descriptor.digest)
                nested = self.image_index(descriptor.digest)._find(platform, deeper(depth, descriptor.digest), seen)
                if nested is not None:
                    return nested
            elif descriptor.media_type.is_image() and (descriptor.platform or _DEFAULT_PLATFORM).matches(platform):
                return self.image(descriptor.digest)
        return None

    def _platforms(self, depth: int, seen: set[Hash]) -> Iterator[str]:
        for descriptor in self.index_manifest().manifests:
            if descriptor.media_type.is_index():
                if descriptor.digest not in seen:
                    seen.add(descriptor.digest)
                    yield from self.image_index(descriptor.digest)._platforms(deeper(depth, descriptor.digest), seen)
            elif descriptor.media_type.is_image():
                yield str(descriptor.platform or _DEFAULT_PLATFORM)


def unseen_children(index: ImageIndex, depth: int, seen: set[Hash]) -> Iterator[tuple[Descriptor, Child, int]]:
    """Each entry of ``index`` (at ``depth``) whose digest is not in ``seen`` yet, with its child
    and the child's depth (an index's one deeper, :func:`deeper`); each is added to ``seen``.

    How a walk through indexes of indexes (a writer, a puller) visits every distinct child once:
    indexes that name the same child at every level (2**depth paths through a few blobs) cost
    what a chain costs.
    """
    for descriptor, child in index.children():
        if descriptor.digest in seen:
            continue
        seen.add(descriptor.digest)
        yield descriptor, child, deeper(depth, descriptor.digest) if isinstance(child, ImageIndex) else depth


class MemoryIndex(ImageIndex):
    """An index from its raw manifest and the children it names, all in memory."""

    def __init__(self, raw_manifest: bytes, children: Iterable[Child] = ()) -> None:
        self._raw_manifest = bytes(raw_manifest)
        self._children = {child.digest(): child for child in children}

    def raw_manifest(self) -> bytes:
        return self._raw_manifest

    def _lookup(self, digest: Hash, kind: type[Image] | type[ImageIndex] | type[Layer]) -> Child:
        child = self._children.get(digest)
        if not isinstance(child, kind):
            raise NoSuchBlob(f"index {self.digest()} has no {kind.__name__} child {digest}")
        return child

    def image(self, digest: Hash) -> Image:
        child = self._lookup(digest, Image)
        assert isinstance(child, Image)
        return child

    def image_index(self, digest: Hash) -> ImageIndex:
        child = self._lookup(digest, ImageIndex)
        assert isinstance(child, ImageIndex)
        return child

    def layer(self, digest: Hash) -> Layer:
        child = self._lookup(digest, Layer)
        assert isinstance(child, Layer)
        return child
