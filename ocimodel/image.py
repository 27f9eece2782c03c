"""The abstract :class:`Image` and its two cores, and a plain in-memory image."""

from __future__ import annotations

import io
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import IO, TYPE_CHECKING, ClassVar

from ocimodel._hooks import IMAGE_HOOKS, Normaliser
from ocimodel._manifested import Manifested
from ocimodel._memo import memoized
from ocimodel.descriptor import Descriptor
from ocimodel.errors import BadJSONError, NoSuchBlob
from ocimodel.hashing import Hash
from ocimodel.layer import Layer
from ocimodel.manifest import Manifest
from ocimodel.mediatype import MediaType

if TYPE_CHECKING:
    from ocimodel.configfile import ConfigFile

__all__ = ["BlobLayer", "DescribedLayer", "Image", "MemoryImage", "SynthesisedImage", "UncompressedImage"]


class Image(Manifested):
    """A container image: a manifest, a config and layers.

    Subclass it and implement the *compressed core*, which is what registries serve:

    - :meth:`raw_manifest`: the manifest's bytes,
    - :meth:`raw_config_file`: the config's bytes,
    - :meth:`layer_by_digest`: the layer the manifest names by that (compressed) digest.

    Everything else is derived, and small results are memoised (thread-safely): the parsed
    :meth:`manifest` and :meth:`config_file`, :meth:`digest`, :meth:`layers`,
    :meth:`layer_by_diff_id`, :meth:`descriptor`. Images built from uncompressed layers and a
    config, whose manifest is to be synthesised, subclass :class:`UncompressedImage` instead.

    The raw bytes are the truth: a manifest is never re-serialised, so its digest is what the
    bytes hash to.

    Hooks may return plain values (normalised once, here, for every reader):
    :meth:`raw_manifest` and :meth:`raw_config_file` bytes, a ``str`` or a ``dict`` (written
    compactly, as Go writes JSON: the digest is of those bytes), :meth:`media_type` a ``str``,
    :meth:`layers` any iterable.
    """

    _hooks: ClassVar[Mapping[str, Normaliser]] = IMAGE_HOOKS

    @abstractmethod
    def raw_config_file(self) -> bytes:
        """The config blob, as bytes."""

    @abstractmethod
    def layer_by_digest(self, digest: Hash) -> Layer:
        """The layer with this compressed digest; :class:`~ocimodel.errors.NoSuchBlob` if none."""

    def media_type(self) -> MediaType:
        """The manifest's media type (its ``mediaType`` field; OCI if it has none)."""
        return self.manifest().media_type or MediaType.OCI_MANIFEST

    @memoized
    def manifest(self) -> Manifest:
        """The parsed manifest (it keeps the raw bytes)."""
        return Manifest.from_json(self.raw_manifest())

    @memoized
    def config_file(self) -> ConfigFile:
        """The parsed config (it keeps the raw bytes)."""
        from ocimodel.configfile import ConfigFile  # ~60 classes: imported by those who read configs

        return ConfigFile.from_json(self.raw_config_file())

    def config_name(self) -> Hash:
        """The config's digest, which Docker calls the image ID."""
        return Hash.sha256(self.raw_config_file())

    def config_layer(self) -> Layer:
        """The config blob as a layer-like blob (for writers, which upload it like a layer)."""
        return BlobLayer(self.raw_config_file(), self.manifest().config.media_type)

    def layers(self) -> list[Layer]:
        """The layers, base first."""
        return [self.layer_by_digest(descriptor.digest) for descriptor in self.manifest().layers]

    def _listed_diff_id(self, position: int) -> Hash | None:
        """The diff_id the config lists for the manifest's layer at ``position``, or None (not an
        image config, or a different number of layers). For layers to look up when first asked:
        listing, pulling or pushing layers never needs the config parsed."""
        return self._listed_diff_ids()[position]

    @memoized
    def _listed_diff_ids(self) -> tuple[Hash | None, ...]:
        manifest = self.manifest()
        found = self.config_file().rootfs.diff_ids if manifest.config.media_type.is_config() else ()
        return tuple(found) if len(found) == len(manifest.layers) else (None,) * len(manifest.layers)

    @memoized
    def _diff_id_positions(self) -> dict[Hash, int]:
        """Where each diff_id is first listed by the config (and so which layer of the manifest it is)."""
        diff_ids = self.config_file().rootfs.diff_ids
        layers = self.manifest().layers
        if len(diff_ids) != len(layers):
            raise BadJSONError(
                "image config", [f"$.rootfs.diff_ids: names {len(diff_ids)} layers but the manifest has {len(layers)}"]
            )
        found: dict[Hash, int] = {}
        for position, diff_id in enumerate(diff_ids):
            found.setdefault(diff_id, position)
        return found

    def layer_by_diff_id(self, diff_id: Hash) -> Layer:
        """The layer whose uncompressed digest is ``diff_id`` (matched through the config's order,
        in constant time once the config is parsed)."""
        position = self._diff_id_positions().get(diff_id)
        if position is None:
            raise NoSuchBlob(f"image {self.digest()} has no layer with diff_id {diff_id}")
        return self.layer_by_digest(self.manifest().layers[position].digest)

    @memoized
    def _layers_by_digest(self) -> dict[Hash, Layer]:
        found: dict[Hash, Layer] = {}
        for layer in self.layers():
            found.setdefault(layer.digest(), layer)
        return found

    def _listed_layer(self, digest: Hash) -> Layer | None:
        """The first of :meth:`layers` with ``digest``, in constant time: how a subclass whose
        :meth:`layers` does not call :meth:`layer_by_digest` implements it (a manifest of 20,000
        layers is then checked in linear time, not quadratic)."""
        return self._layers_by_digest().get(digest)


