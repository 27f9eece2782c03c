"""The response headers we parse, read as registries really send them.

Each parser says which forms it accepts and who sends them; a header that cannot be read is either
"unknown" (where the request is only an optimisation) or an error (where reading past it would
return a partial answer). Nothing here trusts a header to be what the spec says it is.
"""

from __future__ import annotations

import re

from ocimodel._shown import shown
from ocimodel.errors import RegistryError

_RANGE = re.compile(
    r"^\s*(?:bytes\s*[= ]\s*)?([0-9]{1,19})\s*-\s*(-?[0-9]{1,19})\s*(?:/\s*(?:[0-9]+|\*)\s*)?$", re.IGNORECASE
)
#: A number as HTTP writes one: ASCII digits, as many as a 64-bit size takes (``\d`` and
#: ``str.isdigit`` take others: ``²`` is a digit to them, and no number to ``int``).
_NUMBER = re.compile(r"[0-9]{1,19}")


def upload_offset(value: str | None) -> int:
    """How many bytes of an upload the registry holds, from the ``Range`` header of an upload's
    ``POST``, ``PATCH`` or status ``GET`` answer: the next byte it expects.

    Forms seen, all read here:

    - ``0-<last>``: the spec's form (inclusive); distribution, Harbor, Quay, Artifactory.
    - ``bytes=0-<last>``: distribution's old documentation, and servers modelled on it.
    - ``0-0`` for an upload that holds nothing: distribution (distribution/distribution#2363).
      Read literally it means one byte; the only safe reading is "nothing held", since a registry
      that does hold one byte refuses the resend with 416, and the client then asks again or starts
      the blob over (opencontainers/distribution-spec#577, #578).
    - ``0--1`` for an empty upload: servers that write the inclusive end of nothing (Gitea).
    - ``0-<last>/<total>`` (or ``/*``): the Content-Range form, from servers that reuse it.
    - ``<first>-<last>`` where ``<first>`` is the start of the last chunk, not 0: some registries
      (opencontainers/distribution-spec#580); ``<last>`` is still the last byte held.
    - no ``Range`` at all: nothing held, or a registry that does not say (the caller then sends
      from the start, which a registry that holds more refuses with 416).
    """
    match = _RANGE.match(value or "")
    if match is None:
        return 0
    last = int(match.group(2))
    return 0 if last <= 0 else last + 1


_LINK_PART = re.compile(r"^\s*<([^>]*)>\s*(.*)$", re.DOTALL)
_REL = re.compile(r"""(?:^|;)\s*rel\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s;,]+))""", re.IGNORECASE)
# Between two bare links (no <…>), a comma is followed by the next URL: a path or a scheme.
_BARE_SEPARATOR = re.compile(r",\s*(?=/|https?://)")


def next_link(value: str | None, what: str) -> str | None:
    """The URL of the next page from a ``Link`` header (RFC 8288), as written by registries; ``None``
    when there is no next page.

    Forms seen, all read here:

    - ``<url>; rel="next"``: the spec's form; distribution, Harbor, GitLab, Docker Hub.
    - ``url; rel="next"``: Quay wrote the URL without the angle brackets
      (heroku/docker-registry-client#11); the URL is unambiguous before the first ``;``, and a
      comma followed by a path or a scheme starts the next bare link.
    - ``rel='next'``, ``rel=next``: quoted otherwise, or not at all.
    - several links separated by commas (``<…>; rel="prev", <…>; rel="next"``): the ``next`` one.
    - ``<url>`` with no ``rel``: go-containerregistry follows it as the next page; so do we.
    - ``<>``: no next page.

    A header that is there but cannot be read raises :class:`~ocimodel.errors.RegistryError`:
    returning the pages so far as if they were the whole list would be a silent partial answer.
    """
    if value is None or not value.strip():
        return None
    links: list[tuple[str, str | None]] = []
    for part in _split_links(value):
        bracketed = _LINK_PART.match(part)
        if bracketed is not None:
            target, params = bracketed.group(1).strip(), bracketed.group(2)
        else:
            target, _, params = part.partition(";")
            target, params = target.strip(), ";" + params
            if not target or any(c in target for c in ' "<>'):
                raise RegistryError(f"{what}: cannot read the Link header {shown(value)!r}", status=200)
        found = _REL.search(params)
        relation = None if found is None else next((g for g in found.groups() if g is not None), "").lower()
        links.append((target, relation))
    for target, rel in links:
        if rel is not None and "next" in rel.split():
            return target or None
    unnamed = [target for target, rel in links if rel is None]
    return (unnamed[0] or None) if len(links) == 1 and unnamed else None


def _split_links(value: str) -> list[str]:
    """The links of a ``Link`` header: commas separate them, except inside ``<…>`` or quotes; in
    a header of bare links (no ``<``), only a comma before the next URL does (a URL may hold commas)."""
    if "<" not in value:
        return [part for part in _BARE_SEPARATOR.split(value) if part.strip()]
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in value:
        if char == '"' and not depth:
            quoted = not quoted
        elif char == "<" and not quoted:
            depth += 1
        elif char == ">" and not quoted and depth:
            depth -= 1
        if char == "," and not depth and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def content_length(value: str | None) -> int | None:
    """``Content-Length`` as a number, ``None`` when absent or not one (a claim to check, never
    a fact: the bytes that arrive decide): ASCII digits only, at most 19 of them."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if _NUMBER.fullmatch(value) else None
