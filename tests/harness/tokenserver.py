"""A token server for the registry's ``auth: token`` mode (none is packaged in Debian).

It issues ES256 JWTs the distribution registry 2.8 accepts (``kid`` = the libtrust key ID of the
signing key, whose certificate is the registry's ``rootcertbundle``), by ``GET /token`` (basic auth
optional) and by OAuth2 ``POST /token`` (``grant_type=password`` or ``refresh_token``). Default
policy: a user with the right password gets every action asked for; anonymous gets ``pull`` only;
a wrong password gets 401 (``users`` and ``policy`` replace the accounts and the grants). Every
request is recorded, so tests can count exchanges.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.harness.faultproxy import LocalServer
from tests.harness.tls import self_signed

SERVICE = "ocimodel-test-registry"
ISSUER = "ocimodel-test-issuer"
USER, PASSWORD = "testuser", "testpass"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(text[i : i + 4] for i in range(0, 48, 4))


#: Which of the ``actions`` asked for on resource ``name`` (of type ``kind``) ``user`` (``None``:
#: anonymous) is granted.
Policy = Callable[[str | None, str, str, list[str]], list[str]]


def everything_for_users(user: str | None, kind: str, name: str, actions: list[str]) -> list[str]:
    """The default policy: a user gets every action asked for, anonymous ``pull`` only."""
    return actions if user is not None else [a for a in actions if a == "pull"]


def _access(scopes: list[str], user: str | None, policy: Policy) -> list[dict[str, Any]]:
    entries = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        wanted = [a for a in actions.split(",") if a]
        entries.append({"type": kind, "name": name, "actions": policy(user, kind, name, wanted)})
    return entries


class TokenServer(LocalServer):
    """Run with ``start()``/``stop()``; ``realm`` is the token URL; ``requests`` what was asked."""

    def __init__(
        self,
        folder: Path,
        *,
        lifetime: int = 300,
        users: Mapping[str, str] | None = None,
        policy: Policy = everything_for_users,
    ) -> None:
        self.cert, _, self._key = self_signed(folder / "token", "ocimodel-token-signer")
        self.bundle = self.cert
        self.lifetime = lifetime
        self.users = dict(users) if users is not None else {USER: PASSWORD}
        self.policy = policy
        self.kid = libtrust_key_id(self._key)
        self.requests: list[dict[str, Any]] = []
        self.refresh_tokens: dict[str, str] = {}  # refresh token: the user it was issued to
        self.oauth = True  # False: POST /token answers 404, as servers without OAuth2 do
        self._lock = threading.Lock()
        super().__init__(self._handler())

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def registry_config(self) -> str:
        """The ``auth:`` section of a registry config that trusts this server's tokens."""
        return (
            "auth:\n  token:\n"
            f"    realm: {self.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
            f"    rootcertbundle: {self.bundle}\n"
        )

    def count(self, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if method is None or r["method"] == method)

    def _jwt(self, subject: str, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "kid": self.kid}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + self.lifetime, "nbf": now - 1}
        claims |= {"iat": now, "jti": secrets.token_hex(16), "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _answer(self, user: str | None, scopes: list[str], offline: bool) -> dict[str, Any]:
        token = self._jwt(user or "", _access(scopes, user, self.policy))
        answer: dict[str, Any] = {"token": token, "access_token": token, "expires_in": self.lifetime}
        answer["issued_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if offline and user is not None:
            refresh = secrets.token_hex(16)
            with self._lock:
                self.refresh_tokens[refresh] = user
            answer["refresh_token"] = refresh
        return answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _user(self) -> tuple[bool, str | None]:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return True, None
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return server.users.get(user) == password, user

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                scopes = [s for value in query.get("scope", []) for s in value.split()]
                with server._lock:
                    server.requests.append({"method": "GET", "scopes": scopes, "auth": "Authorization" in self.headers})
                if parts.path != "/token":
                    self._send(404, {"error": "not found"})
                    return
                good, user = self._user()
                if not good:
                    self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                    return
                self._send(200, server._answer(user, scopes, offline=False))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                scopes = form.get("scope", "").split()
                with server._lock:
                    server.requests.append({"method": "POST", "scopes": scopes, "grant": form.get("grant_type")})
                if not server.oauth:
                    self._send(404, {"error": "not found"})
                elif form.get("grant_type") == "password":
                    user = form.get("username", "")
                    if user not in server.users or server.users[user] != form.get("password"):
                        self._send(401, {"error": "invalid_grant"})
                        return
                    self._send(200, server._answer(user, scopes, offline=form.get("access_type") == "offline"))
                elif form.get("grant_type") == "refresh_token" and form.get("refresh_token") in server.refresh_tokens:
                    self._send(200, server._answer(server.refresh_tokens[form["refresh_token"]], scopes, offline=False))
                else:
                    self._send(401, {"error": "invalid_grant"})

        return Handler
