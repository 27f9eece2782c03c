"""Media types of the OCI image-spec and the Docker formats, with the predicates that classify them.

:class:`MediaType` is a :class:`str`, so any media type met on the wire (an artifact's, say) is a
valid value; the well-known ones are class attributes. Predicates look at the type without its
parameters (``application/vnd.oci.image.manifest.v1+json; charset=utf-8`` is still an image).
"""

from __future__ import annotations

from typing import ClassVar, Literal

__all__ = ["Family", "MediaType"]

#: The two families of media types: the OCI image-spec's and Docker's (image manifest v2 schema 2).
Family = Literal["oci", "docker"]


class MediaType(str):
    """A media type string with predicates.

    >>> MediaType.OCI_MANIFEST.is_image()
    True
    >>> MediaType("application/vnd.example.sbom+json").is_layer()
    False
    """

    __slots__ = ()

    # OCI image-spec
    OCI_DESCRIPTOR: ClassVar[MediaType]
    OCI_LAYOUT_HEADER: ClassVar[MediaType]
    OCI_MANIFEST: ClassVar[MediaType]
    OCI_INDEX: ClassVar[MediaType]
    OCI_CONFIG: ClassVar[MediaType]
    OCI_EMPTY: ClassVar[MediaType]
    OCI_LAYER: ClassVar[MediaType]
    OCI_LAYER_GZIP: ClassVar[MediaType]
    OCI_LAYER_ZSTD: ClassVar[MediaType]
    OCI_RESTRICTED_LAYER: ClassVar[MediaType]
    OCI_RESTRICTED_LAYER_GZIP: ClassVar[MediaType]
    OCI_RESTRICTED_LAYER_ZSTD: ClassVar[MediaType]
    #: Proposed for OCI 1.1 and withdrawn before release; recognised so it can be reported.
    OCI_ARTIFACT_MANIFEST: ClassVar[MediaType]

    # Docker image manifest v2 and its predecessors
    DOCKER_MANIFEST_SCHEMA1: ClassVar[MediaType]
    DOCKER_MANIFEST_SCHEMA1_SIGNED: ClassVar[MediaType]
    DOCKER_MANIFEST_SCHEMA2: ClassVar[MediaType]
    DOCKER_MANIFEST_LIST: ClassVar[MediaType]
    DOCKER_CONFIG: ClassVar[MediaType]
    DOCKER_PLUGIN_CONFIG: ClassVar[MediaType]
    DOCKER_LAYER: ClassVar[MediaType]
    DOCKER_LAYER_ZSTD: ClassVar[MediaType]
    DOCKER_UNCOMPRESSED_LAYER: ClassVar[MediaType]
    DOCKER_FOREIGN_LAYER: ClassVar[MediaType]

    def __repr__(self) -> str:
        return f"MediaType({str.__repr__(self)})"

    @property
    def essence(self) -> str:
        """The type without parameters, lower-cased (``type/subtype+suffix``)."""
        return self.partition(";")[0].strip().lower()

    def is_image(self) -> bool:
        """An image manifest: OCI or Docker schema 2."""
        return self.essence in _IMAGES

    def is_index(self) -> bool:
        """An index of manifests: OCI image index or Docker manifest list."""
        return self.essence in _INDEXES

    def is_schema1(self) -> bool:
        """A Docker schema 1 manifest (signed or not), which ocimodel can copy but not interpret."""
        return self.essence in _SCHEMA1

    def is_manifest(self) -> bool:
        """Anything a registry serves from ``/manifests/``: an image, an index or schema 1."""
        return self.is_image() or self.is_index() or self.is_schema1()

    def is_config(self) -> bool:
        """An image configuration: OCI or Docker."""
        return self.essence in _CONFIGS

    def is_layer(self) -> bool:
        """A filesystem layer (a tar, compressed or not) of any flavour."""
        return self.essence in _LAYERS

    def is_distributable(self) -> bool:
        """False for foreign and non-distributable layers, which registries need not hold."""
        return self.essence not in _NON_DISTRIBUTABLE

    def compression(self) -> str | None:
        """``"gzip"``, ``"zstd"`` or ``None`` for a layer type; ``None`` for anything else.

        >>> MediaType.OCI_LAYER_ZSTD.compression()
        'zstd'
        """
        return _LAYER_COMPRESSION.get(self.essence)

    def family(self) -> Family | None:
        """``"oci"`` or ``"docker"`` for the manifests, indexes, configs and layers of either
        spec; ``None`` for anything else (an artifact's type, schema 1).

        >>> MediaType.DOCKER_LAYER.family(), MediaType("application/spdx+json").family()
        ('docker', None)
        """
        essence = self.essence
        if essence.startswith(_OCI):
            return "oci" if essence in _OCI_FAMILY else None
        return "docker" if essence in _DOCKER_FAMILY else None

    def in_family(self, family: Family) -> MediaType | None:
        """This layer type's counterpart in ``family``: the type that says the same (compression,
        distributable or not) in the other spec; itself if it is in ``family`` already or is not a
        layer type; ``None`` if ``family`` has no such type (Docker has none for zstd, nor for an
        uncompressed non-distributable layer).

        >>> MediaType.DOCKER_LAYER.in_family("oci")
        MediaType('application/vnd.oci.image.layer.v1.tar+gzip')
        >>> MediaType.OCI_LAYER_ZSTD.in_family("docker") is None
        True
        """
        if not self.is_layer() or self.family() == family:
            return self
        return _COUNTERPARTS.get(self.essence)


_OCI = "application/vnd.oci."
_DOCKER = "application/vnd.docker."

