"""Layers described in the media-type family (OCI or Docker) of the manifest that lists them.

A manifest that mixes the families is refused by some readers: umoci unpacks an OCI manifest only
if its layers have OCI types ("blob is not correct mediatype"), and the specs list only their own
types. crane's ``append`` types a new layer as OCI when the base manifest is OCI and as Docker
otherwise; :func:`fitted` does the same for any layer (``mutate`` for layers it adds, and for all
when it moves an image to the other family; ``tarball`` for a classic save's synthesised manifest),
by describing it with its counterpart (:meth:`~ocimodel.mediatype.MediaType.in_family`): the
bytes, and so the digest, do not change.
"""

from __future__ import annotations

from typing import IO

import attrs

from ocimodel.descriptor import Descriptor
from ocimodel.errors import UnsupportedMediaType
from ocimodel.hashing import Hash
from ocimodel.layer._base import Layer
from ocimodel.layer._stream import StreamLayer
from ocimodel.mediatype import Family, MediaType


class RetypedLayer(Layer):
    """``inner``'s bytes under another media type of the same compression; everything but the
    media type (digest, diff_id, ``urls`` and annotations of its descriptor) is ``inner``'s."""

    def __init__(self, inner: Layer, media_type: MediaType) -> None:
        self._inner, self._media_type = inner, media_type
        self.where = inner.where

    def media_type(self) -> MediaType:
        return self._media_type

    def digest(self) -> Hash:
        return self._inner.digest()

    def size(self) -> int:
        return self._inner.size()

    def diff_id(self) -> Hash:
        return self._inner.diff_id()

    def open_compressed(self) -> IO[bytes]:
        return self._inner.open_compressed()

    def compressed(self) -> IO[bytes]:
        return self._inner.compressed()

    def uncompressed(self) -> IO[bytes]:
        return self._inner.uncompressed()

    def descriptor(self) -> Descriptor:
        return attrs.evolve(self._inner.descriptor(), media_type=self._media_type)

    def __repr__(self) -> str:
        return f"<RetypedLayer {self._media_type} of {self._inner!r}>"


def counterpart(media_type: MediaType, family: Family) -> MediaType:
    """``media_type`` as ``family`` says it: a layer type's counterpart (the same bytes: same
    compression, distributable or not), an image config type's counterpart, anything else as it is.

    A zstd layer cannot go into a Docker manifest: Docker's image format has no zstd type
    (containerd's ``…diff.tar.zstd`` is its own extension, which Docker's registry tooling does
    not know), and keeping the OCI type would make the mixed manifest this module exists to avoid
    (BuildKit makes zstd images OCI for the same reason). So, rather than write something readers
    refuse later, this raises :class:`~ocimodel.errors.UnsupportedMediaType` saying what to do;
    so does an uncompressed non-distributable OCI layer, which has no Docker type either.
    """
    if media_type.is_config():
        return MediaType.OCI_CONFIG if family == "oci" else MediaType.DOCKER_CONFIG
    wanted = media_type.in_family(family)
    if wanted is None:
        raise UnsupportedMediaType(
            f"a layer of type {media_type} cannot go into a Docker manifest, which has no such type: "
            "put it in an OCI image, or make it a gzip'd or uncompressed layer"
        )
    return wanted


def fitted(layer: Layer, family: Family | None) -> Layer:
    """``layer`` as a layer of a ``family`` manifest: itself if its media type is of that family
    already, is not a layer type (an artifact's blob), or ``family`` is ``None``; else the same
    bytes under the :func:`counterpart` type (a single-pass layer stays one)."""
    if family is None:
        return layer
    current = layer.media_type()
    wanted = counterpart(current, family)
    if wanted == current:
        return layer
    if isinstance(layer, StreamLayer):
        return layer.retyped(wanted)
    return RetypedLayer(layer, wanted)
