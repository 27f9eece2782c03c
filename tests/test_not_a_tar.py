"""A layer is a tar: makers refuse content that is not one, ``validate`` reads every layer as a
tar, and the command line says so in one line."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocimodel import empty, layer, mutate, tarball, validate
from ocimodel.compression import Compression, compressor
from ocimodel.errors import BadLayerError
from ocimodel.hashing import Hash
from ocimodel.image import MemoryImage
from ocimodel.layer._head import tar_head_problem
from ocimodel.mediatype import MediaType
from tests.test_layer import TAR, OwnCompressedLayer, OwnUncompressedLayer, make_tar, read

#: Bytes that are not a tar, the same on every run.
NOISE = hashlib.sha256(b"noise").digest() * 100


def zstd(data: bytes) -> bytes:
    engine = compressor(Compression.ZSTD)
    return engine.compress(data) + engine.flush()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def gnu_tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo("x" * 120)  # a long name: a GNU longname header first
        info.size = 1
        archive.addfile(info, io.BytesIO(b"1"))
    return out.getvalue()


# content, whether it is a layer's (a tar, or empty: an empty tar)
CONTENTS = [
    ("a tar", TAR, True),
    ("a gzip'd tar", gz(TAR), True),
    ("a zstd'd tar", zstd(TAR), True),
    ("nothing", b"", True),
    ("gzip'd nothing", gz(b""), True),
    ("an end-of-archive block", bytes(1024), True),
    ("a GNU tar with a long name", gnu_tar(), True),
    ("noise", NOISE, False),
    ("a few bytes", b"hello\n", False),
    ("gzip'd noise", gz(NOISE), False),
    ("zstd'd noise", zstd(NOISE), False),
    ("a tar's first 100 bytes", TAR[:100], False),
    ("a tar whose first header is damaged", TAR[:148] + b"9" + TAR[149:], False),
    ("JSON", json.dumps({"not": "a tar"}).encode() * 40, False),
]


IDS = [what for what, _, _ in CONTENTS]


@pytest.mark.parametrize(("what", "content", "is_tar"), CONTENTS, ids=IDS)
def test_from_bytes_takes_tars_and_refuses_the_rest(what: str, content: bytes, is_tar: bool) -> None:
    if is_tar:
        made = layer.from_bytes(content)
        validate.layer(made)
        return
    with pytest.raises(BadLayerError, match=r"^the bytes given: not a tar \(.*\); a layer is a tar"):
        layer.from_bytes(content)


@pytest.mark.parametrize(("what", "content", "is_tar"), CONTENTS, ids=IDS)
def test_from_file_refuses_what_is_not_a_tar_on_first_use_naming_the_file(
    tmp_path: Path, what: str, content: bytes, is_tar: bool
) -> None:
    path = tmp_path / "given.tar"
    made = layer.from_file(path)  # no I/O yet: the file is not even there
    path.write_bytes(content)
    if is_tar:
        validate.layer(made)
        assert made.where == str(path)
        return
    with pytest.raises(BadLayerError, match=f"^{path}: not a tar"):
        made.digest()
    opened = layer.from_opener(lambda: io.BytesIO(content))
    with pytest.raises(BadLayerError, match=r"^the layer's content: not a tar"):
        opened.media_type()


@pytest.mark.parametrize("media_type", ["application/spdx+json", "application/octet-stream", "application/x-tar+gzip"])
def test_an_artifacts_blob_is_taken_as_it_is(tmp_path: Path, media_type: str) -> None:
    for content in (NOISE, gz(NOISE)):
        assert layer.from_bytes(content, media_type=media_type).media_type() == media_type
        path = tmp_path / "blob"
        path.write_bytes(content)
        from_disk = layer.from_file(path, media_type=media_type)
        assert (from_disk.digest(), from_disk.size()) == (Hash.sha256(content), len(content))
        validate.layer(from_disk)  # a blob with a type that is not a layer's is not read as a tar


def test_a_layer_type_given_does_not_excuse_content_that_is_not_a_tar() -> None:
    for kind in (MediaType.DOCKER_LAYER, MediaType.OCI_LAYER, MediaType.OCI_LAYER_GZIP):
        with pytest.raises(BadLayerError, match="not a tar"):
            layer.from_bytes(gz(NOISE) if kind.compression() else NOISE, media_type=kind)


def test_a_compressed_stream_corrupt_from_its_first_bytes_is_refused() -> None:
    with pytest.raises(BadLayerError, match=r"^the bytes given: the content is not valid gzip"):
        layer.from_bytes(b"\x1f\x8b\x08\x00" + NOISE)


def test_a_gzip_stream_damaged_anywhere_is_refused_when_made_or_when_read() -> None:
    # damage that leaves the first block readable (or that decompresses to garbage, with a bad CRC
    # further on) makes a layer; reading it whole then says what is wrong
    packed = gz(make_tar({"a": b"1" * 3000, "b": NOISE}))
    made_then_refused = 0
    for position in range(10, len(packed), 7):
        damaged = bytearray(packed)
        damaged[position] ^= 0xFF
        try:
            made = layer.from_bytes(bytes(damaged))
        except BadLayerError:
            continue
        made_then_refused += 1
        with pytest.raises(BadLayerError, match=r"not valid gzip|not a readable tar|cut short|corrupt"):
            validate.layer(made)
    assert made_then_refused


def test_a_single_pass_layer_checks_its_first_block_before_handing_anything_out() -> None:
    streamed = layer.stream(io.BytesIO(NOISE))
    with pytest.raises(BadLayerError, match=r"^the single-pass layer's stream: not a tar"):
        streamed.compressed()
    fine = layer.stream(io.BytesIO(TAR))
    packed = read(fine.compressed())
    assert gzip.decompress(packed) == TAR
    blob = layer.stream(io.BytesIO(NOISE), media_type="application/octet-stream")
    assert read(blob.compressed()) == NOISE


def test_tar_head_problem_accepts_both_checksums_go_and_tarfile_accept() -> None:
    header = bytearray(TAR[:512])
    assert tar_head_problem(bytes(header)) is None
    header[0:4] = "é/x".encode()  # bytes >= 0x80: the signed and unsigned sums differ
    rest = header[:148] + b" " * 8 + header[156:]
    signed = sum(byte - 256 if byte >= 0x80 else byte for byte in rest)
    header[148:156] = b"%06o\0 " % signed
    assert tar_head_problem(bytes(header)) is None
    header[148:156] = b"%06o\0 " % (signed + 1)
    assert tar_head_problem(bytes(header)) == "the first 512 bytes are not a tar header: wrong checksum"


@settings(max_examples=50)
@given(
    files=st.dictionaries(st.from_regex(r"[a-zé]{1,120}", fullmatch=True), st.binary(max_size=600), max_size=3),
    form=st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]),
)
def test_every_tar_tarfile_writes_passes_the_first_look(files: dict[str, bytes], form: int) -> None:
    out = io.BytesIO()
    try:
        with tarfile.open(fileobj=out, mode="w", format=form) as archive:
            for name, content in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    except ValueError:  # a name ustar cannot hold
        return
    assert tar_head_problem(out.getvalue()[:512]) is None
    layer.from_bytes(out.getvalue())


# ---------------------------------------------------------------------------------------------------
# validate reads every layer as a tar


def image_with(own: OwnCompressedLayer | OwnUncompressedLayer) -> MemoryImage:
    """An image whose one layer is ``own`` (a subclass: nothing checked it when it was made)."""
    described = mutate.append_layers(empty.image, own)
    return MemoryImage(described.raw_manifest(), described.raw_config_file(), [own])


def cut_in_second_member() -> bytes:
    tar = make_tar({"first": b"1" * 600, "second": b"2" * 600})
    second_header = 512 + 1024
    damaged = bytearray(tar)
    damaged[second_header + 148] ^= 0x07  # its checksum no longer adds up
    return bytes(damaged)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (NOISE, r"layer 0 \(sha256:[0-9a-f]{64}\): not a readable tar, before its first entry"),
        (cut_in_second_member(), r"layer 0 \(sha256:[0-9a-f]{64}\): the tar has a corrupt header after entry 'first'"),
        (TAR[:2000], r"layer 0 \(sha256:[0-9a-f]{64}\): .*'bin/tool'.*(cut short|end of data)"),
    ],
)
def test_full_validation_reads_each_layer_as_a_tar_and_names_the_first_bad_entry(
    content: bytes, complaint: str
) -> None:
    for own in (OwnCompressedLayer(gz(content)), OwnUncompressedLayer(content, Hash.sha256(content))):
        image = image_with(own)
        validate.image(image, fast=True)  # nothing is read
        with pytest.raises(BadLayerError, match=complaint):
            validate.image(image)
        with pytest.raises(BadLayerError, match=r"^layer sha256:[0-9a-f]{64}: "):
            validate.layer(own)


def test_validation_does_not_read_an_artifacts_blob_as_a_tar() -> None:
    class Blob(OwnCompressedLayer):
        def media_type(self) -> MediaType:
            return MediaType("application/vnd.example.data")

    validate.layer(Blob(NOISE))
    validate.image(image_with(Blob(NOISE)))


# ---------------------------------------------------------------------------------------------------
# the command line: one line, no traceback


def run(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ocimodel", *arguments], capture_output=True, text=True, timeout=120, check=False
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def docker_save_of(layer_content: bytes, path: Path) -> None:
    """A ``docker save`` (the classic shape) whose one ``layer.tar`` holds ``layer_content``."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_content).hexdigest()]},
        }
    ).encode()
    name = hashlib.sha256(config).hexdigest() + ".json"
    files = {
        "abc/layer.tar": layer_content,
        name: config,
        "manifest.json": json.dumps([{"Config": name, "RepoTags": ["x:1"], "Layers": ["abc/layer.tar"]}]).encode(),
    }
    path.write_bytes(make_tar(files))


