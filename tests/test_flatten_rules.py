"""The flattening rules one at a time, each with the variants real images hold: hard links whose
target goes away above, AUFS metadata, sparse members, names, and broken layers.

(The whole of the rules, against umoci, is tests/test_flatten_umoci.py.)
"""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ocimodel import empty, layer, mutate
from ocimodel.errors import BadLayerError
from ocimodel.image import Image

Member = tuple[str, bytes, bytes, str]  # name, type, content, link target


def member(name: str, kind: bytes = tarfile.REGTYPE, content: bytes = b"", linkname: str = "") -> Member:
    return (name, kind, content, linkname)


def tar_of(*members: Member, tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as archive:
        for name, kind, content, linkname in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, linkname, 0o755 if kind == tarfile.DIRTYPE else 0o644
            info.size = len(content) if kind == tarfile.REGTYPE else 0
            archive.addfile(info, io.BytesIO(content) if kind == tarfile.REGTYPE else None)
    return buffer.getvalue()


def image_of(*layer_tars: bytes) -> Image:
    return mutate.append(empty.image, *(layer.from_bytes(data) for data in layer_tars))


def members_of(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return archive.getmembers()


def flat_members(image: Image) -> list[tarfile.TarInfo]:
    with mutate.extract(image) as stream:
        return members_of(stream.read())


def extracted_by_gnu_tar(image: Image, folder: Path) -> dict[str, bytes | str]:
    """The flattened tar as GNU tar extracts it: file contents, ``-> target`` for symlinks."""
    with mutate.extract(image) as stream:
        (folder / "flat.tar").write_bytes(stream.read())
    root = folder / "root"
    root.mkdir()
    done = subprocess.run(["tar", "-xf", str(folder / "flat.tar"), "-C", str(root)], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = f"-> {path.readlink()}"
        elif path.is_file():
            found[name] = path.read_bytes()
    return found


# Hard links belong to their layer (go-containerregistry#977).

BUSYBOX = member("bin/busybox", content=b"BUSYBOX")


@pytest.mark.parametrize(
    ("upper", "expected_sh"),
    [
        (tar_of(member("bin/.wh.busybox")), b"BUSYBOX"),  # the target whited out
        (tar_of(member("bin/busybox", content=b"NEW")), b"BUSYBOX"),  # the target overwritten
        (tar_of(member("bin/.wh..wh..opq")), None),  # the whole folder hidden: the link too
        (tar_of(member("bin/busybox", tarfile.SYMTYPE, linkname="toybox")), b"BUSYBOX"),  # replaced by a symlink
        (tar_of(member("bin/busybox", tarfile.DIRTYPE)), b"BUSYBOX"),  # replaced by a directory
        (tar_of(member("bin/sh", content=b"DASH")), b"DASH"),  # the link itself overwritten
    ],
)
def test_a_hard_link_keeps_its_layer_s_content(upper: bytes, expected_sh: bytes | None, tmp_path: Path) -> None:
    lower = tar_of(member("bin", tarfile.DIRTYPE), BUSYBOX, member("bin/sh", tarfile.LNKTYPE, linkname="bin/busybox"))
    found = extracted_by_gnu_tar(image_of(lower, upper), tmp_path)
    assert found.get("bin/sh") == expected_sh


def test_links_to_a_lost_target_share_one_inode_again(tmp_path: Path) -> None:
    lower = tar_of(
        BUSYBOX,
        member("bin/sh", tarfile.LNKTYPE, linkname="bin/busybox"),
        member("bin/ls", tarfile.LNKTYPE, linkname="bin/busybox"),
    )
    members = flat_members(image_of(lower, tar_of(member("bin/.wh.busybox"))))
    kinds = {m.name: (m.type, m.linkname) for m in members}
    assert kinds["bin/ls"] == (tarfile.REGTYPE, "")  # the first surviving name carries the content
    assert kinds["bin/sh"] == (tarfile.LNKTYPE, "bin/ls")
    assert "bin/busybox" not in kinds
    (tmp_path / "x").mkdir()
    assert extracted_by_gnu_tar(image_of(lower, tar_of(member("bin/.wh.busybox"))), tmp_path / "x")["bin/ls"] == (
        b"BUSYBOX"
    )


def test_a_hard_link_to_a_lower_layer_and_chains_of_links(tmp_path: Path) -> None:
    base = tar_of(member("lib/libc.so", content=b"LIBC"))
    middle = tar_of(member("usr/lib/libc.so", tarfile.LNKTYPE, linkname="lib/libc.so"))
    top = tar_of(
        member("opt/libc.so", tarfile.LNKTYPE, linkname="usr/lib/libc.so"), member("lib/libc.so", content=b"MUSL")
    )
    found = extracted_by_gnu_tar(image_of(base, middle, top), tmp_path)
    assert (found["lib/libc.so"], found["usr/lib/libc.so"], found["opt/libc.so"]) == (b"MUSL", b"LIBC", b"LIBC")


def test_a_surviving_target_is_linked_not_copied() -> None:
    lower = tar_of(BUSYBOX, member("bin/sh", tarfile.LNKTYPE, linkname="bin/busybox"))
    kinds = {m.name: (m.type, m.linkname) for m in flat_members(image_of(lower))}
    assert kinds == {
        "bin/busybox": (tarfile.REGTYPE, ""),
        "bin/sh": (tarfile.LNKTYPE, "bin/busybox"),
        "bin": (tarfile.DIRTYPE, ""),
    }


def test_every_folder_is_written_after_what_it_holds_parents_first() -> None:
    lower = tar_of(member("var/cache/apt/pkg", content=b"p"), member("usr/bin/env", content=b"e"))
    upper = tar_of(member("var/cache/apt/.wh.pkg"))
    names = [(m.name, m.type) for m in flat_members(image_of(lower, upper))]
    assert names == [
        ("usr/bin/env", tarfile.REGTYPE),
        ("usr", tarfile.DIRTYPE),
        ("usr/bin", tarfile.DIRTYPE),
        ("var", tarfile.DIRTYPE),
        ("var/cache", tarfile.DIRTYPE),
        ("var/cache/apt", tarfile.DIRTYPE),  # left empty, kept
    ]


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [tar_of(member("bin/sh", tarfile.LNKTYPE, linkname="bin/busybox"))],
            r"layer 0 \(sha256:[0-9a-f]{64}\): entry 'bin/sh' is a hard link to 'bin/busybox', which is not there",
        ),
        (
            [
                tar_of(BUSYBOX),
                tar_of(member("bin/.wh.busybox"), member("bin/sh", tarfile.LNKTYPE, linkname="bin/busybox")),
            ],
            "layer 1 .*'bin/sh' is a hard link to 'bin/busybox', which is not there",
        ),
        (
            [tar_of(member("etc", tarfile.DIRTYPE), member("x", tarfile.LNKTYPE, linkname="etc"))],
            "is a hard link to 'etc', a directory",
        ),
        (
            [tar_of(member("etc", tarfile.DIRTYPE)), tar_of(member("x", tarfile.LNKTYPE, linkname="etc"))],
            "is a hard link to 'etc', a directory",
        ),
    ],
)
def test_a_hard_link_to_nothing_or_to_a_directory_is_a_bad_layer(layers: list[bytes], message: str) -> None:
    with pytest.raises(BadLayerError, match=message):
        flat_members(image_of(*layers))


