"""What images and indexes share: they are addressed by the digest of their raw manifest."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from ocimodel._hooks import MANIFESTED_HOOKS, Normaliser, normalise_hooks
from ocimodel._memo import memoized
from ocimodel.descriptor import Descriptor
from ocimodel.hashing import Hash
from ocimodel.mediatype import MediaType


class Manifested(ABC):
    """A thing with a manifest: its digest, size and descriptor come from the raw bytes.

    What a subclass's hooks return is normalised once, where the subclass is made (see
    :mod:`ocimodel._hooks`): :meth:`raw_manifest` may give bytes, a ``str`` or a ``dict``,
    :meth:`media_type` a ``str``.
    """

    #: The hooks whose results are normalised, and how.
    _hooks: ClassVar[Mapping[str, Normaliser]] = MANIFESTED_HOOKS

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        normalise_hooks(cls, cls._hooks)

    @abstractmethod
    def raw_manifest(self) -> bytes:
        """The manifest, as bytes."""

    @abstractmethod
    def media_type(self) -> MediaType:
        """The manifest's media type."""

    @memoized
    def digest(self) -> Hash:
        """The manifest's digest: the address in a registry."""
        return Hash.sha256(self.raw_manifest())

    def size(self) -> int:
        """The manifest's length in bytes."""
        return len(self.raw_manifest())

    def descriptor(self) -> Descriptor:
        """The descriptor a parent index uses for this (media type, size, digest)."""
        return Descriptor(self.media_type(), self.size(), self.digest())

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
