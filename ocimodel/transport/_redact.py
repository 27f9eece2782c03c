"""Keeping secrets out of messages and logs: URLs, headers, and what a server echoes of ours."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Collection, Mapping
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

#: Query parameters that are safe to show (go-containerregistry's list); the rest become REDACTED.
SAFE_QUERY = frozenset({"scope", "service", "mount", "from", "digest", "n", "last"})
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def redact_url(url: str) -> str:
    """``url`` without user info, and with every query value outside :data:`SAFE_QUERY` redacted
    (upload locations carry signed state, object-storage redirects carry signatures)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL at all: nothing of it is shown, in case it holds a secret
        return "<a URL that cannot be read>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parse_qsl(parts.query, keep_blank_values=True)
    safe = [(key, value if key in SAFE_QUERY else "REDACTED") for key, value in query]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(safe, safe=":/,"), ""))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with credentials replaced by ``<redacted>``."""
    return {key: "<redacted>" if key.lower() in _SECRET_HEADERS else value for key, value in headers.items()}


#: What stands in a message where a secret was.
MASK = "<redacted>"


def secret_forms(value: str) -> set[str]:
    """The spellings of a credential we sent (an ``Authorization`` value, a token, a password)
    that a server could echo back: the value, the credential after its scheme, a basic
    credential decoded (``user:password``) and its password, each also URL- and JSON-escaped."""
    forms = {value}
    scheme, _, credential = value.partition(" ")
    if credential and scheme.isalpha():
        forms.add(credential.strip())
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credential.strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                decoded = ""
            if decoded:
                forms |= {decoded, decoded.partition(":")[2]}
    escaped = set()
    for form in forms:
        escaped |= {
            quote(form, safe="", errors="replace"),
            quote_plus(form, errors="replace"),
            json.dumps(form)[1:-1],
            html.escape(form),  # an HTML error page's echo
            html.escape(form, quote=False),
        }
    return {form for form in forms | escaped if form}


def mask(text: str, secrets: Collection[str]) -> str:
    """``text`` with every secret in ``secrets`` replaced by :data:`MASK` (longest first, so a
    secret inside another goes with it)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def mask_json(value: object, secrets: Collection[str], depth: int = 32) -> object:
    """A parsed JSON value with :func:`mask` applied to every string in it (keys too); what lies
    deeper than ``depth`` levels becomes ``"…"`` (a message has no use for it)."""
    if isinstance(value, str):
        return mask(value, secrets)
    if isinstance(value, list | dict) and depth <= 0:
        return "…"
    if isinstance(value, list):
        return [mask_json(item, secrets, depth - 1) for item in value]
    if isinstance(value, dict):
        return {mask(str(key), secrets): mask_json(item, secrets, depth - 1) for key, item in value.items()}
    return value