def test_the_command_line_refuses_files_that_are_not_tars_in_one_line(tmp_path: Path) -> None:
    notatar = tmp_path / "notatar.tar"
    notatar.write_bytes(NOISE)
    line = one_line_error(run("append", "-f", str(notatar), "-t", "x/y:1", "-o", str(tmp_path / "out.tar")))
    assert line.startswith(f"ocimodel: {notatar}: not a tar (")
    assert not (tmp_path / "out.tar").exists()
    (tmp_path / "notatar.tar.gz").write_bytes(gz(NOISE))
    line = one_line_error(run("append", "-f", str(tmp_path / "notatar.tar.gz"), "-t", "x/y:1", "-o", "-"))
    assert line.startswith(f"ocimodel: {tmp_path / 'notatar.tar.gz'}: not a tar (")
    for verb in (("push", str(notatar), "127.0.0.1:9/x:1"), ("validate", "--tarball", str(notatar))):
        assert one_line_error(run(*verb)).startswith(f"ocimodel: {notatar}: not a readable tar")


def test_validate_tarball_reads_its_layers_as_tars(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.tar", tmp_path / "bad.tar"
    docker_save_of(TAR, good)
    docker_save_of(NOISE, bad)
    assert run("validate", "--tarball", str(good)).returncode == 0
    assert run("validate", "--fast", "--tarball", str(bad)).returncode == 0  # no blob is read
    line = one_line_error(run("validate", "--tarball", str(bad)))
    assert "layer 0 (" in line
    assert "not a readable tar, before its first entry" in line
    validate.image(tarball.image(good))


@pytest.mark.parametrize("packing", ["plain", "gzip"])
def test_append_refuses_a_tar_cut_short_naming_the_file_and_the_entry(packing: str, tmp_path: Path) -> None:
    whole = make_tar({"d/f": bytes(range(256)) * 40, "d/g": b"g"})
    cut = whole[:5000] if packing == "plain" else gzip.compress(whole[:5000])
    (tmp_path / "cut.tar").write_bytes(cut)
    line = one_line_error(run("append", "-f", str(tmp_path / "cut.tar"), "-t", "x/y:1", "-o", str(tmp_path / "o.tar")))
    assert "cut.tar" in line
    assert "'d/f'" in line
    assert not (tmp_path / "o.tar").exists()
