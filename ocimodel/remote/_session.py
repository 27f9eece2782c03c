"""The options every remote function shares, and the clients they reuse (one per registry)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypedDict, Unpack

import urllib3

from ocimodel._options import check_options
from ocimodel.authn import Authenticator, Keychain
from ocimodel.name import Digest, Reference, Registry, Repository, Tag, parse_reference
from ocimodel.platform import Platform
from ocimodel.transport import Client, RetryPolicy

#: A progress callback: ``progress(digest, done, size)``, with ``done`` and ``size`` in bytes. It is
#: called as each blob's bytes move (``digest`` is the blob's, ``"sha256:…"``) and, after each such
#: call, once for the whole operation with ``digest`` ``""`` (``size`` is then the total known so
#: far: a push learns sizes as it goes). Calls come from the worker threads, several at once: the
#: callback must be quick and thread-safe, and whatever it raises ends the operation.
Progress = Callable[[str, int, int], None]

DEFAULT_PLATFORM = Platform("amd64", "linux")
DEFAULT_JOBS = 4
DEFAULT_TIMEOUT = 30.0


class SessionOptions(TypedDict, total=False):
    """The keyword options every :mod:`ocimodel.remote` function takes (and :class:`Session`).

    Declared once, here: type checkers and editors check and complete them at every call
    (``remote.image(ref, timeout=5)``), and an unknown name is a :class:`TypeError` at run time too.

    - ``auth``: credentials for every registry asked (overrides ``keychain``); other hosts a
      redirect leads to are answered from ``keychain`` if given, else anonymously.
    - ``keychain``: where to find credentials per registry (default: docker's and podman's
      files and credential helpers, as crane).
    - ``platform``: the platform to pick from an index, a :class:`~ocimodel.Platform` or text
      such as ``"linux/arm64"`` (default ``linux/amd64``).
    - ``jobs``: how many blobs move at once (default 4; at least 1).
    - ``user_agent``: a prefix for ``User-Agent`` (``"<prefix> ocimodel/<version>"``).
    - ``timeout``: seconds (a float) for each connect and each read of one request, for each
      answer's status line and headers to arrive whole, and for a small answer (a manifest, a
      page, a token, an error) to arrive whole; not for a blob's body, nor for the whole
      operation (default 30).
    - ``retry``: a :class:`~ocimodel.transport.RetryPolicy` (default: 4 tries within 30 seconds
      of waiting, ``Retry-After`` honoured).
    - ``progress``: a :data:`Progress` callback (default: none).
    - ``insecure``: allow plain http for any registry (https is still tried first); local and
      private addresses allow it anyway. TLS is verified whenever it is used (see ``verify``).
    - ``ca_file``: a file of CA certificates to trust (``SSL_CERT_FILE`` is honoured too).
    - ``verify``: ``False`` skips TLS verification (an explicit opt-in; never the default).
    - ``pool``: a :class:`urllib3.PoolManager` the caller owns (Go's ``WithTransport``).
    - ``allow_foreign``: try the ``urls`` of foreign (non-distributable) layers when the
      registry does not have them (each vetted as every URL a registry names: https unless the
      registry is spoken to over http or ``insecure``; no private address unless the registry
      is as local: :func:`ocimodel.transport.check_target`).
    - ``cancel``: a :class:`threading.Event`; setting it stops every operation of the session
      before its next request or blob chunk, an upload streaming in one request included
      (:class:`~ocimodel.errors.Cancelled`).

    Caps on what a registry can make us read (in bytes, but ``list_limit``); past each, the
    answer is an error and its connection is closed (README, "Security"):

    - ``manifest_limit``: a manifest, an index, one page of a listing, a referrers answer
      (default 4 MiB; :class:`~ocimodel.errors.ManifestTooLarge`);
    - ``config_limit``: an image's config (default 16 MiB; :class:`~ocimodel.errors.DocumentTooLarge`);
    - ``token_limit``: a token server's answer (default 64 KiB);
    - ``error_limit``: an error answer, read for its message (default 64 KiB);
    - ``list_limit``: the names one listing gathers over all its pages (default 250,000);
    - ``blob_limit``: a blob whose size nothing states: named by digest alone (``remote.layer``),
      its ``GET`` and its ``HEAD`` without ``Content-Length`` (default 1 GiB;
      :class:`~ocimodel.errors.BlobTooLarge`). Every other blob stops at its stated size.
    """

    auth: Authenticator | None
    keychain: Keychain | None
    platform: Platform | str | None
    jobs: int
    user_agent: str | None
    timeout: float
    retry: RetryPolicy | None
    progress: Progress | None
    insecure: bool
    ca_file: str | None
    verify: bool
    pool: urllib3.PoolManager | None
    allow_foreign: bool
    cancel: threading.Event | None
    manifest_limit: int
    config_limit: int
    token_limit: int
    error_limit: int
    list_limit: int
    blob_limit: int


#: The options a :class:`Session` hands to each registry's :class:`~ocimodel.transport.Client`.
_CLIENT_OPTIONS = (
    "auth",
    "keychain",
    "user_agent",
    "timeout",
    "retry",
    "ca_file",
    "verify",
    "pool",
    "insecure",
    "cancel",
    "manifest_limit",
    "token_limit",
    "error_limit",
    "list_limit",
)
#: The most bytes of an image's config that are read (``config_limit=``).
CONFIG_LIMIT = 16 << 20
#: The most bytes of a blob whose size nothing states that are read (``blob_limit=``).
BLOB_LIMIT = 1 << 30


class Session:
    """Options for remote operations, and the registry clients made with them (kept for reuse:
    connections, tokens). Pass one as ``session=`` to share it between calls; otherwise each call
    makes its own from its keyword options, the :class:`SessionOptions`.

    :raises TypeError: an option that is not one of :class:`SessionOptions`.
    :raises ValueError: ``jobs`` below 1.
    :raises ~ocimodel.errors.BadPlatformError: a ``platform`` text that is not ``os/arch[/variant]``.
    """

    def __init__(self, **options: Unpack[SessionOptions]) -> None:
        check_options(options, SessionOptions, "Session")
        jobs = options.get("jobs", DEFAULT_JOBS)
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        platform = options.get("platform")
        self.platform = Platform.parse(platform) if isinstance(platform, str) else platform or DEFAULT_PLATFORM
        self.jobs = jobs
        self.progress = options.get("progress")
        self.insecure = options.get("insecure", False)
        self.allow_foreign = options.get("allow_foreign", False)
        self.config_limit = options.get("config_limit", CONFIG_LIMIT)
        self.blob_limit = options.get("blob_limit", BLOB_LIMIT)
        self._client_options: dict[str, Any] = {"timeout": DEFAULT_TIMEOUT}
        self._client_options.update((key, value) for key, value in options.items() if key in _CLIENT_OPTIONS)
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


def session_from(session: Session | None, options: SessionOptions) -> Session:
    """``session`` if given (then ``options`` must be empty), else a new one from ``options``."""
    if session is None:
        return Session(**options)
    if options:
        raise TypeError(f"pass options to the Session, not beside it: {', '.join(sorted(options))}")
    return session