# AUFS metadata is not content (moby/moby#4178).


def test_aufs_metadata_is_dropped_and_plnk_links_become_files(tmp_path: Path) -> None:
    aufs = tar_of(
        member(".wh..wh.aufs"),
        member(".wh..wh.orph", tarfile.DIRTYPE),
        member(".wh..wh.plnk", tarfile.DIRTYPE),
        member(".wh..wh.plnk/262.1200", content=b"TOOL"),
        member("usr/bin/tool", tarfile.LNKTYPE, linkname=".wh..wh.plnk/262.1200"),
        member("usr/bin/tool2", tarfile.LNKTYPE, linkname="/.wh..wh.plnk/262.1200"),
        tar_format=tarfile.GNU_FORMAT,
    )
    members = flat_members(image_of(tar_of(member("usr/bin/base", content=b"base")), aufs))
    assert not [m.name for m in members if m.name.startswith(".wh.")]
    found = extracted_by_gnu_tar(image_of(aufs), tmp_path)
    assert (found["usr/bin/tool"], found["usr/bin/tool2"]) == (b"TOOL", b"TOOL")


def test_an_opaque_root_is_not_aufs_metadata() -> None:
    lower = tar_of(member("old", content=b"o"))
    upper = tar_of(member(".wh..wh..opq"), member("new", content=b"n"))
    assert [m.name for m in flat_members(image_of(lower, upper))] == ["new"]


