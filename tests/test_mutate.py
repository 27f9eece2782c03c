"""mutate: every change keeps images valid, touches only what it should, and stays lazy."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ocimodel import empty, layer, mutate, random, validate
from ocimodel._options import option_names
from ocimodel.configfile import Config, ConfigFile, History
from ocimodel.descriptor import Descriptor
from ocimodel.errors import BadLayerError, SizeMismatch, ValidationError
from ocimodel.hashing import Hash
from ocimodel.hypothesis import config_files, raw_config_files
from ocimodel.image import Image, MemoryImage
from ocimodel.manifest import Manifest
from ocimodel.mediatype import MediaType
from ocimodel.mutate import ConfigChanges, ConfigFileChanges
from ocimodel.platform import Platform
from tests.test_layer import OwnCompressedLayer

#: The empty image as an OCI image: OCI manifest and config.
OCI_EMPTY = mutate.config_media_type(mutate.media_type(empty.image, MediaType.OCI_MANIFEST), MediaType.OCI_CONFIG)


def members(stream: IO[bytes]) -> list[tarfile.TarInfo]:
    with stream:
        data = stream.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return archive.getmembers()


def test_append_adds_history_diff_ids_and_descriptors_with_overrides() -> None:
    first = layer.from_files({"a": b"1"})
    second = layer.from_files({"b": b"2"}, media_type=MediaType.OCI_LAYER_ZSTD)
    image = mutate.append(
        OCI_EMPTY,
        mutate.Addendum(first, History(created_by="ADD a"), annotations={"k": "v"}, urls=["https://example.com/a"]),
        mutate.Addendum(history=History(created_by="ENV X=1", empty_layer=True)),
        second,
    )
    config = image.config_file()
    assert [h.created_by for h in config.history] == ["ADD a", "ENV X=1", None]
    assert config.rootfs.diff_ids == (first.diff_id(), second.diff_id())
    layers = image.manifest().layers
    assert layers[0].annotations == {"k": "v"}
    assert layers[0].urls == ("https://example.com/a",)
    assert layers[0].media_type == MediaType.OCI_LAYER_GZIP  # the Docker-typed layer, in an OCI manifest
    assert layers[1].media_type == MediaType.OCI_LAYER_ZSTD
    assert image.layer_by_digest(second.digest()) is second
    assert image.media_type() == MediaType.OCI_MANIFEST
    validate.image(image)
    assert mutate.append(image) is image


def test_appending_a_stream_layer_lists_it_before_anything_is_computed() -> None:
    tar = layer.from_files({"s": b"stream"})
    with tar.uncompressed() as source:
        content = source.read()
    streamed = layer.stream(io.BytesIO(content))
    image = mutate.append_layers(random.image(10, 1, seed=1), streamed)
    listed = image.layers()
    assert listed[-1] is streamed
    assert not streamed.computed
    with listed[-1].compressed() as stream:  # a writer uploads the layers first ...
        stream.read()
    assert image.config_file().rootfs.diff_ids[-1] == tar.diff_id()  # ... then the config names it
    assert image.manifest().layers[-1].digest == streamed.digest()


def test_config_changes_rewrite_only_the_config() -> None:
    base = random.image(100, 2, seed=3)
    when = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    changed = mutate.created_at(mutate.config(base, Config(cmd=["run"], env=["A=1"])), when)
    config = changed.config_file()
    assert config.config.cmd == ("run",)
    assert config.created == when
    assert config.rootfs == base.config_file().rootfs
    assert changed.manifest().layers == base.manifest().layers
    assert changed.manifest().config.digest == Hash.sha256(changed.raw_config_file()) != base.manifest().config.digest
    validate.image(changed)
    replaced = mutate.config_file(base, attrs.evolve(base.config_file(), architecture="arm64"))
    assert replaced.config_file().architecture == "arm64"
    validate.image(replaced)


def test_config_takes_keyword_fields_as_well_as_a_whole_config() -> None:
    base = mutate.config(random.image(100, 1, seed=4), Config(cmd=["old"], env=["A=1"], user="root"))
    edited = mutate.config(base, cmd=["/app", "--serve"], working_dir="/srv")
    run = edited.config_file().config
    assert (run.cmd, run.working_dir, run.env, run.user) == (("/app", "--serve"), "/srv", ("A=1",), "root")
    validate.image(edited)
    both = mutate.config(base, Config(cmd=["new"]), env=["B=2"])  # keywords apply to the given config
    assert (both.config_file().config.cmd, both.config_file().config.env) == (("new",), ("B=2",))
    assert mutate.config(base, image="example.com/base").config_file().config.image == "example.com/base"
    file_edited = mutate.config_file(base, architecture="arm64", variant="v8", author="me")
    assert (file_edited.config_file().architecture, file_edited.config_file().author) == ("arm64", "me")
    assert file_edited.config_file().config == base.config_file().config
    validate.image(file_edited)


@pytest.mark.parametrize(
    ("edit", "changes", "error", "message"),
    [
        (mutate.config, {"cmd": "sh"}, TypeError, r"mutate.config: cmd='sh': expected a sequence of strings"),
        (mutate.config, {"cmdd": ["sh"]}, TypeError, r"unexpected keyword\(s\) cmdd; it takes: .*cmd"),
        (mutate.config, {"_origin": None}, TypeError, r"unexpected keyword\(s\) _origin"),
        (mutate.config, {"Cmd": ["sh"]}, TypeError, r"unexpected keyword\(s\) Cmd"),  # the JSON key is not the field
        (mutate.config_file, {"os_features": "x"}, TypeError, r"mutate.config_file: os_features='x'"),
        (mutate.config_file, {"arch": "arm64"}, TypeError, r"unexpected keyword\(s\) arch"),
        # values no converter takes: refused, not written into a config other tools cannot read
        (mutate.config, {"user": 5}, TypeError, r"mutate.config: user=5: expected str \| None"),
        (mutate.config, {"labels": {"a": 1}}, TypeError, r"labels=\{'a': 1\}: expected Mapping\[str, str\]"),
        (mutate.config, {"cmd": ["sh", 1]}, TypeError, r"cmd=\['sh', 1\]: expected Iterable\[str\]"),
        (mutate.config, {"tty": "yes"}, TypeError, r"tty='yes': expected bool"),
        (mutate.config_file, {"architecture": 64}, TypeError, r"architecture=64: expected str"),
    ],
)
def test_a_bad_keyword_edit_fails_when_asked_for_naming_it(
    edit: Callable[..., Image], changes: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        edit(empty.image, **changes)


@pytest.mark.parametrize(("changes", "fields"), [(ConfigChanges, Config), (ConfigFileChanges, ConfigFile)])
def test_the_keyword_edits_are_the_public_fields(changes: type, fields: type[Config] | type[ConfigFile]) -> None:
    assert option_names(changes) == {field.name for field in attrs.fields(fields) if not field.name.startswith("_")}


def _image_with_config(raw: bytes) -> Image:
    config = Descriptor.of(raw, MediaType.DOCKER_CONFIG)
    manifest = Manifest(media_type=MediaType.DOCKER_MANIFEST_SCHEMA2, config=config)
    return MemoryImage(manifest.to_json(), raw, [])


@settings(max_examples=25)
@given(raw_config_files(), config_files(), st.data())
def test_keyword_edits_equal_the_whole_object_form(raw: bytes, drawn: ConfigFile, data: st.DataObject) -> None:
    base = _image_with_config(raw)
    old = base.config_file()
    names = data.draw(st.sets(st.sampled_from(sorted(option_names(ConfigChanges)))), label="config fields")
    changes = {name: getattr(drawn.config, name) for name in names}
    by_keyword = mutate.config(base, **changes)
    assert by_keyword.raw_config_file() == mutate.config(base, attrs.evolve(old.config, **changes)).raw_config_file()
    run = by_keyword.config_file().config
    for name in option_names(ConfigChanges):
        assert getattr(run, name) == getattr(drawn.config if name in names else old.config, name), name
    file_names = data.draw(st.sets(st.sampled_from(sorted(option_names(ConfigFileChanges)))), label="file fields")
    file_changes = {name: getattr(drawn, name) for name in file_names}
    by_file_keyword = mutate.config_file(base, **file_changes)
    by_file_object = mutate.config_file(base, attrs.evolve(old, **file_changes))
    assert by_file_keyword.raw_config_file() == by_file_object.raw_config_file()


def test_changes_that_do_not_touch_the_config_keep_its_bytes_and_no_op_keeps_the_manifest() -> None:
    spaced = b'{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}'
    manifest = Manifest(config=Descriptor.of(spaced, MediaType.OCI_CONFIG), media_type=MediaType.OCI_MANIFEST)
    raw_manifest = b" " + manifest.to_json()
    base = MemoryImage(raw_manifest, spaced, [])
    annotated = mutate.annotations(base, {"org.example": "x"})
    assert annotated.raw_config_file() == spaced
    assert annotated.manifest().annotations == {"org.example": "x"}
    assert mutate.annotations(base, {}).raw_manifest() == raw_manifest
    assert mutate.media_type(base, MediaType.OCI_MANIFEST).raw_manifest() == raw_manifest


def test_annotations_merge_and_new_values_win() -> None:
    base = mutate.annotations(random.image(10, 1, seed=4), {"a": "1", "b": "2"})
    merged = mutate.annotations(base, {"b": "3", "c": "4"})
    assert merged.manifest().annotations == {"a": "1", "b": "3", "c": "4"}
    index = mutate.annotations(mutate.annotations(empty.index, {"a": "1"}), {"b": "2"})
    assert index.index_manifest().annotations == {"a": "1", "b": "2"}
    validate.image(merged)
    validate.index(index)


def test_artifact_configs_are_kept_verbatim() -> None:
    artifact_config = b'{"whatever": [1, 2, 3]}'
    manifest = Manifest(
        media_type=MediaType.OCI_MANIFEST,
        artifact_type="application/vnd.example.sbom",
        config=Descriptor.of(artifact_config, "application/vnd.example.config+json"),
    )
    artifact = MemoryImage(manifest.to_json(), artifact_config, [])
    blob = layer.from_bytes(b"sbom contents are not a tar", media_type="application/spdx+json")
    appended = mutate.append(artifact, blob)
    assert appended.raw_config_file() == artifact_config
    assert appended.manifest().config == manifest.config
    assert appended.manifest().layers[-1].media_type == "application/spdx+json"
    assert appended.manifest().artifact_type == "application/vnd.example.sbom"


def test_media_types_and_subject() -> None:
    base = random.image(10, 1, seed=5)
    oci = mutate.config_media_type(mutate.media_type(base, MediaType.OCI_MANIFEST), MediaType.OCI_CONFIG)
    assert oci.media_type() == MediaType.OCI_MANIFEST == oci.manifest().media_type
    assert oci.manifest().config.media_type == MediaType.OCI_CONFIG
    validate.image(oci, fast=True)
    subject = base.descriptor()
    referrer = mutate.subject(empty.image, subject)
    assert referrer.manifest().subject == subject
    assert mutate.subject(referrer, None).manifest().subject is None
    assert mutate.subject(empty.index, subject).index_manifest().subject == subject
    index = mutate.media_type(empty.index, MediaType.DOCKER_MANIFEST_LIST)
    assert index.media_type() == MediaType.DOCKER_MANIFEST_LIST == index.index_manifest().media_type


def test_append_and_remove_manifests() -> None:
    amd, arm = random.image(10, 1, seed=6), random.image(10, 1, seed=7)
    nested = mutate.append_manifests(empty.index, arm)
    index = mutate.append_manifests(
        empty.index,
        mutate.IndexAddendum(
            amd, platform=Platform.parse("linux/amd64"), annotations={"org.opencontainers.image.ref.name": "v1"}
        ),
        mutate.IndexAddendum(arm, platform=Platform.parse("linux/arm64")),
        nested,
    )
    entries = index.index_manifest().manifests
    assert [str(e.platform) if e.platform else None for e in entries] == ["linux/amd64", "linux/arm64", None]
    assert entries[0].annotations == {"org.opencontainers.image.ref.name": "v1"}
    assert entries[2].media_type == MediaType.OCI_INDEX
    assert index.image_for(Platform.parse("linux/arm64")).digest() == arm.digest()
    validate.index(index)
    trimmed = mutate.remove_manifests(index, lambda d: d.platform is not None and d.platform.architecture == "arm64")
    assert [e.digest for e in trimmed.index_manifest().manifests] == [amd.digest(), nested.digest()]
    assert trimmed.image(amd.digest()).digest() == amd.digest()
    validate.index(trimmed)


def test_time_sets_every_timestamp_by_streaming() -> None:
    base = mutate.append(empty.image, layer.from_files({"a/b": b"x" * 5000, "c": b"y"}, mtime=99))
    when = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    stamped = mutate.time(base, when)
    assert {m.mtime for m in members(stamped.layers()[0].uncompressed())} == {int(when.timestamp())}
    assert stamped.config_file().created == when
    assert {h.created for h in stamped.config_file().history} == {when}
    assert stamped.manifest().layers[0].media_type == base.manifest().layers[0].media_type
    validate.image(stamped)
    assert mutate.time(base, when).digest() == stamped.digest()


def test_canonical_makes_equal_content_equal_images() -> None:
    def build(mtime: int, created: datetime) -> Image:
        config = ConfigFile(
            architecture="amd64", os="linux", container="abc", docker_version="24.0", config=Config(hostname="h")
        )
        with_layers = mutate.append(
            mutate.config_file(empty.image, config),
            mutate.Addendum(layer.from_files({"f": b"same"}, mtime=mtime), History(created=created, author="me")),
        )
        return mutate.created_at(with_layers, created)

    first = mutate.canonical(build(10, datetime(2021, 1, 1, tzinfo=UTC)))
    second = mutate.canonical(build(20, datetime(2022, 1, 1, tzinfo=UTC)))
    assert first.digest() == second.digest()
    config = first.config_file()
    assert (config.container, config.docker_version, config.config.hostname) == (None, None, None)
    assert config.created == datetime(1970, 1, 1, tzinfo=UTC)
    assert config.history[0].author is None
    validate.image(first)
    docker_written = [
        ConfigFile.from_json(
            b'{"architecture":"amd64","os":"linux","container_config":{"Hostname":"%s"},"x":%d,'
            b'"created":"2024-01-01T00:00:00.%09dZ","rootfs":{"type":"layers","diff_ids":[]}}' % (host, n, n)
        )
        for n, host in ((1, b"abc"), (2, b"def"))
    ]
    built = [mutate.canonical(mutate.config_file(empty.image, each)) for each in docker_written]
    assert built[0].digest() == built[1].digest()  # what ocimodel does not model is not kept
    assert b"container_config" not in built[0].raw_config_file()


def test_rebase_moves_the_top_layers_onto_a_new_base() -> None:
    old_base = random.image(10, 2, seed=20)
    new_base = mutate.config(random.image(10, 3, seed=21), Config(env=["BASE=new"]))
    top = layer.from_files({"app": b"app"})
    original = mutate.config(
        mutate.append(
            old_base,
            mutate.Addendum(history=History(created_by="ENV A=1", empty_layer=True)),
            mutate.Addendum(top, History(created_by="COPY app")),
        ),
        Config(cmd=["app"]),
    )
    rebased = mutate.rebase(original, old_base, new_base)
    assert [d.digest for d in rebased.manifest().layers] == [
        *(d.digest for d in new_base.manifest().layers),
        top.digest(),
    ]
    assert [h.created_by for h in rebased.config_file().history][-2:] == ["ENV A=1", "COPY app"]
    assert rebased.config_file().config.cmd == ("app",)
    validate.image(rebased)
    with pytest.raises(ValidationError, match="is not based on"):
        mutate.rebase(original, new_base, old_base)


# Extraction: go-containerregistry's vectors, then a property against a reference model.


def tar_of(*entries: tarfile.TarInfo | tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                archive.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                archive.addfile(info, io.BytesIO(entry[1]))
    return buffer.getvalue()


def info(name: str, kind: bytes = tarfile.DIRTYPE, linkname: str = "") -> tarfile.TarInfo:
    made = tarfile.TarInfo(name)
    made.type = kind
    made.linkname = linkname
    return made


def extracted(*layers: bytes) -> dict[str, tarfile.TarInfo]:
    image = mutate.append(empty.image, *(layer.from_bytes(data) for data in layers))
    return {m.name: m for m in members(mutate.extract(image))}


def test_extract_opaque_directory_hides_lower_contents() -> None:
    base = tar_of(info("d"), ("d/a.txt", b"a"), ("d/b.txt", b"b"))
    upper = tar_of(info("d"), ("d/.wh..wh..opq", b""), ("d/c.txt", b"c"))
    assert sorted(extracted(base, upper)) == ["d", "d/c.txt"]


def test_extract_keeps_links_that_stay_inside_and_drops_those_that_escape() -> None:
    sym = tarfile.SYMTYPE
    links = tar_of(
        info("usr/local/bin/ld.so", sym, "../lib/ld-linux.so.2"),
        info("usr/local/lib/containers/app/var/lock", sym, "../run/lock"),
        info("app/bin/win-rel", sym, "..\\lib\\tool"),
        info("app/bin/abs-link", sym, "/etc/passwd"),
        info("etc/foo", sym, "../../../tmp/evil"),
        info("etc/win-escape", sym, "..\\..\\tmp\\evil"),
        info("etc/hard-escape", tarfile.LNKTYPE, "../outside"),
        info("etc/drive", sym, "C:\\Windows"),
    )
    assert sorted(name for name, member in extracted(links).items() if not member.isdir()) == [
        "app/bin/abs-link",
        "app/bin/win-rel",
        "usr/local/bin/ld.so",
        "usr/local/lib/containers/app/var/lock",
    ]


@pytest.mark.parametrize(
    "name", ["../tmp/evil", "..\\..\\tmp\\evil", "\\tmp\\evil", "C:\\tmp\\evil", "C:/tmp/evil", "C:..\\evil"]
)
def test_extract_refuses_unsafe_paths(name: str) -> None:
    with pytest.raises(BadLayerError, match="unsafe tar path"):
        extracted(tar_of((name, b"x")))


@pytest.mark.parametrize("name", ["tmp/safe", "./tmp/dot", "/abs/inside"])
def test_extract_accepts_safe_paths(name: str) -> None:
    extracted(tar_of((name, b"x")))


def test_extract_reads_every_layer_to_its_end() -> None:
    good = gzip.compress(tar_of(("a", b"1")))
    image = mutate.append(empty.image, layer.from_bytes(good))
    padded = OwnCompressedLayer(good + b"\0" * 10, claimed=good)  # gzip readers skip the padding
    stored = MemoryImage(image.raw_manifest(), image.raw_config_file(), [padded])
    with pytest.raises(SizeMismatch, match="got at least"), mutate.extract(stored) as stream:
        stream.read()


# The reference model: apply layers bottom-up to a dict, as the image-spec describes.
Entry = tuple[str, str, bytes]  # (path, "dir" | "file" | "whiteout" | "opaque", content)


def model(layers: list[list[Entry]]) -> dict[str, tuple[str, bytes]]:
    fs: dict[str, tuple[str, bytes]] = {}
    for entries in layers:
        for path, kind, _ in entries:
            if kind == "whiteout":
                for existing in [p for p in fs if p == path or p.startswith(path + "/")]:
                    del fs[existing]
            elif kind == "opaque":
                for existing in [p for p in fs if p.startswith(path + "/")]:
                    del fs[existing]
        for path, kind, content in entries:
            if kind in ("dir", "file"):
                if kind == "file":
                    for existing in [p for p in fs if p.startswith(path + "/")]:
                        del fs[existing]
                fs[path] = (kind, content)
    return fs


def layer_tar(entries: list[Entry]) -> bytes:
    parts: list[tarfile.TarInfo | tuple[str, bytes]] = []
    for path, kind, content in entries:
        if kind == "dir":
            parts.append(info(path))
        elif kind == "file":
            parts.append((path, content))
        elif kind == "whiteout":
            head, _, tail = path.rpartition("/")
            parts.append((f"{head}/.wh.{tail}" if head else f".wh.{tail}", b""))
        else:
            parts.append((f"{path}/.wh..wh..opq", b""))
    return tar_of(*parts)


PATHS = ["a", "d", "d/a", "d/e", "d/e/b", "f", "f/a"]


@st.composite
def layer_entries(draw: st.DrawFn) -> list[Entry]:
    chosen: dict[str, Entry] = {}
    for path in draw(st.lists(st.sampled_from(PATHS), unique=True, max_size=5)):
        kind = draw(st.sampled_from(["dir", "file", "whiteout", "opaque"]))
        if kind in ("dir", "opaque") or "/" in path:
            # parents first, as real layers have them
            parent = path if kind in ("dir", "opaque") else path.rpartition("/")[0]
            pieces = parent.split("/")
            for depth in range(1, len(pieces) + 1):
                ancestor = "/".join(pieces[:depth])
                if chosen.get(ancestor, ("", "dir", b""))[1] != "dir":
                    return list(chosen.values())
                chosen.setdefault(ancestor, (ancestor, "dir", b""))
        if kind == "opaque":
            chosen[path + "/.opaque"] = (path, "opaque", b"")
        elif path not in chosen:
            chosen[path] = (path, kind, draw(st.binary(max_size=8)) if kind == "file" else b"")
    return list(chosen.values())


@settings(max_examples=150, deadline=None)
@given(st.lists(layer_entries(), min_size=1, max_size=4))
@example(  # a file replaces a directory, and a directory the file: the old contents stay gone
    [[("d", "dir", b""), ("d/a", "dir", b"")], [("d", "file", b"")], [("d", "dir", b"")]]
)
def test_extract_matches_the_reference_model_of_whiteouts(layers: list[list[Entry]]) -> None:
    image = mutate.append(empty.image, *(layer.from_bytes(layer_tar(entries)) for entries in layers))
    with mutate.extract(image) as stream:
        data = stream.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        listed = archive.getmembers()
        found = {m.name: ("dir" if m.isdir() else "file", _content(archive, m)) for m in listed}
    assert found == model(layers)
    assert len(listed) == len(found)  # no path twice


def _content(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    stream = archive.extractfile(member) if member.isfile() else None
    return stream.read() if stream is not None else b""


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    operations=st.lists(st.sampled_from(["append", "config", "annotate", "time", "oci", "canonical"]), max_size=4),
)
def test_mutations_keep_images_valid(seed: int, operations: list[str]) -> None:
    image = random.image(300, 2, seed=seed)
    for position, operation in enumerate(operations):
        if operation == "append":
            image = mutate.append_layers(image, random.layer(200, seed=seed + position))
        elif operation == "config":
            image = mutate.config(image, Config(cmd=[str(position)]))
        elif operation == "annotate":
            image = mutate.annotations(image, {f"k{position}": "v"})
        elif operation == "time":
            image = mutate.time(image, datetime(2000 + position, 1, 1, tzinfo=UTC))
        elif operation == "oci":
            image = mutate.media_type(image, MediaType.OCI_MANIFEST)
        else:
            image = mutate.canonical(image)
        validate.image(image)
