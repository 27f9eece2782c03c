"""The low-level client against the real registry: plain, https with basic auth, token auth;
redirects to storage elsewhere; and retries through the fault-injecting proxy."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3

import ocimodel
from ocimodel import authn
from ocimodel.authn import Basic, ConfigFileKeychain, IdentityToken
from ocimodel.descriptor import Descriptor
from ocimodel.errors import (
    CredentialsError,
    ManifestTooLarge,
    NotFound,
    ServerError,
    TransportError,
    Unauthorized,
    UntrustedCertificate,
)
from ocimodel.hashing import Hash
from ocimodel.manifest import Manifest
from ocimodel.mediatype import MediaType
from ocimodel.name import Repository
from ocimodel.transport import Client, RetryPolicy
from ocimodel.transport._tls import speaks_tls
from tests.harness.distribution import DistributionRegistry, free_port
from tests.harness.faultproxy import Fault, FaultProxy
from tests.harness.tokenserver import PASSWORD, USER, TokenServer

pytestmark = pytest.mark.registry

FAST = RetryPolicy(attempts=3, backoff=0.05, factor=2.0, max_delay=2.0, budget=10.0)


def repo(host: str, path: str) -> Repository:
    return Repository(f"{host}/{path}")


def push_blob(client: Client, repository: Repository, data: bytes) -> Hash:
    digest = Hash.sha256(data)
    upload = client.start_upload(repository)
    assert client.finish_upload(repository, upload.location, digest, data) == digest
    return digest


def push_image(client: Client, repository: Repository, tag: str, layer: bytes = b"layer") -> tuple[bytes, Hash]:
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    push_blob(client, repository, config)
    push_blob(client, repository, layer)
    manifest = Manifest(
        media_type=MediaType.OCI_MANIFEST,
        config=Descriptor.of(config, MediaType.OCI_CONFIG),
        layers=[Descriptor.of(layer, MediaType.OCI_LAYER_GZIP)],
    ).to_json()
    return manifest, client.put_manifest(repository, tag, manifest, MediaType.OCI_MANIFEST)


def docker_config(folder: Path, monkeypatch: pytest.MonkeyPatch, config: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return folder


def auth_entry(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


# --------------------------------------------------------------------------- plain registry


def test_ping_settles_http_for_a_local_registry(registry: DistributionRegistry) -> None:
    client = Client(registry.host)
    assert client.ping() is None
    assert client.base_url() == registry.url


def test_the_https_attempt_at_a_plain_http_registry_reads_no_ca_store(
    registry: DistributionRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # reading the store costs 25-50 ms of CPU on every new client; a CA file that cannot be read
    # would be reported had it been read at all
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    client = Client(registry.host)
    assert client.ping() is None
    assert client.base_url() == registry.url


def test_whether_a_server_speaks_tls_is_asked_without_a_ca_store(
    registry: DistributionRegistry,
    basic_registry: DistributionRegistry,
    mtls_registry: tuple[DistributionRegistry, tuple[Path, Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    cases = [
        (registry, False),  # plain http
        (basic_registry, True),  # TLS with a certificate no store here trusts
        (mtls_registry[0], True),  # TLS that wants a client certificate
    ]
    for served, expected in cases:
        assert speaks_tls("127.0.0.1", served.port, 5.0) is expected, served.url
        assert Client(served.host).transport.speaks_tls(f"https://{served.host}/v2/") is expected
    assert speaks_tls("127.0.0.1", free_port(), 5.0) is False  # nothing listens: an https request fails too
    owned = Client(registry.host, pool=urllib3.PoolManager())  # the caller's pool makes the connections
    assert owned.transport.speaks_tls(f"https://{registry.host}/v2/") is None
    assert owned.ping() is None
    assert owned.base_url() == registry.url
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")  # the proxy makes the connections
    assert Client("registry.example:5000").transport.speaks_tls("https://registry.example:5000/v2/") is None


def test_blob_upload_strategies_and_reads(registry: DistributionRegistry) -> None:
    client = Client(registry.host)
    repository = repo(registry.host, "transport/blobs")
    data = os.urandom(300_000)
    digest = Hash.sha256(data)

    # monolithic: POST, then PUT with the body
    assert push_blob(client, repository, data) == digest
    assert client.head_blob(repository, digest) == len(data)

    # one streaming PATCH of unknown length (chunked), then PUT
    other = os.urandom(200_000)
    upload = client.start_upload(repository)
    state = client.patch_upload(repository, upload.location, io.BytesIO(other))
    assert state.offset == len(other)
    client.finish_upload(repository, state.location, Hash.sha256(other))

    # chunked PATCHes with Content-Range, the status asked in between, and the last chunk in the PUT
    third = os.urandom(150_000)
    upload = client.start_upload(repository)
    state = client.patch_upload(repository, upload.location, third[:100_000], start=0)
    status = client.upload_status(repository, state.location)
    assert status.offset == 100_000
    state = client.patch_upload(repository, status.location, third[100_000:140_000], start=100_000)
    client.finish_upload(repository, state.location, Hash.sha256(third), third[140_000:])

    for blob in (data, other, third):
        with client.get_blob(repository, Hash.sha256(blob)) as response:
            assert response.read() == blob
    ranged = client.get_blob(repository, digest, start=1000)
    assert ranged.status == 206
    assert ranged.read() == data[1000:]
    ranged.release_conn()


def test_cancelled_upload_is_gone(registry: DistributionRegistry) -> None:
    client = Client(registry.host)
    repository = repo(registry.host, "transport/cancel")
    upload = client.start_upload(repository)
    client.cancel_upload(repository, upload.location)
    with pytest.raises(NotFound) as caught:
        client.upload_status(repository, upload.location)
    assert "BLOB_UPLOAD_UNKNOWN" in caught.value.codes


def test_cross_repository_mount(registry: DistributionRegistry) -> None:
    client = Client(registry.host)
    source, target = repo(registry.host, "transport/mount-src"), repo(registry.host, "transport/mount-dst")
    digest = push_blob(client, source, b"mount me")
    assert client.head_blob(target, digest) is None
    assert client.start_upload(target, mount=digest, source=source).mounted
    assert client.head_blob(target, digest) == len(b"mount me")
    unknown = client.start_upload(target, mount=Hash.sha256(b"nowhere"), source=source)
    assert not unknown.mounted
    assert unknown.location


def test_manifests(registry: DistributionRegistry) -> None:
    client = Client(registry.host)
    repository = repo(registry.host, "transport/manifests")
    manifest, digest = push_image(client, repository, "v1")
    head = client.head_manifest(repository, "v1")
    assert head is not None
    assert (head.media_type, head.size, head.digest) == (MediaType.OCI_MANIFEST, len(manifest), digest)
    body = client.get_manifest(repository, "v1")
    assert (body.data, body.digest, body.media_type) == (manifest, digest, MediaType.OCI_MANIFEST)
    assert client.get_manifest(repository, str(digest)).data == manifest
    assert client.head_manifest(repository, "missing") is None
    with pytest.raises(NotFound) as caught:
        client.get_manifest(repository, "missing")
    assert caught.value.codes == ("MANIFEST_UNKNOWN",)
    assert caught.value.status == 404
    client.delete_manifest(repository, str(digest))
    assert client.head_manifest(repository, "v1") is None
    push_image(client, repository, "v2")
    with pytest.raises(ManifestTooLarge, match="100-byte limit"):
        Client(registry.host, manifest_limit=100).get_manifest(repository, "v2")


def test_tags_and_catalog_pages(registry: DistributionRegistry) -> None:
    client = Client(registry.host)
    repository = repo(registry.host, "transport/tags")
    for tag in ("a", "b", "c"):
        push_image(client, repository, tag)
    # distribution 2.8 ignores n= on tags (it pages the catalog only), so follow whatever it gives
    tags: list[str] = []
    page = client.tags_page(repository, n=2)
    while True:
        tags.extend(page.items)
        if page.next_url is None:
            break
        page = client.tags_page(repository, url=page.next_url)
    assert sorted(tags) == ["a", "b", "c"]
    names: list[str] = []
    pages = 0
    page = client.catalog_page(n=1)
    while True:
        pages += 1
        assert len(page.items) <= 1
        names.extend(page.items)
        if page.next_url is None:
            break
        page = client.catalog_page(url=page.next_url)
    assert "transport/tags" in names
    assert names == sorted(names)
    assert pages >= len(names)


def test_no_referrers_api_in_this_registry(registry: DistributionRegistry) -> None:
    client = Client(registry.host)
    repository = repo(registry.host, "transport/referrers")
    _, digest = push_image(client, repository, "v1")
    assert client.referrers(repository, digest) is None


def test_nothing_listening_is_a_transport_error() -> None:
    client = Client(f"127.0.0.1:{free_port()}", retry=FAST)
    with pytest.raises(TransportError, match=r"Connection refused|Failed to establish"):
        client.ping()


# --------------------------------------------------------------------------- https + basic auth


def test_basic_auth_from_docker_config(
    basic_registry: DistributionRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker_config(tmp_path / "docker", monkeypatch, {"auths": {basic_registry.host: auth_entry()}})
    client = Client(basic_registry.host, ca_file=str(basic_registry.tls[0]))  # type: ignore[index]
    challenge = client.ping()
    assert challenge is not None
    assert challenge.scheme == "basic"
    assert client.base_url() == f"https://{basic_registry.host}"
    repository = repo(basic_registry.host, "basic/app")
    manifest, _ = push_image(client, repository, "v1")
    assert client.get_manifest(repository, "v1").data == manifest


def test_basic_auth_from_a_credential_helper(
    basic_registry: DistributionRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_helper(tmp_path / "bin", monkeypatch, USER, PASSWORD)
    docker_config(tmp_path / "docker", monkeypatch, {"credsStore": "test"})
    monkeypatch.setenv("SSL_CERT_FILE", str(basic_registry.tls[0]))  # type: ignore[index]
    client = Client(basic_registry.host)
    repository = repo(basic_registry.host, "basic/helper")
    assert push_blob(client, repository, b"via helper") == Hash.sha256(b"via helper")


def test_wrong_password_is_unauthorized_without_the_secret(
    basic_registry: DistributionRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker_config(
        tmp_path / "docker", monkeypatch, {"auths": {basic_registry.host: auth_entry(password="s3cr3t-wrong")}}
    )
    client = Client(basic_registry.host, ca_file=str(basic_registry.tls[0]))  # type: ignore[index]
    with pytest.raises(Unauthorized) as caught:
        client.head_blob(repo(basic_registry.host, "basic/denied"), Hash.sha256(b"x"))
    assert "s3cr3t-wrong" not in str(caught.value)
    assert base64.b64encode(b"testuser:s3cr3t-wrong").decode() not in str(caught.value)
    assert caught.value.status == 401


def test_an_untrusted_certificate_is_refused_unless_verification_is_turned_off(
    basic_registry: DistributionRegistry,
) -> None:
    with pytest.raises(UntrustedCertificate, match="pass ca_file= or set SSL_CERT_FILE"):
        Client(basic_registry.host, retry=FAST, auth=Basic(USER, PASSWORD)).ping()
    relaxed = Client(basic_registry.host, verify=False, auth=Basic(USER, PASSWORD))
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):  # urllib3 says so on every such request
        assert relaxed.head_blob(repo(basic_registry.host, "basic/unverified"), Hash.sha256(b"x")) is None


@pytest.mark.parametrize("content", [None, b"not a certificate\n"], ids=["missing", "not-pem"])
@pytest.mark.parametrize("option", ["ca_file", "client_cert"])
def test_tls_files_that_cannot_be_used_are_refused_before_any_request(
    tmp_path: Path, content: bytes | None, option: str
) -> None:
    path = tmp_path / "given.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CredentialsError, match=f"cannot use the TLS files .*{option}='{path}'"):
        Client(f"127.0.0.1:{free_port()}", **{option: str(path)})  # type: ignore[arg-type]


def test_a_broken_ssl_cert_file_is_reported_not_bypassed_by_plain_http(
    basic_registry: DistributionRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(CredentialsError, match=f"GET https://{basic_registry.host}/v2/: cannot load CA certificates"):
        Client(basic_registry.host, retry=FAST).head_blob(repo(basic_registry.host, "basic/x"), Hash.sha256(b"x"))


def test_a_client_certificate(mtls_registry: tuple[DistributionRegistry, tuple[Path, Path]]) -> None:
    served, (cert, key) = mtls_registry
    ca = str(served.tls[0])  # type: ignore[index]
    with pytest.raises(TransportError):
        Client(served.host, ca_file=ca, retry=FAST).ping()
    client = Client(served.host, ca_file=ca, client_cert=(str(cert), str(key)))
    assert client.ping() is None
    assert client.head_blob(repo(served.host, "mtls/app"), Hash.sha256(b"x")) is None


# --------------------------------------------------------------------------- token auth


def test_anonymous_tokens_pull_but_cannot_push(token_registry: DistributionRegistry, token_server: TokenServer) -> None:
    client = Client(token_registry.host, keychain=ConfigFileKeychain(Path("/nonexistent")))
    challenge = client.ping()
    assert challenge is not None
    assert challenge.scheme == "bearer"
    repository = repo(token_registry.host, "token/anonymous")
    with pytest.raises(NotFound):  # authorised to look, and nothing is there
        client.get_manifest(repository, "latest")
    with pytest.raises(Unauthorized):
        client.start_upload(repository)


def test_token_auth_with_credentials_caches_tokens(
    token_registry: DistributionRegistry, token_server: TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker_config(tmp_path / "docker", monkeypatch, {"auths": {token_registry.host: auth_entry()}})
    client = Client(token_registry.host)
    repository = repo(token_registry.host, "token/cached")
    before = token_server.count("GET")
    manifest, _ = push_image(client, repository, "v1")
    pushes = token_server.count("GET") - before
    assert pushes == 1  # every push request shares one push,pull token
    assert client.get_manifest(repository, "v1").data == manifest
    assert client.get_manifest(repository, "v1").data == manifest
    assert token_server.count("GET") - before == 2  # and one pull token for both reads
    asked = [r for r in token_server.requests if r["method"] == "GET"][-2:]
    assert asked[0]["scopes"] == ["repository:token/cached:push,pull"]
    assert asked[0]["auth"]


def test_a_401_naming_more_scopes_adds_them_once(
    token_registry: DistributionRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker_config(tmp_path / "docker", monkeypatch, {"auths": {token_registry.host: auth_entry()}})
    client = Client(token_registry.host)
    repository = repo(token_registry.host, "token/learn")
    response = client.request(
        "POST", f"/v2/{repository.path}/blobs/uploads/", scopes=[repository.scope("pull")], ok=(202,)
    )
    response.drain_conn()
    assert response.status == 202


def test_identity_tokens_use_oauth2_post(
    token_registry: DistributionRegistry, token_server: TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = urllib3.PoolManager()
    form = {"grant_type": "password", "username": USER, "password": PASSWORD, "access_type": "offline"}
    form |= {"service": "ocimodel-test-registry", "client_id": "test"}
    answer = json.loads(http.request("POST", token_server.realm, fields=form, encode_multipart=False).data)
    docker_config(
        tmp_path / "docker", monkeypatch, {"auths": {token_registry.host: {"identitytoken": answer["refresh_token"]}}}
    )
    client = Client(token_registry.host)
    assert authn.default_keychain.resolve(repo(token_registry.host, "x")) == IdentityToken(answer["refresh_token"])
    repository = repo(token_registry.host, "token/oauth")
    push_blob(client, repository, b"with a refresh token")
    last = token_server.requests[-1]
    assert (last["method"], last["grant"]) == ("POST", "refresh_token")


def write_helper(folder: Path, monkeypatch: pytest.MonkeyPatch, user: str, secret: str) -> None:
    """``docker-credential-test`` on PATH, answering ``user``/``secret`` for any server."""
    folder.mkdir(parents=True, exist_ok=True)
    helper = folder / "docker-credential-test"
    helper.write_text(
        "#!/bin/sh\nread server\n"
        f'echo "{{\\"ServerURL\\": \\"$server\\", \\"Username\\": \\"{user}\\", \\"Secret\\": \\"{secret}\\"}}"\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_token_auth_through_a_credential_helper(
    token_registry: DistributionRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_helper(tmp_path / "bin", monkeypatch, USER, PASSWORD)
    docker_config(tmp_path / "docker", monkeypatch, {"credHelpers": {token_registry.host: "test"}})
    client = Client(token_registry.host)
    assert push_blob(client, repo(token_registry.host, "token/helper"), b"helped") == Hash.sha256(b"helped")


def test_token_auth_with_a_wrong_password(
    token_registry: DistributionRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_helper(tmp_path / "bin", monkeypatch, USER, "n0t-the-passw0rd")
    docker_config(tmp_path / "docker", monkeypatch, {"credsStore": "test"})
    with pytest.raises(Unauthorized) as caught:
        Client(token_registry.host).head_blob(repo(token_registry.host, "token/wrong"), Hash.sha256(b"x"))
    assert "n0t-the-passw0rd" not in str(caught.value)
    assert "token" in caught.value.url


def test_a_registry_token_is_sent_as_it_is(
    token_registry: DistributionRegistry, token_server: TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = urllib3.PoolManager()
    query = {"service": "ocimodel-test-registry", "scope": "repository:token/given:push,pull"}
    headers = urllib3.make_headers(basic_auth=f"{USER}:{PASSWORD}")
    token = json.loads(http.request("GET", token_server.realm, fields=query, headers=headers).data)["token"]
    docker_config(tmp_path / "docker", monkeypatch, {"auths": {token_registry.host: {"registrytoken": token}}})
    before = token_server.count()
    assert push_blob(Client(token_registry.host), repo(token_registry.host, "token/given"), b"as is")
    assert token_server.count() == before  # no exchange at all


def test_oauth2_post_falls_back_to_get_where_there_is_none(
    token_registry: DistributionRegistry, token_server: TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(token_server, "oauth", False)
    docker_config(tmp_path / "docker", monkeypatch, {"auths": {token_registry.host: {"identitytoken": "unknown"}}})
    with pytest.raises(NotFound):  # a pull token by GET, anonymous: allowed to look, nothing there
        Client(token_registry.host).get_manifest(repo(token_registry.host, "token/fallback"), "v1")
    assert [r["method"] for r in token_server.requests[-2:]] == ["POST", "GET"]


def test_tokens_are_renewed_before_they_expire(
    token_registry: DistributionRegistry, token_server: TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker_config(tmp_path / "docker", monkeypatch, {"auths": {token_registry.host: auth_entry()}})
    client = Client(token_registry.host)
    repository = repo(token_registry.host, "token/renew")
    monkeypatch.setattr(token_server, "lifetime", 1)
    client.head_blob(repository, Hash.sha256(b"x"))
    first = token_server.count()
    client.head_blob(repository, Hash.sha256(b"x"))
    assert token_server.count() == first
    time.sleep(1.1)
    client.head_blob(repository, Hash.sha256(b"x"))
    assert token_server.count() == first + 1


# --------------------------------------------------------------------------- redirects


class Storage:
    """A second host standing for object storage: serves one blob, records the headers it got."""

    def __init__(self, data: bytes) -> None:
        self.seen: list[dict[str, str]] = []
        storage = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:
                storage.seen.append(dict(self.headers.items()))
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/bucket/blob?X-Amz-Signature=abc"


@pytest.fixture
def storage() -> Iterator[Storage]:
    made = Storage(b"stored elsewhere")
    yield made
    made.server.shutdown()
    made.server.server_close()


def test_a_blob_redirected_to_another_host_gets_no_authorization(
    token_fault_proxy: FaultProxy, storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker_config(tmp_path / "docker", monkeypatch, {"auths": {token_fault_proxy.host: auth_entry()}})
    client = Client(token_fault_proxy.host)
    repository = repo(token_fault_proxy.host, "token/redirected")
    digest = Hash.sha256(b"stored elsewhere")
    token_fault_proxy.inject(Fault("GET", f"/blobs/{digest}", status=307, headers={"Location": storage.url}))
    with client.get_blob(repository, digest) as response:
        assert response.read() == b"stored elsewhere"
    assert len(storage.seen) == 1
    assert "Authorization" not in storage.seen[0]
    assert "authorization" not in {key.lower() for key in storage.seen[0]}
    redirected = token_fault_proxy.requests("GET", f"/blobs/{digest}")
    assert redirected[-1].headers.get("Authorization", "").startswith("Bearer ")


# --------------------------------------------------------------------------- retries


def test_transient_503s_are_retried(fault_proxy: FaultProxy, registry: DistributionRegistry) -> None:
    client = Client(fault_proxy.host, retry=FAST)
    repository = repo(fault_proxy.host, "retry/manifests")
    manifest, _ = push_image(client, repository, "v1")
    fault_proxy.inject(Fault("GET", "/manifests/v1", times=2, status=503))
    assert client.get_manifest(repository, "v1").data == manifest
    assert [r.status for r in fault_proxy.requests("GET", "/manifests/v1")] == [503, 503, 200]


def test_retry_after_is_honoured(fault_proxy: FaultProxy) -> None:
    client = Client(fault_proxy.host, retry=RetryPolicy(attempts=2, backoff=0.01, budget=5.0))
    repository = repo(fault_proxy.host, "retry/after")
    fault_proxy.inject(Fault("HEAD", "/blobs/", status=429, headers={"Retry-After": "1"}))
    started = time.monotonic()
    assert client.head_blob(repository, Hash.sha256(b"x")) is None
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in fault_proxy.requests("HEAD")] == [429, 404]


def test_a_reset_in_the_middle_of_a_body_is_retried(fault_proxy: FaultProxy) -> None:
    client = Client(fault_proxy.host, retry=FAST)
    repository = repo(fault_proxy.host, "retry/reset")
    manifest, _ = push_image(client, repository, "v1")
    fault_proxy.inject(Fault("GET", "/manifests/v1", reset_after=20))
    assert client.get_manifest(repository, "v1").data == manifest


def test_a_registry_that_keeps_failing_is_given_up_on(fault_proxy: FaultProxy) -> None:
    client = Client(fault_proxy.host, retry=FAST)
    fault_proxy.inject(Fault("HEAD", "/blobs/", times=100, status=503))
    with pytest.raises(ServerError) as caught:
        client.head_blob(repo(fault_proxy.host, "retry/down"), Hash.sha256(b"x"))
    assert caught.value.status == 503
    assert len(fault_proxy.requests("HEAD")) == FAST.attempts


def test_a_stream_body_is_never_sent_twice(fault_proxy: FaultProxy) -> None:
    client = Client(fault_proxy.host, retry=FAST)
    repository = repo(fault_proxy.host, "retry/stream")
    upload = client.start_upload(repository)
    fault_proxy.inject(Fault("PATCH", "/blobs/uploads/", status=503))
    with pytest.raises(ServerError):
        client.patch_upload(repository, upload.location, io.BytesIO(b"only once"))
    assert len(fault_proxy.requests("PATCH")) == 1


def test_every_read_has_a_timeout(fault_proxy: FaultProxy) -> None:
    client = Client(fault_proxy.host, timeout=0.3, retry=RetryPolicy(attempts=2, backoff=0.01))
    fault_proxy.inject(Fault("HEAD", "/blobs/", times=5, delay=2.0))
    with pytest.raises(TransportError, match="timed out"):
        client.head_blob(repo(fault_proxy.host, "retry/slow"), Hash.sha256(b"x"))


def test_user_agent_and_a_redacted_wire_trace(
    token_fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    docker_config(tmp_path / "docker", monkeypatch, {"auths": {token_fault_proxy.host: auth_entry()}})
    client = Client(token_fault_proxy.host, user_agent="my-tool/1.2")
    with caplog.at_level(logging.DEBUG, logger="ocimodel.transport"):
        push_blob(client, repo(token_fault_proxy.host, "trace/app"), b"traced")
    agents = {r.headers.get("User-Agent") for r in token_fault_proxy.requests()}
    assert agents == {f"my-tool/1.2 ocimodel/{ocimodel.__version__}"}
    trace = caplog.text
    assert "--> POST" in trace
    assert "_state=REDACTED" in trace
    assert PASSWORD not in trace
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in trace
    assert "Bearer" not in trace


def test_credentials_are_looked_up_once_per_repository(
    basic_registry: DistributionRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_helper(tmp_path / "bin", monkeypatch, USER, PASSWORD)
    log = tmp_path / "asked"
    helper = tmp_path / "bin" / "docker-credential-test"
    helper.write_text(helper.read_text().replace("read server\n", f"read server\necho $server >> {log}\n"))
    docker_config(tmp_path / "docker", monkeypatch, {"credsStore": "test"})
    client = Client(basic_registry.host, ca_file=str(basic_registry.tls[0]))  # type: ignore[index]
    repository = repo(basic_registry.host, "basic/once")
    for _ in range(3):
        push_blob(client, repository, os.urandom(100))
    assert log.read_text().splitlines() == [f"{basic_registry.host}/basic/once"]


# --------------------------------------------------------------------------- proxies from the environment


def _proxy_environment(monkeypatch: pytest.MonkeyPatch, proxy: str, no_proxy: str = "") -> None:
    for name in ("no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://{proxy}")
    monkeypatch.setenv("https_proxy", f"http://{proxy}")  # the lower-case spelling is read too
    if no_proxy:
        monkeypatch.setenv("NO_PROXY", no_proxy)


def test_requests_go_through_the_environment_proxy(
    distribution_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry that is not on loopback is reached through HTTP_PROXY, in absolute form (the
    proxy forwards everything to the real registry, whatever name the URL carries); the https
    probe goes to HTTPS_PROXY first, whose refusal of CONNECT leads to plain http."""
    _proxy_environment(monkeypatch, distribution_proxy.host)
    name = "registry.ocimodel.test:5000"
    repository = Repository(f"{name}/proxied/app", insecure=True)
    client = Client(name, insecure=True, retry=FAST)
    assert push_blob(client, repository, b"through the proxy") == Hash.sha256(b"through the proxy")
    proxied = [entry.path for entry in distribution_proxy.requests() if entry.method != "CONNECT"]
    assert proxied
    assert all(path.startswith(f"http://{name}/v2/") for path in proxied)


