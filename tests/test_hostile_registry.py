"""Hostile registries: what a registry (or something posing as one) can make ocimodel do.

Four rules, each tried against small servers on 127.0.0.1 that misbehave on purpose, with
ocimodel in a child process under a memory cap and a deadline (:mod:`tests.harness.confined`):

1. the server never decides how long we read (endless, compressed and deeply nested bodies,
   endless and looping pages);
2. credentials stay with their origin (realms vetted as go-containerregistry's
   ``validateRealmURL`` does; what a server echoes of our credentials is masked; a URL whose host
   reads two ways is refused);
3. no request to an address the user did not name (redirects of every kind of request, upload
   ``Location``, token realms, ``Link`` pages, foreign layers' URLs; every spelling of a loopback
   address);
4. a claim is not a proof (``Docker-Content-Digest`` on HEAD, GET and PUT, a referrer's subject).

The hostile registries are named ``*.hostile.test`` (a name the children resolve to 127.0.0.1):
to ocimodel they are public hosts, so the private-address rules apply to them
(:mod:`tests.harness.hostile_registry`).
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from ocimodel import Hash, remote
from ocimodel.errors import (
    BlobTooLarge,
    Denied,
    DigestMismatch,
    DocumentTooLarge,
    InsecureRedirect,
    ManifestTooLarge,
    NotFound,
    RegistryError,
    SizeMismatch,
    TransportError,
    Unauthorized,
)
from ocimodel.mediatype import MediaType
from tests.harness import confined
from tests.harness.hostile_registry import (
    Ended,
    HostileServer,
    Reply,
    Seen,
    StalledHandshake,
    basic,
    cases,
    cli,
    endless,
)
from tests.harness.tls import self_signed

USER, PASSWORD = "alice", "s3cr3t-Pa55word"
TOKEN = "eyJhbGciOiJub25lIn0.hostile-token-value.c2lnbmF0dXJl"
CONFIG = b"{}"
CONFIG_DIGEST = Hash.sha256(CONFIG)
OCI_MANIFEST = str(MediaType.OCI_MANIFEST)


def manifest(**extra: object) -> bytes:
    """An OCI image manifest with an empty config and no layers, plus ``extra`` fields."""
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": str(MediaType.OCI_CONFIG), "size": len(CONFIG), "digest": str(CONFIG_DIGEST)},
        "layers": [],
        **extra,
    }
    return json.dumps(document).encode()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def label(seen: Seen) -> str:
    """The first label of the host a request was sent to: which hostile registry it is."""
    return (seen.header("Host") or "").split(".")[0]


def child_setup(code: str = "") -> str:
    return "from ocimodel import remote, transport\nfrom ocimodel.errors import *\n" + textwrap.dedent(code)


def typed_failure(ended: Ended | None, kind: type[Exception]) -> bool:
    return ended is not None and ended.typed and ended.error == kind.__name__


def within_bounds(outcome: confined.Outcome) -> None:
    assert not outcome.timed_out, "the child read until its deadline"
    assert not outcome.out_of_memory, "the child ran out of memory"
    assert "Traceback" not in outcome.stderr, outcome.stderr[-3000:]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for ``*.hostile.test`` (its own CA)."""
    cert, key, _ = self_signed(tmp_path_factory.mktemp("hostile-tls"), names=("*.hostile.test",))
    return cert, key


@pytest.fixture
def internal() -> Iterator[HostileServer]:
    """A server standing for something on the user's machine or network that a registry must not
    reach through us: it only records what it is sent."""
    with HostileServer(lambda seen: Reply(200, {}, b"internal")) as server:
        yield server


# ------------------------------------------------------------------------------------ rule 1

BOMB = gzip.compress(b" " * (256 << 20), 9)  # 250 KiB that decode to 256 MiB
NESTED = b"[" * 60_000


def trickle() -> Iterator[bytes]:
    """A body that never ends, a byte every tenth of a second: never slow enough for a read to
    time out."""
    while True:
        time.sleep(0.1)
        yield b" "


