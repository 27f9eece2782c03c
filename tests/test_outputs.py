"""Outputs never destroy what is at the path: a regular file or a new path is replaced atomically, a
symbolic link is written through, a FIFO, a device, a descriptor's name and ``-`` are written
into; new files and folders follow the umask; nothing is left behind by an error or a signal."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ocimodel import layout, random, remote, tarball
from ocimodel._files import output, write_file
from ocimodel.cli import GRACE
from ocimodel.errors import NotWritable
from ocimodel.image import Image
from tests.harness.distribution import DistributionRegistry
from tests.harness.faultproxy import Fault, FaultProxy

UMASKS = [0o022, 0o077]


def leftovers(folder: Path) -> list[Path]:
    """Temporary files of ours anywhere under ``folder``."""
    return [p for p in folder.rglob("*") if p.name.endswith(".partial")]


@contextlib.contextmanager
def fifo_reader(path: Path) -> Iterator[list[bytes]]:
    """A FIFO at ``path`` and a thread reading it to its end; what it read, once the block ends."""
    os.mkfifo(path)
    got: list[bytes] = []
    thread = threading.Thread(target=lambda: got.append(path.read_bytes()), daemon=True)
    thread.start()
    try:
        yield got
    finally:
        if thread.is_alive():  # nobody opened it for writing (the test failed): let the reader go
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout=10)


def character_device(path: Path, minor: int) -> Path:
    """A character device of the ``mem`` driver (3: null, 7: full) made at ``path``, or a skip."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        os.close(os.open(path, os.O_WRONLY))  # a folder on a `nodev` mount cannot open it
    except PermissionError as error:
        pytest.skip(f"cannot make a character device here: {error}")
    return path


def same_file(path: Path, before: os.stat_result) -> bool:
    now = path.stat()
    return (now.st_dev, now.st_ino, now.st_mode) == (before.st_dev, before.st_ino, before.st_mode)


# ------------------------------------------------------------------------- the helper itself


def test_a_new_path_is_written_and_nothing_beside_it(tmp_path: Path) -> None:
    write_file(tmp_path / "file", [b"one ", memoryview(b"two")])
    assert (tmp_path / "file").read_bytes() == b"one two"
    write_file(tmp_path / "a" / "b" / "blob", b"x", folders=True)  # a folder the library owns
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "blob", "file"]


