"""The oracle: recompute every digest, size and diff_id, and cross-check manifest, config and layers.

Each function returns ``None`` for something consistent and raises an
:class:`~ocimodel.errors.OCIError` naming the first inconsistency otherwise: a
:class:`~ocimodel.errors.ValidationError`, or the error that reading the content raised (a
:class:`~ocimodel.errors.DigestMismatch`, a :class:`~ocimodel.errors.BadJSONError`, …).
With ``fast=True`` no blob is read: only manifests, configs and what they say are checked.
Without it, every layer (every blob with a layer media type) is also read as a tar, member by
member, so content that is not a tar, or a tar cut short or corrupt, is reported with the layer
and the first bad entry (:class:`~ocimodel.errors.BadLayerError`).

The checks take time linear in the number of descriptors (a manifest of 20,000 layers, an index
of 20,000 entries), each distinct child of an index is checked once however often it is named,
and indexes nested past the cap raise :class:`~ocimodel.errors.IndexTooDeep`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from ocimodel._streams import PrefixedReader, binary, read_head
from ocimodel.compression import CompressingReader, Compression, decompressing_reader, detect
from ocimodel.errors import ValidationError
from ocimodel.hashing import Hash, Hasher
from ocimodel.image import Image
from ocimodel.index import ImageIndex, deeper
from ocimodel.layer import Layer
from ocimodel.layer._members import layer_name, tar_members
from ocimodel.manifest import Manifest
from ocimodel.mediatype import MediaType

__all__ = ["image", "index", "layer"]

_CHUNK = 1 << 20


def _expect(what: str, expected: object, actual: object) -> None:
    if expected != actual:
        raise ValidationError(f"{what}: expected {expected}, got {actual}")


def layer(subject: Layer) -> None:
    """Read the layer both ways and check its digest, size and diff_id against what it claims,
    and (for a layer media type) that its content is a whole, readable tar."""
    _layer(subject, lambda: subject.named(f"layer {subject.digest()}"))


def _layer(subject: Layer, what: Callable[[], str]) -> None:
    """:func:`layer`, naming the layer ``what()`` in the errors of its tar."""
    digest, size, diff_id = subject.digest(), subject.size(), subject.diff_id()
    with subject.compressed() as stream:  # verifies digest and size as it reads
        head = read_head(stream, 4)
        found = detect(head)
        compressed_hash = Hash.of_stream(PrefixedReader(head, stream))
    _expect(f"layer {digest}: compressed content", (digest, size), compressed_hash)
    declared = subject.media_type().compression()
    if subject.media_type().is_layer() and Compression.of(declared) is not found and found is not Compression.NONE:
        raise ValidationError(f"layer {digest}: media type {subject.media_type()} but the content is {found.value}")
    with subject.uncompressed() as stream:
        _expect(f"layer {digest}: diff_id of uncompressed()", diff_id, Hash.of_stream(stream)[0])
    with subject.compressed() as raw, decompressing_reader(raw, found) as stream:
        if not subject.media_type().is_layer():  # an artifact's blob: any bytes
            _expect(f"layer {digest}: diff_id of decompressed compressed()", diff_id, Hash.of_stream(stream)[0])
            return
        hasher = Hasher()
        with binary(CompressingReader(stream, Compression.NONE, on_input=hasher.update)) as teed:
            for _ in tar_members(teed, what):
                pass  # tar_members reads each member, then the stream to its end
        _expect(f"layer {digest}: diff_id of decompressed compressed()", diff_id, hasher.digest())


def _mixed_families(digest: Hash, manifest: Manifest) -> None:
    """Refuse an image manifest whose layers' media types are of the other family (a Docker layer
    type in an OCI manifest, or an OCI one in a Docker manifest): umoci refuses to unpack it."""
    family = manifest.media_type.family() if manifest.media_type is not None else None
    if family is None:
        return
    for position, descriptor in enumerate(manifest.layers):
        other = descriptor.media_type.family()
        if descriptor.media_type.is_layer() and other != family:
            raise ValidationError(
                f"image {digest}: layer {position} has {other} media type {descriptor.media_type} in "
                f"a {family} manifest: a manifest's layers take its family's types"
            )


def _check_manifested(kind: str, subject: Image | ImageIndex, declared: MediaType | None) -> Hash:
    """Digest and size against the raw manifest, and the media type against the manifest's own."""
    raw = subject.raw_manifest()
    digest = Hash.sha256(raw)
    _expect(f"{kind} digest", digest, subject.digest())
    _expect(f"{kind} {digest}: size", len(raw), subject.size())
    if declared is not None:
        _expect(f"{kind} {digest}: media type", declared, subject.media_type())
    return digest


