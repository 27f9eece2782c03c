"""Subclasses of Image, ImageIndex and Layer may return plain values from their hooks (a ``str``
media type or digest, a ``str`` or ``dict`` manifest, ``bytes`` or chunks for a stream, a tuple of
layers): the base class normalises them where the subclass is made, so everything that reads
them (derived methods, writers, validate) works, and a value that cannot stand for its type is
named with its method instead of failing deep inside."""

from __future__ import annotations

import gzip
import hashlib
import inspect
import io
import json
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from ocimodel import (
    Hash,
    Image,
    ImageIndex,
    Layer,
    Manifest,
    MediaType,
    Platform,
    UncompressedLayer,
    layout,
    mutate,
    remote,
    tarball,
    validate,
)
from ocimodel import hypothesis as oh
from ocimodel._hooks import IMAGE_HOOKS, LAYER_HOOKS, MANIFESTED_HOOKS, document
from ocimodel.errors import BadDigestError, BadReturnValue, NoSuchBlob, OCIError
from ocimodel.image import SynthesisedImage, UncompressedImage
from ocimodel.registry import Registry
from tests.harness import skopeo
from tests.harness.distribution import DistributionRegistry

OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _tar(path: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        member = tarfile.TarInfo(path)
        member.size = len(content)
        archive.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


GREETING_TAR = _tar("etc/greeting", b"hello\n")
GREETING_GZ = gzip.compress(GREETING_TAR, mtime=0)
TOOL_TAR = _tar("bin/tool", b"#!/bin/sh\necho tool\n")


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# The subclasses a user would write, returning the plain values a user would return. The
# `type: ignore[override]` marks are what a type checker says of such a subclass: the declared
# types stay the normalised ones, which is what every caller sees.


class PlainLayer(Layer):
    """The compressed core, all plain: digest as text, the bytes themselves, a str media type."""

    def digest(self) -> str:  # type: ignore[override]
        return _sha256(GREETING_GZ)

    def size(self) -> int:
        return len(GREETING_GZ)

    def open_compressed(self) -> bytes:  # type: ignore[override]
        return GREETING_GZ

    def media_type(self) -> str:  # type: ignore[override]
        return OCI_GZIP


class PlainUncompressedLayer(UncompressedLayer):
    """The uncompressed core: a generator of chunks, a str media type, the diff_id as text."""

    def open_uncompressed(self) -> Iterator[bytes]:  # type: ignore[override]
        for start in range(0, len(TOOL_TAR), 1000):
            yield TOOL_TAR[start : start + 1000]

    def media_type(self) -> str:  # type: ignore[override]
        return OCI_GZIP

    def known_diff_id(self) -> str:  # type: ignore[override]
        return _sha256(TOOL_TAR)


class PlainZstdLayer(PlainUncompressedLayer):
    """The same, compressed with zstd (umoci 0.4 cannot read it, so it stays out of the images)."""

    def media_type(self) -> str:  # type: ignore[override]
        return OCI_ZSTD


def _config(layers: list[Layer], cmd: str) -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(each.diff_id()) for each in layers]},
        "config": {"Cmd": [cmd]},
    }


class PlainImage(Image):
    """The compressed core: the config as a dict, the manifest as JSON text, a str media type."""

    def __init__(self) -> None:
        self._layers: list[Layer] = [PlainLayer(), PlainUncompressedLayer()]

    def raw_config_file(self) -> dict[str, Any]:  # type: ignore[override]
        return _config(self._layers, "/bin/tool")

    def raw_manifest(self) -> str:  # type: ignore[override]
        config = self.raw_config_file_bytes()
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "size": len(config),
                    "digest": _sha256(config),
                },
                "layers": [
                    {"mediaType": each.media_type(), "size": each.size(), "digest": str(each.digest())}
                    for each in self._layers
                ],
            }
        )

    def raw_config_file_bytes(self) -> bytes:
        seen: Image = self  # as the base class sees it: the dict above, as JSON bytes
        return seen.raw_config_file()

    def media_type(self) -> str:  # type: ignore[override]
        return OCI_MANIFEST

    def layer_by_digest(self, digest: Hash) -> Layer:
        for each in self._layers:
            if each.digest() == digest:
                return each
        raise NoSuchBlob(f"no layer {digest}")


class PlainSynthesisedImage(SynthesisedImage):
    """Layers as a tuple, the config as JSON text, a str media type."""

    def layers(self) -> tuple[Layer, ...]:  # type: ignore[override]
        return (PlainLayer(), PlainUncompressedLayer())

    def raw_config_file(self) -> str:  # type: ignore[override]
        return json.dumps(_config([PlainLayer(), PlainUncompressedLayer()], "/bin/sh"))

    def media_type(self) -> str:  # type: ignore[override]
        return OCI_MANIFEST


