"""Hostile answers beyond the bodies of ``test_hostile_registry.py``: URLs that are no URLs,
numbers that are no numbers, and a client sending the embedded registry what is no number.

Each hostile server is a small server on 127.0.0.1 named ``*.hostile.test`` (a public host to
ocimodel, :mod:`tests.harness.hostile_registry`), with ocimodel in a confined child (200 MiB,
10 s): an untyped ``ValueError`` from Python's URL parser or from ``int()`` used to escape, as a
traceback on the command line.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from ocimodel import Hash
from ocimodel.mediatype import MediaType
from ocimodel.registry import Registry
from tests.harness import confined
from tests.harness.hostile_registry import HostileServer, Reply, Seen, cases, cli

CONFIG = b"{}"
CONFIG_DIGEST = Hash.sha256(CONFIG)
OCI_MANIFEST = str(MediaType.OCI_MANIFEST)
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": str(MediaType.OCI_CONFIG), "size": len(CONFIG), "digest": str(CONFIG_DIGEST)},
        "layers": [],
    }
).encode()
SETUP = "from ocimodel import remote, transport, random, Hash\nfrom ocimodel.name import Repository\n"


def label(seen: Seen) -> str:
    return (seen.header("Host") or "").split(".")[0]


def within_bounds(outcome: confined.Outcome) -> None:
    assert not outcome.timed_out, "the child was still running at the deadline"
    assert not outcome.out_of_memory, outcome.stderr[-2000:]
    assert "Traceback" not in outcome.stderr, outcome.stderr[-3000:]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


# ------------------------------------------------------------------------- URLs that are no URLs

NO_URL = "http://[oops/x"  # Python's urljoin and urlsplit raise ValueError("Invalid IPv6 URL")


def _no_url_route(seen: Seen) -> Reply:
    case, path = label(seen), seen.target
    if path == "/v2/":
        return Reply(200, {}, b"{}")
    if case in ("redirect", "blob"):
        return Reply(307, {"Location": NO_URL})
    if case == "relative":
        return Reply(302, {"Location": "//[::1%25/x"})
    if case == "link":
        return Reply(200, {"Content-Type": "application/json", "Link": f'<{NO_URL}>; rel="next"'}, b'{"tags":["a"]}')
    if case == "upload" and seen.method == "POST":
        return Reply(202, {"Location": NO_URL})
    return Reply(404, {}, b"")


def test_a_url_that_is_no_url_is_refused_as_one_not_to_follow(home: Path) -> None:
    """A redirect's ``Location`` (of a manifest, of a blob, relative to the scheme), a ``Link``,
    an upload's ``Location`` that Python cannot parse: an
    ``InsecureRedirect``, not a ``ValueError`` traceback."""
    with HostileServer(_no_url_route) as server:
        n = server.name
        calls = {
            "redirect": f"remote.get('{n('redirect')}/app:t', insecure=True)",
            "relative": f"remote.get('{n('relative')}/app:t', insecure=True)",
            "blob": f"remote.layer('{n('blob')}/app@{CONFIG_DIGEST}', insecure=True).compressed().read()",
            "link": f"remote.list_tags('{n('link')}/app', insecure=True)",
            "upload": f"remote.check_push_permission('{n('upload')}/app:t', insecure=True)",
        }
        outcome, ended = cases(SETUP, calls, home)
        line = cli("--insecure", "manifest", f"{n('redirect')}/app:t", home=home)
    within_bounds(outcome)
    for case in calls:
        found = ended.get(case)
        assert found is not None, case
        assert found.error == "InsecureRedirect", (case, found)
        assert "cannot be followed" in found.message, found.message
    within_bounds(line)
    assert line.returncode == 1
    assert len(line.lines) == 1, line.stderr
    assert "cannot be followed" in line.lines[0], line.stderr


# ------------------------------------------------------------------------- numbers that are no numbers

SUPERSCRIPT_TWO = "\u00b2"  # a digit to str.isdigit and to re's \d, and no number to int()


def _numbers_route(seen: Seen) -> Reply:
    case, path = label(seen), seen.target
    if path == "/v2/":
        return Reply(200, {}, b"{}")
    if case == "manifest":
        return Reply(200, {"Content-Type": OCI_MANIFEST, "Content-Length": SUPERSCRIPT_TWO}, MANIFEST, framing="close")
    if case in ("blob", "head"):
        return Reply(200, {"Content-Length": SUPERSCRIPT_TWO}, CONFIG, framing="close")
    if case == "long":
        return Reply(200, {"Content-Length": "9" * 5000}, CONFIG, framing="close")
    if case == "retry":
        return Reply(503, {"Content-Type": "text/plain", "Retry-After": "\u00b3"}, b"busy")
    if case == "chunkmin" and seen.method == "POST":
        return Reply(202, {"Location": "/v2/app/blobs/uploads/1", "OCI-Chunk-Min-Length": SUPERSCRIPT_TWO})
    if case == "range" and seen.method == "POST":
        return Reply(202, {"Location": "/v2/app/blobs/uploads/1", "Range": "0-" + "9" * 5000})
    if case in ("chunkmin", "range"):
        return Reply(201, {})
    return Reply(404, {}, b"")


def test_a_number_that_is_no_number_is_no_number(home: Path) -> None:
    """``Content-Length: ²`` (on a manifest, a blob's GET and HEAD), one of 5,000 digits,
    ``Retry-After: ³``, ``OCI-Chunk-Min-Length: ²``, an upload's ``Range`` of 5,000 digits: each
    read as no number (the request goes on, or fails typed), never a ``ValueError``."""
    with HostileServer(_numbers_route) as server:
        n = server.name
        calls = {
            "manifest": f"remote.get('{n('manifest')}/app:t', insecure=True).size",
            "blob": f"remote.layer('{n('blob')}/app@{CONFIG_DIGEST}', insecure=True).compressed().read()",
            "long": f"remote.layer('{n('long')}/app@{CONFIG_DIGEST}', insecure=True).compressed().read()",
            "head": f"transport.Client('{n('head')}', insecure=True).head_blob(Repository('{n('head')}/app'), "
            f"Hash.parse('{CONFIG_DIGEST}'))",
            "retry": f"remote.get('{n('retry')}/app:t', insecure=True, retry=transport.RetryPolicy(attempts=2))",
            "chunkmin": f"remote.write_layer('{n('chunkmin')}/app', random.image(16, 1).layers()[0], insecure=True)",
            "range": f"remote.write_layer('{n('range')}/app', random.image(16, 1).layers()[0], insecure=True)",
        }
        outcome, ended = cases(SETUP, calls, home)
    within_bounds(outcome)
    expected = {"manifest": str(len(MANIFEST)), "blob": repr(CONFIG), "long": repr(CONFIG), "head": "-1"}
    for case in calls:
        found = ended.get(case)
        assert found is not None, case
        assert found.typed, (case, found)
        if case in expected:
            assert (found.error, found.message) == (None, expected[case]), (case, found)
    assert ended["retry"].error == "ServerError", ended["retry"]


def test_the_embedded_registry_answers_a_number_that_is_no_number() -> None:
    """A client asking ``n=abc``, ``n=-1`` or ``n=0``, or sending a ``Content-Range`` that is no
    range, or a ``Range`` of 5,000 digits: an answer (400, 416, the whole blob), not a connection
    closed by a ``ValueError`` or an ``IndexError``."""
    with Registry() as served:

        def ask(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> tuple[int, bytes]:
            connection = http.client.HTTPConnection(served.host, timeout=5)
            try:
                connection.request(method, path, body=body, headers=headers or {})
                answer = connection.getresponse()
                return answer.status, answer.read()
            finally:
                connection.close()

        status, _ = ask("POST", f"/v2/app/blobs/uploads/?digest={CONFIG_DIGEST}", body=CONFIG)
        assert status == 201
        assert ask("PUT", "/v2/app/manifests/t", {"Content-Type": OCI_MANIFEST}, MANIFEST)[0] == 201
        for n in ("abc", "-1", SUPERSCRIPT_TWO, "9" * 5000):
            status, body = ask("GET", f"/v2/app/tags/list?n={quote(n)}")
            assert status == 400, (n, status, body)
            assert b"PAGINATION_NUMBER_INVALID" in body, (n, status, body)
        assert ask("GET", "/v2/app/tags/list?n=0") == (200, b'{"name": "app", "tags": []}')
        connection = http.client.HTTPConnection(served.host, timeout=5)
        connection.request("POST", "/v2/app/blobs/uploads/")
        location = connection.getresponse().getheader("Location") or ""
        connection.close()
        for content_range in ("abc-def", f"{SUPERSCRIPT_TWO}-3", "9" * 5000 + "-1"):
            status, body = ask("PATCH", location, {"Content-Range": content_range}, b"x")
            assert status == 416, (content_range, status, body)
            assert b"BLOB_UPLOAD_INVALID" in body, (content_range, status, body)
        whole = ask("GET", f"/v2/app/blobs/{CONFIG_DIGEST}", {"Range": "bytes=" + "9" * 5000 + "-"})
        assert whole == (200, CONFIG)
