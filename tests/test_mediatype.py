"""Media types and their predicates."""

from __future__ import annotations

import pytest

from ocimodel.mediatype import MediaType

M = MediaType

# media type, is_image, is_index, is_schema1, is_config, is_layer, is_distributable, compression
TABLE = [
    (M.OCI_MANIFEST, True, False, False, False, False, True, None),
    (M.DOCKER_MANIFEST_SCHEMA2, True, False, False, False, False, True, None),
    (M.OCI_INDEX, False, True, False, False, False, True, None),
    (M.DOCKER_MANIFEST_LIST, False, True, False, False, False, True, None),
    (M.DOCKER_MANIFEST_SCHEMA1, False, False, True, False, False, True, None),
    (M.DOCKER_MANIFEST_SCHEMA1_SIGNED, False, False, True, False, False, True, None),
    (M.OCI_CONFIG, False, False, False, True, False, True, None),
    (M.DOCKER_CONFIG, False, False, False, True, False, True, None),
    (M.DOCKER_PLUGIN_CONFIG, False, False, False, False, False, True, None),
    (M.OCI_EMPTY, False, False, False, False, False, True, None),
    (M.OCI_DESCRIPTOR, False, False, False, False, False, True, None),
    (M.OCI_LAYOUT_HEADER, False, False, False, False, False, True, None),
    (M.OCI_ARTIFACT_MANIFEST, False, False, False, False, False, True, None),
    (M.OCI_LAYER, False, False, False, False, True, True, None),
    (M.OCI_LAYER_GZIP, False, False, False, False, True, True, "gzip"),
    (M.OCI_LAYER_ZSTD, False, False, False, False, True, True, "zstd"),
    (M.OCI_RESTRICTED_LAYER, False, False, False, False, True, False, None),
    (M.OCI_RESTRICTED_LAYER_GZIP, False, False, False, False, True, False, "gzip"),
    (M.OCI_RESTRICTED_LAYER_ZSTD, False, False, False, False, True, False, "zstd"),
    (M.DOCKER_LAYER, False, False, False, False, True, True, "gzip"),
    (M.DOCKER_LAYER_ZSTD, False, False, False, False, True, True, "zstd"),
    (M.DOCKER_UNCOMPRESSED_LAYER, False, False, False, False, True, True, None),
    (M.DOCKER_FOREIGN_LAYER, False, False, False, False, True, False, "gzip"),
    (M("application/vnd.example.sbom+json"), False, False, False, False, False, True, None),
    (M("application/octet-stream"), False, False, False, False, False, True, None),
]


@pytest.mark.parametrize(
    ("media_type", "image", "index", "schema1", "config", "layer", "distributable", "compression"), TABLE
)
def test_predicates(
    media_type: MediaType,
    image: bool,
    index: bool,
    schema1: bool,
    config: bool,
    layer: bool,
    distributable: bool,
    compression: str | None,
) -> None:
    assert media_type.is_image() is image
    assert media_type.is_index() is index
    assert media_type.is_schema1() is schema1
    assert media_type.is_manifest() is (image or index or schema1)
    assert media_type.is_config() is config
    assert media_type.is_layer() is layer
    assert media_type.is_distributable() is distributable
    assert media_type.compression() == compression


def test_every_well_known_type_is_in_the_table() -> None:
    known = {value for key, value in vars(MediaType).items() if key.isupper()}
    assert known == {row[0] for row in TABLE[:-2]}


def test_the_values_are_the_spec_strings() -> None:
    assert M.OCI_MANIFEST == "application/vnd.oci.image.manifest.v1+json"
    assert M.OCI_INDEX == "application/vnd.oci.image.index.v1+json"
    assert M.OCI_EMPTY == "application/vnd.oci.empty.v1+json"
    assert M.OCI_LAYER_ZSTD == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert M.OCI_RESTRICTED_LAYER_GZIP == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    assert M.DOCKER_MANIFEST_SCHEMA2 == "application/vnd.docker.distribution.manifest.v2+json"
    assert M.DOCKER_MANIFEST_SCHEMA1_SIGNED == "application/vnd.docker.distribution.manifest.v1+prettyjws"
    assert M.DOCKER_FOREIGN_LAYER == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


@pytest.mark.parametrize(
    "header",
    [
        "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
        "Application/VND.OCI.Image.Manifest.v1+JSON",
        " application/vnd.oci.image.manifest.v1+json ;q=1",
    ],
)
def test_parameters_and_case_do_not_change_the_classification(header: str) -> None:
    media_type = MediaType(header)
    assert media_type.is_image()
    assert media_type.essence == MediaType.OCI_MANIFEST


def test_a_media_type_is_a_string() -> None:
    assert isinstance(M.OCI_LAYER, str)
    lookup: dict[str, int] = {M.OCI_LAYER: 1}
    assert lookup["application/vnd.oci.image.layer.v1.tar"] == 1
    assert repr(M.OCI_EMPTY) == "MediaType('application/vnd.oci.empty.v1+json')"
