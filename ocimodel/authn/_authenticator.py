"""Credentials: what a keychain resolves a registry or repository to.

None of these ever shows its secret in ``repr`` or ``str``; only a username, if there is one.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar, Final

import attrs

from ocimodel.errors import BadJSONError


@attrs.frozen
class _Anonymous:
    """No credentials: requests go without ``Authorization``, or with an anonymous token."""

    def __repr__(self) -> str:
        return "Anonymous"


#: No credentials.
Anonymous: Final = _Anonymous()


@attrs.frozen
class Basic:
    """A username and password, sent as HTTP basic auth (to the registry, or to its token server)."""

    username: str
    password: str = attrs.field(repr=False)

    def header(self) -> str:
        """The ``Authorization`` header value."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


@attrs.frozen
class Bearer:
    """A registry token, sent as is (``registrytoken`` in a docker config): no token exchange."""

    token: str = attrs.field(repr=False)

    def header(self) -> str:
        """The ``Authorization`` header value."""
        return f"Bearer {self.token}"


@attrs.frozen
class IdentityToken:
    """An OAuth2 refresh token (``identitytoken``), exchanged for access tokens at the token server."""

    token: str = attrs.field(repr=False)
    username: str = ""


Authenticator = _Anonymous | Basic | Bearer | IdentityToken


@attrs.frozen
class AuthConfig:
    """One entry of a docker ``config.json`` (or a credential helper's answer).

    ``auth`` (base64 of ``user:password``) wins over ``username``/``password``, as in docker.
    """

    KEYS: ClassVar[tuple[str, ...]] = ("auth", "username", "password", "identitytoken", "registrytoken")

    username: str = ""
    password: str = attrs.field(default="", repr=False)
    auth: str = attrs.field(default="", repr=False)
    identity_token: str = attrs.field(default="", repr=False)
    registry_token: str = attrs.field(default="", repr=False)

    @classmethod
    def from_json(cls, entry: Any, where: str) -> AuthConfig:
        """Read one ``auths`` entry; ``where`` names it in errors (never its content)."""
        if not isinstance(entry, dict):
            raise BadJSONError("credentials file", [f"{where}: expected an object"])
        values = {}
        for key in cls.KEYS:
            value = entry.get(key, "")
            if not isinstance(value, str):
                raise BadJSONError("credentials file", [f"{where}.{key}: expected a string"])
            values[key] = value
        return cls(
            username=values["username"],
            password=values["password"],
            auth=values["auth"],
            identity_token=values["identitytoken"],
            registry_token=values["registrytoken"],
        )

    def authenticator(self, where: str = "credentials") -> Authenticator:
        """What these credentials amount to (:data:`Anonymous` if they are empty)."""
        if self.registry_token:
            return Bearer(self.registry_token)
        username, password = self.username, self.password
        if self.auth:
            try:
                decoded = base64.b64decode(self.auth + "=" * (-len(self.auth) % 4), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise BadJSONError("credentials file", [f"{where}.auth: expected base64 of 'user:password'"]) from None
            username, colon, password = decoded.partition(":")
            if not colon:
                raise BadJSONError("credentials file", [f"{where}.auth: expected base64 of 'user:password'"])
        if self.identity_token:
            return IdentityToken(self.identity_token, username)
        if username or password:
            return Basic(username, password)
        return Anonymous
