"""Images and indexes: the cores, derived methods, children, platform selection, empty and random."""

from __future__ import annotations

import threading

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocimodel import empty, layer, mutate, random, validate
from ocimodel.configfile import ConfigFile, RootFS
from ocimodel.descriptor import Descriptor
from ocimodel.errors import BadJSONError, NoMatchingPlatform, NoSuchBlob
from ocimodel.hashing import Hash
from ocimodel.hypothesis import images, indexes
from ocimodel.image import Image, MemoryImage, UncompressedImage
from ocimodel.index import ImageIndex, MemoryIndex
from ocimodel.layer import Layer
from ocimodel.manifest import IndexManifest, Manifest
from ocimodel.mediatype import MediaType
from ocimodel.platform import Platform


def test_empty_image_and_index_are_go_containerregistry_s() -> None:
    assert str(empty.image.digest()) == "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
    assert empty.image.size() == 264
    assert str(empty.image.config_name()) == "sha256:5b943e2b943f6c81dbbd4e2eca5121f4fcc39139e3d1219d6d89bd925b77d9fe"
    assert empty.image.media_type() == MediaType.DOCKER_MANIFEST_SCHEMA2
    assert empty.image.layers() == []
    assert str(empty.index.digest()) == "sha256:dff9de10919148711140d349bf03f1a99eb06f94b03e51715ccebfa7cdc518e2"
    assert empty.index.media_type() == MediaType.OCI_INDEX
    assert list(empty.index.children()) == []
    validate.image(empty.image)
    validate.index(empty.index)


def test_random_is_deterministic_with_a_seed() -> None:
    first, second = random.image(2048, 3, seed=7), random.image(2048, 3, seed=7)
    assert first.digest() == second.digest()
    assert random.image(2048, 3, seed=8).digest() != first.digest()
    assert random.image(2048, 3).digest() != random.image(2048, 3).digest()
    assert len(first.layers()) == 3
    history = first.config_file().history
    assert [h.comment for h in history] == [f"this is a random history {i} of 3" for i in (1, 2, 3)]
    assert {h.author for h in history} == {"random.Image"}
    assert random.index(100, 1, 2, seed=1).digest() == random.index(100, 1, 2, seed=1).digest()
    validate.image(first)


def test_random_layer_holds_one_file_of_the_size_asked() -> None:
    import tarfile

    made = random.layer(4096, seed=3)
    with made.uncompressed() as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        members = [(m.name, m.size) for m in archive]
    assert len(members) == 1
    assert members[0][0].startswith("random_file_")
    assert members[0][1] == 4096


def test_random_index() -> None:
    index = random.index(512, 2, 3, seed=4)
    children = list(index.children())
    assert len(children) == 3
    assert all(isinstance(child, Image) and descriptor.platform is None for descriptor, child in children)
    validate.index(index)


class StoredImage(Image):
    """The compressed core over a dict of blobs, as a user would write it."""

    def __init__(self, blobs: dict[Hash, bytes], digest: Hash) -> None:
        self.blobs, self.manifest_digest = blobs, digest
        self.manifest_reads = 0
        self.lock = threading.Lock()

    def raw_manifest(self) -> bytes:
        with self.lock:
            self.manifest_reads += 1
        return self.blobs[self.manifest_digest]

    def raw_config_file(self) -> bytes:
        return self.blobs[self.manifest().config.digest]

    def layer_by_digest(self, digest: Hash) -> Layer:
        if digest not in self.blobs:
            raise NoSuchBlob(f"no blob {digest}")
        return layer.from_bytes(self.blobs[digest])


def store(image: Image) -> dict[Hash, bytes]:
    blobs = {image.digest(): image.raw_manifest(), image.config_name(): image.raw_config_file()}
    for each in image.layers():
        with each.compressed() as stream:
            blobs[each.digest()] = stream.read()
    return blobs