def test_a_file_output_needs_its_folder(tmp_path: Path) -> None:
    # as cp, the shell's `>` and crane: the folder of a file output is never made
    with pytest.raises(FileNotFoundError, match=r"No such file or directory: '.*/miss/a/b\.tar'$"):
        write_file(tmp_path / "miss" / "a" / "b.tar", b"x")
    (tmp_path / "dangling").symlink_to("nope/deeper/x.tar")
    with pytest.raises(FileNotFoundError, match=r"No such file or directory: '.*/dangling'$"):
        write_file(tmp_path / "dangling", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling"]


def test_a_regular_file_is_replaced_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old content")
    target.chmod(0o640)
    before = target.stat()
    write_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_ino != before.st_ino  # a new file, renamed into place
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.parametrize("interrupt", [RuntimeError("the source broke"), KeyboardInterrupt()])
@pytest.mark.parametrize("exists", [True, False])
def test_a_failure_half_way_leaves_the_path_as_it_was(tmp_path: Path, interrupt: BaseException, exists: bool) -> None:
    target = tmp_path / "file"
    if exists:
        target.write_bytes(b"old content")

    def pieces() -> Iterator[bytes]:
        yield b"x" * 100_000
        raise interrupt

    with pytest.raises(type(interrupt)):
        write_file(target, pieces())
    assert (target.read_bytes() if exists else target.exists()) == (b"old content" if exists else False)
    assert sorted(tmp_path.iterdir()) == ([target] if exists else [])


@pytest.mark.parametrize(
    ("links", "relative"),
    [
        ([("link", "data/target")], True),  # into another folder
        ([("link", "target")], False),  # absolute
        ([("first", "second"), ("second", "data/target")], True),  # a chain
    ],
)
def test_a_symlink_is_written_through_and_stays_a_link(
    tmp_path: Path, links: list[tuple[str, str]], relative: bool
) -> None:
    final = tmp_path / links[-1][1]
    final.parent.mkdir(exist_ok=True)
    final.write_bytes(b"old")
    final.chmod(0o600)
    for name, points_to in links:
        (tmp_path / name).symlink_to(points_to if relative else tmp_path / points_to)
    write_file(tmp_path / links[0][0], b"new content")
    for name, points_to in links:
        assert (tmp_path / name).readlink() == Path(points_to if relative else tmp_path / points_to)
    assert final.read_bytes() == b"new content"
    assert stat.S_IMODE(final.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []


def test_a_dangling_symlink_gets_its_target_made(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "link.tar").symlink_to("out/image.tar")
    write_file(tmp_path / "link.tar", b"tar")
    assert (tmp_path / "link.tar").is_symlink()
    assert (tmp_path / "out" / "image.tar").read_bytes() == b"tar"
    # credentials: their folders are made, as docker makes them
    (tmp_path / "config.json").symlink_to("dotfiles/docker/config.json")
    write_file(tmp_path / "config.json", b"{}", secret=True, folders=True)
    assert (tmp_path / "config.json").is_symlink()
    made = tmp_path / "dotfiles" / "docker" / "config.json"
    assert made.read_bytes() == b"{}"
    assert stat.S_IMODE(made.stat().st_mode) == 0o600


def test_a_fifo_is_written_into(tmp_path: Path) -> None:
    with fifo_reader(tmp_path / "fifo") as got:
        write_file(tmp_path / "fifo", [b"through ", b"the pipe"])
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO((tmp_path / "fifo").lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_a_character_device_is_written_into_never_replaced(tmp_path: Path) -> None:
    null = character_device(tmp_path / "null", 3)
    full = character_device(tmp_path / "full", 7)
    write_file(null, b"x" * 300_000)
    with pytest.raises(OSError, match=r"No space left on device: '.*full'"):  # the error names the path
        write_file(full, b"x" * 300_000)
    for device in (null, full):
        assert stat.S_ISCHR(device.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "null"]


def test_what_cannot_take_a_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "inside").write_bytes(b"kept")
    (tmp_path / "to-folder").symlink_to("folder")
    with pytest.raises(NotWritable, match=r"folder: it is a directory, not a file"):
        write_file(folder, b"x")
    with pytest.raises(NotWritable, match=r"to-folder: it is a directory"):
        write_file(tmp_path / "to-folder", b"x")
    # a socket's path must be short
    with tempfile.TemporaryDirectory(prefix="s") as short, socket.socket(socket.AF_UNIX) as listening:
        listening.bind(f"{short}/s")
        with pytest.raises(NotWritable, match=r"it is a socket, not a file"):
            write_file(Path(short) / "s", b"x")
        assert stat.S_ISSOCK(Path(short, "s").lstat().st_mode)
    assert (folder / "inside").read_bytes() == b"kept"
    assert (tmp_path / "to-folder").is_symlink()
    assert leftovers(tmp_path) == []


def test_a_block_device_is_refused(tmp_path: Path) -> None:
    try:
        os.mknod(tmp_path / "disk", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    except PermissionError as error:
        pytest.skip(f"cannot make a block device here: {error}")
    with pytest.raises(NotWritable, match=r"it is a block device"):
        write_file(tmp_path / "disk", b"x")
    assert stat.S_ISBLK((tmp_path / "disk").lstat().st_mode)


def test_the_name_of_an_open_descriptor_is_written_into_as_opened(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"first line\n")
    before = log.stat()
    handle = os.open(log, os.O_WRONLY | os.O_APPEND)  # as `>> log` opens it
    try:
        write_file(f"/dev/fd/{handle}", b"appended\n")
        write_file(f"/proc/self/fd/{handle}", b"and again\n")
    finally:
        os.close(handle)
    assert log.read_bytes() == b"first line\nappended\nand again\n"
    assert same_file(log, before)


def test_an_open_stream_is_written_as_it_is() -> None:
    buffer = io.BytesIO()
    write_file(buffer, [b"a", b"b"])
    assert buffer.getvalue() == b"ab"


def test_credentials_keep_their_mode_and_new_ones_are_private(tmp_path: Path) -> None:
    fresh = tmp_path / "new" / "config.json"
    write_file(fresh, b"{}", secret=True, folders=True)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700
    shared = tmp_path / "shared.json"
    shared.write_bytes(b"{}")
    shared.chmod(0o644)
    write_file(shared, b'{"auths": {}}', secret=True)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_replaced_file_keeps_its_owner_where_allowed(tmp_path: Path) -> None:
    target = tmp_path / "theirs"
    target.write_bytes(b"old")
    os.chown(target, 12345, 23456)
    write_file(target, b"new")
    assert (target.stat().st_uid, target.stat().st_gid) == (12345, 23456)


def test_output_yields_a_file_whose_content_arrives_only_at_the_end(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")
    with output(target) as out:
        out.write(b"new")
        out.flush()
        assert target.read_bytes() == b"old"  # readers see the old file until the new one is whole
        (temporary,) = leftovers(tmp_path)
        assert temporary.parent == tmp_path
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------- the command line


def cli(*arguments: str, umask: int = 0o022, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ocimodel", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        umask=umask,
        env={**os.environ, **(env or {})},
    )


def finished(process: subprocess.Popen[bytes]) -> tuple[int, bytes, bytes]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def ok(*arguments: str, umask: int = 0o022, env: dict[str, str] | None = None) -> bytes:
    status, out, err = finished(cli(*arguments, umask=umask, env=env))
    assert status == 0, err.decode()
    return out


@pytest.fixture(scope="module")
def image(registry: DistributionRegistry) -> Image:
    made = random.image(200_000, 2, seed=14)
    remote.write(f"{registry.host}/outputs/image:v1", made)
    return made


def modes(root: Path) -> set[tuple[str, int]]:
    """("dir" or "file", permission bits) of ``root`` and everything in it."""
    return {("dir" if p.is_dir() else "file", stat.S_IMODE(p.stat().st_mode)) for p in [root, *root.rglob("*")]}


@pytest.mark.registry
@pytest.mark.parametrize("umask", UMASKS)
def test_the_cli_makes_files_and_folders_as_the_umask_says(
    registry: DistributionRegistry, image: Image, tmp_path: Path, umask: int
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch), "DOCKER_CONFIG": str(tmp_path / "docker")}
    ref = f"{registry.host}/outputs/image:v1"
    file_mode, dir_mode = 0o666 & ~umask, 0o777 & ~umask

    ok("pull", ref, str(tmp_path / "image.tar"), umask=umask, env=env)
    assert tarball.image(tmp_path / "image.tar").digest() == image.digest()
    assert stat.S_IMODE((tmp_path / "image.tar").stat().st_mode) == file_mode

    ok("pull", "--format", "oci", ref, str(tmp_path / "layout"), umask=umask, env=env)
    ((_, pulled),) = layout.Layout(tmp_path / "layout").images()
    assert pulled.digest() == image.digest()
    assert modes(tmp_path / "layout") == {("dir", dir_mode), ("file", file_mode)}  # blobs, index.json, …

    ok("export", ref, str(tmp_path / "fs.tar"), umask=umask, env=env)
    exported = (tmp_path / "fs.tar").read_bytes()
    assert stat.S_IMODE((tmp_path / "fs.tar").stat().st_mode) == file_mode

    ok("auth", "login", "r.example", "-u", "me", "-p", "secret", umask=umask, env=env)
    assert modes(tmp_path / "docker") == {("dir", 0o700), ("file", 0o600)}  # credentials stay private

    assert list(scratch.iterdir()) == []
    assert leftovers(tmp_path) == []
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        assert any(name.startswith("random_file_") for name in archive.getnames())


@pytest.mark.registry
@pytest.mark.parametrize("umask", UMASKS)
def test_the_cli_writes_into_links_fifos_devices_and_stdout(
    registry: DistributionRegistry, image: Image, tmp_path: Path, umask: int
) -> None:
    ref = f"{registry.host}/outputs/image:v1"
    expected = ok("export", ref, "-", umask=umask)  # '-' is stdout
    with tarfile.open(fileobj=io.BytesIO(expected)) as archive:
        assert any(name.startswith("random_file_") for name in archive.getnames())

    # a symbolic link: written through, the link kept, the target's mode kept
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "fs.tar").write_bytes(b"old")
    (tmp_path / "real" / "fs.tar").chmod(0o640)
    (tmp_path / "link.tar").symlink_to("real/fs.tar")
    ok("export", ref, str(tmp_path / "link.tar"), umask=umask)
    assert (tmp_path / "link.tar").readlink() == Path("real/fs.tar")
    assert (tmp_path / "real" / "fs.tar").read_bytes() == expected
    assert stat.S_IMODE((tmp_path / "real" / "fs.tar").stat().st_mode) == 0o640

    # a FIFO: its reader gets the tar, the FIFO stays
    with fifo_reader(tmp_path / "fifo") as got:
        ok("export", ref, str(tmp_path / "fifo"), umask=umask)
    assert got == [expected]
    assert stat.S_ISFIFO((tmp_path / "fifo").lstat().st_mode)

    # a docker tarball into a FIFO and to stdout: the same bytes as into a file
    ok("pull", ref, str(tmp_path / "image.tar"), umask=umask)
    with fifo_reader(tmp_path / "image-fifo") as got:
        ok("pull", ref, str(tmp_path / "image-fifo"), umask=umask)
    assert got == [(tmp_path / "image.tar").read_bytes()] == [ok("pull", ref, "-", umask=umask)]

    # a directory: one line, nothing changed
    status, _, err = finished(cli("export", ref, str(tmp_path / "real"), umask=umask))
    assert status == 1
    assert err.decode().splitlines() == [
        f"ocimodel: cannot write to {tmp_path / 'real'}: it is a directory, not a file"
    ]

    # a character device, last (it may be skipped): it stays a device
    null = character_device(tmp_path / "null", 3)
    ok("export", ref, str(null), umask=umask)
    assert stat.S_ISCHR(null.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "image-fifo", "image.tar", "link.tar", "null", "real"]
    assert leftovers(tmp_path) == []


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the command ended before {what}: {finished(process)}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


EXIT_FOR = {signal.SIGINT: 130, signal.SIGTERM: 143}


def holding(process: subprocess.Popen[bytes], prefix: Path) -> bool:
    """Whether ``process`` has a file under ``prefix`` open."""
    try:
        descriptors = list(Path(f"/proc/{process.pid}/fd").iterdir())
    except OSError:
        return False  # the process is gone
    for descriptor in descriptors:
        with contextlib.suppress(OSError):  # closed since it was listed
            if str(descriptor.readlink()).startswith(str(prefix)):
                return True
    return False


@pytest.mark.registry
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("verb", ["pull", "export"])
def test_a_signal_mid_write_leaves_the_destination_and_nothing_else(
    distribution_proxy: FaultProxy, image: Image, tmp_path: Path, verb: str, signal_number: signal.Signals
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    destination = tmp_path / "out" / "result.tar"
    destination.parent.mkdir()
    destination.write_bytes(b"what was there")
    before = destination.stat()
    layer = image.manifest().layers[0].digest
    distribution_proxy.inject(Fault("GET", f"/blobs/{layer}", delay=10))  # the layer stalls
    ref = f"{distribution_proxy.host}/outputs/image:v1"
    running = cli(verb, ref, str(destination), env={"TMPDIR": str(scratch)})
    wait_for(lambda: bool(leftovers(destination.parent)), running, "the temporary file was made")
    running.send_signal(signal_number)
    status, _, err = finished(running)
    assert status == EXIT_FOR[signal_number], err.decode()
    assert "Traceback" not in err.decode()
    assert destination.read_bytes() == b"what was there"
    assert same_file(destination, before)
    assert sorted(destination.parent.iterdir()) == [destination]
    assert list(scratch.iterdir()) == []


@pytest.mark.registry
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_pull_keeps_the_layout_as_it_was(
    distribution_proxy: FaultProxy, image: Image, tmp_path: Path, signal_number: signal.Signals
) -> None:
    place = layout.Layout(tmp_path / "layout")
    kept = place.append_image(random.image(100, 1, seed=15))
    index_before = (place.path / "index.json").read_bytes()
    for each in image.manifest().layers:  # every layer stalls a little (workers finish before exit)
        distribution_proxy.inject(Fault("GET", f"/blobs/{each.digest}", delay=1.5))
    config = place.blob_path(image.manifest().config.digest)
    running = cli("pull", "--format", "oci", f"{distribution_proxy.host}/outputs/image:v1", str(place.path))
    wait_for(config.exists, running, "the config was written")
    running.send_signal(signal_number)
    status, _, err = finished(running)
    assert status == EXIT_FOR[signal_number], err.decode()
    assert (place.path / "index.json").read_bytes() == index_before
    assert [entry.digest for entry in place.image_index().index_manifest().manifests] == [kept.digest]
    assert leftovers(tmp_path) == []
    for each in image.manifest().layers:  # a layer is whole or absent
        assert not place.has(each.digest) or place.read_blob(each.digest, each.size)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_signal_while_a_layer_is_compressed_leaves_nothing_in_tmpdir(
    tmp_path: Path, signal_number: signal.Signals
) -> None:
    """The layer of a folder is compressed into a scratch file in $TMPDIR; a signal (SIGKILL
    included) while that runs leaves nothing there: the scratch file never had a name."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    destination = tmp_path / "image.tar"
    destination.write_bytes(b"what was there")
    source = tmp_path / "app"
    source.mkdir()
    for number in range(8):  # incompressible: long enough to compress that a signal lands mid-way
        (source / f"part{number}").write_bytes(os.urandom(8 << 20))
    running = cli(
        "append", "-f", str(source), "-t", "example.com/app:v1", "-o", str(destination), env={"TMPDIR": str(scratch)}
    )

    wait_for(lambda: holding(running, scratch), running, "the layer was being compressed")
    running.send_signal(signal_number)
    status, _, err = finished(running)
    assert status == EXIT_FOR.get(signal_number, -signal.SIGKILL), err.decode()
    assert list(scratch.iterdir()) == []
    assert destination.read_bytes() == b"what was there"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app", "image.tar", "tmp"]


@pytest.mark.registry
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_upload_ends_the_command_at_once_and_leaves_nothing(
    distribution_proxy: FaultProxy, tmp_path: Path, signal_number: signal.Signals
) -> None:
    """A blob goes up as one streamed request; on a slow link (here 1 MiB/s for 8 MiB) a signal
    ends the command at the upload's next piece, not when the blob is through, and the layer's
    scratch file in $TMPDIR goes with it."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    source = tmp_path / "app"
    source.mkdir()
    (source / "data").write_bytes(os.urandom(8 << 20))
    distribution_proxy.inject(Fault("PATCH", "/blobs/uploads/", body_rate=1 << 20))
    target = f"{distribution_proxy.host}/outputs/uploading:v1"
    running = cli("append", "-f", str(source), "-t", target, env={"TMPDIR": str(scratch)})
    wait_for(lambda: bool(distribution_proxy.requests("POST", "/blobs/uploads/")), running, "the upload started")
    time.sleep(0.3)  # well into the PATCH, which would take 8 s
    running.send_signal(signal_number)
    started = time.monotonic()
    status, _, err = finished(running)
    assert status == EXIT_FOR[signal_number], err.decode()
    # sooner than the grace worker threads get (after which the process ends without them): the
    # upload itself stopped, at a piece of 256 KiB, which this link takes in a quarter second
    assert time.monotonic() - started < 0.75 * GRACE
    assert "Traceback" not in err.decode()
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app", "tmp"]
    assert not distribution_proxy.requests("PUT", "/manifests/")


def test_a_tarball_to_stdout_leaves_stdout_to_it(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "run.sh").write_text("#!/bin/sh\n")
    status, out, err = finished(cli("append", "-f", str(tmp_path / "app"), "-t", "example.com/app:v1", "-o", "-"))
    assert status == 0, err.decode()
    (tmp_path / "image.tar").write_bytes(out)
    digest = tarball.image(tmp_path / "image.tar").digest()
    assert err.decode().splitlines()[-1] == f"example.com/app@{digest}"  # the result line, on stderr
    status, _, err = finished(cli("pull", "--format", "oci", "example.com/app:v1", "-"))
    assert status == 2
    assert "an OCI layout is a folder" in err.decode()


def test_the_embedded_registry_stores_files_as_the_umask_says(tmp_path: Path) -> None:
    from ocimodel.hashing import Hash
    from ocimodel.registry._storage import Storage

    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("no /proc/self/status to read the umask from (changing it is not thread-safe)")
    umask = int(next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("Umask:")), 8)
    storage = Storage(tmp_path / "storage")
    storage.put_blob("app", Hash.sha256(b"blob"), b"blob")
    storage.put_manifest("app", "v1", b"{}", "application/vnd.oci.image.manifest.v1+json")
    assert modes(tmp_path / "storage") == {("dir", 0o777 & ~umask), ("file", 0o666 & ~umask)}


# ------------------------------------------------------------------------- what cannot be written


def test_a_name_ending_in_a_slash_is_never_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"kept")
    (tmp_path / "folder").mkdir()
    with pytest.raises(NotADirectoryError, match=r"Not a directory: '.*/file/'$"):  # as cp says
        write_file(f"{tmp_path}/file/", b"x")
    with pytest.raises(IsADirectoryError, match=r"Is a directory: '.*/new/'$"):  # as tar says
        write_file(f"{tmp_path}/new/", b"x")
    with pytest.raises(NotWritable, match=r"folder/: it is a directory, not a file"):
        write_file(f"{tmp_path}/folder/", b"x")
    assert (tmp_path / "file").read_bytes() == b"kept"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["file", "folder"]


@pytest.mark.parametrize("stem", ["a" * 251, "é" * 125, "漢" * 83])  # 255, 254, 253 bytes with ".tar"
def test_a_name_near_name_max_gets_a_temporary_name_within_it(tmp_path: Path, stem: str) -> None:
    target = tmp_path / f"{stem}.tar"
    target.write_bytes(b"old")
    with output(target) as out:
        out.write(b"new")
        (temporary,) = leftovers(tmp_path)
        assert len(os.fsencode(temporary.name)) <= 255
        assert temporary.name.startswith(f".{stem[:10]}")  # cut between characters, never inside one
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path) == []