def _bounded_route(seen: Seen) -> Reply:
    case, path, host = label(seen), seen.target, seen.header("Host")
    if path == "/v2/":
        if case.startswith("token"):
            return Reply(401, {"WWW-Authenticate": f'Bearer realm="http://{host}/token",service="s"'})
        return Reply(200, {}, b"{}")
    if path.startswith("/token"):
        if case == "tokenslow":
            return Reply(200, {"Content-Type": "application/json"}, trickle(), framing="chunked")
        if case == "token":
            return Reply(200, {"Content-Type": "application/json"}, endless(), framing="close")
        if case == "tokenerror":
            return Reply(401, {"Content-Type": "text/plain"}, endless(), framing="chunked")
        return Reply(200, {"Content-Type": "application/json"}, NESTED)
    if case == "manifest":
        return Reply(200, {"Content-Type": OCI_MANIFEST}, endless(), framing="chunked")
    if case == "slow":
        return Reply(200, {"Content-Type": OCI_MANIFEST}, trickle(), framing="close")
    if case == "slowerror":
        return Reply(404, {"Content-Type": "text/plain"}, trickle(), framing="chunked")
    if case == "claimed":
        return Reply(200, {"Content-Type": OCI_MANIFEST}, endless(), length=1 << 40)
    if case == "error":
        return Reply(404, {"Content-Type": "text/plain"}, endless(), framing="close")
    if case == "gziperror":
        return Reply(404, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, BOMB)
    if case == "gzipmanifest":
        return Reply(200, {"Content-Type": OCI_MANIFEST, "Content-Encoding": "gzip"}, BOMB)
    if case == "nestederror":
        return Reply(404, {"Content-Type": "application/json"}, NESTED)
    if case == "pages":  # a new page every time, for ever
        page = int(path.rpartition("last=")[2] or 0) if "last=" in path else 0
        names = [f"tag-{page}-{i}" for i in range(1000)]
        link = f'</v2/app/tags/list?last={page + 1}>; rel="next"'
        return Reply(200, {"Content-Type": "application/json", "Link": link}, json.dumps({"tags": names}).encode())
    if case == "loop":  # the next page is this one
        return Reply(200, {"Link": f'<{path}>; rel="next"'}, json.dumps({"tags": ["a", "b"]}).encode())
    if case == "nestedpage":
        return Reply(200, {"Content-Type": "application/json"}, NESTED)
    if case == "referrers":  # pages of an index, for ever
        page = int(path.rpartition("page=")[2] or 0) if "page=" in path else 0
        entries = [
            {"mediaType": OCI_MANIFEST, "size": 1, "digest": "sha256:" + f"{page:032x}{i:032x}"} for i in range(500)
        ]
        body = json.dumps({"schemaVersion": 2, "mediaType": str(MediaType.OCI_INDEX), "manifests": entries}).encode()
        link = f'</v2/app/referrers/{path.split("/referrers/")[1].split("?")[0]}?page={page + 1}>; rel="next"'
        return Reply(200, {"Content-Type": str(MediaType.OCI_INDEX), "Link": link}, body)
    if case == "blob":
        return Reply(404, {"Content-Type": "text/plain"}, endless(), framing="chunked")
    if case == "upload":  # every answer goes on for ever after its headers
        if seen.method == "POST":
            return Reply(202, {"Location": "/v2/app/blobs/uploads/1"}, endless(), framing="chunked")
        return Reply(202, {}, endless(), framing="close")
    return Reply(404, {}, b"")


#: Each hostile registry of rule 1, the call that meets it, and the error that must come of it.
BOUNDED: dict[str, tuple[str, type[Exception] | None]] = {
    "manifest": ("remote.get('{host}/app:t', {options})", ManifestTooLarge),
    "claimed": ("remote.get('{host}/app:t', {options})", ManifestTooLarge),
    "gzipmanifest": ("remote.get('{host}/app:t', {options})", ManifestTooLarge),
    "error": ("remote.get('{host}/app:t', {options})", NotFound),
    "gziperror": ("remote.get('{host}/app:t', {options})", NotFound),
    "nestederror": ("remote.get('{host}/app:t', {options})", NotFound),
    "token": ("remote.get('{host}/app:t', {options})", Unauthorized),
    "tokenerror": ("remote.get('{host}/app:t', {options})", Unauthorized),
    "tokennested": ("remote.get('{host}/app:t', {options})", Unauthorized),
    "pages": ("remote.list_tags('{host}/app', {options})", ManifestTooLarge),
    "loop": ("remote.list_tags('{host}/app', {options})", RegistryError),
    "nestedpage": ("remote.list_tags('{host}/app', {options})", RegistryError),
    "referrers": ("remote.referrers('{host}/app@" + str(CONFIG_DIGEST) + "', {options})", ManifestTooLarge),
    "blob": ("remote.layer('{host}/app@" + str(CONFIG_DIGEST) + "', {options}).compressed().read()", NotFound),
    "upload": ("remote.check_push_permission('{host}/app:t', {options})", None),
}


#: Servers that send a byte now and then, for ever, and what must come of each (within ``timeout``).
TRICKLING: dict[str, tuple[str, type[Exception] | None]] = {
    "slow": ("remote.get('{host}/app:t', {options})", TransportError),
    "slowerror": ("remote.get('{host}/app:t', {options})", NotFound),
    "tokenslow": ("remote.get('{host}/app:t', {options})", TransportError),
}


