"""One lazy wrapper for every change to an index: entries added or removed, fields set."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ocimodel._memo import memoized
from ocimodel.descriptor import Descriptor
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.index import Child, ImageIndex
from ocimodel.layer import Layer
from ocimodel.manifest import IndexManifest
from ocimodel.mediatype import MediaType
from ocimodel.mutate._image import KEEP, _Keep, common_fields
from ocimodel.platform import Platform


@attrs.frozen
class IndexAddendum:
    """An image, index or blob to add to an index, with overrides for its entry."""

    add: Image | ImageIndex | Layer
    platform: Platform | None = None
    annotations: Mapping[str, str] = attrs.field(factory=dict)
    urls: Sequence[str] = ()
    media_type: str | None = None
    artifact_type: str | None = None

    def descriptor(self) -> Descriptor:
        own = self.add.descriptor()
        return attrs.evolve(
            own,
            media_type=self.media_type or own.media_type,
            platform=self.platform or own.platform,
            annotations=self.annotations or own.annotations,
            urls=self.urls or own.urls,
            artifact_type=self.artifact_type or own.artifact_type,
        )


@attrs.frozen
class _IndexChanges:
    adds: tuple[IndexAddendum, ...] = ()
    remove: Callable[[Descriptor], bool] | None = None
    media_type: MediaType | None = None
    annotations: Mapping[str, str] | None = None
    subject: Descriptor | _Keep | None = KEEP


class MutatedIndex(ImageIndex):
    """An index computed lazily from a base and a set of changes; see :mod:`ocimodel.mutate`."""

    def __init__(self, base: ImageIndex, changes: _IndexChanges) -> None:
        self._base = base
        self._changes = changes

    def media_type(self) -> MediaType:
        return self._changes.media_type or self._base.media_type()

    @memoized
    def _added(self) -> dict[Hash, Child]:
        return {addendum.add.digest(): addendum.add for addendum in self._changes.adds}

    @memoized
    def raw_manifest(self) -> bytes:
        changes = self._changes
        base = self._base.index_manifest()
        entries = [d for d in base.manifests if changes.remove is None or not changes.remove(d)]
        entries += [addendum.descriptor() for addendum in changes.adds]
        index: IndexManifest = attrs.evolve(base, manifests=entries, **common_fields(changes, base.annotations))
        return self._base.raw_manifest() if index == base else index.to_json()

    def _child(self, digest: Hash) -> Child | None:
        return self._added().get(digest)

    def image(self, digest: Hash) -> Image:
        child = self._child(digest)
        return child if isinstance(child, Image) else self._base.image(digest)

    def image_index(self, digest: Hash) -> ImageIndex:
        child = self._child(digest)
        return child if isinstance(child, ImageIndex) else self._base.image_index(digest)

    def layer(self, digest: Hash) -> Layer:
        child = self._child(digest)
        return child if isinstance(child, Layer) else self._base.layer(digest)


def changed_index(base: ImageIndex, **changes: Any) -> MutatedIndex:
    """``base`` with ``changes`` (the fields of :class:`_IndexChanges`) applied lazily."""
    return MutatedIndex(base, _IndexChanges(**changes))
