"""docker save tarballs: round trips, classic saves, one scan, atomic writes, interop with skopeo."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import IO

import pytest
from hypothesis import given, settings

from ocimodel import empty, layer, mutate, random, remote, tarball, validate
from ocimodel.errors import DigestMismatch, NoSuchBlob, UnsupportedMediaType
from ocimodel.hashing import Hash
from ocimodel.hypothesis import images
from ocimodel.image import Image, MemoryImage
from ocimodel.mediatype import MediaType
from tests.harness import skopeo
from tests.harness.distribution import DistributionRegistry
from tests.test_layer import OwnCompressedLayer


@settings(max_examples=15)
@given(images())
def test_image_round_trips_through_a_tarball(tmp_path_factory: pytest.TempPathFactory, image: Image) -> None:
    path = tmp_path_factory.mktemp("tarball") / "image.tar"
    tarball.write(path, image, tag="example.com/app:v1")
    read = tarball.image(path)
    assert read.digest() == image.digest()
    validate.image(read)
    assert path.stat().st_size == tarball.size(image, tag="example.com/app:v1")


def test_several_images_and_tags(tmp_path: Path) -> None:
    first, second = random.image(1000, 2, seed=1), random.image(1000, 1, seed=2)
    path = tmp_path / "many.tar"
    tarball.write(path, {"example.com/a:v1": first, "example.com/a:v2": first, "b": second})
    entries = tarball.manifest(path)
    assert sorted(tag for entry in entries for tag in entry.repo_tags) == [
        "b:latest",
        "example.com/a:v1",
        "example.com/a:v2",
    ]
    assert tarball.image(path, "example.com/a:v2").digest() == first.digest()
    assert tarball.image(path, "index.docker.io/library/b:latest").digest() == second.digest()
    with pytest.raises(NoSuchBlob, match="say which"):
        tarball.image(path)
    with pytest.raises(NoSuchBlob, match="no image tagged c; it has: "):
        tarball.image(path, "c")
    with tarfile.open(path) as archive:
        names = [m.name for m in archive]
        repositories = json.loads(archive.extractfile("repositories").read())  # type: ignore[union-attr]
    assert names[-4:] == ["index.json", "oci-layout", "manifest.json", "repositories"]
    assert len(names) == len(set(names))  # every blob once
    assert repositories == {
        "b": {"latest": second.config_name().hex},
        "example.com/a": {"v1": first.config_name().hex, "v2": first.config_name().hex},
    }
    again = tmp_path / "again.tar"
    tarball.write(again, {"b": second, "example.com/a:v2": first, "example.com/a:v1": first})
    assert again.read_bytes() == path.read_bytes()  # deterministic


def classic_save(path: Path, image: Image, tag: str) -> None:
    """A ``docker save`` of the old kind: ``<id>/layer.tar`` (plain tars), ``<hex>.json``, and a
    duplicate layer stored once with a symbolic link to it."""
    with tarfile.open(path, "w") as archive:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        config = image.raw_config_file()
        add(f"{hashlib.sha256(config).hexdigest()}.json", config)
        names = []
        for position, each in enumerate(image.layers()):
            with each.uncompressed() as stream:
                data = stream.read()
            name = f"layer{position}/layer.tar"
            if position == 1:
                link = tarfile.TarInfo(name)
                link.type = tarfile.SYMTYPE
                link.linkname = "../layer0/layer.tar"
                archive.addfile(link)
            else:
                add(name, data)
            names.append(name)
        manifest = [{"Config": f"{hashlib.sha256(config).hexdigest()}.json", "RepoTags": [tag], "Layers": names}]
        add("manifest.json", json.dumps(manifest).encode())


def test_a_classic_docker_save(tmp_path: Path) -> None:
    same = layer.from_files({"twice": b"the same content"})
    image = mutate.append_layers(empty.image, same, same)
    path = tmp_path / "classic.tar"
    classic_save(path, image, "old:1")
    read = tarball.image(path, "old:1")
    assert read.config_file().rootfs.diff_ids == image.config_file().rootfs.diff_ids
    assert read.media_type() == MediaType.DOCKER_MANIFEST_SCHEMA2
    validate.image(read)
    assert [each.diff_id() for each in read.layers()] == [same.diff_id(), same.diff_id()]


def test_reading_one_layer_costs_one_scan(tmp_path: Path) -> None:
    images = [random.image(200_000, 5, seed=s) for s in range(3)]
    path = tmp_path / "big.tar"
    tarball.write(path, {f"r/i:{n}": img for n, img in enumerate(images)})
    counts = {"opens": 0, "bytes": 0}

    def opener() -> IO[bytes]:
        counts["opens"] += 1
        stream = path.open("rb")
        original = stream.read

        def read(size: int = -1) -> bytes:
            data = original(size)
            counts["bytes"] += len(data)
            return data

        stream.read = read  # type: ignore[method-assign, assignment]
        return stream

    wanted = tarball.image(opener, "r/i:1")
    with wanted.layers()[2].compressed() as stream:
        content = stream.read()
    assert Hash.sha256(content) == images[1].manifest().layers[2].digest
    total = path.stat().st_size
    assert counts["bytes"] < total / 2  # headers once, then only what was asked for
    assert counts["opens"] <= 8  # the scan, manifest.json, index.json, manifests, config, the layer


def test_compressed_tarballs_and_pipes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    tarball.write(path, random.image(100, 1, seed=4), tag="x:1")
    squeezed = tmp_path / "image.tar.gz"
    squeezed.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(UnsupportedMediaType, match="decompress it first"):
        tarball.image(squeezed)


def test_writing_to_a_stream_and_atomically_to_a_path(tmp_path: Path) -> None:
    image = random.image(1000, 2, seed=5)
    piped = io.BytesIO()
    tarball.write(piped, image, tag="x:1")
    tarball.write(tmp_path / "x.tar", image, tag="x:1")
    assert piped.getvalue() == (tmp_path / "x.tar").read_bytes()

    good = random.image(100, 1, seed=6)
    with good.layers()[0].compressed() as stream:
        packed = stream.read()
    broken = OwnCompressedLayer(packed[:-1] + bytes([packed[-1] ^ 1]), claimed=packed)
    stored = MemoryImage(good.raw_manifest(), good.raw_config_file(), [broken])
    with pytest.raises(DigestMismatch):
        tarball.write(tmp_path / "broken.tar", stored, tag="x:1")
    assert not (tmp_path / "broken.tar").exists()
    assert list(tmp_path.glob("*.partial")) == []


def test_foreign_layers_keep_their_sources(tmp_path: Path) -> None:
    foreign = random.layer(100, seed=7)
    image = mutate.append(
        random.image(100, 1, seed=8),
        mutate.Addendum(foreign, media_type=MediaType.DOCKER_FOREIGN_LAYER, urls=["https://example.com/layer"]),
    )
    path = tmp_path / "foreign.tar"
    tarball.write(path, image, tag="x:1")
    (entry,) = tarball.manifest(path)
    (source,) = entry.layer_sources.values()
    assert source["urls"] == ["https://example.com/layer"]
    assert source["mediaType"] == MediaType.DOCKER_FOREIGN_LAYER


def test_remote_to_tarball_and_back(registry: DistributionRegistry, tmp_path: Path) -> None:
    image = random.image(3000, 2, seed=9)
    remote.write(f"{registry.host}/tarball/src:v1", image)
    path = tmp_path / "pulled.tar"
    tarball.write(path, remote.image(f"{registry.host}/tarball/src:v1"), tag=f"{registry.host}/tarball/src:v1")
    remote.write(f"{registry.host}/tarball/dst:v1", tarball.image(path))
    assert remote.head(f"{registry.host}/tarball/dst:v1").digest == image.digest()


def test_skopeo_reads_ours_and_we_read_skopeo_s(registry: DistributionRegistry, tmp_path: Path) -> None:
    image = random.image(3000, 2, seed=10)
    ours = tmp_path / "ours.tar"
    tarball.write(ours, image, tag="example.com/ours:v1")
    skopeo.copy(f"docker-archive:{ours}", f"oci:{tmp_path / 'layout'}:v1", "--preserve-digests")
    layout_index = json.loads((tmp_path / "layout" / "index.json").read_text())
    manifest_digest = Hash.parse(layout_index["manifests"][0]["digest"])
    copied = json.loads((tmp_path / "layout" / "blobs" / "sha256" / manifest_digest.hex).read_text())
    # docker-archive names layers by content: skopeo hands them on uncompressed, so their digests are our diff_ids
    assert [entry["digest"] for entry in copied["layers"]] == [str(d) for d in image.config_file().rootfs.diff_ids]
    assert copied["config"]["digest"] == str(image.config_name())
    remote.write(f"{registry.host}/tarball/skopeo:v1", image)
    theirs = tmp_path / "theirs.tar"
    skopeo.copy(f"docker://{registry.host}/tarball/skopeo:v1", f"docker-archive:{theirs}:example.com/theirs:v1")
    read = tarball.image(theirs, "example.com/theirs:v1")
    validate.image(read)
    assert read.config_file() == image.config_file()
    assert [d.digest for d in read.manifest().layers] == [d.digest for d in image.manifest().layers]


def test_a_legacy_save_with_only_repositories(tmp_path: Path) -> None:
    first = layer.from_files({"bin/sh": b"shell"})
    second = layer.from_files({"etc/motd": b"hello"})
    path = tmp_path / "legacy.tar"
    with tarfile.open(path, "w") as archive:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        for identifier, parent, made in (("a" * 64, None, first), ("b" * 64, "a" * 64, second)):
            with made.uncompressed() as stream:
                add(f"{identifier}/layer.tar", stream.read())
            add(f"{identifier}/VERSION", b"1.0")
            described: dict[str, object] = {"id": identifier, "created": "2015-01-02T03:04:05Z", "os": "linux"}
            described["architecture"] = "amd64"
            described |= {"config": {"Cmd": ["sh"]}, "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ADD"]}}
            if parent:
                described["parent"] = parent
            add(f"{identifier}/json", json.dumps(described).encode())
        add("repositories", json.dumps({"old/app": {"v1": "b" * 64}}).encode())
    read = tarball.image(path, "old/app:v1")
    config = read.config_file()
    assert config.rootfs.diff_ids == (first.diff_id(), second.diff_id())
    assert config.config.cmd == ("sh",)
    assert [h.created_by for h in config.history] == ["/bin/sh -c #(nop) ADD"] * 2
    validate.image(read)
    assert tarball.image(path).digest() == read.digest()


def test_a_layer_from_a_tar_file(tmp_path: Path) -> None:
    made = layer.from_files({"a": b"1"})
    with made.uncompressed() as stream:
        (tmp_path / "layer.tar").write_bytes(stream.read())
    assert tarball.layer(tmp_path / "layer.tar").diff_id() == made.diff_id()
