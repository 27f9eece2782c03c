"""The content descriptor: what a manifest or index says about each blob or manifest it points to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs

from ocimodel import _convert
from ocimodel._frozen import FrozenMap
from ocimodel.codec import Parsed, json_key
from ocimodel.hashing import Hash
from ocimodel.mediatype import MediaType
from ocimodel.platform import Platform

__all__ = ["Descriptor"]


@attrs.frozen
class Descriptor(Parsed):
    """A pointer to content by media type, size and digest (image-spec ``descriptor.md``).

    ``digest`` accepts a :class:`~ocimodel.Hash` or its string; ``annotations`` any mapping (kept
    as an immutable one). Optional fields left empty are not written to JSON.

    >>> d = Descriptor.of(b"{}", MediaType.OCI_EMPTY)
    >>> d.size, str(d.digest)[:15]
    (2, 'sha256:44136fa3')
    """

    json_kind: ClassVar[str] = "descriptor"

    media_type: MediaType = attrs.field(converter=_convert.media_type, metadata=json_key("mediaType"))
    size: int = attrs.field(validator=_convert.non_negative, metadata=json_key("size"))
    digest: Hash = attrs.field(converter=_convert.digest, metadata=json_key("digest"))
    data: bytes | None = attrs.field(default=None, repr=False, metadata=json_key("data"))
    urls: tuple[str, ...] = attrs.field(default=(), converter=_convert.strings, metadata=json_key("urls"))
    annotations: Mapping[str, str] = attrs.field(
        factory=FrozenMap, converter=_convert.string_map, metadata=json_key("annotations")
    )
    platform: Platform | None = attrs.field(default=None, metadata=json_key("platform"))
    artifact_type: MediaType | None = attrs.field(
        default=None, converter=_convert.optional_media_type, metadata=json_key("artifactType")
    )

    @classmethod
    def of(cls, content: bytes, media_type: str, *, embed: bool = False) -> Descriptor:
        """Describe some bytes; with ``embed=True`` they are also carried inline as ``data``."""
        return cls(media_type, len(content), Hash.sha256(content), data=content if embed else None)
