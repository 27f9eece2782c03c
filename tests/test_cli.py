"""The command line, as a user runs it: a process, its stdout, stderr and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ocimodel import layout, random, remote, tarball, validate
from ocimodel.hashing import Hash
from tests.harness.distribution import DistributionRegistry, free_port

pytestmark = pytest.mark.registry


def run(*arguments: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "ocimodel", *arguments],
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def ok(*arguments: str, **options: object) -> str:
    done = run(*arguments, **options)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_read_verbs(registry: DistributionRegistry) -> None:
    image = random.image(2000, 2, seed=1)
    ref = f"{registry.host}/cli/read:v1"
    remote.write(ref, image)
    assert ok("digest", ref).strip() == str(image.digest())
    assert ok("digest", "--full-ref", ref).strip() == f"{registry.host}/cli/read@{image.digest()}"
    assert ok("manifest", ref).encode() == image.raw_manifest()
    assert ok("config", ref).encode() == image.raw_config_file()
    assert ok("ls", f"{registry.host}/cli/read").split() == ["v1"]
    assert f"{registry.host}/cli/read:v1" in ok("ls", "--full-ref", f"{registry.host}/cli/read")
    assert "cli/read" in ok("catalog", registry.host).split()
    layer_digest = image.manifest().layers[0].digest
    blob = run("blob", f"{registry.host}/cli/read@{layer_digest}")
    assert blob.returncode == 0
    assert Hash.sha256(blob.stdout) == layer_digest
    assert "PASS" in run("validate", "--remote", ref).stderr.decode()


def test_write_verbs(registry: DistributionRegistry, tmp_path: Path) -> None:
    image = random.image(2000, 2, seed=2)
    src = f"{registry.host}/cli/src:v1"
    remote.write(src, image)
    assert ok("copy", src, f"{registry.host}/cli/dst:v1").strip() == f"{registry.host}/cli/dst@{image.digest()}"
    ok("tag", f"{registry.host}/cli/dst:v1", "v2")
    assert remote.head(f"{registry.host}/cli/dst:v2").digest == image.digest()
    refused = run("copy", "-n", src, f"{registry.host}/cli/dst:v1")
    assert refused.returncode == 1
    assert "refusing to overwrite" in refused.stderr.decode()
    ok("copy", "-a", f"{registry.host}/cli/dst", f"{registry.host}/cli/all")
    assert sorted(remote.list_tags(f"{registry.host}/cli/all")) == ["v1", "v2"]
    ok("delete", f"{registry.host}/cli/dst:v2")
    assert run("digest", f"{registry.host}/cli/dst:v1").returncode == 1  # the digest went, with both tags


def test_pull_push_append_export(registry: DistributionRegistry, tmp_path: Path) -> None:
    image = random.image(2000, 2, seed=3)
    ref = f"{registry.host}/cli/files:v1"
    remote.write(ref, image)
    ok("pull", ref, str(tmp_path / "image.tar"))
    assert tarball.image(tmp_path / "image.tar").digest() == image.digest()
    ok("pull", "--format", "oci", ref, str(tmp_path / "layout"))
    ((_, pulled),) = layout.Layout(tmp_path / "layout").images()
    assert pulled.digest() == image.digest()
    pushed = ok("push", str(tmp_path / "image.tar"), f"{registry.host}/cli/pushed:v1").strip()
    assert pushed == f"{registry.host}/cli/pushed@{image.digest()}"
    ok("push", str(tmp_path / "layout"), f"{registry.host}/cli/pushed:v2")
    folder = tmp_path / "app"
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "hello").write_text("#!/bin/sh\necho hello\n")
    appended = ok("append", "-b", ref, "-f", str(folder), "-t", f"{registry.host}/cli/appended:v1").strip()
    built = remote.image(f"{registry.host}/cli/appended:v1")
    assert appended.endswith(str(built.digest()))
    assert len(built.layers()) == 3
    validate.image(built)
    ok("export", f"{registry.host}/cli/appended:v1", str(tmp_path / "fs.tar"))
    with tarfile.open(tmp_path / "fs.tar") as archive:
        names = archive.getnames()
    assert "bin/hello" in names
    assert any(name.startswith("random_file_") for name in names)
    exported = run("export", f"{registry.host}/cli/appended:v1", "-")
    assert exported.stdout == (tmp_path / "fs.tar").read_bytes()
    assert "PASS" in run("validate", "--tarball", str(tmp_path / "image.tar")).stderr.decode()


def test_auth_login_get_logout(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path)}
    ok("auth", "login", "r.example", "-u", "me", "--password-stdin", stdin=b"s3cret\n", env=env)
    config = json.loads((tmp_path / "config.json").read_text())
    assert "r.example" in config["auths"]
    assert json.loads(ok("auth", "get", "r.example", env=env)) == {"Username": "me", "Secret": "s3cret"}
    ok("auth", "logout", "r.example", env=env)
    assert json.loads(ok("auth", "get", "r.example", env=env)) == {"Username": "", "Secret": ""}


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["digest", "UPPER/case"], "bad repository"),
        (["pull", "127.0.0.1:1/nothing:v1", "/tmp/never.tar"], "127.0.0.1:1"),
        (["push", "/nonexistent/file.tar", "x/y:z"], "does not exist"),
        (["validate"], "exactly one of --remote and --tarball"),
    ],
)
def test_bad_input_is_one_line_and_no_traceback(arguments: list[str], complaint: str) -> None:
    done = run(*arguments)
    assert done.returncode in (1, 2)
    message = done.stderr.decode()
    assert complaint in message
    assert "Traceback" not in message
    assert not Path("/tmp/never.tar").exists()


def test_verbose_shows_the_traceback() -> None:
    done = run("-v", "digest", f"127.0.0.1:{free_port()}/nothing:v1")
    assert done.returncode == 1
    assert "Traceback" in done.stderr.decode()


def test_registry_serve(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ocimodel",
            "registry",
            "serve",
            "--address",
            f"127.0.0.1:{port}",
            "--disk",
            str(tmp_path),
        ],
        stderr=subprocess.PIPE,
    )
    try:
        assert server.stderr is not None
        assert b"serving on" in server.stderr.readline()
        image = random.image(500, 1, seed=4)
        remote.write(f"127.0.0.1:{port}/served:v1", image)
        assert ok("digest", f"127.0.0.1:{port}/served:v1").strip() == str(image.digest())
    finally:
        server.terminate()
        server.wait(timeout=10)
        assert server.stderr is not None
        server.stderr.close()