def image(subject: Image, *, fast: bool = False) -> None:
    """Check an image: manifest and config digests and sizes, the config's diff_ids against the
    layers, every layer's descriptor against the layer, layer media types of the manifest's family
    (OCI or Docker), and (unless ``fast``) every layer's bytes, read as a tar."""
    manifest = subject.manifest()
    digest = _check_manifested("image", subject, manifest.media_type)
    _mixed_families(digest, manifest)
    raw_config = subject.raw_config_file()
    _expect(f"image {digest}: config digest", manifest.config.digest, Hash.sha256(raw_config))
    _expect(f"image {digest}: config size", manifest.config.size, len(raw_config))
    _expect(f"image {digest}: config name", manifest.config.digest, subject.config_name())
    if manifest.config.data is not None:
        _expect(f"image {digest}: inline config data", manifest.config.data, raw_config)
    image_config = manifest.config.media_type.is_config()
    diff_ids: tuple[Hash, ...] = ()
    if image_config:
        config_file = subject.config_file()
        _expect(f"image {digest}: rootfs type", "layers", config_file.rootfs.type)
        diff_ids = config_file.rootfs.diff_ids
        _expect(f"image {digest}: number of diff_ids", len(manifest.layers), len(diff_ids))
        non_empty = [entry for entry in config_file.history if not entry.empty_layer]
        if config_file.history and len(non_empty) != len(manifest.layers):
            raise ValidationError(
                f"image {digest}: {len(non_empty)} history entries add layers, "
                f"but the manifest has {len(manifest.layers)} layers"
            )
    layers = subject.layers()
    _expect(f"image {digest}: number of layers", len(manifest.layers), len(layers))
    listed = Counter(diff_ids)
    for position, (descriptor, found) in enumerate(zip(manifest.layers, layers, strict=True)):
        what = f"image {digest}: layer {position}"
        _expect(f"{what} digest", descriptor.digest, found.digest())
        _expect(f"{what} size", descriptor.size, found.size())
        _expect(f"{what} media type", descriptor.media_type, found.media_type())
        _expect(f"{what} by digest", descriptor.digest, subject.layer_by_digest(descriptor.digest).digest())
        if image_config:
            _expect(f"{what} diff_id", diff_ids[position], found.diff_id())
            if listed[diff_ids[position]] == 1:  # the same content may be there twice, compressed differently
                _expect(f"{what} by diff_id", descriptor.digest, subject.layer_by_diff_id(diff_ids[position]).digest())
        if not fast and descriptor.media_type.is_distributable():
            _layer(found, layer_name(found, position))


def index(subject: ImageIndex, *, fast: bool = False) -> None:
    """Check an index: its digest and size, and each child against its entry, recursively; each
    distinct child is checked once, however often it is named, and indexes nested past the cap
    raise :class:`~ocimodel.errors.IndexTooDeep` (:mod:`ocimodel.limits`)."""
    _index(subject, fast, 1, set())


def _index(subject: ImageIndex, fast: bool, depth: int, seen: set[Hash]) -> None:
    digest = _check_manifested("index", subject, subject.index_manifest().media_type)
    for position, (descriptor, child) in enumerate(subject.children()):
        what = f"index {digest}: entry {position}"
        _expect(f"{what} digest", descriptor.digest, child.digest())
        _expect(f"{what} size", descriptor.size, child.size())
        if isinstance(child, Image | ImageIndex):
            _expect(f"{what} media type", descriptor.media_type, child.media_type())
        if descriptor.digest in seen:
            continue
        seen.add(descriptor.digest)
        if isinstance(child, Image):
            image(child, fast=fast)
        elif isinstance(child, ImageIndex):
            _index(child, fast, deeper(depth, descriptor.digest), seen)
        elif not fast:
            with child.compressed() as stream:
                while stream.read(_CHUNK):
                    pass
