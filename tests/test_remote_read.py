"""Reading images, indexes and layers from the real registry, lazily and verified."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import attrs
import pytest

import ocimodel.layout
from ocimodel import empty, layer, mutate, random, remote, validate
from ocimodel.descriptor import Descriptor
from ocimodel.errors import (
    BadNameError,
    DigestMismatch,
    NoMatchingPlatform,
    NotFound,
    TransportError,
    UnsupportedMediaType,
)
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.index import ImageIndex
from ocimodel.manifest import IndexManifest
from ocimodel.mediatype import MediaType
from ocimodel.name import Repository
from ocimodel.platform import Platform
from ocimodel.registry import Registry
from ocimodel.transport import Client, RetryPolicy
from tests.harness import skopeo
from tests.harness.distribution import DistributionRegistry
from tests.harness.faultproxy import Fault, FaultProxy
from tests.harness.push import push, push_blob

pytestmark = pytest.mark.registry

FAST = RetryPolicy(attempts=4, backoff=0.05, factor=2.0, max_delay=1.0, budget=10.0)


def two_platform_index() -> tuple[ImageIndex, Image, Image]:
    amd, arm = random.image(2000, 2, seed=101), random.image(2000, 2, seed=102)
    attestation = random.image(100, 1, seed=103)
    index = mutate.append_manifests(
        empty.index,
        mutate.IndexAddendum(attestation, platform=Platform("unknown", "unknown")),
        mutate.IndexAddendum(amd, platform=Platform.parse("linux/amd64")),
        mutate.IndexAddendum(arm, platform=Platform.parse("linux/arm64/v8")),
    )
    return index, amd, arm


def test_image_is_lazy_and_verified(any_registry: DistributionRegistry | Registry) -> None:
    client = Client(any_registry.host)
    repository = Repository(f"{any_registry.host}/remote/image")
    original = random.image(50_000, 3, seed=1)
    push(client, repository, original, "v1")
    fetched = remote.image(f"{any_registry.host}/remote/image:v1")
    assert fetched.digest() == original.digest()
    assert fetched.media_type() == MediaType.DOCKER_MANIFEST_SCHEMA2
    assert fetched.config_file() == original.config_file()
    assert [each.diff_id() for each in fetched.layers()] == list(original.config_file().rootfs.diff_ids)
    validate.image(fetched)
    with fetched.layers()[0].compressed() as stream, original.layers()[0].compressed() as expected:
        assert stream.read() == expected.read()


def test_get_head_and_digest_references(any_registry: DistributionRegistry | Registry) -> None:
    client = Client(any_registry.host)
    repository = Repository(f"{any_registry.host}/remote/get")
    original = random.image(100, 1, seed=2)
    push(client, repository, original, "v1")
    got = remote.get(f"{any_registry.host}/remote/get:v1")
    assert got.raw_manifest() == original.raw_manifest()
    assert got.descriptor.digest == original.digest()
    assert got.descriptor.artifact_type == MediaType.DOCKER_CONFIG
    assert remote.head(f"{any_registry.host}/remote/get:v1") == Descriptor(
        MediaType.DOCKER_MANIFEST_SCHEMA2, original.size(), original.digest()
    )
    by_digest = remote.image(f"{any_registry.host}/remote/get@{original.digest()}")
    assert by_digest.digest() == original.digest()
    with pytest.raises(NotFound):
        remote.head(f"{any_registry.host}/remote/get:missing")
    with pytest.raises(UnsupportedMediaType, match="call image"):
        got.image_index()


def test_get_exposes_the_descriptor_fields_as_go_embeds_them(any_registry: DistributionRegistry | Registry) -> None:
    index, amd, _ = two_platform_index()
    annotated = mutate.annotations(mutate.media_type(amd, MediaType.OCI_MANIFEST), {"org.example": "yes"})
    index = mutate.append_manifests(index, annotated)
    remote.write_index(f"{any_registry.host}/remote/fields:index", index)
    remote.write(f"{any_registry.host}/remote/fields:image", annotated)
    for reference, expected in (("index", index), ("image", annotated)):
        got = remote.get(f"{any_registry.host}/remote/fields:{reference}")
        # every field of the spec's descriptor, read through the result as through .descriptor
        for field in attrs.fields(Descriptor):
            if not field.name.startswith("_"):
                assert getattr(got, field.name) == getattr(got.descriptor, field.name), field.name
        assert (got.digest, got.size, got.media_type) == (expected.digest(), expected.size(), expected.media_type())
        assert (got.platform, got.urls, got.data) == (None, (), None)
    image_got = remote.get(f"{any_registry.host}/remote/fields:image")
    assert image_got.annotations == {"org.example": "yes"}
    assert image_got.artifact_type == annotated.manifest().config.media_type  # the config type, as in Go
    assert isinstance(image_got.digest, Hash)


def test_a_digest_reference_must_match_its_bytes(fault_proxy: FaultProxy) -> None:
    client = Client(fault_proxy.host)
    repository = Repository(f"{fault_proxy.host}/remote/tampered")
    original = random.image(100, 1, seed=3)
    push(client, repository, original, "v1")
    fault_proxy.inject(Fault("GET", f"/manifests/{original.digest()}", corrupt_at=30))
    with pytest.raises(DigestMismatch):
        remote.image(f"{fault_proxy.host}/remote/tampered@{original.digest()}").raw_manifest()


def test_platform_selection_from_a_two_platform_index(any_registry: DistributionRegistry | Registry) -> None:
    client = Client(any_registry.host)
    repository = Repository(f"{any_registry.host}/remote/multi")
    index, amd, arm = two_platform_index()
    push(client, repository, index, "v1")
    ref = f"{any_registry.host}/remote/multi:v1"
    assert remote.image(ref).digest() == amd.digest()
    assert remote.image(ref, platform="linux/aarch64").digest() == arm.digest()
    with pytest.raises(NoMatchingPlatform, match="linux/amd64, linux/arm64/v8, unknown/unknown"):
        remote.image(ref, platform="linux/s390x")
    fetched = remote.index(ref)
    assert fetched.digest() == index.digest()
    validate.index(fetched)
    push(client, repository, amd, "amd")  # an image is no index: said, not read as an empty one
    with pytest.raises(UnsupportedMediaType, match="remote/multi:amd is an image, not an index"):
        remote.index(f"{any_registry.host}/remote/multi:amd")


def test_inline_data_is_used_without_a_request(fault_proxy: FaultProxy) -> None:
    client = Client(fault_proxy.host)
    repository = Repository(f"{fault_proxy.host}/remote/inline")
    base = random.image(10, 1, seed=4)
    config = base.raw_config_file()
    manifest = attrs.evolve(base.manifest(), config=Descriptor.of(config, MediaType.DOCKER_CONFIG, embed=True))
    for each in base.layers():
        with each.compressed() as stream:
            push_blob(client, repository, stream.read())
    push_blob(client, repository, config)
    client.put_manifest(repository, "v1", manifest.to_json(), MediaType.DOCKER_MANIFEST_SCHEMA2)
    fault_proxy.reset()
    fetched = remote.image(f"{fault_proxy.host}/remote/inline:v1")
    assert fetched.raw_config_file() == config
    assert fault_proxy.requests("GET", "/blobs/") == []


def test_schema1_can_be_fetched_but_not_read_as_an_image(fault_proxy: FaultProxy) -> None:
    # distribution 2.8 takes only signed schema 1 manifests; the proxy serves one as old registries do
    schema1 = {"schemaVersion": 1, "name": "remote/schema1", "tag": "old", "architecture": "amd64", "fsLayers": []}
    data = json.dumps(schema1).encode()
    fault_proxy.inject(
        Fault(
            "GET",
            "/manifests/old",
            status=200,
            body=data,
            headers={
                "Content-Type": MediaType.DOCKER_MANIFEST_SCHEMA1,
                "Docker-Content-Digest": str(Hash.sha256(data)),
            },
        )
    )
    got = remote.get(f"{fault_proxy.host}/remote/schema1:old")
    assert got.raw_manifest() == data
    assert got.media_type.is_schema1()
    with pytest.raises(UnsupportedMediaType, match="schema 1"):
        got.image()


def test_layers_by_digest(any_registry: DistributionRegistry | Registry) -> None:
    client = Client(any_registry.host)
    repository = Repository(f"{any_registry.host}/remote/layer")
    made = layer.from_files({"hello": b"world"})
    with made.compressed() as stream:
        data = stream.read()
    push_blob(client, repository, data)
    fetched = remote.layer(f"{any_registry.host}/remote/layer@{made.digest()}")
    assert fetched.size() == len(data)
    assert fetched.diff_id() == made.diff_id()
    validate.layer(fetched)
    with pytest.raises(BadNameError, match="by digest"):  # a ValueError too
        remote.layer(f"{any_registry.host}/remote/layer:latest")


def test_tags_catalog_and_referrers_by_fallback_tag(any_registry: DistributionRegistry | Registry) -> None:
    client = Client(any_registry.host)
    repository = Repository(f"{any_registry.host}/remote/listing")
    subject = random.image(10, 1, seed=5)
    push(client, repository, subject, "v1")
    for tag in ("v2", "v3"):
        push(client, repository, subject, tag)
    assert sorted(remote.list_tags(f"{any_registry.host}/remote/listing", page_size=1)) == ["v1", "v2", "v3"]
    assert "remote/listing" in remote.catalog(any_registry.host, page_size=2)
    assert len(remote.catalog_page(any_registry.host, n=1)) == 1
    digest_ref = f"{any_registry.host}/remote/listing@{subject.digest()}"
    assert list(remote.referrers(digest_ref).children()) == []
    sbom = mutate.subject(
        mutate.config_media_type(
            mutate.media_type(empty.image, MediaType.OCI_MANIFEST), "application/vnd.example.sbom"
        ),
        subject.descriptor(),
    )
    signature = mutate.subject(
        mutate.config_media_type(mutate.media_type(empty.image, MediaType.OCI_MANIFEST), "application/vnd.example.sig"),
        subject.descriptor(),
    )
    for artifact in (sbom, signature):
        push(client, repository, artifact)
    fallback = mutate.append_manifests(
        empty.index,
        *(mutate.IndexAddendum(a, artifact_type=a.manifest().config.media_type) for a in (sbom, signature)),
    )
    client.put_manifest(repository, f"sha256-{subject.digest().hex}", fallback.raw_manifest(), MediaType.OCI_INDEX)
    found = remote.referrers(digest_ref)
    assert {d.digest for d in found.index_manifest().manifests} == {sbom.digest(), signature.digest()}
    only = remote.referrers(digest_ref, artifact_type="application/vnd.example.sig")
    assert [d.digest for d in only.index_manifest().manifests] == [signature.digest()]
    assert only.image(signature.digest()).digest() == signature.digest()


@pytest.mark.parametrize("clean_cut", [False, True], ids=["reset", "body-cut-short"])
def test_a_broken_blob_download_resumes_with_range(fault_proxy: FaultProxy, clean_cut: bool) -> None:
    client = Client(fault_proxy.host, retry=FAST)
    repository = Repository(f"{fault_proxy.host}/remote/resume")
    data = os.urandom(3 << 20)
    digest = push_blob(client, repository, data)
    fault_proxy.inject(Fault("GET", f"/blobs/{digest}", reset_after=(5 << 20) // 2, clean_cut=clean_cut))
    fetched = remote.layer(f"{fault_proxy.host}/remote/resume@{digest}", retry=FAST)
    with fetched.compressed() as stream:
        assert stream.read() == data
    gets = fault_proxy.requests("GET", f"/blobs/{digest}")
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    resumed_at = int(gets[1].headers["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= (5 << 20) // 2  # from what had arrived intact, not from the start
    assert gets[1].status == 206


def test_a_registry_that_ignores_range_restarts_and_skips(fault_proxy: FaultProxy) -> None:
    client = Client(fault_proxy.host, retry=FAST)
    repository = Repository(f"{fault_proxy.host}/remote/norange")
    data = os.urandom(3 << 20)
    digest = push_blob(client, repository, data)
    fault_proxy.inject(
        Fault("GET", f"/blobs/{digest}", reset_after=(5 << 20) // 2),
        Fault("GET", f"/blobs/{digest}", drop_headers=("Range",)),
    )
    with remote.layer(f"{fault_proxy.host}/remote/norange@{digest}", retry=FAST).compressed() as stream:
        assert stream.read() == data
    gets = fault_proxy.requests("GET", f"/blobs/{digest}")
    assert [g.status for g in gets] == [200, 200]  # the second one whole, from byte 0
    assert "Range" in gets[1].headers


def test_foreign_layers_come_from_their_urls_only_when_allowed(fault_proxy: FaultProxy) -> None:
    from tests.test_transport_registry import Storage

    content = layer.from_files({"windows/system32/kernel": b"foreign bits"})
    with content.compressed() as stream:
        packed = stream.read()
    storage = Storage(packed)
    try:
        foreign = mutate.append(
            empty.image,
            mutate.Addendum(content, media_type=MediaType.DOCKER_FOREIGN_LAYER, urls=[storage.url]),
        )
        client = Client(fault_proxy.host)
        repository = Repository(f"{fault_proxy.host}/remote/foreign")
        push_blob(client, repository, foreign.raw_config_file())
        # distribution refuses manifests with foreign URLs unless configured to; serve it as Windows registries do
        served = Fault("GET", "/manifests/v1", times=2, status=200, body=foreign.raw_manifest())
        served.headers["Content-Type"] = foreign.media_type()
        fault_proxy.inject(served)
        blocked = remote.image(f"{fault_proxy.host}/remote/foreign:v1").layers()[0]
        with pytest.raises(NotFound):
            blocked.compressed()
        allowed = remote.image(f"{fault_proxy.host}/remote/foreign:v1", allow_foreign=True).layers()[0]
        with allowed.compressed() as stream:
            assert stream.read() == packed
        assert len(storage.seen) == 1
    finally:
        storage.server.shutdown()
        storage.server.server_close()


def test_a_corrupted_byte_is_a_digest_mismatch(fault_proxy: FaultProxy) -> None:
    client = Client(fault_proxy.host)
    repository = Repository(f"{fault_proxy.host}/remote/corrupt")
    data = os.urandom(100_000)
    digest = push_blob(client, repository, data)
    fault_proxy.inject(Fault("GET", f"/blobs/{digest}", corrupt_at=5000))
    with (
        pytest.raises(DigestMismatch),
        remote.layer(f"{fault_proxy.host}/remote/corrupt@{digest}").compressed() as stream,
    ):
        stream.read()


def test_503s_and_a_429_are_survived(fault_proxy: FaultProxy) -> None:
    client = Client(fault_proxy.host)
    repository = Repository(f"{fault_proxy.host}/remote/flaky")
    original = random.image(1000, 1, seed=6)
    push(client, repository, original, "v1")
    fault_proxy.inject(
        Fault("GET", "/manifests/v1", times=2, status=503),
        Fault("GET", "/blobs/", times=1, status=429, headers={"Retry-After": "0"}),
    )
    fetched = remote.image(f"{fault_proxy.host}/remote/flaky:v1", retry=FAST)
    validate.image(fetched)


def test_a_blob_that_keeps_breaking_is_given_up_on(fault_proxy: FaultProxy) -> None:
    client = Client(fault_proxy.host)
    repository = Repository(f"{fault_proxy.host}/remote/broken")
    digest = push_blob(client, repository, os.urandom(200_000))
    fault_proxy.inject(Fault("GET", f"/blobs/{digest}", times=100, reset_after=1000))
    with (
        pytest.raises(TransportError, match="gave up"),
        remote.layer(f"{fault_proxy.host}/remote/broken@{digest}", retry=FAST).compressed() as stream,
    ):
        stream.read()


def test_parallel_pull_into_a_directory(any_registry: DistributionRegistry | Registry, tmp_path: Path) -> None:
    client = Client(any_registry.host)
    repository = Repository(f"{any_registry.host}/remote/pull")
    index, amd, arm = two_platform_index()
    push(client, repository, index, "v1")
    seen: list[tuple[str, int, int]] = []
    sink = remote.DirectorySink(tmp_path / "blobs")
    remote.pull(remote.index(f"{any_registry.host}/remote/pull:v1"), sink, jobs=3, progress=lambda *a: seen.append(a))
    for image in (amd, arm):
        for each in image.layers():
            with each.compressed() as stream:
                assert sink.path(each.digest()).read_bytes() == stream.read()
        assert sink.path(image.digest()).read_bytes() == image.raw_manifest()
    assert sink.path(index.digest()).read_bytes() == index.raw_manifest()
    overall = [s for s in seen if s[0] == ""]
    assert overall[-1][1] == overall[-1][2] > 0
    assert not list((tmp_path / "blobs").rglob("*.partial"))
    before = len(seen)
    remote.pull(remote.index(f"{any_registry.host}/remote/pull:v1"), sink, progress=lambda *a: seen.append(a))
    assert len(seen) == before  # everything was there: nothing fetched


@pytest.mark.parametrize("jobs", [1, 3])
def test_an_index_pull_reads_each_document_once_and_stores_manifests_after_their_blobs(
    fault_proxy: FaultProxy, tmp_path: Path, jobs: int
) -> None:
    index, amd, arm = two_platform_index()
    repository = Repository(f"{fault_proxy.host}/remote/walk{jobs}")
    push(Client(fault_proxy.host), repository, index, "v1")
    broken = arm.layers()[1].digest()
    fault_proxy.reset()
    fault_proxy.inject(Fault("GET", f"/blobs/{broken}", corrupt_at=1000))
    sink = remote.DirectorySink(tmp_path / "blobs")
    with pytest.raises(DigestMismatch, match=f"layer {broken}"):
        remote.pull(remote.index(f"{repository}:v1"), sink, jobs=jobs)
    # cut short: no manifest is stored whose blobs may be missing (the index's least of all)
    assert not sink.has(index.digest())
    assert not sink.has(arm.digest())
    gets = [r.path for r in fault_proxy.requests("GET")]
    assert len(gets) == len(set(gets)), gets  # each child manifest and each config once
    remote.pull(remote.index(f"{repository}:v1"), sink, jobs=jobs)  # the fault is spent
    for image in (amd, arm):
        for blob in (*image.manifest().layers, image.manifest().config):
            assert sink.has(blob.digest)
        assert sink.path(image.digest()).read_bytes() == image.raw_manifest()
    assert sink.path(index.digest()).read_bytes() == index.raw_manifest()


def test_layers_need_no_config_until_a_diff_id_is_asked_for(fault_proxy: FaultProxy) -> None:
    original = random.image(3000, 2, seed=12)
    push(Client(fault_proxy.host), Repository(f"{fault_proxy.host}/remote/lazy-config"), original, "v1")
    fault_proxy.reset()
    layers = remote.image(f"{fault_proxy.host}/remote/lazy-config:v1").layers()
    config = f"/blobs/{original.manifest().config.digest}"
    assert [each.digest() for each in layers] == [each.digest() for each in original.layers()]
    assert not fault_proxy.requests("GET", config)
    assert layers[1].diff_id() == original.layers()[1].diff_id()
    assert len(fault_proxy.requests("GET", config)) == 1
    assert not fault_proxy.requests("GET", f"/blobs/{layers[1].digest()}")  # from the config, not by unpacking


@pytest.mark.parametrize("with_progress", [False, True], ids=["quiet", "progress"])
def test_a_corrupted_layer_pulled_into_a_layout_is_refused_and_not_kept(
    fault_proxy: FaultProxy, tmp_path: Path, with_progress: bool
) -> None:
    client = Client(fault_proxy.host)
    repository = Repository(f"{fault_proxy.host}/remote/corrupt-pull")
    original = random.image(200_000, 2, seed=11)
    push(client, repository, original, "v1")
    damaged, intact = original.layers()
    fault_proxy.inject(Fault("GET", f"/blobs/{damaged.digest()}", corrupt_at=100_000))
    place = ocimodel.layout.Layout(tmp_path / "out")
    seen: list[tuple[str, int, int]] = []
    with pytest.raises(DigestMismatch, match=f"layer {damaged.digest()}"):
        remote.pull(
            remote.image(f"{fault_proxy.host}/remote/corrupt-pull:v1"),
            place,
            jobs=1,
            progress=(lambda *a: seen.append(a)) if with_progress else None,
        )
    assert not place.has(damaged.digest())
    assert not list((tmp_path / "out").rglob("*.partial"))
    assert bool(seen) == with_progress
    remote.pull(remote.image(f"{fault_proxy.host}/remote/corrupt-pull:v1"), place, jobs=1)  # the fault is spent
    for each in (damaged, intact):
        with each.compressed() as stream, place.open_blob(each.digest()) as stored:
            assert stored.read() == stream.read()


def test_skopeo_pushed_image_reads_back(any_registry: DistributionRegistry | Registry, tmp_path: Path) -> None:
    original = mutate.config_media_type(
        mutate.media_type(random.image(5000, 2, seed=7), MediaType.OCI_MANIFEST), MediaType.OCI_CONFIG
    )
    layout = tmp_path / "layout"
    sink = remote.DirectorySink(layout)
    for each in original.layers():
        with each.compressed() as stream:
            sink.write(each.digest(), stream)
    for data in (original.raw_config_file(), original.raw_manifest()):
        sink.write(Hash.sha256(data), io.BytesIO(data))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entry = attrs.evolve(original.descriptor(), annotations={"org.opencontainers.image.ref.name": "v1"})
    (layout / "index.json").write_bytes(IndexManifest(manifests=[entry]).to_json())
    copied = skopeo.copy(f"oci:{layout}:v1", f"docker://{any_registry.host}/remote/skopeo:v1")
    fetched = remote.image(f"{any_registry.host}/remote/skopeo:v1")
    validate.image(fetched)
    assert str(fetched.digest()) == copied
    assert fetched.config_file() == original.config_file()


def test_foreign_urls_are_refused_when_unsafe() -> None:
    from ocimodel.errors import InsecureRedirect
    from ocimodel.remote import RemoteLayer, Session

    descriptor = Descriptor(MediaType.DOCKER_FOREIGN_LAYER, 10, Hash.sha256(b"x"))
    public = Repository("registry.example.com/app")
    layer_ = RemoteLayer(Session(allow_foreign=True), public, descriptor, descriptor.digest)
    first = TransportError("the registry does not have it")
    with pytest.raises(InsecureRedirect, match="plain http"):
        layer_._from_urls(("http://cdn.example.com/blob",), first)
    with pytest.raises(InsecureRedirect, match="private address"):
        layer_._from_urls(("https://10.1.2.3/blob",), first)
    with pytest.raises(InsecureRedirect, match="private address"):
        layer_._from_urls(("https://127.0.0.1:9/blob",), first)


def test_a_cancel_event_stops_a_download_between_chunks(any_registry: DistributionRegistry | Registry) -> None:
    import threading

    from ocimodel.errors import Cancelled

    client = Client(any_registry.host)
    repository = Repository(f"{any_registry.host}/remote/cancel")
    digest = push_blob(client, repository, os.urandom(3 << 20))
    cancel = threading.Event()
    fetched = remote.layer(f"{any_registry.host}/remote/cancel@{digest}", cancel=cancel)
    with fetched.compressed() as stream:
        assert len(stream.read(1 << 20)) == 1 << 20
        cancel.set()
        with pytest.raises(Cancelled):
            stream.read(1 << 20)
    with pytest.raises(Cancelled):
        remote.head(f"{any_registry.host}/remote/cancel:v1", session=remote.Session(cancel=cancel))
