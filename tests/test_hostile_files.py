"""Rule 5 of the hostile inputs: local files are read within bounds.

Every path ocimodel reads (a layout's ``index.json`` and blobs, a docker-save tarball and the files
in it, a layer file, docker's ``config.json``) may hold a FIFO nobody writes to, a link to
``/dev/zero``, a directory, or a sparse file claiming gigabytes. Each is refused at once, in one
typed error naming the file, in a child with 200 MiB and 10 s: never a block at open, a read
without end or a ``MemoryError``. Documents are read with their descriptor's size, or the
document cap, as the limit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ocimodel import random, tarball
from ocimodel.layout import Layout
from tests.harness import confined, hostile
from tests.harness.hostile import HUGE, KINDS, plant, refusal, refused, refused_cli


def _validate(path: Path) -> str:
    return f"validate.index(layout.Layout({str(path)!r}).image_index(), fast=True)"


_READ_LAYOUTS = "from ocimodel import layout, validate"


# ---------------------------------------------------------------------------------------- layouts


def test_a_layout_index_json_that_is_not_a_document(tmp_path: Path) -> None:
    """A FIFO (which used to block for ever), a link to /dev/zero or a sparse file of 3 GiB (which
    used to end in MemoryError), a directory: each refused, naming index.json."""
    kinds = [*KINDS, "huge"]
    for kind in kinds:
        place, _ = hostile.small_layout(tmp_path / kind)
        plant(place.path / "index.json", kind)
    ended = hostile.each({kind: _validate(tmp_path / kind) for kind in kinds}, prelude=_READ_LAYOUTS)
    for kind in kinds:
        refusal(ended[kind], "ManifestTooLarge" if kind == "huge" else "NotReadable", tmp_path / kind / "index.json")


def _handmade(folder: Path, *, manifest_size: int | None = None, config_size: int | None = None) -> dict[str, str]:
    """A layout written by hand (so its descriptors can lie): one image, no layer; the blob
    paths of its manifest and config."""
    place = Layout(folder)
    config_bytes = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", **hostile.blob(place, config_bytes)}
    if config_size is not None:
        config["size"] = config_size
    manifest_bytes = json.dumps(
        {"schemaVersion": 2, "mediaType": hostile.MANIFEST, "config": config, "layers": []}
    ).encode()
    manifest = {"mediaType": hostile.MANIFEST, **hostile.blob(place, manifest_bytes)}
    if manifest_size is not None:
        manifest["size"] = manifest_size
    hostile.index_json(place, [manifest])
    return {
        name: str(place.path / "blobs" / "sha256" / str(descriptor["digest"]).split(":")[1])
        for name, descriptor in (("manifest", manifest), ("config", config))
    }


@pytest.mark.parametrize("blob", ["manifest", "config"])
def test_a_layout_blob_that_is_not_a_document(tmp_path: Path, blob: str) -> None:
    kinds = [*KINDS, "huge", "huge, and its descriptor says so"]
    paths = {}
    for number, kind in enumerate(kinds):
        claims = {f"{blob}_size": HUGE} if kind.startswith("huge, ") else {}
        paths[kind] = _handmade(tmp_path / str(number), **claims)[blob]
        plant(Path(paths[kind]), kind.split(",")[0])
    ended = hostile.each(
        {kind: _validate(tmp_path / str(number)) for number, kind in enumerate(kinds)}, prelude=_READ_LAYOUTS
    )
    expected = {
        "fifo": "NoSuchBlob",  # a blob that is not a regular file is not there
        "dev-zero": "NoSuchBlob",
        "directory": "NoSuchBlob",
        "huge": "DigestMismatch",  # read up to the size its descriptor gives: not what it names
        "huge, and its descriptor says so": "ManifestTooLarge" if blob == "manifest" else "DocumentTooLarge",
    }
    for number, kind in enumerate(kinds):
        refusal(ended[kind], expected[kind], tmp_path / str(number), paths[kind].rsplit("/", 1)[1])


def test_gc_refuses_what_it_cannot_read_and_removes_nothing(tmp_path: Path) -> None:
    paths = _handmade(tmp_path, manifest_size=HUGE)
    plant(Path(paths["manifest"]), "huge")
    (tmp_path / "blobs" / "sha256" / ("0" * 64)).write_bytes(b"unreachable")
    code = hostile.python(f"from ocimodel import layout\nlayout.Layout({str(tmp_path)!r}).gc()")
    refused(confined.python(code), "ManifestTooLarge", tmp_path)
    assert (tmp_path / "blobs" / "sha256" / ("0" * 64)).exists()


def test_the_document_cap_is_an_option(tmp_path: Path) -> None:
    """``OCIMODEL_DOCUMENT_LIMIT`` moves the cap: an index.json over it is refused, naming it."""
    place, _ = hostile.small_layout(tmp_path)
    index = json.loads((place.path / "index.json").read_bytes())
    index["annotations"] = {"padding": "x" * 4000}  # the largest document of the layout
    (place.path / "index.json").write_text(json.dumps(index))
    size = (place.path / "index.json").stat().st_size
    cases = {"under": size - 1, "at": size, "not a number": "lots"}
    ended = {
        name: hostile.each(
            {name: _validate(place.path)},
            prelude=_READ_LAYOUTS,
            env={**os.environ, "OCIMODEL_DOCUMENT_LIMIT": str(limit)},
        )[name]
        for name, limit in cases.items()
    }
    refusal(ended["under"], "ManifestTooLarge", place.path / "index.json", f"{size - 1}-byte limit (OCIMODEL_DOC")
    assert ended["at"] == "ok"
    refusal(ended["not a number"], "OCIError", "OCIMODEL_DOCUMENT_LIMIT", "'lots'")


# ---------------------------------------------------------------------------------------- tarballs


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_tarball_that_is_not_a_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    """``digest --tarball FIFO`` used to wait for a writer for ever."""
    path = tmp_path / "image.tar"
    plant(path, kind)
    refused_cli(confined.cli("digest", "--tarball", str(path)), "cannot read", path)


def _docker_save(members: dict[str, bytes | int]) -> dict[str, bytes | int]:
    """A docker save's manifest.json and config, with ``members`` added or put instead."""
    base: dict[str, bytes | int] = {
        "manifest.json": hostile.docker_manifest("config.json"),
        "config.json": json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode(),
    }
    return {**base, **members}


