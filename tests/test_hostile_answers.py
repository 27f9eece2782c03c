"""Hostile answers beyond the bodies of ``test_hostile_registry.py``: URLs that are no URLs,
numbers that are no numbers, secrets echoed where only the library's messages see them, a proxy
that echoes its own credentials, and a client sending the embedded registry what is no number.

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
from tests.harness.hostile_registry import HostileServer, Reply, Seen, basic, cases, cli, environment

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


# ------------------------------------------------------------------------- secrets in the library's messages

USER, PASSWORD = "alice", "s3cr3t-Pa55word"


def _echo_route(seen: Seen) -> Reply:
    """Registries that echo what we sent where only the library's messages quote it: in a
    ``Location``, a ``Link``, an upload ``Location``, a chain of redirects, a digest header."""
    case, sent = label(seen), seen.header("Authorization")
    if seen.target == "/v2/" or not sent:
        return Reply(401, {"WWW-Authenticate": 'Basic realm="hostile"'})
    credential = sent.partition(" ")[2]
    if case == "location":
        return Reply(307, {"Location": f"http://127.0.0.1:1/{quote(PASSWORD)}/{credential}"})
    if case == "link":
        return Reply(
            200, {"Content-Type": "application/json", "Link": f'<http://10.0.0.1/{PASSWORD}>; rel="next"'}, b"{}"
        )
    if case == "upload":
        return Reply(202, {"Location": f"http://elsewhere.hostile.test:1/{credential}"})
    if case == "loop":
        return Reply(307, {"Location": f"/v2/{PASSWORD}{seen.target}"})
    if case == "digest":
        claim = f"sha256:{PASSWORD}, sha256:{'b' * 64}"
        return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": claim}, MANIFEST)
    return Reply(404, {}, b"")


def test_a_secret_echoed_outside_an_error_body_is_not_in_the_library_s_messages(home: Path) -> None:
    """The command line masks every line it prints; a program using the library reads
    ``str(error)`` and ``repr(error)``: they hold no credential either, whichever part of the
    answer echoed it."""
    with HostileServer(_echo_route) as server:
        n = server.name
        names = {case: n(case) for case in ("location", "link", "upload", "loop", "digest")}
        calls = {
            "location": f"remote.get('{names['location']}/app:t', insecure=True)",
            "link": f"remote.list_tags('{names['link']}/app', insecure=True)",
            "upload": f"remote.check_push_permission('{names['upload']}/app:t', insecure=True)",
            "loop": f"remote.get('{names['loop']}/app:t', insecure=True)",
            "digest": f"remote.get('{names['digest']}/app@sha256:{'a' * 64}', insecure=True)",
        }
        shown = {case: f"show(lambda: {call})" for case, call in calls.items()}
        setup = SETUP + (
            "def show(call):\n"
            "    try:\n        call()\n"
            "    except Exception as error:\n"
            "        return str(error) + ' | ' + repr(error) + ' | ' + repr(error.args)\n"
        )
        outcome, ended = cases(setup, shown, home, dict.fromkeys(names.values(), (USER, PASSWORD)))
    within_bounds(outcome)
    credential = basic(USER, PASSWORD).partition(" ")[2]
    for case in calls:
        found = ended.get(case)
        assert found is not None, case
        assert found.error is None, (case, found)
        assert "<redacted>" in found.message, (case, found.message)
        for secret in (PASSWORD, quote(PASSWORD), credential, f"{USER}:{PASSWORD}"):
            assert secret not in found.message, (case, found.message)


def test_a_secret_echoed_to_the_library_s_debug_log_is_masked(home: Path) -> None:
    """A program that logs the library's loggers at DEBUG (not the command line, which scrubs its
    own ``-v`` lines) sees the redirects a registry sent, but no credential echoed in them."""
    with HostileServer(_echo_route) as server:
        n = server.name
        names = {case: n(case) for case in ("location", "loop")}
        setup = SETUP + (
            "import io, logging\n"
            "_log = io.StringIO()\n"
            "_handler = logging.StreamHandler(_log)\n"
            "logging.getLogger('ocimodel').addHandler(_handler)\n"
            "logging.getLogger('ocimodel').setLevel(logging.DEBUG)\n"
            "def logged(call):\n"
            "    try:\n        call()\n"
            "    except Exception:\n        pass\n"
            "    return _log.getvalue()\n"
        )
        calls = {case: f"logged(lambda: remote.get('{name}/app:t', insecure=True))" for case, name in names.items()}
        outcome, ended = cases(setup, calls, home, dict.fromkeys(names.values(), (USER, PASSWORD)))
    within_bounds(outcome)
    credential = basic(USER, PASSWORD).partition(" ")[2]
    for case in calls:
        found = ended.get(case)
        assert found is not None, case
        assert found.error is None, (case, found)
        assert "redirect" in found.message.lower() or "307" in found.message, (case, found.message)
        for secret in (PASSWORD, quote(PASSWORD), credential):
            assert secret not in found.message, (case, found.message)


# ------------------------------------------------------------------------- proxies

PROXY_PASSWORD = "pr0xy-S3cret-Value"


def test_a_proxy_s_credentials_are_masked_as_ours_are(tmp_path: Path) -> None:
    """A proxy that echoes the ``Proxy-Authorization`` it was sent in its error page, and a
    proxy URL urllib3 cannot read (which it quotes whole, password included): no message, of the
    library or the command line, holds the proxy's password."""
    echoed = {"value": ""}

    def proxy(seen: Seen) -> Reply:
        echoed["value"] = seen.header("Proxy-Authorization") or ""
        page = f"proxy authentication failed; you sent {echoed['value']}"  # 407: not retried
        return Reply(407, {"Content-Type": "text/plain"}, page.encode())

    with HostileServer(proxy) as server:
        runs = {
            "echo": f"http://bob:{PROXY_PASSWORD}@127.0.0.1:{server.port}",
            "unreadable": f"http://bob:{PROXY_PASSWORD}@127.0.0.1:99999",
        }
        # only HTTP_PROXY: the https attempt goes straight on, and fails at once (no name resolves)
        envs = {case: environment(tmp_path / case) | {"HTTP_PROXY": value} for case, value in runs.items()}
        library = {
            case: confined.python(
                "from ocimodel import remote\n"
                "from ocimodel.transport import RetryPolicy\n"
                "try:\n    remote.get('registry.example.com/app:t', insecure=True, retry=RetryPolicy.never())\n"
                "except Exception as error:\n    print(type(error).__name__, error, repr(error))\n",
                env=env,
            )
            for case, env in envs.items()
        }
        command = confined.cli("--insecure", "manifest", "registry.example.com/app:t", env=envs["echo"])
    assert echoed["value"] == basic("bob", PROXY_PASSWORD)  # the proxy was asked, and echoed it
    secrets = (PROXY_PASSWORD, basic("bob", PROXY_PASSWORD).partition(" ")[2])
    for case, outcome in library.items():
        within_bounds(outcome)
        assert outcome.stdout.startswith("InvalidRequest" if case == "echo" else "TransportError"), outcome.stdout
        assert not any(secret in outcome.stdout for secret in secrets), outcome.stdout
    assert "<redacted>" in library["echo"].stdout
    within_bounds(command)
    assert command.returncode == 1, command.stderr
    assert len(command.lines) == 1, command.stderr
    assert "<redacted>" in command.lines[0], command.stderr
    assert not any(secret in command.stderr for secret in secrets), command.stderr