class UncompressedImage(Image):
    """An image made of a config and uncompressed layers; the manifest is synthesised.

    Implement :meth:`raw_config_file` and :meth:`layer_by_diff_id` (and :meth:`media_type`, a
    Docker schema 2 manifest by default, as go-containerregistry's). The manifest lists the layers
    in the config's ``rootfs.diff_ids`` order, each described by its own :meth:`Layer.descriptor`,
    which compresses it once if it is not compressed yet.
    """

    @abstractmethod
    def layer_by_diff_id(self, diff_id: Hash) -> Layer:
        """The layer whose uncompressed digest is ``diff_id``."""

    def media_type(self) -> MediaType:
        return MediaType.DOCKER_MANIFEST_SCHEMA2

    @memoized
    def raw_manifest(self) -> bytes:
        layers = [self.layer_by_diff_id(diff_id).descriptor() for diff_id in self.config_file().rootfs.diff_ids]
        return synthesised_manifest(self.media_type(), self.raw_config_file(), layers)

    @memoized
    def _diff_ids_by_digest(self) -> dict[Hash, Hash]:
        found: dict[Hash, Hash] = {}
        for diff_id, descriptor in zip(self.config_file().rootfs.diff_ids, self.manifest().layers, strict=True):
            found.setdefault(descriptor.digest, diff_id)
        return found

    def layer_by_digest(self, digest: Hash) -> Layer:
        diff_id = self._diff_ids_by_digest().get(digest)
        if diff_id is None:
            raise NoSuchBlob(f"image {self.digest()} has no layer with digest {digest}")
        return self.layer_by_diff_id(diff_id)


def synthesised_manifest(media_type: MediaType, config: bytes, layers: list[Descriptor]) -> bytes:
    """A manifest of ``media_type`` for a config and layer descriptors; the config's media type
    follows the manifest's (Docker's for Docker schema 2, OCI's otherwise)."""
    config_type = MediaType.DOCKER_CONFIG if media_type == MediaType.DOCKER_MANIFEST_SCHEMA2 else MediaType.OCI_CONFIG
    return Manifest(media_type=media_type, config=Descriptor.of(config, config_type), layers=layers).to_json()


