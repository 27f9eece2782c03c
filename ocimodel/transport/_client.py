"""The low-level registry client: one method per distribution-spec request, under one request policy."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final
from urllib.parse import urlencode, urljoin, urlsplit

import attrs
import urllib3

from ocimodel._json import loads
from ocimodel._mask import logger as masked_logger
from ocimodel._shown import shown
from ocimodel._version import __version__
from ocimodel.authn import Anonymous, Authenticator, Keychain, StaticKeychain, default_keychain
from ocimodel.errors import (
    BadJSONError,
    BadNameError,
    DigestMismatch,
    InsecureRedirect,
    ManifestTooLarge,
    RegistryError,
    TransportError,
    UnsupportedMediaType,
)
from ocimodel.hashing import Hash
from ocimodel.mediatype import MediaType
from ocimodel.name import Registry, Repository
from ocimodel.transport._auth import TOKEN_LIMIT, Auth
from ocimodel.transport._challenge import Challenge, parse_challenges, preferred
from ocimodel.transport._errors import registry_error
from ocimodel.transport._guard import check_target, resolve, url_host
from ocimodel.transport._headers import content_length, next_link, upload_offset
from ocimodel.transport._policy import (
    Answer,
    Body,
    HostAuth,
    Transport,
    discard,
    exchange,
    origin,
    read_capped,
    read_within,
    release,
)
from ocimodel.transport._proxy import ProxyRules
from ocimodel.transport._redact import redact_url
from ocimodel.transport._retry import RetryPolicy

log = masked_logger("ocimodel.transport")

#: Every manifest type ocimodel reads, for ``Accept`` (OCI first; a registry may refuse to convert).
MANIFEST_TYPES: Final = (
    MediaType.OCI_MANIFEST,
    MediaType.OCI_INDEX,
    MediaType.DOCKER_MANIFEST_SCHEMA2,
    MediaType.DOCKER_MANIFEST_LIST,
    MediaType.DOCKER_MANIFEST_SCHEMA1,
    MediaType.DOCKER_MANIFEST_SCHEMA1_SIGNED,
)
#: The most bytes of a manifest, an index, or one page of a listing that are read (4 MiB, as the
#: distribution-spec suggests for manifests): ``manifest_limit=``.
MANIFEST_LIMIT: Final = 4 << 20
#: The most bytes of an error answer that are read, for its message: ``error_limit=``.
ERROR_LIMIT: Final = 64 << 10
#: The most names one listing (tags, catalog) gathers over all its pages: ``list_limit=``.
LIST_LIMIT: Final = 250_000
#: The longest name a listing may hold (the distribution registry's limit on repository names;
#: tags are shorter still): longer is not a name but a registry that is not telling the truth.
_NAME_LIMIT: Final = 255
_ANONYMOUS: Final = StaticKeychain(Anonymous)


@attrs.frozen
class ManifestHead:
    """What ``HEAD /manifests/<ref>`` says: media type, size and digest, each ``None`` where the
    registry left its header out (``Docker-Content-Digest`` is optional in the spec)."""

    media_type: MediaType | None
    size: int | None
    digest: Hash | None


@attrs.frozen
class ManifestBody:
    """A fetched manifest: its exact bytes, the media type the registry gave, their digest."""

    data: bytes
    media_type: MediaType
    digest: Hash


@attrs.frozen
class UploadState:
    """Where an upload stands: the URL to continue at and how many bytes the registry holds.

    ``mounted`` is true when a cross-repository mount made the upload unnecessary.
    """

    location: str
    offset: int = 0
    mounted: bool = False
    #: The smallest chunk the registry accepts (``OCI-Chunk-Min-Length``; 0 if it says nothing).
    min_chunk: int = 0


@attrs.frozen
class Page:
    """One page of a tag list or catalog, and the URL of the next page (``None`` at the end)."""

    items: tuple[str, ...]
    next_url: str | None


def pull_scope(repository: Repository) -> str:
    return repository.scope("pull")


def push_scope(repository: Repository) -> str:
    return repository.scope("push,pull")


def delete_scope(repository: Repository) -> str:
    return repository.scope("push,pull,delete")


def _speaks_tls(error: TransportError) -> bool:
    """Whether a failed https attempt reached a TLS server (a certificate or handshake problem),
    rather than a plain http one or nothing at all."""
    from ocimodel.transport._tls import answered_in_plain

    cause = error.__cause__
    return isinstance(cause, urllib3.exceptions.SSLError) and not answered_in_plain(cause)


class Client:
    """The distribution-spec conversation with one registry.

    Methods map one-to-one onto the spec's requests and return plain values (or, for blob
    downloads, the open response). Every request goes through one :class:`Transport` (the request
    policy: pools, proxies, TLS, timeouts, retries, cancellation, redirects hop by hop); the auth
    handshake (:class:`~ocimodel.transport.Auth`) answers the registry's challenges, and each host a
    redirect leads to is answered with its own credentials (its keychain entry, or anonymous), so
    one host's credentials never reach another. Bodies are read with caps that raise rather than
    truncate.

    :param registry: the registry (a name is parsed with :class:`~ocimodel.name.Registry`).
    :param auth: credentials for this registry (overrides ``keychain`` for it; other hosts a
        redirect leads to are asked of ``keychain`` if given, else answered anonymously).
    :param keychain: where to find credentials per repository and host (default: docker's and
        podman's files).
    :param insecure: allow plain http for any registry (https is still tried first).
    :param ca_file: CA certificates to trust (``SSL_CERT_FILE`` is honoured too).
    :param client_cert: a client certificate file, or ``(certificate, key)`` files.
    :param verify: ``False`` skips TLS verification (an explicit opt-in; never the default).
    :param timeout: seconds for each connect and each read, for every answer's status line and
        headers to arrive whole, and for a small answer's body (a manifest, a page, a token, an
        error) to arrive whole.
    :param user_agent: a prefix for ``User-Agent`` (``"<prefix> ocimodel/<version>"``).
    :param pool: a :class:`urllib3.PoolManager` the caller owns (proxies are then the caller's too).
    :param cancel: an event that, once set, stops the client before its next request or retry
        (raising :class:`~ocimodel.errors.Cancelled`); blob reads check it between chunks too.
    :param proxies: the proxy rules (default: ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` as Go reads them).
    :param manifest_limit: the most bytes of a manifest, an index or a listing's page that are
        read (:data:`MANIFEST_LIMIT`, 4 MiB); more is :class:`~ocimodel.errors.ManifestTooLarge`.
    :param token_limit: the most bytes of a token server's answer that are read (64 KiB).
    :param error_limit: the most bytes of an error answer that are read (:data:`ERROR_LIMIT`, 64 KiB);
        the rest is not read: the connection is closed.
    :param list_limit: the most names a listing gathers over all its pages (:data:`LIST_LIMIT`).
    :raises ~ocimodel.errors.CredentialsError: ``ca_file`` or ``client_cert`` cannot be read or used.
    """

    def __init__(
        self,
        registry: Registry | str,
        *,
        auth: Authenticator | None = None,
        keychain: Keychain | None = None,
        insecure: bool = False,
        ca_file: str | None = None,
        client_cert: str | tuple[str, str] | None = None,
        verify: bool = True,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        user_agent: str | None = None,
        pool: urllib3.PoolManager | None = None,
        manifest_limit: int = MANIFEST_LIMIT,
        cancel: threading.Event | None = None,
        proxies: ProxyRules | None = None,
        token_limit: int = TOKEN_LIMIT,
        error_limit: int = ERROR_LIMIT,
        list_limit: int = LIST_LIMIT,
    ) -> None:
        self.registry = registry if isinstance(registry, Registry) else Registry(registry, insecure=insecure)
        self._insecure = insecure or self.registry.insecure
        self.manifest_limit = manifest_limit
        self.error_limit = error_limit
        self.list_limit = list_limit
        agent = f"ocimodel/{__version__}"
        self.user_agent = f"{user_agent} {agent}" if user_agent else agent
        self.transport = Transport(
            retry=retry,
            timeout=timeout,
            user_agent=self.user_agent,
            ca_file=ca_file,
            client_cert=client_cert,
            verify=verify,
            pool=pool,
            proxies=proxies,
            cancel=cancel,
            home=self.registry.name,
            insecure=self._insecure,
        )
        self._lock = threading.Lock()
        self._pinging = threading.Lock()  # one ping at a time: threads starting together share it
        self._base_url: str | None = None
        chosen = StaticKeychain(auth) if auth is not None else keychain or default_keychain
        # Hosts a redirect leads to never get this registry's credentials: their own, or none.
        self._other_keychain: Keychain = keychain or (default_keychain if auth is None else _ANONYMOUS)
        self._other_auth: dict[str, Auth | None] = {}
        self._mounts_refused: set[tuple[str, str]] = set()  # (source, target) paths
        self.auth = Auth(self.registry, chosen, self._send_token_request, token_limit=token_limit)

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of every request (and of the writer's whole-blob retries)."""
        return self.transport.retry

    @property
    def cancel(self) -> threading.Event | None:
        return self.transport.cancel

    @property
    def timeout(self) -> urllib3.Timeout:
        return self.transport.timeout

    # ------------------------------------------------------------------ plumbing

    def check_url(self, url: str, what: str) -> None:
        """Refuse a URL the registry names (a redirect, a ``Location``, a ``Link``, a foreign
        layer's URL), by the one rule of :func:`~ocimodel.transport.check_target`: no plain http
        from a registry spoken to over https (unless ``insecure``), no private address unless the
        registry is as local."""
        base = self._known_base()
        scheme = url_host(base)[0] if base else self.registry.scheme
        check_target(url, self.registry, what, registry_scheme=scheme, allow_http=self._insecure)

    def _guard(self, url: str) -> None:
        """Where a redirect may lead (see :meth:`check_url`)."""
        self.check_url(url, "redirect")

    def _send_token_request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> Answer:
        """The token exchange, under the same policy as every request (its credentials stay with
        the realm's origin: a redirect elsewhere drops them), its answer read whole within a cap."""
        return exchange(
            self.transport, method, url, limit=self.auth.token_limit, headers=headers, body=body, guard=self._guard
        )

    def secrets(self) -> frozenset[str]:
        """Every credential this client has sent, to the registry or to hosts it led to, in the
        spellings a server could echo: masked in the messages of the errors it raises."""
        with self._lock:
            others = [auth for auth in self._other_auth.values() if auth is not None]
        return self.auth.secrets().union(*(auth.secrets() for auth in others))

    def _auth_for(self, host: str) -> HostAuth | None:
        """The auth answering ``host`` (an origin): the registry's own, or one of the host's own."""
        base = self._known_base()
        if base is None or origin(base) == host:
            return self.auth
        with self._lock:
            if host in self._other_auth:
                return self._other_auth[host]
        parts = urlsplit(host)
        netloc = parts.netloc if parts.port not in (80, 443) else parts.hostname or ""
        try:
            other: Auth | None = Auth(
                Registry(netloc, insecure=True),
                self._other_keychain,
                self._send_token_request,
                token_limit=self.auth.token_limit,
            )
        except BadNameError:
            other = None  # not a registry name: it gets no credentials at all
        if other is not None:
            other.set_challenge(host + "/v2/", None)
        with self._lock:
            return self._other_auth.setdefault(host, other)

    def check_cancelled(self) -> None:
        """Raise :class:`~ocimodel.errors.Cancelled` if the caller's ``cancel`` event is set."""
        self.transport.check_cancelled(f"no more requests to {self.registry}")

    def base_url(self) -> str:
        """``scheme://registry``, with the scheme settled by a ping the first time it is asked
        (once, however many threads ask at once)."""
        if self._known_base() is None:
            with self._pinging:
                if self._known_base() is None:
                    self.ping()
        base = self._known_base()
        assert base is not None
        return base

    def _known_base(self) -> str | None:
        with self._lock:
            return self._base_url

    def ping(self) -> Challenge | None:
        """``GET /v2/``: settle https (or, where allowed, the http fallback) and learn the auth
        challenge (``None``: no auth needed)."""
        allow_http = self._insecure or self.registry.scheme == "http"
        schemes = ["https", "http"] if allow_http else ["https"]
        last: TransportError | None = None
        for scheme in schemes:
            url = f"{scheme}://{self.registry.name}/v2/"
            if scheme == "https" and allow_http and self.transport.speaks_tls(url) is False:
                continue  # a plain http registry: no CA store is read for an https attempt it cannot answer
            try:
                # Only the last candidate is retried: a failed https probe falls back at once.
                response = self.transport.send("GET", url, guard=self._guard, replay=scheme == schemes[-1])
            except TransportError as error:
                if scheme == "https" and _speaks_tls(error):
                    raise  # a TLS server that refused us: plain http would only hide why
                last = error
                continue
            body = read_capped(response, self.error_limit, self.transport.seconds)
            discard(response)
            if response.status == 200:
                challenge = None
            elif response.status == 401:
                challenge = preferred(parse_challenges(response.headers.getlist("WWW-Authenticate")))
            else:
                raise registry_error(
                    "GET", url, response.status, body, response.headers.get("Retry-After"), self.secrets()
                )
            with self._lock:
                self._base_url = f"{scheme}://{self.registry.name}"
            self.auth.set_challenge(url, challenge)
            return challenge
        assert last is not None
        raise last

    def request(
        self,
        method: str,
        url: str,
        *,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None = None,
        body: Body | None = None,
        ok: Iterable[int] = (200,),
        chunked: bool = False,
        replay: bool = True,
    ) -> urllib3.BaseHTTPResponse:
        """One spec request, authenticated for ``scopes``, under the request policy.

        ``url`` may be a path (``/v2/…``), resolved against :meth:`base_url`. Returns the open
        response if its status is in ``ok``; raises the matching
        :class:`~ocimodel.errors.RegistryError` otherwise. A ``body`` that is a stream is sent once;
        a request with ``replay=False`` (upload chunks and commits, which a registry may have taken
        even if its answer was lost) is resent only after an answer saying it was not taken.
        """
        target = urljoin(self.base_url(), url)
        response = self.transport.send(
            method,
            target,
            headers=headers,
            body=body,
            chunked=chunked,
            scopes=scopes,
            auth=self._auth_for,
            guard=self._guard,
            replay=replay,
        )
        if response.status in set(ok):
            return response
        data = read_capped(response, self.error_limit, self.transport.seconds) if method != "HEAD" else b""
        discard(response)
        answered = response.url or target  # the host that answered, after any redirect
        raise registry_error(
            method, answered, response.status, data, response.headers.get("Retry-After"), self.secrets()
        )

    def fetch(
        self,
        url: str,
        *,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None = None,
        limit: int,
        what: str,
        ok: Iterable[int] = (200,),
    ) -> tuple[urllib3.BaseHTTPResponse, bytes]:
        """``GET`` a small body whole (at most ``limit`` bytes): a connection that breaks while the
        body is read is retried like one that breaks before."""
        return self.transport.whole(
            "GET",
            urljoin(self.base_url(), url),
            lambda: self.request("GET", url, scopes=scopes, headers=headers, ok=ok),
            lambda response: (response, self._read_capped(response, limit, what)),
        )

    def _read_capped(self, response: urllib3.BaseHTTPResponse, limit: int, what: str) -> bytes:
        """A small body whole, at most ``limit`` bytes (more is :class:`ManifestTooLarge`), within
        the transport's time for it (:func:`~ocimodel.transport._policy.read_within`); its
        connection reused only if the body was read to its end."""
        declared = content_length(response.headers.get("Content-Length"))
        if declared is not None and declared > limit:
            release(response)
            raise ManifestTooLarge(
                f"{what} is {declared} bytes, more than the {limit}-byte limit (manifest_limit= changes it)"
            )
        try:
            data = read_within(response, limit + 1, self.transport.seconds)
        finally:
            release(response)
        if len(data) > limit:
            raise ManifestTooLarge(f"{what} is more than the {limit}-byte limit (manifest_limit= changes it)")
        return data

    def token(self, scopes: Sequence[str]) -> str | None:
        """The ``Authorization`` value this client would send for ``scopes`` (a bearer token from
        the registry's token server, basic credentials, or ``None`` where no auth is needed)."""
        return self.auth.header(self.base_url() + "/v2/", scopes)

    # ------------------------------------------------------------------ manifests

    def head_manifest(self, repository: Repository, reference: str) -> ManifestHead | None:
        """``HEAD /manifests/<reference>``: what the registry says is there, or ``None`` (404).

        The answer's headers are optional in the spec (ECR left ``Docker-Content-Digest`` out):
        a field the registry did not send is ``None``, so callers treat it as unknown. A digest
        that differs from the one asked for is refused (it is not what was asked about).

        :raises ~ocimodel.errors.DigestMismatch: ``reference`` is a digest and the registry named another.
        """
        response = self.request(
            "HEAD",
            f"/v2/{repository.path}/manifests/{reference}",
            scopes=[pull_scope(repository)],
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
            ok=(200, 404),
        )
        discard(response)
        if response.status == 404:
            return None
        kind = response.headers.get("Content-Type")
        said = _said_digest(response)
        asked = _digest_or_none(reference)
        if asked is not None and said is not None and said != asked:
            raise DigestMismatch(f"HEAD of manifest {repository.name}@{asked}: the registry named another", asked, said)
        return ManifestHead(
            MediaType(kind) if kind else None,
            content_length(response.headers.get("Content-Length")),
            said if said is not None else asked,
        )

    def get_manifest(
        self, repository: Repository, reference: str, *, accept: Sequence[str] = MANIFEST_TYPES
    ) -> ManifestBody:
        """``GET /manifests/<reference>``: the exact bytes (capped at ``manifest_limit``), and their
        digest (by the algorithm of ``reference`` when it is a digest, else sha256).

        :raises ~ocimodel.errors.DigestMismatch: ``reference`` is a digest and the answer's
            ``Docker-Content-Digest`` names another of the same algorithm (the bytes are checked
            by the caller: a digest reference must hash to itself).
        """
        response, data = self.fetch(
            f"/v2/{repository.path}/manifests/{reference}",
            scopes=[pull_scope(repository)],
            headers={"Accept": ", ".join(accept)},
            limit=self.manifest_limit,
            what=f"manifest {repository.name}:{reference}",
        )
        # Content-Type: the manifest's media type as the registry stored it; some answer a generic
        # application/json or text/plain (older Artifactory and Nexus), so readers fall back to the
        # document's own mediaType where the header names no manifest type
        media_type = MediaType(response.headers.get("Content-Type") or MediaType.OCI_MANIFEST)
        asked = _digest_or_none(reference)
        _check_said(response, asked, f"GET of manifest {repository.name}@{asked}")
        _check_own_type(data, media_type, f"manifest {repository.name}:{reference}")
        return ManifestBody(data, media_type, Hash.of(data, asked.algorithm) if asked else Hash.sha256(data))

    def put_manifest(self, repository: Repository, reference: str, data: bytes, media_type: str) -> Hash:
        """``PUT /manifests/<reference>``; returns the digest of what was sent.

        :raises ~ocimodel.errors.DigestMismatch: the answer's ``Docker-Content-Digest`` says the
            registry stored another manifest (a signed schema 1 manifest excepted: registries name
            it by the digest of its payload, without the signatures).
        """
        response = self.request(
            "PUT",
            f"/v2/{repository.path}/manifests/{reference}",
            scopes=[push_scope(repository)],
            headers={"Content-Type": str(media_type)},
            body=bytes(data),
            ok=(200, 201, 202),
        )
        discard(response)
        sent = Hash.sha256(data)
        if MediaType(media_type).essence != MediaType.DOCKER_MANIFEST_SCHEMA1_SIGNED:
            _check_said(response, sent, f"PUT of manifest {repository.name}:{reference}: the registry stored")
        return sent

    def delete_manifest(self, repository: Repository, reference: str) -> None:
        """``DELETE /manifests/<reference>`` (a tag, or a digest: every tag on it goes too)."""
        response = self.request(
            "DELETE",
            f"/v2/{repository.path}/manifests/{reference}",
            scopes=[delete_scope(repository)],
            ok=(200, 202),
        )
        discard(response)

    # ------------------------------------------------------------------ blobs

    def head_blob(self, repository: Repository, digest: Hash) -> int | None:
        """``HEAD /blobs/<digest>``: the blob's size (-1 if the registry did not say), or ``None``
        if the repository lacks it (404). Some registries refuse HEAD where GET works (ECR
        Public: 401 or 403): that is an error here; callers that only probe treat it as unknown.

        :raises ~ocimodel.errors.DigestMismatch: the answer's ``Docker-Content-Digest`` names another blob.
        """
        response = self.request(
            "HEAD", f"/v2/{repository.path}/blobs/{digest}", scopes=[pull_scope(repository)], ok=(200, 404)
        )
        discard(response)
        if response.status == 404:
            return None
        _check_said(response, digest, f"HEAD of blob {repository.name}@{digest}")
        length = content_length(response.headers.get("Content-Length"))
        return -1 if length is None else length

    def get_blob(self, repository: Repository, digest: Hash, *, start: int = 0) -> urllib3.BaseHTTPResponse:
        """``GET /blobs/<digest>``, from byte ``start`` (``Range``) when not 0.

        Returns the open response (status 200, or 206 if the range was honoured); read it and
        close it. Redirects to storage elsewhere are followed hop by hop, without our credentials.

        :raises ~ocimodel.errors.DigestMismatch: the answer's ``Docker-Content-Digest`` names
            another blob (the bytes themselves are verified by the reader).
        """
        headers = {"Range": f"bytes={start}-"} if start else None
        response = self.request(
            "GET",
            f"/v2/{repository.path}/blobs/{digest}",
            scopes=[pull_scope(repository)],
            headers=headers,
            ok=(200, 206) if start else (200,),
        )
        try:
            _check_said(response, digest, f"GET of blob {repository.name}@{digest}")
        except DigestMismatch:
            release(response)
            raise
        return response

    def get_url(self, url: str) -> urllib3.BaseHTTPResponse:
        """``GET`` a URL outside the registry (a foreign layer's ``urls``) under the same policy,
        with no credentials; the caller vets the URL first. Returns the open response, any status."""
        return self.transport.send("GET", url, guard=self._guard)

    def delete_blob(self, repository: Repository, digest: Hash) -> None:
        """``DELETE /blobs/<digest>``."""
        response = self.request(
            "DELETE", f"/v2/{repository.path}/blobs/{digest}", scopes=[delete_scope(repository)], ok=(200, 202)
        )
        discard(response)

    # ------------------------------------------------------------------ uploads

    def _location(self, response: urllib3.BaseHTTPResponse, request_url: str) -> str:
        """Where an upload goes on: the answer's ``Location``, absolute (distribution, built from
        the Host it was asked with) or relative to the host that answered (ECR, GCR, Quay, ghcr;
        after a redirect, the host it led to); state may ride in its query (``?_state=…``), kept
        as it is. It must stay on the host that answered, scheme and port included (as oras-go
        requires): an upload's bytes go where the registry is, not where it says.

        :raises ~ocimodel.errors.InsecureRedirect: a ``Location`` on another host, or refused by
            :meth:`check_url`.
        """
        location = response.headers.get("Location")
        discard(response)
        if not location:
            raise RegistryError(
                f"the registry answered {response.status} to an upload without a Location", status=response.status
            )
        answered = response.url or request_url
        absolute = resolve(answered, location, "upload location")
        self.check_url(absolute, "upload location")
        if origin(absolute) != origin(answered):
            raise InsecureRedirect(
                f"upload location {redact_url(absolute)!r}: not on the host that answered ({redact_url(answered)})"
            )
        return absolute

    def start_upload(
        self,
        repository: Repository,
        *,
        mount: Hash | None = None,
        source: Repository | None = None,
        extra_scopes: Sequence[str] = (),
    ) -> UploadState:
        """``POST /blobs/uploads/``, trying a cross-repository mount when ``mount`` and ``source``
        are given (the source's pull scope is asked for too). A 201 means mounted.

        A mount is an optimisation: when the registry refuses it (401 or 403 when the credentials
        cannot read the source, as on Harbor and Docker Hub; 404; any other error) the upload is
        started without it (go-containerregistry and containers/image do the same). A 202 to a
        mount request simply starts an upload (ECR, and registries without mounts, answer so).
        """
        scopes = [push_scope(repository), *extra_scopes]
        pair = (source.path if source is not None else "", repository.path)
        if mount is not None and source is not None and pair not in self._mounts_refused:
            query = "?" + urlencode({"mount": str(mount), "from": source.path})
            url = urljoin(self.base_url(), f"/v2/{repository.path}/blobs/uploads/{query}")
            try:  # not retried: on any failure, the plain upload (which is) is the better bet
                return self._post_upload(url, [*scopes, pull_scope(source)], replay=False)
            except (RegistryError, TransportError) as error:
                log.debug("mount of %s from %s refused (%s): uploading instead", mount, source, error)
                if getattr(error, "status", 0) in (401, 403):  # the credentials cannot read the source
                    with self._lock:
                        self._mounts_refused.add(pair)
        return self._post_upload(urljoin(self.base_url(), f"/v2/{repository.path}/blobs/uploads/"), scopes)

    def _post_upload(self, url: str, scopes: Sequence[str], *, replay: bool = True) -> UploadState:
        response = self.request("POST", url, scopes=scopes, ok=(201, 202), replay=replay)
        if response.status == 201:
            discard(response)
            return UploadState("", mounted=True)
        # OCI-Chunk-Min-Length: distribution-spec 1.1 registries (zot, distribution 3) say it;
        # others say nothing, which means no minimum
        minimum = content_length(response.headers.get("OCI-Chunk-Min-Length")) or 0
        offset = upload_offset(response.headers.get("Range"))
        return UploadState(self._location(response, url), offset, min_chunk=minimum)

    def patch_upload(
        self,
        repository: Repository,
        location: str,
        body: Body,
        *,
        start: int | None = None,
        length: int | None = None,
    ) -> UploadState:
        """``PATCH <location>`` with a chunk (``Content-Range`` when ``start`` is given) or, with
        a stream of unknown length, a chunked body. Returns the next location and offset."""
        headers = {"Content-Type": "application/octet-stream"}
        size = len(body) if isinstance(body, bytes) else length
        if size is not None:
            headers["Content-Length"] = str(size)
        if start is not None and size is not None:
            headers["Content-Range"] = f"{start}-{start + size - 1}"
        response = self.request(
            "PATCH",
            location,
            scopes=[push_scope(repository)],
            headers=headers,
            body=body,
            ok=(202, 204, 201),
            chunked=size is None,
            replay=False,
        )
        offset = upload_offset(response.headers.get("Range"))
        return UploadState(self._location(response, location), offset)

    def finish_upload(self, repository: Repository, location: str, digest: Hash, body: bytes = b"") -> Hash:
        """``PUT <location>&digest=…``, with the last chunk (or the whole blob) as the body.

        :raises ~ocimodel.errors.DigestMismatch: the registry says it stored another digest.
        """
        separator = "&" if "?" in location else "?"
        response = self.request(
            "PUT",
            f"{location}{separator}{urlencode({'digest': str(digest)})}",
            scopes=[push_scope(repository)],
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(body))},
            body=body,
            ok=(201, 204),
            replay=False,
        )
        discard(response)
        _check_said(response, digest, f"upload of blob {digest} to {repository}: the registry stored")
        return digest

    def upload_status(self, repository: Repository, location: str) -> UploadState:
        """``GET <location>``: how many bytes of the upload the registry holds."""
        response = self.request("GET", location, scopes=[push_scope(repository)], ok=(204, 200))
        offset = upload_offset(response.headers.get("Range"))
        return UploadState(self._location(response, location), offset)

    def cancel_upload(self, repository: Repository, location: str) -> None:
        """``DELETE <location>``: give an upload up."""
        response = self.request("DELETE", location, scopes=[push_scope(repository)], ok=(204, 200, 202, 404))
        discard(response)

    # ------------------------------------------------------------------ listings

    def _page(self, url: str, scopes: Sequence[str], key: str, what: str) -> Page:
        response, data = self.fetch(url, scopes=scopes, limit=self.manifest_limit, what=what)
        try:
            items = loads(data, what).get(key) or []
        except (ValueError, AttributeError):
            raise RegistryError(f"{what}: the registry's answer is not JSON", status=response.status) from None
        if not isinstance(items, list) or not all(
            isinstance(item, str) and 0 < len(item) <= _NAME_LIMIT for item in items
        ):
            raise RegistryError(f"{what}: {key!r} in the registry's answer is not a list of names", status=200)
        return Page(tuple(items), self._next_page(response, url, what))

    def listing(self, first: Page, more: Callable[[str], Page], what: str) -> list[str]:
        """Every name of a listing: ``first`` page's, then those of the pages ``more(next_url)``
        gives, to the end. A registry does not decide how long this goes on: past
        ``list_limit`` names, or at a page already read (a loop), it stops with an error.

        :raises ~ocimodel.errors.ManifestTooLarge: more than ``list_limit`` names.
        :raises ~ocimodel.errors.RegistryError: the pages lead back to one already read.
        """
        names = list(first.items)
        seen: set[str] = set()
        page = first
        while True:
            if len(names) > self.list_limit:
                raise ManifestTooLarge(f"{what}: more than {self.list_limit} names (list_limit= changes the limit)")
            if page.next_url is None:
                return names
            if page.next_url in seen:
                raise RegistryError(
                    f"{what}: the next page leads back to one already read ({redact_url(page.next_url)})",
                    status=200,
                )
            seen.add(page.next_url)
            page = more(page.next_url)
            names.extend(page.items)

    def _next_page(self, response: urllib3.BaseHTTPResponse, url: str, what: str) -> str | None:
        """The next page's URL from the answer's ``Link`` header (``None`` at the end): on the
        registry's own host only (a list never leads elsewhere)."""
        link = next_link(response.headers.get("Link"), what)
        next_url = resolve(urljoin(self.base_url(), url), link, "next page") if link else None
        if next_url is not None:
            self.check_url(next_url, "next page")
            if origin(next_url) != origin(self.base_url()):
                raise InsecureRedirect(f"{what}: the next page is on another host: {redact_url(next_url)}")
        return next_url

    def tags_page(
        self, repository: Repository, *, n: int | None = None, last: str | None = None, url: str | None = None
    ) -> Page:
        """One page of ``GET /tags/list`` (or the page at ``url``, a previous page's ``next_url``)."""
        query = urlencode({k: v for k, v in (("n", n), ("last", last)) if v is not None})
        target = url or f"/v2/{repository.path}/tags/list" + (f"?{query}" if query else "")
        return self._page(target, [pull_scope(repository)], "tags", f"tags of {repository.name}")

    def catalog_page(self, *, n: int | None = None, last: str | None = None, url: str | None = None) -> Page:
        """One page of ``GET /v2/_catalog`` (or the page at ``url``)."""
        query = urlencode({k: v for k, v in (("n", n), ("last", last)) if v is not None})
        target = url or "/v2/_catalog" + (f"?{query}" if query else "")
        return self._page(target, [self.registry.scope()], "repositories", f"catalog of {self.registry}")

    def referrers(self, repository: Repository, digest: Hash, *, artifact_type: str | None = None) -> bytes | None:
        """``GET /referrers/<digest>``: the index of referrers (every page of it, following
        ``Link``, merged into one index), or ``None`` if the registry has no referrers API (then
        the ``sha256-<hex>`` tag is the fallback). Registries without the API answer 404
        (distribution 2.8, Quay, GitLab), 400, 405 or 406, or something that is not an OCI index
        (an HTML page from a front end), or fail in other ways (401 from a front end that guards
        unknown paths, 500): all mean "use the fallback tag", whose own answer then says what is
        wrong, if anything. A later page that fails is an error: a partial list is never whole.
        All pages together are one index, held whole: they may add up to ``manifest_limit`` bytes,
        and lead back to no page already read.

        :raises ~ocimodel.errors.ManifestTooLarge: the pages add up to more than ``manifest_limit``.
        """
        query = f"?{urlencode({'artifactType': artifact_type})}" if artifact_type else ""
        what = f"referrers of {repository.name}@{digest}"
        url: str | None = f"/v2/{repository.path}/referrers/{digest}{query}"
        pages: list[bytes] = []
        seen: set[str] = set()
        while url is not None:
            if url in seen:
                raise RegistryError(f"{what}: the next page leads back to one already read", status=200)
            seen.add(url)
            try:
                response, data = self.fetch(
                    url,
                    scopes=[pull_scope(repository)],
                    headers={"Accept": MediaType.OCI_INDEX},
                    limit=self.manifest_limit - sum(len(page) for page in pages),
                    what=what,
                    ok=(200, 404, 400, 405, 406),
                )
            except RegistryError as error:  # the API is an optimisation: the tag schema is always there
                if pages:
                    raise
                log.debug("referrers API of %s refused (%s): the fallback tag is used", repository, error)
                return None
            is_index = MediaType(response.headers.get("Content-Type", "")).essence == MediaType.OCI_INDEX
            if response.status != 200 or not is_index:
                if pages:
                    raise RegistryError(f"{what}: page {len(pages) + 1} is not an OCI index", status=response.status)
                return None
            pages.append(data)
            url = self._next_page(response, url, what)
        return pages[0] if len(pages) == 1 else _merged_index(pages, what)

    def close(self) -> None:
        """Close the pools this client made (not one given to it)."""
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _merged_index(pages: Sequence[bytes], what: str) -> bytes:
    """One OCI index from the pages of a paginated one: the first page's fields, every page's
    ``manifests`` in order."""
    try:
        parsed = [loads(page, what) for page in pages]
        merged = dict(parsed[0])
        merged["manifests"] = [entry for page in parsed for entry in page.get("manifests") or []]
    except (ValueError, AttributeError, TypeError):
        raise RegistryError(f"{what}: a page is not an OCI index", status=200) from None
    return json.dumps(merged, separators=(",", ":")).encode()


def _said_digest(response: urllib3.BaseHTTPResponse) -> Hash | None:
    """The answer's ``Docker-Content-Digest`` (``None`` if absent or not a digest: it is optional)."""
    try:
        return Hash.parse(response.headers.get("Docker-Content-Digest", ""))
    except ValueError:
        return None


def _check_own_type(data: bytes, media_type: MediaType, what: str) -> None:
    """A manifest whose own ``mediaType`` names another manifest type than the ``Content-Type``
    it came with is refused: one of the two claims is false, and acting on the header would
    copy or read the document as what it is not (image-spec, "Guidelines for Artifact Usage" and
    the ``mediaType`` field, there to prevent such confusion). A generic header, or a document
    with no ``mediaType`` (or that is no JSON: its reader says so), is not a contradiction.

    :raises ~ocimodel.errors.UnsupportedMediaType: the two name different manifest types.
    """
    if not media_type.is_manifest() or b'"mediaType"' not in data:
        return
    try:
        document = loads(data, what)
    except BadJSONError:
        return
    own = document.get("mediaType") if isinstance(document, dict) else None
    if isinstance(own, str) and MediaType(own).is_manifest() and MediaType(own).essence != media_type.essence:
        raise UnsupportedMediaType(
            f"{what}: the registry sent it as {media_type.essence}, but the document says it is "
            f"{shown(MediaType(own).essence)}; one of them is false, so it is neither read nor copied"
        )


def _check_said(response: urllib3.BaseHTTPResponse, asked: Hash | None, what: str) -> None:
    """Refuse an answer whose ``Docker-Content-Digest`` names, in ``asked``'s algorithm, another
    digest than ``asked``: a claim about what was asked for that contradicts it is an error, not
    an answer (one in another algorithm can be neither checked nor refuted here).

    :raises ~ocimodel.errors.DigestMismatch: it does.
    """
    said = _said_digest(response)
    if asked is not None and said is not None and said.algorithm == asked.algorithm and said != asked:
        raise DigestMismatch(f"{what}: the registry named another", asked, said)
    raw = response.headers.get("Docker-Content-Digest")
    if asked is None or said is not None or raw is None:
        return
    # not one digest: several headers ("D, O"), or one spelt as no digest is (upper-case hex)
    claims = [claim.strip().lower() for claim in raw.split(",")]
    if any(claim.startswith(f"{asked.algorithm}:") and claim != str(asked) for claim in claims):
        raise DigestMismatch(f"{what}: the registry named another ({raw[:80]!r})", asked, None)


def _digest_or_none(reference: str) -> Hash | None:
    """``reference`` as a digest, if it is one (else it is a tag)."""
    if ":" not in reference:
        return None
    try:
        return Hash.parse(reference)
    except ValueError:
        return None
