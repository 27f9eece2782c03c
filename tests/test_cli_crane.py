"""The command line as crane users type it: global flags anywhere, crane's aliases and spellings,
flatten and mutate with crane's and docker's semantics, the legacy tarball, tag deletes that
delete the tag or nothing, and `auth get` as a docker credential helper. Each runs the real
`ocimodel` entry point against the registry the harness starts."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from ocimodel import empty, layer, mutate, random, remote, tarball, validate
from ocimodel.configfile import Config, ConfigFile
from ocimodel.errors import NotFound
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.index import ImageIndex
from ocimodel.mediatype import MediaType
from ocimodel.name import Repository
from ocimodel.platform import Platform
from ocimodel.registry import Registry
from ocimodel.transport import Client
from tests.harness import skopeo
from tests.harness.distribution import DistributionRegistry
from tests.harness.faultproxy import Fault, FaultProxy
from tests.test_cli import ok, run

pytestmark = pytest.mark.registry


def for_platform(platform: str, seed: int, layers: int = 1) -> Image:
    image = random.image(300, layers, seed=seed)
    wanted = Platform.parse(platform)
    config = image.config_file()
    return mutate.config_file(
        image, ConfigFile(architecture=wanted.architecture, os=wanted.os, rootfs=config.rootfs, history=config.history)
    )


def two_platforms(seed: int) -> ImageIndex:
    return mutate.append_manifests(
        empty.index,
        mutate.IndexAddendum(for_platform("linux/amd64", seed, 2), platform=Platform.parse("linux/amd64")),
        mutate.IndexAddendum(for_platform("linux/arm64", seed + 1, 2), platform=Platform.parse("linux/arm64")),
    )


# ------------------------------------------------------------------------------ global flags


def test_global_flags_are_taken_anywhere_on_the_line(registry: DistributionRegistry) -> None:
    """After the verb, between its arguments, after a group's sub-verb (before the verb is in
    tests/test_cli.py)."""
    index = two_platforms(seed=100)
    ref = f"{registry.host}/crane/anywhere:v1"
    remote.write_index(ref, index)
    arm = index.index_manifest().manifests[1]
    assert (
        ok("manifest", ref, "--platform", "linux/arm64", "--insecure").encode()
        == index.image(arm.digest).raw_manifest()
    )
    assert ok("digest", "--platform=linux/arm64", ref, "--insecure").strip() == str(arm.digest)
    assert len(ok("index", "--insecure", "list", ref, "-v").splitlines()) == 2


def test_verbose_after_the_verb_shows_the_traceback() -> None:
    done = run("digest", "127.0.0.1:1/nothing:v1", "--verbose")
    assert done.returncode == 1
    assert "Traceback" in done.stderr.decode()


def test_index_filter_as_crane(registry: DistributionRegistry) -> None:
    """Comma-separated platforms, an OS alone, and no -t: the index is filtered in place. The
    verb's own --platform wins over the global one (crane's local flag shadows it too)."""
    ref = f"{registry.host}/crane/filter-in-place:v1"
    index = mutate.append_manifests(
        two_platforms(seed=111),
        mutate.IndexAddendum(for_platform("windows/amd64", 113), platform=Platform.parse("windows/amd64")),
    )
    remote.write_index(ref, index)
    ok("index", "filter", ref, "--platform", "linux/arm64,windows/amd64", "-t", f"{ref}-two")
    kept = [e.platform for e in remote.index(f"{ref}-two").index_manifest().manifests]
    assert kept == [Platform.parse("linux/arm64"), Platform.parse("windows/amd64")]
    printed = ok("index", "filter", ref, "--platform", "linux").strip()
    linux = remote.index(ref)  # the tag now names the filtered index
    assert printed == f"{registry.host}/crane/filter-in-place@{linux.digest()}"
    assert [e.platform.os for e in linux.index_manifest().manifests if e.platform] == ["linux", "linux"]


def test_export_writes_to_stdout_by_default(registry: DistributionRegistry) -> None:
    ref = f"{registry.host}/crane/export:v1"
    image = random.image(300, 1, seed=114)
    remote.write(ref, image)
    with mutate.extract(image) as flat:
        assert run("export", ref).stdout == flat.read()


def test_allow_nondistributable_artifacts_pushes_foreign_layers() -> None:
    """On the embedded registry (distribution refuses foreign URLs it was not configured for)."""
    foreign = layer.from_files({"windows/base": b"licensed bytes"})
    image = mutate.append(
        empty.image,
        mutate.Addendum(foreign, media_type=MediaType.DOCKER_FOREIGN_LAYER, urls=["https://example.com/base"]),
    )
    with Registry() as embedded:
        source = f"{embedded.host}/crane/foreign:v1"
        remote.write(source, image, allow_nondistributable=True)
        client = Client(embedded.host)
        ok("cp", source, f"{embedded.host}/crane/foreign-skipped:v1")
        assert client.head_blob(Repository(f"{embedded.host}/crane/foreign-skipped"), foreign.digest()) is None
        ok("copy", source, f"{embedded.host}/crane/foreign-kept:v1", "--allow-nondistributable-artifacts")
        assert client.head_blob(Repository(f"{embedded.host}/crane/foreign-kept"), foreign.digest()) == foreign.size()


# ------------------------------------------------------------------------- aliases, spellings


def test_crane_spellings(registry: DistributionRegistry, tmp_path: Path) -> None:
    base = random.image(300, 1, seed=120)
    ref = f"{registry.host}/crane/spelt:v1"
    remote.write(ref, base)
    assert ok("cp", ref, f"{registry.host}/crane/spelt-cp:v1").strip().endswith(str(base.digest()))
    (tmp_path / "add").mkdir()
    (tmp_path / "add" / "added.txt").write_text("added\n")
    built = ok(
        "append", "-b", ref, "--new_layer", str(tmp_path / "add"), "--new_tag", f"{ref}-appended",
        "--set-base-image-annotations",
    ).strip()  # fmt: skip
    appended = remote.image(f"{ref}-appended")
    assert built == f"{registry.host}/crane/spelt@{appended.digest()}"
    assert len(appended.layers()) == 2
    assert appended.manifest().annotations == {
        "org.opencontainers.image.base.digest": str(base.digest()),
        "org.opencontainers.image.base.name": ref,
    }
    ok("append", "--oci-empty-base", "-f", str(tmp_path / "add"), "-t", f"{ref}-oci")
    assert remote.image(f"{ref}-oci").media_type() == MediaType.OCI_MANIFEST
    assert run("append", "-b", ref, "--oci-empty-base", "-f", str(tmp_path / "add"), "-t", ref).returncode == 2
    tarball.write(tmp_path / "image.tar", base, tag=ref)
    pushed = ok("push", str(tmp_path / "image.tar"), f"{ref}-pushed", "--image-refs", str(tmp_path / "refs"))
    assert (tmp_path / "refs").read_text() == pushed == f"{registry.host}/crane/spelt@{base.digest()}\n"


def test_catalog_full_ref(registry: DistributionRegistry) -> None:
    remote.write(f"{registry.host}/crane/listed:v1", random.image(100, 1, seed=130))
    assert f"{registry.host}/crane/listed" in ok("catalog", registry.host, "--full-ref").splitlines()


def test_auth_get_is_a_credential_helper(tmp_path: Path) -> None:
    """`echo REGISTRY | ocimodel auth get`, as docker asks a credential helper (the REGISTRY
    argument is in tests/test_cli.py)."""
    env = {"DOCKER_CONFIG": str(tmp_path)}
    hub = "https://index.docker.io/v1/"
    auths = {"r.example": {"auth": "bWU6czNjcmV0"}, hub: {"auth": "aHViOmh1YnNlY3JldA=="}}
    (tmp_path / "config.json").write_text(json.dumps({"auths": auths}))
    assert ok("auth", "get", stdin=b"r.example\n", env=env) == '{"Username":"me","Secret":"s3cret"}\n'
    assert ok("auth", "get", stdin=hub.encode(), env=env) == '{"Username":"hub","Secret":"hubsecret"}\n'
    missing = run("auth", "get", stdin=b"other.example", env=env)
    assert (missing.returncode, missing.stdout) == (1, b"credentials not found in native keychain\n")


# --------------------------------------------------------------------------------- delete


def test_delete_by_tag_on_a_registry_that_refuses_it_deletes_nothing(registry: DistributionRegistry) -> None:
    """distribution 2.x answers a tag DELETE with 400 DIGEST_INVALID: the command fails in one
    line naming the digest reference that would delete the manifest, and both tags stay."""
    repository = f"{registry.host}/crane/refused"
    image = random.image(200, 1, seed=140)
    remote.write(f"{repository}:v1", image)
    remote.write(f"{repository}:v2", image)
    refused = run("delete", f"{repository}:v2")
    assert refused.returncode == 1
    assert refused.stderr.decode() == (
        f"ocimodel: cannot delete the tag {repository}:v2: {registry.host} does not delete tags (it answered "
        f"400 DIGEST_INVALID); delete {repository}@{image.digest()} removes the manifest with every tag on it\n"
    )
    assert sorted(remote.list_tags(repository)) == ["v1", "v2"]
    missing = run("delete", f"{repository}:v3")
    assert missing.returncode == 1
    assert "no manifest there" in missing.stderr.decode()
    ok("delete", f"{repository}@{image.digest()}")
    assert remote.list_tags(repository) == []


def test_delete_by_tag_where_the_registry_answers_405(distribution_proxy: FaultProxy) -> None:
    repository = f"{distribution_proxy.host}/crane/unsupported"
    image = random.image(200, 1, seed=141)
    remote.write(f"{repository}:v1", image)
    unsupported = b'{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}'
    distribution_proxy.inject(Fault("DELETE", "/manifests/v1$", status=405, body=unsupported))
    refused = run("delete", f"{repository}:v1")
    assert refused.returncode == 1
    message = refused.stderr.decode()
    assert "(it answered 405 UNSUPPORTED)" in message
    assert message.count("\n") == 1
    assert [r.path for r in distribution_proxy.requests("DELETE")] == ["/v2/crane/unsupported/manifests/v1"]
    assert remote.head(f"{repository}:v1").digest == image.digest()


def test_delete_by_tag_where_the_registry_deletes_tags(distribution_proxy: FaultProxy) -> None:
    """A registry that takes tag deletes (distribution-spec 1.1; here the proxy answers 202 for
    it) gets one DELETE of the tag, and never one of the digest."""
    repository = f"{distribution_proxy.host}/crane/accepted"
    remote.write(f"{repository}:v1", random.image(200, 1, seed=142))
    distribution_proxy.inject(Fault("DELETE", "/manifests/v1$", status=202, body=b""))
    ok("delete", f"{repository}:v1")
    assert [r.path for r in distribution_proxy.requests("DELETE")] == ["/v2/crane/accepted/manifests/v1"]


def test_delete_by_tag_on_the_embedded_registry_keeps_the_other_tags(tmp_path: Path) -> None:
    with Registry() as embedded:
        repository = f"{embedded.host}/crane/embedded"
        image = random.image(200, 1, seed=143)
        remote.write(f"{repository}:v1", image)
        remote.write(f"{repository}:v2", image)
        ok("delete", f"{repository}:v2")
        assert remote.list_tags(repository) == ["v1"]
        assert remote.head(f"{repository}:v1").digest == image.digest()


# -------------------------------------------------------------------------------- flatten


def test_flatten_without_a_tag_goes_where_the_image_is(registry: DistributionRegistry) -> None:
    repository = f"{registry.host}/crane/flat"
    image = random.image(300, 3, seed=150)
    remote.write(f"{repository}:v1", image)
    remote.write(f"{repository}:keep", image)
    printed = ok("flatten", f"{repository}:v1").strip()
    flat = remote.image(f"{repository}:v1")  # the tag now names the flattened image
    assert printed == f"{repository}@{flat.digest()}"
    assert len(flat.layers()) == 1
    assert flat.config_file().history[0].created_by == f"ocimodel flatten {image.digest()}"
    validate.image(flat)
    assert remote.head(f"{repository}:keep").digest == image.digest()  # no other tag moved
    by_digest = ok("flatten", f"{repository}@{image.digest()}").strip()
    assert by_digest == f"{repository}@{flat.digest()}"  # pushed by its own digest
    assert remote.head(f"{repository}:keep").digest == image.digest()


def test_flatten_an_index_flattens_each_image(registry: DistributionRegistry) -> None:
    attestation = random.image(50, 1, seed=153)
    index = mutate.append_manifests(
        two_platforms(seed=151),
        mutate.IndexAddendum(attestation, platform=Platform("unknown", "unknown")),
    )
    index = mutate.annotations(index, {"org.example.kept": "yes"})
    ref = f"{registry.host}/crane/flat-index:v1"
    remote.write_index(ref, index)
    ok("flatten", ref, "-t", f"{ref}-flat")
    flat = remote.index(f"{ref}-flat")
    validate.index(flat)
    entries = flat.index_manifest().manifests
    assert [e.platform for e in entries] == [Platform.parse("linux/amd64"), Platform.parse("linux/arm64")]
    assert all(len(flat.image(e.digest).layers()) == 1 for e in entries)
    assert flat.index_manifest().annotations == {"org.example.kept": "yes"}
    assert flat.media_type() == index.media_type()
    # with --platform, one image, which never takes an index's tag unasked: the other platforms would be lost
    for line in (["flatten", ref, "--platform", "linux/arm64"], ["mutate", ref, "-l", "a=1"]):
        refused = run(*line)
        assert refused.returncode == 2
        assert (
            f"{ref} is an index: its tag would name one image and lose the other platforms" in refused.stderr.decode()
        )
    assert remote.get(ref).descriptor.digest == index.digest()


# ---------------------------------------------------------------------------------- mutate


def test_mutate_edits_as_crane_and_docker(registry: DistributionRegistry, tmp_path: Path) -> None:
    """The buildah case: an image whose Cmd is a shell gets a new entrypoint, and must not end up
    running `/bin/bash -c echo hi` with the old Cmd as its arguments."""
    run_config = Config(
        env=["PATH=/usr/bin", "A=1", "B=2"],
        cmd=["/bin/bash"],
        labels={"old": "1"},
        exposed_ports=frozenset({"22/tcp"}),
    )
    image = mutate.config(random.image(200, 1, seed=160), run_config)
    repository = f"{registry.host}/crane/mutate"
    remote.write(f"{repository}:v1", image)
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "extra.txt").write_text("more\n")
    printed = ok(
        "mutate", f"{repository}:v1",
        "-e", "A=9", "-e", "C=3", "-e", "B=x,y",
        "--entrypoint", "/bin/sh,-c",
        "-l", "a=1,b=2", "-l", "description=red, green",
        "--exposed-ports", "80/tcp,443/tcp",
        "--set-platform", "windows/amd64:10.0.17763.1",
        "--append", str(tmp_path / "extra"),
        "-t", f"{repository}:v2",
    ).strip()  # fmt: skip
    changed = remote.image(f"{repository}:v2")
    assert printed == f"{repository}@{changed.digest()}"
    config = changed.config_file()
    assert config.config.env == ("PATH=/usr/bin", "A=9", "B=x,y", "C=3")
    assert config.config.entrypoint == ("/bin/sh", "-c")
    assert config.config.cmd == ()
    assert dict(config.config.labels) == {"old": "1", "a": "1", "b": "2", "description": "red, green"}
    assert config.config.exposed_ports == frozenset({"80/tcp", "443/tcp"})
    assert (config.os, config.architecture, config.os_version) == ("windows", "amd64", "10.0.17763.1")
    assert len(changed.layers()) == 2
    validate.image(changed)
    # --entrypoint with --cmd sets both; an empty one clears; a CSV field keeps its commas
    ok("mutate", f"{repository}:v2", "--entrypoint", "", "--cmd", '-c,"echo a, b"', "-t", f"{repository}:v3")
    both = remote.image(f"{repository}:v3").config_file().config
    assert (both.entrypoint, both.cmd) == ((), ("-c", "echo a, b"))


def test_mutate_without_a_tag_moves_the_tag_as_crane_does(registry: DistributionRegistry) -> None:
    repository = f"{registry.host}/crane/moved"
    image = random.image(200, 1, seed=161)
    remote.write(f"{repository}:v1", image)
    printed = ok("mutate", f"{repository}:v1", "-u", "nobody").strip()
    moved = remote.image(f"{repository}:v1")
    assert moved.config_file().config.user == "nobody"
    assert printed == f"{repository}@{moved.digest()}"
    other = f"{registry.host}/crane/moved-elsewhere"
    printed = ok("mutate", f"{repository}:v1", "-w", "/srv", "--repo", other).strip()
    assert printed.startswith(f"{other}@sha256:")
    assert remote.image(printed).config_file().config.working_dir == "/srv"
    assert remote.get(printed).descriptor.digest == Hash.parse(printed.partition("@")[2])
    with pytest.raises(NotFound):
        remote.head(f"{other}:latest")  # by digest only: no tag made
    bad = run("mutate", f"{repository}:v1", "-e", "NOEQUALS")
    assert bad.returncode == 2
    assert "an environment variable must be KEY=VALUE, got 'NOEQUALS'" in bad.stderr.decode()


def test_rebase_with_crane_spellings_and_annotations(registry: DistributionRegistry) -> None:
    repository = f"{registry.host}/crane/rebase"
    old_base, new_base = random.image(200, 1, seed=170), random.image(200, 1, seed=171)
    image = mutate.append_layers(old_base, random.layer(200, seed=172))
    remote.write(f"{repository}:old-base", old_base)
    remote.write(f"{repository}:new-base", new_base)
    image = mutate.annotations(
        image,
        {
            "org.opencontainers.image.base.name": f"{repository}:new-base",
            "org.opencontainers.image.base.digest": str(old_base.digest()),
        },
    )
    remote.write(f"{repository}:app", image)
    ok("rebase", f"{repository}:app", "--rebased", f"{repository}:rebased")  # the bases from the annotations
    rebased = remote.image(f"{repository}:rebased")
    assert [d.digest for d in rebased.manifest().layers] == [
        new_base.manifest().layers[0].digest,
        image.manifest().layers[-1].digest,
    ]
    assert rebased.manifest().annotations["org.opencontainers.image.base.digest"] == str(new_base.digest())
    ok("rebase", f"{repository}:app", "--old_base", f"{repository}:old-base", "--new_base", f"{repository}:new-base")
    assert remote.image(f"{repository}:app").manifest().layers[0].digest == new_base.manifest().layers[0].digest


# ------------------------------------------------------------------------------ pull legacy


def _v1_id(layer_digest: Hash, parent: str, config: bytes = b"") -> str:
    """go-containerregistry's v1 layer ID, written out again here to check ours against."""
    text = f"{layer_digest.hex} {parent}".encode() + (b" " + config if config else b"")
    return Hash.sha256(text).hex


