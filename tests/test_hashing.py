"""Hash, Hasher and VerifyingReader."""

from __future__ import annotations

import hashlib
import io
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocimodel.errors import BadDigestError, DigestMismatch, OCIError, SizeMismatch
from ocimodel.hashing import Hash, Hasher, VerifyingReader
from ocimodel.hypothesis import hashes

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(
    "text",
    [
        EMPTY_SHA256,
        "sha256:" + "0" * 64,
        "sha512:" + "f" * 128,
    ],
)
def test_valid_digests_parse_and_format_back(text: str) -> None:
    parsed = Hash.parse(text)
    assert str(parsed) == text
    assert parsed == Hash(*text.split(":"))


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "expected 'algorithm:hex'"),
        ("sha256", "expected 'algorithm:hex'"),
        ("sha256:", "64 lower-case hexadecimal"),
        ("sha256:" + "a" * 63, "64 lower-case hexadecimal"),
        ("sha256:" + "a" * 65, "64 lower-case hexadecimal"),
        ("sha256:" + "A" * 64, "64 lower-case hexadecimal"),
        ("sha256:" + "g" * 64, "64 lower-case hexadecimal"),
        ("sha512:" + "a" * 64, "128 lower-case hexadecimal"),
        ("md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported digest algorithm 'md5'"),
        ("SHA256:" + "a" * 64, "unsupported digest algorithm"),
        (":" + "a" * 64, "unsupported digest algorithm ''"),
        (" sha256:" + "a" * 64, "unsupported digest algorithm"),
    ],
)
def test_invalid_digests_raise_a_value_error_saying_what_was_expected(text: str, complaint: str) -> None:
    with pytest.raises(BadDigestError, match=complaint) as caught:
        Hash.parse(text)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, OCIError)


def test_parse_refuses_non_strings() -> None:
    with pytest.raises(BadDigestError, match="must be a string"):
        Hash.parse(b"sha256:00")  # type: ignore[arg-type]


def test_known_vectors() -> None:
    assert str(Hash.sha256(b"")) == EMPTY_SHA256
    assert Hash.sha256(b"abc").hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert Hash.of(b"abc", "sha512").hex == hashlib.sha512(b"abc").hexdigest()
    with pytest.raises(BadDigestError):
        Hash.of(b"abc", "md5")


@given(st.binary(max_size=4096), st.lists(st.integers(1, 600), max_size=8), st.sampled_from(["sha256", "sha512"]))
def test_streaming_hasher_equals_one_shot_digest(data: bytes, cuts: list[int], algorithm: str) -> None:
    hasher = Hasher(algorithm)
    position = 0
    for cut in cuts:
        hasher.update(data[position : position + cut])
        position += cut
    hasher.update(memoryview(data)[position:])
    assert hasher.digest() == Hash.of(data, algorithm)
    assert hasher.size == len(data)
    assert Hash.of_stream(io.BytesIO(data), algorithm) == (Hash.of(data, algorithm), len(data))


def test_hasher_copy_is_independent() -> None:
    original = Hasher()
    original.update(b"abc")
    twin = original.copy()
    twin.update(b"def")
    assert original.digest() == Hash.sha256(b"abc")
    assert twin.digest() == Hash.sha256(b"abcdef")
    assert (original.size, twin.size) == (3, 6)


@given(hashes(("sha256", "sha512")))
def test_hashes_are_ordered_and_hashable(digest: Hash) -> None:
    assert Hash.parse(str(digest)) == digest
    assert {digest: 1}[Hash.parse(str(digest))] == 1
    assert sorted([digest, digest]) == [digest, digest]


class Chunky(io.RawIOBase):
    """A raw stream that returns at most ``step`` bytes per read, like a socket."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self.closed_by_reader = memoryview(data), step, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self._step, len(self._data))
        buffer[:count] = self._data[:count]
        self._data = self._data[count:]
        return count

    def close(self) -> None:
        self.closed_by_reader = True
        super().close()


@given(st.binary(max_size=5000), st.integers(1, 700), st.integers(1, 900), st.booleans())
def test_verifying_reader_passes_matching_content_through(data: bytes, step: int, read_size: int, sized: bool) -> None:
    reader = VerifyingReader(Chunky(data, step), Hash.sha256(data), len(data) if sized else None)
    out = bytearray()
    while chunk := reader.read(read_size):
        out += chunk
    assert bytes(out) == data
    assert reader.verified
    assert reader.bytes_read == len(data)
    assert reader.read(10) == b""


def test_verifying_reader_read_all_and_context_manager_close_the_source() -> None:
    data = b"x" * 3_000_000
    source = Chunky(data, 70_000)
    with VerifyingReader(source, Hash.sha256(data), len(data)) as reader:
        assert reader.read() == data
    assert source.closed_by_reader
    assert reader.closed


@given(st.binary(min_size=1, max_size=3000), st.data())
def test_a_corrupted_byte_raises_before_the_last_bytes_are_handed_over(data: bytes, draw: st.DataObject) -> None:
    index = draw.draw(st.integers(0, len(data) - 1))
    corrupted = bytearray(data)
    corrupted[index] ^= 0xFF
    reader = VerifyingReader(io.BytesIO(bytes(corrupted)), Hash.sha256(data), len(data))
    handed_over = bytearray()

    def read_to_the_end() -> None:
        while chunk := reader.read(256):
            handed_over.extend(chunk)

    with pytest.raises(DigestMismatch) as caught:
        read_to_the_end()
    assert len(handed_over) < len(data)
    assert caught.value.expected == Hash.sha256(data)
    assert caught.value.actual == Hash.sha256(bytes(corrupted))
    assert not isinstance(caught.value, SizeMismatch)
    with pytest.raises(DigestMismatch):
        reader.read(1)
    assert not reader.verified


def test_short_content_is_a_size_mismatch() -> None:
    data = b"0123456789"
    reader = VerifyingReader(io.BytesIO(data[:7]), Hash.sha256(data), len(data), what="blob under test")
    with pytest.raises(SizeMismatch, match="blob under test: expected 10 bytes, got 7") as caught:
        reader.read()
    assert (caught.value.expected_size, caught.value.actual_size) == (10, 7)


def test_long_content_is_a_size_mismatch_even_when_the_prefix_matches() -> None:
    data = b"0123456789"
    reader = VerifyingReader(io.BytesIO(data + b"extra"), Hash.sha256(data), len(data))
    assert reader.read(10) == data
    with pytest.raises(SizeMismatch, match="expected 10 bytes, got at least 11"):
        reader.read(10)


def test_unsized_content_is_checked_at_the_end() -> None:
    reader = VerifyingReader(io.BytesIO(b"abc"), Hash.sha256(b"abd"))
    assert reader.read(3) == b"abc"
    with pytest.raises(DigestMismatch, match="content does not match its digest"):
        reader.read(3)


def test_a_source_without_readinto_works() -> None:
    class ReadOnly:
        def __init__(self, data: bytes) -> None:
            self._data = data

        def read(self, size: int = -1) -> bytes:
            chunk, self._data = self._data[:size], self._data[size:]
            return chunk

    data = b"plain read() source" * 100
    assert VerifyingReader(ReadOnly(data), Hash.sha256(data), len(data)).read() == data


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        VerifyingReader(io.BytesIO(b""), Hash.sha256(b""), -1)


@pytest.mark.parametrize(
    "error",
    [
        DigestMismatch("blob x", Hash.sha256(b"a"), Hash.sha256(b"b")),
        SizeMismatch("blob y", Hash.sha256(b"a"), 10, 12),
        BadDigestError("bad"),
    ],
)
def test_errors_survive_pickling(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)
