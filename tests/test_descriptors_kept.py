"""A layer's descriptor keeps what it carries (urls, annotations, fields ocimodel does not model)
through every source and sink: layout, registry, tarball, and the mutations that re-describe them
(rules_docker#2099: foreign layers' URLs lost on load)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from ocimodel import empty, layout, mutate, random, remote, tarball
from ocimodel.image import Image
from ocimodel.manifest import Manifest
from ocimodel.name import Repository
from ocimodel.remote import MountableLayer
from tests.harness.distribution import DistributionRegistry

EXTRA: dict[str, Any] = {
    "annotations": {"org.opencontainers.image.title": "base.tar.gz", "com.example.note": "<kept> & é"},
    "x-vendor-field": {"nested": [1, "two", None]},
}


def carrying(image: Image, extra: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """``image``'s manifest with ``extra`` fields in its first layer's descriptor, and that descriptor."""
    manifest = json.loads(image.raw_manifest())
    manifest["layers"][0] |= extra
    manifest["x-manifest-field"] = "kept too"
    return json.dumps(manifest).encode(), manifest["layers"][0]


def described(image: Image, position: int = 0) -> dict[str, Any]:
    return dict(json.loads(image.raw_manifest())["layers"][position])


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Image, dict[str, Any]]:
    """An image in a layout whose first layer's descriptor carries annotations and an unknown field."""
    source = random.image(500, 2, seed=41)
    raw, descriptor = carrying(source, EXTRA)
    place = layout.Layout(tmp_path / "layout")
    place.write_image(source)
    digest = place._write_bytes(raw)
    return place.image(digest), descriptor


def test_a_layout_layer_keeps_its_descriptor_through_mutations(stored: tuple[Image, dict[str, Any]]) -> None:
    image, descriptor = stored
    first = image.layers()[0]
    assert json.loads(Manifest(config=first.descriptor(), layers=[]).to_json())["config"] == descriptor
    moved = mutate.append_layers(empty.image, first)
    assert described(moved, 0) == descriptor
    annotated = mutate.annotations(image, {"k": "v"})
    assert described(annotated, 0) == descriptor
    assert json.loads(annotated.raw_manifest())["x-manifest-field"] == "kept too"
    retitled = mutate.append(empty.image, mutate.Addendum(first, annotations={"only": "this"}))
    assert described(retitled, 0) == {**descriptor, "annotations": {"only": "this"}}


def test_a_tarball_keeps_the_descriptors(stored: tuple[Image, dict[str, Any]], tmp_path: Path) -> None:
    image, descriptor = stored
    tarball.write(tmp_path / "kept.tar", image, tag="example.com/kept:v1")
    read = tarball.image(tmp_path / "kept.tar")
    assert read.digest() == image.digest()
    assert json.loads(Manifest(config=read.layers()[0].descriptor(), layers=[]).to_json())["config"] == descriptor
    assert described(mutate.append_layers(empty.image, read.layers()[0]), 0) == descriptor


@pytest.mark.registry
def test_a_registry_keeps_the_descriptors(stored: tuple[Image, dict[str, Any]], registry: DistributionRegistry) -> None:
    image, descriptor = stored
    reference = f"{registry.host}/kept/descriptors:v1"
    remote.write(reference, image)
    pulled = remote.image(reference)
    assert pulled.digest() == image.digest()
    assert described(mutate.append_layers(empty.image, pulled.layers()[0]), 0) == descriptor
    mountable = MountableLayer(pulled.layers()[0], Repository(f"{registry.host}/kept/descriptors"))
    moved = mutate.append_layers(empty.image, mountable)
    remote.write(f"{registry.host}/kept/moved:v1", moved)
    assert described(remote.image(f"{registry.host}/kept/moved:v1"), 0) == descriptor


def test_an_evolved_descriptor_rewrites_only_what_changed(stored: tuple[Image, dict[str, Any]]) -> None:
    image, descriptor = stored
    changed = attrs.evolve(image.manifest().layers[0], size=1)
    assert json.loads(Manifest(config=changed, layers=[]).to_json())["config"] == {**descriptor, "size": 1}