def test_pull_format_legacy_writes_the_classic_docker_save(registry: DistributionRegistry, tmp_path: Path) -> None:
    base = random.image(500, 2, seed=180)
    first = mutate.append_layers(base, random.layer(500, seed=181))
    second = mutate.append_layers(base, random.layer(500, seed=182))
    refs = [f"{registry.host}/crane/legacy:one", f"{registry.host}/crane/legacy:two"]
    remote.write(refs[0], first)
    remote.write(refs[1], second)
    path = tmp_path / "legacy.tar"
    ok("pull", "--format", "legacy", *refs, str(path))
    with tarfile.open(path) as archive:
        names = archive.getnames()
        manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
        repositories = json.loads(archive.extractfile("repositories").read())  # type: ignore[union-attr]
    assert not any(name.startswith("blobs/") or name in ("index.json", "oci-layout") for name in names)
    by_tag = {entry["RepoTags"][0]: entry for entry in manifest}
    for ref, image in zip(refs, (first, second), strict=True):
        entry = by_tag[ref]
        assert entry["Config"] == f"{image.config_name().hex}.json"
        ids, parent = [], ""
        for number, descriptor in enumerate(image.manifest().layers):
            top = number == len(image.manifest().layers) - 1
            parent = _v1_id(descriptor.digest, parent, image.raw_config_file() if top else b"")
            ids.append(parent)
        assert entry["Layers"] == [f"{each}/layer.tar" for each in ids]
        assert repositories[ref.rpartition(":")[0]][ref.rpartition(":")[2]] == ids[-1]
        read = tarball.image(path, ref)  # our reader, then skopeo, read it back
        assert read.config_name() == image.config_name()
        assert [each.diff_id() for each in read.layers()] == list(image.config_file().rootfs.diff_ids)
        skopeo.copy(f"docker-archive:{path}:{ref}", f"oci:{tmp_path / 'oci'}:{ref.rpartition(':')[2]}")
    shared = [name for name in names if name.endswith("/layer.tar")]
    assert len(shared) == len(set(shared)) == 4  # the two base layers once
    single = tmp_path / "single.tar"
    tarball.write_legacy(single, first, tag=refs[0])
    assert run("pull", "--format", "legacy", refs[0], "-").stdout == single.read_bytes()
