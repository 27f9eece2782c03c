"""One request policy for every HTTP request: retries, timeouts, cancellation, redirects hop by hop.

Every request ocimodel makes — to a registry, to a token realm, along a redirect, for an upload
step, for a foreign layer — goes through :meth:`Transport.send`. It owns:

- **the pools**: one urllib3 pool per proxy and scheme, with one TLS context (read once) for https;
  the proxy chosen per host by Go's rules (:class:`~ocimodel.transport.ProxyRules`), loopback never
  proxied;
- **redirects, followed hop by hop** (never inside urllib3): each hop is checked by the caller's
  guard (no request to an address the user did not name), never leads from https down to plain
  http unless the caller allows http, gets its own proxy decision and its own
  retries, and its own ``Authorization``: a header the caller set is dropped when a hop leaves the
  origin it was meant for, and a host that challenges (401) is answered with that host's own
  credentials (:data:`AuthFor`), never another's;
- **retries** (:class:`~ocimodel.transport.RetryPolicy`): connection failures and retryable
  statuses, ``Retry-After`` honoured, within the policy's budget; a refused connection is retried
  once, quickly (nothing listens there: waiting will not help); a request whose body cannot be
  sent again is never resent, and one that may have been taken (an upload step) is resent only
  after an answer that says it was not (429, 503);
- **timeouts** on every connect and read, and a **deadline** on what per-read timeouts do not
  bound: an answer's status line and headers, whole within ``timeout`` seconds
  (:mod:`~ocimodel.transport._deadline`);
- **cancellation** before each hop, during waits and between the pieces of a streamed body (an
  upload is abandoned at its next piece, not its end).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, Final, Protocol, TypeVar, cast
from urllib.parse import unquote, urlsplit

import attrs
import urllib3

from ocimodel._mask import logger as masked_logger
from ocimodel._mask import remember
from ocimodel.errors import (
    Cancelled,
    CredentialsError,
    InsecureRedirect,
    RegistryError,
    TransportError,
    UntrustedCertificate,
)
from ocimodel.transport._deadline import POOL_CLASSES, too_late
from ocimodel.transport._guard import resolve, url_host
from ocimodel.transport._proxy import ProxyRules
from ocimodel.transport._redact import redact_url
from ocimodel.transport._retry import RetryPolicy
from ocimodel.transport._tls import https_pool_options, tls_context

log = masked_logger("ocimodel.transport")
T = TypeVar("T")

#: What a request can send: bytes, a binary stream, or pieces sent one after the other (each may
#: reuse the previous one's buffer: it is sent before the next is asked for).
Body = bytes | IO[bytes] | Iterable[bytes | memoryview]
#: How many redirects one request follows (Go's and urllib3's limit).
MAX_REDIRECTS: Final = 10
#: Statuses that are redirects to follow.
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
#: Answers that say a request was not taken: safe to resend even when the request is not idempotent.
NOT_TAKEN_STATUSES: Final = frozenset({429, 503})
#: The most of a body read only to reuse its connection; past it the connection is closed instead.
DISCARD_LIMIT: Final = 64 << 10
#: The longest a body read only to reuse its connection is read; past it the connection is closed.
DISCARD_SECONDS: Final = 1.0
_UPLOAD_PIECE = 256 << 10


class HostAuth(Protocol):
    """Answers one host's challenges: an ``Authorization`` value for a request there, and what to
    do with its 401 (:class:`~ocimodel.transport.Auth` is one)."""

    def header(self, url: str, scopes: Sequence[str]) -> str | None: ...

    def unauthorized(self, url: str, scopes: Sequence[str], www_authenticate: Sequence[str]) -> bool: ...


#: Given an origin (``scheme://host:port``), the auth for that host, or ``None`` to send none.
AuthFor = Callable[[str], HostAuth | None]
#: Raises if a URL must not be requested (a redirect to a private address, say).
Guard = Callable[[str], None]


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, the default port made explicit: what "the same host"
    means, the host read as urllib3 (which connects) reads it (``""`` for what is not a URL)."""
    try:
        scheme, host, port = url_host(url)
    except ValueError:
        return ""
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def _proxy_manager(proxy: str, options: dict[str, Any]) -> urllib3.ProxyManager:
    """A pool through ``proxy``: its credentials (``http://user:pass@proxy``, as Go takes them)
    go in ``Proxy-Authorization``, to the proxy only.

    :raises ~ocimodel.errors.TransportError: the proxy is not an http(s) URL ocimodel can use.
    """
    try:
        parsed = urllib3.util.parse_url(proxy)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise TransportError(f"proxy {redact_url(proxy)!r}: only http and https proxies can be used")
        headers = urllib3.util.make_headers(proxy_basic_auth=unquote(parsed.auth)) if parsed.auth else None
        if headers:  # what a proxy's error page may echo: masked in messages as ours are
            remember(headers["proxy-authorization"])
        bare = parsed._replace(auth=None).url
        return urllib3.ProxyManager(bare, proxy_headers=headers, **options)
    except (urllib3.exceptions.HTTPError, ValueError) as error:
        shown = redact_url(proxy)  # urllib3 quotes the whole URL, its user and password included
        raise TransportError(f"proxy {shown!r} cannot be used: {str(error).replace(proxy, shown)}") from None


