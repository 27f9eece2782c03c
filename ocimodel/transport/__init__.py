"""The registry conversation: a spec-shaped client, the auth handshake, errors and retries.

:class:`Client` maps one-to-one onto the distribution-spec's requests (ping, manifests, blobs,
uploads, tags, catalog, referrers) for one registry, on one urllib3 pool; the high-level
``remote`` module is built on it. :class:`Auth` is the state machine beside it (challenges, basic
auth, bearer tokens by GET or OAuth2 POST, a token cache per scope set). :class:`RetryPolicy` says
what is retried and for how long. This package knows bytes and HTTP only, no images.

Requests are logged at DEBUG on the ``ocimodel.transport`` logger, URLs redacted and no headers.
"""

from ocimodel.transport._auth import DEFAULT_TOKEN_LIFETIME, Auth, check_target, is_private_host
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
from ocimodel.transport._redact import SAFE_QUERY, redact_headers, redact_url
from ocimodel.transport._retry import RETRY_STATUSES, RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "MANIFEST_LIMIT",
    "MANIFEST_TYPES",
    "RETRY_STATUSES",
    "SAFE_QUERY",
    "Auth",
    "Challenge",
    "Client",
    "ManifestBody",
    "ManifestHead",
    "Page",
    "RetryPolicy",
    "UploadState",
    "check_target",
    "delete_scope",
    "diagnostics",
    "is_private_host",
    "parse_challenges",
    "parse_retry_after",
    "preferred",
    "pull_scope",
    "push_scope",
    "redact_headers",
    "redact_url",
    "registry_error",
]
