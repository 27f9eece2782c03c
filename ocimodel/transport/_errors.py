"""Registry error answers turned into :class:`~ocimodel.errors.RegistryError` subclasses."""

from __future__ import annotations

from collections.abc import Collection
from http import HTTPStatus

from ocimodel._json import loads
from ocimodel.errors import Diagnostic, RegistryError, registry_error_class
from ocimodel.transport._redact import mask, mask_json, redact_url

_SHOWN_BODY = 512


def diagnostics(body: bytes, secrets: Collection[str] = ()) -> list[Diagnostic]:
    """The distribution-spec ``{"errors": [{"code", "message", "detail"}]}`` list, if the body is
    one (a body nested too deeply to read is not), with ``secrets`` masked in every string."""
    try:
        parsed = loads(body, "error body")
    except ValueError:
        return []
    entries = parsed.get("errors") if isinstance(parsed, dict) else None
    if not isinstance(entries, list):
        return []
    found = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("code"), str):
            message = entry.get("message")
            found.append(
                Diagnostic(
                    mask(entry["code"], secrets),
                    mask(message, secrets) if isinstance(message, str) else "",
                    mask_json(entry.get("detail"), secrets),
                )
            )
    return found


def _reason(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def registry_error(
    method: str,
    url: str,
    status: int,
    body: bytes,
    retry_after: str | None = None,
    secrets: Collection[str] = (),
) -> RegistryError:
    """The error for a registry's answer, its message naming the request (URL redacted) and
    what came back: the error codes, or the start of a body that is not the spec's. ``secrets``
    (what we sent: see :func:`~ocimodel.transport._redact.secret_forms`) are masked wherever the
    answer echoes them."""
    shown_url = redact_url(url)
    found = diagnostics(body, secrets)
    if len(found) == 1:
        detail = str(found[0])
    elif found:
        detail = "multiple errors returned: " + "; ".join(str(d) for d in found)
    else:
        detail = f"unexpected status code {_reason(status)}"
        text = mask(body.decode("utf-8", "replace"), secrets).strip()
        if text:
            detail += ": " + (text[:_SHOWN_BODY] + "…" if len(text) > _SHOWN_BODY else text)
        elif method == "HEAD":
            detail += " (HEAD responses have no body, use GET for details)"
    cls = registry_error_class(status, [d.code for d in found])
    return cls(
        mask(f"{method} {shown_url}: {detail}", secrets),
        status=status,
        method=method,
        url=shown_url,
        diagnostics=found,
        retry_after=retry_after,
    )
