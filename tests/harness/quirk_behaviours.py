"""What hosted registries do, as behaviours a proxy applies to requests and answers.

A :class:`Behaviour` sees each request on its way to the real registry: it may answer it itself,
change it, pass it on and change the answer. Each is small and declarative (an attrs value), so a
registry's profile (:mod:`tests.harness.quirks`) reads as a list of them. Requests and answers are
held whole in memory: the harness moves small blobs.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs

if TYPE_CHECKING:
    from tests.harness.quirk_site import QuirkProxy

Headers = tuple[tuple[str, str], ...]
_BLOB = re.compile(r"^/v2/.+/blobs/[a-z0-9]+:[0-9a-f]+$")
_UPLOAD = re.compile(r"/blobs/uploads/(?P<id>[^/?]+)")
_TAGS = re.compile(r"^/v2/(?P<name>.+)/tags/list$")


def _header(headers: Headers, name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)


def _set_header(headers: Headers, name: str, value: str | None) -> Headers:
    kept = tuple((k, v) for k, v in headers if k.lower() != name.lower())
    return kept if value is None else (*kept, (name, value))


def basic(user: str, password: str) -> str:
    """The ``Authorization`` value of basic credentials."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def error_body(code: str, message: str) -> bytes:
    """A distribution-spec error document."""
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


@attrs.frozen
class Request:
    """One request as a site's server received it (the body read whole: the harness moves small blobs)."""

    method: str
    target: str  # path and query, as received
    headers: Headers
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def header(self, name: str) -> str | None:
        return _header(self.headers, name)

    def with_header(self, name: str, value: str | None) -> Request:
        """The same request with ``name`` set to ``value`` (or removed, for ``None``)."""
        return attrs.evolve(self, headers=_set_header(self.headers, name, value))

    def with_target(self, target: str) -> Request:
        return attrs.evolve(self, target=target)


@attrs.frozen
class Response:
    """An answer, whole."""

    status: int
    headers: Headers = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return _header(self.headers, name)

    def with_header(self, name: str, value: str | None) -> Response:
        return attrs.evolve(self, headers=_set_header(self.headers, name, value))


def reply(status: int, body: bytes = b"", headers: Headers = (), content_type: str = "application/json") -> Response:
    """An answer made here (not the registry's)."""
    return Response(status, (("Content-Type", content_type), *headers), body)


Forward = Callable[[Request], Response]


@attrs.frozen
class Behaviour:
    """One thing a hosted registry does: it sees each request on its way in and may answer it
    itself, change it, pass it on with ``forward`` (to the next behaviour, in the end to the real
    registry) and change what comes back. The base class passes everything through."""

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        return forward(request)


def run(behaviours: Iterable[Behaviour], request: Request, proxy: QuirkProxy, last: Forward) -> Response:
    """``request`` through ``behaviours`` (the first sees it first), then ``last``."""
    step = last
    for behaviour in reversed(tuple(behaviours)):
        step = functools.partial(behaviour.handle, proxy=proxy, forward=step)
    return step(request)


def _matches(method: str, path: str, request: Request) -> bool:
    return re.fullmatch(method, request.method) is not None and re.search(path, request.target) is not None


# ---------------------------------------------------------------------------------- behaviours


@attrs.frozen
class DropResponseHeader(Behaviour):
    """Answers matching requests without ``header``."""

    method: str  # a regular expression matched against the whole method
    path: str  # a regular expression searched in the path and query
    header: str

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        response = forward(request)
        if response.header(self.header) is None or not _matches(self.method, self.path, request):
            return response
        proxy.site.take(self, None)
        return response.with_header(self.header, None)


@attrs.frozen
class AnswerStatus(Behaviour):
    """Answers matching requests with ``status`` itself (the first ``times`` of them, or all), before
    the registry sees them, or after (``after_forwarding``: the registry took the request, the
    client is told otherwise)."""

    method: str
    path: str
    status: int
    headers: Headers = ()
    body: bytes = error_body("UNAVAILABLE", "quirk")
    times: int | None = None
    after_forwarding: bool = False

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        if not _matches(self.method, self.path, request) or not proxy.site.take(self, self.times):
            return forward(request)
        if self.after_forwarding:
            forward(request)
        return reply(self.status, self.body, self.headers)