def test_a_hard_link_is_broken_the_other_name_keeps_the_old_content(tmp_path: Path) -> None:
    (tmp_path / "a.tar").write_bytes(b"old")
    (tmp_path / "b.tar").hardlink_to(tmp_path / "a.tar")
    write_file(tmp_path / "a.tar", b"new")  # a rename, as the README's table says (cp would write both)
    assert (tmp_path / "a.tar").read_bytes() == b"new"
    assert (tmp_path / "b.tar").read_bytes() == b"old"


@contextlib.contextmanager
def bind_mounted(source: Path, target: Path) -> Iterator[None]:
    """``source`` bind-mounted on the file ``target`` (as ``docker run -v`` mounts a file), or a skip."""
    mounted = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount a file here: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_a_bind_mounted_file_is_written_in_place(tmp_path: Path) -> None:
    host = tmp_path / "host.tar"
    host.write_bytes(b"old content")
    (tmp_path / "out.tar").write_bytes(b"placeholder")
    with bind_mounted(host, tmp_path / "out.tar"):
        write_file(tmp_path / "out.tar", [b"new ", b"content"])  # a rename onto a mount point: EBUSY
        assert leftovers(tmp_path) == []
    assert host.read_bytes() == b"new content"


def test_a_temporary_file_of_a_thread_that_never_ends_is_removed_when_the_process_ends(tmp_path: Path) -> None:
    # as the embedded registry's handler threads (daemon threads) are ended with the process
    script = f"""
import threading, time
from pathlib import Path
from ocimodel import _files
from ocimodel.errors import Cancelled

never = threading.Event()
def pieces():
    yield b"some"
    never.wait()
threading.Thread(target=_files.write_file, args=({str(tmp_path / "blob")!r}, pieces()), daemon=True).start()
folder = Path({str(tmp_path)!r})
while not list(folder.glob(".blob.*.partial")):
    time.sleep(0.01)
_files.remove_temporaries()
assert list(folder.iterdir()) == [], list(folder.iterdir())
try:
    _files.write_file(folder / "late", b"x")
except Cancelled:
    print("no new file")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, b"no new file\n"), done.stderr.decode()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------- files of another user


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder another user can reach (``tmp_path`` is under a folder of root's only), with a
    layer to append and a ``tmp`` for ``$TMPDIR``; skips unless we are root and ``setpriv`` works."""
    if os.geteuid() != 0:
        pytest.skip("running as another user needs root")
    folder = Path(tempfile.mkdtemp(prefix="ocimodel-outputs-"))
    try:
        folder.chmod(0o755)
        probe = subprocess.run([*NOBODY, "test", "-x", str(folder)], capture_output=True, check=False)
        if probe.returncode != 0:
            pytest.skip(f"cannot run as nobody in {folder}: {probe.stderr.decode().strip()}")
        (folder / "layer").mkdir()
        (folder / "layer" / "run.sh").write_text("#!/bin/sh\n")
        (folder / "tmp").mkdir(mode=0o777)
        (folder / "tmp").chmod(0o1777)
        yield folder
    finally:
        shutil.rmtree(folder)


