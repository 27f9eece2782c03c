"""The command line, as a user runs it: a process, its stdout, stderr and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ocimodel import empty, layout, mutate, random, remote, tarball, validate
from ocimodel.configfile import ConfigFile
from ocimodel.hashing import Hash
from tests.harness import skopeo
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
    ok("delete", f"{registry.host}/cli/dst@{image.digest()}")
    assert run("digest", f"{registry.host}/cli/dst:v1").returncode == 1  # the manifest went, with both tags


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


def test_a_pulled_index_layout_pushes_back_under_its_own_digest(registry: DistributionRegistry, tmp_path: Path) -> None:
    index = random.index(500, 1, 2, seed=11)
    ref = f"{registry.host}/cli/index:v1"
    remote.write_index(ref, index)
    ok("--platform", "all", "pull", "--format", "oci", ref, str(tmp_path / "layout"))
    pushed = ok("push", str(tmp_path / "layout"), f"{registry.host}/cli/index-back:v1").strip()
    assert pushed == f"{registry.host}/cli/index-back@{index.digest()}"
    assert skopeo.raw_manifest(f"docker://{registry.host}/cli/index-back:v1") == index.raw_manifest()
    copied = skopeo.copy(
        f"docker://{registry.host}/cli/index-back:v1", f"oci:{tmp_path / 'skopeo'}:v1", "--all", "--preserve-digests"
    )
    assert copied == str(index.digest())
    validate.index(layout.Layout(tmp_path / "skopeo").image_index().image_index(index.digest()))
    wrapped = ok("push", "--index", str(tmp_path / "layout"), f"{registry.host}/cli/index-wrapped:v1").strip()
    assert not wrapped.endswith(str(index.digest()))  # --index pushes index.json itself
    one, two = random.image(100, 1, seed=13), random.image(100, 1, seed=14)
    remote.write(f"{registry.host}/cli/index-one:v1", one)
    remote.write(f"{registry.host}/cli/index-one:v2", two)
    ok("pull", "--format", "oci", f"{registry.host}/cli/index-one:v1", str(tmp_path / "layout"))
    alone = ok("push", str(tmp_path / "layout"), f"{registry.host}/cli/index-back:v2").strip()
    assert alone.endswith(str(one.digest()))  # beside the index, the one image
    ok("pull", "--format", "oci", f"{registry.host}/cli/index-one:v2", str(tmp_path / "layout"))
    refused = run("push", str(tmp_path / "layout"), f"{registry.host}/cli/index-back:v3")
    assert refused.returncode == 1
    assert "holds 3 entries, 2 of them images: push index.json itself with --index" in refused.stderr.decode()


def test_mutate_label_changes_only_the_label(registry: DistributionRegistry) -> None:
    base = random.image(500, 1, seed=12)
    config = json.loads(base.raw_config_file())
    config["created"] = "2024-03-21T02:39:41.123456789Z"
    config["history"] = [{"created": "2024-03-21T02:39:41.000000001+02:00", "created_by": "ADD", "x-kept": [1]}]
    config["config"] = {"Env": ["PATH=/bin"], "Labels": {"a": "1"}, "x-unknown": {"kept": True}}
    config["moby.buildkit.buildinfo.v1"] = "eyJ9"
    raw = json.dumps(config, separators=(",", ":")).encode()
    image = mutate.config_file(base, ConfigFile.from_json(raw))
    assert image.raw_config_file() == raw
    ref = f"{registry.host}/cli/labels:v1"
    remote.write(ref, image)
    ok("mutate", ref, "-l", "b=2", "-t", f"{registry.host}/cli/labels:v2")
    changed = remote.image(f"{registry.host}/cli/labels:v2").raw_config_file()
    assert changed == raw.replace(b'"Labels":{"a":"1"}', b'"Labels":{"a":"1","b":"2"}')


def test_mutate_annotations_leave_the_config_as_it_was(registry: DistributionRegistry) -> None:
    """`-a` edits the manifest only (crane mutate -a does not touch the config): the config keeps
    its bytes, even ones a Go writer would not have written (a float in exponent form, an escape)."""
    raw = (
        b'{"architecture":"amd64","os":"linux","x-odd":[1e3,2.50,"\\u00e9<"],"rootfs":{"type":"layers","diff_ids":[]}}'
    )
    image = mutate.config_file(empty.image, ConfigFile.from_json(raw))
    ref = f"{registry.host}/cli/annotated:v1"
    remote.write(ref, image)
    ok("mutate", ref, "-a", "org.example.note=kept", "-t", f"{registry.host}/cli/annotated:v2")
    changed = remote.image(f"{registry.host}/cli/annotated:v2")
    assert changed.raw_config_file() == raw
    assert changed.manifest().annotations == {"org.example.note": "kept"}


def test_auth_login_get_logout(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path)}
    ok("auth", "login", "r.example", "-u", "me", "--password-stdin", stdin=b"s3cret\n", env=env)
    config = json.loads((tmp_path / "config.json").read_text())
    assert "r.example" in config["auths"]
    assert json.loads(ok("auth", "get", "r.example", env=env)) == {"Username": "me", "Secret": "s3cret"}
    ok("auth", "logout", "r.example", env=env)
    gone = run("auth", "get", "r.example", env=env)  # as a docker credential helper says "none"
    assert (gone.returncode, gone.stdout) == (1, b"credentials not found in native keychain\n")


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
        # skopeo pulls from it and pushes to it
        skopeo.copy(f"docker://127.0.0.1:{port}/served:v1", f"oci:{tmp_path / 'oci'}:v1")
        skopeo.copy(f"oci:{tmp_path / 'oci'}:v1", f"docker://127.0.0.1:{port}/again:v1")
        validate.image(remote.image(f"127.0.0.1:{port}/again:v1"))
    finally:
        server.terminate()
        server.wait(timeout=10)
        assert server.stderr is not None
        server.stderr.close()


def test_mutate_flatten_rebase(registry: DistributionRegistry) -> None:
    from ocimodel import mutate
    from ocimodel.configfile import Config

    base = random.image(1000, 2, seed=10)
    image = mutate.config(mutate.append_layers(base, random.layer(1000, seed=11)), Config(env=["A=1"]))
    ref = f"{registry.host}/cli/mutable:v1"
    remote.write(ref, image)
    printed = ok(
        "mutate",
        ref,
        "-l",
        "team=core",
        "-e",
        "A=2",
        "-e",
        "B=3",
        "--cmd",
        "run,now",
        "-w",
        "/srv",
        "--exposed-ports",
        "80/tcp",
        "-a",
        "org.opencontainers.image.title=demo",
        "-t",
        f"{registry.host}/cli/mutated:v1",
    ).strip()
    mutated = remote.image(f"{registry.host}/cli/mutated:v1")
    assert printed == f"{registry.host}/cli/mutated@{mutated.digest()}"
    run_config = mutated.config_file().config
    assert run_config.labels == {"team": "core"}
    assert run_config.env == ("A=2", "B=3")
    assert run_config.cmd == ("run", "now")
    assert run_config.working_dir == "/srv"
    assert run_config.exposed_ports == frozenset({"80/tcp"})
    assert mutated.manifest().annotations["org.opencontainers.image.title"] == "demo"
    validate.image(mutated)
    ok("flatten", ref, "-t", f"{registry.host}/cli/flat:v1")
    flat = remote.image(f"{registry.host}/cli/flat:v1")
    assert len(flat.layers()) == 1
    validate.image(flat)
    new_base = random.image(1000, 1, seed=12)
    remote.write(f"{registry.host}/cli/old-base:v1", base)
    remote.write(f"{registry.host}/cli/new-base:v1", new_base)
    ok(
        "rebase",
        ref,
        "--old-base",
        f"{registry.host}/cli/old-base:v1",
        "--new-base",
        f"{registry.host}/cli/new-base:v1",
        "-t",
        f"{registry.host}/cli/rebased:v1",
    )
    rebased = remote.image(f"{registry.host}/cli/rebased:v1")
    assert [d.digest for d in rebased.manifest().layers] == [
        *(d.digest for d in new_base.manifest().layers),
        image.manifest().layers[-1].digest,
    ]


def test_index_verbs(registry: DistributionRegistry) -> None:
    from ocimodel import mutate
    from ocimodel.configfile import ConfigFile
    from ocimodel.platform import Platform

    def for_platform(arch: str, seed: int) -> str:
        image = random.image(500, 1, seed=seed)
        image = mutate.config_file(
            image,
            ConfigFile(
                architecture=arch, os="linux", rootfs=image.config_file().rootfs, history=image.config_file().history
            ),
        )
        ref = f"{registry.host}/cli/plat:{arch}"
        remote.write(ref, image)
        return ref

    refs = [for_platform("amd64", 20), for_platform("arm64", 21)]
    ok("index", "append", "-m", refs[0], "-m", refs[1], "-t", f"{registry.host}/cli/multi:v1")
    listed = ok("index", "list", f"{registry.host}/cli/multi:v1").splitlines()
    assert [line.split()[-1] for line in listed] == ["linux/amd64", "linux/arm64"]
    ok(
        "index",
        "filter",
        f"{registry.host}/cli/multi:v1",
        "--platform",
        "linux/arm64",
        "-t",
        f"{registry.host}/cli/arm:v1",
    )
    (only,) = remote.index(f"{registry.host}/cli/arm:v1").index_manifest().manifests
    assert only.platform == Platform.parse("linux/arm64")
    assert ok("--platform", "linux/arm64", "digest", f"{registry.host}/cli/multi:v1").strip() == str(only.digest)


def test_auth_token_and_wrong_credentials(
    token_registry: DistributionRegistry, basic_registry: DistributionRegistry, tmp_path: Path
) -> None:
    import base64

    from tests.harness.tokenserver import PASSWORD, USER

    entry = {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    (tmp_path / "config.json").write_text(json.dumps({"auths": {token_registry.host: entry}}))
    env = {"DOCKER_CONFIG": str(tmp_path)}
    answer = json.loads(ok("auth", "token", "--push", f"{token_registry.host}/cli/tok", env=env))
    assert answer["scheme"] == "bearer"
    claims = json.loads(base64.urlsafe_b64decode(answer["token"].split(".")[1] + "=="))
    assert claims["access"] == [{"type": "repository", "name": "cli/tok", "actions": ["push", "pull"]}]
    assert ok("auth", "token", "-H", f"{token_registry.host}/cli/tok", env=env).startswith("Authorization: Bearer ")
    wrong = {"auth": base64.b64encode(b"testuser:n0pe-secret").decode()}
    (tmp_path / "config.json").write_text(json.dumps({"auths": {basic_registry.host: wrong}}))
    denied = run("digest", f"{basic_registry.host}/cli/x:v1", env={**env, "SSL_CERT_FILE": str(basic_registry.tls[0])})  # type: ignore[index]
    assert denied.returncode == 1
    message = denied.stderr.decode()
    assert message.count("\n") == 1
    assert "UNAUTHORIZED" in message
    assert "n0pe-secret" not in message
    assert "Traceback" not in message