# Sparse members come out whole (containers/storage#1091).


def sparse_tar(folder: Path, *options: str) -> tuple[bytes, bytes]:
    """A tar GNU tar writes with ``--sparse`` and ``options``, of a 1 MiB file that is mostly a hole."""
    source = folder / "src"
    source.mkdir(exist_ok=True)
    with (source / "disk.img").open("wb") as handle:
        handle.truncate(1 << 20)
        handle.seek(600_000)
        handle.write(b"DATA")
    subprocess.run(
        ["tar", "--sparse", *options, "-C", str(source), "-cf", str(folder / "l.tar"), "disk.img"], check=True
    )
    return (folder / "l.tar").read_bytes(), (source / "disk.img").read_bytes()


@pytest.mark.parametrize(
    "options",
    [
        ["--format=posix"],  # PAX sparse 1.0: the map at the head of the data
        ["--format=posix", "--sparse-version=0.1"],
        ["--format=posix", "--sparse-version=0.0"],
        ["--format=gnu"],  # GNU's old 'S' member
    ],
)
def test_sparse_members_are_written_as_plain_files(options: list[str], tmp_path: Path) -> None:
    data, content = sparse_tar(tmp_path, *options)
    image = image_of(data)
    retimed = mutate.time(image, datetime(2024, 1, 1, tzinfo=UTC))
    with retimed.layers()[0].uncompressed() as stream:
        rewritten = stream.read()
    with mutate.extract(image) as stream:
        flat = stream.read()
    for written in (flat, rewritten):
        (entry,) = members_of(written)
        assert (entry.name, entry.type, entry.size) == ("disk.img", tarfile.REGTYPE, 1 << 20)
        assert not [key for key in entry.pax_headers if key.startswith("GNU.sparse")]
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        out.mkdir()
        subprocess.run(["tar", "-xf", "-", "-C", str(out)], input=written, check=True)
        assert (out / "disk.img").read_bytes() == content


# Names as real images hold them.


@pytest.mark.parametrize(
    "name",
    [
        "lib/systemd/system/system-systemd\\x2dcryptsetup.slice",  # a backslash is part of the name
        "..data",  # Kubernetes' atomic writer
        "etc/config/..2024_01_01/key",
        "B::Deparse.3pm",  # a colon, at the root
        "usr/share/man/man3/B::Deparse.3pm",
        "ünïcödé/名前",
        "x" * 120,
        "./d/" + "y" * 150,  # a long name, written as a PAX record: cleaned, not kept stale
    ],
)
def test_names_real_images_hold_come_out_as_given(name: str) -> None:
    (written,) = [m for m in flat_members(image_of(tar_of(member(name, content=b"1")))) if m.isfile()]
    assert written.name == name.removeprefix("./")


def test_a_renamed_member_s_stale_pax_records_are_not_written_again() -> None:
    lower = tar_of(
        member("./" + "t" * 120, content=b"T"), member("./" + "l" * 120, tarfile.LNKTYPE, linkname="./" + "t" * 120)
    )
    upper = tar_of(member("./.wh." + "t" * 120))
    members = {m.name: m for m in flat_members(image_of(lower, upper))}
    assert members["l" * 120].isfile()  # the link, whose target is gone, carries the content


# Broken layers are typed errors naming the layer and the entry.


def test_a_truncated_layer_names_its_digest_and_entry() -> None:
    whole = tar_of(member("a", content=b"1" * 2000), member("b", content=b"2" * 2000))
    cut = layer.from_bytes(gzip.compress(whole[:1200]))
    image = mutate.append(empty.image, cut)
    with pytest.raises(BadLayerError, match=rf"layer 0 \({cut.digest()}\).*'a'"):
        flat_members(image)


def test_an_empty_layer_is_an_empty_tar() -> None:
    assert [m.name for m in flat_members(image_of(b"", tar_of(member("a", content=b"1"))))] == ["a"]


