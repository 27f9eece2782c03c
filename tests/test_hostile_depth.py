"""Rule 6 of the hostile inputs: deep and wide inputs are typed errors, in bounded time.

JSON nested 30,000 deep (in a layout, a tarball, a credentials file or a registry's answer), an
index of indexes 1,000 deep, indexes that name the same child twice at every level (a million
paths through a few blobs), a manifest of 20,000 layers and an index of 20,000 entries: each is
read, walked or refused in a child with 200 MiB and 10 s, never with a ``RecursionError``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ocimodel.layout import Layout
from tests.harness import confined, hostile
from tests.harness.hostile import deep_json, refusal, refused_cli

#: Deeper than any JSON ocimodel accepts, yet shallow enough for Python's parser (which would
#: otherwise stop at its recursion limit): what is refused must be the depth, not the parser.
PARSEABLE_DEPTH = 500


def _validate(path: Path) -> str:
    return f"validate.index(layout.Layout({str(path)!r}).image_index(), fast=True)"


def _validated(path: Path, env: dict[str, str] | None = None) -> str:
    """How validating the layout at ``path`` ended, in a confined child."""
    return hostile.each({"validate": _validate(path)}, prelude="from ocimodel import layout, validate", env=env)[
        "validate"
    ]


# ---------------------------------------------------------------------------------------- deep JSON


def _layout_with_deep_json(folder: Path, where: str, depth: int) -> None:
    place = Layout(folder)
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}'
    if where == "config":
        config = config[:-1] + b',"x":' + deep_json(depth) + b"}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": hostile.MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **hostile.blob(place, config)},
        "layers": [],
    }
    raw = json.dumps(manifest).encode()
    if where == "manifest":
        raw = raw[:-1] + b',"x":' + deep_json(depth) + b"}"
    hostile.index_json(place, [{"mediaType": hostile.MANIFEST, **hostile.blob(place, raw)}])
    if where == "index.json":
        (folder / "index.json").write_bytes(deep_json(depth))


def test_deep_json_in_a_layout(tmp_path: Path) -> None:
    """30,000 deep used to be caught only by Python's parser (a message about recursion); 500
    deep was read, and left for the code after it to recurse through."""
    kinds = {"index.json": "image index", "manifest": "image manifest", "config": "image config"}
    cases = {}
    for where in kinds:
        for depth in (30_000, PARSEABLE_DEPTH):
            _layout_with_deep_json(tmp_path / f"{where}-{depth}", where, depth)
            cases[f"{where}-{depth}"] = _validate(tmp_path / f"{where}-{depth}")
    ended = hostile.each(cases, prelude="from ocimodel import layout, validate")
    for name, line in ended.items():
        refusal(line, "BadJSONError", kinds[name.split("-")[0]], "nested more than 64 deep", "OCIMODEL_JSON_DEPTH")


def test_deep_json_from_code_is_refused_too() -> None:
    """The parser every document goes through: a value deeper than the cap is a BadJSONError
    whether Python's parser could have read it or not."""
    code = hostile.python(
        f"""
        from ocimodel import Descriptor, Manifest, codec
        for depth in (30_000, {PARSEABLE_DEPTH}):
            deep = b'{{"x":' + b"[" * depth + b"]" * depth + b"}}"
            for parse in (Manifest.from_json, lambda data: codec.from_json(data, Descriptor)):
                try:
                    parse(deep)
                except errors.BadJSONError as error:
                    assert "nested" in str(error), error
                else:
                    raise AssertionError(depth)
        """
    )
    outcome = confined.python(code)
    assert outcome.stdout == "ok\n", outcome.stderr[-2000:]


