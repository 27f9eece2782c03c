"""Keeping secrets out of messages and logs: URLs and headers (what a server echoes of ours is
masked by :mod:`ocimodel._mask`)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ocimodel._shown import shown

#: Query parameters that are safe to show (go-containerregistry's list); the rest become REDACTED.
SAFE_QUERY = frozenset({"scope", "service", "mount", "from", "digest", "n", "last"})
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def redact_url(url: str) -> str:
    """``url`` as a message or log shows it: without user info, with every query value outside
    :data:`SAFE_QUERY` redacted (upload locations carry signed state, object-storage redirects
    carry signatures), and :func:`~ocimodel._shown.shown` (a registry's realm or ``Location`` may be
    60 KB long, or hold escape sequences)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL at all: nothing of it is shown, in case it holds a secret
        return "<a URL that cannot be read>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parse_qsl(parts.query, keep_blank_values=True)
    safe = [(key, value if key in SAFE_QUERY else "REDACTED") for key, value in query]
    return shown(urlunsplit((parts.scheme, netloc, parts.path, urlencode(safe, safe=":/,"), "")))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with credentials replaced by ``<redacted>``."""
    return {key: "<redacted>" if key.lower() in _SECRET_HEADERS else value for key, value in headers.items()}