class PlainUncompressedImage(UncompressedImage):
    """The uncompressed core: the config as bytearray, a str media type."""

    def raw_config_file(self) -> bytearray:  # type: ignore[override]
        return bytearray(json.dumps(_config([PlainUncompressedLayer()], "/bin/true")).encode())

    def layer_by_diff_id(self, diff_id: Hash) -> Layer:
        return PlainUncompressedLayer()

    def media_type(self) -> str:  # type: ignore[override]
        return OCI_MANIFEST


class PlainIndex(ImageIndex):
    """The index as a dict, a str media type."""

    def __init__(self, *images: Image) -> None:
        self._images = {each.digest(): each for each in images}

    def raw_manifest(self) -> dict[str, Any]:  # type: ignore[override]
        entries = [
            {
                "mediaType": each.media_type(),
                "size": each.size(),
                "digest": str(digest),
                "platform": {"architecture": "amd64", "os": "linux"},
            }
            for digest, each in self._images.items()
        ]
        return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}

    def media_type(self) -> str:  # type: ignore[override]
        return OCI_INDEX

    def image(self, digest: Hash) -> Image:
        return self._images[digest]

    def image_index(self, digest: Hash) -> ImageIndex:
        raise NoSuchBlob(f"no index {digest}")


def _images() -> list[Image]:
    return [
        PlainImage(),
        PlainSynthesisedImage(),
        PlainUncompressedImage(),
        mutate.config(PlainImage(), cmd=["/bin/other"], env=["A=1"]),
    ]


def test_hooks_give_the_declared_types_to_every_reader() -> None:
    # Seen as the base classes, as every reader sees them.
    plain: Layer = PlainLayer()
    stream_layer: Layer = PlainUncompressedLayer()
    assert type(plain.media_type()) is MediaType
    assert plain.media_type().compression() == "gzip"
    assert plain.digest() == Hash.sha256(GREETING_GZ)
    assert isinstance(plain.digest(), Hash)
    with plain.compressed() as stream:
        assert stream.read() == GREETING_GZ
    with plain.uncompressed() as stream:
        assert stream.read() == GREETING_TAR
    assert stream_layer.media_type().compression() == "gzip"  # the original failure: 'str' has no compression
    zstd: Layer = PlainZstdLayer()
    assert zstd.media_type().compression() == "zstd"
    with zstd.compressed() as stream:
        assert stream.read(4) == b"\x28\xb5\x2f\xfd"  # zstd's magic number
    assert stream_layer.diff_id() == Hash.sha256(TOOL_TAR)
    image: Image = PlainImage()
    assert type(image.media_type()) is MediaType
    assert isinstance(image.raw_manifest(), bytes)
    assert isinstance(image.raw_config_file(), bytes)
    assert image.config_file().config.cmd == ("/bin/tool",)
    assert image.manifest().layers[1].media_type == OCI_GZIP
    synthesised: Image = PlainSynthesisedImage()
    assert isinstance(synthesised.layers(), list)
    assert synthesised.manifest().media_type == OCI_MANIFEST
    index: ImageIndex = PlainIndex(*_images())
    assert type(index.media_type()) is MediaType
    assert isinstance(index.raw_manifest(), bytes)
    assert index.image_for(Platform("amd64", "linux")).digest() == _images()[0].digest()


@pytest.mark.parametrize("subject", [PlainLayer(), PlainUncompressedLayer(), PlainZstdLayer()], ids=type)
def test_plain_layers_validate(subject: Layer) -> None:
    validate.layer(subject)


@pytest.mark.parametrize("subject", _images(), ids=lambda image: type(image).__name__)
def test_plain_images_validate(subject: Image) -> None:
    validate.image(subject)


def test_a_plain_index_validates() -> None:
    validate.index(PlainIndex(*_images()))


@pytest.mark.registry
def test_plain_subclasses_push_and_read_back(any_registry: DistributionRegistry | Registry) -> None:
    index: ImageIndex = PlainIndex(*_images())
    reference = f"{any_registry.host}/hooks/plain:v1"
    remote.write_index(reference, index)
    got = remote.get(reference)
    assert got.digest == index.digest()
    assert got.media_type == OCI_INDEX
    assert skopeo.raw_manifest(f"docker://{reference}") == index.raw_manifest()
    validate.index(remote.index(reference))
    for each in _images():
        pushed = remote.image(f"{any_registry.host}/hooks/plain@{each.digest()}")
        assert pushed.raw_config_file() == each.raw_config_file()
        validate.image(pushed)


def test_plain_subclasses_write_to_a_layout_umoci_unpacks(tmp_path: Path) -> None:
    place = layout.Layout(tmp_path / "layout")
    for position, each in enumerate(_images()):
        place.append_image(each, annotations={layout.REF_NAME: f"v{position}"})
    validate.index(place.image_index())
    bundle = tmp_path / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--rootless", "--image", f"{tmp_path / 'layout'}:v3", str(bundle)],
        check=True,
        capture_output=True,
    )
    assert (bundle / "rootfs" / "etc" / "greeting").read_bytes() == b"hello\n"
    assert (bundle / "rootfs" / "bin" / "tool").read_bytes() == b"#!/bin/sh\necho tool\n"
    run = json.loads((bundle / "config.json").read_text())
    assert run["process"]["args"] == ["/bin/other"]
    assert "A=1" in run["process"]["env"]


