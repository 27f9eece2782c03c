"""docker save tarballs as docker versions write them: two descriptions reconciled, descriptors
kept, empty layers read, broken files refused with typed errors.

- Docker 25+ writes an OCI layout beside ``manifest.json``; 25.0.0 wrote the OCI manifest's layers
  out of order (moby/moby#47150), its siblings with no layers (#47065) or wrong sizes (#47072).
  When the two disagree, the image follows ``manifest.json`` and the config (docker load,
  go-containerregistry, skopeo) and the reason is logged at DEBUG.
- A classic save keeps foreign layers uncompressed in ``layer.tar`` with their descriptor in
  ``LayerSources`` (jib#2288, rules_docker#2099): the descriptor is kept whole, the content read
  from the file and verified by diff_id.
- A 0-byte ``layer.tar`` is an empty layer (moby/moby#18226, rules_docker#685).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ocimodel import layer, layout, mutate, remote, tarball, validate
from ocimodel.errors import BadJSONError, BadLayerError, DigestMismatch, NoSuchBlob, OCIError
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.mediatype import MediaType
from tests.harness.distribution import DistributionRegistry

URL = "https://example.invalid/windows/servercore/base-layer"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o755, 1_700_000_000
            archive.addfile(info, io.BytesIO(content))
    return out.getvalue()


def write_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


# Layer 3 replaces bin/tool from layer 1, so the order decides the filesystem.
LAYERS = [
    tar_of([("etc/motd", b"base\n"), ("bin/tool", b"v1\n")]),
    tar_of([("app/run", b"#!/bin/sh\n")]),
    tar_of([("bin/tool", b"v2\n")]),
]
DIFF_IDS = [sha(each) for each in LAYERS]


def config_of(diff_ids: list[str], os: str = "linux") -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": os,
            "config": {"Cmd": ["/app/run"]},
            "created": "2024-01-24T10:11:12.123456789Z",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"step {n}"} for n in range(len(diff_ids))],
        }
    ).encode()


Edit = Callable[[dict[str, Any]], None]


def docker25_files(
    layers: list[bytes] = LAYERS, *, edit: Edit | None = None, every_source: bool = True
) -> dict[str, bytes]:
    """A Docker 25 ``docker save``: uncompressed layers and the config as blobs, an OCI manifest
    (changed by ``edit``, as 25.0.0's faults changed it) and index.json, manifest.json with
    ``LayerSources`` (for every layer, as Docker 25 writes them, or none), oci-layout, repositories."""
    config = config_of([sha(each) for each in layers])
    descriptors = [{"mediaType": MediaType.OCI_LAYER, "digest": sha(each), "size": len(each)} for each in layers]
    manifest_json: dict[str, Any] = {"config": {}, "layers": [dict(d) for d in descriptors]}
    manifest_json["config"] = {"mediaType": MediaType.OCI_CONFIG, "digest": sha(config), "size": len(config)}
    manifest_json = {"schemaVersion": 2, "mediaType": MediaType.OCI_MANIFEST, **manifest_json}
    if edit is not None:
        edit(manifest_json)
    manifest = json.dumps(manifest_json).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": MediaType.OCI_INDEX,
        "manifests": [
            {
                "mediaType": MediaType.OCI_MANIFEST,
                "digest": sha(manifest),
                "size": len(manifest),
                "annotations": {"io.containerd.image.name": "docker.io/library/app:1"},
            }
        ],
    }
    entry: dict[str, Any] = {
        "Config": "blobs/" + sha(config).replace(":", "/"),
        "RepoTags": ["app:1"],
        "Layers": ["blobs/" + sha(each).replace(":", "/") for each in layers],
    }
    if every_source:
        entry["LayerSources"] = {d["digest"]: d for d in descriptors}
    files = {"blobs/" + sha(each).replace(":", "/"): each for each in layers}
    files["blobs/" + sha(config).replace(":", "/")] = config
    files["blobs/" + sha(manifest).replace(":", "/")] = manifest
    files["index.json"] = json.dumps(index).encode()
    files["manifest.json"] = json.dumps([entry]).encode()
    files["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    files["repositories"] = json.dumps({"app": {"1": hashlib.sha256(layers[-1]).hexdigest()}}).encode()
    return files


def oci_manifest_digest(files: dict[str, bytes]) -> str:
    return str(json.loads(files["index.json"])["manifests"][0]["digest"])


def flattened(image: Image) -> dict[str, bytes]:
    with mutate.extract(image) as stream:
        data = stream.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}  # type: ignore[union-attr]


def test_a_docker_25_save_whose_two_descriptions_agree_keeps_its_oci_manifest(tmp_path: Path) -> None:
    for every_source in (True, False):
        files = docker25_files(every_source=every_source)
        image = tarball.image(write_tar(tmp_path / "agree.tar", files))
        assert str(image.digest()) == oci_manifest_digest(files)
        assert [str(each.diff_id()) for each in image.layers()] == DIFF_IDS
        validate.image(image)
        assert flattened(image)["bin/tool"] == b"v2\n"


def _shuffle(manifest: dict[str, Any]) -> None:
    layers = manifest["layers"]
    manifest["layers"] = [layers[2], layers[0], layers[1]]


def _swap_last_two(manifest: dict[str, Any]) -> None:
    layers = manifest["layers"]
    layers[1], layers[2] = layers[2], layers[1]


def _no_layers(manifest: dict[str, Any]) -> None:
    manifest["layers"] = []


def _one_layer_short(manifest: dict[str, Any]) -> None:
    manifest["layers"] = manifest["layers"][:2]


def _wrong_size(manifest: dict[str, Any]) -> None:
    manifest["layers"][1]["size"] += 7


def _other_config(manifest: dict[str, Any]) -> None:
    other = config_of(DIFF_IDS, os="windows")
    manifest["config"] = {"mediaType": MediaType.OCI_CONFIG, "digest": sha(other), "size": len(other)}


def _absent_blob(manifest: dict[str, Any]) -> None:
    manifest["layers"][0] = {"mediaType": MediaType.OCI_LAYER_GZIP, "digest": sha(b"elsewhere"), "size": 9}


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_shuffle, "layer 0: the OCI manifest names"),  # Docker 25.0.0, moby/moby#47150
        (_swap_last_two, "layer 1: the OCI manifest names"),
        (_no_layers, "the OCI manifest lists 0 layers, manifest.json 3"),  # moby/moby#47065
        (_one_layer_short, "the OCI manifest lists 2 layers"),
        (_wrong_size, "layer 1: blobs/sha256/"),  # moby/moby#47072
        (_other_config, "the OCI manifest's config is"),
        (_absent_blob, "layer 0: the OCI manifest names"),
    ],
    ids=["shuffled", "swapped", "no-layers", "short", "wrong-size", "other-config", "absent-blob"],
)
def test_when_the_two_descriptions_disagree_manifest_json_and_the_config_win(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, edit: Edit, reason: str
) -> None:
    files = docker25_files(edit=edit)
    with caplog.at_level(logging.DEBUG, logger="ocimodel.tarball"):
        image = tarball.image(write_tar(tmp_path / "disagree.tar", files))
    assert [str(each.diff_id()) for each in image.layers()] == DIFF_IDS
    assert str(image.digest()) != oci_manifest_digest(files)
    validate.image(image)
    assert flattened(image)["bin/tool"] == b"v2\n"
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "ocimodel.tarball"]
    assert "disagrees with manifest.json" in logged
    assert reason in logged
    oracle = subprocess.run(
        ["skopeo", "inspect", "--raw", f"docker-archive:{tmp_path / 'disagree.tar'}"], capture_output=True, check=True
    )
    assert [d["digest"] for d in json.loads(oracle.stdout)["layers"]] == DIFF_IDS  # skopeo's docker-archive agrees


def test_layer_sources_that_disagree_with_the_oci_manifest_are_a_disagreement(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = docker25_files()
    entries = json.loads(files["manifest.json"])
    entries[0]["LayerSources"][DIFF_IDS[1]]["digest"] = DIFF_IDS[2]
    files["manifest.json"] = json.dumps(entries).encode()
    with caplog.at_level(logging.DEBUG, logger="ocimodel.tarball"):
        image = tarball.image(write_tar(tmp_path / "sources.tar", files))
    assert str(image.digest()) != oci_manifest_digest(files)
    assert f"LayerSources[{DIFF_IDS[1]}] {DIFF_IDS[2]}" in caplog.text


def test_the_config_is_read_from_manifest_json_as_docker_load_reads_it(tmp_path: Path) -> None:
    """When the two sides agree, the config still comes from manifest.json's file: a damaged copy
    of it among the OCI blobs, which docker load never reads, changes nothing."""
    files = docker25_files()
    entry = json.loads(files["manifest.json"])[0]
    config_blob = entry["Config"]
    config = files[config_blob]
    entry["Config"] = config_blob.rpartition("/")[2] + ".json"
    files[entry["Config"]] = config
    files[config_blob] = config.replace(b"amd64", b"arm64")  # same length, other bytes
    files["manifest.json"] = json.dumps([entry]).encode()
    image = tarball.image(write_tar(tmp_path / "config.tar", files))
    assert str(image.digest()) == oci_manifest_digest(files)  # the OCI manifest kept: they agree
    assert image.raw_config_file() == config
    validate.image(image)


def test_a_save_whose_oci_side_names_another_image_is_followed_by_manifest_json_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = docker25_files(edit=_other_config)
    index = json.loads(files["index.json"])
    del index["manifests"][0]["annotations"]  # nothing names the image: no OCI manifest relates to it
    files["index.json"] = json.dumps(index).encode()
    with caplog.at_level(logging.DEBUG, logger="ocimodel.tarball"):
        image = tarball.image(write_tar(tmp_path / "unrelated.tar", files))
    assert str(image.digest()) != oci_manifest_digest(files)
    assert [str(each.diff_id()) for each in image.layers()] == DIFF_IDS
    assert "none of the 1 OCI manifests in index.json has manifest.json's config" in caplog.text


def test_a_layer_that_is_not_its_diff_id_is_named_by_its_file(tmp_path: Path) -> None:
    files = classic_files([LAYERS[0], LAYERS[1]])
    entry = json.loads(files["manifest.json"])[0]
    damaged = entry["Layers"][1]
    files[damaged] = files[damaged].replace(b"#!/bin/sh", b"#!/bin/zz")
    image = tarball.image(write_tar(tmp_path / "damaged.tar", files))
    with pytest.raises(DigestMismatch, match=rf"damaged\.tar: {damaged}"):
        validate.image(image)


@pytest.mark.parametrize(
    "breakage",
    ["index.json is not JSON", "manifest blob does not match its digest", "manifest blob is not a manifest"],
)
def test_a_broken_oci_side_is_ignored_as_docker_load_ignores_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, breakage: str
) -> None:
    files = docker25_files()
    manifest_path = "blobs/" + oci_manifest_digest(files).replace(":", "/")
    if breakage == "index.json is not JSON":
        files["index.json"] = b"{not json"
    elif breakage == "manifest blob does not match its digest":
        files[manifest_path] = files[manifest_path].replace(b'"schemaVersion": 2', b'"schemaVersion":2')
    else:
        not_a_manifest = b'{"schemaVersion": "two"}'
        index = json.loads(files["index.json"])
        index["manifests"][0] |= {"digest": sha(not_a_manifest), "size": len(not_a_manifest)}
        files["index.json"] = json.dumps(index).encode()
        files["blobs/" + sha(not_a_manifest).replace(":", "/")] = not_a_manifest
    with caplog.at_level(logging.DEBUG, logger="ocimodel.tarball"):
        image = tarball.image(write_tar(tmp_path / "broken-oci.tar", files))
    assert [str(each.diff_id()) for each in image.layers()] == DIFF_IDS
    validate.image(image)
    assert "not used" in caplog.text


# ------------------------------------------------------------------ classic saves, foreign and empty layers

FOREIGN_BASE = tar_of([("Files/Windows/System32/kernel32.dll", b"MZ base layer\n"), ("Hives/SOFTWARE_BASE", b"regf")])
TOP = tar_of([("Files/app/app.exe", b"MZ app\n")])


def classic_files(layers: list[bytes], sources: dict[str, dict[str, Any]] | None = None) -> dict[str, bytes]:
    """A docker save of versions 1.10 to 24: ``<id>/layer.tar`` (uncompressed, even foreign layers),
    ``<id>/json``, ``<id>/VERSION``, ``<config hex>.json`` and manifest.json."""
    config = config_of([sha(each) for each in layers], os="windows")
    files: dict[str, bytes] = {}
    ids = [hashlib.sha256(b"v1 %d" % n).hexdigest() for n in range(len(layers))]
    for identifier, content in zip(ids, layers, strict=True):
        files[f"{identifier}/VERSION"] = b"1.0"
        files[f"{identifier}/json"] = json.dumps({"id": identifier}).encode()
        files[f"{identifier}/layer.tar"] = content
    files[sha(config)[7:] + ".json"] = config
    entry: dict[str, Any] = {
        "Config": sha(config)[7:] + ".json",
        "RepoTags": ["example.invalid/winapp:1"],
        "Layers": [f"{i}/layer.tar" for i in ids],
    }
    if sources:
        entry["LayerSources"] = sources
    files["manifest.json"] = json.dumps([entry]).encode()
    return files


def foreign_source(media_type: str, **extra: Any) -> dict[str, Any]:
    packed = gzip.compress(FOREIGN_BASE, mtime=0)  # what the registry holds: not in the tarball
    return {"mediaType": media_type, "size": len(packed), "digest": sha(packed), "urls": [URL], **extra}


@pytest.mark.parametrize(
    "source",
    [
        foreign_source(MediaType.DOCKER_FOREIGN_LAYER),  # jib#2288: a Windows base layer
        foreign_source(MediaType.OCI_RESTRICTED_LAYER_GZIP, annotations={"org.example/os": "windows"}),
        foreign_source(MediaType.OCI_RESTRICTED_LAYER_ZSTD, **{"x-unknown": {"kept": [1, True]}}),
        foreign_source(MediaType.DOCKER_FOREIGN_LAYER, urls=[URL, URL + "-mirror"], artifactType="a/b"),
    ],
    ids=["docker-foreign", "oci-nondistributable-annotated", "zstd-unknown-field", "two-urls"],
)
def test_a_foreign_layer_keeps_its_descriptor_and_reads_its_content_from_layer_tar(
    tmp_path: Path, source: dict[str, Any]
) -> None:
    files = classic_files([FOREIGN_BASE, TOP], {sha(FOREIGN_BASE): source})
    image = tarball.image(write_tar(tmp_path / "windows.tar", files))
    described = json.loads(image.raw_manifest())["layers"][0]
    assert described == source  # whole: urls, annotations, fields ocimodel does not model
    base = image.layers()[0]
    assert (base.media_type(), str(base.digest()), base.size()) == (
        source["mediaType"],
        source["digest"],
        source["size"],
    )
    validate.image(image, fast=True)
    assert "Files/Windows/System32/kernel32.dll" in flattened(image)
    with pytest.raises(NoSuchBlob, match="uncompressed only"), base.compressed() as stream:
        stream.read()


def test_a_foreign_layer_whose_content_is_not_its_diff_id_is_refused(tmp_path: Path) -> None:
    files = classic_files([FOREIGN_BASE, TOP], {sha(FOREIGN_BASE): foreign_source(MediaType.DOCKER_FOREIGN_LAYER)})
    base_path = next(name for name, content in files.items() if content == FOREIGN_BASE)
    files[base_path] = tar_of([("Files/Windows/System32/kernel32.dll", b"MZ tampered\n")])
    image = tarball.image(write_tar(tmp_path / "tampered.tar", files))
    with pytest.raises(DigestMismatch), mutate.extract(image) as stream:
        stream.read()


def test_a_foreign_layer_we_compress_alike_gives_its_compressed_bytes(tmp_path: Path) -> None:
    ours = layer.from_bytes(FOREIGN_BASE, media_type=MediaType.DOCKER_FOREIGN_LAYER)
    source = {"mediaType": MediaType.DOCKER_FOREIGN_LAYER, "size": ours.size(), "digest": str(ours.digest())}
    image = tarball.image(
        write_tar(tmp_path / "alike.tar", classic_files([FOREIGN_BASE, TOP], {sha(FOREIGN_BASE): source}))
    )
    validate.layer(image.layers()[0])


def test_foreign_layers_survive_tarball_layout_and_tarball_again(tmp_path: Path) -> None:
    source = foreign_source(MediaType.DOCKER_FOREIGN_LAYER, annotations={"k": "v"})
    image = tarball.image(
        write_tar(tmp_path / "in.tar", classic_files([FOREIGN_BASE, TOP], {sha(FOREIGN_BASE): source}))
    )
    again_path = tmp_path / "again.tar"
    tarball.write(again_path, image, tag="example.invalid/winapp:1")
    (entry,) = tarball.manifest(again_path)
    assert entry.layers[0] == "blobs/" + sha(FOREIGN_BASE).replace(":", "/")  # uncompressed, as docker saves it
    assert entry.layer_sources[sha(FOREIGN_BASE)] == source
    again = tarball.image(again_path)
    assert again.digest() == image.digest()  # its OCI manifest agrees with manifest.json
    assert json.loads(again.raw_manifest())["layers"][0] == source
    assert "Files/Windows/System32/kernel32.dll" in flattened(again)
    place = layout.Layout(tmp_path / "layout")
    place.append_image(again)
    (_, stored), *_ = list(place.images())
    assert json.loads(stored.raw_manifest())["layers"][0] == source
    assert not place.has(Hash.parse(source["digest"]))  # a foreign blob is not copied


@pytest.mark.registry
def test_a_zero_byte_layer_tar_is_an_empty_layer(tmp_path: Path, registry: DistributionRegistry) -> None:
    files = classic_files([tar_of([("hello.txt", b"hello\n")]), b""])
    image = tarball.image(write_tar(tmp_path / "zero.tar", files))
    validate.image(image)
    assert list(flattened(image)) == ["hello.txt"]
    assert image.layers()[1].diff_id() == Hash.sha256(b"")
    with image.layers()[1].uncompressed() as stream:
        assert stream.read() == b""
    remote.write(f"{registry.host}/saves/zero:1", image)  # the empty layer is gzip'd: an empty gzip stream
    pulled = remote.image(f"{registry.host}/saves/zero:1")
    validate.image(pulled)
    assert list(flattened(pulled)) == ["hello.txt"]


def test_a_classic_save_with_gzipped_layer_files(tmp_path: Path) -> None:
    """go-containerregistry's tarball.Write: classic shape, layer files compressed and named by digest."""
    files = classic_files([LAYERS[0], LAYERS[2]])
    for name in [name for name in files if name.endswith("/layer.tar")]:
        files[name] = gzip.compress(files[name], mtime=0)
    image = tarball.image(write_tar(tmp_path / "ggcr.tar", files))
    validate.image(image)
    assert [d.media_type for d in image.manifest().layers] == [MediaType.DOCKER_LAYER] * 2
    assert flattened(image)["bin/tool"] == b"v2\n"


def test_a_zero_byte_layer_in_a_docker_25_save_and_a_legacy_one(tmp_path: Path) -> None:
    files = docker25_files([LAYERS[0], b""])
    image = tarball.image(write_tar(tmp_path / "zero25.tar", files))
    assert str(image.digest()) == oci_manifest_digest(files)
    validate.image(image)
    assert sorted(flattened(image)) == ["bin/tool", "etc/motd"]
    legacy: dict[str, bytes] = {}
    for identifier, parent, content in (("a" * 64, None, LAYERS[0]), ("b" * 64, "a" * 64, b"")):
        legacy[f"{identifier}/layer.tar"] = content
        legacy[f"{identifier}/json"] = json.dumps({"id": identifier, "os": "linux", "parent": parent}).encode()
    legacy["repositories"] = json.dumps({"old": {"v1": "b" * 64}}).encode()
    old = tarball.image(write_tar(tmp_path / "legacy.tar", legacy))
    validate.image(old)
    assert sorted(flattened(old)) == ["bin/tool", "etc/motd"]
    assert b'"created":null' not in old.raw_config_file()


# ------------------------------------------------------------------ broken tarballs: typed errors naming the file


def _cut(data: bytes, at: int) -> bytes:
    return data[:at]


def _garbage_header(data: bytes, at: int) -> bytes:
    return data[:at] + b"\x01" * 512 + data[at + 512 :]


@pytest.mark.parametrize(
    ("breakage", "at", "message"),
    [
        (_cut, 0, "not a readable tar, before its first entry"),
        (_cut, 100, "not a readable tar, before its first entry"),
        (_cut, 1024 + 100, "cut short inside the header after entry"),
        (_cut, 512 + 2, "not a readable tar, after entry"),  # inside the first entry's content
        (_garbage_header, 1024, "corrupt header after entry"),
    ],
    ids=["empty-file", "first-header", "second-header", "first-content", "garbage-header"],
)
def test_a_broken_tarball_is_a_layer_error_naming_the_file_and_entry(
    tmp_path: Path, breakage: Callable[[bytes, int], bytes], at: int, message: str
) -> None:
    good = write_tar(tmp_path / "good.tar", {"VERSION": b"1.0", **classic_files([LAYERS[0]])}).read_bytes()
    path = tmp_path / "broken.tar"
    path.write_bytes(breakage(good, at))
    with pytest.raises(BadLayerError, match=f"^{path}: .*{message}"):
        tarball.image(path)


@pytest.mark.parametrize(
    ("manifest_json", "problem"),
    [
        (b"[{", "not valid JSON"),
        (b"{}", "$: expected an array of images"),
        (b'[{"Config": 3}]', "$[0]: expected an object with a Config path"),
        (b'[{"Config": "c.json", "Layers": "a/layer.tar"}]', "$[0].Layers: expected an array of paths"),
        (b'[{"Config": "c.json", "RepoTags": [1]}]', "$[0].RepoTags: expected an array of names"),
        (b'[{"Config": "c.json", "LayerSources": []}]', "$[0].LayerSources: expected an object"),
    ],
)
def test_a_bad_manifest_json_is_a_json_error_naming_it(tmp_path: Path, manifest_json: bytes, problem: str) -> None:
    path = write_tar(tmp_path / "bad.tar", {"manifest.json": manifest_json})
    with pytest.raises(BadJSONError, match=f"manifest.json of {path}") as raised:
        tarball.image(path)
    assert problem in str(raised.value)


def test_bad_layer_sources_and_configs_are_json_errors_naming_them(tmp_path: Path) -> None:
    files = classic_files([FOREIGN_BASE], {sha(FOREIGN_BASE): {"mediaType": MediaType.DOCKER_FOREIGN_LAYER}})
    with pytest.raises(BadJSONError, match=r"LayerSources\['sha256:[0-9a-f]+'\]\.size: required field missing"):
        tarball.image(write_tar(tmp_path / "sources.tar", files)).layers()
    files = classic_files([FOREIGN_BASE])
    config_name = next(name for name in files if name.endswith(".json") and "/" not in name and name != "manifest.json")
    files[config_name] = b'{"rootfs": {"diff_ids": "no"}}'
    path = write_tar(tmp_path / "config.tar", files)
    with pytest.raises(BadJSONError, match=f"image config {path}: {config_name}") as raised:
        tarball.image(path).layers()
    assert isinstance(raised.value, OCIError)
