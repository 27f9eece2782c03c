"""The registry conversation: a spec-shaped client, the auth handshake, errors and retries.

:class:`Client` maps one-to-one onto the distribution-spec's requests (ping, manifests, blobs,
uploads, tags, catalog, referrers) for one registry; the high-level ``remote`` module is built on
it. Every request goes through :class:`Transport`, the one request policy: pools and TLS, proxies
as Go decides them (:class:`ProxyRules`), timeouts, retries (:class:`RetryPolicy`), cancellation,
and redirects followed hop by hop with each host's own credentials. :class:`Auth` is the state
machine that answers a host's challenges (basic auth, bearer tokens by GET or OAuth2 POST, a token
cache per scope set). :func:`check_target` is the one guard of every URL a registry names
(redirects, realms, upload locations, pages, foreign layers). This package knows bytes and HTTP
only, no images.

Requests are logged at DEBUG on the ``ocimodel.transport`` logger, URLs redacted and no headers.
"""

from ocimodel.transport._auth import DEFAULT_TOKEN_LIFETIME, Auth
from ocimodel.transport._challenge import Challenge, parse_challenges, preferred
from ocimodel.transport._client import (
    MANIFEST_LIMIT,
    MANIFEST_TYPES,
    Client,
    ManifestBody,
    ManifestHead,
    Page,
    UploadState,
    delete_scope,
    pull_scope,
    push_scope,
)
from ocimodel.transport._errors import diagnostics, registry_error
from ocimodel.transport._guard import check_target, is_private_host
from ocimodel.transport._headers import content_length, next_link, upload_offset
from ocimodel.transport._policy import MAX_REDIRECTS, HostAuth, Transport, discard, origin, refused, release
from ocimodel.transport._proxy import ProxyRules
from ocimodel.transport._redact import SAFE_QUERY, redact_headers, redact_url
from ocimodel.transport._retry import RETRY_STATUSES, RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "MANIFEST_LIMIT",
    "MANIFEST_TYPES",
    "MAX_REDIRECTS",
    "RETRY_STATUSES",
    "SAFE_QUERY",
    "Auth",
    "Challenge",
    "Client",
    "HostAuth",
    "ManifestBody",
    "ManifestHead",
    "Page",
    "ProxyRules",
    "RetryPolicy",
    "Transport",
    "UploadState",
    "check_target",
    "content_length",
    "delete_scope",
    "diagnostics",
    "discard",
    "is_private_host",
    "next_link",
    "origin",
    "parse_challenges",
    "parse_retry_after",
    "preferred",
    "pull_scope",
    "push_scope",
    "redact_headers",
    "redact_url",
    "refused",
    "registry_error",
    "release",
    "upload_offset",
]