@attrs.frozen
class ReplaceStatus(Behaviour):
    """Answers ``to`` (with ``body``) where the registry answered ``status`` to a matching request."""

    method: str
    path: str
    status: int
    to: int
    body: bytes = b""

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        response = forward(request)
        if response.status != self.status or not _matches(self.method, self.path, request):
            return response
        proxy.site.take(self, None)
        return reply(self.to, b"" if request.method == "HEAD" else self.body)


@attrs.frozen
class RefuseMount(Behaviour):
    """A cross-repository mount (``POST …/uploads/?mount=&from=``) is refused: with ``answer`` as the
    status (and ``body``), or, for ``"upload"``, by starting a plain upload (a 202) instead."""

    answer: int | Literal["upload"]
    body: bytes = error_body("DENIED", "mount refused")

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        if request.method != "POST" or "mount" not in request.query:
            return forward(request)
        proxy.site.take(self, None)
        if self.answer == "upload":
            return forward(request.with_target(request.path))
        return reply(self.answer, self.body)


@attrs.frozen
class RedirectBlobsToStorage(Behaviour):
    """``GET`` of a blob answers a redirect to a pre-signed URL on the site's storage host (the
    registry authorises the request, the storage serves the bytes)."""

    status: int = 307

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        if request.method != "GET" or not _BLOB.match(request.path):
            return forward(request)
        whole = forward(request.with_header("Range", None))
        if whole.status != 200:
            return whole
        proxy.site.take(self, None)
        return reply(self.status, headers=(("Location", proxy.site.storage.put(whole.body)),))


@attrs.frozen
class RedirectAllTo(Behaviour):
    """Every ``/v2/<name>/…`` request is redirected (307) to the same path on the site's mirror, a
    registry host with its own token realm; ``/v2/`` itself is answered here."""

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        if request.path in ("/v2", "/v2/"):
            return reply(200, b"{}")
        if not request.path.startswith("/v2/"):
            return reply(404, error_body("NOT_FOUND", "no such page"))
        proxy.site.take(self, None)
        return reply(307, headers=(("Location", proxy.site.mirror_url + request.target),))


@attrs.frozen
class Paginate(Behaviour):
    """``/tags/list`` in pages of at most ``page_size`` (fewer if the client asks), the next page
    named by ``Link`` (written without the ``<…>`` RFC 8288 puts around it unless ``brackets``);
    a page size over ``max_n`` is refused with 400."""

    page_size: int
    brackets: bool = True
    max_n: int | None = None

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        found = _TAGS.match(request.path)
        if request.method != "GET" or found is None:
            return forward(request)
        query = request.query
        asked = int(query["n"][0]) if query.get("n", [""])[0].isdigit() else None
        if self.max_n is not None and asked is not None and asked > self.max_n:
            message = f"Invalid parameter at 'maxResults' failed to satisfy constraint: <= {self.max_n}"
            return reply(400, error_body("UNSUPPORTED", message))
        whole = forward(request.with_target(request.path))
        if whole.status != 200:
            return whole
        proxy.site.take(self, None)
        tags = sorted(json.loads(whole.body).get("tags") or [])
        if "last" in query:
            tags = [tag for tag in tags if tag > query["last"][0]]
        size = min(self.page_size, asked) if asked else self.page_size
        page = tags[:size]
        headers: Headers = ()
        if len(tags) > size:
            target = f"{request.path}?{urlencode({'n': size, 'last': page[-1]})}"
            headers = (("Link", f'<{target}>; rel="next"' if self.brackets else f'{target}; rel="next"'),)
        return reply(200, json.dumps({"name": found["name"], "tags": page}).encode(), headers)


@attrs.frozen
class DigestTagIsSubject(Behaviour):
    """A tag ``sha256-<hex>`` (the referrers fallback tag) that does not exist resolves as the
    digest ``sha256:<hex>``: asking for a subject's referrers index returns the subject itself."""

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        response = forward(request)
        digest = re.sub(r"/manifests/(sha256|sha512)-([0-9a-f]+)$", r"/manifests/\1:\2", request.target)
        if request.method not in ("GET", "HEAD") or response.status != 404 or digest == request.target:
            return response
        proxy.site.take(self, None)
        return forward(request.with_target(digest))


