"""The low-level registry client: one method per distribution-spec request, on one urllib3 pool."""

from __future__ import annotations

import functools
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any, Final, cast
from urllib.parse import urlencode, urljoin, urlsplit
from urllib.request import getproxies_environment, proxy_bypass

import attrs
import urllib3

from ocimodel._version import __version__
from ocimodel.authn import Authenticator, Keychain, StaticKeychain, default_keychain
from ocimodel.errors import (
    Cancelled,
    CredentialsError,
    InsecureRedirect,
    ManifestTooLarge,
    RegistryError,
    TransportError,
    UntrustedCertificate,
)
from ocimodel.hashing import Hash
from ocimodel.mediatype import MediaType
from ocimodel.name import Registry, Repository
from ocimodel.transport._auth import Auth, check_target
from ocimodel.transport._challenge import Challenge, parse_challenges, preferred
from ocimodel.transport._errors import registry_error
from ocimodel.transport._redact import redact_url
from ocimodel.transport._retry import RetryPolicy
from ocimodel.transport._tls import https_pool_options, tls_context

log = logging.getLogger("ocimodel.transport")

#: Every manifest type ocimodel reads, for ``Accept`` (OCI first; a registry may refuse to convert).
MANIFEST_TYPES: Final = (
    MediaType.OCI_MANIFEST,
    MediaType.OCI_INDEX,
    MediaType.DOCKER_MANIFEST_SCHEMA2,
    MediaType.DOCKER_MANIFEST_LIST,
    MediaType.DOCKER_MANIFEST_SCHEMA1,
    MediaType.DOCKER_MANIFEST_SCHEMA1_SIGNED,
)
#: What a request can send: bytes, a binary stream, or pieces sent one after the other (each may
#: reuse the previous one's buffer: it is sent before the next is asked for).
Body = bytes | IO[bytes] | Iterable[bytes | memoryview]
MANIFEST_LIMIT: Final = 4 << 20
ERROR_LIMIT: Final = 64 << 10
_REDIRECTS = 10
_UPLOAD_PIECE = 256 << 10


@attrs.frozen
class ManifestHead:
    """What ``HEAD /manifests/<ref>`` says: media type, size and digest."""

    media_type: MediaType
    size: int
    digest: Hash


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


def _next_link(response: urllib3.BaseHTTPResponse, request_url: str) -> str | None:
    link = response.headers.get("Link", "")
    if not link.startswith("<"):
        return None
    target = link[1 : link.find(">")]
    return urljoin(request_url, target) if target else None


def _speaks_tls(error: TransportError) -> bool:
    """Whether a failed https attempt reached a TLS server (a certificate or handshake problem),
    rather than a plain http one or nothing at all."""
    cause = error.__cause__
    if not isinstance(cause, urllib3.exceptions.SSLError):
        return False
    text = str(cause).upper()
    return not any(
        sign in text for sign in ("WRONG_VERSION_NUMBER", "RECORD LAYER FAILURE", "HTTP_REQUEST", "UNKNOWN_PROTOCOL")
    )


def _offset(response: urllib3.BaseHTTPResponse) -> int:
    """The registry's ``Range: 0-<last>`` as the next byte it expects (``bytes=`` tolerated)."""
    value = response.headers.get("Range", "").removeprefix("bytes=")
    first, dash, last = value.partition("-")
    if dash and first.strip() == "0" and last.strip().isdigit():
        return int(last) + 1
    return 0


