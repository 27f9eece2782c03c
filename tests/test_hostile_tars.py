"""Hostile tars: the headers before a member (PAX records, GNU long names, sparse maps) are read
within bounds, in a docker save and in a layer alike.

Python's ``tarfile`` reads them as they claim to be: a PAX header of 3 GiB whole into memory,
2,000 headers in a row by recursion, PAX records with regular expressions quadratic in their
size (CVE-2024-6232, in the Pythons before 3.11.10 and 3.12.6), a sparse map until its blocks
stop saying more follow (and an ``IndexError`` where the data ends first), a member whose size
is 30 digits by reading on past the end of a stream for ever. Each hostile tar below is read as
a docker save (``tarball.image``) and as a layer being flattened (``mutate.extract``), in one
child with 200 MiB and 10 s, and each must be a ``BadLayerError`` naming the tar: never a
``MemoryError``, a ``RecursionError``, an ``IndexError``, a ``ValueError`` or the deadline.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from ocimodel.layer._members import tar_members
from ocimodel.layer._tarinfo import CHAIN, DIGIT_RUN, SPECIAL_LIMIT
from tests.harness import confined, hostile
from tests.test_flatten_rules import member, tar_of

END = bytes(2 * tarfile.BLOCKSIZE)


def _padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % tarfile.BLOCKSIZE)


def _header(name: str, kind: bytes, size: int, *, gnu: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(tarfile.GNU_FORMAT if gnu else tarfile.USTAR_FORMAT)


def _file(name: str = "f", content: bytes = b"x") -> bytes:
    return _header(name, tarfile.REGTYPE, len(content)) + _padded(content)


def record(keyword: str, value: bytes) -> bytes:
    """One PAX record, ``<length> <keyword>=<value>\\n``, its length counting itself."""
    body = b" " + keyword.encode() + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def pax(data: bytes, kind: bytes = tarfile.XHDTYPE) -> bytes:
    """A PAX header holding ``data`` (records, or anything), then a small file."""
    return _header("././@PaxHeader", kind, len(data)) + _padded(data) + _file()


def _checksummed(block: bytearray) -> bytes:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def base256_size(size: int) -> bytes:
    """A file whose size field is a GNU base-256 number (as large as it likes)."""
    block = bytearray(_header("f", tarfile.REGTYPE, 1, gnu=True))
    block[124:136] = bytes([0x80]) + size.to_bytes(11, "big")
    return _checksummed(block) + _padded(b"x")


def sparse_without_its_map() -> bytes:
    """An old GNU sparse header saying an extension block of its map follows, and then the end."""
    block = bytearray(_header("s", tarfile.GNUTYPE_SPARSE, 0, gnu=True))
    block[482] = 1  # isextended
    return _checksummed(block)


#: Each hostile tar (its end blocks added, but to the one cut short), by what used to come of it.
TARS = {
    # RecursionError: one level of tarfile's recursion per header
    "PAX headers in a row": b"".join(_header("x", tarfile.XHDTYPE, 11) + _padded(b"11 path=ab\n") for _ in range(2000))
    + _file(),
    "global PAX headers in a row": b"".join(
        _header("g", tarfile.XGLTYPE, 11) + _padded(b"11 path=ab\n") for _ in range(2000)
    )
    + _file(),
    "GNU long names in a row": b"".join(
        _header("L", tarfile.GNUTYPE_LONGNAME, 4, gnu=True) + _padded(b"abc\0") for _ in range(2000)
    )
    + _file(),
    # ten seconds and more: tarfile's regular expressions, quadratic in a run of digits
    "64 KiB of digits as a PAX header": pax(b"1" * (64 << 10)),
    "PAX records of two bytes": pax(b"2 " * (32 << 10) + b"="),
    "a PAX value of a long run of digits": pax(record("comment", b"7" * (64 << 10))),
    # IndexError, ValueError: a sparse map cut short, or not numbers
    "a sparse map cut short": sparse_without_its_map(),
    "a sparse map of words": pax(record("GNU.sparse.map", b"a,b") + record("GNU.sparse.size", b"1")),
    # a stream read on past its end for ever; a seek ValueError in a file
    "a PAX size of 30 digits": pax(record("size", b"9" * 30)),
    "a size of 2**80": base256_size(1 << 80),
    "a negative PAX size": pax(record("size", b"-5")),
    # OverflowError and ValueError when the member is written again (export)
    "a PAX mtime of nan": pax(record("mtime", b"nan")),
    "a PAX mtime of 1e400": pax(record("mtime", b"1e400")),
}


def _cases(tmp_path: Path, tars: dict[str, bytes]) -> dict[str, str]:
    """For each tar, a case reading it as a docker save and one flattening it as a layer."""
    cases = {}
    for position, (name, data) in enumerate(tars.items()):
        path = tmp_path / f"{position}.tar"
        path.write_bytes(data if name.endswith("cut short") else data + END)
        cases[f"{name}, as a docker save"] = f"tarball.image({str(path)!r})"
        cases[f"{name}, as a layer"] = f"flatten({str(path)!r})"
    return cases


PRELUDE = """
from ocimodel import empty, layer, mutate, tarball
def flatten(path):
    with mutate.extract(mutate.append(empty.image, layer.from_file(path))) as stream:
        while stream.read(1 << 20):
            pass