def test_tarball_documents_claiming_gigabytes_are_refused_unread(tmp_path: Path) -> None:
    cases: dict[str, dict[str, bytes | int]] = {
        "manifest.json": _docker_save({"manifest.json": HUGE}),
        "config.json": _docker_save({"config.json": HUGE}),
        "repositories": {"repositories": HUGE},  # a docker save from before 1.10: no manifest.json
        "directory": {},
    }
    for name, members in cases.items():
        hostile.sparse_tar(tmp_path / f"{name}.tar", members)
    (tmp_path / "directory.tar").unlink()
    (tmp_path / "directory.tar").mkdir()
    ended = hostile.each(
        {name: f"tarball.image({str(tmp_path / name)!r} + '.tar').digest()" for name in cases},
        prelude="from ocimodel import tarball",
    )
    for name in ("manifest.json", "config.json", "repositories"):
        refusal(ended[name], "DocumentTooLarge", tmp_path / f"{name}.tar", f"{name} in", "limit")
    refusal(ended["directory"], "NotReadable", tmp_path / "directory.tar")
    line = refused_cli(confined.cli("digest", "--tarball", str(tmp_path / "config.json.tar")), "cannot read")
    assert "OCIMODEL_DOCUMENT_LIMIT" in line


def test_an_oci_index_too_large_in_a_tarball_is_passed_over_as_docker_load_does(tmp_path: Path) -> None:
    """The OCI side of a docker save is only a hint (docker load never reads it): one too large
    to read is logged and manifest.json followed, as for any other broken OCI side."""
    image = random.image(64, 1, seed=3)
    tarball.write(tmp_path / "good.tar", image, tag="hostile:1")
    kept = tarball.TarIndex(lambda: (tmp_path / "good.tar").open("rb"))
    members: dict[str, bytes | int] = {name: kept.read(name) for name in kept.members if name != "index.json"}
    members["index.json"] = HUGE
    hostile.sparse_tar(tmp_path / "image.tar", members)
    outcome = confined.cli("digest", "--tarball", str(tmp_path / "image.tar"))
    assert (outcome.returncode, outcome.lines) == (0, []), outcome.stderr[-2000:]
    assert outcome.stdout.strip() == str(image.digest())


