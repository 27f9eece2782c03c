"""Keychains: from a registry or repository to credentials, the way docker, podman and crane find them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs

from ocimodel import limits
from ocimodel._json import loads
from ocimodel._reading import read_credentials
from ocimodel._shown import shown
from ocimodel.authn._authenticator import Anonymous, AuthConfig, Authenticator
from ocimodel.errors import BadJSONError, CredentialsError
from ocimodel.name import DEFAULT_REGISTRY, Registry, Repository

_HUB_KEY = "https://index.docker.io/v1/"
_HELPER_TIMEOUT = 30.0
_HELPER_ERRORS = 64 << 10  # bytes of a helper's stderr read: its first line is all a message shows
_NOT_FOUND = "credentials not found"


class Keychain(Protocol):
    """Anything that resolves a registry or repository to credentials."""

    def resolve(self, resource: Registry | Repository) -> Authenticator:
        """The credentials for ``resource`` (:data:`Anonymous` if there are none)."""
        ...


def _keys(resource: Registry | Repository) -> Iterator[tuple[str, bool]]:
    """The config keys to try, most specific first, each with whether it is a namespace key:
    the repository, its parent namespaces (podman's ``auth.json`` scopes credentials so:
    ``host/ns/repo``, then ``host/ns``), then the registry (Hub's aliases too)."""
    registry = resource if isinstance(resource, Registry) else resource.registry
    hub = registry.name == DEFAULT_REGISTRY
    if isinstance(resource, Repository):
        hosts = [registry.name, "docker.io"] if hub else [registry.name]
        yield resource.name, False
        if hub:
            yield f"docker.io/{resource.path}", False
        parts = resource.path.split("/")
        for depth in range(len(parts) - 1, 0, -1):
            for host in hosts:
                yield f"{host}/{'/'.join(parts[:depth])}", True
    if hub:
        yield from ((key, False) for key in (_HUB_KEY, DEFAULT_REGISTRY, "docker.io"))
    else:
        yield registry.name, False


def _hostname(key: str) -> str:
    """``https://host:5000/v1/`` -> ``host:5000``, as docker matches old-style keys."""
    for prefix in ("http://", "https://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key.split("/", 1)[0]


def credential_helper(name: str, server: str) -> AuthConfig | None:
    """Ask ``docker-credential-<name>`` for ``server``'s credentials (``None`` if it has none).

    Its answer is read within the document cap (``OCIMODEL_DOCUMENT_LIMIT``, :mod:`ocimodel.limits`),
    its stderr within 64 KiB, and it has 30 s: past any of them it is stopped.

    :raises ~ocimodel.errors.CredentialsError: it is not on ``PATH``, fails, says more than the
        caps, takes too long, or answers what is not its JSON.
    """
    program = f"docker-credential-{name}"
    path = shutil.which(program)
    if path is None:
        raise CredentialsError(f"credential helper {program} is not on PATH (configured for {server})")
    cap = limits.current().document
    from ocimodel.authn._process import ask  # here: only a credential helper starts a process

    answer = ask(
        [path, "get"],
        server.encode(),
        what=f"credential helper {program} for {server}",
        limit=cap,
        error_limit=_HELPER_ERRORS,
        seconds=_HELPER_TIMEOUT,
    )
    if answer.returncode != 0:
        said = (answer.stdout + answer.stderr).decode("utf-8", "replace").strip()
        if _NOT_FOUND in said.lower():
            return None
        first_line = shown(said.splitlines()[0], 200) if said else f"exit status {answer.returncode}"
        raise CredentialsError(f"credential helper {program} failed for {server}: {first_line}")
    try:
        found = loads(answer.stdout, f"{program}'s answer")
        username, secret = found["Username"], found["Secret"]
    except (ValueError, KeyError, TypeError):
        raise CredentialsError(
            f"credential helper {program} gave an answer that is not its JSON for {server}"
        ) from None
    if username == "<token>":
        return AuthConfig(identity_token=secret)
    return AuthConfig(username=username, password=secret)


@attrs.frozen
class ConfigFileKeychain:
    """Credentials from one docker-style file: docker's ``config.json`` or podman's ``auth.json``.

    Per key (repository, its parent namespaces, then registry): a ``credHelpers`` entry, else
    ``credsStore`` (asked for the repository and the registry only), else ``auths``: the exact
    key, or for the registry an old-style key with a scheme (``https://host/v1/``). A key with a
    path (``host/ns/repo``, as podman writes for credentials scoped to a repository) applies to that
    repository and what is under it, never to the rest of the host. The file is read on every
    call, so a ``docker login`` made meanwhile is seen.
    """

    path: Path

    def _load(self) -> Mapping[str, Any]:
        try:
            text = read_credentials(self.path)
            if not text.strip():  # an empty file is an empty config, as docker reads it
                return {}
            data = loads(text, "credentials file")
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise CredentialsError(f"cannot read credentials file {self.path}: {error}") from None
        if not isinstance(data, dict):
            raise BadJSONError("credentials file", [f"{self.path}: expected an object"])
        return data

    def resolve(self, resource: Registry | Repository) -> Authenticator:
        config = self._load()
        helpers = config.get("credHelpers") or {}
        store = config.get("credsStore") or ""
        auths = config.get("auths") or {}
        for key, namespace in _keys(resource):
            found: AuthConfig | None
            if isinstance(helpers, dict) and key in helpers:
                found = credential_helper(str(helpers[key]), key)
            elif namespace:
                found = self._from_auths(auths, key)
            elif store:
                found = credential_helper(str(store), key)
            else:
                found = self._from_auths(auths, key)
            if found is not None:
                authenticator = found.authenticator(f"{self.path}: {key}")
                if authenticator is not Anonymous:
                    return authenticator
        return Anonymous

    def _from_auths(self, auths: Any, key: str) -> AuthConfig | None:
        if not isinstance(auths, dict):
            raise BadJSONError("credentials file", [f"{self.path}: auths: expected an object"])
        if key in auths:
            return AuthConfig.from_json(auths[key], f"auths[{key!r}]")
        for other, entry in auths.items():
            # an old-style key (docker wrote URLs) names its host; a bare key with a path is scoped
            if "/" not in key and other.startswith(("http://", "https://")) and _hostname(other) == key:
                return AuthConfig.from_json(entry, f"auths[{other!r}]")
        return None


def _docker_config() -> Path | None:
    folder = os.environ.get("DOCKER_CONFIG")
    path = Path(folder) / "config.json" if folder else Path.home() / ".docker" / "config.json"
    return path if path.is_file() else None


def _podman_auth() -> Path | None:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    for folder in ([runtime] if runtime else []) + [config_home]:
        path = Path(folder) / "containers" / "auth.json"
        if path.is_file():
            return path
    return None


def credentials_file() -> Path | None:
    """The file the default keychain reads, in crane's order: docker's config
    (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``), ``$REGISTRY_AUTH_FILE``,
    then podman's ``auth.json`` (``$XDG_RUNTIME_DIR/containers``, then ``$XDG_CONFIG_HOME/containers``)."""
    registry_auth = os.environ.get("REGISTRY_AUTH_FILE")
    explicit = Path(registry_auth) if registry_auth and Path(registry_auth).is_file() else None
    return _docker_config() or explicit or _podman_auth()


class DefaultKeychain:
    """Docker's, then podman's credentials, found afresh on every call (see :func:`credentials_file`)."""

    def resolve(self, resource: Registry | Repository) -> Authenticator:
        path = credentials_file()
        return Anonymous if path is None else ConfigFileKeychain(path).resolve(resource)

    def __repr__(self) -> str:
        return "default_keychain"


default_keychain = DefaultKeychain()


@attrs.frozen
class _MultiKeychain:
    keychains: tuple[Keychain, ...]

    def resolve(self, resource: Registry | Repository) -> Authenticator:
        for keychain in self.keychains:
            found = keychain.resolve(resource)
            if found is not Anonymous:
                return found
        return Anonymous


def multi_keychain(*keychains: Keychain) -> Keychain:
    """A keychain that asks each in turn; the first credentials found win. An error is not
    skipped: it is raised, so a broken credential store is not mistaken for no credentials."""
    return _MultiKeychain(keychains)


@attrs.frozen
class StaticKeychain:
    """The same credentials for everything (what an explicit ``auth=`` becomes)."""

    authenticator: Authenticator

    def resolve(self, resource: Registry | Repository) -> Authenticator:
        return self.authenticator