def discard(response: urllib3.BaseHTTPResponse) -> None:
    """Finish with a response whose body is not wanted: read a small rest so the connection can be
    reused, but never more than :data:`DISCARD_LIMIT` nor for longer than :data:`DISCARD_SECONDS`
    (a server must not decide how long we read); past either the connection is closed. A
    compressed body is never read on (the bytes it would decode to are the server's to choose):
    its connection is closed."""
    try:
        if response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
            response.close()
            return
        deadline, count = time.monotonic() + DISCARD_SECONDS, 0
        while piece := response.read1(DISCARD_LIMIT + 1 - count, decode_content=False):
            count += len(piece)
            if count > DISCARD_LIMIT or time.monotonic() > deadline:
                response.close()
                break
    except (urllib3.exceptions.HTTPError, OSError, RuntimeError):
        response.close()
    finally:
        response.release_conn()


def release(response: urllib3.BaseHTTPResponse) -> None:
    """Give a response's connection back: for reuse if its body was read to the end, closed if not
    (a connection with unread body bytes would hand them to the next request as its answer)."""
    raw = getattr(response, "_fp", None)
    if not (isinstance(raw, http.client.HTTPResponse) and raw.isclosed()):
        response.close()
    response.release_conn()


def read_within(response: urllib3.BaseHTTPResponse, limit: int, seconds: float) -> bytes:
    """At most ``limit`` bytes of a small body (decoded), which must arrive within ``seconds``
    (give or take one read's timeout): a server that sends a byte now and then must not keep us
    reading either. Blobs are not read this way: they may take as long as they keep moving.

    :raises ~ocimodel.errors.TransportError: the body is still coming after ``seconds``.
    """
    deadline = time.monotonic() + seconds
    pieces: list[bytes] = []
    count = 0
    while count < limit:
        piece = response.read1(min(limit - count, 1 << 16), decode_content=True)
        if not piece:
            break
        pieces.append(piece)
        count += len(piece)
        if count < limit and time.monotonic() > deadline:
            response.close()  # still coming: not worth waiting for, nor reusing
            url = redact_url(response.url or "")
            raise TransportError(
                f"the answer from {url} was still arriving after {seconds:g} s (timeout= gives it longer)", url=url
            )
    return b"".join(pieces)


def read_capped(response: urllib3.BaseHTTPResponse, limit: int, seconds: float = 30.0) -> bytes:
    """At most ``limit`` bytes of a body (decoded), as much as arrives within ``seconds``; nothing
    if the connection breaks first, or the body cannot be decoded. For error bodies and the like,
    where what matters is what they say, not that they are whole."""
    deadline = time.monotonic() + seconds
    pieces: list[bytes] = []
    count = 0
    try:
        while count < limit:
            if time.monotonic() > deadline:
                response.close()  # still coming: not worth waiting for, nor reusing
                break
            piece = response.read1(min(limit - count, 1 << 16), decode_content=True)
            if not piece:
                break
            pieces.append(piece)
            count += len(piece)
    except (urllib3.exceptions.HTTPError, OSError, RuntimeError):
        return b""
    return b"".join(pieces)


