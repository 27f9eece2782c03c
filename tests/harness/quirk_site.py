"""A hosted registry's profile at work for one test: the servers, and what they saw.

A :class:`Site` starts, all on 127.0.0.1, a reverse proxy (:class:`QuirkProxy`) wearing the
profile's behaviours in front of the real registry, and the hosts the profile needs besides: its
token realm, pre-signed object storage (:class:`Storage`), a second registry host. Every request
that reaches any of them is logged with the credentials it carries, and
:meth:`Site.assert_no_cross_host_credentials` fails if a credential of one host (a password, a
refresh token, or a token issued by that host's realm) was ever sent to another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs

from ocimodel import authn
from ocimodel.name import Registry, Repository
from ocimodel.registry._server import read_body
from tests.harness.faultproxy import _HOP_BY_HOP, LocalServer
from tests.harness.quirk_behaviours import (
    Behaviour,
    PublicRealm,
    Request,
    Response,
    ServeRealm,
    basic,
    error_body,
    reply,
    run,
)
from tests.harness.quirks import Account, Profile
from tests.harness.tokenserver import SERVICE, TokenServer


@attrs.frozen
class Seen:
    """A request one of a site's servers received: where, and with which credentials."""

    server: str
    domain: str  # whose credentials it may carry
    method: str
    target: str
    credentials: tuple[str, ...]
    status: int


def _credentials(request: Request) -> tuple[str, ...]:
    """The secrets a request carries: its Authorization, and a token request's form fields."""
    found = [request.header("Authorization") or ""]
    if request.method == "POST" and "form-urlencoded" in (request.header("Content-Type") or ""):
        form = parse_qs(request.body.decode(errors="replace"))
        found += [f"refresh {value}" for value in form.get("refresh_token", [])]
        if "password" in form:
            found.append(basic(form.get("username", [""])[0], form["password"][0]))
    return tuple(c for c in found if c)


def _describe(credential: str) -> str:
    """A credential, named without its secret."""
    scheme, _, value = credential.partition(" ")
    if scheme == "Basic":
        user = base64.b64decode(value + "==").decode(errors="replace").partition(":")[0]
        return f"Basic {user}:***"
    return f"a {scheme.lower()} token"