def test_a_subclass_with_the_compressed_core_gets_everything_else() -> None:
    original = random.image(1000, 3, seed=11)
    stored = StoredImage(store(original), original.digest())
    assert stored.digest() == original.digest()
    assert stored.manifest() == original.manifest()
    assert stored.config_file() == original.config_file()
    assert stored.media_type() == MediaType.DOCKER_MANIFEST_SCHEMA2
    assert [each.digest() for each in stored.layers()] == [each.digest() for each in original.layers()]
    diff_ids = original.config_file().rootfs.diff_ids
    assert stored.layer_by_diff_id(diff_ids[1]).digest() == original.manifest().layers[1].digest
    assert stored.descriptor() == Descriptor(MediaType.DOCKER_MANIFEST_SCHEMA2, original.size(), original.digest())
    with stored.config_layer().compressed() as stream:
        assert stream.read() == original.raw_config_file()
    validate.image(stored)
    with pytest.raises(NoSuchBlob, match="diff_id"):
        stored.layer_by_diff_id(Hash.sha256(b"nothing"))


def test_derived_values_are_computed_once_even_across_threads() -> None:
    original = random.image(10, 1, seed=12)
    stored = StoredImage(store(original), original.digest())
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait()
        stored.manifest()
        stored.digest()

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stored.manifest_reads == 2  # one for manifest(), one for digest(); never per thread


def test_mismatched_diff_ids_and_layers_are_reported() -> None:
    original = random.image(10, 2, seed=13)
    config = attrs.evolve(original.config_file(), rootfs=RootFS(diff_ids=original.config_file().rootfs.diff_ids[:1]))
    broken = MemoryImage(original.raw_manifest(), config.to_json(), original.layers())
    with pytest.raises(BadJSONError, match="names 1 layers but the manifest has 2"):
        broken.layer_by_diff_id(config.rootfs.diff_ids[0])


class Synthesised(UncompressedImage):
    """The uncompressed core: a config and layers by diff_id; the manifest is made for us."""

    def __init__(self, layers: list[Layer], media_type: MediaType) -> None:
        self.by_diff_id = {each.diff_id(): each for each in layers}
        self.config = ConfigFile(architecture="arm64", os="linux", rootfs=RootFS(diff_ids=list(self.by_diff_id)))
        self.kind = media_type

    def media_type(self) -> MediaType:
        return self.kind

    def raw_config_file(self) -> bytes:
        return self.config.to_json()

    def layer_by_diff_id(self, diff_id: Hash) -> Layer:
        return self.by_diff_id[diff_id]


@pytest.mark.parametrize(
    ("media_type", "config_type", "layer_types"),
    [
        (
            MediaType.DOCKER_MANIFEST_SCHEMA2,
            MediaType.DOCKER_CONFIG,
            (MediaType.DOCKER_LAYER, MediaType.DOCKER_UNCOMPRESSED_LAYER),
        ),
        (MediaType.OCI_MANIFEST, MediaType.OCI_CONFIG, (MediaType.OCI_LAYER_GZIP, MediaType.OCI_LAYER_ZSTD)),
    ],
)
def test_a_subclass_with_the_uncompressed_core_gets_a_manifest(
    media_type: MediaType, config_type: MediaType, layer_types: tuple[MediaType, MediaType]
) -> None:
    layers = [
        layer.from_files({"a": b"1"}, media_type=layer_types[0]),
        layer.from_files({"b": b"2"}, media_type=layer_types[1]),
    ]
    image = Synthesised(layers, media_type)
    manifest = image.manifest()
    assert manifest.media_type == media_type
    assert manifest.config.media_type == config_type
    assert [d.digest for d in manifest.layers] == [each.digest() for each in layers]
    assert [d.media_type for d in manifest.layers] == list(layer_types)
    assert image.layer_by_digest(layers[1].digest()) is layers[1]
    with pytest.raises(NoSuchBlob):
        image.layer_by_digest(Hash.sha256(b"x"))
    validate.image(image)


