"""Layers: the two cores, layers from anything, the compress-once spill, single-pass layers."""

from __future__ import annotations

import gc
import gzip
import io
import os
import stat
import tarfile
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocimodel import layer, validate
from ocimodel.compression import Compression, compressor, decompressing_reader, detect
from ocimodel.errors import BadLayerError, DigestMismatch, NotComputed, StreamConsumed, ValidationError
from ocimodel.hashing import Hash
from ocimodel.layer import Layer, UncompressedLayer
from ocimodel.mediatype import MediaType


def make_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


TAR = make_tar({"etc/motd": b"hello\n", "bin/tool": os.urandom(50_000)})


def read(stream: IO[bytes]) -> bytes:
    with stream:
        return stream.read()


class CountingOpener:
    """An opener that counts how often it is called and how many bytes are read through it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.opens = 0
        self.full_reads = 0

    def __call__(self) -> IO[bytes]:
        self.opens += 1
        opener = self

        class Counted(io.BytesIO):
            def read(self, size: int | None = -1) -> bytes:
                chunk = super().read(size)
                if chunk and self.tell() == len(opener.data):
                    opener.full_reads += 1
                return chunk

        return Counted(self.data)


@pytest.mark.parametrize(
    ("media_type", "compression"),
    [
        (MediaType.DOCKER_LAYER, Compression.GZIP),
        (MediaType.OCI_LAYER_GZIP, Compression.GZIP),
        (MediaType.OCI_LAYER_ZSTD, Compression.ZSTD),
        (MediaType.OCI_LAYER, Compression.NONE),
        (MediaType.DOCKER_UNCOMPRESSED_LAYER, Compression.NONE),
    ],
)
def test_a_plain_tar_is_compressed_as_its_media_type_says(media_type: MediaType, compression: Compression) -> None:
    made = layer.from_bytes(TAR, media_type=media_type)
    assert isinstance(made, UncompressedLayer)
    assert made.media_type() == media_type
    assert made.diff_id() == Hash.sha256(TAR)
    packed = read(made.compressed())
    assert detect(packed) is compression
    assert (made.digest(), made.size()) == (Hash.sha256(packed), len(packed))
    assert read(made.uncompressed()) == TAR
    if compression is Compression.NONE:
        assert made.digest() == made.diff_id()
    validate.layer(made)


@pytest.mark.parametrize("compression", [Compression.GZIP, Compression.ZSTD])
def test_compressed_bytes_are_taken_as_they_are(compression: Compression) -> None:
    engine = compressor(compression)
    packed = engine.compress(TAR) + engine.flush()
    made = layer.from_bytes(packed)
    assert made.digest() == Hash.sha256(packed)
    assert made.size() == len(packed)
    assert made.diff_id() == Hash.sha256(TAR)
    assert made.media_type() == (
        MediaType.DOCKER_LAYER if compression is Compression.GZIP else MediaType.OCI_LAYER_ZSTD
    )
    assert read(made.compressed()) == packed
    assert read(made.uncompressed()) == TAR
    validate.layer(made)


def test_a_media_type_that_contradicts_the_content_is_refused() -> None:
    with pytest.raises(BadLayerError, match=r"gzip-compressed but media type .* says zstd"):
        layer.from_bytes(gzip.compress(TAR), media_type=MediaType.OCI_LAYER_ZSTD)


def test_from_file_does_no_io_until_used(tmp_path: Path) -> None:
    path = tmp_path / "later.tar.gz"
    made = layer.from_file(path)  # the file does not exist yet
    path.write_bytes(gzip.compress(TAR))
    assert made.diff_id() == Hash.sha256(TAR)
    assert made.digest() == Hash.sha256(path.read_bytes())
    validate.layer(made)


def test_an_uncompressed_source_is_compressed_once(tmp_path: Path) -> None:
    opener = CountingOpener(TAR)
    made = layer.from_opener(opener)
    assert opener.opens == 0
    digest = made.digest()
    assert made.size() > 0
    assert made.diff_id() == Hash.sha256(TAR)
    first = read(made.compressed())
    second = read(made.compressed())
    assert first == second
    assert Hash.sha256(first) == digest
    assert opener.full_reads == 1  # one pass made digest, size, diff_id and the compressed file


def test_the_compressed_form_lives_in_a_file_with_no_name_closed_with_the_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # $TMPDIR
    made = layer.from_bytes(TAR)
    digest = made.digest()
    assert list(tmp_path.iterdir()) == []  # nothing to leave behind, however the process ends
    with made.compressed() as one, made.compressed() as two:  # each reader at a position of its own
        head = one.read(100)
        assert two.read(100) == head
        whole = head + one.read()
        assert head + two.read() == whole
    assert Hash.sha256(whole) == digest
    assert isinstance(made, UncompressedLayer)
    spill = made._spill().file
    assert spill is not None
    reader = made.compressed()
    del made
    gc.collect()
    assert not spill.closed  # an open reader keeps it
    assert Hash.sha256(reader.read()) == digest
    reader.close()
    del reader
    gc.collect()
    assert spill.closed


def test_threads_asking_for_the_digest_compress_once() -> None:
    opener = CountingOpener(TAR)
    made = layer.from_opener(opener)
    barrier = threading.Barrier(8)
    results: list[Hash] = []

    def ask() -> None:
        barrier.wait()
        results.append(made.digest())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert opener.full_reads == 1


def test_from_files_is_reproducible_and_is_what_tarfile_writes() -> None:
    files = {"b.txt": b"bee", "a/deep/c.txt": b"sea" * 1000, "/leading/slash": b"x"}
    first, second = layer.from_files(files), layer.from_files(dict(reversed(list(files.items()))))
    assert first.diff_id() == second.diff_id()
    assert first.digest() == second.digest()
    with tarfile.open(fileobj=io.BytesIO(read(first.uncompressed()))) as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == ["a/deep/c.txt", "b.txt", "leading/slash"]
    assert {(m.mtime, m.uid, m.gid, m.mode, m.uname) for m in members} == {(0, 0, 0, 0o644, "")}
    assert layer.from_files(files, mtime=1).diff_id() != first.diff_id()


@pytest.mark.parametrize("name", ["../escape", "a/../../b", "", ".", "a/.."])
def test_from_files_refuses_paths_outside_the_root(name: str) -> None:
    with pytest.raises(BadLayerError, match="unsafe or empty path"):
        layer.from_files({name: b"x"})


def test_from_files_refuses_a_path_given_twice() -> None:
    with pytest.raises(BadLayerError, match="appears twice"):
        layer.from_files({"a/b": b"1", "a//b": b"2"})


def test_from_directory(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "run").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "bin" / "run").chmod(0o755)
    (root / "etc").mkdir()
    (root / "etc" / "conf").write_text("k=v\n")
    (root / "etc" / "link").symlink_to("conf")
    made = layer.from_directory(root, mtime=1234)
    with tarfile.open(fileobj=io.BytesIO(read(made.uncompressed()))) as archive:
        listing = [(m.name, m.type, stat.S_IMODE(m.mode), m.mtime, m.linkname) for m in archive.getmembers()]
    assert listing == [
        ("bin", tarfile.DIRTYPE, stat.S_IMODE((root / "bin").stat().st_mode), 1234, ""),
        ("bin/run", tarfile.REGTYPE, 0o755, 1234, ""),
        ("etc", tarfile.DIRTYPE, stat.S_IMODE((root / "etc").stat().st_mode), 1234, ""),
        ("etc/conf", tarfile.REGTYPE, stat.S_IMODE((root / "etc" / "conf").stat().st_mode), 1234, ""),
        ("etc/link", tarfile.SYMTYPE, stat.S_IMODE((root / "etc" / "link").lstat().st_mode), 1234, "conf"),
    ]
    assert layer.from_directory(root, mtime=1234).digest() == made.digest()
    validate.layer(made)


def test_from_directory_refuses_special_files(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(BadLayerError, match="special file"):
        layer.from_directory(tmp_path).digest()


def test_from_directory_notices_a_file_that_grows_while_read(tmp_path: Path) -> None:
    (tmp_path / "growing").write_bytes(b"x" * 100)
    stream = layer.from_directory(tmp_path).uncompressed()
    assert len(stream.read(512)) == 512  # the header, which promises 100 bytes
    with (tmp_path / "growing").open("ab") as more:
        more.write(b"y")
    with pytest.raises(BadLayerError, match="grew while it was being read"):
        stream.read()


def test_from_directory_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(BadLayerError, match="expected a directory"):
        layer.from_directory(tmp_path / "nope").diff_id()


def state(made: layer.StreamLayer) -> tuple[bool, bool]:
    return made.consumed, made.computed


def test_stream_layer_states() -> None:
    made = layer.stream(io.BytesIO(TAR))
    assert state(made) == (False, False)
    for ask in (made.digest, made.diff_id, made.size):
        with pytest.raises(NotComputed, match="compressed\\(\\) has been read to its end"):
            ask()
    with pytest.raises(StreamConsumed):
        made.uncompressed()
    packed = read(made.compressed())
    assert state(made) == (True, True)
    assert (made.digest(), made.size(), made.diff_id()) == (Hash.sha256(packed), len(packed), Hash.sha256(TAR))
    assert made.digest() == layer.from_bytes(TAR).digest()  # same compressor, same bytes
    with pytest.raises(StreamConsumed, match="read already"):
        made.compressed()


def test_a_partly_read_stream_layer_stays_uncomputed() -> None:
    big = make_tar({"big": os.urandom(3 << 20)})  # more than one chunk of input
    made = layer.stream(io.BytesIO(big), media_type=MediaType.OCI_LAYER_ZSTD)
    with made.compressed() as stream:
        stream.read(10)
    assert state(made) == (True, False)


class OwnCompressedLayer(Layer):
    """A user subclass: the compressed core only."""

    def __init__(self, packed: bytes, claimed: bytes | None = None) -> None:
        self.packed = packed
        self.claimed = packed if claimed is None else claimed

    def digest(self) -> Hash:
        return Hash.sha256(self.claimed)

    def size(self) -> int:
        return len(self.claimed)

    def open_compressed(self) -> IO[bytes]:
        return io.BytesIO(self.packed)


class OwnUncompressedLayer(UncompressedLayer):
    """A user subclass: the uncompressed core, with a known diff_id."""

    def __init__(self, tar: bytes, diff_id: Hash) -> None:
        self.tar = tar
        self.diff = diff_id

    def open_uncompressed(self) -> IO[bytes]:
        return io.BytesIO(self.tar)

    def known_diff_id(self) -> Hash:
        return self.diff


def test_subclasses_get_the_other_side() -> None:
    packed = gzip.compress(TAR)
    own = OwnCompressedLayer(packed)
    assert own.diff_id() == Hash.sha256(TAR)
    assert read(own.uncompressed()) == TAR
    assert own.descriptor().media_type == MediaType.DOCKER_LAYER
    validate.layer(own)
    mine = OwnUncompressedLayer(TAR, Hash.sha256(TAR))
    assert gzip.decompress(read(mine.compressed())) == TAR
    validate.layer(mine)


def test_corrupt_compressed_content_is_a_digest_mismatch_both_ways() -> None:
    packed = bytearray(gzip.compress(TAR))
    good = bytes(packed)
    packed[len(packed) // 2] ^= 0xFF
    liar = OwnCompressedLayer(bytes(packed), claimed=good)
    with pytest.raises(DigestMismatch):
        read(liar.compressed())
    with pytest.raises(DigestMismatch):
        read(liar.uncompressed())


def test_content_that_is_not_what_its_compression_says_is_a_layer_error() -> None:
    fake = b"\x1f\x8b" + b"this is not gzip at all" * 10
    with pytest.raises(BadLayerError, match="not valid gzip"):
        read(OwnCompressedLayer(fake).uncompressed())


def test_a_wrong_known_diff_id_is_caught() -> None:
    wrong = OwnUncompressedLayer(TAR, Hash.sha256(b"something else"))
    with pytest.raises(DigestMismatch):
        wrong.digest()
    with pytest.raises(DigestMismatch):
        read(wrong.uncompressed())


def test_validate_catches_a_lying_diff_id() -> None:
    class Liar(OwnCompressedLayer):
        def diff_id(self) -> Hash:
            return Hash.sha256(b"not the content")

    with pytest.raises(ValidationError, match="diff_id"):
        validate.layer(Liar(gzip.compress(TAR)))


@settings(max_examples=20)
@given(
    files=st.dictionaries(
        st.from_regex(r"[a-z]{1,5}(/[a-z]{1,5}){0,2}", fullmatch=True), st.binary(max_size=3000), max_size=5
    ),
    media_type=st.sampled_from([MediaType.DOCKER_LAYER, MediaType.OCI_LAYER_ZSTD, MediaType.OCI_LAYER]),
)
def test_every_kind_of_layer_validates(files: dict[str, bytes], media_type: MediaType) -> None:
    made = layer.from_files(files, media_type=media_type)
    validate.layer(made)
    again: Callable[[], Layer] = lambda: layer.from_bytes(read(made.compressed()))  # noqa: E731
    assert again().diff_id() == made.diff_id()
    with decompressing_reader(made.compressed(), Compression.of(media_type.compression())) as stream:
        assert Hash.sha256(stream.read()) == made.diff_id()


def test_compression_is_found_through_short_reads() -> None:
    class Trickle(io.RawIOBase):
        """Gives one byte per read, as a slow socket may."""

        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            if not self.data:
                return 0
            buffer[0], self.data = self.data[0], self.data[1:]
            return 1

    packed = gzip.compress(TAR)
    trickling = layer.from_opener(lambda: Trickle(packed))  # type: ignore[arg-type, return-value]
    assert trickling.diff_id() == Hash.sha256(TAR)
    assert trickling.media_type() == MediaType.DOCKER_LAYER
