"""How hosted registries really behave, by kind: each test stands for a kind of behaviour that
public reports document (ECR, Artifactory, Harbor, Quay, GitLab, Docker Hub, object storage),
imitated by a fault proxy in front of the real registry, with variants of each kind.

1. auth belongs to the host that answered; 2. one request policy for every request; 3. optional
probes are optional; 4. optimisations fall back; 5. ambiguous headers read as sent; 6. never a
silent partial answer; 7. an indirect name is checked. (8, proxies, is ``test_proxy_rules.py``.)
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ocimodel import authn, empty, mutate, random, remote, validate
from ocimodel.errors import Cancelled, InsecureRedirect, RegistryError, TransportError
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.index import ImageIndex
from ocimodel.manifest import IndexManifest
from ocimodel.mediatype import MediaType
from ocimodel.name import Repository
from ocimodel.transport import Client, RetryPolicy, Transport
from tests.harness.distribution import DistributionRegistry, free_port
from tests.harness.faultproxy import Fault, FaultProxy
from tests.harness.tls import self_signed
from tests.harness.tokenserver import PASSWORD, SERVICE, USER, TokenServer

pytestmark = pytest.mark.registry

FAST = RetryPolicy(attempts=3, backoff=0.05, factor=2.0, max_delay=1.0, budget=10.0)
ALICE = authn.Basic("alice", "alice-secret")
MANY = 1000  # a fault that holds for the whole test


def basic_users(proxy: FaultProxy) -> list[str]:
    """The users named by Basic credentials in the requests a proxy saw."""
    users = []
    for entry in proxy.requests():
        value = entry.headers.get("Authorization", "")
        if value.lower().startswith("basic "):
            users.append(base64.b64decode(value[6:]).decode().partition(":")[0])
    return users


def stored_layer(proxy: FaultProxy, path: str, size: int, seed: int) -> tuple[Repository, Hash]:
    """A random layer of ``size`` bytes pushed to ``path`` behind ``proxy``: its repository and digest."""
    data = random.layer(size, seed=seed)
    repository = Repository(f"{proxy.host}/{path}")
    remote.write_layer(repository, data)
    return repository, data.digest()


@pytest.fixture
def front(registry: DistributionRegistry) -> Iterator[FaultProxy]:
    """Registry A: a host whose every answer is injected (it stands for a gateway or a registry
    that redirects); what it would forward goes to the plain registry."""
    proxy = FaultProxy("127.0.0.1", registry.port)
    proxy.start()
    yield proxy
    proxy.stop()


def redirect_everything(a: FaultProxy, b: str, *, challenge: str = 'Basic realm="registry-a"') -> None:
    """A answers /v2/ with its own challenge and every other /v2/ request with a 307 to B."""
    a.inject(
        Fault("GET", r"^/v2/?$", times=MANY, status=401, headers={"WWW-Authenticate": challenge}),
        *(
            Fault(method, r"^/v2/.", times=MANY, status=307, headers={"Location": f"http://{b}{{path}}"})
            for method in ("GET", "HEAD")
        ),
    )


# --------------------------------------------------------------------------- 1. auth per host


def test_a_redirect_to_a_host_with_its_own_realm_is_answered_with_that_hosts_token(
    front: FaultProxy, token_fault_proxy: FaultProxy, token_server: TokenServer
) -> None:
    """go-containerregistry#2333/#2359: A redirects to B, B challenges with its own realm. B's
    challenge is answered at B's realm, anonymously (A's credentials are A's), B's token goes to B
    only, and A's credentials reach neither B nor B's realm. The whole image is pulled so."""
    b = token_fault_proxy.host
    image = random.image(3000, 2, seed=1301)
    remote.write(f"{b}/mirror/app:v1", image, auth=authn.Basic(USER, PASSWORD))
    token_fault_proxy.reset()
    asked_before = len(token_server.requests)
    redirect_everything(front, b)
    session = remote.Session(auth=ALICE, retry=FAST)
    pulled = remote.image(f"{front.host}/mirror/app:v1", session=session)
    assert pulled.digest() == image.digest()
    validate.image(pulled)  # every blob read, through the redirect, and verified
    assert basic_users(token_fault_proxy) == []  # no Basic credentials at B at all
    assert any(r.headers.get("Authorization", "").startswith("Bearer ") for r in token_fault_proxy.requests())
    exchanges = token_server.requests[asked_before:]
    assert exchanges
    assert not any(r.get("auth") for r in exchanges)  # anonymous at B's realm
    assert "alice" in basic_users(front)  # A did get A's credentials


def test_a_redirected_host_gets_its_own_keychain_entry_never_the_first_hosts(
    front: FaultProxy,
    token_fault_proxy: FaultProxy,
    token_server: TokenServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a keychain holding credentials for both hosts, each host gets its own: B's realm is
    asked with B's user, A's user never leaves A (the keychain is asked per host, per answer)."""
    b = token_fault_proxy.host
    image = random.image(2000, 1, seed=1302)
    remote.write(f"{b}/mirror/own:v1", image, auth=authn.Basic(USER, PASSWORD))
    config = {
        "auths": {
            front.host: {"auth": base64.b64encode(b"alice:alice-secret").decode()},
            b: {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()},
        }
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    token_fault_proxy.reset()
    asked_before = len(token_server.requests)
    redirect_everything(front, b)
    assert remote.get(f"{front.host}/mirror/own:v1", retry=FAST).descriptor.digest == image.digest()
    assert "alice" not in basic_users(token_fault_proxy)
    exchanges = token_server.requests[asked_before:]
    assert exchanges
    assert all(r.get("auth") for r in exchanges)  # B's own user, at B's realm


def test_a_realm_that_redirects_elsewhere_does_not_take_the_credentials_along(
    token_registry: DistributionRegistry, token_server: TokenServer, registry: DistributionRegistry
) -> None:
    """The token realm is a host of its own too: when it redirects to another origin, the Basic
    credentials sent to it stay behind (the next hop is asked anonymously)."""
    realm_hop = FaultProxy("127.0.0.1", registry.port)
    realm_hop.start()
    try:
        realm_hop.inject(Fault("GET", "^/token", times=MANY, status=307, headers={"Location": token_server.realm}))
        front_registry = FaultProxy("127.0.0.1", token_registry.port)
        front_registry.start()
        challenge = f'Bearer realm="http://{realm_hop.host}/token",service="{SERVICE}"'
        front_registry.inject(Fault("GET", r"^/v2/?$", times=MANY, status=401, headers={"WWW-Authenticate": challenge}))
        asked_before = len(token_server.requests)
        client = Client(front_registry.host, auth=authn.Basic(USER, PASSWORD), retry=FAST)
        assert client.token([Repository(f"{front_registry.host}/x/y").scope("pull")]) is not None
        front_registry.stop()
    finally:
        realm_hop.stop()
    assert basic_users(realm_hop) == [USER]  # the realm named by the registry gets them
    assert not any(r.get("auth") for r in token_server.requests[asked_before:])  # the host it sent us to does not


def test_a_basic_challenge_after_a_bearer_token_changes_that_request_only(
    token_fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Harbor answers a token that lacks a scope with `Basic realm="harbor"` (harbor#18856): that
    request is tried once with Basic credentials; every other request, anonymous reads of a public
    repository included, goes on with bearer tokens (switching the whole registry to Basic left
    the anonymous reads with nothing to send)."""
    host = token_fault_proxy.host
    image = random.image(2000, 2, seed=1306)
    remote.write(f"{host}/harbor/src:v1", image, auth=authn.Basic(USER, PASSWORD))
    scoped = {"auths": {f"{host}/harbor/dst": {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}}}
    (tmp_path / "config.json").write_text(json.dumps(scoped))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    token_fault_proxy.reset()
    harbor = {"WWW-Authenticate": 'Basic realm="harbor"'}
    token_fault_proxy.inject(Fault("POST", "mount=", times=MANY, status=401, headers=harbor))
    session = remote.Session(retry=FAST, jobs=1)
    remote.write(f"{host}/harbor/dst:v1", remote.image(f"{host}/harbor/src:v1", session=session), session=session)
    validate.image(remote.image(f"{host}/harbor/dst:v1", session=session))
    mounts = [r.headers.get("Authorization", "").split(" ")[0] for r in token_fault_proxy.requests("POST", "mount=")]
    assert mounts == ["Bearer", "Basic"]  # the refused mount, then once with Basic; then no more mounts
    sent = [
        (r.method, r.path, r.headers.get("Authorization", "").split(" ")[0])
        for r in token_fault_proxy.requests()
        if r.path != "/v2/"  # the ping, which carries nothing
    ]
    assert [entry for entry in sent if entry[2] != "Bearer"] == [entry for entry in sent if "mount=" in entry[1]][1:]
    assert any(method == "GET" and "/harbor/src/blobs/" in path for method, path, _ in sent)  # src read by bearer


class TLSStorage:
    """An https host standing for object storage (or, with ``redirect``, for a registry that
    sends every request there): asks for a client certificate (optionally) and records whether
    it got one."""

    def __init__(self, cert: Path, key: Path, redirect: str | None = None) -> None:
        self.presented: list[bool] = []
        storage = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                storage.presented.append(bool(self.connection.getpeercert()))
                if redirect is not None and self.path != "/v2/":  # a registry sending blobs elsewhere
                    self.send_response(307)
                    self.send_header("Location", redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(cert)
        context.verify_mode = ssl.CERT_OPTIONAL
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}/bucket/blob"


def test_a_redirect_from_https_down_to_plain_http_is_refused(tmp_path: Path) -> None:
    """The hop would carry the request in clear text (and, to a host with the same name, that
    host's credentials): refused unless http is allowed for the registry."""
    cert, key, _ = self_signed(tmp_path)
    plain = FaultProxy("127.0.0.1", free_port())  # records what reaches it; nothing should
    plain.start()
    registry = TLSStorage(cert, key, redirect=f"http://{plain.host}/v2/app/blobs/x")
    try:
        client = Client(f"127.0.0.1:{registry.server.server_address[1]}", auth=ALICE, ca_file=str(cert), retry=FAST)
        with pytest.raises(InsecureRedirect, match="redirected down to plain http"):
            client.get_blob(Repository(f"{client.registry.name}/app"), Hash.sha256(b"x"))
        assert plain.requests() == []
    finally:
        plain.stop()
        registry.server.shutdown()
        registry.server.server_close()


def test_a_client_certificate_goes_to_the_registry_only(
    mtls_registry: tuple[DistributionRegistry, tuple[Path, Path]],
) -> None:
    """A client certificate is a credential: the registry's host gets it, storage elsewhere (which
    may ask for one) does not, and still trusts the caller's CA file besides the system's."""
    served, (cert, key) = mtls_registry
    assert served.tls is not None
    storage = TLSStorage(*served.tls)
    try:
        policy = Transport(ca_file=str(served.tls[0]), client_cert=(str(cert), str(key)), home=served.host)
        assert policy.send("GET", f"https://{served.host}/v2/").status == 200  # refused without a certificate
        answer = policy.send("GET", storage.url)
        assert answer.status == 200
        assert answer.read() == b"ok"
        assert storage.presented == [False]
    finally:
        storage.server.shutdown()
        storage.server.server_close()


# --------------------------------------------------------------------------- 2. one request policy


def test_a_refused_connection_is_reported_at_once() -> None:
    """Nothing listens: one quick retry, not the backoff meant for a busy registry (this took
    about 7 s with the https probe and four tries of http)."""
    port = free_port()
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"refused|Failed to establish"):
        Client(f"127.0.0.1:{port}").ping()
    assert time.monotonic() - started < RetryPolicy().backoff * 2
    started = time.monotonic()  # the same for a name that does not resolve
    with pytest.raises(TransportError, match="Failed to resolve"):
        Client("registry.ocimodel.invalid:5000", insecure=True).ping()
    assert time.monotonic() - started < RetryPolicy().backoff * 2


def test_the_token_exchange_is_retried_like_any_request(
    token_registry: DistributionRegistry, token_server: TokenServer
) -> None:
    realm_proxy = FaultProxy("127.0.0.1", int(token_server.realm.split(":")[2].split("/")[0]))
    realm_proxy.start()
    registry_proxy = FaultProxy("127.0.0.1", token_registry.port)
    registry_proxy.start()
    try:
        challenge = f'Bearer realm="http://{realm_proxy.host}/token",service="{SERVICE}"'
        registry_proxy.inject(Fault("GET", r"^/v2/?$", times=MANY, status=401, headers={"WWW-Authenticate": challenge}))
        realm_proxy.inject(
            Fault("GET", "^/token", status=503),
            Fault("GET", "^/token", status=429, headers={"Retry-After": "0"}),
            Fault("GET", "^/token", reset_after=20),  # the answer breaks in its body
        )
        client = Client(registry_proxy.host, auth=authn.Basic(USER, PASSWORD), retry=FAST)
        repository = Repository(f"{registry_proxy.host}/policy/token")
        assert client.head_blob(repository, Hash.sha256(b"x")) is None
        assert [(r.status, r.fault) for r in realm_proxy.requests("GET")] == [
            (503, True),
            (429, True),
            (200, True),
            (200, False),
        ]
    finally:
        registry_proxy.stop()
        realm_proxy.stop()


def test_every_upload_step_is_retried_when_the_registry_says_it_was_not_taken(fault_proxy: FaultProxy) -> None:
    image = random.image(2000, 1, seed=1303)
    for method, path in (("POST", "/blobs/uploads/$"), ("PUT", "/blobs/uploads/"), ("PUT", "/manifests/")):
        fault_proxy.inject(Fault(method, path, status=503))
    remote.write(f"{fault_proxy.host}/policy/upload:v1", image, retry=FAST)
    assert len([r for r in fault_proxy.requests() if r.fault]) == 3
    assert remote.get(f"{fault_proxy.host}/policy/upload:v1").descriptor.digest == image.digest()
    client = Client(fault_proxy.host, retry=FAST)
    repository = Repository(f"{fault_proxy.host}/policy/upload")
    started = client.start_upload(repository)
    fault_proxy.inject(Fault("GET", "/blobs/uploads/", status=503), Fault("DELETE", "/blobs/uploads/", status=502))
    assert client.upload_status(repository, started.location).offset == 0
    client.cancel_upload(repository, started.location)
    assert [r.status for r in fault_proxy.requests("DELETE")] == [502, 204]


def test_a_redirect_hop_has_its_own_retries_and_redirects_are_bounded(
    front: FaultProxy, fault_proxy: FaultProxy
) -> None:
    """A storage hop that answers 503 once is retried on its own; a loop of redirects stops."""
    image = random.image(2000, 1, seed=1304)
    remote.write(f"{fault_proxy.host}/policy/hop:v1", image)
    digest = image.layers()[0].digest()
    # A (front) redirects the blob to B (the fault proxy), which fails once on the hop
    front.inject(
        Fault(
            "GET",
            f"/blobs/{digest}",
            times=MANY,
            status=307,
            headers={"Location": f"http://{fault_proxy.host}{{path}}"},
        )
    )
    fault_proxy.inject(Fault("GET", f"/blobs/{digest}", status=503))
    with remote.layer(f"{front.host}/policy/hop@{digest}", retry=FAST).compressed() as stream:
        data = stream.read()
    assert Hash.sha256(data) == digest
    assert [r.status for r in fault_proxy.requests("GET", f"/blobs/{digest}")] == [503, 200]
    front.inject(Fault("GET", "/loop", times=MANY, status=302, headers={"Location": "/v2/loop"}))
    client = Client(front.host, retry=FAST)
    with pytest.raises(TransportError, match="more than 10 redirects"):
        client.request("GET", "/v2/loop", scopes=[])
    assert len(front.requests("GET", "/loop")) == 11


def test_a_cancel_ends_a_retry_wait_at_once(fault_proxy: FaultProxy) -> None:
    cancel = threading.Event()
    client = Client(fault_proxy.host, retry=RetryPolicy(attempts=3, max_delay=30, budget=60), cancel=cancel)
    fault_proxy.inject(Fault("HEAD", "/blobs/", status=429, headers={"Retry-After": "20"}))
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        client.head_blob(Repository(f"{fault_proxy.host}/policy/cancel"), Hash.sha256(b"x"))
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("broken_at", [100_000, 700_001, (2 << 20) - 1])
def test_a_blob_read_in_one_call_keeps_every_byte_that_arrived_before_a_reset(
    fault_proxy: FaultProxy, broken_at: int
) -> None:
    """``f.read()`` of a 2 MiB layer broken at byte N asks the rest from byte N exactly."""
    repository, digest = stored_layer(fault_proxy, "policy/partial", 2 << 20, seed=1305)
    fault_proxy.inject(Fault("GET", f"/blobs/{digest}", reset_after=broken_at))
    with remote.layer(f"{repository}@{digest}", retry=FAST).compressed() as stream:
        assert Hash.sha256(stream.read()) == digest
    gets = fault_proxy.requests("GET", f"/blobs/{digest}")
    assert [g.headers.get("Range") for g in gets] == [None, f"bytes={broken_at}-"]


def test_a_resumption_that_breaks_again_or_starts_elsewhere_still_gives_the_blob(fault_proxy: FaultProxy) -> None:
    """The resumption itself may break while the bytes already handed out are skipped (its Range
    dropped by a proxy), or answer a 206 that starts somewhere else: each is one more break, or
    a plain read that skips; never a raw error, never wrong bytes."""
    repository, digest = stored_layer(fault_proxy, "policy/resumed", 600_000, seed=1307)
    fault_proxy.inject(
        Fault("GET", f"/blobs/{digest}", reset_after=300_000),
        Fault("GET", f"/blobs/{digest}", drop_headers=("Range",), reset_after=100_000),  # broken mid-skip
        Fault(
            "GET",
            f"/blobs/{digest}",
            status=206,
            headers={"Content-Range": "bytes 400000-400009/600000"},
            body=b"0" * 10,
        ),
    )
    with remote.layer(f"{repository}@{digest}", retry=RetryPolicy(attempts=4, backoff=0.01)).compressed() as stream:
        assert Hash.sha256(stream.read()) == digest
    ranges = [g.headers.get("Range") for g in fault_proxy.requests("GET", f"/blobs/{digest}")]
    assert ranges == [None, "bytes=300000-", "bytes=300000-", None]


def cli(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "ocimodel", *arguments],
        capture_output=True,
        timeout=120,
        env={**__import__("os").environ, "DOCKER_CONFIG": "/nonexistent", **(env or {})},
        check=False,
    )


# --------------------------------------------------------------------------- 3. optional probes


@pytest.mark.parametrize(
    "answer",
    [
        Fault("HEAD", "/manifests/", times=MANY, drop_response_headers=("Docker-Content-Digest",)),
        Fault("HEAD", "/manifests/", times=MANY, status=401, headers={"WWW-Authenticate": 'Basic realm="x"'}),
        Fault("HEAD", "/manifests/", times=MANY, status=403),
        Fault("HEAD", "/manifests/", times=MANY, status=405),
    ],
    ids=["no-digest", "401", "403", "405"],
)
def test_a_manifest_head_that_says_nothing_never_stops_a_push_or_a_digest(
    distribution_proxy: FaultProxy, answer: Fault
) -> None:
    """ECR answered HEAD without Docker-Content-Digest (google/containerregistry#10); others refuse
    HEAD where GET works. The tag check before a push is an optimisation, and `digest` falls back
    to GET (crane does)."""
    proxy = distribution_proxy
    ref = f"{proxy.host}/probe/manifest-{answer.status or 'nodigest'}:v1"
    remote.write(ref, random.image(500, 1, seed=1310))
    second = random.image(500, 1, seed=1311)
    proxy.inject(answer)
    remote.write(ref, second, retry=FAST)
    assert remote.get(ref).descriptor.digest == second.digest()
    done = cli("digest", ref)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == str(second.digest())


@pytest.mark.parametrize(
    "answer",
    [
        Fault("HEAD", "/manifests/", times=MANY, drop_response_headers=("Docker-Content-Digest",)),
        Fault("HEAD", "/manifests/", times=MANY, status=405),
    ],
    ids=["no-digest", "405"],
)
def test_copy_no_clobber_and_delete_take_the_get_path_when_head_says_nothing(
    distribution_proxy: FaultProxy, answer: Fault
) -> None:
    proxy = distribution_proxy
    name = f"{proxy.host}/probe/cli-{answer.status or len(answer.drop_response_headers)}{int(answer.drop_response)}"
    image = random.image(400, 1, seed=1315)
    remote.write(f"{name}:v1", image)
    proxy.inject(answer)
    fresh = cli("copy", "-n", f"{name}:v1", f"{name}:v2")
    assert fresh.returncode == 0, fresh.stderr
    refused = cli("copy", "-n", f"{name}:v1", f"{name}:v2")
    assert refused.returncode == 1
    assert refused.stderr.decode().strip() == f"ocimodel: refusing to overwrite {name}:v2: it exists (-n)"
    refused_delete = cli("delete", f"{name}:v2")  # distribution 2.x deletes no tag: the digest to use, by GET
    assert refused_delete.returncode == 1
    assert (
        refused_delete.stderr.decode()
        .strip()
        .endswith(f"delete {name}@{image.digest()} removes the manifest with every tag on it")
    )
    assert remote.get(f"{name}:v2").descriptor.digest == image.digest()
    deleted = cli("delete", f"{name}@{image.digest()}")
    assert deleted.returncode == 0, deleted.stderr
    proxy.reset()
    with pytest.raises(RegistryError):
        remote.get(f"{name}:v2")


@pytest.mark.parametrize("failure", [{"status": 500}, {"drop_response": True}], ids=["500", "no-answer"])
def test_a_head_that_keeps_failing_is_an_unknown_not_an_error(
    fault_proxy: FaultProxy, failure: dict[str, object]
) -> None:
    """A probe that fails for good (after its retries) says nothing: the push does the work."""
    name = f"{fault_proxy.host}/probe/failing-{'status' if 'status' in failure else 'dropped'}"
    remote.write(f"{name}:v1", random.image(400, 1, seed=1316))
    second = random.image(400, 2, seed=1317)
    fault_proxy.inject(Fault("HEAD", "/", times=MANY, **failure))  # type: ignore[arg-type]
    remote.write(f"{name}:v1", second, retry=FAST)
    fault_proxy.reset()
    assert remote.get(f"{name}:v1").descriptor.digest == second.digest()
    validate.image(remote.image(f"{name}:v1"))


@pytest.mark.parametrize("status", [401, 403, 405, 404])
def test_a_blob_head_that_is_refused_never_stops_a_read_or_a_push(distribution_proxy: FaultProxy, status: int) -> None:
    """ECR Public answers 401 or 403 to HEAD of a blob where GET works (buildbuddy#12566,
    gradle-oci#154); Artifactory answered 404 for uncached remote blobs. A blob named by digest is
    read by GET alone; a push uploads what a refused HEAD could not confirm."""
    proxy = distribution_proxy
    repository = f"{proxy.host}/probe/blob-{status}"
    image = random.image(20_000, 1, seed=1312 + status)
    remote.write(f"{repository}:v1", image)
    digest = image.layers()[0].digest()
    proxy.inject(Fault("HEAD", "/blobs/", times=MANY, status=status))
    with remote.layer(f"{repository}@{digest}", retry=FAST).compressed() as stream:
        assert Hash.sha256(stream.read()) == digest
    done = cli("blob", f"{repository}@{digest}")
    assert done.returncode == 0, done.stderr
    assert Hash.sha256(done.stdout) == digest
    assert remote.layer(f"{repository}@{digest}", retry=FAST).size() == image.layers()[0].size()
    remote.write(f"{repository}:v2", mutate.append_layers(image, random.layer(100, seed=7)), retry=FAST)
    validate.image(remote.image(f"{repository}:v2"))


# --------------------------------------------------------------------------- 4. optimisations fall back


@pytest.mark.parametrize(
    "refusal",
    [
        {"status": 401, "headers": {"WWW-Authenticate": 'Basic realm="x"'}},
        {"status": 403},
        {"status": 404, "body": b'{"errors":[{"code":"NAME_UNKNOWN","message":"no such repository"}]}'},
        {"status": 400, "body": b'{"errors":[{"code":"UNSUPPORTED","message":"mount not supported"}]}'},
        {"status": 500},
    ],
    ids=["401", "403", "404", "error-body", "500"],
)
def test_a_refused_mount_is_an_ordinary_upload(fault_proxy: FaultProxy, refusal: dict[str, object]) -> None:
    """Harbor answered a mount 401 when the robot could not read the source (ggcr#1609), Docker
    Hub refuses `from` it cannot read (#1404, #1679): the mount is an optimisation, the blob is
    uploaded instead, and after an auth refusal no other blob of that source is tried by mount."""
    name = f"{fault_proxy.host}/mount/{refusal['status']}{len(refusal)}"
    source = f"{name}-src"
    image = random.image(3000, 3, seed=1320)
    remote.write(f"{source}:v1", image)
    fault_proxy.reset()
    fault_proxy.inject(Fault("POST", "mount=", times=MANY, **refusal))  # type: ignore[arg-type]
    session = remote.Session(retry=FAST, jobs=1)
    remote.write(f"{name}-dst:v1", remote.image(f"{source}:v1", session=session), session=session)
    assert remote.get(f"{name}-dst:v1").descriptor.digest == image.digest()
    validate.image(remote.image(f"{name}-dst:v1"))
    mounts = [r for r in fault_proxy.requests("POST") if "mount=" in r.path]
    plain = [r for r in fault_proxy.requests("POST") if "mount=" not in r.path]
    assert len(plain) == 4  # three layers and the config
    # after an auth refusal (a 401 is answered once more, with fresh credentials) no other blob
    # is tried by mount; other refusals may be the blob's own, so each blob tries
    status = refusal["status"]
    assert isinstance(status, int)
    assert len(mounts) == {401: 2, 403: 1}.get(status, 4)  # never retried: an optimisation


def test_a_mount_answered_with_an_upload_goes_on_as_one(fault_proxy: FaultProxy) -> None:
    """ECR and registries without mounts answer 202 and a Location: an upload has begun."""
    source = f"{fault_proxy.host}/mount/src202"
    image = random.image(3000, 2, seed=1321)
    remote.write(f"{source}:v1", image)
    client = Client(fault_proxy.host)
    # make the registry ignore the mount: send it to a repository that does not hold the blob
    started = client.start_upload(
        Repository(f"{fault_proxy.host}/mount/dst202"),
        mount=Hash.sha256(b"not there"),
        source=Repository(f"{fault_proxy.host}/mount/src202"),
    )
    assert not started.mounted
    assert started.location
    client.cancel_upload(Repository(f"{fault_proxy.host}/mount/dst202"), started.location)


@pytest.mark.parametrize("status", [400, 405, 416])
def test_a_registry_that_takes_no_chunks_gets_each_blob_in_one_request(fault_proxy: FaultProxy, status: int) -> None:
    """Chunks are an optimisation too: a first chunk refused (some proxies refuse Content-Range
    or the method) sends the blob in one streaming request, and the next blobs go so at once."""
    image = mutate.append_layers(
        empty.image, random.layer(300_000, seed=1350 + status), random.layer(300_000, seed=1360 + status)
    )
    fault_proxy.inject(Fault("PATCH", "/blobs/uploads/", status=status))
    ref = f"{fault_proxy.host}/chunks/refused{status}:v1"
    remote.write(ref, image, monolithic_limit=0, chunked_threshold=100_000, chunk_size=64 << 10, retry=FAST, jobs=1)
    patches = fault_proxy.requests("PATCH")
    assert "Content-Range" in patches[0].headers
    assert patches[0].fault
    # the refused layer again, the other layer and the config: one request each
    assert [("Content-Range" in p.headers) for p in patches[1:]] == [False, False, False]
    validate.image(remote.image(ref))


def test_a_refused_range_reads_the_blob_from_the_start(fault_proxy: FaultProxy) -> None:
    """Range is an optimisation: a resumption answered 416 asks for the whole blob and skips
    what was already handed out."""
    repository, digest = stored_layer(fault_proxy, "range/refused", 600_000, seed=1370)
    fault_proxy.inject(
        Fault("GET", f"/blobs/{digest}", reset_after=300_000),
        Fault("GET", f"/blobs/{digest}", status=416),
    )
    with remote.layer(f"{repository}@{digest}", retry=FAST).compressed() as stream:
        assert Hash.sha256(stream.read()) == digest
    gets = fault_proxy.requests("GET", f"/blobs/{digest}")
    assert ["Range" in g.headers for g in gets] == [False, True, False]


@pytest.mark.parametrize("status", [401, 500])
def test_a_failing_referrers_api_falls_back_to_the_tag_schema(fault_proxy: FaultProxy, status: int) -> None:
    repository = f"{fault_proxy.host}/refapi/failing{status}"
    subject = random.image(500, 1, seed=1380 + status)
    remote.write(f"{repository}:v1", subject)
    fault_proxy.inject(Fault("GET", "/referrers/", times=MANY, status=status))
    artifact = _artifact(subject, 1381)
    remote.write(f"{repository}:sig", artifact, retry=FAST)
    found = remote.referrers(f"{repository}@{subject.digest()}", retry=FAST).index_manifest().manifests
    assert [d.digest for d in found] == [artifact.digest()]


# --------------------------------------------------------------------------- 5. headers as sent


@pytest.mark.parametrize("status_range", ["0-0", "0--1", None])
def test_a_chunked_upload_resumes_from_what_the_registry_really_holds(
    distribution_proxy: FaultProxy, status_range: str | None
) -> None:
    """distribution answers `Range: 0-0` for an upload holding nothing (distribution#2363); others
    write `0--1` or send no Range. All mean "nothing held": the first chunk goes again from 0."""
    proxy = distribution_proxy
    image = mutate.append_layers(empty.image, random.layer(300_000, seed=len(status_range or "")))
    proxy.inject(Fault("PATCH", "/blobs/uploads/", status=500))  # lost, and not said to be untaken
    if status_range != "0-0":  # distribution itself says 0-0; the others are imitated
        headers = {"Location": "{path}"} | ({"Range": status_range} if status_range else {})
        proxy.inject(Fault("GET", "/blobs/uploads/", status=204, body=b"", headers=headers))
    ref = f"{proxy.host}/resume/zero{len(status_range or '')}:v1"
    remote.write(
        ref,
        image,
        monolithic_limit=0,
        chunked_threshold=0,
        chunk_size=64 << 10,
        retry=FAST,
        jobs=1,  # one blob at a time: the layer's chunks before the config's
    )
    patches = [r.headers.get("Content-Range") for r in proxy.requests("PATCH")]
    assert patches[:2] == ["0-65535", "0-65535"]
    assert len(proxy.requests("GET", "/blobs/uploads/")) == 1  # asked once what it holds
    validate.image(remote.image(ref))


def test_a_416_starts_the_blob_over(fault_proxy: FaultProxy) -> None:
    """A registry that checks Content-Range refuses a chunk that does not follow what it holds
    with 416; the blob is then uploaded again from a new upload."""
    image = mutate.append_layers(empty.image, random.layer(300_000, seed=1331))
    fault_proxy.inject(Fault("PATCH", "/blobs/uploads/", skip=1, status=416))
    remote.write(
        f"{fault_proxy.host}/resume/416:v1",
        image,
        monolithic_limit=0,
        chunked_threshold=0,
        chunk_size=64 << 10,
        retry=FAST,
    )
    assert len([r for r in fault_proxy.requests("POST") if "uploads" in r.path]) == 3  # config, layer twice
    validate.image(remote.image(f"{fault_proxy.host}/resume/416:v1"))


# --------------------------------------------------------------------------- 6. never a silent partial answer


def _tag_pages(proxy: FaultProxy, path: str, links: list[str | None]) -> list[str]:
    """Serve the tag list of ``path`` in pages of two, with the given Link header values
    (``{next}`` in a value becomes the next page's URL); returns every tag."""
    tags = [f"t{i}" for i in range(1, 2 * len(links) + 1)]
    for number, link in enumerate(links):
        page = tags[2 * number : 2 * number + 2]
        query = r"\?n=1000$" if number == 0 else rf"\?last={tags[2 * number - 1]}&n=2$"
        following = f"/v2/{path}/tags/list?last={page[-1]}&n=2"
        headers = {"Content-Type": "application/json"}
        if link is not None:
            headers["Link"] = link.replace("{next}", following)
        body = json.dumps({"name": path, "tags": page}).encode()
        proxy.inject(Fault("GET", rf"/v2/{path}/tags/list{query}", times=MANY, status=200, body=body, headers=headers))
    return tags


@pytest.mark.parametrize(
    "link",
    ['<{next}>; rel="next"', '{next}; rel="next"', "<{next}>", '</v2/x?n=1>; rel="prev", <{next}>; rel="next"'],
    ids=["spec", "no-brackets", "no-rel", "several"],
)
def test_every_page_of_a_list_is_followed_whatever_the_link_form(distribution_proxy: FaultProxy, link: str) -> None:
    """Quay wrote its Link header without <> (heroku/docker-registry-client#11); a reader that
    misses it returns the first page as if it were all."""
    tags = _tag_pages(distribution_proxy, "pages/app", [link, link, None])
    assert remote.list_tags(f"{distribution_proxy.host}/pages/app") == tags
    done = cli("ls", f"{distribution_proxy.host}/pages/app")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().split() == tags


def test_a_link_that_cannot_be_read_is_an_error(distribution_proxy: FaultProxy) -> None:
    _tag_pages(distribution_proxy, "pages/bad", ['"{next}"; rel="next"', None])
    with pytest.raises(RegistryError, match="cannot read the Link header"):
        remote.list_tags(f"{distribution_proxy.host}/pages/bad")
    done = cli("ls", f"{distribution_proxy.host}/pages/bad")
    assert done.returncode == 1
    assert b"Link header" in done.stderr
    assert done.stdout == b""


def test_every_page_of_the_referrers_api_is_read(distribution_proxy: FaultProxy) -> None:
    """The distribution-spec pages a long referrers list with Link, as it does tags."""
    proxy = distribution_proxy
    subject = random.image(300, 1, seed=1390)
    remote.write(f"{proxy.host}/refpages/app:v1", subject)
    entries = [_artifact(subject, 1391 + n).descriptor() for n in range(3)]
    base = f"/v2/refpages/app/referrers/{subject.digest()}"
    pages = [[entries[0], entries[1]], [entries[2]]]
    for number, page in enumerate(pages):
        index = IndexManifest(media_type=MediaType.OCI_INDEX, manifests=page).to_json()
        headers: dict[str, str] = {"Content-Type": MediaType.OCI_INDEX}
        if number == 0:
            headers["Link"] = f'<{base}?page=2>; rel="next"'
        path = base + ("$" if number == 0 else r"\?page=2$")
        proxy.inject(Fault("GET", path, times=MANY, status=200, body=index, headers=headers))
    found = remote.referrers(f"{proxy.host}/refpages/app@{subject.digest()}").index_manifest().manifests
    assert [d.digest for d in found] == [e.digest for e in entries]
    proxy.inject(Fault("GET", r"\?page=3$", times=MANY, status=500))
    proxy.faults[0].headers["Link"] = f'<{base}?page=3>; rel="next"'  # a page that fails: an error
    with pytest.raises(RegistryError):
        remote.referrers(f"{proxy.host}/refpages/app@{subject.digest()}", retry=FAST)


# --------------------------------------------------------------------------- 7. indirect names checked


def _artifact(subject: Image | ImageIndex, seed: int) -> Image:
    base = mutate.config_media_type(mutate.media_type(empty.image, MediaType.OCI_MANIFEST), "application/x-test")
    return mutate.subject(mutate.annotations(base, {"seed": str(seed)}), subject.descriptor())


def _subject_behind_its_tag(proxy: FaultProxy, repository: str, subject: Image | ImageIndex) -> None:
    """The registry resolves the tag `sha256-<hex>` to the manifest `sha256:<hex>` (GitLab:
    oras-project/oras-go#1396)."""
    tag = f"{subject.digest().algorithm}-{subject.digest().hex}"
    headers = {"Content-Type": str(subject.media_type()), "Docker-Content-Digest": str(subject.digest())}
    for method in ("GET", "HEAD"):
        proxy.inject(
            Fault(
                method,
                f"/v2/{repository}/manifests/{tag}$",
                times=MANY,
                status=200,
                body=subject.raw_manifest(),
                headers=headers,
            )
        )


@pytest.mark.parametrize("kind", ["image", "index"])
def test_a_referrers_tag_that_is_the_subject_itself_is_no_referrers_index(
    distribution_proxy: FaultProxy, kind: str
) -> None:
    proxy = distribution_proxy
    repository = f"probe/referrers-{kind}"
    image = random.image(500, 1, seed=1340)
    subject: Image | ImageIndex = image
    if kind == "index":
        subject = mutate.append_manifests(empty.index, image, random.image(500, 1, seed=1341))
        remote.write_index(f"{proxy.host}/{repository}:v1", subject)
    else:
        remote.write(f"{proxy.host}/{repository}:v1", image)
    _subject_behind_its_tag(proxy, repository, subject)
    reference = f"{proxy.host}/{repository}@{subject.digest()}"
    assert remote.referrers(reference).index_manifest().manifests == ()
    artifact = _artifact(subject, 1342)
    remote.write(f"{proxy.host}/{repository}:sig", artifact)
    puts = [r for r in proxy.requests("PUT") if "/manifests/sha256-" in r.path]
    assert len(puts) == 1
    proxy.reset()  # the registry now answers the tag with what was put there
    found = remote.referrers(reference).index_manifest().manifests
    assert [d.digest for d in found] == [artifact.digest()]


def test_a_referrers_tag_holding_something_else_is_reported_and_left_alone(distribution_proxy: FaultProxy) -> None:
    proxy = distribution_proxy
    repository = f"{proxy.host}/probe/referrers-other"
    subject = random.image(500, 1, seed=1343)
    remote.write(f"{repository}:v1", subject)
    stranger = random.image(500, 1, seed=1344)
    remote.write(f"{repository}:sha256-{subject.digest().hex}", stranger)
    with pytest.raises(RegistryError, match="not an OCI image index"):
        remote.referrers(f"{repository}@{subject.digest()}")
    artifact = _artifact(subject, 1345)
    with pytest.raises(RegistryError, match="not an OCI image index"):
        remote.write(f"{repository}:sig", artifact)
    assert remote.get(f"{repository}:sha256-{subject.digest().hex}").descriptor.digest == stranger.digest()


def test_verbose_logs_are_redacted(registry: DistributionRegistry, tmp_path: Path) -> None:
    """`-v` logs ocimodel's requests with URLs redacted; the upload state distribution puts in
    its Locations (`_state=…`) and any secret never appear (urllib3's own DEBUG lines would)."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "file").write_bytes(b"payload " * 1000)
    done = cli("-v", "append", "-f", str(tmp_path / "app"), "-t", f"{registry.host}/verbose/app:v1")
    assert done.returncode == 0, done.stderr
    log = done.stderr.decode()
    assert "--> PATCH" in log or "--> PUT" in log  # requests were logged
    assert "_state=REDACTED" in log
    assert "_state=" not in log.replace("_state=REDACTED", "")
    assert "urllib3" not in log


def test_an_error_names_the_host_that_answered_it(front: FaultProxy, fault_proxy: FaultProxy) -> None:
    """Storage a blob is redirected to that refuses (an expired pre-signed URL: S3 answers 403)
    is named in the error, as Go names the last request's URL: it is where to look."""
    digest = Hash.sha256(b"somewhere else")
    front.inject(
        Fault("GET", f"/blobs/{digest}", status=307, headers={"Location": f"http://{fault_proxy.host}/bucket/x?sig=1"})
    )
    fault_proxy.inject(Fault("GET", "/bucket/", status=403, body=b"<Error><Code>AccessDenied</Code></Error>"))
    with pytest.raises(RegistryError) as caught:
        Client(front.host, retry=FAST).get_blob(Repository(f"{front.host}/app"), digest)
    assert f"http://{fault_proxy.host}/bucket/x?sig=REDACTED" in str(caught.value)
    assert "AccessDenied" in str(caught.value)
