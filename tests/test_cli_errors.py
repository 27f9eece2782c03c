"""Every verb against bad input: one line on stderr naming what the user gave, the exit status the
README's table gives (1 a failed operation, 2 a usage error), nothing on stdout, no traceback.

The table has a row for every verb ``ocimodel --help`` lists (read from the click group, so a new
verb without one fails :func:`test_every_verb_has_bad_inputs`). The verbs run in this process
through ``ocimodel.cli.main``, the entry point: an exception that is not meant for the user
(anything but an ``OCIError`` or an ``OSError``) escapes it and fails the test with its traceback;
a few run as processes too (:func:`test_the_process_prints_the_same_one_line`)."""

from __future__ import annotations

import gzip
import io
import shlex
import socket
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import click
import pytest

from ocimodel import cli, empty, layer, layout, mutate, random, remote, tarball
from ocimodel.errors import OCIError
from ocimodel.image import BlobLayer
from ocimodel.mediatype import MediaType
from tests.harness.distribution import DistributionRegistry

pytestmark = pytest.mark.registry

ZEROS = "sha256:" + "0" * 64


class Bad(NamedTuple):
    """One bad input: the arguments (``{R}``: a repository prefix in the registry, ``{C}``: a
    closed port, ``{D}``: the folder of bad files, ``{T}``: a fresh folder, ``{H}``: the
    registry), the exit status, what of the input the message must name (default: the last
    argument), and a docker config folder (``{D}/docker-bad``: a config.json that is not JSON)."""

    arguments: str
    status: int = 1
    named: str | None = None
    docker_config: str = "{D}/docker"


#: What ``append`` does with a file that is not a tar depends on whether ``layer.from_file``
#: refuses it (then one line, status 1), or takes it as it is (status 0): see ``refusing``.
NOT_A_TAR = -1

