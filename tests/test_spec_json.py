"""The spec types and their JSON: round trips, raw bytes, field names, omission rules, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ocimodel import codec
from ocimodel.configfile import Config, ConfigFile, HealthConfig, History, RootFS
from ocimodel.descriptor import Descriptor
from ocimodel.errors import BadJSONError
from ocimodel.hashing import Hash
from ocimodel.hypothesis import config_files, descriptors, index_manifests, manifests, raw_config_files, times
from ocimodel.manifest import IndexManifest, Manifest
from ocimodel.mediatype import MediaType

D = "sha256:" + "ab" * 32
EMPTY_CONFIG = (
    b'{"architecture":"","created":"0001-01-01T00:00:00Z","os":"",'
    b'"rootfs":{"type":"layers","diff_ids":null},"config":{}}'
)


@given(manifests())
def test_manifests_round_trip(manifest: Manifest) -> None:
    assert Manifest.from_json(manifest.to_json()) == manifest


@given(index_manifests())
def test_index_manifests_round_trip(index: IndexManifest) -> None:
    assert IndexManifest.from_json(index.to_json()) == index


@given(config_files())
def test_config_files_round_trip(config_file: ConfigFile) -> None:
    assert ConfigFile.from_json(config_file.to_json()) == config_file


@given(descriptors())
def test_descriptors_round_trip(descriptor: Descriptor) -> None:
    assert codec.from_json(codec.to_json(descriptor), Descriptor) == descriptor


def _reformat(draw: st.DrawFn, document: dict[str, Any]) -> bytes:
    """The same JSON written differently: another key order, whitespace, unknown fields."""
    keys = draw(st.permutations(list(document)))
    reordered = {key: document[key] for key in keys}
    if draw(st.booleans()):
        reordered["x-unknown-field"] = draw(st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
    indent = draw(st.sampled_from([None, 1, 4, "\t"]))
    return json.dumps(reordered, indent=indent, ensure_ascii=draw(st.booleans())).encode()


@given(st.one_of(manifests(), index_manifests(), config_files()), st.data())
def test_parsed_documents_keep_their_bytes_exactly(document: Any, data: st.DataObject) -> None:
    raw = data.draw(st.composite(lambda draw: _reformat(draw, json.loads(document.to_json())))())
    parsed = type(document).from_json(raw)
    assert parsed == document
    assert parsed.to_json() == raw
    assert parsed.digest() == Hash.sha256(raw)
    assert codec.to_json(parsed) == raw
    assert codec.from_json(raw, type(document)).to_json() == raw


def test_a_changed_document_is_serialised_anew_keeping_what_the_change_left() -> None:
    parsed = Manifest.from_json(
        b'{ "config": {"mediaType": "a/b", "size": 1, "digest": "%s"}, "schemaVersion": 2 }' % D.encode()
    )
    changed = attrs.evolve(parsed, annotations={"k": "v"})
    assert (
        changed.to_json()
        == (  # compact, in the parsed order; a key it lacked (layers) stays out
            b'{"config":{"mediaType":"a/b","size":1,"digest":"' + D.encode() + b'"},"schemaVersion":2,'
            b'"annotations":{"k":"v"}}'
        )
    )
    built = Manifest(config=parsed.config)
    assert (
        attrs.evolve(built, annotations={"k": "v"}).to_json()
        == (  # built in code: canonical
            b'{"schemaVersion":2,"config":{"mediaType":"a/b","size":1,"digest":"' + D.encode() + b'"},'
            b'"layers":[],"annotations":{"k":"v"}}'
        )
    )


def test_empty_image_and_index_hash_as_go_containerregistry_s() -> None:
    config = ConfigFile.from_json(EMPTY_CONFIG)
    assert config.digest() == Hash.parse("sha256:5b943e2b943f6c81dbbd4e2eca5121f4fcc39139e3d1219d6d89bd925b77d9fe")
    manifest = Manifest(
        media_type=MediaType.DOCKER_MANIFEST_SCHEMA2,
        config=Descriptor(MediaType.DOCKER_CONFIG, len(EMPTY_CONFIG), config.digest()),
    )
    assert len(manifest.to_json()) == 264
    assert str(manifest.digest()) == "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
    index = IndexManifest(media_type=MediaType.OCI_INDEX)
    assert (
        index.to_json() == b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
    )
    assert str(index.digest()) == "sha256:dff9de10919148711140d349bf03f1a99eb06f94b03e51715ccebfa7cdc518e2"


def test_descriptor_fields_and_order_follow_the_spec() -> None:
    descriptor = Descriptor(
        MediaType.OCI_MANIFEST,
        7,
        D,
        data=b"payload",
        urls=["https://example.com/blob"],
        annotations={"b": "2", "a": "1"},
        artifact_type="application/vnd.example+json",
    )
    assert codec.to_json(descriptor) == (
        b'{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":7,"digest":"' + D.encode() + b'",'
        b'"data":"cGF5bG9hZA==","urls":["https://example.com/blob"],"annotations":{"a":"1","b":"2"},'
        b'"artifactType":"application/vnd.example+json"}'
    )


def test_config_uses_docker_cased_keys_and_sets() -> None:
    config_file = ConfigFile(
        architecture="amd64",
        os="linux",
        created=datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),
        history=[History(created_by="RUN true", empty_layer=True)],
        rootfs=RootFS(diff_ids=[D]),
        config=Config(
            cmd=["sh"],
            env=["PATH=/bin"],
            working_dir="/app",
            exposed_ports={"443/tcp", "80/tcp"},
            volumes={"/data"},
            labels={"maintainer": "me"},
            healthcheck=HealthConfig(test=["CMD", "true"], interval=30_000_000_000, retries=3),
        ),
        os_features=["win32k"],
    )
    assert json.loads(config_file.to_json()) == {
        "architecture": "amd64",
        "created": "2024-01-02T03:04:05.12Z",
        "history": [{"created_by": "RUN true", "empty_layer": True}],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [D]},
        "config": {
            "Cmd": ["sh"],
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3},
            "Env": ["PATH=/bin"],
            "Labels": {"maintainer": "me"},
            "Volumes": {"/data": {}},
            "WorkingDir": "/app",
            "ExposedPorts": {"443/tcp": {}, "80/tcp": {}},
        },
        "os.features": ["win32k"],
    }
    platform = config_file.platform()
    assert platform is not None
    assert (str(platform), platform.os_features) == ("linux/amd64", ("win32k",))
    assert ConfigFile().platform() is None


def test_real_docker_config_parses_with_unknown_fields() -> None:
    raw = json.dumps(
        {
            "architecture": "amd64",
            "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["bash"], "Image": "sha256:" + "0" * 64, "Labels": None},
            "container": "8e1d3f",
            "container_config": {"Cmd": ["/bin/sh", "-c", '#(nop) CMD ["bash"]']},
            "created": "2024-03-21T02:39:41.123456789Z",
            "docker_version": "20.10.23",
            "history": [{"created": "2024-03-21T02:39:41.1Z", "created_by": "/bin/sh"}],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [D]},
        }
    ).encode()
    config_file = ConfigFile.from_json(raw)
    assert config_file.created == datetime(2024, 3, 21, 2, 39, 41, 123456, tzinfo=UTC)
    assert config_file.config.labels == {}
    assert config_file.rootfs.diff_ids == (Hash.parse(D),)
    assert config_file.to_json() == raw


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
        (datetime(2024, 5, 6, 7, 8, 9, 100, tzinfo=UTC), "2024-05-06T07:08:09.0001Z"),
        (datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=-5, minutes=-30))), "2024-05-06T07:08:09-05:30"),
        (datetime(2024, 5, 6, 7, 8, 9), "2024-05-06T07:08:09Z"),
    ],
)
def test_times_are_written_as_go_writes_them(moment: datetime, text: str) -> None:
    assert codec.format_time(moment) == text


@given(times())
def test_times_round_trip(moment: datetime) -> None:
    history = History(created=moment)
    parsed = codec.from_json(codec.to_json(history), History)
    assert parsed.created == moment
    assert parsed.created is not None
    assert parsed.created.utcoffset() == moment.utcoffset()


def test_strings_are_escaped_as_go_escapes_them() -> None:
    history = History(created_by="a<b>&c\u2028\u2029é")
    assert codec.to_json(history) == b'{"created_by":"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\xc3\xa9"}'
    assert codec.from_json(codec.to_json(history), History) == history


def test_null_stands_for_an_empty_list_or_map() -> None:
    manifest = Manifest.from_json(
        b'{"schemaVersion":2,"config":{"mediaType":"a/b","size":0,"digest":"%s"},"layers":null,"annotations":null}'
        % D.encode()
    )
    assert manifest.layers == ()
    assert manifest.annotations == {}


def test_values_are_immutable_and_hashable() -> None:
    descriptor = Descriptor(MediaType.OCI_LAYER, 1, D, annotations={"a": "b"})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        descriptor.size = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        descriptor.annotations["a"] = "c"  # type: ignore[index]
    assert {descriptor: 1}[Descriptor(MediaType.OCI_LAYER, 1, Hash.parse(D), annotations={"a": "b"})] == 1
    assert hash(ConfigFile(config=Config(labels={"x": "y"}))) == hash(ConfigFile(config=Config(labels={"x": "y"})))


@pytest.mark.parametrize(
    ("kind", "raw", "problems"),
    [
        (Manifest, b"{", ["not valid JSON: Expecting property name"]),
        (Manifest, b"\xff", ["not valid JSON"]),
        (Manifest, b'{"schemaVersion": NaN}', ["not valid JSON: NaN is not valid JSON"]),
        (Manifest, b"[]", ["$: expected an object, got an array"]),
        (Manifest, b'{"schemaVersion":2}', ["$.config: required field missing"]),
        (
            Manifest,
            b'{"schemaVersion":1,"config":{"mediaType":"a","size":0,"digest":"%s"}}' % D.encode(),
            ["$: schemaVersion must be 2, got 1"],
        ),
        (
            Manifest,
            b'{"schemaVersion":2,"config":{"mediaType":"a","size":"1","digest":"sha256:00"},'
            b'"layers":[{"mediaType":7,"size":-1,"digest":"%s"},[]]}' % D.encode(),
            [
                "$.config.size: expected an integer, got a string",
                "$.config.digest: bad sha256 digest '00': expected 64 lower-case hexadecimal characters",
                "$.layers[0].mediaType: expected a string, got a number",
                "$.layers[1]: expected an object, got an array",
            ],
        ),
        (
            IndexManifest,
            b'{"schemaVersion":true,"manifests":{}}',
            ["$.schemaVersion: expected an integer, got a boolean", "$.manifests: expected an array, got an object"],
        ),
        (
            ConfigFile,
            b'{"created":"yesterday","config":{"ExposedPorts":["80/tcp"],"Labels":{"a":1}}}',
            [
                "$.created: expected an RFC 3339 time such as '2024-01-31T12:00:00Z', got 'yesterday'",
                '$.config.Labels["a"]: expected a string, got a number',
                "$.config.ExposedPorts: expected an object whose keys are the entries, got an array",
            ],
        ),
        (
            ConfigFile,
            b'{"rootfs":{"diff_ids":["md5:00"]},"history":[{"empty_layer":"yes"}]}',
            [
                "$.history[0].empty_layer: expected true or false, got a string",
                "$.rootfs.diff_ids[0]: unsupported digest algorithm 'md5'",
            ],
        ),
        (
            Descriptor,
            b'{"mediaType":"a","size":%d,"digest":"%s"}' % (1 << 63, D.encode()),
            ["$: size must be at most 9223372036854775807 (an int64), got a number of 64 bits"],
        ),
        (
            Descriptor,
            b'{"mediaType":"a","size":1%s,"digest":"%s"}' % (b"0" * 4000, D.encode()),
            ["$: size must be at most 9223372036854775807 (an int64), got a number of 13288 bits"],
        ),
        (
            Descriptor,
            b'{"mediaType":"a","size":1.5,"digest":"%s","data":"!!"}' % D.encode(),
            [
                "$.size: expected an integer, got a number",
                "$.data: expected base64 data",
            ],
        ),
    ],
)
def test_bad_json_names_each_bad_field(kind: type[Any], raw: bytes, problems: list[str]) -> None:
    with pytest.raises(BadJSONError) as caught:
        codec.from_json(raw, kind)
    assert caught.value.what == kind.json_kind
    assert len(caught.value.problems) == len(problems)
    for found, expected in zip(sorted(caught.value.problems), sorted(problems), strict=True):
        assert found.startswith(expected), (found, expected)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"invalid {kind.json_kind}: ")


def _set(tree: dict[str, Any], key: str, value: object) -> None:
    """What an edit should do to the JSON: a key replaced where it is, a new one added last, an
    emptied optional one removed."""
    if value is _REMOVED:
        tree.pop(key, None)
    else:
        tree[key] = value


_REMOVED = object()


@given(raw_config_files(), st.data())
def test_an_edit_rewrites_only_the_field_it_changes(raw: bytes, data: st.DataObject) -> None:
    """Parse, change one field, serialise: every other byte is kept (nanoseconds, offsets, unknown
    fields, key order, nulls)."""
    parsed = ConfigFile.from_json(raw)
    expected = json.loads(raw)
    edit = data.draw(st.sampled_from(["label", "cmd", "os", "created", "history"]), label="edit")
    word = data.draw(st.text(alphabet="abcxyz<&é", min_size=1, max_size=6), label="word")
    run = parsed.config
    if edit == "label":
        assume(run.labels.get("edited") != word)
        labels = {**run.labels, "edited": word}
        changed = attrs.evolve(parsed, config=attrs.evolve(run, labels=labels))
        _set(expected.setdefault("config", {}), "Labels", dict(sorted(labels.items())))
    elif edit == "cmd":
        cmd = data.draw(st.lists(st.just(word), max_size=2), label="cmd")
        assume(tuple(cmd) != run.cmd)
        changed = attrs.evolve(parsed, config=attrs.evolve(run, cmd=cmd))
        _set(expected.setdefault("config", {}), "Cmd", cmd or _REMOVED)
    elif edit == "os":
        assume(parsed.os != word)
        changed = attrs.evolve(parsed, os=word)
        _set(expected, "os", word)
    elif edit == "created":
        moment = data.draw(times(), label="created")
        assume(parsed.created != moment)
        changed = attrs.evolve(parsed, created=moment)
        _set(expected, "created", codec.format_time(moment))
    else:
        assume(parsed.history)
        position = data.draw(st.integers(0, len(parsed.history) - 1), label="position")
        entry = parsed.history[position]
        assume(entry.comment != word)
        history = list(parsed.history)
        history[position] = attrs.evolve(entry, comment=word)
        changed = attrs.evolve(parsed, history=history)
        _set(expected["history"][position], "comment", word)
    assert parsed.to_json() == raw
    assert changed.to_json() == codec.dumps(expected)
    assert ConfigFile.from_json(changed.to_json()) == changed


def test_a_label_edit_keeps_docker_s_nanoseconds_and_unknown_fields() -> None:
    raw = (
        b'{"architecture":"amd64","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Labels":null,"OnBuild":null,'
        b'"x-unknown":{"a":[1,2.5]}},"container_config":{"Cmd":["/bin/sh"]},'
        b'"created":"2024-03-21T02:39:41.123456789Z",'
        b'"history":[{"created":"2024-03-21T02:39:40.000000001+01:00","created_by":"ADD x","x":true},'
        b'{"created":"2024-03-21T02:39:41.12345678Z","created_by":"CMD","empty_layer":true}],'
        b'"moby.buildkit.buildinfo.v1":"eyJ9","os":"linux",'
        b'"rootfs":{"type":"layers","diff_ids":["' + D.encode() + b'"]}}'
    )
    parsed = ConfigFile.from_json(raw)
    labelled = attrs.evolve(parsed, config=attrs.evolve(parsed.config, labels={"k": "v"}))
    assert labelled.to_json() == raw.replace(b'"Labels":null', b'"Labels":{"k":"v"}')
    appended = attrs.evolve(parsed, history=[*parsed.history, History(created_by="RUN y")])
    assert appended.to_json() == raw.replace(b'"empty_layer":true}]', b'"empty_layer":true},{"created_by":"RUN y"}]')


def test_changing_an_unstructured_value_does_not_change_the_parsed_one() -> None:
    raw = b'{"mediaType":"a/b","size":1,"digest":"' + D.encode() + b'","x":{"kept":[1]}}'
    parsed = codec.from_json(raw, Descriptor)
    moved = attrs.evolve(parsed, size=2)
    out = codec.converter.unstructure(moved)
    out["x"]["kept"].append(2)
    assert codec.to_json(moved) == raw.replace(b'"size":1', b'"size":2')


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _keys(item)}
    return set()


@given(raw_config_files())
def test_canonical_drops_what_the_model_does_not_hold(raw: bytes) -> None:
    parsed = ConfigFile.from_json(raw)
    made = codec.canonical(parsed)
    assert made == parsed
    assert not {key for key in _keys(json.loads(made.to_json())) if key.startswith(("x.", "x-"))}
    assert made.to_json() == ConfigFile.from_json(made.to_json()).to_json()