MediaType.OCI_DESCRIPTOR = MediaType(_OCI + "descriptor.v1+json")
MediaType.OCI_LAYOUT_HEADER = MediaType(_OCI + "layout.header.v1+json")
MediaType.OCI_MANIFEST = MediaType(_OCI + "image.manifest.v1+json")
MediaType.OCI_INDEX = MediaType(_OCI + "image.index.v1+json")
MediaType.OCI_CONFIG = MediaType(_OCI + "image.config.v1+json")
MediaType.OCI_EMPTY = MediaType(_OCI + "empty.v1+json")
MediaType.OCI_LAYER = MediaType(_OCI + "image.layer.v1.tar")
MediaType.OCI_LAYER_GZIP = MediaType(_OCI + "image.layer.v1.tar+gzip")
MediaType.OCI_LAYER_ZSTD = MediaType(_OCI + "image.layer.v1.tar+zstd")
MediaType.OCI_RESTRICTED_LAYER = MediaType(_OCI + "image.layer.nondistributable.v1.tar")
MediaType.OCI_RESTRICTED_LAYER_GZIP = MediaType(_OCI + "image.layer.nondistributable.v1.tar+gzip")
MediaType.OCI_RESTRICTED_LAYER_ZSTD = MediaType(_OCI + "image.layer.nondistributable.v1.tar+zstd")
MediaType.OCI_ARTIFACT_MANIFEST = MediaType(_OCI + "artifact.manifest.v1+json")

MediaType.DOCKER_MANIFEST_SCHEMA1 = MediaType(_DOCKER + "distribution.manifest.v1+json")
MediaType.DOCKER_MANIFEST_SCHEMA1_SIGNED = MediaType(_DOCKER + "distribution.manifest.v1+prettyjws")
MediaType.DOCKER_MANIFEST_SCHEMA2 = MediaType(_DOCKER + "distribution.manifest.v2+json")
MediaType.DOCKER_MANIFEST_LIST = MediaType(_DOCKER + "distribution.manifest.list.v2+json")
MediaType.DOCKER_CONFIG = MediaType(_DOCKER + "container.image.v1+json")
MediaType.DOCKER_PLUGIN_CONFIG = MediaType(_DOCKER + "plugin.v1+json")
MediaType.DOCKER_LAYER = MediaType(_DOCKER + "image.rootfs.diff.tar.gzip")
MediaType.DOCKER_LAYER_ZSTD = MediaType(_DOCKER + "image.rootfs.diff.tar.zstd")
MediaType.DOCKER_UNCOMPRESSED_LAYER = MediaType(_DOCKER + "image.rootfs.diff.tar")
MediaType.DOCKER_FOREIGN_LAYER = MediaType(_DOCKER + "image.rootfs.foreign.diff.tar.gzip")

_IMAGES = frozenset({MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST_SCHEMA2})
_INDEXES = frozenset({MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST})
_SCHEMA1 = frozenset({MediaType.DOCKER_MANIFEST_SCHEMA1, MediaType.DOCKER_MANIFEST_SCHEMA1_SIGNED})
_CONFIGS = frozenset({MediaType.OCI_CONFIG, MediaType.DOCKER_CONFIG})
_LAYER_COMPRESSION: dict[str, str | None] = {
    MediaType.OCI_LAYER: None,
    MediaType.OCI_LAYER_GZIP: "gzip",
    MediaType.OCI_LAYER_ZSTD: "zstd",
    MediaType.OCI_RESTRICTED_LAYER: None,
    MediaType.OCI_RESTRICTED_LAYER_GZIP: "gzip",
    MediaType.OCI_RESTRICTED_LAYER_ZSTD: "zstd",
    MediaType.DOCKER_LAYER: "gzip",
    MediaType.DOCKER_LAYER_ZSTD: "zstd",
    MediaType.DOCKER_UNCOMPRESSED_LAYER: None,
    MediaType.DOCKER_FOREIGN_LAYER: "gzip",
}
_LAYERS = frozenset(_LAYER_COMPRESSION)
_NON_DISTRIBUTABLE = frozenset(
    {
        MediaType.DOCKER_FOREIGN_LAYER,
        MediaType.OCI_RESTRICTED_LAYER,
        MediaType.OCI_RESTRICTED_LAYER_GZIP,
        MediaType.OCI_RESTRICTED_LAYER_ZSTD,
    }
)
_OCI_FAMILY = frozenset(
    {MediaType.OCI_MANIFEST, MediaType.OCI_INDEX, MediaType.OCI_CONFIG}
    | {layer for layer in _LAYERS if layer.startswith(_OCI)}
)
_DOCKER_FAMILY = frozenset(
    {MediaType.DOCKER_MANIFEST_SCHEMA2, MediaType.DOCKER_MANIFEST_LIST, MediaType.DOCKER_CONFIG}
    | {layer for layer in _LAYERS if layer.startswith(_DOCKER)}
)
_PAIRS = (
    (MediaType.OCI_LAYER, MediaType.DOCKER_UNCOMPRESSED_LAYER),
    (MediaType.OCI_LAYER_GZIP, MediaType.DOCKER_LAYER),
    (MediaType.OCI_RESTRICTED_LAYER_GZIP, MediaType.DOCKER_FOREIGN_LAYER),
)
#: Each layer type's counterpart in the other family (containerd's Docker zstd type reads as OCI's
#: zstd type; the reverse is not made, since Docker's spec and registries know no zstd type).
_COUNTERPARTS: dict[str, MediaType] = {
    **dict(_PAIRS),
    **{docker: oci for oci, docker in _PAIRS},
    MediaType.DOCKER_LAYER_ZSTD: MediaType.OCI_LAYER_ZSTD,
}