@pytest.mark.parametrize(
    ("table", "options"),
    [(BOUNDED, "insecure=True, timeout=5"), (TRICKLING, "insecure=True, timeout=1")],
    ids=["endless", "trickling"],
)
def test_rule_1_no_answer_is_read_past_its_cap(
    home: Path, table: dict[str, tuple[str, type[Exception] | None]], options: str
) -> None:
    """Endless bodies (by length, chunked, until the connection closes, or claiming a terabyte),
    gzip bombs, JSON nested 60,000 deep, endless and looping pages, and bodies that trickle in a
    byte at a time (each read well within its timeout): each ends in a typed error (or, for an
    upload's endless answers, in success), fast, in bounded memory, having taken a bounded part of
    what the server offered."""
    with HostileServer(_bounded_route) as server:
        calls = {case: call.format(host=server.name(case), options=options) for case, (call, _) in table.items()}
        outcome, ended = cases(child_setup(), calls, home)
        within_bounds(outcome)
        for case, (_, expected) in table.items():
            found = ended.get(case)
            assert found is not None, case
            if expected is None:
                assert found.error is None, (case, found)
            else:
                assert typed_failure(found, expected), (case, found)
            listing = case in ("pages", "referrers")
            assert server.sent_to[server.name(case)] < (64 << 20 if listing else 16 << 20), case


def _trickled_headers_route(seen: Seen) -> Reply:
    """Registries whose answers (but the ping's) trickle in, status line and headers a byte at a
    time, and whose headers never end."""
    case, path, host = label(seen), seen.target, seen.header("Host")
    if path == "/v2/":
        if case == "token":
            return Reply(401, {"WWW-Authenticate": f'Bearer realm="http://{host}/token",service="s"'})
        return Reply(200, {}, b"{}")
    return Reply(200, {"Content-Type": OCI_MANIFEST, "Content-Length": "2"}, trickle=0.05)


#: Each request whose answer trickles in, and the call that makes it (``{host}``: the server's).
TRICKLED_HEADERS = {
    "manifest": "remote.get('{host}/app:t', **plain)",
    "blob": "transport.Client('{host}', **plain).head_blob(Repository('{host}/app'), CONFIG)",
    "token": "remote.get('{host}/app:t', **plain)",
    "manifest-tls": "remote.get('{host}/app:t', **secure)",
}


def test_rule_1_an_answer_whose_headers_trickle_in_is_cut_off(home: Path, certificate: tuple[Path, Path]) -> None:
    """A server that sends its status line and headers a byte at a time (each byte in time for
    the per-read timeout), for a manifest's ``GET``, a blob's ``HEAD`` or a token request, over
    http or https: each is cut off at ``timeout=`` seconds in all, a ``TransportError`` naming the
    host and the deadline, not retried."""
    with (
        HostileServer(_trickled_headers_route) as plain,
        HostileServer(_trickled_headers_route, tls=certificate) as secure,
    ):
        hosts = {case: plain.name(case) for case in ("manifest", "blob", "token")}
        hosts["manifest-tls"] = secure.name("manifest-tls")
        setup = child_setup(f"""
            from ocimodel import Hash
            from ocimodel.name import Repository
            CONFIG = Hash.parse({str(CONFIG_DIGEST)!r})
            plain = dict(insecure=True, timeout=0.5)
            secure = dict(timeout=0.5, ca_file={str(certificate[0])!r})
            """)
        calls = {case: call.format(host=hosts[case]) for case, call in TRICKLED_HEADERS.items()}
        outcome, ended = cases(setup, calls, home)
        asked = {
            case: [s for s in server.requests(hosts[case]) if s.target != "/v2/"]
            for case, server in (("manifest", plain), ("blob", plain), ("token", plain), ("manifest-tls", secure))
        }
    within_bounds(outcome)
    for case, host in hosts.items():
        found = ended.get(case)
        assert typed_failure(found, TransportError), (case, found)
        assert found is not None
        assert host in found.message, found.message
        assert "within 0.5 s (timeout= gives it longer)" in found.message, found.message
        assert found.seconds < 3.0, (case, found)
    for case, requests in asked.items():  # one deadline each: not asked again
        assert len(requests) == 1, (case, [(s.method, s.target) for s in requests])


