"""Where a registry may send us: the one guard for every URL a server names.

A registry names URLs we then request: redirects (every hop, of every kind of request), upload
``Location``s, token realms, ``Link`` pages, foreign layers' ``urls``. Each is checked here, by
one rule, before anything is sent there:

- **the scheme**: http or https only; and plain http only where the registry itself is spoken to
  over http (or the caller allows it): a registry reached over https cannot send us, or our
  credentials, or our blobs, anywhere in clear text;
- **the address** (server-side request forgery): a URL on a loopback, private, link-local or
  unspecified address (however it is spelt: ``127.1``, ``0x7f000001``, ``[::ffff:127.0.0.1]``,
  ``%31%32%37.0.0.1``, ``localhost.``) is followed only where the registry is as local:

  ====================================  =============================================
  the registry is on                    a URL it names may be on
  ====================================  =============================================
  a public address or a name            public addresses and names only
  a private address (RFC 1918, ULA)     the above, and private addresses
  a loopback address (or localhost)     the above, and loopback addresses
  ====================================  =============================================

  and, whatever the registry is, its very own ``host:port``. Link-local addresses (the cloud
  metadata service at 169.254.169.254) and unspecified ones (``0.0.0.0``) are never followed
  otherwise. A name is taken for what it says: a name that resolves to a private address is
  not caught here (as go-containerregistry; that needs network-level controls);
- **no ambiguity**: a URL that two URL parsers read as two different hosts
  (``http://127.0.0.1\\@example.com/``) is refused: the host checked must be the host connected to.

Hosts are read as urllib3 reads them, since urllib3 makes the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Literal
from urllib.parse import urljoin, urlsplit

import urllib3

from ocimodel._shown import shown as shown_text
from ocimodel.errors import InsecureRedirect
from ocimodel.name import Registry
from ocimodel.transport._redact import redact_url

#: How far from us an address is, nearest first.
Locality = Literal["loopback", "private", "link-local", "unspecified", "public"]
#: What a registry on each locality may name, beside public addresses and its own host:port.
_MAY_NAME: dict[Locality, frozenset[Locality]] = {
    "loopback": frozenset({"loopback", "private"}),
    "private": frozenset({"private"}),
}


def url_host(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of ``url`` as urllib3 (which connects) reads it: the host
    lower-cased, without brackets or a trailing dot, the default port made explicit.

    :raises ValueError: not a URL with a host.
    """
    try:
        parsed = urllib3.util.parse_url(url)
    except urllib3.exceptions.LocationParseError as error:
        raise ValueError(f"not a URL: {error}") from None
    scheme = (parsed.scheme or "").lower()
    host = (parsed.host or "").strip("[]").rstrip(".").lower()
    if not host:
        raise ValueError("a URL without a host")
    return scheme, host, parsed.port or (443 if scheme == "https" else 80)


def resolve(base: str, location: str, what: str) -> str:
    """``location``, a URL a server named (a ``Location``, a ``Link``), made absolute against
    ``base``, the URL of the answer that named it.

    :raises ~ocimodel.errors.InsecureRedirect: it is not a URL (``http://[oops/``: Python's URL
        parser raises ``ValueError``), so it cannot be followed.
    """
    try:
        return urljoin(base, location)
    except ValueError as error:
        shown = redact_url(location)
        raise InsecureRedirect(f"{what} {shown!r} cannot be followed: {shown_text(str(error))}") from None


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells, if it spells one: the standard forms, and the older IPv4
    spellings the system's resolver also takes for one (``127.1``, ``2130706433``,
    ``0x7f000001``, ``0177.0.0.1``: each is 127.0.0.1 to a connecting client)."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not host or not all(part and part.isalnum() for part in host.split(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


#: NAT64 prefixes: the well-known one (RFC 6052) and the local-use one (RFC 8215), each with the
#: IPv4 address in its last 32 bits (the /96 form; the only one a gateway of either is set up with
#: by default).
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/96"))


def _nat64(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if any(address in prefix for prefix in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def locality(host: str | None) -> Locality:
    """Where ``host`` is: ``localhost`` (and ``*.localhost``) and loopback addresses are
    ``"loopback"``; addresses that are not globally reachable are ``"private"`` (RFC 1918, ULA,
    carrier-grade NAT, multicast, reserved), ``"link-local"`` or ``"unspecified"``; the rest,
    names included, ``"public"``."""
    if not host:
        return "public"
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback"
    address = ip_literal(name)
    if address is None:
        return "public"
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 is 127.0.0.1; a 6to4 or NAT64 address stands for the IPv4 address
        # inside it (a NAT64 gateway connects 64:ff9b::a9fe:a9fe to 169.254.169.254)
        address = address.ipv4_mapped or address.sixtofour or _nat64(address) or address
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if not address.is_global or address.is_multicast or address.is_reserved:
        return "private"
    return "public"


def is_private_host(host: str | None) -> bool:
    """Whether ``host`` is localhost, or a loopback, private, link-local or unspecified address."""
    return locality(host) != "public"


def check_target(
    url: str,
    registry: Registry,
    what: str,
    *,
    registry_scheme: str | None = None,
    allow_http: bool = True,
) -> None:
    """Refuse a URL that ``registry`` names (see the module's documentation for the rule).

    :param what: what the URL is, for the message (``"redirect"``, ``"token realm"``, …).
    :param registry_scheme: how the registry is spoken to (``"https"``: an http URL is refused
        unless ``allow_http``); ``None`` when not known yet.
    :param allow_http: the caller allows plain http anyway (``insecure=True``).
    :raises ~ocimodel.errors.InsecureRedirect: the URL must not be requested.
    """
    shown = redact_url(url)
    try:
        scheme, host, port = url_host(url)
        other = urlsplit(url).hostname
    except ValueError as error:
        raise InsecureRedirect(f"{what} {shown!r} cannot be followed: {shown_text(str(error))}") from None
    if scheme not in ("http", "https"):
        raise InsecureRedirect(f"{what} {shown!r}: only http and https are followed")
    if scheme == "http" and registry_scheme == "https" and not allow_http:
        raise InsecureRedirect(
            f"{what} {shown!r}: plain http, but the registry {registry} is spoken to over https "
            "(insecure=True, --insecure, allows it)"
        )
    if (other or "").rstrip(".").lower() != host:
        raise InsecureRedirect(
            f"{what} {shown!r}: its host reads two ways ({shown_text(host)!r} or {shown_text(other or '')!r})"
        )
    target = locality(host)
    if target == "public":
        return
    _, own_host, own_port = url_host(f"{registry_scheme or scheme}://{registry.name}")
    if host == own_host and port == own_port:
        return  # the registry's own host:port is what the user named
    home = locality(own_host)
    if target not in _MAY_NAME.get(home, frozenset()):
        where = "a public host" if home == "public" else f"on a {home} address"
        raise InsecureRedirect(
            f"{what} {shown!r}: a private address ({target}), but the registry {registry} is {where}: not followed"
        )
