"""The auth state machine beside the client: challenges, basic auth, bearer tokens and their cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlencode

import attrs

from ocimodel._json import loads
from ocimodel._mask import remember
from ocimodel.authn import Anonymous, Authenticator, Basic, Bearer, IdentityToken, Keychain
from ocimodel.errors import Unauthorized
from ocimodel.name import Registry, Repository
from ocimodel.transport._challenge import Challenge, parse_challenges, preferred
from ocimodel.transport._errors import registry_error
from ocimodel.transport._guard import check_target, ip_literal, is_private_host, url_host
from ocimodel.transport._policy import Answer
from ocimodel.transport._redact import redact_url

__all__ = ["Auth", "check_target", "host_of", "ip_literal", "is_private_host", "scope_resource"]

#: Token lifetime assumed when the token server does not say (``expires_in``).
DEFAULT_TOKEN_LIFETIME = 60.0
_EARLY = 0.9  # refresh after this share of a token's lifetime
TOKEN_LIMIT = 64 * 1024
CLIENT_ID = "ocimodel"

#: Sends a request to a token realm and reads its whole answer (at most ``TOKEN_LIMIT + 1`` bytes).
Send = Callable[..., Answer]


@attrs.frozen
class _Token:
    value: str
    renew_at: float


def host_of(url: str) -> str:
    """``scheme://host:port/…`` -> ``host:port`` with the default port made explicit, the host
    read as urllib3 (which connects) reads it."""
    try:
        _, host, port = url_host(url)
    except ValueError:
        return ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def scope_resource(scopes: Sequence[str], registry: Registry) -> Registry | Repository:
    """The resource whose credentials a request needs: the first repository it touches."""
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        if kind == "repository":
            path = rest.rpartition(":")[0]
            return registry.repo(path)
    return registry


class Auth:
    """Answers a registry's challenge for each request, one client's worth of state.

    Basic challenges get the resolved username and password. Bearer challenges get a token from the
    realm: by GET (with basic credentials to the realm, or none for an anonymous token) or, for an
    identity (refresh) token, by OAuth2 POST, falling back to GET if the server has no POST. Tokens
    are cached per scope set and renewed before they expire (``expires_in``, else 60 s). A 401
    naming scopes not yet asked for adds them, once. ``Authorization`` goes only to the registry's
    own host.

    A realm is vetted before anything is sent to it (:func:`~ocimodel.transport.check_target`,
    as go-containerregistry's ``validateRealmURL``): https, unless the registry itself is spoken
    to over plain http; not on a private, loopback or link-local address unless the registry is as
    local (a registry on a loopback address may name a realm on another loopback port: that is how
    local registries and their token servers run) or it is the registry's own host and port. Basic
    credentials go to a realm only after it passed. Every credential this object hands out is
    remembered (:meth:`secrets`), so that messages can mask it wherever a server echoes it.

    Thread-safe, and shared by the threads of a session: when several need the same token at
    once (a batch starting, a push's parallel uploads), one asks the token server and the others
    wait for its answer; the keychain is asked once per repository, however many ask at once.

    :param token_limit: the most bytes of a token server's answer that are read.
    """

    def __init__(self, registry: Registry, keychain: Keychain, send: Send, *, token_limit: int = TOKEN_LIMIT) -> None:
        self._registry = registry
        self._keychain = keychain
        self._send = send
        self.token_limit = token_limit
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._host = ""
        self._scheme: str | None = None
        self._sent: set[str] = set()  # credentials handed out (masked in every spelling: _mask)
        self._tokens: dict[frozenset[str], _Token] = {}
        self._learnt: dict[frozenset[str], frozenset[str]] = {}
        self._refresh_tokens: dict[str, str] = {}
        self._credentials: dict[Registry | Repository, Authenticator] = {}
        self._basic_scopes: set[frozenset[str]] = set()  # scope sets a bearer registry wants Basic for
        self._fetching: dict[object, threading.Lock] = {}  # one per token or credentials being fetched

    def set_challenge(self, base_url: str, challenge: Challenge | None) -> None:
        """What the registry's ``/v2/`` said (``None``: no auth needed), and where it lives."""
        with self._lock:
            self._challenge = challenge
            self._host = host_of(base_url)
            self._scheme = url_host(base_url)[0]

    def secrets(self) -> frozenset[str]:
        """Every credential this object has handed out or sent (``Authorization`` values, tokens,
        refresh tokens), for :func:`~ocimodel._mask.mask` to find in any spelling a
        server could echo back."""
        with self._lock:
            return frozenset(self._sent)

    def _remember(self, *values: str) -> None:
        remember(*values)  # for every message of the process (ocimodel._shown), not only this client's
        with self._lock:
            self._sent |= {value for value in values if value}

    def _scopes(self, scopes: Sequence[str]) -> frozenset[str]:
        asked = frozenset(scopes)
        return asked | self._learnt.get(asked, frozenset())

    def header(self, url: str, scopes: Sequence[str]) -> str | None:
        """The ``Authorization`` value for a request to ``url`` needing ``scopes`` (or ``None``)."""
        challenge = self._challenge
        if challenge is None or host_of(url) != self._host:
            return None
        authenticator = self._resolve(scope_resource(scopes, self._registry))
        if isinstance(authenticator, Bearer):
            return self._handed(authenticator.header())
        wanted = self._scopes(scopes)
        if challenge.scheme == "basic" or wanted in self._basic_scopes:
            return self._handed(authenticator.header()) if isinstance(authenticator, Basic) else None
        if challenge.scheme != "bearer":
            return None
        token = self._fresh_token(wanted)
        if token is None:
            with self._fetch_lock(wanted):  # the first thread asks; the others wait for its token
                token = self._fresh_token(wanted)
                if token is None:
                    token = self._exchange(challenge, authenticator, wanted)
                    with self._lock:
                        self._tokens[wanted] = token
        return self._handed(f"Bearer {token.value}")

    def _fresh_token(self, scopes: frozenset[str]) -> _Token | None:
        """The cached token for ``scopes``, unless there is none or it is due for renewal."""
        with self._lock:
            token = self._tokens.get(scopes)
        return token if token is not None and time.monotonic() < token.renew_at else None

    def _fetch_lock(self, key: object) -> threading.Lock:
        """The lock held while the token or credentials named ``key`` are fetched."""
        with self._lock:
            return self._fetching.setdefault(key, threading.Lock())

    def _handed(self, value: str) -> str:
        self._remember(value)
        return value

    def _resolve(self, resource: Registry | Repository) -> Authenticator:
        """The keychain's answer for ``resource``, asked once per client (a credential helper is a
        process to start; a config file, a read) and kept for its lifetime, as crane does."""
        with self._lock:
            if resource in self._credentials:
                return self._credentials[resource]
        with self._fetch_lock(resource):
            with self._lock:
                if resource in self._credentials:  # another thread asked while this one waited
                    return self._credentials[resource]
            found = self._keychain.resolve(resource)
            with self._lock:
                return self._credentials.setdefault(resource, found)

    def unauthorized(self, url: str, scopes: Sequence[str], www_authenticate: Sequence[str]) -> bool:
        """A 401 came back: update what we know; ``True`` if trying again could now succeed."""
        if host_of(url) != self._host:
            return False
        challenge = preferred(parse_challenges(www_authenticate))
        if challenge is None:
            return False
        asked = frozenset(scopes)
        if self._challenge is not None and self._challenge.scheme == "bearer" and challenge.scheme == "basic":
            # Harbor answers a bearer token that lacks a scope with a Basic challenge
            # (goharbor/harbor#18856): that request may go again with Basic credentials, once; the
            # registry's scheme stays bearer for every other request (anonymous reads included)
            with self._lock:
                known = self._scopes(scopes)
                if known in self._basic_scopes:
                    return False
                self._basic_scopes.add(known)
            return isinstance(self._resolve(scope_resource(scopes, self._registry)), Basic)
        with self._lock:
            changed = self._challenge is None or challenge.scheme != self._challenge.scheme
            if changed or challenge.scheme == "bearer":
                self._challenge = challenge
            known = self._scopes(scopes)
            new = frozenset(challenge.scopes) - known
            if new:
                self._learnt[asked] = self._learnt.get(asked, frozenset()) | new
            dropped = self._tokens.pop(known, None) is not None
        return changed or bool(new) or dropped

    def _exchange(self, challenge: Challenge, authenticator: Authenticator, scopes: frozenset[str]) -> _Token:
        realm = challenge.realm
        if not realm:
            raise Unauthorized(
                f"the registry {self._registry} asked for a bearer token but named no realm to get it from",
                status=401,
            )
        check_target(realm, self._registry, "token realm", registry_scheme=self._scheme, allow_http=False)
        ordered = sorted(scopes, key=lambda s: (":push" not in s, s))  # push first: some servers read only one
        with self._lock:
            refresh = self._refresh_tokens.get(realm)
        if refresh is None and isinstance(authenticator, IdentityToken):
            refresh = authenticator.token
        response, method = None, "GET"
        if refresh is not None:
            self._remember(refresh)
            method = "POST"
            form = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": CLIENT_ID}
            form |= {"service": challenge.service, "scope": " ".join(ordered)}
            response = self._send(
                "POST",
                realm,
                body=urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            if response.status == 404:  # no OAuth2 endpoint: ask by GET instead
                response, method = None, "GET"
        if response is None:
            query = [("scope", scope) for scope in ordered] + [("service", challenge.service)]
            headers = {}
            if isinstance(authenticator, Basic):
                query.append(("account", authenticator.username))
                headers["Authorization"] = self._handed(authenticator.header())
            separator = "&" if "?" in realm else "?"
            response = self._send("GET", realm + separator + urlencode(query), headers=headers)
        return self._token(method, realm, response, authenticator)

    def _token(self, method: str, realm: str, response: Answer, authenticator: Authenticator) -> _Token:
        body = response.body
        if response.status != 200:
            error = registry_error(method, realm, response.status, body[: self.token_limit], secrets=self.secrets())
            if authenticator is Anonymous and response.status in (401, 403):
                raise type(error)(
                    f"{error} (no credentials were found for {self._registry})",
                    status=error.status,
                    method=error.method,
                    url=error.url,
                    diagnostics=error.diagnostics,
                )
            raise error
        if len(body) > self.token_limit:
            raise Unauthorized(
                f"token response from {redact_url(realm)} is larger than the {self.token_limit}-byte limit "
                "(token_limit= changes it)",
                status=200,
            )
        try:
            answer = loads(body, "token response")
            value = answer.get("access_token") or answer.get("token")
        except (ValueError, AttributeError):
            value, answer = None, {}
        if not isinstance(value, str) or not value:
            raise Unauthorized(f"the token server {redact_url(realm)} answered without a token", status=200)
        self._remember(value)
        lifetime = answer.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else DEFAULT_TOKEN_LIFETIME
        refresh = answer.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self._remember(refresh)
            with self._lock:
                self._refresh_tokens[realm] = refresh
        return _Token(value, time.monotonic() + lifetime * _EARLY)