def test_a_tarball_member_running_past_the_end_of_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    hostile.sparse_tar(path, _docker_save({"config.json": HUGE}))
    with path.open("r+b") as cut:  # the hole and the end blocks gone: the member claims 3 GiB of nothing
        cut.truncate(3 * 512 + 512)
    refused_cli(confined.cli("digest", "--tarball", str(path)), "", path)


# ---------------------------------------------------------------------------------------- layer files


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_layer_file_that_is_not_a_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    """``append -f FIFO`` used to wait for a writer for ever; ``-f`` a link to /dev/zero to read it."""
    path = tmp_path / "layer.tar"
    plant(path, kind)
    outcome = confined.cli("append", "-f", str(path), "-t", "example.com/x:1", "-o", str(tmp_path / "out.tar"))
    refused_cli(outcome, "cannot read layer file", path)
    assert not (tmp_path / "out.tar").exists()


def test_layer_files_through_the_library(tmp_path: Path) -> None:
    """A FIFO, a device or a directory refused by :func:`ocimodel.layer.from_file` on first use;
    a link to a regular file still read."""
    made = random.layer(100, seed=4)
    with made.compressed() as stream:
        (tmp_path / "real.tar.gz").write_bytes(stream.read())
    (tmp_path / "linked.tar.gz").symlink_to("real.tar.gz")
    for kind in KINDS:
        plant(tmp_path / kind, kind)
    ended = hostile.each(
        {name: f"layer.from_file({str(tmp_path / name)!r}).digest()" for name in [*KINDS, "linked.tar.gz"]},
        prelude="from ocimodel import layer",
    )
    for kind in KINDS:
        refusal(ended[kind], "NotReadable", tmp_path / kind)
    assert ended["linked.tar.gz"] == "ok"


# ---------------------------------------------------------------------------------------- credentials


@pytest.mark.parametrize("kind", [*KINDS, "huge"])
def test_a_credentials_file_that_is_not_a_document(tmp_path: Path, kind: str) -> None:
    config = tmp_path / "config.json"
    plant(config, kind)
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path)}
    outcome = confined.cli("auth", "login", "r.example", "-u", "me", "-p", "secret", env=env)
    refused_cli(outcome, "cannot read credentials file", config)


def test_credentials_files_through_the_library(tmp_path: Path) -> None:
    """The keychain refuses what is not a credentials file, in one CredentialsError naming it;
    ``/dev/null`` is still an empty one (no credentials)."""
    for kind in [*KINDS, "huge"]:
        plant(tmp_path / kind, kind)
    (tmp_path / "null").symlink_to(os.devnull)
    ended = hostile.each(
        {
            name: f"ConfigFileKeychain(Path({str(tmp_path / name)!r})).resolve(Registry('r.example'))"
            for name in [*KINDS, "huge", "null"]
        },
        prelude="""
            from pathlib import Path
            from ocimodel.authn import ConfigFileKeychain
            from ocimodel.name import Registry
        """,
    )
    for kind in [*KINDS, "huge"]:
        refusal(ended[kind], "CredentialsError", tmp_path / kind)
    assert ended["null"] == "ok"


