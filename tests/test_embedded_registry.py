"""The embedded registry, driven by the same client as the real one, and by skopeo."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocimodel import empty, mutate, random, remote, validate
from ocimodel.errors import ManifestTooLarge, NotReadable
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.layout import REF_NAME, Layout
from ocimodel.mediatype import MediaType
from ocimodel.platform import Platform
from ocimodel.registry import Registry, Storage
from ocimodel.transport import Client
from tests.harness import confined, skopeo
from tests.harness.faultproxy import FaultProxy
from tests.harness.hostile import HUGE, plant


@pytest.fixture
def embedded() -> Iterator[Registry]:
    with Registry() as served:
        yield served


def test_write_and_read_images_and_indexes(embedded: Registry) -> None:
    image = random.image(20_000, 3, seed=1)
    remote.write(f"{embedded.host}/app:v1", image)
    fetched = remote.image(f"{embedded.host}/app:v1")
    assert fetched.digest() == image.digest()
    validate.image(fetched)
    index = mutate.append_manifests(
        empty.index,
        mutate.IndexAddendum(random.image(100, 1, seed=2), platform=Platform.parse("linux/arm64")),
        mutate.append_manifests(empty.index, random.image(100, 1, seed=3)),
    )
    remote.write_index(f"{embedded.host}/multi:v1", index)
    validate.index(remote.index(f"{embedded.host}/multi:v1"))
    remote.write(f"{embedded.host}/copy:v1", remote.image(f"{embedded.host}/app:v1"))  # mounts
    assert remote.head(f"{embedded.host}/copy:v1").digest == image.digest()
    remote.delete(f"{embedded.host}/copy:v1")
    assert "v1" not in remote.list_tags(f"{embedded.host}/copy")


def test_tags_and_catalog_page(embedded: Registry) -> None:
    image = random.image(100, 1, seed=4)
    for tag in ("a", "b", "c", "d", "e"):
        remote.write(f"{embedded.host}/paged:{tag}", image)
    client = Client(embedded.host)
    from ocimodel.name import Repository

    first = client.tags_page(Repository(f"{embedded.host}/paged"), n=2)
    assert first.items == ("a", "b")
    assert first.next_url is not None
    assert remote.list_tags(f"{embedded.host}/paged", page_size=2) == ["a", "b", "c", "d", "e"]
    assert remote.catalog(embedded.host, page_size=1) == ["paged"]


def test_the_referrers_api(embedded: Registry) -> None:
    subject = random.image(100, 1, seed=5)
    remote.write(f"{embedded.host}/referred:v1", subject)

    def artifact(kind: str) -> Image:
        base = mutate.config_media_type(mutate.media_type(empty.image, MediaType.OCI_MANIFEST), kind)
        return mutate.subject(base, subject.descriptor())

    sbom, signature = artifact("application/vnd.example.sbom"), artifact("application/vnd.example.sig")
    for each in (sbom, signature):
        remote.write(f"{embedded.host}/referred@{each.digest()}", each)
    assert remote.list_tags(f"{embedded.host}/referred") == ["v1"]  # no fallback tag: the API answers
    found = remote.referrers(f"{embedded.host}/referred@{subject.digest()}")
    assert {d.digest for d in found.index_manifest().manifests} == {sbom.digest(), signature.digest()}
    only = remote.referrers(f"{embedded.host}/referred@{subject.digest()}", artifact_type="application/vnd.example.sig")
    assert [d.digest for d in only.index_manifest().manifests] == [signature.digest()]


def test_relative_locations_and_the_minimum_chunk(tmp_path: Path) -> None:
    with Registry(chunk_min_length=512 * 1024) as served:
        proxy = FaultProxy("127.0.0.1", int(served.host.rpartition(":")[2]))
        proxy.start()
        try:
            image = mutate.append_layers(empty.image, random.layer(1_500_000, seed=6))
            remote.write(f"{proxy.host}/chunky:v1", image, chunked_threshold=1_000_000, chunk_size=256 * 1024)
            ranges = [r.headers["Content-Range"] for r in proxy.requests("PATCH")]
            assert ranges[:2] == [f"0-{512 * 1024 - 1}", f"{512 * 1024}-{2 * 512 * 1024 - 1}"]
            validate.image(remote.image(f"{proxy.host}/chunky:v1"))
        finally:
            proxy.stop()


def test_disk_storage_survives_a_restart(tmp_path: Path) -> None:
    image = random.image(1000, 2, seed=7)
    with Registry(tmp_path / "store") as served:
        remote.write(f"{served.host}/kept:v1", image)
    with Registry(tmp_path / "store") as again:
        fetched = remote.image(f"{again.host}/kept:v1")
        assert fetched.digest() == image.digest()
        validate.image(fetched)


def test_skopeo_pushes_to_and_pulls_from_it(embedded: Registry, tmp_path: Path) -> None:
    image = mutate.config_media_type(
        mutate.media_type(random.image(3000, 2, seed=8), MediaType.OCI_MANIFEST), MediaType.OCI_CONFIG
    )
    source = Layout(tmp_path / "source")
    source.append_image(image, annotations={REF_NAME: "v1"})
    skopeo.copy(f"oci:{source.path}:v1", f"docker://{embedded.host}/skopeo:v1")
    fetched = remote.image(f"{embedded.host}/skopeo:v1")
    assert fetched.digest() == image.digest()
    validate.image(fetched)
    skopeo.copy(f"docker://{embedded.host}/skopeo:v1", f"oci:{tmp_path / 'pulled'}:v1")
    ((_, pulled),) = Layout(tmp_path / "pulled").images()
    assert pulled.digest() == image.digest()


def test_disk_storage_is_read_within_bounds(tmp_path: Path) -> None:
    """Its own files are read as any input is: a blob is streamed, never read whole to answer a
    HEAD or a ranged GET (a 3 GiB blob, served by a child with 200 MiB); ``state.json`` and the
    manifests it lists are read within their caps, a device or a file grown huge in their
    place refused in a typed error naming it, when the registry starts."""
    store = tmp_path / "store"
    with Registry(store) as served:
        remote.write(f"{served.host}/kept:v1", random.image(100, 1, seed=9))
    data = b"small blob"
    digest = Hash.sha256(data)
    Storage(store).put_blob("kept", digest, data)
    with (store / "blobs" / "sha256" / digest.hex).open("r+b") as grown:
        grown.truncate(HUGE)
    outcome = confined.python(
        textwrap.dedent(f"""
            import urllib.request
            from ocimodel.registry import Registry
            with Registry({str(store)!r}) as served:
                url = f"{{served.url}}/v2/kept/blobs/{digest}"
                with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as answer:
                    print(answer.headers["Content-Length"])
                wanted = urllib.request.Request(url, headers={{"Range": "bytes={HUGE - 4}-"}})
                with urllib.request.urlopen(wanted) as answer:
                    print(answer.status, answer.headers["Content-Range"], answer.read())
        """)
    )
    assert (outcome.returncode, outcome.stderr) == (0, ""), outcome.stderr[-2000:]
    assert outcome.stdout.splitlines() == [str(HUGE), f"206 bytes {HUGE - 4}-{HUGE - 1}/{HUGE} b'\\x00\\x00\\x00\\x00'"]
    with (store / "blobs" / "sha256" / digest.hex).open("r+b") as shrunk:
        shrunk.truncate(len(data))
    manifest = next(path for path in (store / "blobs" / "sha256").iterdir() if path.read_bytes().startswith(b"{"))
    plant(manifest, "huge")
    with pytest.raises(ManifestTooLarge, match=manifest.name):
        Registry(store)
    plant(store / "state.json", "dev-zero")
    with pytest.raises(NotReadable, match=r"state\.json"):
        Registry(store)


def _send(registry: Registry, head: str, body: bytes = b"", *, endless: bytes | None = None) -> bytes:
    """Send a raw request (and, with ``endless``, that chunk for as long as the registry reads);
    what the registry answered, read until it closes the connection."""
    import socket

    with socket.create_connection(("127.0.0.1", registry.port), timeout=10) as connection:
        connection.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
        if endless is not None:
            frame = b"%x\r\n%s\r\n" % (len(endless), endless)
            try:
                for _ in range(10_000):  # 640 MiB at most: far past any cap the test sets
                    connection.sendall(frame)
            except OSError:
                pass  # the registry stopped reading and closed the connection: the point
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except OSError:
            pass
        return answer


def test_what_a_client_sends_is_read_within_caps() -> None:
    with Registry(upload_limit=1 << 20) as small:
        client_post = _send(
            small, f"POST /v2/caps/blobs/uploads/ HTTP/1.1\r\nHost: {small.host}\r\nContent-Length: 0\r\n"
        )
        assert client_post.startswith(b"HTTP/1.1 202"), client_post[:200]
        location = next(
            line.split(b": ", 1)[1].decode()
            for line in client_post.split(b"\r\n")
            if line.lower().startswith(b"location")
        )
        # a declared length over the cap: refused before any of it is read
        said = _send(small, f"PATCH {location} HTTP/1.1\r\nHost: {small.host}\r\nContent-Length: {2 << 20}\r\n")
        assert said.startswith(b"HTTP/1.1 413"), said[:200]
        assert b"SIZE_INVALID" in said
        # an endless chunked body: cut off at the cap, the connection closed
        said = _send(
            small,
            f"PATCH {location} HTTP/1.1\r\nHost: {small.host}\r\nTransfer-Encoding: chunked\r\n",
            endless=b"x" * 65536,
        )
        assert said.startswith(b"HTTP/1.1 413"), said[:200]
        # requests that each fit, but together pass the cap
        piece = b"y" * (600 << 10)
        first = _send(
            small, f"PATCH {location} HTTP/1.1\r\nHost: {small.host}\r\nContent-Length: {len(piece)}\r\n", piece
        )
        assert first.startswith(b"HTTP/1.1 202"), first[:200]
        second = _send(
            small, f"PATCH {location} HTTP/1.1\r\nHost: {small.host}\r\nContent-Length: {len(piece)}\r\n", piece
        )
        assert second.startswith(b"HTTP/1.1 413"), second[:200]
        # a manifest over 4 MiB, whatever the upload cap
        manifest = _send(
            small,
            f"PUT /v2/caps/manifests/v1 HTTP/1.1\r\nHost: {small.host}\r\n"
            f"Content-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {5 << 20}\r\n",
        )
        assert manifest.startswith(b"HTTP/1.1 413"), manifest[:200]
        # bad framing is a 400, not a dropped connection
        framing = _send(
            small, f"PATCH {location} HTTP/1.1\r\nHost: {small.host}\r\nTransfer-Encoding: chunked\r\n", b"zz\r\n"
        )
        assert framing.startswith(b"HTTP/1.1 400"), framing[:200]
        # and what fits still works
        remote.write(f"{small.host}/caps/fits:v1", random.image(1024, 2, seed=3), insecure=True)
