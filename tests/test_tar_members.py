"""Reading layer tars as Go's archive/tar does: empty layers are layers; broken tars are typed errors.

moby/moby#18226 and bazelbuild/rules_docker#685: a 0-byte layer (``layer.tar`` of older docker
saves) is an empty tar for docker, containerd, go-containerregistry and umoci. A tar that is cut
short or corrupt must raise :class:`BadLayerError` naming the layer and the entry, never an
exception of :mod:`tarfile`, :mod:`zlib` or ``EOFError``.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from datetime import UTC, datetime

import pytest

from ocimodel import empty, layer, mutate, validate
from ocimodel.errors import BadLayerError, OCIError
from ocimodel.hashing import Hash
from ocimodel.image import MemoryImage
from ocimodel.layer._members import tar_members
from ocimodel.mediatype import MediaType
from tests.test_layer import OwnUncompressedLayer
from tests.test_mutate import members, tar_of


def _gnu_tar(files: list[tuple[str, bytes]]) -> bytes:
    """A GNU-format tar with no padding to a whole record (as Go's archive/tar writes them)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return out.getvalue()[: 512 * (3 * len(files) + 2)]  # a header and 2 blocks of content each, end marker


THREE = _gnu_tar([("a", b"1" * 600), ("b", b"2" * 600), ("c", b"3" * 600)])  # headers at 0, 1536, 3072


def read_members(data: bytes) -> list[tuple[str, bytes]]:
    found = []
    for member, content in tar_members(io.BytesIO(data), lambda: "layer 7 (the test)"):
        found.append((member.name, content.read() if content is not None else b""))
    return found


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b"", []),  # a 0-byte layer
        (bytes(1024), []),  # only the end-of-archive blocks
        (bytes(10240), []),  # ... padded to a record, as tarfile and GNU tar write it
        (THREE, ["a", "b", "c"]),
        (THREE[:-1024], ["a", "b", "c"]),  # no end-of-archive blocks: Go's reader stops at EOF too
        (THREE + b"trailing data after the end marker", ["a", "b", "c"]),
    ],
    ids=["empty", "end-marker", "record", "three", "no-end-marker", "trailing"],
)
def test_tars_go_reads_are_read(data: bytes, names: list[str]) -> None:
    assert [name for name, _ in read_members(data)] == names


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (THREE[:100], "not a readable tar, before its first entry"),
        (b"x" * 512, "not a readable tar, before its first entry"),
        (THREE[: 1536 + 100], "cut short inside the header after entry 'a'"),
        (THREE[:1536] + b"\x01" * 512 + THREE[2048:], "corrupt header after entry 'a'"),
        (THREE[: 1536 + 512 + 100], "entry 'b' is cut short"),
        (THREE[: 1536 + 512 + 600], "after entry 'b'"),  # content whole, its padding missing
    ],
    ids=[
        "first-header-cut",
        "first-header-garbage",
        "second-header-cut",
        "second-header-garbage",
        "content-cut",
        "padding-cut",
    ],
)
def test_broken_tars_raise_a_layer_error_naming_the_layer_and_entry(data: bytes, message: str) -> None:
    with pytest.raises(BadLayerError, match="^layer 7 \\(the test\\): .*" + message):
        read_members(data)


def test_a_broken_tar_whose_content_is_skipped_is_caught_too() -> None:
    with pytest.raises(BadLayerError, match="after entry 'b'"):
        list(tar_members(io.BytesIO(THREE[: 1536 + 512 + 100]), lambda: "layer 7"))  # b's content never read


def _image(*tars: bytes) -> MemoryImage:
    """An image whose layers are these tars, stored as they are (no check that they are tars)."""
    stored = [OwnUncompressedLayer(tar, Hash.sha256(tar)) for tar in tars]
    built = mutate.append_layers(empty.image, *stored)
    return MemoryImage(built.raw_manifest(), built.raw_config_file(), stored)


def test_an_empty_layer_extracts_to_nothing_and_validates() -> None:
    image = _image(tar_of(("hello.txt", b"hello\n")), b"")
    validate.image(image)
    with mutate.extract(image) as stream:
        assert [m.name for m in members(stream)] == ["hello.txt"]
    retimed = mutate.time(image, datetime(2020, 1, 1, tzinfo=UTC))
    validate.image(retimed)
    assert [m.name for m in members(retimed.layers()[1].uncompressed())] == []


@pytest.mark.parametrize("cut", [100, 1536 + 100, 1536 + 512 + 100])
def test_extract_and_time_name_the_layer_and_entry_of_a_cut_tar(cut: int) -> None:
    image = _image(tar_of(("ok", b"fine")), THREE[:cut])
    digest = image.manifest().layers[1].digest
    with pytest.raises(BadLayerError, match=f"^layer 1 \\({digest}\\): "), mutate.extract(image) as stream:
        stream.read()
    retimed = mutate.time(image, datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(BadLayerError, match=r"^layer 1 "), retimed.layers()[1].uncompressed() as stream:
        stream.read()


def test_corrupt_gzip_inside_a_layer_is_a_layer_error_naming_it() -> None:
    packed = bytearray(gzip.compress(THREE))
    packed[len(packed) // 2] ^= 0xFF
    broken = layer.from_bytes(bytes(packed), media_type=MediaType.DOCKER_LAYER)  # its digest is of these bytes
    image = mutate.append_layers(empty.image, broken)
    with pytest.raises(OCIError, match=r"^layer 0 ") as raised, mutate.extract(image) as stream:
        stream.read()
    assert isinstance(raised.value, BadLayerError)
