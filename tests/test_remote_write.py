"""Writing to the real registry: the walk, mounts, upload strategies, referrers, faults, interop."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from ocimodel import empty, layer, mutate, random, remote, validate
from ocimodel.errors import (
    Cancelled,
    InvalidRequest,
    NotFound,
    RegistryError,
    ServerError,
    TransportError,
    Unauthorized,
)
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.mediatype import MediaType
from ocimodel.name import Repository
from ocimodel.platform import Platform
from ocimodel.registry import Registry
from ocimodel.transport import RetryPolicy
from tests.harness import skopeo
from tests.harness.distribution import DistributionRegistry, free_port
from tests.harness.faultproxy import Fault, FaultProxy

pytestmark = pytest.mark.registry

FAST = RetryPolicy(attempts=4, backoff=0.05, factor=2.0, max_delay=1.0, budget=10.0)


def test_write_then_read_back(any_registry: DistributionRegistry | Registry) -> None:
    original = random.image(20_000, 3, seed=11)
    remote.write(f"{any_registry.host}/write/image:v1", original)
    fetched = remote.image(f"{any_registry.host}/write/image:v1")
    assert fetched.digest() == original.digest()
    validate.image(fetched)


def test_write_nested_index(any_registry: DistributionRegistry | Registry) -> None:
    amd, arm = random.image(1000, 2, seed=12), random.image(1000, 2, seed=13)
    inner = mutate.append_manifests(empty.index, mutate.IndexAddendum(arm, platform=Platform.parse("linux/arm64")))
    outer = mutate.append_manifests(
        empty.index, mutate.IndexAddendum(amd, platform=Platform.parse("linux/amd64")), inner
    )
    remote.write_index(f"{any_registry.host}/write/index:v1", outer)
    fetched = remote.index(f"{any_registry.host}/write/index:v1")
    assert fetched.digest() == outer.digest()
    validate.index(fetched)
    assert remote.image(f"{any_registry.host}/write/index:v1", platform="linux/arm64").digest() == arm.digest()


def test_write_a_stream_layer(any_registry: DistributionRegistry | Registry) -> None:
    tar = layer.from_files({"streamed.txt": b"once" * 1000})
    with tar.uncompressed() as source:
        content = source.read()
    streamed = layer.stream(io.BytesIO(content))
    image = mutate.append_layers(random.image(100, 1, seed=14), streamed)
    remote.write(f"{any_registry.host}/write/stream:v1", image)
    assert streamed.computed
    fetched = remote.image(f"{any_registry.host}/write/stream:v1")
    assert fetched.digest() == image.digest()
    validate.image(fetched)


def test_a_second_write_is_one_head(fault_proxy: FaultProxy) -> None:
    image = random.image(1000, 2, seed=15)
    remote.write(f"{fault_proxy.host}/write/again:v1", image)
    fault_proxy.reset()
    session = remote.Session()
    session.client(remote.Session().reference(f"{fault_proxy.host}/x").registry).ping()  # a warm session
    fault_proxy.reset()
    remote.write(f"{fault_proxy.host}/write/again:v1", image, session=session)
    assert [(r.method, r.status) for r in fault_proxy.requests()] == [("HEAD", 200)]


def test_request_count_for_an_n_layer_push(fault_proxy: FaultProxy) -> None:
    layers = 3
    image = random.image(5000, layers, seed=16)
    remote.write(f"{fault_proxy.host}/write/count:v1", image)
    methods = [r.method for r in fault_proxy.requests()]
    blobs = layers + 1  # and the config
    # ping, HEAD of the tag; per blob HEAD, POST, PUT (monolithic); the manifest PUT
    assert len(methods) == 2 + 3 * blobs + 1
    assert methods.count("HEAD") == 1 + blobs
    assert methods.count("POST") == blobs
    assert methods.count("PUT") == blobs + 1
    assert methods.count("PATCH") == 0


def test_copy_between_repositories_mounts_every_blob(fault_proxy: FaultProxy) -> None:
    image = random.image(20_000, 3, seed=17)
    remote.write(f"{fault_proxy.host}/write/source:v1", image)
    fault_proxy.reset()
    remote.write(f"{fault_proxy.host}/write/target:v1", remote.image(f"{fault_proxy.host}/write/source:v1"))
    posts = fault_proxy.requests("POST")
    assert len(posts) == 4  # three layers and the config
    assert all("mount=" in post.path and "from=write%2Fsource" in post.path for post in posts)
    assert {post.status for post in posts} == {201}
    assert fault_proxy.requests("PATCH") == []
    assert fault_proxy.requests("GET", "/blobs/") == []  # not even the config is read: it is mounted
    assert fault_proxy.requests("HEAD", "/blobs/") == []  # a mount needs no HEAD first
    assert [r.path for r in fault_proxy.requests("PUT")] == ["/v2/write/target/manifests/v1"]
    validate.image(remote.image(f"{fault_proxy.host}/write/target:v1"))


def test_a_mount_not_made_falls_back_to_the_head_and_the_upload(fault_proxy: FaultProxy) -> None:
    """A mount from a repository that lacks the blob is answered 202 (an upload begins): the blob
    is then looked for here (present: the upload is given up) or sent on that upload."""
    here, elsewhere = random.layer(3000, seed=173), random.layer(3000, seed=174)
    remote.write_layer(f"{fault_proxy.host}/write/mount-target", here)
    nowhere = f"{fault_proxy.host}/write/mount-empty"
    for blob in (here, elsewhere):
        fault_proxy.reset()
        remote.write_layer(f"{fault_proxy.host}/write/mount-target", remote.MountableLayer(blob, Repository(nowhere)))
        seen = [(r.method, r.status) for r in fault_proxy.requests()][1:]  # after the ping
        if blob is here:
            assert seen == [("POST", 202), ("HEAD", 200), ("DELETE", 204)]
        else:
            assert seen == [("POST", 202), ("HEAD", 404), ("PUT", 201)]
        with remote.layer(f"{fault_proxy.host}/write/mount-target@{blob.digest()}").compressed() as stream:
            assert Hash.sha256(stream.read()) == blob.digest()


@pytest.mark.parametrize("jobs", [1, 4])
def test_copying_an_index_reads_each_child_once_and_puts_parents_last(fault_proxy: FaultProxy, jobs: int) -> None:
    amd, arm = random.image(3000, 2, seed=171), random.image(3000, 2, seed=172)
    inner = mutate.append_manifests(empty.index, mutate.IndexAddendum(arm, platform=Platform.parse("linux/arm64")))
    outer = mutate.append_manifests(
        empty.index, mutate.IndexAddendum(amd, platform=Platform.parse("linux/amd64")), inner
    )
    remote.write_index(f"{fault_proxy.host}/write/index-source:v1", outer)
    fault_proxy.reset()
    source = remote.index(f"{fault_proxy.host}/write/index-source:v1")
    # one worker: reading a child's manifest and moving its blobs share it, and must not wait on each other
    remote.write_index(f"{fault_proxy.host}/write/index-target{jobs}:v1", source, jobs=jobs)
    gets = [r.path.rsplit("/", 1)[1] for r in fault_proxy.requests("GET", "/manifests/")]
    assert sorted(gets) == sorted(["v1", str(inner.digest()), str(amd.digest()), str(arm.digest())])
    assert fault_proxy.requests("GET", "/blobs/") == []
    assert {post.status for post in fault_proxy.requests("POST")} == {201}  # every blob mounted
    puts = [r.path.rsplit("/", 1)[1] for r in fault_proxy.requests("PUT")]
    assert sorted(puts[:2]) == sorted([str(amd.digest()), str(arm.digest())])  # the images (at once)
    assert puts[2:] == [str(inner.digest()), "v1"]  # then each index after what it holds
    validate.index(remote.index(f"{fault_proxy.host}/write/index-target{jobs}:v1"))


def test_upload_strategies(fault_proxy: FaultProxy) -> None:
    small, medium, large = (random.layer(size, seed=20 + size % 7) for size in (1000, 300_000, 1_500_000))
    image = mutate.append_layers(empty.image, small, medium, large)
    remote.write(
        f"{fault_proxy.host}/write/strategies:v1",
        image,
        monolithic_limit=10_000,
        chunked_threshold=1_000_000,
        chunk_size=256 * 1024,
    )
    patches = fault_proxy.requests("PATCH")
    ranged = [p for p in patches if "Content-Range" in p.headers]
    assert len(patches) - len(ranged) == 1  # the medium blob: one streaming PATCH
    assert len(ranged) == -(-large.size() // (256 * 1024))  # the large one in chunks
    validate.image(remote.image(f"{fault_proxy.host}/write/strategies:v1"))


def test_a_chunked_upload_resumes_from_the_registry_s_offset(fault_proxy: FaultProxy) -> None:
    chunk = 256 * 1024
    image = mutate.append_layers(empty.image, random.layer(1_500_000, seed=30))
    # the third chunk fails with a 500 (it never reached the registry, but a 500 does not say so)
    fault_proxy.inject(Fault("PATCH", "/blobs/uploads/", skip=2, status=500))
    remote.write(
        f"{fault_proxy.host}/write/chunked:v1",
        image,
        chunked_threshold=1_000_000,
        chunk_size=chunk,
        retry=FAST,
        jobs=1,  # one blob at a time: the config's requests do not come between the layer's
    )
    log = fault_proxy.requests()
    broken = next(i for i, r in enumerate(log) if r.method == "PATCH" and r.fault)
    assert log[broken].headers["Content-Range"].startswith(f"{2 * chunk}-")
    assert log[broken + 1].method == "GET"  # asked how far the upload got: two chunks
    assert log[broken + 1].status == 204
    resumed = log[broken + 2]
    assert resumed.method == "PATCH"
    assert resumed.headers["Content-Range"].startswith(f"{2 * chunk}-")
    assert len(fault_proxy.requests("POST")) == 2  # the layer's and the config's: resumed, not restarted
    validate.image(remote.image(f"{fault_proxy.host}/write/chunked:v1"))


def test_a_chunk_answered_not_taken_is_sent_again_at_once(fault_proxy: FaultProxy) -> None:
    """429 and 503 say the request was not taken: the chunk goes again, as it is, after the wait
    the registry asked for; no status request, no restart."""
    chunk = 512 * 1024
    image = mutate.append_layers(empty.image, random.layer(1_300_000, seed=32))
    fault_proxy.inject(
        Fault("PATCH", "/blobs/uploads/", skip=1, status=429, headers={"Retry-After": "0"}),
        Fault("PATCH", "/blobs/uploads/", skip=1, status=503),
    )
    remote.write(
        f"{fault_proxy.host}/write/not-taken:v1", image, chunked_threshold=1_000_000, chunk_size=chunk, retry=FAST
    )
    patches = fault_proxy.requests("PATCH")
    ranges = [p.headers["Content-Range"].split("-")[0] for p in patches]
    assert ranges == ["0", str(chunk), str(chunk), str(2 * chunk), str(2 * chunk)]
    assert [p.fault for p in patches] == [False, True, False, True, False]
    assert not fault_proxy.requests("GET", "/blobs/uploads/")
    assert len(fault_proxy.requests("POST")) == 2  # the layer's and the config's
    validate.image(remote.image(f"{fault_proxy.host}/write/not-taken:v1"))


def test_a_chunked_upload_that_cannot_resume_restarts(distribution_proxy: FaultProxy) -> None:
    fault_proxy = distribution_proxy  # distribution 2.8 refuses every upload location but the newest
    chunk = 256 * 1024
    image = mutate.append_layers(empty.image, random.layer(1_500_000, seed=31))
    # the third chunk reaches the registry but the answer is lost: distribution 2.8 then refuses
    # every older upload location, so the only way on is to start the blob again
    fault_proxy.inject(Fault("PATCH", "/blobs/uploads/", skip=2, drop_response=True))
    remote.write(
        f"{fault_proxy.host}/write/restarted:v1", image, chunked_threshold=1_000_000, chunk_size=chunk, retry=FAST
    )
    assert len(fault_proxy.requests("POST", "/blobs/uploads/")) == 3  # the layer's twice, the config's
    validate.image(remote.image(f"{fault_proxy.host}/write/restarted:v1"))


def test_503_and_resets_during_patch_and_put_are_survived(fault_proxy: FaultProxy) -> None:
    image = mutate.append_layers(empty.image, random.layer(300_000, seed=40), random.layer(100, seed=41))
    fault_proxy.inject(
        Fault("PATCH", "/blobs/uploads/", status=503),
        Fault("PUT", r"/blobs/uploads/.*digest=", status=503),
        Fault("PUT", "/manifests/v1", drop_response=True),
    )
    remote.write(f"{fault_proxy.host}/write/flaky:v1", image, retry=FAST, monolithic_limit=1000)
    validate.image(remote.image(f"{fault_proxy.host}/write/flaky:v1"))


def test_a_failed_blob_leaves_no_manifest_and_says_which(fault_proxy: FaultProxy) -> None:
    image = mutate.append_layers(empty.image, random.layer(100, seed=50))
    digest = image.layers()[0].digest()
    fault_proxy.inject(Fault("POST", "/blobs/uploads/", times=100, status=503))
    with pytest.raises(ServerError, match=f"pushing blob {digest}"):
        remote.write(f"{fault_proxy.host}/write/failed:v1", image, retry=FAST)
    with pytest.raises(NotFound):
        remote.head(f"{fault_proxy.host}/write/failed:v1")


def test_nondistributable_layers_are_skipped_unless_allowed(distribution_proxy: FaultProxy) -> None:
    fault_proxy = distribution_proxy  # distribution 2.8 refuses foreign layers it lacks
    foreign = random.layer(100, seed=60)
    image = mutate.append(
        random.image(100, 1, seed=61), mutate.Addendum(foreign, media_type=MediaType.DOCKER_FOREIGN_LAYER)
    )
    with pytest.raises(RegistryError, match="MANIFEST_BLOB_UNKNOWN"):
        remote.write(f"{fault_proxy.host}/write/foreign:v1", image, retry=FAST)  # skipped: the manifest is refused
    assert not any(f"/blobs/{foreign.digest()}" in r.path for r in fault_proxy.requests("HEAD"))
    fault_proxy.reset()
    with pytest.raises(RegistryError):  # distribution refuses foreign layers unless configured to take them
        remote.write(f"{fault_proxy.host}/write/foreign:v1", image, allow_nondistributable=True, retry=FAST)
    assert any(f"/blobs/{foreign.digest()}" in r.path for r in fault_proxy.requests("HEAD"))


def test_progress_counts_every_byte(any_registry: DistributionRegistry | Registry) -> None:
    image = random.image(50_000, 2, seed=70)
    seen: list[tuple[str, int, int]] = []
    remote.write(f"{any_registry.host}/write/progress:v1", image, progress=lambda *a: seen.append(a))
    overall = [s for s in seen if s[0] == ""]
    assert overall[-1][1] == overall[-1][2]
    per_blob = {s[0] for s in seen if s[0]}
    assert {str(each.digest()) for each in image.layers()} <= per_blob


def test_subjects_update_the_referrers_fallback_tag(any_registry: DistributionRegistry | Registry) -> None:
    subject = random.image(100, 1, seed=80)
    remote.write(f"{any_registry.host}/write/referred:v1", subject)

    def artifact(kind: str, seed: int) -> Image:
        base = mutate.config_media_type(mutate.media_type(empty.image, MediaType.OCI_MANIFEST), kind)
        return mutate.subject(mutate.annotations(base, {"org.example.seed": str(seed)}), subject.descriptor())

    sbom, signature = artifact("application/vnd.example.sbom", 1), artifact("application/vnd.example.sig", 2)
    for each in (signature, sbom, signature):  # the repeat must not duplicate the entry
        remote.write(f"{any_registry.host}/write/referred@{each.digest()}", each)
    found = remote.referrers(f"{any_registry.host}/write/referred@{subject.digest()}")
    entries = found.index_manifest().manifests
    assert [e.digest for e in entries] == sorted([sbom.digest(), signature.digest()], key=str)
    assert {e.artifact_type for e in entries} == {"application/vnd.example.sbom", "application/vnd.example.sig"}
    assert {e.annotations["org.example.seed"] for e in entries} == {"1", "2"}
    # pushed together, their manifests go at once: the fallback tag is still read and written one at a time
    more = [artifact(f"application/vnd.example.n{seed}", seed) for seed in range(3, 7)]
    remote.multi_write({f"{any_registry.host}/write/referred@{each.digest()}": each for each in more})
    found = remote.referrers(f"{any_registry.host}/write/referred@{subject.digest()}")
    expected = sorted([sbom.digest(), signature.digest(), *(each.digest() for each in more)], key=str)
    assert [e.digest for e in found.index_manifest().manifests] == expected


def test_tag_delete_and_write_layer(any_registry: DistributionRegistry | Registry) -> None:
    """Deleting a tag deletes that tag or nothing: distribution 2.x refuses tag deletes (400
    DIGEST_INVALID), the embedded registry takes them (distribution-spec 1.1); in neither case
    does the manifest go, nor its other tag. Deleting by digest takes the manifest and every tag."""
    repository = f"{any_registry.host}/write/tagging"
    image = random.image(100, 1, seed=90)
    remote.write(f"{repository}:v1", image)
    remote.tag(f"{repository}:v2", remote.get(f"{repository}:v1"))
    assert remote.head(f"{repository}:v2").digest == image.digest()
    if isinstance(any_registry, Registry):
        remote.delete(f"{repository}:v2")
        assert remote.list_tags(repository) == ["v1"]
    else:
        with pytest.raises(InvalidRequest) as refused:
            remote.delete(f"{repository}:v2")
        assert refused.value.status == 400
        assert f"cannot delete the tag {repository}:v2: {any_registry.host} does not delete tags" in str(refused.value)
        assert "(it answered 400 DIGEST_INVALID)" in str(refused.value)
        assert f"delete {repository}@{image.digest()} removes the manifest with every tag on it" in str(refused.value)
        assert sorted(remote.list_tags(repository)) == ["v1", "v2"]
    assert remote.head(f"{repository}:v1").digest == image.digest()
    with pytest.raises(NotFound):
        remote.delete(f"{repository}:never")
    remote.delete(f"{repository}@{image.digest()}")
    with pytest.raises(NotFound):
        remote.head(f"{repository}:v1")  # the manifest is gone, and so are its tags
    blob = layer.from_files({"lonely": b"blob"})
    remote.write_layer(f"{any_registry.host}/write/blobs", blob)
    assert remote.layer(f"{any_registry.host}/write/blobs@{blob.digest()}").size() == blob.size()


def test_check_push_permission(token_registry: DistributionRegistry, tmp_path: Path) -> None:
    from ocimodel.authn import Basic, ConfigFileKeychain
    from tests.harness.tokenserver import PASSWORD, USER

    with pytest.raises(Unauthorized):
        remote.check_push_permission(
            f"{token_registry.host}/write/perm", keychain=ConfigFileKeychain(tmp_path / "none")
        )
    remote.check_push_permission(f"{token_registry.host}/write/perm", auth=Basic(USER, PASSWORD))


def test_skopeo_reads_what_we_push(any_registry: DistributionRegistry | Registry, tmp_path: Path) -> None:
    image = mutate.config_media_type(
        mutate.media_type(random.image(3000, 2, seed=95), MediaType.OCI_MANIFEST), MediaType.OCI_CONFIG
    )
    remote.write(f"{any_registry.host}/write/skopeo:v1", image)
    assert skopeo.raw_manifest(f"docker://{any_registry.host}/write/skopeo:v1") == image.raw_manifest()
    copied = skopeo.copy(f"docker://{any_registry.host}/write/skopeo:v1", f"oci:{tmp_path / 'layout'}:v1")
    assert copied == str(image.digest())
    assert (tmp_path / "layout" / "blobs" / "sha256" / image.digest().hex).read_bytes() == image.raw_manifest()


def test_multi_write_uploads_each_blob_once(fault_proxy: FaultProxy) -> None:
    shared = random.layer(5000, seed=100)
    first = mutate.append_layers(random.image(100, 1, seed=101), shared)
    second = mutate.append_layers(random.image(100, 1, seed=102), shared)
    remote.multi_write(
        {f"{fault_proxy.host}/write/multi:a": first, f"{fault_proxy.host}/write/multi:b": second}, jobs=2
    )
    blobs = {d.digest for image in (first, second) for d in (*image.manifest().layers, image.manifest().config)}
    assert len(fault_proxy.requests("POST")) == len(blobs)  # the shared layer once
    for tag, image in (("a", first), ("b", second)):
        assert remote.head(f"{fault_proxy.host}/write/multi:{tag}").digest == image.digest()


class _Timed(threading.Event):
    """An event that remembers when it was first set."""

    set_at: float | None = None

    def set(self) -> None:
        if self.set_at is None:
            self.set_at = time.monotonic()
        super().set()


class _Tripwire(io.BytesIO):
    """A stream of ``data`` that sets ``event`` once ``after`` bytes of it have been read."""

    def __init__(self, data: bytes, event: threading.Event, after: int) -> None:
        super().__init__(data)
        self._event, self._after = event, after

    def read(self, size: int | None = -1, /) -> bytes:
        if self.tell() >= self._after:
            self._event.set()
        return super().read(size)


@pytest.mark.parametrize("kind", ["a layer of known size", "a single-pass layer"])
def test_a_cancel_abandons_an_upload_at_its_next_piece(distribution_proxy: FaultProxy, kind: str) -> None:
    """A blob goes up as one streamed request (a PATCH with its length, or chunked for a
    single-pass layer): a cancel ends it at its next piece, not when the blob is through, which on
    a slow link takes minutes (here 1 MiB/s for 12 MiB)."""
    distribution_proxy.inject(Fault("PATCH", "/blobs/uploads/", body_rate=1 << 20))
    cancel = _Timed()
    size = 12 << 20
    if kind == "a layer of known size":
        image = random.image(size, 1, seed=41)

        def tripped(digest: str, done: int, total: int) -> None:
            if digest and done >= 2 << 20:
                cancel.set()

        session = remote.Session(cancel=cancel, progress=tripped)
    else:
        content = layer.from_bytes(random.image(size, 1, seed=42).layers()[0].uncompressed().read())
        with content.uncompressed() as stream:
            source = _Tripwire(stream.read(), cancel, 2 << 20)
        image = mutate.append_layers(empty.image, layer.stream(source))
        session = remote.Session(cancel=cancel)
    with pytest.raises(Cancelled):
        remote.write(f"{distribution_proxy.host}/write/cancelled:v1", image, session=session)
    assert cancel.set_at is not None
    assert time.monotonic() - cancel.set_at < 2  # the rest of the blob would take 10 s at this rate
    with pytest.raises(NotFound):
        remote.head(f"{distribution_proxy.host}/write/cancelled:v1")


def test_a_closed_port_is_reported_at_once_not_retried_per_blob() -> None:
    """A refused connection is tried again once, quickly, by the request policy; the writer does
    not then start each blob over under the retry policy (8 s for nothing that will listen)."""
    port = free_port()
    started = time.monotonic()
    with pytest.raises(TransportError, match="refused"):
        remote.write(f"127.0.0.1:{port}/write/closed:v1", random.image(1000, 3, seed=43))
    assert time.monotonic() - started < 2