BAD: dict[str, list[Bad]] = {
    "version": [Bad("version extra", 2, "extra")],
    "digest": [
        Bad("digest --tarball {D}/notatar", named="{D}/notatar"),
        Bad("digest --tarball {D}/truncated.tar", named="{D}/truncated.tar"),
        Bad("digest --tarball {D}/badjson.tar", named="{D}/badjson.tar"),
        Bad("digest --tarball {D}/empty", named="{D}/empty"),
        Bad("digest --tarball {D}/missing.tar", 2),
        Bad("digest --tarball {D}/socket", named="{D}/socket"),
        Bad("digest --tarball {D}/folder", 2),
        Bad("digest {C}/x:v1", named="{C}"),
        Bad("digest {R}/image:missing", named="missing"),
        Bad("digest {R}/missing:v1", named="missing"),
        Bad("digest 'Not A Valid:ref'", named="'Not A Valid:ref'"),
        Bad("digest {R}/image@sha256:abc"),
        Bad("--platform linux/x/y/z/w digest {R}/image:v1", named="linux/x/y/z/w"),
    ],
    "manifest": [
        Bad("manifest {R}/image:missing", named="missing"),
        Bad("manifest 'Not A Valid:ref'", named="'Not A Valid:ref'"),
        Bad("manifest {C}/x:v1", named="{C}"),
    ],
    "config": [
        Bad("config {R}/missing:v1", named="missing"),
        Bad(f"config {{R}}/image@{ZEROS}", named=ZEROS),
        Bad("config UPPER/case"),
    ],
    "ls": [Bad("ls {R}/missing", named="errors/missing"), Bad("ls 'Not A Valid'"), Bad("ls {C}/x", named="{C}")],
    "catalog": [Bad("catalog {C}"), Bad("catalog 'not a host!'")],
    "tag": [Bad("tag {R}/missing:v1 v2", named="missing"), Bad("tag {R}/image:v1 'bad tag!'")],
    "delete": [Bad("delete {R}/missing:v1"), Bad("delete {C}/x:v1", named="{C}")],
    "blob": [
        Bad("blob {R}/image:v1"),  # a tag where a digest is needed
        Bad(f"blob {{R}}/image@{ZEROS}", named=ZEROS),
        Bad("blob 'Not A Valid@sha256:00'"),
    ],
    "copy": [
        Bad("copy {R}/missing:v1 {R}/copied:v1", named="missing"),
        Bad("copy {R}/image:v1 'Not A Valid:x'"),
        Bad("copy {C}/x:v1 {R}/copied:v1", named="{C}"),
    ],
    "pull": [
        Bad("pull {R}/missing:v1 {T}/out.tar", named="missing"),
        Bad("pull {R}/image:v1 {T}/no/out.tar", named="{T}/no/out.tar"),
        Bad("pull --format oci {R}/image:v1 {D}/notatar", named="{D}/notatar"),
        Bad("pull {C}/x:v1 {T}/out.tar", named="{C}"),
        Bad("pull 'Not A Valid:ref' {T}/out.tar", named="'Not A Valid:ref'"),
    ],
    "push": [
        Bad("push {D}/notatar {R}/pushed:v1", named="{D}/notatar"),
        Bad("push {D}/truncated.tar {R}/pushed:v1", named="{D}/truncated.tar"),
        Bad("push {D}/badjson.tar {R}/pushed:v1", named="{D}/badjson.tar"),
        Bad("push {D}/empty {R}/pushed:v1", named="{D}/empty"),
        Bad("push {D}/badjson-layout {R}/pushed:v1", named="{D}/badjson-layout"),
        Bad("push {D}/folder {R}/pushed:v1", named="{D}/folder"),
        Bad("push {D}/socket {R}/pushed:v1", named="{D}/socket"),
        Bad("push {D}/missing.tar {R}/pushed:v1", 2, "{D}/missing.tar"),
        Bad("push {D}/good.tar 'Not A Valid:x'"),
        Bad("push {D}/good.tar {C}/x:v1", named="{C}"),
    ],
    "append": [
        Bad("append -f {D}/notatar -t {R}/appended:v1", NOT_A_TAR, "{D}/notatar"),
        Bad("append -f {D}/empty -t {R}/appended:v1", NOT_A_TAR, "{D}/empty"),
        Bad("append -f {D}/missing.tar -t {R}/appended:v1", 2, "{D}/missing.tar"),
        Bad("append -f {D}/socket -t {R}/appended:v1", named="{D}/socket"),
        Bad("append -b {R}/missing:v1 -f {D}/folder -t {R}/appended:v1", named="missing"),
        Bad("append -f {D}/folder -t 'Not A Valid:x'"),
        Bad("append -f {D}/folder -t example.com/a:v1 -o {T}/no/out.tar", named="{T}/no/out.tar"),
    ],
    "export": [
        Bad("export {R}/broken:v1 {T}/fs.tar", named="{R}/broken:v1"),
        Bad("export {R}/missing:v1 {T}/fs.tar", named="{R}/missing:v1"),
        Bad("export {R}/image:v1 {T}/no/fs.tar", named="{T}/no/fs.tar"),
        Bad("export {R}/image:v1 {D}/folder", named="{D}/folder"),
    ],
    "validate": [
        Bad("validate --tarball {D}/notatar"),
        Bad("validate --tarball {D}/truncated.tar"),
        Bad("validate --tarball {D}/badjson.tar"),
        Bad("validate --tarball {D}/socket"),
        Bad("validate --tarball {D}/missing.tar", 2),
        Bad("validate --remote {R}/broken:v1"),
        Bad("validate --remote {R}/missing:v1"),
        Bad("validate --remote 'Not A Valid'"),
        Bad("validate", 2, "--remote"),
    ],
    "mutate": [
        Bad("mutate {R}/missing:v1 -l a=b", named="missing"),
        Bad("mutate {R}/image:v1 --set-platform not/a/b/c/d"),
        Bad("mutate {R}/image:v1 -t 'Not A Valid'"),
        Bad("mutate {R}/image:v1 -l nokv", 2),
        Bad("mutate {R}/image:v1 -l a=b -o {T}/no/m.tar", named="{T}/no/m.tar"),
    ],
    "flatten": [
        Bad("flatten {R}/broken:v1 -t {R}/flat:v1", named="{R}/broken:v1"),
        Bad("flatten {R}/missing:v1 -t {R}/flat:v1", named="missing"),
        Bad("flatten {R}/image:v1 -t 'Not A Valid'"),
    ],
    "rebase": [
        Bad("rebase {R}/image:v1 --old-base {R}/missing:v1 --new-base {R}/image:v1 -t {R}/r:v1", named="missing"),
        Bad("rebase {R}/image:v1 --old-base {R}/broken:v1 --new-base {R}/image:v1 -t {R}/r:v1", named="{R}/broken:v1"),
    ],
    "index list": [
        Bad("index list {R}/missing:v1", named="missing"),
        Bad("index list {R}/image:v1"),  # an image, not an index
        Bad("index list 'Not A Valid'"),
    ],
    "index filter": [
        Bad("index filter {R}/image:v1 --platform linux/amd64 -t {R}/f:v1", named="{R}/image:v1"),
        Bad("index filter {R}/index:v1 --platform bad/p/x/y/z -t {R}/f:v1", named="bad/p/x/y/z"),
    ],
    "index append": [
        Bad("index append -m {R}/missing:v1 -t {R}/ia:v1", named="missing"),
        Bad("index append -b {R}/image:v1 -m {R}/image:v1 -t {R}/ia:v1", named="{R}/image:v1"),
        Bad("index append -m {R}/image:v1 -t 'Not A Valid'"),
    ],
    "registry serve": [
        Bad("registry serve --address 127.0.0.1:notaport", 2),
        Bad("registry serve --address 192.0.2.1:80", named="192.0.2.1:80"),  # not this machine's
        Bad("registry serve --disk {D}/notatar", 2),
    ],
    "auth login": [
        Bad("auth login 'bad registry!' -u me -p secret", named="'bad registry!'"),
        Bad("auth login r.example -u me -p secret", named="{D}/docker-bad", docker_config="{D}/docker-bad"),
        Bad("auth login r.example -u me", 2, "--password"),
    ],
    "auth logout": [
        Bad("auth logout 'bad registry!'"),
        Bad("auth logout r.example", named="{D}/docker-bad", docker_config="{D}/docker-bad"),
    ],
    "auth token": [
        Bad("auth token {C}/x", named="{C}"),
        Bad("auth token 'Not A Valid'"),
        Bad("auth token {R}/x", named="{H}"),  # a registry that asks for no authentication
    ],
    "auth get": [
        Bad("auth get 'bad registry!'"),
        Bad("auth get r.example", named="{D}/docker-bad", docker_config="{D}/docker-bad"),
    ],
}