# What is written is safe for any extractor: no member or hard-link target absolute or with a
# `..`, nothing beneath a symlink, no absolute symlink target (issue: hostile files, rule 7).
# Judges: Python's tarfile with no filter (nothing may land outside the folder) and with its
# `data` filter (which refuses what would leave it).

HOSTILE = {
    "absolute name": [tar_of(member("/etc/passwd", content=b"x"))],
    "dotted name": [tar_of(member("a/../b", content=b"x"), member("./c/./d", content=b"y"))],
    "absolute hard-link target": [
        tar_of(member("etc/passwd", content=b"x"), member("x", tarfile.LNKTYPE, linkname="/etc/passwd"))
    ],
    "hard link out of the root": [tar_of(member("x", tarfile.LNKTYPE, linkname="a/../../etc/passwd"))],
    "write through a symlink, one layer": [
        tar_of(member("evil", tarfile.SYMTYPE, linkname="/"), member("evil/etc/cron.d/job", content=b"x"))
    ],
    "write through a symlink from below": [
        tar_of(member("evil", tarfile.SYMTYPE, linkname="/tmp")),
        tar_of(member("evil/x", content=b"x")),
    ],
    "write through a symlink from above": [
        tar_of(member("evil/x", content=b"x")),
        tar_of(member("evil", tarfile.SYMTYPE, linkname="/tmp")),
    ],
    "escaping symlink, then beneath it": [
        tar_of(member("evil", tarfile.SYMTYPE, linkname="../../../tmp")),
        tar_of(member("evil/x", content=b"x")),
    ],
    "symlink chain climbing out": [
        tar_of(
            member("a", tarfile.SYMTYPE, linkname="."),
            member("b", tarfile.SYMTYPE, linkname="a/.."),
            member("c", tarfile.SYMTYPE, linkname="/a/../.."),
            member("b/c", content=b"x"),
        )
    ],
    "absolute symlink with dots": [
        tar_of(member("lib", tarfile.DIRTYPE), member("lib/x", tarfile.SYMTYPE, linkname="/../../../etc/passwd"))
    ],
    "hard link to an absolute symlink, two places": [
        tar_of(
            member("usr/bin", tarfile.DIRTYPE),
            member("usr/bin/sh", tarfile.SYMTYPE, linkname="/bin/busybox"),
            member("sh", tarfile.LNKTYPE, linkname="usr/bin/sh"),
        )
    ],
}


@pytest.mark.parametrize("layers", HOSTILE.values(), ids=HOSTILE.keys())
def test_the_flattened_tar_is_safe_for_any_extractor(layers: list[bytes], tmp_path: Path) -> None:
    try:
        with mutate.extract(image_of(*layers)) as stream:
            flat = stream.read()
    except BadLayerError:
        return  # refused: nothing written
    for each in members_of(flat):
        for path in [each.name, *([each.linkname] if each.islnk() else [])]:
            assert not path.startswith("/"), (each.name, each.linkname)
            assert ".." not in path.split("/"), (each.name, each.linkname)
        if each.issym():
            assert not each.linkname.startswith("/")
    (tmp_path / "trusted" / "root").mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(flat)) as archive:
        archive.extractall(tmp_path / "trusted" / "root", filter="fully_trusted")  # noqa: S202 (the point: no checks)
    assert [p.name for p in (tmp_path / "trusted").iterdir()] == ["root"]  # nothing beside the folder
    assert not Path("/tmp/x").exists()
    assert not Path("/etc/cron.d/job").exists()
    with tarfile.open(fileobj=io.BytesIO(flat)) as archive:
        archive.extractall(tmp_path / "data", filter="data")  # raises for what would leave the folder


# A layer's entries apply in the order they come, through the symlinks of the filesystem so far
# (as docker and umoci apply them): each right value below is umoci's.


def flat_tree(image: Image, folder: Path) -> dict[str, bytes | str]:
    found = extracted_by_gnu_tar(image, folder)
    for path in sorted((folder / "root").rglob("*")):
        if path.is_dir() and not path.is_symlink():
            found[str(path.relative_to(folder / "root"))] = f"dir {path.stat().st_mode & 0o7777:o}"
    return found


def with_mode(entry: Member, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry[0])
    info.type, info.mode, info.linkname = entry[1], mode, entry[3]
    return info


