"""validate, the oracle: it passes consistent content and names the first inconsistency otherwise."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from typing import IO

import attrs
import pytest

from ocimodel import empty, layer, mutate, random, validate
from ocimodel.configfile import History, RootFS
from ocimodel.descriptor import Descriptor
from ocimodel.errors import DigestMismatch, OCIError, ValidationError
from ocimodel.hashing import Hash
from ocimodel.image import Image, MemoryImage
from ocimodel.index import MemoryIndex
from ocimodel.layer import Layer
from ocimodel.manifest import IndexManifest, Manifest
from ocimodel.mediatype import MediaType
from tests.test_layer import OwnCompressedLayer

BASE = random.image(500, 2, seed=99)


def rebuilt(
    manifest: Callable[[Manifest], Manifest] = lambda m: m,
    config: Callable[[bytes], bytes] = lambda c: c,
    layers: list[Layer] | None = None,
) -> Image:
    return MemoryImage(
        manifest(BASE.manifest()).to_json(), config(BASE.raw_config_file()), BASE.layers() if layers is None else layers
    )


def test_consistent_images_pass() -> None:
    validate.image(BASE)
    validate.image(rebuilt())


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        (lambda: rebuilt(config=lambda c: c + b" "), "config digest"),
        (
            lambda: rebuilt(manifest=lambda m: attrs.evolve(m, config=attrs.evolve(m.config, size=m.config.size + 1))),
            "config size",
        ),
        (
            lambda: rebuilt(
                manifest=lambda m: attrs.evolve(
                    m, layers=[attrs.evolve(m.layers[0], size=m.layers[0].size + 1), m.layers[1]]
                )
            ),
            "layer 0 size",
        ),
        (
            lambda: rebuilt(
                manifest=lambda m: attrs.evolve(
                    m, layers=[attrs.evolve(m.layers[0], media_type=MediaType.DOCKER_UNCOMPRESSED_LAYER), m.layers[1]]
                )
            ),
            "layer 0 media type",
        ),
        (
            lambda: rebuilt(
                manifest=lambda m: attrs.evolve(
                    m, layers=[attrs.evolve(m.layers[0], media_type=MediaType.OCI_LAYER_GZIP), m.layers[1]]
                )
            ),
            "layer 0 has oci media type .* in a docker manifest",
        ),
        (
            lambda: rebuilt(manifest=lambda m: attrs.evolve(m, config=attrs.evolve(m.config, data=b"not the config"))),
            "inline config data",
        ),
    ],
)
def test_manifest_inconsistencies_are_named(broken: Callable[[], Image], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        validate.image(broken(), fast=True)


def _swap_diff_ids(raw: bytes) -> bytes:
    config = BASE.config_file()
    swapped = RootFS(diff_ids=list(reversed(config.rootfs.diff_ids)))
    return attrs.evolve(config, rootfs=swapped).to_json()


def test_diff_ids_that_do_not_match_the_layers_are_named() -> None:
    def with_config(raw: bytes) -> Image:
        config_descriptor = Descriptor.of(raw, MediaType.DOCKER_CONFIG)
        return rebuilt(manifest=lambda m: attrs.evolve(m, config=config_descriptor), config=lambda _: raw)

    with pytest.raises(ValidationError, match="layer 0 diff_id"):
        validate.image(with_config(_swap_diff_ids(BASE.raw_config_file())), fast=True)
    shorter = attrs.evolve(BASE.config_file(), rootfs=RootFS(diff_ids=BASE.config_file().rootfs.diff_ids[:1]))
    with pytest.raises(ValidationError, match="number of diff_ids"):
        validate.image(with_config(shorter.to_json()), fast=True)
    odd_history = attrs.evolve(BASE.config_file(), history=[History()])
    with pytest.raises(ValidationError, match="1 history entries add layers, but the manifest has 2"):
        validate.image(with_config(odd_history.to_json()), fast=True)


def test_fast_reads_no_blob_and_full_reads_every_layer() -> None:
    class Untouchable(OwnCompressedLayer):
        def open_compressed(self) -> IO[bytes]:
            raise AssertionError("fast validation must not read blobs")

    packed = gzip.compress(b"\0" * 1024)  # an empty tar
    honest = OwnCompressedLayer(packed)
    image = mutate.append(empty.image, honest)
    diff_id = honest.diff_id()

    class KnownDiffId(Untouchable):
        def diff_id(self) -> Hash:
            return diff_id

    untouchable = KnownDiffId(packed)
    validate.image(MemoryImage(image.raw_manifest(), image.raw_config_file(), [untouchable]), fast=True)
    with pytest.raises(AssertionError, match="must not read"):
        validate.image(MemoryImage(image.raw_manifest(), image.raw_config_file(), [untouchable]))


def test_a_corrupt_layer_fails_full_validation_only() -> None:
    good = gzip.compress(b"\0" * 1024)
    image = mutate.append(empty.image, layer.from_bytes(good))
    corrupt = bytearray(good)
    corrupt[12] ^= 1

    class ClaimsDiffId(OwnCompressedLayer):
        def diff_id(self) -> Hash:
            return image.config_file().rootfs.diff_ids[0]

    stored = MemoryImage(image.raw_manifest(), image.raw_config_file(), [ClaimsDiffId(bytes(corrupt), claimed=good)])
    validate.image(stored, fast=True)
    with pytest.raises(OCIError) as caught:
        validate.image(stored)
    assert isinstance(caught.value, DigestMismatch | ValidationError)


def test_indexes_are_checked_entry_by_entry() -> None:
    child = random.image(10, 1, seed=1)
    lying_entry = attrs.evolve(child.descriptor(), size=child.size() + 1)
    index = MemoryIndex(IndexManifest(manifests=[lying_entry]).to_json(), [child])
    with pytest.raises(ValidationError, match="entry 0 size"):
        validate.index(index, fast=True)
    nested = MemoryIndex(IndexManifest(manifests=[index.descriptor()]).to_json(), [index])
    with pytest.raises(ValidationError, match="entry 0 size"):
        validate.index(nested, fast=True)
    blob = layer.from_bytes(b"not a tar, an attachment", media_type="application/octet-stream")
    with_blob = MemoryIndex(IndexManifest(manifests=[blob.descriptor()]).to_json(), [blob])
    validate.index(with_blob)


def test_a_lying_image_digest_is_caught() -> None:
    class WrongDigest(MemoryImage):
        def digest(self) -> Hash:
            return Hash.sha256(b"another manifest")

    with pytest.raises(ValidationError, match="image digest"):
        validate.image(WrongDigest(BASE.raw_manifest(), BASE.raw_config_file(), BASE.layers()), fast=True)


def test_stored_content_round_trips_through_bytes() -> None:
    data = io.BytesIO()
    with BASE.layers()[0].compressed() as stream:
        data.write(stream.read())
    assert Hash.sha256(data.getvalue()) == BASE.manifest().layers[0].digest