def test_rule_1_a_silent_server_and_a_slow_handshake_are_read_timeouts(home: Path) -> None:
    """The deadline catches headers that trickle in; a server that sends nothing at all after a
    request is a read timeout as ever, and tried again as one. So is a TLS handshake that stalls,
    silent or trickling (Python bounds the whole handshake by the timeout)."""

    def route(seen: Seen) -> Reply:
        if seen.target != "/v2/":
            time.sleep(1.5)  # nothing, for longer than the timeout
        return Reply(200, {"Content-Type": OCI_MANIFEST}, b"{}")

    with HostileServer(route) as plain, StalledHandshake(every=None) as silent, StalledHandshake() as trickling:
        setup = child_setup("""
            session = dict(timeout=0.5, retry=transport.RetryPolicy(attempts=2, backoff=0.01))
            """)
        calls = {
            "answer": f"remote.get('{plain.name()}/app:t', insecure=True, **session)",
            "silent-handshake": f"remote.get('{silent.name()}/app:t', **session)",
            "trickled-handshake": f"remote.get('{trickling.name()}/app:t', **session)",
        }
        outcome, ended = cases(setup, calls, home)
        asked = [seen for seen in plain.seen if seen.target != "/v2/"]
    within_bounds(outcome)
    for case in calls:
        assert typed_failure(ended.get(case), TransportError), (case, ended.get(case))
        assert "timed out" in ended[case].message, ended[case].message
    assert len(asked) == 2
    assert silent.connections == trickling.connections == 2


def _unsized_blob_route(seen: Seen) -> Reply:
    """Registries whose blob ``GET`` goes on for ever, chunked (no ``Content-Length``), and whose
    ``HEAD`` states a size (``sized``: the blob's, and the ``GET`` sends the blob and more), states
    none (``unsized``), or is refused (``refused``: 403, as ECR Public does)."""
    case, path = label(seen), seen.target
    if path == "/v2/":
        return Reply(200, {}, b"{}")
    if "/blobs/" not in path:
        return Reply(404, {}, b"")
    if seen.method == "HEAD":
        if case == "sized":
            return Reply(200, {"Content-Type": "application/octet-stream"}, length=len(CONFIG))
        if case == "unsized":
            return Reply(200, {"Content-Type": "application/octet-stream"}, framing="chunked")
        return Reply(403, {"Content-Type": "application/json"}, b'{"errors":[{"code":"DENIED"}]}')
    return Reply(200, {"Content-Type": "application/octet-stream"}, itertools.chain([CONFIG], endless()), "chunked")


#: Each registry of :func:`_unsized_blob_route`, the call that reads its blob, and what comes of it.
UNSIZED_BLOBS: dict[str, tuple[str, type[Exception]]] = {
    "sized": ("remote.layer('{host}/app@{digest}', **session).compressed().read()", SizeMismatch),
    "unsized": ("remote.layer('{host}/app@{digest}', **session).compressed().read()", BlobTooLarge),
    "refused": ("remote.layer('{host}/app@{digest}', **session).compressed().read()", BlobTooLarge),
    "refused-size": ("remote.layer('{host}/app@{digest}', **session).size()", BlobTooLarge),
}


def test_rule_1_a_blob_whose_size_nothing_states_is_read_within_a_cap(home: Path) -> None:
    """A blob named by digest alone, whose ``GET`` is chunked and endless: where its ``HEAD``
    states a size, that is where the read stops (more is a ``SizeMismatch``); where nothing states
    one, at ``blob_limit`` (``BlobTooLarge``, naming the option), for its bytes and for its size,
    in the library and on the command line (``blob --blob-limit``)."""
    limit = 1 << 20
    with HostileServer(_unsized_blob_route) as server:
        hosts = {case: server.name(case.partition("-")[0]) for case in UNSIZED_BLOBS}
        setup = child_setup(f"session = dict(insecure=True, timeout=5, blob_limit={limit})")
        calls = {case: call.format(host=hosts[case], digest=CONFIG_DIGEST) for case, (call, _) in UNSIZED_BLOBS.items()}
        outcome, ended = cases(setup, calls, home)
        lines = {
            case: cli(
                "--insecure", "blob", "--blob-limit", str(limit), f"{server.name(case)}/app@{CONFIG_DIGEST}", home=home
            )
            for case in ("sized", "refused")
        }
        # what each host sent, and for how many reads (the sockets' buffers hold some MiB each)
        sent = {host: (count, len(server.requests(host))) for host, count in server.sent_to.items()}
    within_bounds(outcome)
    for case, (_, expected) in UNSIZED_BLOBS.items():
        found = ended.get(case)
        assert typed_failure(found, expected), (case, found)
        assert found is not None
        if expected is BlobTooLarge:
            assert "blob_limit=" in found.message, found.message
            assert f"{limit} bytes" in found.message, found.message
    for case, line in lines.items():
        within_bounds(line)
        assert line.returncode == 1
        assert len(line.lines) == 1, line.lines
        assert len(line.stdout) <= (len(CONFIG) if case == "sized" else limit)
    assert all(count < reads * (16 << 20) for count, reads in sent.values()), sent