def append_as_nobody(shared: Path, destination: Path) -> tuple[int, bytes, bytes]:
    """``ocimodel append`` (no registry needed) writing ``destination``, run as nobody."""
    process = subprocess.Popen(
        [
            *NOBODY,
            sys.executable,
            "-m",
            "ocimodel",
            "append",
            "-f",
            str(shared / "layer"),
            "-t",
            "example.com/app:v1",
            "-o",
            str(destination),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=shared,
        env={**os.environ, "TMPDIR": str(shared / "tmp"), "HOME": str(shared)},
    )
    return finished(process)


def test_a_file_we_may_not_write_is_refused_as_cp_refuses_it(shared: Path) -> None:
    mine = shared / "mine"
    mine.mkdir()
    target = mine / "r.tar"
    target.write_bytes(b"read-only")
    target.chmod(0o444)
    for each in (mine, target):
        os.chown(each, 65534, 65534)  # nobody's own folder, nobody's own read-only file
    status, _, err = append_as_nobody(shared, target)
    assert status == 1
    assert err.decode().splitlines() == [f"ocimodel: [Errno 13] Permission denied: '{target}'"]
    assert target.read_bytes() == b"read-only"
    assert leftovers(shared) == []


@pytest.mark.parametrize("where", ["a folder of root's", "a sticky folder"])
def test_a_file_we_may_write_but_not_replace_is_written_in_place(shared: Path, where: str) -> None:
    folder = shared / "theirs"
    folder.mkdir(mode=0o755)
    if where == "a sticky folder":  # as /tmp: anyone makes files, nobody renames over another's
        folder.chmod(0o1777)
    target = folder / "w.tar"
    target.write_bytes(b"old")
    target.chmod(0o666)
    before = target.stat()
    status, out, err = append_as_nobody(shared, target)
    assert status == 0, err.decode()
    assert same_file(target, before)  # the same file, written into, as cp writes into it
    assert out.decode() == f"example.com/app@{tarball.image(target).digest()}\n"
    assert leftovers(shared) == []
    assert list((shared / "tmp").iterdir()) == []


def test_a_new_file_in_a_folder_we_may_not_write_names_the_path(shared: Path) -> None:
    target = shared / "new.tar"  # shared is root's, 0755
    status, _, err = append_as_nobody(shared, target)
    assert status == 1
    assert err.decode().splitlines() == [f"ocimodel: [Errno 13] Permission denied: '{target}'"]
    assert not target.exists()


# ------------------------------------------------------------------------- the command line, again


def a_layer_folder(tmp_path: Path, size: int = 100) -> Path:
    """A folder ``append -f`` makes a layer of (random content: it does not compress)."""
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "data").write_bytes(os.urandom(size))
    return folder