def test_loopback_is_never_proxied_and_no_proxy_is_read_as_go_reads_it(
    registry: DistributionRegistry, distribution_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Go never proxies loopback (docker, crane and skopeo all reach a local registry directly),
    and a NO_PROXY entry for a name (here with its port) sends that name's requests directly."""
    for no_proxy in ("", "127.0.0.0/8", f"127.0.0.1:{registry.port}", "localhost,*"):
        _proxy_environment(monkeypatch, distribution_proxy.host, no_proxy)
        assert Client(registry.host, retry=FAST).head_blob(repo(registry.host, "direct/app"), Hash.sha256(b"x")) is None
    assert distribution_proxy.requests() == []
    _proxy_environment(monkeypatch, distribution_proxy.host, "elsewhere.test, .ocimodel.test:5000")
    with pytest.raises(TransportError):  # direct, so the name must resolve: it does not
        Client("registry.ocimodel.test:5000", insecure=True, retry=FAST).ping()
    assert distribution_proxy.requests() == []


def test_a_proxy_with_credentials_gets_them_and_an_unusable_proxy_is_one_error(
    distribution_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Go takes credentials from the proxy URL (``http://user:pass@proxy``) and sends them in
    Proxy-Authorization; a proxy ocimodel cannot use is a TransportError that shows no secret."""
    name = "registry.ocimodel.test:5000"
    repository = Repository(f"{name}/proxied/auth", insecure=True)
    _proxy_environment(monkeypatch, f"proxy%40user:s3cr%3At@{distribution_proxy.host}")
    assert push_blob(Client(name, insecure=True, retry=FAST), repository, b"proxied") == Hash.sha256(b"proxied")
    sent = {
        next((v for k, v in entry.headers.items() if k.lower() == "proxy-authorization"), None)
        for entry in distribution_proxy.requests()
    }
    assert sent == {"Basic " + base64.b64encode(b"proxy@user:s3cr:t").decode()}
    for unusable in ("socks5://user:s3cret@127.0.0.1:1080", "http://user:s3cret@[bad"):
        monkeypatch.setenv("HTTP_PROXY", unusable)
        monkeypatch.setenv("HTTPS_PROXY", unusable)
        with pytest.raises(TransportError, match="proxy") as caught:
            Client(name, insecure=True, retry=FAST).ping()
        assert "s3cret" not in str(caught.value)