@pytest.mark.parametrize(
    ("case", "arguments"),
    [
        ("gziperror", ("manifest", "{host}/app:t")),
        ("pages", ("ls", "{host}/app")),
        ("token", ("digest", "{host}/app:t")),
    ],
)
def test_rule_1_the_command_line_says_one_line(home: Path, case: str, arguments: tuple[str, ...]) -> None:
    with HostileServer(_bounded_route) as server:
        outcome = cli("--insecure", *(a.format(host=server.name(case)) for a in arguments), home=home)
    within_bounds(outcome)
    assert outcome.returncode == 1
    assert len(outcome.lines) == 1, outcome.lines
    assert outcome.lines[0].startswith("ocimodel: ")


def test_rule_1_each_cap_is_an_option(tmp_path: Path) -> None:
    """The caps are the session's options, for registries that need more (or users who want less)."""
    big = manifest(annotations={"pad": "x" * (100 << 10)})  # 100 KiB
    token_answer = json.dumps({"token": TOKEN, "pad": "x" * (100 << 10)}).encode()
    error = json.dumps({"errors": [{"code": "DENIED", "message": "no", "detail": "x" * (100 << 10)}]}).encode()

    def route(seen: Seen) -> Reply:
        path, host = seen.target, seen.header("Host") or ""
        if path == "/v2/":
            if host.endswith(f":{tokens.port}"):
                return Reply(401, {"WWW-Authenticate": f'Bearer realm="http://{host}/token",service="s"'})
            return Reply(200, {}, b"{}")
        if path.startswith("/token"):
            return Reply(200, {"Content-Type": "application/json"}, token_answer)
        if path.startswith("/v2/error/"):
            return Reply(403, {"Content-Type": "application/json"}, error)
        if "tags/list" in path:
            return Reply(200, {"Content-Type": "application/json"}, json.dumps({"tags": ["a", "b", "c"]}).encode())
        if "/blobs/" in path:
            return Reply(200, {}, CONFIG)
        return Reply(200, {"Content-Type": OCI_MANIFEST}, big)

    with HostileServer(route) as server, HostileServer(route) as tokens:
        host, token_host = f"127.0.0.1:{server.port}", f"127.0.0.1:{tokens.port}"
        with pytest.raises(ManifestTooLarge, match="manifest_limit="):
            remote.get(f"{host}/app:t", manifest_limit=64 << 10)
        assert remote.get(f"{host}/app:t").size == len(big)  # the default, 4 MiB
        with pytest.raises(Unauthorized, match="token_limit="):
            remote.get(f"{token_host}/app:t")  # the default, 64 KiB
        assert remote.get(f"{token_host}/app:t", token_limit=1 << 20).size == len(big)
        with pytest.raises(Denied) as cut:
            remote.get(f"{host}/error:t")  # the default, 64 KiB: the body is cut, its codes unread
        assert cut.value.codes == ()
        with pytest.raises(Denied) as whole:
            remote.get(f"{host}/error:t", error_limit=1 << 20)
        assert whole.value.codes == ("DENIED",)
        assert remote.list_tags(f"{host}/app") == ["a", "b", "c"]
        with pytest.raises(ManifestTooLarge, match="list_limit="):
            remote.list_tags(f"{host}/app", list_limit=2)
        image = remote.image(f"{host}/app:t")
        assert image.config_file() is not None
        with pytest.raises(DocumentTooLarge, match="config_limit="):
            remote.image(f"{host}/app:t", config_limit=1).config_file()


# ------------------------------------------------------------------------------------ rule 2


def _echo_route(seen: Seen) -> Reply:
    """Registries that echo our credentials back in their errors, in every spelling."""
    case, path, host = label(seen), seen.target, seen.header("Host")
    sent = seen.header("Authorization") or ""
    if path == "/v2/":
        if case.startswith("bearer"):
            return Reply(401, {"WWW-Authenticate": f'Bearer realm="http://{host}/token",service="s"'})
        return Reply(401, {"WWW-Authenticate": 'Basic realm="hostile"'})
    if path.startswith("/token"):
        if case == "bearerrealm":  # the token server echoes the basic credentials it was sent
            return Reply(401, {"Content-Type": "text/plain"}, f"bad credentials: {sent}".encode())
        return Reply(200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN}).encode())
    if not sent:
        return Reply(401, {"WWW-Authenticate": 'Basic realm="hostile"'})
    credential = sent.partition(" ")[2]
    echoes = {
        "text": f"denied for {sent}",
        "json": json.dumps({"errors": [{"code": "DENIED", "message": f"sent {sent}", "detail": {"h": credential}}]}),
        "escaped": '{"errors":[{"code":"DENIED","message":"sent ' + "".join(f"\\u{ord(c):04x}" for c in sent) + '"}]}',
        "decoded": f"user and password: {USER}:{PASSWORD}; password: {PASSWORD}",
        "quoted": f"query: ?auth={quote(sent, safe='')}&pw={quote(PASSWORD)}",
        "bearer": json.dumps({"errors": [{"code": "DENIED", "message": f"token {credential} may not read this"}]}),
    }
    return Reply(403, {"Content-Type": "application/json"}, echoes.get(case, "?").encode())