def refused(error: BaseException) -> bool:
    """Whether a failure was a refused connection (nothing listens there) or a name that does not
    resolve: waiting will not change either, so they are tried again once, quickly (Go does not
    retry a name that is not found at all)."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError | socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _redirected_method(status: int, method: str) -> str:
    """The method of the next hop: 303 turns anything but HEAD into GET, as do 301 and 302 for a
    POST (what every HTTP client does); 307 and 308 keep the method and the body."""
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


class Transport:
    """Sends requests under one policy (see the module's documentation); thread-safe.

    :param retry: what is retried and for how long.
    :param timeout: seconds for each connect and each read, for every answer's status line and
        headers to arrive whole, and for a small answer's body (a manifest, a page, a token, an
        error) to arrive whole.
    :param user_agent: the ``User-Agent`` of every request.
    :param ca_file: CA certificates to trust (``SSL_CERT_FILE`` is honoured too).
    :param client_cert: a client certificate file, or ``(certificate, key)`` files.
    :param verify: ``False`` skips TLS verification.
    :param pool: a :class:`urllib3.PoolManager` the caller owns (proxies are then the caller's too,
        and so are its connections: the deadline on headers is kept only by the pools made here).
    :param proxies: proxy rules (default: from the environment, read once).
    :param cancel: an event that, once set, stops every request before its next hop or retry.
    :param home: ``host[:port]`` of the registry: the one host that gets ``ca_file`` alone as its
        trust and ``client_cert`` (others trust the system's CAs too, and get no certificate);
        ``None``: every host is treated alike.
    :param insecure: follow a redirect from https down to plain http (refused otherwise: the hop
        would carry the request, and perhaps credentials, in clear text).
    :raises ~ocimodel.errors.CredentialsError: ``ca_file`` or ``client_cert`` cannot be read or used.
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        user_agent: str = "",
        ca_file: str | None = None,
        client_cert: str | tuple[str, str] | None = None,
        verify: bool = True,
        pool: urllib3.PoolManager | None = None,
        proxies: ProxyRules | None = None,
        cancel: threading.Event | None = None,
        home: str | None = None,
        insecure: bool = False,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.insecure = insecure
        #: Seconds for each connect and each read; a small answer read whole gets as long in all.
        self.seconds = timeout
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.user_agent = user_agent
        self.cancel = cancel
        self._tls_settings = (ca_file, client_cert, verify)
        self._home = origin(f"https://{home}") if home else None
        # Files the caller names are read now, so that a bad one is reported before any request;
        # the system's CA store is read when the first https connection needs it. The registry's
        # own host gets the caller's CA file and client certificate; other hosts (storage a
        # redirect leads to) trust the system's CAs and the CA file, and get no certificate: a
        # client certificate is a credential, and stays with its host.
        self._tls: dict[bool, ssl.SSLContext] = {}
        if ca_file or client_cert:
            try:
                self._tls[True] = tls_context(ca_file, client_cert, verify)
            except OSError as error:
                raise CredentialsError(f"cannot use the TLS files {ca_file=}, {client_cert=}: {error}") from error
        self._own_pool = pool
        self._proxies = proxies
        self._pools: dict[tuple[str | None, bool, bool], urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ pools

    def _pool(self, url: str) -> urllib3.PoolManager:
        if self._own_pool is not None:
            return self._own_pool
        with self._lock:
            if self._proxies is None:  # read once: the environment does not change under us
                self._proxies = ProxyRules.from_environment()
            proxy = self._proxies.proxy_for(url)
            https = url.startswith("https:")
            home = https and (self._home is None or origin(url) == self._home)
            # One pool per proxy, scheme and TLS context: only https pools need a context (and its
            # CA store), and only the registry's host gets the caller's certificate.
            key = (proxy, https, home)
            if key not in self._pools:
                # maxsize: enough for parallel transfers to keep their connections; blocksize: how
                # much of a streamed body each send takes (urllib3's 16 KiB means 16k reads and
                # hash updates per 256 MiB)
                options: dict[str, Any] = {"maxsize": 16, "blocksize": _UPLOAD_PIECE}
                if https:
                    if home not in self._tls:
                        ca_file, client_cert, verify = self._tls_settings
                        self._tls[home] = (
                            tls_context(ca_file, client_cert, verify)
                            if home
                            else tls_context(ca_file, None, verify, system=True)
                        )
                    options.update(https_pool_options(self._tls[home]))
                manager = _proxy_manager(proxy, options) if proxy else urllib3.PoolManager(**options)
                # connections whose answers' headers, and set-up, must end within the timeout
                manager.pool_classes_by_scheme = POOL_CLASSES
                self._pools[key] = manager
            return self._pools[key]

    def speaks_tls(self, url: str) -> bool | None:
        """Whether the server of ``url`` answers in TLS, by a bare handshake that reads no CA
        store (:func:`~ocimodel.transport._tls.speaks_tls`); ``None`` (unknown) where the
        connection is not ours to make: a caller's pool, or a proxy for ``url``."""
        from ocimodel.transport._tls import speaks_tls

        if self._own_pool is not None:
            return None
        with self._lock:
            if self._proxies is None:
                self._proxies = ProxyRules.from_environment()
            proxy = self._proxies.proxy_for(url)
        if proxy:
            return None
        _, host, port = url_host(url)
        return speaks_tls(host, port, self.seconds)

    def close(self) -> None:
        """Close the pools this transport made (not one given to it)."""
        with self._lock:
            for pool in self._pools.values():
                pool.clear()
            self._pools.clear()

    # ------------------------------------------------------------------ cancellation and waits

    def check_cancelled(self, what: str = "") -> None:
        """Raise :class:`~ocimodel.errors.Cancelled` if the caller's ``cancel`` event is set."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"cancelled{': ' + what if what else ''}")

    def _watched(self, body: Body | None, what: str) -> Body | None:
        """A streamed body (a stream or pieces) sent piece by piece with a check of ``cancel``
        before each piece, so that a cancelled upload ends at its next piece rather than when the
        whole blob has gone; bytes (resendable, and sent at once) are left as they are."""
        if self.cancel is None or body is None or isinstance(body, bytes):
            return body
        return self._pieces(body, what)

    def _pieces(self, body: IO[bytes] | Iterable[bytes | memoryview], what: str) -> Iterator[bytes | memoryview]:
        read = getattr(body, "read", None)
        pieces: Iterable[bytes | memoryview] = (
            iter(lambda: cast(bytes, read(_UPLOAD_PIECE)), b"") if callable(read) else cast(Iterable[bytes], body)
        )
        for piece in pieces:
            self.check_cancelled(what)
            yield piece

    def pause(self, seconds: float, what: str = "") -> None:
        """Wait ``seconds`` before a retry; a cancellation ends the wait at once."""
        if self.cancel is None:
            time.sleep(seconds)
        elif self.cancel.wait(seconds):
            raise Cancelled(f"cancelled{': ' + what if what else ''}")

    # ------------------------------------------------------------------ one hop

    def _hop(
        self,
        pool: urllib3.PoolManager,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body | None,
        chunked: bool,
    ) -> urllib3.BaseHTTPResponse:
        """One HTTP exchange through ``pool``, no redirect followed; connection failures become
        :class:`TransportError`."""
        self.check_cancelled(f"no more requests to {redact_url(url)}")
        started = time.monotonic()
        log.debug("--> %s %s", method, redact_url(url))
        body = self._watched(body, f"{method} {redact_url(url)} abandoned")
        try:
            response = pool.request(
                method,
                url,
                headers={"User-Agent": self.user_agent, **headers},
                body=cast(Any, body),  # urllib3 sends memoryview pieces too; its annotation says bytes
                chunked=chunked,
                preload_content=False,
                redirect=False,
                retries=False,
                timeout=self.timeout,
            )
        except urllib3.exceptions.HTTPError as error:
            raise transport_error(method, url, error) from (getattr(error, "reason", None) or error)
        log.debug("<-- %s %s (%.3f s)", response.status, redact_url(url), time.monotonic() - started)
        return response

    def _pool_for(self, method: str, url: str) -> urllib3.PoolManager:
        """The pool for ``url``; what keeps one from being made is the caller's set-up, not the
        network's: :class:`CredentialsError` for CA certificates that cannot be loaded (no
        fallback), :class:`TransportError` for a proxy URL that cannot be used."""
        try:
            return self._pool(url)
        except OSError as error:  # SSL_CERT_FILE names a file that cannot be read or used: no fallback
            raise CredentialsError(f"{method} {redact_url(url)}: cannot load CA certificates: {error}") from error

    def _attempts(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body | None,
        chunked: bool,
        *,
        replay: bool,
        resendable: bool,
    ) -> urllib3.BaseHTTPResponse:
        """One hop, tried again as the policy allows: after a connection failure when ``replay``
        (and the body can be sent again), after a retryable status when the body can be sent again
        (only :data:`NOT_TAKEN_STATUSES` when not ``replay``)."""
        policy = self.retry
        pool = self._pool_for(method, url)  # one that cannot be made (a proxy URL, a CA file) is not tried again
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            try:
                response = self._hop(pool, method, url, headers, body, chunked)
            except TransportError as error:
                nothing_there = refused(error)
                limit = min(policy.attempts, policy.refused_attempts) if nothing_there else policy.attempts
                # a server that was still sending its headers at the deadline is not asked again,
                # as one whose small body still trickles is not (read_within)
                if not (replay and resendable) or attempt >= limit or too_late(error):
                    raise
                delay = policy.refused_delay if nothing_there else policy.delay(attempt)
                if waited + delay > policy.budget:
                    raise
            else:
                status = response.status
                retryable = policy.retries_status(status) and (replay or status in NOT_TAKEN_STATUSES)
                if not (resendable and retryable and attempt < policy.attempts):
                    return response
                delay = policy.delay(attempt, response.headers.get("Retry-After"))
                if waited + delay > policy.budget:
                    return response
                discard(response)
            log.debug("retrying %s %s in %.2f s (attempt %d)", method, redact_url(url), delay, attempt + 1)
            self.pause(delay, f"no more requests to {redact_url(url)}")
            waited += delay

    def whole(
        self,
        method: str,
        url: str,
        send: Callable[[], urllib3.BaseHTTPResponse],
        read: Callable[[urllib3.BaseHTTPResponse], T],
    ) -> T:
        """``read(send())``, where a connection that breaks while the body is read is retried
        like one that breaks before: for small bodies read whole (manifests, pages, tokens)."""
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            response = send()
            try:
                return read(response)
            except urllib3.exceptions.HTTPError as error:
                failure = transport_error(method, url, error)
            delay = self.retry.delay(attempt)
            if attempt >= self.retry.attempts or waited + delay > self.retry.budget:
                raise failure
            self.pause(delay, f"no more requests to {redact_url(url)}")
            waited += delay

    # ------------------------------------------------------------------ a whole request

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body | None = None,
        chunked: bool = False,
        scopes: Sequence[str] = (),
        auth: AuthFor | None = None,
        guard: Guard | None = None,
        replay: bool = True,
    ) -> urllib3.BaseHTTPResponse:
        """Send a request and return the final answer (open: read it, or :func:`discard` it),
        whatever its status; redirects followed hop by hop (at most :data:`MAX_REDIRECTS`).

        ``auth`` gives each host's auth (``Authorization`` is asked of the host a hop goes to, and
        a 401 from that host is answered by it, once, when the body can be sent again); an
        ``Authorization`` in ``headers`` goes only to ``url``'s origin. ``guard`` vets every URL a
        redirect leads to. ``replay=False`` marks a request a server may have acted on even if its
        answer was lost (upload steps): it is resent only after an answer saying it was not taken.

        :raises ~ocimodel.errors.TransportError: the connection failed (after the retries).
        :raises ~ocimodel.errors.Cancelled: the ``cancel`` event was set.
        """
        resendable = body is None or isinstance(body, bytes)
        sent = dict(headers or {})
        explicit_origin = origin(url)
        answered: set[str] = set()  # hosts whose 401 has been answered once
        redirects = 0
        while True:
            hop_origin = origin(url)
            hop_headers = dict(sent)
            if hop_origin != explicit_origin:
                hop_headers = {k: v for k, v in hop_headers.items() if k.lower() != "authorization"}
            host_auth = auth(hop_origin) if auth is not None else None
            if host_auth is not None and "authorization" not in {k.lower() for k in hop_headers}:
                value = host_auth.header(url, scopes)
                if value:
                    hop_headers["Authorization"] = value
            response = self._attempts(method, url, hop_headers, body, chunked, replay=replay, resendable=resendable)
            status = response.status
            if status == 401 and host_auth is not None and resendable and hop_origin not in answered:
                answered.add(hop_origin)
                if host_auth.unauthorized(url, scopes, response.headers.getlist("WWW-Authenticate")):
                    discard(response)
                    continue
            location = response.headers.get("Location") if status in REDIRECT_STATUSES else None
            if not location:
                response.url = url  # the whole URL of the hop that answered, for messages
                return response
            discard(response)
            redirects += 1
            target = resolve(url, location, f"{method} {redact_url(url)}: redirect")
            if redirects > MAX_REDIRECTS:
                shown = redact_url(url)
                raise TransportError(f"{method} {shown}: more than {MAX_REDIRECTS} redirects", method=method, url=shown)
            if urlsplit(target).scheme not in ("http", "https"):
                raise TransportError(
                    f"{method} {redact_url(url)}: redirected to {redact_url(target)!r}, but only http and https "
                    "are followed",
                    method=method,
                    url=redact_url(url),
                )
            if url.startswith("https:") and target.startswith("http:") and not self.insecure:
                raise InsecureRedirect(
                    f"{method} {redact_url(url)}: redirected down to plain http ({redact_url(target)}); "
                    "insecure=True (--insecure) allows it"
                )
            if guard is not None:
                guard(target)
            next_method = _redirected_method(status, method)
            if next_method != method and next_method == "GET":
                body, chunked, resendable = None, False, True
                sent = {k: v for k, v in sent.items() if k.lower() not in ("content-type", "content-length")}
            elif body is not None and not resendable:  # an answer, not a failure: not retried
                raise RegistryError(
                    f"{method} {redact_url(url)}: redirected ({status}) to {redact_url(target)} after a body "
                    "that cannot be sent again",
                    status=status,
                    method=method,
                    url=redact_url(url),
                )
            log.debug("redirected (%d) to %s", status, redact_url(target))
            method, url = next_method, target


@attrs.frozen
class Answer:
    """A whole small answer: its status, headers and body (read within a cap)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def exchange(
    transport: Transport,
    method: str,
    url: str,
    *,
    limit: int,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    guard: Guard | None = None,
) -> Answer:
    """Send a small request and read its whole answer, at most ``limit + 1`` bytes of body (a
    caller that gets more knows the answer was too long), under the transport's policy (see
    :meth:`Transport.whole`)."""

    def read(response: urllib3.BaseHTTPResponse) -> Answer:
        try:
            return Answer(response.status, dict(response.headers), read_within(response, limit + 1, transport.seconds))
        finally:
            discard(response)

    return transport.whole(
        method, url, lambda: transport.send(method, url, headers=headers, body=body, guard=guard), read
    )


def transport_error(method: str, url: str, error: Exception) -> TransportError:
    """The :class:`TransportError` for a failed exchange (the URL redacted); an untrusted
    certificate is an :class:`UntrustedCertificate` that says what to do."""
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