"""


def test_hostile_tar_headers_are_typed_errors_in_bounded_time_and_memory(tmp_path: Path) -> None:
    cases = _cases(tmp_path, TARS)
    ended = hostile.each(cases, prelude=PRELUDE)
    for case, path in zip(cases, (p for i in range(len(TARS)) for p in [tmp_path / f"{i}.tar"] * 2), strict=True):
        named = path if case.endswith("docker save") else "layer 0"
        hostile.refusal(ended[case], "BadLayerError", named)


def test_an_extended_header_claiming_gigabytes_is_refused_unread(tmp_path: Path) -> None:
    """A PAX or GNU long-name header claiming 3 GiB (a sparse file; tarfile read it whole:
    MemoryError), and, in a gzip'd layer, a PAX header of 300 MiB of zeros: refused at the
    header, naming the limit."""
    paths: dict[str, Path] = {}
    for kind in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
        path = paths[kind.decode()] = tmp_path / f"{kind.decode()}.tar"
        with path.open("wb") as out:
            out.write(_header("././@x", kind, hostile.HUGE, gnu=True))
            out.seek(hostile.HUGE, io.SEEK_CUR)
            out.write(_file() + END)
    layer = tmp_path / "layer.tar.gz"
    with gzip.open(layer, "wb", compresslevel=1) as out:
        out.write(_header("././@PaxHeader", tarfile.XHDTYPE, 300 << 20))
        for _ in range(300):
            out.write(bytes(1 << 20))
        out.write(_file() + END)
    cases = {name: f"tarball.image({str(path)!r})" for name, path in paths.items()}
    cases["layer"] = f"flatten({str(layer)!r})"
    ended = hostile.each(cases, prelude=PRELUDE)
    for name, path in paths.items():
        hostile.refusal(ended[name], "BadLayerError", path, f"{hostile.HUGE} bytes", str(SPECIAL_LIMIT))
    hostile.refusal(ended["layer"], "BadLayerError", "layer 0", str(SPECIAL_LIMIT))


def _sparse_bombs(real: int = 10**13) -> dict[str, bytes]:
    """A byte of data that reads as ``real`` bytes through each sparse format (PAX 0.1, PAX 1.0,
    GNU ``S``)."""
    pax_01 = (
        record("GNU.sparse.size", str(real).encode())
        + record("GNU.sparse.numblocks", b"1")
        + record("GNU.sparse.map", b"0,1")
    )
    pax_01_tar = _header("././@PaxHeader", tarfile.XHDTYPE, len(pax_01)) + _padded(pax_01) + _file("s")
    pax_10 = (
        record("GNU.sparse.major", b"1")
        + record("GNU.sparse.minor", b"0")
        + record("GNU.sparse.name", b"s")
        + record("GNU.sparse.realsize", str(real).encode())
    )
    data_10 = _padded(b"1\n0\n1\n") + _padded(b"x")
    pax_10_tar = (
        _header("././@PaxHeader", tarfile.XHDTYPE, len(pax_10))
        + _padded(pax_10)
        + _header("GNUSparseFile.0/s", tarfile.REGTYPE, len(data_10))
        + data_10
    )
    gnu = bytearray(_header("s", tarfile.GNUTYPE_SPARSE, 1, gnu=True))
    gnu[386:398] = b"%011o\0" % 0  # the first entry of the map: offset 0 ...
    gnu[398:410] = b"%011o\0" % 1  # ... of 1 byte
    gnu[483:495] = bytes([0x80]) + real.to_bytes(11, "big")  # realsize, base-256
    gnu_tar = _checksummed(gnu) + _padded(b"x")
    return {"PAX 0.1": pax_01_tar, "PAX 1.0": pax_10_tar, "GNU": gnu_tar}


def test_a_sparse_entry_that_reads_as_terabytes_is_refused(tmp_path: Path) -> None:
    """A byte of data whose sparse map says it reads as 10 TB: flattening or exporting the layer
    would write the holes out as zeros in full. Refused as a bomb, whatever the sparse format, a
    sparse entry no further from its data than deflate can go being read as ever."""
    cases = {}
    for name, data in _sparse_bombs().items():
        path = tmp_path / f"{name}.tar"
        path.write_bytes(data + END)
        cases[name] = f"flatten({str(path)!r})"
    ended = hostile.each(cases, prelude=PRELUDE)
    for name in cases:
        hostile.refusal(ended[name], "BadLayerError", "layer 0", "'s'", str(10**13), "sparse entry")
    for name, data in _sparse_bombs(64 << 10).items():  # 64 KiB from a byte: read as ever
        read = [(m.name, m.isreg(), len(c.read()) if c else None) for m, c in tar_members(io.BytesIO(data + END), str)]
        assert read == [("s", True, 64 << 10)], name


def test_tars_real_tools_write_are_read_as_ever() -> None:
    """The bounds leave alone what GNU tar, Go and Python write: PAX records of long names, link
    names, xattrs and times with fractions, a few headers in a row, runs of digits up to the cap."""
    buffer = io.BytesIO()
    long_name = "d/" * 200 + "file-" + "1" * DIGIT_RUN
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo(long_name)
        info.size, info.mtime = 1, 1700000000.123456789
        info.pax_headers = {"SCHILY.xattr.user.x": "v" * 60_000, "comment": "é"}
        archive.addfile(info, io.BytesIO(b"x"))
        link = tarfile.TarInfo("l")
        link.type, link.linkname = tarfile.SYMTYPE, "t/" * 300
        archive.addfile(link)
    data = _header("././@g", tarfile.XGLTYPE, 20) + _padded(record("comment", b"global")) + buffer.getvalue()
    read = [(member.name, member.linkname, member.size) for member, _ in tar_members(io.BytesIO(data), lambda: "L")]
    assert read == [(long_name, "", 1), ("l", "t/" * 300, 0)]
    chain = b"".join(_header("x", tarfile.XHDTYPE, 11) + _padded(b"11 path=ab\n") for _ in range(CHAIN - 1))
    assert [m.name for m, _ in tar_members(io.BytesIO(chain + _file() + END), lambda: "L")] == [
        "ab"
    ]  # the PAX path wins


def _many_members(count: int) -> Iterator[bytes]:
    """A gzip'd tar of ``count`` empty members, all named ``a``, a piece at a time."""
    block = _header("a", tarfile.REGTYPE, 0)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    for _ in range(count // 1000):
        yield compressor.compress(block * 1000)
    yield compressor.compress(END) + compressor.flush()


def test_members_are_not_kept_as_they_are_read() -> None:
    """tarfile keeps every member it has read: memory grew with their number, 400 bytes each (a
    million empty members, 2 MB gzip'd, took more than 200 MiB). Read one at a time, it stays flat."""
    data = b"".join(_many_members(20_000))
    tracemalloc.start()
    try:
        stream = cast(IO[bytes], gzip.GzipFile(fileobj=io.BytesIO(data)))
        count = sum(1 for _ in tar_members(stream, lambda: "L"))  # each member dropped as it comes
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    assert peak < 10 << 20, peak  # 6 MiB (buffers, the stream's tail kept); all members kept, 14 MiB


def test_flattening_paths_thousands_of_folders_deep(tmp_path: Path) -> None:
    """A whiteout or an opaque whiteout over a folder 1,500 deep used to be a RecursionError."""
    deep = "/".join(["a"] * 1500)
    layers = {
        "whiteout": [tar_of(member(deep + "/f", content=b"x")), tar_of(member(".wh.a"))],
        "opaque": [tar_of(member(deep + "/f", content=b"x")), tar_of(member("a/.wh..wh..opq"))],
    }
    paths = {}
    for case, tars in layers.items():
        paths[case] = [str(tmp_path / f"{case}-{position}.tar") for position in range(len(tars))]
        for path, data in zip(paths[case], tars, strict=True):
            Path(path).write_bytes(data)
    code = f"""
import io, tarfile
from ocimodel import empty, layer, mutate
for case, paths in {paths!r}.items():
    image = mutate.append(empty.image, *(layer.from_file(path) for path in paths))
    with mutate.extract(image) as stream, tarfile.open(fileobj=io.BytesIO(stream.read())) as archive:
        print(case, archive.getnames())
"""
    outcome = confined.python(code)
    assert (outcome.returncode, outcome.stderr[-2000:]) == (0, "")
    assert outcome.stdout.splitlines() == ["whiteout []", "opaque ['a']"]