ECHOES = ("text", "json", "escaped", "decoded", "quoted", "bearer", "bearerrealm")


def _secret_spellings() -> list[str]:
    credential = basic(USER, PASSWORD)
    return [PASSWORD, credential, credential.partition(" ")[2], TOKEN, quote(PASSWORD)]


def test_rule_2_echoed_credentials_are_masked(home: Path) -> None:
    """A registry (or its token server) that echoes the ``Authorization`` it was sent, raw,
    JSON-escaped, decoded or URL-encoded, never gets a secret into a message: what we sent is
    masked."""
    with HostileServer(_echo_route) as server:
        credentials = {server.name(case): (USER, PASSWORD) for case in ECHOES}
        calls = {case: f"remote.get('{server.name(case)}/app:t', insecure=True)" for case in ECHOES}
        outcome, ended = cases(child_setup(), calls, home, credentials)
        cli_outcome = cli("--insecure", "manifest", f"{server.name('json')}/app:t", home=home, credentials=credentials)
    within_bounds(outcome)
    for case in ECHOES:
        found = ended.get(case)
        assert found is not None, case
        assert found.typed, found
        assert found.error in ("Denied", "Unauthorized"), (case, found)
        assert "<redacted>" in found.message, (case, found.message)  # the echo was there, and masked
        for secret in _secret_spellings():
            assert secret not in found.message, (case, found.message)
    assert cli_outcome.returncode == 1
    assert "<redacted>" in cli_outcome.stderr
    for secret in _secret_spellings():
        assert secret not in cli_outcome.stderr + cli_outcome.stdout


#: Where a hostile public registry may try to send us for a token: each a loopback address,
#: spelt as the resolver (or urllib3) will still read it. ``{port}``: the internal server's.
INTERNAL_SPELLINGS = {
    "plain": "127.0.0.1:{port}",
    "mapped": "[::ffff:127.0.0.1]:{port}",
    "decimal": "2130706433:{port}",
    "percent": "%31%32%37.0.0.1:{port}",
    "dotted": "localhost.:{port}",
    "ambiguous": "127.0.0.1:{port}\\@{registry}",
}


def test_rule_2_realms_are_vetted_before_credentials_go_there(
    home: Path, internal: HostileServer, certificate: tuple[Path, Path]
) -> None:
    """As go-containerregistry's ``validateRealmURL``: a registry spoken to over https may not
    name a plain-http realm, and a public one may not name a realm on a loopback, private or
    link-local address (however spelt); the basic credentials stay home. A redirect whose host
    reads as the registry's to one URL parser and as another host to the one that connects never
    carries them there either."""

    def route(seen: Seen) -> Reply:
        case, path, host = label(seen), seen.target, seen.header("Host") or ""
        if case == "realm":  # where the https registry sends its basic credentials, in clear text
            return Reply(200, {"Content-Type": "application/json"}, json.dumps({"token": TOKEN}).encode())
        if case == "trick":  # a redirect that looks like it stays on the registry
            if path == "/v2/" or not seen.header("Authorization"):
                return Reply(401, {"WWW-Authenticate": 'Basic realm="hostile"'})
            return Reply(307, {"Location": f"http://attacker.hostile.test:{internal.port}\\@{host}/v2/app/manifests/t"})
        if case == "secure":
            realm = f"http://realm.hostile.test:{plain.port}/token"
        elif case == "metadata":
            realm = "http://169.254.169.254/latest/meta-data/token"
        else:
            realm = "http://" + INTERNAL_SPELLINGS[case].format(port=internal.port, registry=host) + "/token"
        quoted = realm.replace("\\", "\\\\")  # a quoted-string: the backslash itself escaped
        return Reply(401, {"WWW-Authenticate": f'Bearer realm="{quoted}",service="s"'})

    with HostileServer(route) as plain, HostileServer(route, tls=certificate) as secure:
        names = {case: plain.name(case) for case in [*INTERNAL_SPELLINGS, "metadata", "trick"]}
        names["secure"] = secure.name("secure")
        credentials = dict.fromkeys(names.values(), (USER, PASSWORD))
        setup = child_setup(f"session = dict(insecure=True, timeout=2, ca_file={str(certificate[0])!r})")
        calls = {case: f"remote.get('{name}/app:t', **session)" for case, name in names.items()}
        calls["secure"] = f"remote.get('{names['secure']}/app:t', timeout=2, ca_file={str(certificate[0])!r})"
        outcome, ended = cases(setup, calls, home, credentials)
    within_bounds(outcome)
    for case in names:
        assert typed_failure(ended.get(case), InsecureRedirect), (case, ended.get(case))
    assert not internal.seen, [s.target for s in internal.seen]
    assert not plain.requests(f"realm.hostile.test:{plain.port}")