def test_deep_json_in_a_tarball(tmp_path: Path) -> None:
    """manifest.json and repositories used to end in a RecursionError traceback."""
    cases: dict[str, dict[str, bytes | int]] = {
        "manifest.json": {"manifest.json": deep_json()},
        "config.json": {"manifest.json": hostile.docker_manifest("config.json"), "config.json": deep_json()},
        "repositories": {"repositories": deep_json()},
        "legacy json": {"repositories": b'{"hostile":{"1":"top"}}', "top/json": deep_json()},
    }
    for name, members in cases.items():
        hostile.sparse_tar(tmp_path / f"{name}.tar", members)
    ended = hostile.each(
        {name: f"tarball.image({str(tmp_path / name)!r} + '.tar').digest()" for name in cases},
        prelude="from ocimodel import tarball",
    )
    for name, line in ended.items():
        refusal(line, "BadJSONError", tmp_path / f"{name}.tar", "nested more than 64 deep")
    line = refused_cli(confined.cli("digest", "--tarball", str(tmp_path / "manifest.json.tar")), "invalid")
    assert "nested" in line


def test_deep_json_in_a_credentials_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(deep_json())
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path)}
    outcome = confined.cli("auth", "login", "r.example", "-u", "me", "-p", "secret", env=env)
    refused_cli(outcome, "cannot read credentials file", tmp_path / "config.json")
    outcome = confined.cli("auth", "get", "r.example", env=env)
    refused_cli(outcome, "", tmp_path / "config.json")


class _Hostile(ThreadingHTTPServer):
    """A registry on 127.0.0.1 whose every JSON answer is nested 30,000 deep: the tag list, the
    manifest, the error body of a 404, the token server's answer."""

    def __init__(self) -> None:
        deep = deep_json()

        def port() -> int:
            return int(self.server_address[1])

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                host = f"127.0.0.1:{port()}"
                status, headers = 200, {"Content-Type": "application/json"}
                if self.path.startswith("/v2/auth/"):  # every path under it asks for a token
                    if "Authorization" not in self.headers:
                        status = 401
                        headers["WWW-Authenticate"] = f'Bearer realm="http://{host}/token",service="x"'
                elif self.path.startswith("/v2/missing/"):
                    status = 404
                elif "/manifests/" in self.path:
                    headers["Content-Type"] = hostile.MANIFEST
                    headers["Docker-Content-Digest"] = hostile.sha256(deep)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(deep)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(deep)

            do_HEAD = do_GET  # noqa: N815 (http.server's name)

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="module")
def deep_registry() -> Iterator[str]:
    server = _Hostile()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{int(server.server_address[1])}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["ls", "{host}/repo"], "tags"),
        (["config", "{host}/repo:1"], "manifest"),
        (["config", "{host}/missing/repo:1"], "404"),
        (["config", "{host}/auth/repo:1"], "token"),
    ],
)
def test_deep_json_from_a_registry(deep_registry: str, argv: list[str], what: str) -> None:
    outcome = confined.cli(*(part.format(host=deep_registry) for part in argv))
    refused_cli(outcome, "")
    assert "RecursionError" not in outcome.stderr


# ---------------------------------------------------------------------------------------- deep indexes


_ON_AN_INDEX = {
    "validate": "validate.index(root, fast=True)",
    "image_for": "root.image_for(Platform.parse('linux/s390x'))",
    "gc": "place.gc()",
    "layout.write": "layout.write({out!r}, root)",
    "tarball.write": "tarball.write({out!r} + '.tar', root.image_for(Platform.parse('linux/amd64')), tag='x:1')",
}


def _on_layout(path: Path, out: Path) -> dict[str, str]:
    """How each of :data:`_ON_AN_INDEX` ended on the layout at ``path``, in one confined child."""
    prelude = f"""
        from ocimodel import layout, tarball, validate
        from ocimodel.platform import Platform
        place = layout.Layout({str(path)!r})
        root = place.image_index()
    """
    cases = {name: action.format(out=str(out / name)) for name, action in _ON_AN_INDEX.items()}
    return hostile.each(cases, prelude=prelude)


def test_an_index_nested_a_thousand_deep(tmp_path: Path) -> None:
    """Each walk used to recurse until Python stopped it (a RecursionError, or a BadJSONError
    about recursion from wherever the stack ran out)."""
    place = Layout(tmp_path / "layout")
    hostile.index_json(place, [hostile.nested_indexes(place, 1000)])
    for line in _on_layout(place.path, tmp_path).values():
        refusal(line, "IndexTooDeep", "more than 16 indexes deep", "OCIMODEL_INDEX_DEPTH")
    assert not (tmp_path / "tarball.write.tar").exists()