class Client:
    """The distribution-spec conversation with one registry.

    Methods map one-to-one onto the spec's requests and return plain values (or, for blob
    downloads, the open response). Underneath: one urllib3 pool (connection reuse, thread-safe), a
    timeout on every connect and read, body caps that raise rather than truncate, the auth
    handshake (:class:`~ocimodel.transport.Auth`), and retries of transient failures
    (:class:`RetryPolicy`) for every request whose body can be sent again.

    :param registry: the registry (a name is parsed with :class:`~ocimodel.name.Registry`).
    :param auth: credentials to use for everything (overrides ``keychain``).
    :param keychain: where to find credentials per repository (default: docker's and podman's files).
    :param insecure: allow plain http for any registry (https is still tried first).
    :param ca_file: CA certificates to trust (``SSL_CERT_FILE`` is honoured too).
    :param client_cert: a client certificate file, or ``(certificate, key)`` files.
    :param verify: ``False`` skips TLS verification (an explicit opt-in; never the default).
    :param timeout: seconds for each connect and each read.
    :param user_agent: a prefix for ``User-Agent`` (``"<prefix> ocimodel/<version>"``).
    :param pool: a :class:`urllib3.PoolManager` the caller owns (proxies are then the caller's too).
    :param cancel: an event that, once set, stops the client before its next request (raising
        :class:`~ocimodel.errors.Cancelled`); blob reads check it between chunks too.
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
    ) -> None:
        self.registry = registry if isinstance(registry, Registry) else Registry(registry, insecure=insecure)
        self._insecure = insecure or self.registry.insecure
        self.retry = retry or RetryPolicy()
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.manifest_limit = manifest_limit
        self.cancel = cancel
        agent = f"ocimodel/{__version__}"
        self.user_agent = f"{user_agent} {agent}" if user_agent else agent
        self._tls_settings = (ca_file, client_cert, verify)
        # Files the caller names are read now, so that a bad one is reported before any request;
        # the system's CA store is read when the first https connection needs it.
        self._tls: ssl.SSLContext | None = None
        if ca_file or client_cert:
            try:
                self._tls = tls_context(ca_file, client_cert, verify)
            except OSError as error:
                raise CredentialsError(f"cannot use the TLS files {ca_file=}, {client_cert=}: {error}") from error
        self._own_pool = pool
        self._pools: dict[tuple[str | None, bool], urllib3.PoolManager] = {}
        self._proxies: dict[tuple[str, str], str | None] = {}  # (scheme, host): the proxy to use
        self._lock = threading.Lock()
        self._base_url: str | None = None
        chosen = StaticKeychain(auth) if auth is not None else keychain or default_keychain
        self.auth = Auth(self.registry, chosen, self._send_once)

    # ------------------------------------------------------------------ plumbing

    def _pool(self, url: str) -> urllib3.PoolManager:
        if self._own_pool is not None:
            return self._own_pool
        parts = urlsplit(url)
        with self._lock:
            place = (parts.scheme, parts.hostname or "")
            if place not in self._proxies:  # read once per host: the lookup walks the whole environment
                bypass = proxy_bypass(place[1])
                self._proxies[place] = None if bypass else getproxies_environment().get(parts.scheme)
            proxy = self._proxies[place]
            # One pool per proxy and scheme: only https pools need the TLS context (and its CA store).
            key = (proxy, parts.scheme == "https")
            if key not in self._pools:
                # maxsize: enough for parallel transfers to keep their connections; blocksize: how
                # much of a streamed body each send takes (urllib3's 16 KiB means 16k reads and
                # hash updates per 256 MiB)
                options: dict[str, Any] = {"maxsize": 16, "blocksize": _UPLOAD_PIECE}
                if parts.scheme == "https":
                    if self._tls is None:
                        self._tls = tls_context(*self._tls_settings)
                    options.update(https_pool_options(self._tls))
                if proxy:
                    self._pools[key] = urllib3.ProxyManager(proxy, **options)
                else:
                    self._pools[key] = urllib3.PoolManager(**options)
            return self._pools[key]

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body | None = None,
        chunked: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        """One HTTP exchange (redirects followed, ``Authorization`` dropped across hosts);
        connection failures become :class:`TransportError`."""
        self.check_cancelled()
        sent = {"User-Agent": self.user_agent, **(headers or {})}
        started = time.monotonic()
        log.debug("--> %s %s", method, redact_url(url))
        try:
            pool = self._pool(url)
        except OSError as error:  # SSL_CERT_FILE names a file that cannot be read or used: no fallback
            raise CredentialsError(f"{method} {redact_url(url)}: cannot load CA certificates: {error}") from error
        try:
            response = pool.request(
                method,
                url,
                headers=sent,
                body=cast(Any, body),  # urllib3 sends memoryview pieces too; its annotation says bytes
                chunked=chunked,
                preload_content=False,
                redirect=True,
                retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=_REDIRECTS),
                timeout=self.timeout,
            )
        except urllib3.exceptions.HTTPError as error:
            raise self._transport_error(method, url, error) from (getattr(error, "reason", None) or error)
        log.debug("<-- %s %s (%.3f s)", response.status, redact_url(url), time.monotonic() - started)
        return response

    def check_cancelled(self) -> None:
        """Raise :class:`~ocimodel.errors.Cancelled` if the caller's ``cancel`` event is set."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"cancelled: no more requests to {self.registry}")

    @staticmethod
    def _transport_error(method: str, url: str, error: Exception) -> TransportError:
        reason = getattr(error, "reason", None) or error
        shown = redact_url(url)
        log.debug("<-- %s %s failed: %s", method, shown, reason)
        if "CERTIFICATE_VERIFY_FAILED" in str(reason):
            return UntrustedCertificate(
                f"{method} {shown}: the certificate is not trusted ({reason}); "
                "pass ca_file= or set SSL_CERT_FILE to trust its CA",
                method=method,
                url=shown,
            )
        return TransportError(f"{method} {shown}: {reason}", method=method, url=shown)

    def base_url(self) -> str:
        """``scheme://registry``, with the scheme settled by a ping the first time it is asked."""
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
            try:
                # Only the last candidate is retried: a failed https probe falls back at once.
                last_try = scheme == schemes[-1]
                response = self._retrying(
                    "GET", url, functools.partial(self._send_once, "GET", url), replayable=last_try
                )
            except TransportError as error:
                if scheme == "https" and _speaks_tls(error):
                    raise  # a TLS server that refused us: plain http would only hide why
                last = error
                continue
            body = response.read(ERROR_LIMIT)
            response.drain_conn()
            if response.status == 200:
                challenge = None
            elif response.status == 401:
                challenge = preferred(parse_challenges(response.headers.getlist("WWW-Authenticate")))
            else:
                raise registry_error("GET", url, response.status, body)
            with self._lock:
                self._base_url = f"{scheme}://{self.registry.name}"
            self.auth.set_challenge(url, challenge)
            return challenge
        assert last is not None
        raise last

    def _retrying(
        self,
        method: str,
        url: str,
        send: Callable[[], urllib3.BaseHTTPResponse],
        *,
        replayable: bool,
    ) -> urllib3.BaseHTTPResponse:
        """``send()`` again on connection failures and retryable statuses, as the policy allows."""
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            try:
                response = send()
            except TransportError:
                if not replayable or attempt >= self.retry.attempts:
                    raise
                delay = self.retry.delay(attempt)
                if waited + delay > self.retry.budget:
                    raise
            else:
                if not (replayable and self.retry.retries_status(response.status) and attempt < self.retry.attempts):
                    return response
                delay = self.retry.delay(attempt, response.headers.get("Retry-After"))
                if waited + delay > self.retry.budget:
                    return response
                response.drain_conn()
            log.debug("retrying %s %s in %.2f s (attempt %d)", method, redact_url(url), delay, attempt + 1)
            time.sleep(delay)
            waited += delay

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
        """One spec request, authenticated for ``scopes``, retried when safe.

        ``url`` may be a path (``/v2/…``), resolved against :meth:`base_url`. Returns the open
        response if its status is in ``ok``; raises the matching
        :class:`~ocimodel.errors.RegistryError` otherwise. A ``body`` that is a stream is sent once,
        and so is any request with ``replay=False`` (upload chunks and commits, which a registry
        may have taken even if its answer was lost: the caller asks it before sending again).
        """
        target = urljoin(self.base_url(), url)
        accepted = set(ok)
        replayable = replay and (body is None or isinstance(body, bytes))
        reauthenticated = False

        def send() -> urllib3.BaseHTTPResponse:
            sent = dict(headers or {})
            authorization = self.auth.header(target, scopes)
            if authorization:
                sent["Authorization"] = authorization
            return self._send_once(method, target, headers=sent, body=body, chunked=chunked)

        while True:
            response = self._retrying(method, target, send, replayable=replayable)
            if response.status == 401 and not reauthenticated and replayable:
                challenges = response.headers.getlist("WWW-Authenticate")
                if self.auth.unauthorized(target, scopes, challenges):
                    reauthenticated = True
                    response.drain_conn()
                    continue
            if response.status in accepted:
                return response
            data = response.read(ERROR_LIMIT) if method != "HEAD" else b""
            response.drain_conn()
            raise registry_error(method, target, response.status, data)

    def fetch(
        self,
        url: str,
        *,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None = None,
        limit: int,
        what: str,
    ) -> tuple[urllib3.BaseHTTPResponse, bytes]:
        """``GET`` a small body whole (at most ``limit`` bytes): a connection that breaks while the
        body is read is retried like one that breaks before."""
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            response = self.request("GET", url, scopes=scopes, headers=headers)
            try:
                return response, self._read_capped(response, limit, what)
            except urllib3.exceptions.HTTPError as error:
                failure = self._transport_error("GET", urljoin(self.base_url(), url), error)
            delay = self.retry.delay(attempt)
            if attempt >= self.retry.attempts or waited + delay > self.retry.budget:
                raise failure
            time.sleep(delay)
            waited += delay

    def _read_capped(self, response: urllib3.BaseHTTPResponse, limit: int, what: str) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            response.drain_conn()
            raise ManifestTooLarge(f"{what} is {declared} bytes, more than the {limit}-byte limit")
        data = response.read(limit + 1)
        response.drain_conn()
        if len(data) > limit:
            raise ManifestTooLarge(f"{what} is more than the {limit}-byte limit")
        return bytes(data)

    def token(self, scopes: Sequence[str]) -> str | None:
        """The ``Authorization`` value this client would send for ``scopes`` (a bearer token from
        the registry's token server, basic credentials, or ``None`` where no auth is needed)."""
        self.base_url()
        return self.auth.header(self.base_url() + "/v2/", scopes)

    # ------------------------------------------------------------------ manifests

    def head_manifest(self, repository: Repository, reference: str) -> ManifestHead | None:
        """``HEAD /manifests/<reference>``: what the registry has there, or ``None`` (404)."""
        response = self.request(
            "HEAD",
            f"/v2/{repository.path}/manifests/{reference}",
            scopes=[pull_scope(repository)],
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
            ok=(200, 404),
        )
        response.drain_conn()
        if response.status == 404:
            return None
        try:
            return ManifestHead(
                MediaType(response.headers["Content-Type"]),
                int(response.headers["Content-Length"]),
                Hash.parse(response.headers["Docker-Content-Digest"]),
            )
        except (KeyError, ValueError):
            raise RegistryError(
                f"HEAD of {repository.name}:{reference} lacks Content-Type, Content-Length or Docker-Content-Digest",
                status=response.status,
                method="HEAD",
            ) from None

    def get_manifest(
        self, repository: Repository, reference: str, *, accept: Sequence[str] = MANIFEST_TYPES
    ) -> ManifestBody:
        """``GET /manifests/<reference>``: the exact bytes (capped at ``manifest_limit``)."""
        response, data = self.fetch(
            f"/v2/{repository.path}/manifests/{reference}",
            scopes=[pull_scope(repository)],
            headers={"Accept": ", ".join(accept)},
            limit=self.manifest_limit,
            what=f"manifest {repository.name}:{reference}",
        )
        media_type = MediaType(response.headers.get("Content-Type", MediaType.OCI_MANIFEST))
        return ManifestBody(data, media_type, Hash.sha256(data))

    def put_manifest(self, repository: Repository, reference: str, data: bytes, media_type: str) -> Hash:
        """``PUT /manifests/<reference>``; returns the digest of what was sent."""
        response = self.request(
            "PUT",
            f"/v2/{repository.path}/manifests/{reference}",
            scopes=[push_scope(repository)],
            headers={"Content-Type": str(media_type)},
            body=bytes(data),
            ok=(200, 201, 202),
        )
        response.drain_conn()
        return Hash.sha256(data)

    def delete_manifest(self, repository: Repository, reference: str) -> None:
        """``DELETE /manifests/<reference>`` (registries usually want a digest)."""
        response = self.request(
            "DELETE",
            f"/v2/{repository.path}/manifests/{reference}",
            scopes=[delete_scope(repository)],
            ok=(200, 202),
        )
        response.drain_conn()

    # ------------------------------------------------------------------ blobs

    def head_blob(self, repository: Repository, digest: Hash) -> int | None:
        """``HEAD /blobs/<digest>``: the blob's size, or ``None`` if the repository lacks it."""
        response = self.request(
            "HEAD", f"/v2/{repository.path}/blobs/{digest}", scopes=[pull_scope(repository)], ok=(200, 404)
        )
        response.drain_conn()
        if response.status == 404:
            return None
        length = response.headers.get("Content-Length", "")
        return int(length) if length.isdigit() else -1

    def get_blob(self, repository: Repository, digest: Hash, *, start: int = 0) -> urllib3.BaseHTTPResponse:
        """``GET /blobs/<digest>``, from byte ``start`` (``Range``) when not 0.

        Returns the open response (status 200, or 206 if the range was honoured); read it and
        close it. Redirects to storage elsewhere are followed without our ``Authorization``.
        """
        headers = {"Range": f"bytes={start}-"} if start else None
        return self.request(
            "GET",
            f"/v2/{repository.path}/blobs/{digest}",
            scopes=[pull_scope(repository)],
            headers=headers,
            ok=(200, 206) if start else (200,),
        )

    def delete_blob(self, repository: Repository, digest: Hash) -> None:
        """``DELETE /blobs/<digest>``."""
        response = self.request(
            "DELETE", f"/v2/{repository.path}/blobs/{digest}", scopes=[delete_scope(repository)], ok=(200, 202)
        )
        response.drain_conn()

    # ------------------------------------------------------------------ uploads

    def _location(self, response: urllib3.BaseHTTPResponse, request_url: str) -> str:
        location = response.headers.get("Location")
        response.drain_conn()
        if not location:
            raise RegistryError(
                f"the registry answered {response.status} to an upload without a Location", status=response.status
            )
        absolute = urljoin(request_url, location)
        check_target(absolute, self.registry, "upload location")
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
        are given (the source's pull scope is asked for too). A 201 means mounted."""
        query = ""
        scopes = [push_scope(repository), *extra_scopes]
        if mount is not None and source is not None:
            query = "?" + urlencode({"mount": str(mount), "from": source.path})
            scopes.append(pull_scope(source))
        url = urljoin(self.base_url(), f"/v2/{repository.path}/blobs/uploads/{query}")
        response = self.request("POST", url, scopes=scopes, ok=(201, 202))
        if response.status == 201:
            response.drain_conn()
            return UploadState("", mounted=True)
        minimum = response.headers.get("OCI-Chunk-Min-Length", "")
        return UploadState(
            self._location(response, url), _offset(response), min_chunk=int(minimum) if minimum.isdigit() else 0
        )

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
        return UploadState(self._location(response, location), _offset(response))

    def finish_upload(self, repository: Repository, location: str, digest: Hash, body: bytes = b"") -> Hash:
        """``PUT <location>&digest=…``, with the last chunk (or the whole blob) as the body."""
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
        response.drain_conn()
        returned = response.headers.get("Docker-Content-Digest")
        return Hash.parse(returned) if returned else digest

    def upload_status(self, repository: Repository, location: str) -> UploadState:
        """``GET <location>``: how many bytes of the upload the registry holds."""
        response = self.request("GET", location, scopes=[push_scope(repository)], ok=(204, 200))
        return UploadState(self._location(response, location), _offset(response))

    def cancel_upload(self, repository: Repository, location: str) -> None:
        """``DELETE <location>``: give an upload up."""
        response = self.request("DELETE", location, scopes=[push_scope(repository)], ok=(204, 200, 202, 404))
        response.drain_conn()

    # ------------------------------------------------------------------ listings

    def _page(self, url: str, scopes: Sequence[str], key: str, what: str) -> Page:
        response, data = self.fetch(url, scopes=scopes, limit=self.manifest_limit, what=what)
        try:
            items = json.loads(data).get(key) or []
        except (ValueError, AttributeError):
            raise RegistryError(f"{what}: the registry's answer is not JSON", status=response.status) from None
        next_url = _next_link(response, urljoin(self.base_url(), url))
        if next_url is not None:
            check_target(next_url, self.registry, "next page")
            if urlsplit(next_url).netloc != urlsplit(self.base_url()).netloc:
                raise InsecureRedirect(f"{what}: the next page is on another host: {redact_url(next_url)}")
        return Page(tuple(str(item) for item in items), next_url)

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
        """``GET /referrers/<digest>``: the index of referrers, or ``None`` if the registry has no
        referrers API (then the ``sha256-<hex>`` tag is the fallback)."""
        query = f"?{urlencode({'artifactType': artifact_type})}" if artifact_type else ""
        response = self.request(
            "GET",
            f"/v2/{repository.path}/referrers/{digest}{query}",
            scopes=[pull_scope(repository)],
            headers={"Accept": MediaType.OCI_INDEX},
            ok=(200, 404, 400, 406),
        )
        is_index = MediaType(response.headers.get("Content-Type", "")).essence == MediaType.OCI_INDEX
        if response.status != 200 or not is_index:
            response.drain_conn()
            return None
        return self._read_capped(response, self.manifest_limit, f"referrers of {repository.name}@{digest}")

    def close(self) -> None:
        """Close the pools this client made (not one given to it)."""
        with self._lock:
            for pool in self._pools.values():
                pool.clear()
            self._pools.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