def test_a_proxy_that_cannot_be_used_is_not_tried_again(tmp_path: Path) -> None:
    """A proxy URL that cannot be used (port 99999, an ftp proxy) is the caller's set-up, not a
    network failure: with the default retry policy (four attempts, with back-off) the first
    request fails at once, naming the proxy without its password."""
    for case, proxy in {"port": f"http://bob:{PROXY_PASSWORD}@127.0.0.1:99999", "scheme": "ftp://127.0.0.1:21"}.items():
        env = environment(tmp_path / case) | {"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy}
        outcome = confined.python(
            "import time\nfrom ocimodel import remote\n"
            "started = time.monotonic()\n"
            "try:\n    remote.get('registry.example.com/app:t', insecure=True)\n"
            "except Exception as error:\n"
            "    print(type(error).__name__, round(time.monotonic() - started, 2), error)\n",
            env=env,
        )
        within_bounds(outcome)
        kind, seconds, message = outcome.stdout.split(" ", 2)
        assert kind == "TransportError", outcome.stdout
        assert float(seconds) < 1.0, outcome.stdout  # four attempts with back-off took about 7 s
        assert "proxy" in message, message
        assert PROXY_PASSWORD not in message, message


def test_every_error_masks_what_was_sent_and_only_once_something_was() -> None:
    """An error made once a credential was sent masks it (an OSError one too, still an OSError);
    one made before any was sent keeps its message as it is."""
    code = (
        "import base64\n"
        "from ocimodel.errors import OCIError, NotReadable\n"
        "print(str(OCIError('plain s3cr3t-Pa55word')), str(NotReadable('cannot read x')))\n"
        "from ocimodel._mask import remember\nremember('Basic ' + base64.b64encode(b'u:s3cr3t-Pa55word').decode())\n"
        "error = NotReadable('cannot read s3cr3t-Pa55word')\n"
        "print(str(OCIError('plain s3cr3t-Pa55word')), str(error), isinstance(error, OSError))\n"
    )
    outcome = confined.python(code)
    assert outcome.stdout.splitlines() == [
        "plain s3cr3t-Pa55word cannot read x",
        "plain <redacted> cannot read <redacted> True",
    ], outcome.stderr[-2000:]


# ------------------------------------------------------------------------- a type that is two types

DOCKER_MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": str(MediaType.DOCKER_MANIFEST_SCHEMA2),
        "config": {"mediaType": str(MediaType.DOCKER_CONFIG), "size": len(CONFIG), "digest": str(CONFIG_DIGEST)},
        "layers": [],
    }
).encode()