@pytest.mark.parametrize("name", ["/dev/stdout", "/proc/self/fd/1"])  # /dev/fd/1 is /proc/self/fd/1
def test_a_tarball_to_a_name_of_stdout_leaves_stdout_to_it(tmp_path: Path, name: str) -> None:
    layer = a_layer_folder(tmp_path)
    with (tmp_path / "out.tar").open("wb") as stdout:  # `> out.tar`
        done = subprocess.run(
            [sys.executable, "-m", "ocimodel", "append", "-f", str(layer), "-t", "example.com/app:v1", "-o", name],
            stdout=stdout,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    digest = tarball.image(tmp_path / "out.tar").digest()  # nothing after the tarball's end
    assert done.stderr.decode().splitlines() == [f"example.com/app@{digest}"]
    assert (tmp_path / "out.tar").stat().st_size % 512 == 0


@pytest.mark.registry
def test_mutate_to_dev_stdout_leaves_stdout_to_the_tarball(image: Image, registry: DistributionRegistry) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocimodel",
            "mutate",
            "-l",
            "a=b",
            f"{registry.host}/outputs/image:v1",
            "-t",
            "example.com/app:v2",
            "-o",
            "/dev/stdout",
        ],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        assert "manifest.json" in archive.getnames()
    assert done.stderr.decode().splitlines()[-1].startswith("example.com/app@sha256:")
    assert b"example.com/app@sha256:" not in done.stdout[-1024:]