def test_plain_subclasses_write_to_a_tarball(tmp_path: Path) -> None:
    for position, each in enumerate(_images()):
        path = tmp_path / f"{position}.tar"
        tarball.write(path, each, tag=f"example.com/plain:v{position}")
        back = tarball.image(path)
        validate.image(back)
        assert back.config_name() == each.config_name()


# ------------------------------------------------------------------------- what cannot stand


def _override(base: type[Any], name: str, value: object) -> Any:
    """An instance of a subclass of ``base`` (a plain one above) whose ``name`` hook returns ``value``."""
    subclass = type(f"Bad{base.__name__}", (base,), {name: lambda self, *args: value})
    return subclass(PlainImage()) if issubclass(base, ImageIndex) else subclass()


@pytest.mark.parametrize(
    ("base", "hook", "value", "error", "message"),
    [
        (PlainLayer, "media_type", 42, BadReturnValue, r"BadPlainLayer\.media_type\(\) returned 42 \(type int\)"),
        (PlainLayer, "media_type", None, BadReturnValue, r"media_type\(\) returned None"),
        (PlainLayer, "digest", "nope", BadDigestError, r"digest\(\) returned 'nope'"),
        (PlainLayer, "digest", 12, BadReturnValue, r"expected a digest"),
        (PlainLayer, "open_compressed", 3.5, BadReturnValue, r"expected a binary stream"),
        (PlainLayer, "open_compressed", "etc/greeting", BadReturnValue, r"open_compressed\(\) returned 'etc/greeting'"),
        (PlainUncompressedLayer, "known_diff_id", "md5:00", BadDigestError, r"known_diff_id\(\) returned 'md5:00'"),
        (PlainImage, "raw_config_file", object(), BadReturnValue, r"raw_config_file\(\) returned <object"),
        (PlainImage, "raw_manifest", {"bad": float("nan")}, BadReturnValue, r"raw_manifest\(\) returned"),
        (PlainSynthesisedImage, "layers", [b"not a layer"], BadReturnValue, r"expected an ocimodel.Layer"),
        (PlainSynthesisedImage, "layers", 7, BadReturnValue, r"layers\(\) returned 7"),
        (PlainIndex, "media_type", b"application/vnd.oci.image.index.v1+json", BadReturnValue, r"a media type"),
    ],
)
def test_a_value_that_cannot_stand_for_its_type_names_its_method(
    base: type[Any], hook: str, value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        getattr(_override(base, hook, value), hook)()
    assert isinstance(caught.value, OCIError)
    assert isinstance(caught.value, TypeError if error is BadReturnValue else ValueError)


# ----------------------------------------------------------------- the hooks are all covered

#: Return annotations that name a type a user would naturally give in a plainer form.
_PLAIN_FORMS = {"MediaType", "Hash", "Hash | None", "bytes", "IO[bytes]", "list[Layer]"}


@pytest.mark.parametrize(
    ("classes", "hooks"),
    [
        ((Layer, UncompressedLayer), LAYER_HOOKS),
        ((Image, UncompressedImage, SynthesisedImage), IMAGE_HOOKS),
        ((ImageIndex,), MANIFESTED_HOOKS),
    ],
    ids=["layer", "image", "index"],
)
def test_every_hook_with_a_plainer_form_is_normalised(
    classes: tuple[type[Any], ...], hooks: dict[str, Callable[[Any, str], Any]]
) -> None:
    for cls in classes:
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_") or member.__annotations__.get("return") not in _PLAIN_FORMS:
                continue
            assert name in hooks, f"{cls.__name__}.{name}() returns {member.__annotations__['return']}"
            defined_by = member.__qualname__.partition(".")[0]
            if defined_by not in {"Layer", "Manifested"}:  # the roots' own methods are trusted; below them, wrapped
                assert getattr(member, "_ocimodel_normalised", False), f"{cls.__name__}.{name} is not wrapped"
    assert [name for name in hooks if not any(hasattr(cls, name) for cls in classes)] == []  # no stale names


@settings(max_examples=25)
@given(oh.manifests())
def test_a_manifest_given_as_a_dict_is_the_same_manifest(manifest: Manifest) -> None:
    as_dict = json.loads(manifest.to_json())
    normalised = document(as_dict, "raw_manifest()")
    assert json.loads(normalised) == as_dict
    assert Manifest.from_json(normalised).layers == manifest.layers
    assert document(manifest, "raw_manifest()") == manifest.to_json()
    assert document(normalised.decode(), "raw_manifest()") == normalised