# ------------------------------------------------------------------------------------ rule 3

#: Each kind of URL a registry names, and the call that makes it name one.
KINDS = {
    "manifest": "remote.get('{registry}/app:t', **session)",
    "blob": "remote.layer('{registry}/app@" + str(CONFIG_DIGEST) + "', **session).compressed().read()",
    "token": "remote.get('{registry}/app:t', **session)",
    "upload": "remote.check_push_permission('{registry}/app:t', **session)",
    "link": "remote.list_tags('{registry}/app', **session)",
    "foreign": "remote.image('{registry}/app:t', allow_foreign=True, **session).layers()[0].compressed().read()",
}


def foreign(target: str) -> bytes:
    """An image manifest whose one layer is a foreign layer at ``target``/layer."""
    return FOREIGN.replace(b"{target}", json.dumps(target)[1:-1].encode())


FOREIGN = manifest(
    layers=[
        {
            "mediaType": str(MediaType.DOCKER_FOREIGN_LAYER),
            "size": len(CONFIG),
            "digest": str(CONFIG_DIGEST),
            "urls": ["{target}/layer"],
        }
    ]
)


def test_rule_3_no_request_reaches_an_address_the_user_did_not_name(home: Path, internal: HostileServer) -> None:
    """A public registry steers every kind of request (a manifest's and a blob's redirect, its
    token realm's redirect, an upload's ``Location``, a ``Link`` page, a foreign layer's URL, the
    last even with ``insecure=True``) to a loopback address in every spelling: nothing reaches
    it, and each is an ``InsecureRedirect``."""

    def route(seen: Seen) -> Reply:
        kind, _, spelling = label(seen).partition("-")
        path, host = seen.target, seen.header("Host") or ""
        target = "http://" + INTERNAL_SPELLINGS[spelling].format(port=internal.port, registry=host)
        if path == "/v2/":
            if kind == "token":
                return Reply(401, {"WWW-Authenticate": f'Bearer realm="http://{host}/token",service="s"'})
            return Reply(200, {}, b"{}")
        if kind in ("manifest", "blob", "token"):
            return Reply(307, {"Location": f"{target}{path}"})
        if kind == "upload":
            return Reply(202, {"Location": f"{target}/v2/app/blobs/uploads/1"})
        if kind == "link":
            link = f'<{target}/v2/app/tags/list?last=a>; rel="next"'
            return Reply(200, {"Content-Type": "application/json", "Link": link}, b'{"tags":["a"]}')
        if "/manifests/" in path:
            return Reply(200, {"Content-Type": OCI_MANIFEST}, foreign(target))
        return Reply(404, {"Content-Type": "application/json"}, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')

    with HostileServer(route) as server:
        calls = {
            f"{kind}-{spelling}": call.format(registry=server.name(f"{kind}-{spelling}"))
            for kind, call in KINDS.items()
            for spelling in INTERNAL_SPELLINGS
        }
        outcome, ended = cases(child_setup("session = dict(insecure=True, timeout=2)"), calls, home)
    within_bounds(outcome)
    for case in calls:
        assert typed_failure(ended.get(case), InsecureRedirect), (case, ended.get(case))
    assert not internal.seen, [s.target for s in internal.seen]


def test_rule_3_a_registry_spoken_to_over_https_sends_nothing_over_http(
    home: Path, certificate: tuple[Path, Path]
) -> None:
    """An upload ``Location``, a foreign layer's URL or a redirect in plain http, from a registry
    spoken to over https: refused before anything (a blob, a credential) goes out in clear text."""

    def route(seen: Seen) -> Reply:
        kind, path = label(seen), seen.target
        elsewhere = f"http://plain.hostile.test:{plain.port}"
        if path == "/v2/":
            return Reply(200, {}, b"{}")
        if kind == "upload":
            return Reply(202, {"Location": f"{elsewhere}/v2/app/blobs/uploads/1"})
        if kind == "redirect":
            return Reply(307, {"Location": f"{elsewhere}{path}"})
        if "/manifests/" in path:
            return Reply(200, {"Content-Type": OCI_MANIFEST}, foreign(elsewhere))
        return Reply(404, {}, b"")

    with HostileServer(route) as plain, HostileServer(route, tls=certificate) as secure:
        setup = child_setup(f"session = dict(timeout=2, ca_file={str(certificate[0])!r})")
        calls = {
            "upload": f"remote.check_push_permission('{secure.name('upload')}/app:t', **session)",
            "redirect": f"remote.get('{secure.name('redirect')}/app:t', **session)",
            "foreign": KINDS["foreign"].format(registry=secure.name("foreign")),
        }
        outcome, ended = cases(setup, calls, home)
    within_bounds(outcome)
    for case in calls:
        assert typed_failure(ended.get(case), InsecureRedirect), (case, ended.get(case))
        assert "plain http" in ended[case].message
    assert not plain.seen, [s.target for s in plain.seen]


# ------------------------------------------------------------------------------------ rule 4

ASKED = manifest()
ASKED_DIGEST = digest(ASKED)
OTHER_DIGEST = "sha256:" + "b" * 64
#: A manifest that a hostile referrers API lists as a referrer of ASKED, though its subject is another.
STRANGER = manifest(subject={"mediaType": OCI_MANIFEST, "size": 1, "digest": OTHER_DIGEST}, artifactType="a/b")


def _claims_route(seen: Seen) -> Reply:
    """A registry that names, beside what was asked for, another digest; and whose referrers
    API lists a manifest that refers to something else."""
    path = seen.target
    claim = {"Docker-Content-Digest": OTHER_DIGEST}
    if path == "/v2/":
        return Reply(200, {}, b"{}")
    if "/referrers/" in path:
        entry = {"mediaType": OCI_MANIFEST, "size": len(STRANGER), "digest": digest(STRANGER), "artifactType": "a/b"}
        index = {"schemaVersion": 2, "mediaType": str(MediaType.OCI_INDEX), "manifests": [entry]}
        return Reply(200, {"Content-Type": str(MediaType.OCI_INDEX)}, json.dumps(index).encode())
    if path.endswith(digest(STRANGER)):
        return Reply(200, {"Content-Type": OCI_MANIFEST}, STRANGER)
    if "/manifests/" in path:
        if seen.method == "PUT":
            return Reply(201, claim)
        return Reply(200, {"Content-Type": OCI_MANIFEST, **claim}, ASKED)
    if "/blobs/uploads/" in path:
        if seen.method == "POST" and label(seen) == "moved":  # the upload goes on somewhere else
            return Reply(
                202, {"Location": f"http://elsewhere.hostile.test:{(seen.header('Host') or '').rpartition(':')[2]}/up"}
            )
        if seen.method == "POST":
            return Reply(202, {"Location": "/v2/app/blobs/uploads/1"})
        return Reply(201, claim)
    if "/blobs/" in path:
        if seen.method == "HEAD" and label(seen) in ("upload", "moved"):
            return Reply(404, {})
        return Reply(200, claim, CONFIG)
    return Reply(404, {}, b"")


def test_rule_4_a_digest_we_asked_for_is_the_digest_we_accept(home: Path) -> None:
    """``Docker-Content-Digest`` naming another digest than the one asked for, on a manifest's
    HEAD or GET, a blob's HEAD or GET, a manifest's or blob's PUT, and a referrers list naming a
    manifest whose subject is another: each is a ``DigestMismatch``, not an answer. An upload's
    ``Location`` on another host than the registry is refused before anything is sent there."""
    with HostileServer(_claims_route) as server:
        host = server.name()
        session = "insecure=True, timeout=5"
        calls = {
            "head": f"remote.head('{host}/app@{ASKED_DIGEST}', {session})",
            "get": f"remote.get('{host}/app@{ASKED_DIGEST}', {session})",
            "blob": f"remote.layer('{host}/app@{CONFIG_DIGEST}', {session}).compressed().read()",
            "blob-size": f"remote.layer('{host}/app@{CONFIG_DIGEST}', {session}).size()",
            "put": f"remote.tag('{host}/app:t', empty.image, {session})",
            "upload": f"remote.write_layer('{server.name('upload')}/app', random.image(16, 1).layers()[0], {session})",
            "referrer": (
                f"remote.referrers('{host}/app@{ASKED_DIGEST}', {session}).image(Hash.parse('{digest(STRANGER)}'))"
                ".manifest()"
            ),
            "moved": f"remote.write_layer('{server.name('moved')}/app', random.image(16, 1).layers()[0], {session})",
        }
        outcome, ended = cases(child_setup("from ocimodel import Hash, empty, random"), calls, home)
        digest_line = cli("--insecure", "digest", f"{host}/app@{ASKED_DIGEST}", home=home)
        elsewhere = server.requests(server.name("elsewhere"))
    within_bounds(outcome)
    for case in calls:
        expected = InsecureRedirect if case == "moved" else DigestMismatch
        assert typed_failure(ended.get(case), expected), (case, ended.get(case))
    assert not elsewhere, [s.target for s in elsewhere]
    assert digest_line.returncode == 1
    assert digest_line.stdout == ""
    assert len(digest_line.lines) == 1, digest_line.lines
    assert OTHER_DIGEST[:20] in digest_line.lines[0]
