"""Image manifests and image indexes (image-spec ``manifest.md`` and ``image-index.md``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

import attrs

from ocimodel import _convert
from ocimodel._frozen import FrozenMap
from ocimodel.codec import Document, json_key
from ocimodel.descriptor import Descriptor
from ocimodel.mediatype import MediaType

__all__ = ["IndexManifest", "Manifest"]


def _schema_version_2(_: object, __: object, value: int) -> None:
    if value != 2:
        raise ValueError(f"schemaVersion must be 2, got {value}")


def _descriptors(items: Iterable[Descriptor]) -> tuple[Descriptor, ...]:
    return tuple(items)


@attrs.frozen(kw_only=True)
class Manifest(Document):
    """An image manifest: a config blob and an ordered list of layers (base first).

    Also used for artifacts (``artifact_type``, or a config of a non-image media type) and for
    referrers (``subject``). Parse with :meth:`from_json`; the raw bytes are kept.
    """

    json_kind: ClassVar[str] = "image manifest"

    schema_version: int = attrs.field(
        default=2, validator=_schema_version_2, metadata=json_key("schemaVersion", always=True)
    )
    media_type: MediaType | None = attrs.field(
        default=None, converter=_convert.optional_media_type, metadata=json_key("mediaType")
    )
    config: Descriptor = attrs.field(metadata=json_key("config"))
    layers: tuple[Descriptor, ...] = attrs.field(
        default=(), converter=_descriptors, metadata=json_key("layers", always=True)
    )
    annotations: Mapping[str, str] = attrs.field(
        factory=FrozenMap, converter=_convert.string_map, metadata=json_key("annotations")
    )
    subject: Descriptor | None = attrs.field(default=None, metadata=json_key("subject"))
    artifact_type: MediaType | None = attrs.field(
        default=None, converter=_convert.optional_media_type, metadata=json_key("artifactType")
    )


@attrs.frozen(kw_only=True)
class IndexManifest(Document):
    """An image index (or Docker manifest list): descriptors of manifests, usually one per platform.

    Entries may also point at nested indexes or, unusually, at plain blobs.
    """

    json_kind: ClassVar[str] = "image index"

    schema_version: int = attrs.field(
        default=2, validator=_schema_version_2, metadata=json_key("schemaVersion", always=True)
    )
    media_type: MediaType | None = attrs.field(
        default=None, converter=_convert.optional_media_type, metadata=json_key("mediaType")
    )
    manifests: tuple[Descriptor, ...] = attrs.field(
        default=(), converter=_descriptors, metadata=json_key("manifests", always=True)
    )
    annotations: Mapping[str, str] = attrs.field(
        factory=FrozenMap, converter=_convert.string_map, metadata=json_key("annotations")
    )
    subject: Descriptor | None = attrs.field(default=None, metadata=json_key("subject"))
    artifact_type: MediaType | None = attrs.field(
        default=None, converter=_convert.optional_media_type, metadata=json_key("artifactType")
    )