class _Server(LocalServer):
    """A threaded HTTP/1.1 server on 127.0.0.1: each request is logged to the site, then answered
    by :meth:`handle`. A failure of the harness itself is answered 500 and kept in ``site.errors``."""

    def __init__(self, site: Site, name: str, domain: str) -> None:
        self.site, self.name, self.domain = site, name, domain
        super().__init__(self._handler())

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def _answer(self, request: Request) -> Response:
        try:
            response = self.handle(request)
        except Exception as error:  # reported to the test through site.errors
            self.site.errors.append(f"{self.name}: {request.method} {request.target}: {error!r}")
            response = reply(500, f"quirks harness: {error!r}".encode(), content_type="text/plain")
        self.site.record(
            Seen(self.name, self.domain, request.method, request.target, _credentials(request), response.status)
        )
        return response

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def _handle(self) -> None:
                request = Request(self.command, self.path, tuple(self.headers.items()), read_body(self))
                response = server._answer(request)
                self.send_response(response.status)
                for key, value in response.headers:
                    if key.lower() not in _HOP_BY_HOP | {"content-length", "date", "server"}:
                        self.send_header(key, value)
                declared = response.header("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", declared or str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle  # noqa: N815

        return Handler


def forward_to(port: int, request: Request) -> Response:
    """Send ``request`` to the server on 127.0.0.1:``port`` (its Host header unchanged, so the
    registry's upload locations point back at the front) and read the whole answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {k: v for k, v in request.headers if k.lower() not in _HOP_BY_HOP | {"content-length"}}
        if request.body or request.method in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(request.body))
        connection.request(request.method, request.target, body=request.body, headers=headers)
        answer = connection.getresponse()
        return Response(answer.status, tuple(answer.getheaders()), answer.read())
    finally:
        connection.close()


class QuirkProxy(_Server):
    """A registry host: ``behaviours`` in front of the registry on ``upstream`` (a port)."""

    def __init__(
        self, site: Site, name: str, domain: str, upstream: int | None, behaviours: tuple[Behaviour, ...]
    ) -> None:
        super().__init__(site, name, domain)
        self.upstream = upstream
        self.behaviours = behaviours
        self.realm_url = ""  # where this host's bearer challenges send clients

    def _last(self, request: Request) -> Response:
        if self.upstream is None:
            return reply(404, error_body("NOT_FOUND", "nothing here"))
        return forward_to(self.upstream, request)

    def handle(self, request: Request) -> Response:
        return run(self.behaviours, request, self, self._last)


class Storage(_Server):
    """Object storage with S3's rules: an object is served to a GET whose URL carries its
    signature and which has no Authorization header (S3 answers 400 "Only one auth mechanism
    allowed"); a ranged GET is honoured."""

    def __init__(self, site: Site) -> None:
        super().__init__(site, "storage", "storage")
        self.objects: dict[str, bytes] = {}
        self._secret = secrets.token_bytes(16)

    def _signature(self, key: str) -> str:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()

    def put(self, data: bytes) -> str:
        """Store ``data``; its pre-signed URL."""
        key = secrets.token_hex(8)
        self.objects[key] = data
        query = urlencode({"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Signature": self._signature(key)})
        return f"{self.url}/bucket/{key}?{query}"

    def handle(self, request: Request) -> Response:
        if request.header("Authorization"):
            message = (
                "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the "
                "X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization "
                "header should be specified</Message></Error>"
            )
            return reply(400, message.encode(), content_type="application/xml")
        key = request.path.rpartition("/")[2]
        signature = request.query.get("X-Amz-Signature", [""])[0]
        if request.method != "GET" or key not in self.objects or signature != self._signature(key):
            return reply(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", content_type="application/xml")
        data = self.objects[key]
        asked = re.fullmatch(r"bytes=(\d+)-", request.header("Range") or "")
        if asked is None:
            return reply(200, data, content_type="application/octet-stream")
        start = int(asked[1])
        content_range = (("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}"),)
        return reply(206, data[start:], content_range, content_type="application/octet-stream")


# ---------------------------------------------------------------------------------- a site


@attrs.frozen
class Upstream:
    """A registry a site stands in front of (its port), and the token server it trusts, if any."""

    port: int
    tokens: TokenServer | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


class Site:
    """One profile at work for one test: its front host (:attr:`host`), and the realm, storage and
    mirror hosts it needs, all logging what they see. Use it as a context manager.

    :param plain: the registry profiles without token auth stand in front of.
    :param tokens: the registry in ``auth: token`` mode, for profiles with token auth (its token
        server set up with :func:`tests.harness.quirks.token_users` and :func:`~tests.harness.quirks.grant`).
    """

    def __init__(self, profile: Profile, plain: Upstream, tokens: Upstream | None = None) -> None:
        if profile.needs_tokens and (tokens is None or tokens.tokens is None):
            raise ValueError(f"the {profile.name} profile needs a registry with token auth")
        self.profile = profile
        self.log: list[Seen] = []
        self.errors: list[str] = []
        self.fired: Counter[str] = Counter()  # how often each behaviour acted
        self._owners: dict[str, str] = {}  # credential: the domain it belongs to
        self._state: dict[Behaviour, Any] = {}
        self._lock = threading.Lock()
        #: where the repositories live
        self.content: Upstream = tokens if tokens is not None and profile.needs_tokens else plain
        self.tokens = tokens.tokens if tokens is not None else None
        self.storage = Storage(self)
        self.servers: list[_Server] = [self.storage]
        self.mirror: QuirkProxy | None = None
        if profile.mirrored:
            assert tokens is not None
            mirror = QuirkProxy(
                self, "mirror", f"{profile.name}-mirror", tokens.port, (ServeRealm("/token"), PublicRealm())
            )
            mirror.realm_url = f"{mirror.url}/token"
            self.mirror = mirror
            self.servers.append(mirror)
        behaviours = profile.behaviours
        realm = profile.token
        upstream = self.content.port
        if realm is not None:
            behaviours = (*behaviours, PublicRealm())
            if not realm.own_host:
                behaviours = (ServeRealm(realm.path, realm.quirks), *behaviours)
        self.front = QuirkProxy(self, "registry", profile.name, upstream, behaviours)
        self.servers.append(self.front)
        if realm is not None and realm.own_host:
            realm_host = QuirkProxy(self, "realm", profile.name, None, (ServeRealm(realm.path, realm.quirks),))
            self.front.realm_url = realm_host.url + realm.path
            self.servers.append(realm_host)
        elif realm is not None:
            self.front.realm_url = self.front.url + realm.path
        self._refresh_tokens: dict[str, str] = {}

    # ------------------------------------------------------------------ life

    def __enter__(self) -> Site:
        for server in self.servers:
            server.start()
        for account in self.profile.accounts:
            self._owners[basic(account.user, account.password)] = self._domain_of(account)
            if account.identity_token:
                self._refresh_tokens[account.user] = self._login_offline(account)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for server in self.servers:
            server.stop()
        if self.errors:
            raise HarnessError("the quirks harness failed: " + "; ".join(self.errors))

    # ------------------------------------------------------------------ what tests use

    @property
    def host(self) -> str:
        """What references through this registry start with."""
        return self.front.host

    @property
    def mirror_url(self) -> str:
        assert self.mirror is not None, f"the {self.profile.name} profile has no mirror"
        return self.mirror.url

    @property
    def write_host(self) -> str:
        """Where pushes go: the registry, or for a read-only gateway, the mirror behind it."""
        return self.host if self.mirror is None else self.mirror.host

    def keychain(self) -> SiteKeychain:
        """The profile's credentials, each for its own host (and repositories)."""
        return SiteKeychain(self)

    def authenticator(self, host: str, repository: str | None) -> authn.Authenticator:
        """What the keychain holds for ``repository`` (or the registry) on ``host``."""
        for account in self.profile.accounts:
            if self._host_of(account) == host and (repository is None or account.may(repository)):
                if account.identity_token:
                    return authn.IdentityToken(self._refresh_tokens[account.user], account.user)
                return authn.Basic(account.user, account.password)
        return authn.Anonymous

    def docker_config(self, folder: Path, repositories: Iterable[str]) -> Path:
        """Write ``folder/config.json`` with the profile's user names and passwords (keyed per
        repository of ``repositories`` where an account is limited to some, as podman allows);
        returns ``folder``. (The keychain gives a refresh token where an account has one: between
        them, both ways of asking the token service are used.)"""
        auths: dict[str, dict[str, str]] = {}
        for account in self.profile.accounts:
            host = self._host_of(account)
            keys = [host] if not account.repositories else [f"{host}/{r}" for r in repositories if account.may(r)]
            entry = {"auth": base64.b64encode(f"{account.user}:{account.password}".encode()).decode()}
            auths |= dict.fromkeys(keys, entry)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps({"auths": auths}))
        return folder

    def assert_no_cross_host_credentials(self) -> None:
        """Fail if a credential of one host (a password, a refresh token, or a token issued by its
        realm) was sent to another host, or if an unknown credential was sent anywhere."""
        with self._lock:
            log, owners = list(self.log), dict(self._owners)
        leaks = []
        for seen in log:
            for credential in seen.credentials:
                owner = owners.get(credential)
                if owner != seen.domain:
                    belongs = f"{owner}'s" if owner else "a credential no host issued"
                    leaks.append(
                        f"{_describe(credential)} ({belongs}) sent to {seen.server} ({seen.domain}): "
                        f"{seen.method} {urlsplit(seen.target).path}"
                    )
        assert not leaks, "credentials crossed hosts:\n" + "\n".join(dict.fromkeys(leaks))

    # ------------------------------------------------------------------ what behaviours use

    def take(self, behaviour: Behaviour, times: int | None) -> bool:
        """Count one more time ``behaviour`` acts; ``False`` once it has acted ``times`` times."""
        with self._lock:
            key = repr(behaviour)
            if times is not None and self.fired[key] >= times:
                return False
            self.fired[key] += 1
            return True

    def state(self, behaviour: Behaviour, make: Callable[[], Any]) -> Any:
        """A behaviour's own state for this site (made by ``make`` on first use)."""
        with self._lock:
            return self._state.setdefault(behaviour, make())

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.log.append(seen)

    def basic_credentials(self, domain: str) -> set[str]:
        with self._lock:
            return {c for c, owner in self._owners.items() if owner == domain and c.startswith("Basic ")}

    def serve_realm(self, request: Request, proxy: QuirkProxy, quirks: tuple[Behaviour, ...]) -> Response:
        """Answer a token request with the token server's answer (after ``quirks``); the tokens
        it gives belong to ``proxy``'s domain."""
        assert self.tokens is not None
        query = urlsplit(request.target).query
        port = self.tokens.port
        response = run(quirks, request, proxy, lambda r: forward_to(port, r.with_target("/token?" + query)))
        if response.status == 200:
            answer = json.loads(response.body)
            with self._lock:
                for field in ("token", "access_token"):
                    if answer.get(field):
                        self._owners[f"Bearer {answer[field]}"] = proxy.domain
                if answer.get("refresh_token"):
                    self._owners[f"refresh {answer['refresh_token']}"] = proxy.domain
        return response

    def token_for(self, credentials: str, scopes: list[str]) -> str | None:
        """A token from the token server for ``credentials`` (an Authorization value), or ``None``
        if it refuses them (for registries that take basic credentials themselves)."""
        assert self.tokens is not None
        query = urlencode([("service", SERVICE), *(("scope", s) for s in scopes)])
        answer = forward_to(self.tokens.port, Request("GET", f"/token?{query}", (("Authorization", credentials),)))
        return str(json.loads(answer.body)["token"]) if answer.status == 200 else None

    # ------------------------------------------------------------------ inside

    def _host_of(self, account: Account) -> str:
        return self.mirror.host if account.on_mirror and self.mirror is not None else self.host

    def _domain_of(self, account: Account) -> str:
        return self.mirror.domain if account.on_mirror and self.mirror is not None else self.front.domain

    def _login_offline(self, account: Account) -> str:
        """An OAuth2 refresh token for ``account`` (what ``docker login`` keeps as identitytoken)."""
        assert self.tokens is not None
        form = urlencode(
            {
                "grant_type": "password",
                "username": account.user,
                "password": account.password,
                "access_type": "offline",
                "client_id": "quirks-harness",
                "service": SERVICE,
            }
        ).encode()
        headers = (("Content-Type", "application/x-www-form-urlencoded"),)
        answer = forward_to(self.tokens.port, Request("POST", "/token", headers, form))
        refresh = str(json.loads(answer.body)["refresh_token"])
        self._owners[f"refresh {refresh}"] = self._domain_of(account)
        return refresh


@attrs.frozen
class SiteKeychain:
    """A keychain holding a site's accounts, each for its own host (and repositories)."""

    site: Site

    def resolve(self, resource: Registry | Repository) -> authn.Authenticator:
        if isinstance(resource, Repository):
            return self.site.authenticator(resource.registry.name, resource.path)
        return self.site.authenticator(resource.name, None)


class HarnessError(Exception):
    """The harness itself went wrong (never a finding about the library)."""