@pytest.mark.registry
def test_a_layout_onto_a_file_or_a_fifo_says_why_in_one_line(
    image: Image, registry: DistributionRegistry, tmp_path: Path
) -> None:
    (tmp_path / "file").write_bytes(b"kept")
    os.mkfifo(tmp_path / "fifo")
    for name, kind in [("file", "a file"), ("fifo", "a FIFO")]:
        status, _, err = finished(
            cli("pull", "--format", "oci", f"{registry.host}/outputs/image:v1", str(tmp_path / name))
        )
        assert status == 1
        assert err.decode().splitlines() == [
            f"ocimodel: cannot write an OCI layout to {tmp_path / name}: it is {kind}, a layout is a folder"
        ]
    assert (tmp_path / "file").read_bytes() == b"kept"


@pytest.mark.parametrize("name", ["-", "fifo"])
def test_a_reader_that_goes_away_ends_the_command_quietly_with_141(tmp_path: Path, name: str) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    layer = a_layer_folder(tmp_path, 1 << 20)  # more than a pipe holds
    destination = str(tmp_path / name) if name == "fifo" else name
    if name == "fifo":
        os.mkfifo(destination)
    running = cli(
        "append", "-f", str(layer), "-t", "example.com/app:v1", "-o", destination, env={"TMPDIR": str(scratch)}
    )
    assert running.stdout is not None
    if name == "fifo":
        with open(destination, "rb") as reader:  # noqa: PTH123 (opening a FIFO waits for the writer)
            assert len(reader.read(10)) == 10
    else:
        assert len(running.stdout.read(10)) == 10
        running.stdout.close()  # `| head -c 10`
    status, _, err = finished(running)
    assert (status, err) == (141, b"")  # as SIGPIPE ends tar or cat: no message, no traceback
    assert list(scratch.iterdir()) == []
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ignored_at_the_start_stays_ignored(tmp_path: Path, signal_number: signal.Signals) -> None:
    layer = a_layer_folder(tmp_path, 1 << 20)  # a tarball larger than a pipe holds
    fifo = tmp_path / "image.tar"
    os.mkfifo(fifo)
    # as `trap '' INT` or a shell's background job leaves it: ignored, and so kept (sleep, python do)
    ignoring = f'trap \'\' {signal_number.name.removeprefix("SIG")}; exec "$0" -m ocimodel "$@"'
    arguments = ["append", "-f", str(layer), "-t", "example.com/app:v1", "-o", str(fifo)]
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # nothing read yet: the command waits on a full pipe
    with os.fdopen(reader, "rb") as stream:
        running = subprocess.Popen(
            ["sh", "-c", ignoring, sys.executable, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        wait_for(lambda: holding(running, fifo), running, "the tarball was being written")
        running.send_signal(signal_number)  # a caught one would end the command, blocked in a write
        os.set_blocking(reader, True)
        written = stream.read()
    status, out, err = finished(running)
    assert status == 0, err.decode()
    assert out.decode().startswith("example.com/app@sha256:")
    assert len(written) > 1 << 20


@pytest.mark.registry
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_command_even_when_a_worker_is_blocked_for_good(
    distribution_proxy: FaultProxy, image: Image, tmp_path: Path, signal_number: signal.Signals
) -> None:
    layer = image.manifest().layers[0].digest
    distribution_proxy.inject(Fault("GET", f"/blobs/{layer}", stall_after=50_000, stall_for=60))
    place = tmp_path / "layout"
    running = cli("pull", "--format", "oci", f"{distribution_proxy.host}/outputs/image:v1", str(place))
    try:
        stalled = place / "blobs" / "sha256"  # the layer's own temporary file, which stays
        wait_for(lambda: bool(list(stalled.glob(f".{layer.hex}.*.partial"))), running, "the layer was being written")
        running.send_signal(signal_number)
        started = time.monotonic()
        _, err = running.communicate(timeout=20)
    finally:
        running.kill()
        running.communicate()
    status = running.returncode
    assert status == EXIT_FOR[signal_number], err.decode()
    assert time.monotonic() - started < 10  # the grace the workers get, and a little more
    assert leftovers(tmp_path) == []
    assert not (place / "blobs" / "sha256" / layer.hex).exists()


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_the_embedded_registry_ends_with_the_signal_and_leaves_no_partial_blob(
    tmp_path: Path, signal_number: signal.Signals
) -> None:
    storage = tmp_path / "storage"
    running = cli("registry", "serve", "--address", "127.0.0.1:0", "--disk", str(storage))
    stop = threading.Event()
    pushing = threading.Thread()
    try:
        assert running.stderr is not None
        line = running.stderr.readline().decode()
        assert line.startswith("serving on "), line
        host = line.split()[-1]

        def push() -> None:  # blobs being written as the signal comes; it fails when the registry goes
            with contextlib.suppress(Exception):
                remote.write(f"{host}/app:v1", random.image(4 << 20, 4, seed=16), session=remote.Session(cancel=stop))

        pushing = threading.Thread(target=push, daemon=True)
        pushing.start()
        wait_for(lambda: (storage / "blobs").exists(), running, "a blob was stored")
        running.send_signal(signal_number)
        status, _, err = finished(running)
    finally:
        running.kill()
        running.communicate()
        stop.set()
        if pushing.is_alive():
            pushing.join(timeout=30)
    assert status == EXIT_FOR[signal_number], err.decode()
    assert "Traceback" not in err.decode()
    assert leftovers(storage) == []


# ------------------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{bad", "it is not JSON"),
        (b"[]", "it is not a JSON object"),
        (b"\xff\xfe{}", "it is not JSON"),
        (b'{"auths": []}', "its auths is not a JSON object"),
    ],
)
@pytest.mark.parametrize("verb", ["login", "logout"])
def test_a_bad_credentials_file_is_one_line_naming_it(tmp_path: Path, verb: str, content: bytes, why: str) -> None:
    config = tmp_path / "config.json"
    config.write_bytes(content)
    arguments = ["-u", "me", "-p", "secret"] if verb == "login" else []
    status, _, err = finished(cli("auth", verb, "r.example", *arguments, env={"DOCKER_CONFIG": str(tmp_path)}))
    assert status == 1
    (line,) = err.decode().splitlines()
    assert line.startswith(f"ocimodel: cannot read credentials file {config}: {why}")
    assert config.read_bytes() == content


def test_an_empty_credentials_file_or_dev_null_is_an_empty_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(b"")  # as docker reads it
    ok("auth", "login", "r.example", "-u", "me", "-p", "secret", env={"DOCKER_CONFIG": str(tmp_path)})
    assert "r.example" in (tmp_path / "config.json").read_text()
    (tmp_path / "config.json").unlink()
    (tmp_path / "config.json").symlink_to(os.devnull)
    ok("auth", "login", "r.example", "-u", "me", "-p", "secret", env={"DOCKER_CONFIG": str(tmp_path)})
    ok("auth", "logout", "r.example", env={"DOCKER_CONFIG": str(tmp_path)})
    assert (tmp_path / "config.json").readlink() == Path(os.devnull)