def test_an_index_naming_each_child_twice_at_every_level(tmp_path: Path) -> None:
    """14 levels of two entries each: 16,384 paths to the one image, through 15 blobs. Each walk
    looks at each index once, so this takes no longer than a chain of 14 (it used to take
    longer than the deadline)."""
    place = Layout(tmp_path / "layout")
    hostile.index_json(place, [hostile.nested_indexes(place, 14, width=2)])
    ended = _on_layout(place.path, tmp_path)
    refusal(ended.pop("image_for"), "NoMatchingPlatform", "linux/amd64")
    assert ended == dict.fromkeys(ended, "ok")
    assert Layout(tmp_path / "layout.write").image_index().digest() == place.image_index().digest()


def test_a_deep_index_is_refused_before_a_push(registry: object, tmp_path: Path) -> None:
    from tests.harness.distribution import DistributionRegistry

    assert isinstance(registry, DistributionRegistry)
    place = Layout(tmp_path / "layout")
    hostile.index_json(place, [hostile.nested_indexes(place, 1000)])
    outcome = confined.cli("push", "--index", str(place.path), f"{registry.host}/hostile/deep:1")
    refused_cli(outcome, "", "16")


def test_a_diamond_index_is_pushed_once_per_blob(registry: object, tmp_path: Path) -> None:
    from tests.harness.distribution import DistributionRegistry

    assert isinstance(registry, DistributionRegistry)
    place = Layout(tmp_path / "layout")
    top = hostile.nested_indexes(place, 14, width=2)
    hostile.index_json(place, [top])
    outcome = confined.cli("push", str(place.path), f"{registry.host}/hostile/diamond:1")
    assert outcome.returncode == 0, outcome.stderr[-2000:]
    assert outcome.stdout.strip().endswith(str(top["digest"]))


# ---------------------------------------------------------------------------------------- wide inputs

_WIDE = 20_000


def _fake_digest(number: int) -> str:
    return hostile.sha256(number.to_bytes(4, "big"))


@pytest.mark.parametrize("distinct", [True, False], ids=["distinct layers", "one layer, listed 20,000 times"])
def test_a_manifest_of_twenty_thousand_layers_validates_in_linear_time(tmp_path: Path, distinct: bool) -> None:
    place = Layout(tmp_path)
    numbers = range(_WIDE) if distinct else [0] * _WIDE
    diff_ids = [_fake_digest(n + _WIDE) for n in numbers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    kind = "application/vnd.oci.image.layer.v1.tar+gzip"
    layers = [{"mediaType": kind, "digest": _fake_digest(n), "size": 1} for n in numbers]
    manifest = {
        "schemaVersion": 2,
        "mediaType": hostile.MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **hostile.blob(place, config.encode())},
        "layers": layers,
    }
    hostile.index_json(place, [{"mediaType": hostile.MANIFEST, **hostile.blob(place, json.dumps(manifest).encode())}])
    assert _validated(tmp_path) == "ok"


def test_an_index_of_twenty_thousand_entries_validates_in_linear_time(tmp_path: Path) -> None:
    place = Layout(tmp_path)
    entries = [{"mediaType": "application/octet-stream", "digest": _fake_digest(n), "size": 1} for n in range(_WIDE)]
    hostile.index_json(place, entries)
    assert _validated(tmp_path) == "ok"


def test_the_index_depth_cap_is_an_option(tmp_path: Path) -> None:
    place = Layout(tmp_path / "layout")
    hostile.index_json(place, [hostile.nested_indexes(place, 3)])  # four indexes, index.json the first
    refusal(
        _validated(place.path, {**os.environ, "OCIMODEL_INDEX_DEPTH": "3"}),
        "IndexTooDeep",
        "more than 3 indexes deep",
        "OCIMODEL_INDEX_DEPTH",
    )
    assert _validated(place.path, {**os.environ, "OCIMODEL_INDEX_DEPTH": "4"}) == "ok"