def _two_types_route(seen: Seen) -> Reply:
    case, path = label(seen), seen.target
    if path == "/v2/":
        return Reply(200, {}, b"{}")
    if "/manifests/" in path:
        said = {
            "index": str(MediaType.OCI_INDEX),  # a Docker image's manifest sent as an OCI index
            "oci": OCI_MANIFEST,  # ... as an OCI image manifest
            "generic": "application/json",  # a generic type says nothing: the document's own counts
            "same": str(MediaType.DOCKER_MANIFEST_SCHEMA2),
        }[case]
        return Reply(
            200, {"Content-Type": said, "Docker-Content-Digest": str(Hash.sha256(DOCKER_MANIFEST))}, DOCKER_MANIFEST
        )
    if "/blobs/" in path:
        return Reply(200, {"Content-Length": str(len(CONFIG))}, CONFIG)
    return Reply(404, {}, b"")


def test_a_manifest_whose_own_type_contradicts_its_content_type_is_refused(home: Path) -> None:
    """The image-spec's ``mediaType`` is there against content confusion: a document that says it
    is a Docker manifest, sent as an OCI index (or OCI manifest), is neither read nor copied as
    either; a generic ``Content-Type`` or the same type is no contradiction."""
    with HostileServer(_two_types_route) as server:
        n = server.name
        calls = {
            case: f"str(remote.get('{n(case)}/app:t', insecure=True).media_type)"
            for case in ("index", "oci", "generic", "same")
        }
        calls["image"] = f"remote.image('{n('index')}/app:t', insecure=True).manifest()"
        outcome, ended = cases(SETUP, calls, home)
        line = cli("--insecure", "copy", f"{n('index')}/app:t", f"{n('same')}/copy:t", home=home)
    within_bounds(outcome)
    for case in ("index", "oci", "image"):
        found = ended.get(case)
        assert found is not None, case
        assert found.error == "UnsupportedMediaType", (case, found)
        assert "the document says it is application/vnd.docker.distribution.manifest.v2+json" in found.message
    for case in ("generic", "same"):
        found = ended.get(case)
        assert found is not None, case
        assert found.error is None, (case, found)
    within_bounds(line)
    assert line.returncode == 1
    assert len(line.lines) == 1, line.stderr
    assert "one of them is false" in line.lines[0]
    assert not [seen for seen in server.requests(n("same")) if seen.method in ("PUT", "POST")]  # nothing copied