def _entry(image: Image, platform: str | None) -> Descriptor:
    return attrs.evolve(image.descriptor(), platform=Platform.parse(platform) if platform else None)


def _index(*entries: tuple[Image | ImageIndex, str | None]) -> MemoryIndex:
    descriptors = [
        _entry(child, platform) if isinstance(child, Image) else child.descriptor() for child, platform in entries
    ]
    manifest = IndexManifest(media_type=MediaType.OCI_INDEX, manifests=descriptors)
    return MemoryIndex(manifest.to_json(), [child for child, _ in entries])


def test_children_are_listed_lazily_with_nested_indexes_and_blobs() -> None:
    one, two = random.image(10, 1, seed=1), random.image(10, 1, seed=2)
    nested = _index((two, "linux/arm64"))
    blob = layer.from_files({"sbom.json": b"{}"}, media_type=MediaType.OCI_LAYER)
    manifest = IndexManifest(
        manifests=[_entry(one, "linux/amd64"), nested.descriptor(), blob.descriptor()],
    )
    index = MemoryIndex(manifest.to_json(), [one, nested, blob])
    kinds = [(type(child).__name__, descriptor.digest == child.digest()) for descriptor, child in index.children()]
    assert [kind for kind, _ in kinds] == [type(one).__name__, "MemoryIndex", type(blob).__name__]
    assert all(same for _, same in kinds)
    assert index.media_type() == MediaType.OCI_INDEX  # no mediaType field: OCI
    validate.index(index)


def test_platform_selection_uses_the_one_matching_rule() -> None:
    amd, arm, attestation = (random.image(10, 1, seed=s) for s in (1, 2, 3))
    index = _index((attestation, "unknown/unknown"), (amd, "linux/amd64"), (_index((arm, "linux/arm64")), None))
    assert index.image_for(Platform.parse("linux/amd64")).digest() == amd.digest()
    assert index.image_for(Platform.parse("linux/x86_64")).digest() == amd.digest()
    assert index.image_for(Platform.parse("linux/aarch64")).digest() == arm.digest()
    assert index.image_for(Platform.parse("linux/arm64/v8")).digest() == arm.digest()
    with pytest.raises(NoMatchingPlatform, match="no image for linux/s390x; it has: linux/amd64, linux/arm64, unknown"):
        index.image_for(Platform.parse("linux/s390x"))


def test_entries_without_a_platform_count_as_linux_amd64() -> None:
    plain = random.image(10, 1, seed=5)
    index = _index((plain, None))
    assert index.image_for(Platform.parse("linux/amd64")).digest() == plain.digest()
    with pytest.raises(NoMatchingPlatform):
        index.image_for(Platform.parse("linux/arm64"))


def test_an_index_refuses_children_it_does_not_have() -> None:
    with pytest.raises(NoSuchBlob):
        empty.index.image(Hash.sha256(b"x"))
    with pytest.raises(NoSuchBlob):
        empty.index.layer(Hash.sha256(b"x"))


@settings(max_examples=10)
@given(sizes=st.lists(st.integers(0, 5000), min_size=0, max_size=4), seed=st.integers(0, 2**32))
def test_built_images_validate(sizes: list[int], seed: int) -> None:
    image = mutate.append(empty.image, *(random.layer(size, seed=seed + i) for i, size in enumerate(sizes)))
    validate.image(image)
    copy = MemoryImage(image.raw_manifest(), image.raw_config_file(), image.layers())
    assert copy.digest() == image.digest()
    validate.image(copy)
    assert Manifest.from_json(image.raw_manifest()).layers == image.manifest().layers


@settings(max_examples=25)
@given(images())
def test_generated_images_validate(image: Image) -> None:
    validate.image(image)


@settings(max_examples=10)
@given(indexes())
def test_generated_indexes_validate(index: ImageIndex) -> None:
    validate.index(index)