def verbs(group: click.Group = cli.cli, prefix: str = "") -> Iterator[str]:
    """Every command ``ocimodel --help`` leads to, groups opened: "digest", "index list", …"""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from verbs(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


def test_every_verb_has_bad_inputs() -> None:
    assert sorted(BAD) == sorted(verbs())


def bad_tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return out.getvalue()


@pytest.fixture(scope="module")
def places(registry: DistributionRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The registry's content and the bad files the rows name."""
    folder = tmp_path_factory.mktemp("bad")
    host = registry.host
    image = random.image(2000, 2, seed=70)
    remote.write(f"{host}/errors/image:v1", image)
    index = mutate.append_manifests(empty.index, mutate.IndexAddendum(image))
    remote.write_index(f"{host}/errors/index:v1", index)
    not_a_tar = BlobLayer(gzip.compress(b"plain text, not a tar\n" * 50), MediaType.DOCKER_LAYER)
    remote.write(f"{host}/errors/broken:v1", mutate.append_layers(empty.image, not_a_tar))
    tarball.write(folder / "good.tar", image, tag="example.com/errors:v1")
    whole = (folder / "good.tar").read_bytes()
    (folder / "truncated.tar").write_bytes(whole[: len(whole) // 2])
    (folder / "notatar").write_bytes(b"hello, not a tar\n")
    (folder / "empty").write_bytes(b"")
    (folder / "badjson.tar").write_bytes(bad_tar({"manifest.json": b"{not json"}))
    layout.write(folder / "badjson-layout", empty.index)
    (folder / "badjson-layout" / "index.json").write_text("{not json")
    (folder / "folder").mkdir()
    (folder / "folder" / "file").write_text("a layer's file\n")
    (folder / "docker").mkdir()
    (folder / "docker-bad").mkdir()
    (folder / "docker-bad" / "config.json").write_text("{not json")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(folder / "socket"))  # a file no one can open
    try:
        yield {
            "R": f"{host}/errors",
            "H": host,
            "C": "127.0.0.1:1",
            "D": str(folder),
        }
    finally:
        listener.close()


def refusing(path: str) -> bool:
    """Whether ``layer.from_file`` refuses the file (it is not a tar)."""
    try:
        layer.from_file(path).digest()
    except OCIError:
        return True
    return False


ROWS = [pytest.param(verb, bad, id=f"{verb}: {bad.arguments}") for verb, rows in BAD.items() for bad in rows]


@pytest.mark.parametrize(("verb", "bad"), ROWS)
def test_bad_input_is_one_line_naming_it(
    places: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    verb: str,
    bad: Bad,
) -> None:
    given = {**places, "T": str(tmp_path)}
    arguments = shlex.split(bad.arguments.format(**given))
    assert all(word in arguments for word in verb.split())  # the row is filed under its verb
    monkeypatch.setenv("DOCKER_CONFIG", bad.docker_config.format(**given))
    named = bad.named.format(**given) if bad.named is not None else arguments[-1]
    status = bad.status
    if status == NOT_A_TAR:
        status = 1 if refusing(named) else 0
    done = cli.main(arguments)  # an exception not meant for the user escapes here
    out, err = capsys.readouterr()
    if status == 0:  # taken as it is (see NOT_A_TAR)
        assert (done, err) == (0, "")
        return
    assert done == status, err
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("ocimodel: "), err
    assert "Traceback" not in err
    assert named in err, err


@pytest.mark.parametrize(
    "arguments",
    [
        "blob {R}/image:v1",
        "digest --tarball {D}/notatar",
        "validate --tarball {D}/truncated.tar",
        "push {D}/notatar {R}/pushed:v1",
        "export {R}/broken:v1 -",
        "digest 'Not A Valid:ref'",
        "push {D}/missing.tar {R}/pushed:v1",
    ],
)
def test_the_process_prints_the_same_one_line(places: dict[str, str], arguments: str) -> None:
    """The entry point as a process (``python -m ocimodel``) says what ``main`` says."""
    done = subprocess.run(
        [sys.executable, "-m", "ocimodel", *shlex.split(arguments.format(**places))],
        capture_output=True,
        timeout=60,
        check=False,
    )
    lines = done.stderr.decode().splitlines()
    assert done.returncode in (1, 2)
    assert done.stdout == b""
    assert len(lines) == 1, lines
    assert lines[0].startswith("ocimodel: ")


def test_a_message_of_several_lines_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A registry's detail or a list of problems may hold line breaks: they are joined."""
    cli._complain("first\n  second\n\nthird", OCIError())
    assert capsys.readouterr().err == "ocimodel: first; second; third\n"
