"""Registry error answers turned into :class:`~ocimodel.errors.RegistryError` subclasses."""

from __future__ import annotations

from collections.abc import Collection
from http import HTTPStatus

from ocimodel._json import loads
from ocimodel._mask import mask, mask_json
from ocimodel._shown import SHOWN, shorten, shown
from ocimodel.errors import Diagnostic, RegistryError, registry_error_class
from ocimodel.transport._redact import redact_url


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


def _body_text(body: bytes) -> str:
    """An answer's body as text: UTF-8 if it is, else Latin-1 (each byte one character), so that
    what we sent, echoed in either, reads as it was sent and can be masked."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


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
    (what we sent: ``Authorization`` values, tokens) are masked wherever the answer echoes them,
    in any spelling (:mod:`~ocimodel._mask`). What the registry wrote is quoted on one
    line, without control characters, and shortened (:func:`~ocimodel._shown.shown`): each error
    entry, or the body, to :data:`~ocimodel._shown.SHOWN` characters, and all entries together to
    four times that."""
    shown_url = redact_url(url)
    found = diagnostics(body, secrets)
    if len(found) == 1:
        detail = shown(str(found[0]))
    elif found:
        detail = shorten("multiple errors returned: " + "; ".join(shown(str(d)) for d in found), 4 * SHOWN)
    else:
        detail = f"unexpected status code {_reason(status)}"
        text = shown(mask(_body_text(body), secrets).strip())
        if text:
            detail += ": " + text
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