# ---------------------------------------------------------------------------------------- failed reads


def test_a_read_that_fails_names_the_file(tmp_path: Path) -> None:
    """A regular file whose read fails (``/proc/self/mem`` read from its start gives ``EIO``, as a
    failing disk does) is an ``OSError`` naming the file, wherever it is read: a layout's
    ``index.json``, a tarball, a layer file, a credentials file; on the command line too."""
    place, _ = hostile.small_layout(tmp_path / "layout")
    (place.path / "index.json").unlink()
    (place.path / "index.json").symlink_to("/proc/self/mem")
    for name in ("image.tar", "layer.tar", "config.json"):
        (tmp_path / name).symlink_to("/proc/self/mem")
    ended = hostile.each(
        {
            "index.json": _validate(place.path),
            "tarball": f"tarball.image({str(tmp_path / 'image.tar')!r}).digest()",
            "layer file": f"layer.from_file({str(tmp_path / 'layer.tar')!r}).digest()",
            "credentials": f"ConfigFileKeychain(Path({str(tmp_path)!r}, 'config.json')).resolve(Registry('r.x'))",
        },
        prelude=f"""
            {_READ_LAYOUTS}
            from pathlib import Path
            from ocimodel import layer, tarball
            from ocimodel.authn import ConfigFileKeychain
            from ocimodel.name import Registry
        """,
    )
    refusal(ended["index.json"], "OSError", place.path / "index.json", "Input/output error")
    refusal(ended["tarball"], "OSError", tmp_path / "image.tar", "Input/output error")
    refusal(ended["layer file"], "OSError", tmp_path / "layer.tar", "Input/output error")
    refusal(ended["credentials"], "CredentialsError", tmp_path / "config.json", "Input/output error")
    refused_cli(confined.cli("digest", "--tarball", str(tmp_path / "image.tar")), "", tmp_path / "image.tar")


# ---------------------------------------------------------------------------------------- credential helpers


def _helper(folder: Path, name: str, script: str) -> None:
    path = folder / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def test_a_credential_helper_is_read_within_bounds(tmp_path: Path) -> None:
    """A credential helper's answer is read within the document cap (32 KiB here), its stderr
    within 64 KiB, for 30 s (1 s here): one that writes without end, or never ends, is stopped,
    in a typed error naming it; what a failing one says is shown on one line, without control
    characters."""
    for name, script in {
        "endless": 'yes \'{"Username": "u", "Secret": "s"}\'\n',
        "shouting": "yes 'the keyring is locked' >&2\n",
        "asleep": "sleep 60\n",
        "escaping": "printf 'locked\\033[2J\\033]0;title\\007\\nsecond line' >&2\nexit 1\n",
        "fine": 'cat > /dev/null; echo \'{"Username": "u", "Secret": "s"}\'\n',
    }.items():
        _helper(tmp_path, name, script)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "OCIMODEL_DOCUMENT_LIMIT": "32768"}
    ended = hostile.each(
        {name: f"credential_helper({name!r}, 'r.example')" for name in ("endless", "shouting", "asleep", "escaping")}
        | {"fine": "print(credential_helper('fine', 'r.example'), file=sys.stderr)"},
        prelude="""
            import sys
            from ocimodel.authn import _keychain, credential_helper
            _keychain._HELPER_TIMEOUT = 1.0
        """,
        env=env,
    )
    refusal(ended["endless"], "CredentialsError", "docker-credential-endless", "more than 32768 bytes to its stdout")
    refusal(ended["shouting"], "CredentialsError", "docker-credential-shouting", "more than 65536 bytes to its stderr")
    refusal(ended["asleep"], "CredentialsError", "docker-credential-asleep", "after 1 s")
    line = refusal(ended["escaping"], "CredentialsError", "docker-credential-escaping", "locked\\x1b[2J")
    assert line.isprintable(), line
    assert ended["fine"] == "ok"
