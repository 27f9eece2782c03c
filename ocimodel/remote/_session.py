"""The options every remote function shares, and the clients they reuse (one per registry)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import urllib3

from ocimodel.authn import Authenticator, Keychain
from ocimodel.name import Digest, Reference, Registry, Repository, Tag, parse_reference
from ocimodel.platform import Platform
from ocimodel.transport import Client, RetryPolicy

#: What a progress callback receives: (blob digest or "" for overall, bytes done, bytes in all).
Progress = Callable[[str, int, int], None]

DEFAULT_PLATFORM = Platform("amd64", "linux")
DEFAULT_JOBS = 4


class Session:
    """Options for remote operations, and the registry clients made with them (kept for reuse:
    connections, tokens). Pass one as ``session=`` to share it between calls; otherwise each call
    makes its own from its keyword options.

    :param auth: credentials for everything (overrides ``keychain``).
    :param keychain: where to find credentials (default: docker's and podman's files, as crane).
    :param platform: the platform to pick from an index (default ``linux/amd64``).
    :param jobs: how many blobs move at once.
    :param allow_foreign: try the ``urls`` of foreign (non-distributable) layers when the
        registry does not have them (https only; never private addresses unless the registry is).
    :param cancel: a :class:`threading.Event`; setting it stops every operation of the session
        before its next request or blob chunk, an upload streaming in one request included
        (:class:`~ocimodel.errors.Cancelled`).
    """

    def __init__(
        self,
        *,
        auth: Authenticator | None = None,
        keychain: Keychain | None = None,
        platform: Platform | str | None = None,
        jobs: int = DEFAULT_JOBS,
        user_agent: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        progress: Progress | None = None,
        insecure: bool = False,
        ca_file: str | None = None,
        verify: bool = True,
        pool: urllib3.PoolManager | None = None,
        allow_foreign: bool = False,
        cancel: threading.Event | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.platform = Platform.parse(platform) if isinstance(platform, str) else platform or DEFAULT_PLATFORM
        self.jobs = jobs
        self.progress = progress
        self.insecure = insecure
        self.allow_foreign = allow_foreign
        self._client_options: dict[str, Any] = {
            "auth": auth,
            "keychain": keychain,
            "user_agent": user_agent,
            "timeout": timeout,
            "retry": retry,
            "ca_file": ca_file,
            "verify": verify,
            "pool": pool,
            "insecure": insecure,
            "cancel": cancel,
        }
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def client(self, registry: Registry) -> Client:
        """The client for ``registry`` (made once per session)."""
        with self._lock:
            if registry.name not in self._clients:
                self._clients[registry.name] = Client(registry, **self._client_options)
            return self._clients[registry.name]

    def reference(self, reference: Reference | str) -> Reference:
        """A reference, parsed with the defaults (and ``insecure``) if given as text."""
        if isinstance(reference, Tag | Digest):
            return reference
        return parse_reference(reference, insecure=self.insecure)

    def repository(self, repository: Repository | str) -> Repository:
        return repository if isinstance(repository, Repository) else Repository(repository, insecure=self.insecure)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def session_from(session: Session | None, options: dict[str, Any]) -> Session:
    """``session`` if given (then ``options`` must be empty), else a new one from ``options``."""
    if session is None:
        return Session(**options)
    if options:
        raise TypeError(f"pass options to the Session, not beside it: {', '.join(sorted(options))}")
    return session
