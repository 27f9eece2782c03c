"""The auth state machine beside the client: challenges, basic auth, bearer tokens and their cache."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlencode, urlsplit

import attrs

from ocimodel._json import loads
from ocimodel.authn import Anonymous, Authenticator, Basic, Bearer, IdentityToken, Keychain
from ocimodel.errors import InsecureRedirect, Unauthorized
from ocimodel.name import Registry, Repository
from ocimodel.transport._challenge import Challenge, parse_challenges, preferred
from ocimodel.transport._errors import registry_error
from ocimodel.transport._policy import Answer
from ocimodel.transport._redact import redact_url

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
    """``scheme://host:port/…`` -> ``host:port`` with the default port made explicit."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def is_private_host(host: str | None) -> bool:
    """Whether ``host`` is localhost, or a loopback, private, link-local or unspecified address."""
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = ip_literal(host)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells, if it spells one: the standard forms, and the older IPv4
    spellings the system's resolver also takes for one (``127.1``, ``2130706433``,
    ``0x7f000001``, ``0177.0.0.1``: each is 127.0.0.1 to a connecting client)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if not host or not all(part and part.isalnum() for part in host.split(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_target(url: str, registry: Registry, what: str) -> None:
    """Refuse to follow a registry to a non-http(s) URL, or to a private or loopback address
    when the registry itself is not on one (a server-side request forgery guard)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InsecureRedirect(f"{what} {redact_url(url)!r}: only http and https are followed")
    registry_host = urlsplit(f"//{registry.name}").hostname
    if is_private_host(parts.hostname) and not is_private_host(registry_host):
        raise InsecureRedirect(f"{what} {redact_url(url)!r}: a private address, but the registry {registry} is not")


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
    """

    def __init__(self, registry: Registry, keychain: Keychain, send: Send) -> None:
        self._registry = registry
        self._keychain = keychain
        self._send = send
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._host = ""
        self._tokens: dict[frozenset[str], _Token] = {}
        self._learnt: dict[frozenset[str], frozenset[str]] = {}
        self._refresh_tokens: dict[str, str] = {}
        self._credentials: dict[Registry | Repository, Authenticator] = {}
        self._basic_scopes: set[frozenset[str]] = set()  # scope sets a bearer registry wants Basic for

    def set_challenge(self, base_url: str, challenge: Challenge | None) -> None:
        """What the registry's ``/v2/`` said (``None``: no auth needed), and where it lives."""
        with self._lock:
            self._challenge = challenge
            self._host = host_of(base_url)

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
            return authenticator.header()
        wanted = self._scopes(scopes)
        if challenge.scheme == "basic" or wanted in self._basic_scopes:
            return authenticator.header() if isinstance(authenticator, Basic) else None
        if challenge.scheme != "bearer":
            return None
        with self._lock:
            token = self._tokens.get(wanted)
        if token is None or time.monotonic() >= token.renew_at:
            token = self._exchange(challenge, authenticator, wanted)
            with self._lock:
                self._tokens[wanted] = token
        return f"Bearer {token.value}"

    def _resolve(self, resource: Registry | Repository) -> Authenticator:
        """The keychain's answer for ``resource``, asked once per client (a credential helper is a
        process to start; a config file, a read) and kept for its lifetime, as crane does."""
        with self._lock:
            if resource in self._credentials:
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
        check_target(realm, self._registry, "token realm")
        ordered = sorted(scopes, key=lambda s: (":push" not in s, s))  # push first: some servers read only one
        refresh = self._refresh_tokens.get(realm)
        if refresh is None and isinstance(authenticator, IdentityToken):
            refresh = authenticator.token
        response, method = None, "GET"
        if refresh is not None:
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
                headers["Authorization"] = authenticator.header()
            separator = "&" if "?" in realm else "?"
            response = self._send("GET", realm + separator + urlencode(query), headers=headers)
        return self._token(method, realm, response, authenticator)

    def _token(self, method: str, realm: str, response: Answer, authenticator: Authenticator) -> _Token:
        body = response.body
        if response.status != 200:
            error = registry_error(method, realm, response.status, body[:TOKEN_LIMIT])
            if authenticator is Anonymous and response.status in (401, 403):
                raise type(error)(
                    f"{error} (no credentials were found for {self._registry})",
                    status=error.status,
                    method=error.method,
                    url=error.url,
                    diagnostics=error.diagnostics,
                )
            raise error
        if len(body) > TOKEN_LIMIT:
            raise Unauthorized(f"token response from {redact_url(realm)} is larger than 64 KiB", status=200)
        try:
            answer = loads(body, "token response")
            value = answer.get("access_token") or answer.get("token")
        except (ValueError, AttributeError):
            value, answer = None, {}
        if not isinstance(value, str) or not value:
            raise Unauthorized(f"the token server {redact_url(realm)} answered without a token", status=200)
        lifetime = answer.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else DEFAULT_TOKEN_LIFETIME
        refresh = answer.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self._refresh_tokens[realm] = refresh
        return _Token(value, time.monotonic() + lifetime * _EARLY)