class BlobLayer(Layer):
    """Bytes in memory served as a blob (a config, a small artifact), taken as they are."""

    def __init__(self, data: bytes, media_type: str) -> None:
        self._data = bytes(data)
        self._media_type = MediaType(media_type)

    def digest(self) -> Hash:
        return Hash.sha256(self._data)

    def size(self) -> int:
        return len(self._data)

    def media_type(self) -> MediaType:
        return self._media_type

    def open_compressed(self) -> IO[bytes]:
        return io.BytesIO(self._data)

    def uncompressed(self) -> IO[bytes]:
        return self.compressed()

    def diff_id(self) -> Hash:
        return self.digest()


#: A diff_id known, to be looked up when first asked for (a callable), or unknown.
KnownDiffID = Hash | Callable[[], Hash | None] | None


class DescribedLayer(Layer):
    """A layer known by its descriptor (from a manifest), its bytes from ``opener``; the diff_id,
    if the config gave it, is taken as known. Its :meth:`descriptor` is the one it was given,
    whole: ``urls``, annotations and fields ocimodel does not model go wherever the layer goes."""

    def __init__(
        self,
        descriptor: Descriptor,
        opener: Callable[[], IO[bytes]],
        diff_id: KnownDiffID = None,
        *,
        where: str | None = None,
    ) -> None:
        self._descriptor, self._opener, self._diff_id = descriptor, opener, diff_id
        self.where = where

    def digest(self) -> Hash:
        return self._descriptor.digest

    def size(self) -> int:
        return self._descriptor.size

    def media_type(self) -> MediaType:
        return self._descriptor.media_type

    def open_compressed(self) -> IO[bytes]:
        return self._opener()

    def diff_id(self) -> Hash:
        return known_diff_id(self._diff_id) or super().diff_id()

    def descriptor(self) -> Descriptor:
        return self._descriptor


def known_diff_id(given: KnownDiffID) -> Hash | None:
    """What a :data:`KnownDiffID` says (calling it, if it is a lookup)."""
    return given() if callable(given) else given


class SynthesisedImage(Image):
    """An image whose manifest (Docker schema 2 unless :meth:`media_type` says OCI) is made from
    its config and :meth:`layers`, as files without a manifest (``docker save``) need. Implement
    :meth:`raw_config_file` and :meth:`layers`."""

    @abstractmethod
    def layers(self) -> list[Layer]:
        """The layers, base first."""

    def media_type(self) -> MediaType:
        return MediaType.DOCKER_MANIFEST_SCHEMA2

    @memoized
    def raw_manifest(self) -> bytes:
        return synthesised_manifest(
            self.media_type(), self.raw_config_file(), [each.descriptor() for each in self.layers()]
        )

    def layer_by_digest(self, digest: Hash) -> Layer:
        found = self._listed_layer(digest)
        if found is None:
            raise NoSuchBlob(f"image {self.digest()} has no layer {digest}")
        return found


class MemoryImage(Image):
    """An image from its raw manifest, raw config and the layers the manifest names.

    Useful in tests, and for images assembled in code whose manifest is already written.
    """

    def __init__(self, raw_manifest: bytes, raw_config_file: bytes, layers: Iterable[Layer]) -> None:
        self._raw_manifest = bytes(raw_manifest)
        self._raw_config = bytes(raw_config_file)
        self._layers = {layer.digest(): layer for layer in layers}

    def raw_manifest(self) -> bytes:
        return self._raw_manifest

    def raw_config_file(self) -> bytes:
        return self._raw_config

    def layer_by_digest(self, digest: Hash) -> Layer:
        try:
            return self._layers[digest]
        except KeyError:
            raise NoSuchBlob(f"image {self.digest()} has no layer with digest {digest}") from None