def tar_infos(*infos: tarfile.TarInfo | Member) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for each in infos:
            if isinstance(each, tarfile.TarInfo):
                archive.addfile(each)
            else:
                info = tarfile.TarInfo(each[0])
                info.type, info.linkname, info.size = each[1], each[3], len(each[2])
                archive.addfile(info, io.BytesIO(each[2]))
    return buffer.getvalue()


USR = [member("usr", tarfile.DIRTYPE), member("usr/bin", tarfile.DIRTYPE), member("usr/bin/sh", content=b"SH")]
USRMERGED = tar_of(*USR, member("bin", tarfile.SYMTYPE, linkname="usr/bin"))

IN_ORDER = {
    "a path twice: the last wins": (
        [tar_of(member("x", content=b"first"), member("x", content=b"second"))],
        {"x": b"second"},
    ),
    "a link, then its target written again": (
        [tar_of(member("x", content=b"A"), member("y", tarfile.LNKTYPE, linkname="x"), member("x", content=b"B"))],
        {"x": b"B", "y": b"A"},
    ),
    "a child, then its parent made a file": (
        [tar_of(member("d/new", content=b"N"), member("d", content=b"now a file"))],
        {"d": b"now a file"},
    ),
    "usrmerge: a file under bin/ lands in usr/bin/": (
        [USRMERGED, tar_of(member("bin/foo", content=b"FOO"))],
        {"bin": "-> usr/bin", "usr/bin/sh": b"SH", "usr/bin/foo": b"FOO"},
    ),
    "usrmerge: a whiteout through bin/": ([USRMERGED, tar_of(member("bin/.wh.sh"))], {"bin": "-> usr/bin"}),
    "usrmerge: a hard link through bin/": (
        [USRMERGED, tar_of(member("sh2", tarfile.LNKTYPE, linkname="bin/sh"))],
        {"bin": "-> usr/bin", "usr/bin/sh": b"SH", "sh2": b"SH"},
    ),
    "a link, then a whiteout of its target, one layer": (
        [tar_of(member("x", content=b"A")), tar_of(member("y", tarfile.LNKTYPE, linkname="x"), member(".wh.x"))],
        {"y": b"A"},
    ),
    "an entry, then a whiteout of it, one layer: the whiteout is for the layers below": (
        [tar_of(member("x", content=b"lower")), tar_of(member("x", content=b"upper"), member(".wh.x"))],
        {"x": b"upper"},
    ),
    "a symlink leading up and out is stopped at the root": (
        [tar_of(member("evil", tarfile.SYMTYPE, linkname="../../../../srv")), tar_of(member("evil/x", content=b"X"))],
        {"srv/x": b"X"},
    ),
}


@pytest.mark.parametrize(("layers", "expected"), IN_ORDER.values(), ids=IN_ORDER.keys())
def test_entries_apply_in_order_through_symlinks(
    layers: list[bytes], expected: dict[str, bytes | str], tmp_path: Path
) -> None:
    found = {k: v for k, v in flat_tree(image_of(*layers), tmp_path).items() if not str(v).startswith("dir")}
    assert found == expected


def test_the_last_directory_entry_gives_its_metadata_and_an_opaque_root_keeps_the_root_s() -> None:
    root = tarfile.TarInfo(".")
    root.type, root.mode = tarfile.DIRTYPE, 0o700
    lower = tar_infos(
        root, with_mode(member("d", tarfile.DIRTYPE), 0o700), with_mode(member("d", tarfile.DIRTYPE), 0o750)
    )
    members = {m.name: m for m in flat_members(image_of(lower, tar_of(member(".wh..wh..opq"))))}
    assert (members["."].mode, set(members)) == (0o700, {"."})
    members = {m.name: m for m in flat_members(image_of(lower))}
    assert members["d"].mode == 0o750


def test_folders_keep_their_times_when_extracted(tmp_path: Path) -> None:
    stamped = with_mode(member("a/b", tarfile.DIRTYPE), 0o755)
    stamped.mtime = 555
    layers = [tar_of(member("a", tarfile.DIRTYPE), member("a/b", tarfile.DIRTYPE), member("a/b/c", content=b"x"))]
    extracted_by_gnu_tar(image_of(*layers, tar_infos(stamped, member("a/b/d", content=b"y"))), tmp_path)
    assert (tmp_path / "root" / "a" / "b").stat().st_mtime == 555


