"""Re-timestamping: every layer's members and the config's times set to one moment, by streaming."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO

import attrs

from ocimodel._memo import memoized
from ocimodel._streams import IteratorReader, binary
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.layer import Layer, UncompressedLayer
from ocimodel.layer._members import layer_name, tar_members
from ocimodel.layer._tar import TarChunks, read_exactly
from ocimodel.mediatype import MediaType

_TIMES = ("mtime", "atime", "ctime")


def retimed_tar(source: IO[bytes], mtime: int, what: Callable[[], str] = lambda: "a layer") -> Iterator[bytes]:
    """The tar read from ``source`` with every member's times set to ``mtime``, member by member.

    Only one member's header and one chunk of its content are in memory at a time. An empty
    ``source`` is an empty tar; a broken one raises :class:`~ocimodel.errors.BadLayerError`
    naming ``what()`` and the entry.
    """
    out = TarChunks()
    with source:
        for member, content in tar_members(source, what):  # reads to the end: the digest is checked
            member.mtime = mtime
            member.pax_headers = {key: value for key, value in member.pax_headers.items() if key not in _TIMES}
            yield from out.member(member, read_exactly(content, member.size) if content is not None else ())
    yield out.end()


class RetimedLayer(UncompressedLayer):
    """``base`` with every member's times set to ``mtime`` (seconds since the epoch)."""

    def __init__(self, base: Layer, mtime: int, position: int = 0) -> None:
        self._base = base
        self._mtime = mtime
        self._position = position

    def media_type(self) -> MediaType:
        return self._base.media_type()

    def open_uncompressed(self) -> IO[bytes]:
        what = layer_name(self._base, self._position)
        return binary(IteratorReader(retimed_tar(self._base.uncompressed(), self._mtime, what)))


@attrs.frozen
class _Computed:
    raw_manifest: bytes
    raw_config: bytes
    layers: dict[Hash, Layer]


class RetimedImage(Image):
    """``base`` with its layers re-timestamped and its config's ``created`` times set to ``when``.

    History authors are cleared, as go-containerregistry does; the rest of the config is kept.
    """

    def __init__(self, base: Image, when: datetime) -> None:
        self._base = base
        self._when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)

    def media_type(self) -> MediaType:
        return self._base.media_type()

    @memoized
    def layers(self) -> list[Layer]:
        mtime = int(self._when.timestamp())
        return [RetimedLayer(layer, mtime, position) for position, layer in enumerate(self._base.layers())]

    @memoized
    def _computed(self) -> _Computed:
        config_file = self._base.config_file()
        layers = self.layers()
        history = [attrs.evolve(entry, created=self._when, author=None) for entry in config_file.history]
        rootfs = attrs.evolve(config_file.rootfs, diff_ids=[layer.diff_id() for layer in layers])
        raw_config = attrs.evolve(config_file, created=self._when, history=history, rootfs=rootfs).to_json()
        manifest = self._base.manifest()
        config = attrs.evolve(
            manifest.config,
            size=len(raw_config),
            digest=Hash.sha256(raw_config),
            data=raw_config if manifest.config.data is not None else None,
        )
        descriptors = [
            attrs.evolve(old, size=layer.size(), digest=layer.digest(), urls=())
            for old, layer in zip(manifest.layers, layers, strict=True)
        ]
        raw_manifest = attrs.evolve(manifest, config=config, layers=descriptors).to_json()
        return _Computed(raw_manifest, raw_config, {layer.digest(): layer for layer in layers})

    def raw_manifest(self) -> bytes:
        return self._computed().raw_manifest

    def raw_config_file(self) -> bytes:
        return self._computed().raw_config

    def layer_by_digest(self, digest: Hash) -> Layer:
        return self._computed().layers[digest]
