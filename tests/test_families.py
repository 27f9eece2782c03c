"""A layer added to an image takes the media-type family (OCI or Docker) of the image's manifest,
as crane's ``append`` types it; ``validate`` refuses a manifest that mixes the families; umoci,
which refuses such manifests, judges what we write."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from ocimodel import empty, layer, layout, mutate, random, tarball, validate
from ocimodel.compression import Compression, compressor
from ocimodel.errors import UnsupportedMediaType, ValidationError
from ocimodel.image import DescribedLayer, Image
from ocimodel.layer import Layer, StreamLayer
from ocimodel.mediatype import MediaType
from ocimodel.registry import Registry
from tests.test_layer import TAR, make_tar, state

M = MediaType
OCI_EMPTY = mutate.media_type(empty.image, M.OCI_MANIFEST)


def linux(image: Image) -> Image:
    """``image`` with a config umoci can make a runtime bundle of (it wants an OS)."""
    return mutate.config_file(image, attrs.evolve(image.config_file(), os="linux", architecture="amd64"))


OCI_BASE = mutate.media_type(linux(random.image(300, 2, seed=21)), M.OCI_MANIFEST)
DOCKER_BASE = linux(random.image(300, 2, seed=22))

# a layer's media type; what it is in an OCI manifest; in a Docker manifest (None: refused)
COUNTERPARTS = [
    (M.DOCKER_LAYER, M.OCI_LAYER_GZIP, M.DOCKER_LAYER),
    (M.OCI_LAYER_GZIP, M.OCI_LAYER_GZIP, M.DOCKER_LAYER),
    (M.DOCKER_UNCOMPRESSED_LAYER, M.OCI_LAYER, M.DOCKER_UNCOMPRESSED_LAYER),
    (M.OCI_LAYER, M.OCI_LAYER, M.DOCKER_UNCOMPRESSED_LAYER),
    (M.DOCKER_FOREIGN_LAYER, M.OCI_RESTRICTED_LAYER_GZIP, M.DOCKER_FOREIGN_LAYER),
    (M.OCI_RESTRICTED_LAYER_GZIP, M.OCI_RESTRICTED_LAYER_GZIP, M.DOCKER_FOREIGN_LAYER),
    (M.OCI_LAYER_ZSTD, M.OCI_LAYER_ZSTD, None),
    (M.DOCKER_LAYER_ZSTD, M.OCI_LAYER_ZSTD, M.DOCKER_LAYER_ZSTD),
    (M.OCI_RESTRICTED_LAYER, M.OCI_RESTRICTED_LAYER, None),
    (M.OCI_RESTRICTED_LAYER_ZSTD, M.OCI_RESTRICTED_LAYER_ZSTD, None),
    (M("application/spdx+json"), M("application/spdx+json"), M("application/spdx+json")),
]


@pytest.mark.parametrize(("given", "oci", "docker"), COUNTERPARTS)
def test_media_type_counterparts(given: MediaType, oci: MediaType, docker: MediaType | None) -> None:
    assert given.in_family("oci") == oci
    assert given.in_family("docker") == docker
    if given.is_layer():
        assert oci.compression() == given.compression()
        assert oci.is_distributable() is given.is_distributable()
        assert oci.family() == "oci"
        assert docker is None or docker.family() == "docker"


@pytest.mark.parametrize(
    ("media_type", "family"),
    [
        (M.OCI_MANIFEST, "oci"),
        (M.OCI_INDEX, "oci"),
        (M.OCI_CONFIG, "oci"),
        (M.OCI_LAYER_ZSTD, "oci"),
        (M.DOCKER_MANIFEST_SCHEMA2, "docker"),
        (M.DOCKER_MANIFEST_LIST, "docker"),
        (M.DOCKER_CONFIG, "docker"),
        (M.DOCKER_FOREIGN_LAYER, "docker"),
        (M(M.DOCKER_LAYER + "; charset=x"), "docker"),
        (M.DOCKER_MANIFEST_SCHEMA1, None),
        (M.OCI_EMPTY, None),
        (M.OCI_ARTIFACT_MANIFEST, None),
        (M("application/vnd.oci.image.layer.v2.tar"), None),
        (M("application/octet-stream"), None),
    ],
)
def test_media_type_family(media_type: MediaType, family: str | None) -> None:
    assert media_type.family() == family


def typed(media_type: MediaType) -> Layer:
    """A layer of ``media_type`` whose bytes are what that type says."""
    if media_type.is_layer():
        return layer.from_files({"f": b"x" * 100}, media_type=media_type)
    return layer.from_bytes(b"not a tar", media_type=media_type)


@pytest.mark.parametrize(("given", "oci", "docker"), COUNTERPARTS)
@pytest.mark.parametrize("base", [OCI_BASE, DOCKER_BASE, OCI_EMPTY, empty.image], ids=["oci", "docker", "oci0", "d0"])
def test_an_appended_layer_takes_the_manifests_family(
    base: Image, given: MediaType, oci: MediaType, docker: MediaType | None
) -> None:
    added = typed(given)
    image = mutate.append_layers(base, added)
    wanted = oci if base.media_type() == M.OCI_MANIFEST else docker
    if wanted is None:
        with pytest.raises(UnsupportedMediaType, match="cannot go into a Docker manifest"):
            image.manifest()
        return
    descriptor = image.manifest().layers[-1]
    assert (descriptor.media_type, descriptor.digest, descriptor.size) == (wanted, added.digest(), added.size())
    on_top = image.layers()[-1]
    assert on_top.media_type() == wanted
    assert image.layer_by_digest(added.digest()).media_type() == wanted
    assert (on_top is added) is (wanted == given)
    assert image.config_file().rootfs.diff_ids[-1] == added.diff_id()
    if wanted.is_distributable():
        validate.image(image)
    else:
        validate.image(image, fast=True)


def test_a_media_type_given_with_the_layer_is_kept() -> None:
    added = layer.from_files({"f": b"1"})
    image = mutate.append(OCI_BASE, mutate.Addendum(added, media_type=M.DOCKER_LAYER))
    assert image.manifest().layers[-1].media_type == M.DOCKER_LAYER
    with pytest.raises(ValidationError, match=r"layer 2 has docker media type .* in a oci manifest"):
        validate.image(image, fast=True)


def test_a_descriptors_urls_and_annotations_survive_the_new_type() -> None:
    made = layer.from_files({"f": b"1"}, media_type=M.DOCKER_FOREIGN_LAYER)
    described = attrs.evolve(made.descriptor(), urls=("https://example.com/layer",), annotations={"k": "v"})
    foreign = DescribedLayer(described, made.compressed)  # as a layer read from a manifest is
    moved = mutate.append(OCI_BASE, foreign)
    descriptor = moved.manifest().layers[-1]
    assert descriptor.media_type == M.OCI_RESTRICTED_LAYER_GZIP
    assert descriptor.urls == ("https://example.com/layer",)
    assert descriptor.annotations == {"k": "v"}


def test_a_single_pass_layer_stays_one_under_its_new_type() -> None:
    streamed = layer.stream(io.BytesIO(TAR))
    image = mutate.append_layers(OCI_BASE, streamed)
    on_top = image.layers()[-1]
    assert isinstance(on_top, StreamLayer)
    assert on_top.media_type() == M.OCI_LAYER_GZIP
    assert state(on_top) == state(streamed) == (False, False)
    with on_top.compressed() as stream:  # a writer uploads the layers first ...
        stream.read()
    assert state(on_top) == state(streamed) == (True, True)
    assert streamed.digest() == on_top.digest()
    assert image.manifest().layers[-1].digest == streamed.digest()  # ... then the manifest names it
    with pytest.raises(ValueError, match="not compressed as"):
        layer.stream(io.BytesIO(TAR)).retyped(M.OCI_LAYER)
    moved = mutate.media_type(mutate.append_layers(DOCKER_BASE, layer.stream(io.BytesIO(TAR))), M.OCI_MANIFEST)
    assert isinstance(moved.layers()[-1], StreamLayer)
    assert moved.layers()[-1] is moved.layers()[-1]  # writers know a single-pass layer by identity
    assert moved.layers()[-1].media_type() == M.OCI_LAYER_GZIP


def test_a_new_manifest_type_moves_the_layers_and_config_to_its_family() -> None:
    oci = mutate.media_type(DOCKER_BASE, M.OCI_MANIFEST)
    manifest = oci.manifest()
    assert manifest.config.media_type == M.OCI_CONFIG
    assert [d.media_type for d in manifest.layers] == [M.OCI_LAYER_GZIP] * 2
    assert [d.digest for d in manifest.layers] == [d.digest for d in DOCKER_BASE.manifest().layers]
    assert manifest.config.digest == DOCKER_BASE.manifest().config.digest
    assert [each.media_type() for each in oci.layers()] == [M.OCI_LAYER_GZIP] * 2
    validate.image(oci)
    back = mutate.media_type(oci, M.DOCKER_MANIFEST_SCHEMA2)
    assert back.raw_manifest() == DOCKER_BASE.raw_manifest()
    validate.image(back)
    artifact = mutate.config_media_type(DOCKER_BASE, "application/vnd.example.config")
    assert mutate.media_type(artifact, M.OCI_MANIFEST).manifest().config.media_type == "application/vnd.example.config"
    zstd = mutate.append_layers(OCI_EMPTY, layer.from_files({"f": b"1"}, media_type=M.OCI_LAYER_ZSTD))
    with pytest.raises(UnsupportedMediaType, match="tar\\+zstd cannot go into a Docker manifest"):
        mutate.media_type(zstd, M.DOCKER_MANIFEST_SCHEMA2).manifest()


def test_rebase_moves_the_layers_into_the_new_bases_family() -> None:
    old_base = DOCKER_BASE
    original = mutate.append_layers(old_base, layer.from_files({"app": b"1"}))
    rebased = mutate.rebase(original, old_base, OCI_BASE)
    assert [d.media_type for d in rebased.manifest().layers] == [M.OCI_LAYER_GZIP] * 3
    validate.image(rebased)


# ---------------------------------------------------------------------------------------------------
# umoci, the judge: it unpacks an OCI image only if its layers have OCI types


def umoci_unpack(folder: Path, tag: str, bundle: Path) -> subprocess.CompletedProcess[str]:
    assert shutil.which("umoci"), "umoci is not on PATH: run scripts/install-system-deps"
    rootless = [] if os.geteuid() == 0 else ["--rootless"]
    return subprocess.run(
        ["umoci", "unpack", *rootless, "--image", f"{folder}:{tag}", str(bundle)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tagged(folder: Path, image: Image, tag: str) -> None:
    layout.Layout(folder).append_image(image, annotations={"org.opencontainers.image.ref.name": tag})


def test_umoci_unpacks_a_tar_appended_to_an_oci_layout_image(tmp_path: Path) -> None:
    (tmp_path / "app.tar").write_bytes(make_tar({"app/hello.txt": b"hello\n"}))
    base_folder = tmp_path / "base"
    tagged(base_folder, OCI_BASE, "base")
    base = next(image for _, image in layout.Layout(base_folder).images())
    appended = mutate.append_layers(base, layer.from_file(tmp_path / "app.tar"))
    tagged(tmp_path / "out", appended, "fixed")
    done = umoci_unpack(tmp_path / "out", "fixed", tmp_path / "bundle")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bundle" / "rootfs" / "app" / "hello.txt").read_bytes() == b"hello\n"
    # the oracle sees the fault this fixes: the same layer with its Docker type in the OCI manifest
    mixed = mutate.append(base, mutate.Addendum(layer.from_file(tmp_path / "app.tar"), media_type=M.DOCKER_LAYER))
    tagged(tmp_path / "out", mixed, "mixed")
    refused = umoci_unpack(tmp_path / "out", "mixed", tmp_path / "bundle2")
    assert refused.returncode != 0
    assert "blob is not correct mediatype" in refused.stderr


def test_umoci_unpacks_what_ocimodel_append_makes_of_an_oci_image(tmp_path: Path) -> None:
    def cli(*arguments: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "ocimodel", *arguments], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    (tmp_path / "app.tar").write_bytes(make_tar({"app/hello.txt": b"hello\n"}))
    tagged(tmp_path / "base", OCI_BASE, "base")
    with Registry() as served:
        cli("push", str(tmp_path / "base"), f"{served.host}/app:base")
        cli("append", "-b", f"{served.host}/app:base", "-f", str(tmp_path / "app.tar"), "-t", f"{served.host}/app:v1")
        cli("pull", "--format", "oci", f"{served.host}/app:v1", str(tmp_path / "pulled"))
    pulled = next(image for _, image in layout.Layout(tmp_path / "pulled").images())
    assert [d.media_type for d in pulled.manifest().layers] == [M.OCI_LAYER_GZIP] * 3
    entry = layout.Layout(tmp_path / "pulled").image_index().index_manifest().manifests[0]
    tag = entry.annotations.get("org.opencontainers.image.ref.name")
    if tag is None:  # name the entry for umoci
        tagged(tmp_path / "pulled", pulled, tag := "v1")
    done = umoci_unpack(tmp_path / "pulled", tag, tmp_path / "bundle")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bundle" / "rootfs" / "app" / "hello.txt").read_bytes() == b"hello\n"


def test_ocimodel_append_of_a_zstd_tar_without_a_base_makes_an_oci_image(tmp_path: Path) -> None:
    engine = compressor(Compression.ZSTD)
    (tmp_path / "app.tar.zst").write_bytes(engine.compress(TAR) + engine.flush())
    arguments = ["append", "-f", str(tmp_path / "app.tar.zst"), "-t", "x/app:1", "-o", str(tmp_path / "out.tar")]
    done = subprocess.run(
        [sys.executable, "-m", "ocimodel", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    image = tarball.image(tmp_path / "out.tar")
    manifest = image.manifest()
    assert (manifest.media_type, manifest.config.media_type) == (M.OCI_MANIFEST, M.OCI_CONFIG)
    assert [d.media_type for d in manifest.layers] == [M.OCI_LAYER_ZSTD]
    validate.image(image)
