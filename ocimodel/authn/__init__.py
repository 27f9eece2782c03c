"""Credentials and where they come from.

Authenticators: :data:`Anonymous`, :class:`Basic` (user and password), :class:`Bearer` (a registry
token used as is), :class:`IdentityToken` (an OAuth2 refresh token). Keychains map a registry or
repository to one: :data:`default_keychain` reads docker's ``config.json`` (with ``credHelpers`` and
``credsStore``), ``$REGISTRY_AUTH_FILE`` or podman's ``auth.json``, as crane does;
:func:`multi_keychain` chains several. No authenticator ever shows its secret in ``repr``.
"""

from ocimodel.authn._authenticator import Anonymous, AuthConfig, Authenticator, Basic, Bearer, IdentityToken
from ocimodel.authn._keychain import (
    ConfigFileKeychain,
    DefaultKeychain,
    Keychain,
    StaticKeychain,
    credential_helper,
    credentials_file,
    default_keychain,
    multi_keychain,
)

__all__ = [
    "Anonymous",
    "AuthConfig",
    "Authenticator",
    "Basic",
    "Bearer",
    "ConfigFileKeychain",
    "DefaultKeychain",
    "IdentityToken",
    "Keychain",
    "StaticKeychain",
    "credential_helper",
    "credentials_file",
    "default_keychain",
    "multi_keychain",
]