@attrs.frozen
class CheckContentRange(Behaviour):
    """Upload chunks must come in order: a ``PATCH`` whose ``Content-Range`` does not start where
    the upload stands is refused with 416 (and the registry keeps what it has); the upload's
    status says exactly how many bytes are held (``Range`` is left out when none are)."""

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        found = _UPLOAD.search(request.path)
        if found is None or request.method not in ("PATCH", "GET"):
            return forward(request)
        held: dict[str, int] = proxy.site.state(self, dict)
        upload = found["id"]
        if request.method == "GET":
            proxy.site.take(self, None)
            status = forward(request)
            return status.with_header("Range", f"0-{held[upload] - 1}" if held.get(upload) else None)
        start = (request.header("Content-Range") or "").partition("-")[0]
        if start and int(start) != held.get(upload, 0):
            proxy.site.take(self, None)
            range_ = (("Range", f"0-{held[upload] - 1}"),) if held.get(upload) else ()
            body = error_body("BLOB_UPLOAD_INVALID", "chunk out of order")
            return reply(416, body, (("Location", request.target), *range_))
        response = forward(request)
        if response.status == 202:
            held[upload] = held.get(upload, 0) + len(request.body)
        return response


@attrs.frozen
class BasicAuth(Behaviour):
    """The registry wants basic credentials (one of the profile's accounts) on every request, and
    challenges with ``challenge`` (``{url}`` is this host's URL)."""

    challenge: str

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        if request.header("Authorization") not in proxy.site.basic_credentials(proxy.domain):
            proxy.site.take(self, None)
            headers = (("WWW-Authenticate", self.challenge.format(url=proxy.url)),)
            return reply(401, error_body("UNAUTHORIZED", "authentication required"), headers)
        return forward(request.with_header("Authorization", None))


@attrs.frozen
class AcceptBasicCredentials(Behaviour):
    """Basic credentials are taken on the registry API itself (besides bearer tokens): the
    registry gets the token they are worth for the request from its token service."""

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        credentials = request.header("Authorization") or ""
        if not credentials.startswith("Basic "):
            return forward(request)
        first = forward(request.with_header("Authorization", None))
        challenge = first.header("WWW-Authenticate") or ""
        if first.status != 401 or not challenge.startswith("Bearer"):
            return first
        scope = re.search(r'scope="([^"]*)"', challenge)
        token = proxy.site.token_for(credentials, scope[1].split() if scope else [])
        if token is None:
            return first
        proxy.site.take(self, None)
        return forward(request.with_header("Authorization", f"Bearer {token}"))


@attrs.frozen
class BasicChallengeAfterBearer(Behaviour):
    """A 401 to a request that carried any credentials challenges ``challenge`` (a Basic one),
    whatever the registry's own challenge was."""

    challenge: str = 'Basic realm="harbor"'

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        response = forward(request)
        if response.status == 401 and request.header("Authorization"):
            proxy.site.take(self, None)
            return response.with_header("WWW-Authenticate", self.challenge)
        return response


@attrs.frozen
class TokenFields(Behaviour):
    """The token service's answers to ``method`` requests leave out the fields ``drop``."""

    method: str
    drop: tuple[str, ...]

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        response = forward(request)
        if request.method != self.method or response.status != 200:
            return response
        answer = {k: v for k, v in json.loads(response.body).items() if k not in self.drop}
        proxy.site.take(self, None)
        return attrs.evolve(response, body=json.dumps(answer).encode())


@attrs.frozen
class ServeRealm(Behaviour):
    """Serves the token realm at ``path`` (the token server's answers, after ``quirks``)."""

    path: str
    quirks: tuple[Behaviour, ...] = ()

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        if request.path != self.path:
            return forward(request)
        return proxy.site.serve_realm(request, proxy, self.quirks)


@attrs.frozen
class PublicRealm(Behaviour):
    """The registry names the token server's own address as its realm; clients are told the
    realm the site serves instead."""

    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        response = forward(request)
        challenge = response.header("WWW-Authenticate")
        tokens = proxy.site.tokens
        if challenge and tokens is not None:
            response = response.with_header("WWW-Authenticate", challenge.replace(tokens.realm, proxy.realm_url))
        return response