@pytest.mark.parametrize(
    ("layer_tar", "message"),
    [
        (tar_of(member("./", content=b"")), "the root entry './' is not a directory"),
        (tar_of(member("a", content=b"A"), member("a/b", content=b"B")), "'a' on its path is not a directory"),
        (
            tar_of(
                member("l1", tarfile.SYMTYPE, linkname="l2"),
                member("l2", tarfile.SYMTYPE, linkname="l1"),
                member("l1/x"),
            ),
            "too many symbolic links",
        ),
    ],
)
def test_a_layer_no_unpacker_can_apply_is_a_bad_layer(layer_tar: bytes, message: str) -> None:
    with pytest.raises(BadLayerError, match=message):
        flat_members(image_of(layer_tar))


def test_a_hard_link_error_names_the_link_s_layer() -> None:
    layers = [
        tar_of(member("x", content=b"A")),
        tar_of(member(".wh.x")),
        tar_of(member("y", tarfile.LNKTYPE, linkname="x")),
    ]
    with pytest.raises(BadLayerError, match=r"layer 2 \(sha256:.*'y' is a hard link to 'x'"):
        flat_members(image_of(*layers))


# Headers real tools write, read as Go and GNU tar read them.


def test_header_only_members_with_a_size_are_read_as_go_reads_them(tmp_path: Path) -> None:
    folder = with_mode(member("d", tarfile.DIRTYPE), 0o755)
    folder.size = 4096  # some writers put the directory's st_size there; Go reads no content
    raw = folder.tobuf(tarfile.PAX_FORMAT) + tar_of(member("d/f", content=b"F"))
    assert extracted_by_gnu_tar(image_of(raw), tmp_path) == {"d/f": b"F"}


def test_gnu_headers_with_access_times_are_not_read_as_a_name_prefix() -> None:
    raw = bytearray(
        tar_of(member("etc", tarfile.DIRTYPE), member("etc/passwd", content=b"root"), tar_format=tarfile.GNU_FORMAT)
    )
    offset = 0
    while raw[offset : offset + 512] != bytes(512):  # fill atime and ctime, as tar --incremental does
        header = raw[offset : offset + 512]
        size = int(header[124:136].strip(b"\0 ") or b"0", 8)
        header[345:357] = header[357:369] = b"14731470600\0"
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\0 " % sum(header)
        raw[offset : offset + 512] = header
        offset += 512 + -(-size // 512) * 512
    assert sorted(m.name for m in flat_members(image_of(bytes(raw)))) == ["etc", "etc/passwd"]


def _pax(records: dict[bytes, bytes], data: bytes) -> bytes:
    body = b""
    for key, value in records.items():
        record = b" " + key + b"=" + value + b"\n"
        length = len(record) + 1
        while len(str(length)) + len(record) != length:
            length += 1
        body += str(length).encode() + record
    extended = tarfile.TarInfo("PaxHeaders/f")
    extended.type, extended.size = tarfile.XHDTYPE, len(body)
    plain = tarfile.TarInfo("f")
    plain.size = len(data)
    padding = bytes(-len(body) % 512)
    return (
        extended.tobuf(tarfile.USTAR_FORMAT)
        + body
        + padding
        + plain.tobuf(tarfile.USTAR_FORMAT)
        + data
        + bytes(-len(data) % 512 + 1024)
    )


@pytest.mark.parametrize(
    "layer_tar",
    [
        _pax(
            {b"GNU.sparse.major": b"1", b"GNU.sparse.minor": b"0", b"GNU.sparse.realsize": b"10"},
            b"1\nzz\n" + bytes(507),
        ),
        _pax({b"GNU.sparse.size": b""}, b"x"),
        _pax({b"SCHILY.xattr.user.caf\xe9": b"v"}, b"x"),  # an xattr name that is not UTF-8
    ],
)
def test_malformed_pax_records_are_bad_layers(layer_tar: bytes) -> None:
    with pytest.raises(BadLayerError, match=r"layer 0|tar member 'f'"):
        flat_members(image_of(layer_tar))
