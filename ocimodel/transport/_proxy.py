"""Which proxy a request goes through, decided as Go decides it (``golang.org/x/net/http/httpproxy``).

crane, skopeo, docker and podman are Go programs: users write ``HTTP_PROXY``, ``HTTPS_PROXY`` and
``NO_PROXY`` for Go's rules, which differ from Python's ``urllib.request.proxy_bypass``:

- ``HTTP_PROXY`` for http requests, ``HTTPS_PROXY`` for https ones (upper case first, then lower
  case); a value without a scheme means ``http://``. ``ALL_PROXY`` is not read.
- ``localhost`` and loopback addresses are never proxied.
- ``NO_PROXY`` is a comma-separated list of: ``*`` (no proxy at all); an IP address or a CIDR block
  (``10.0.0.0/8``, ``2001:db8::/32``); an IP with a port (``192.168.1.3:80``,
  ``[2001:db8::1]:443``); a domain, which matches itself and its subdomains (``example.com``); a
  domain with a leading ``.`` or ``*.``, which matches subdomains only; a domain with a port. A
  port, when given, must equal the request's (80 and 443 when the URL names none). Entries that
  cannot be read are ignored, as Go ignores them.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

import attrs

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ascii(host: str) -> str:
    """A host name in ASCII (IDNA), lower case; as it was when it cannot be encoded."""
    host = host.strip().lower()
    if host.isascii():
        return host
    try:  # label by label: a leading "." (a suffix entry) is an empty label the codec refuses
        return ".".join(label.encode("idna").decode("ascii") if label else "" for label in host.split("."))
    except UnicodeError:
        return host


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@attrs.frozen
class _Entry:
    """One ``NO_PROXY`` entry: a network (an address is a /32 or /128), or a domain suffix."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    domain: str = ""  # with a leading "." (".example.com")
    exact: bool = False  # the domain matches itself too, not only its subdomains
    port: int | None = None

    def matches(self, host: str, ip: IPAddress | None, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return ip is not None and ip.version == self.network.version and ip in self.network
        return host.endswith(self.domain) or (self.exact and host == self.domain[1:])


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` or ``[v6]:port`` -> (host, port); anything else is all host."""
    if entry.startswith("["):
        host, bracket, rest = entry[1:].partition("]")
        if bracket and rest.startswith(":") and rest[1:].isdigit():
            return host, int(rest[1:])
        return (host, None) if bracket and not rest else (entry, None)
    host, colon, port = entry.rpartition(":")
    if colon and port.isdigit() and ":" not in host:
        return host, int(port)
    return entry, None


def _parse_entry(text: str) -> _Entry | None:
    entry = text.strip().lower()
    if not entry:
        return None
    if "/" in entry:
        try:
            return _Entry(network=ipaddress.ip_network(entry, strict=False))
        except ValueError:
            return None
    host, port = _split_port(entry)
    if not host:
        return None
    ip = _ip(host)
    if ip is not None:
        return _Entry(network=ipaddress.ip_network(ip), port=port)
    if host.startswith("*."):
        host = host[1:]
    exact = not host.startswith(".")
    return _Entry(domain=_ascii(host if not exact else "." + host), exact=exact, port=port)


def _proxy_url(value: str) -> str | None:
    """The proxy's URL, ``http://`` added where no scheme is written (as Go adds it); whether the
    URL can be used is for the one who uses it to say."""
    value = value.strip()
    if not value:
        return None
    return value if "://" in value else f"http://{value}"


@attrs.frozen
class ProxyRules:
    """Proxies for http and https requests and the ``NO_PROXY`` exceptions, as Go reads them.

    Build one with :meth:`from_environment` (or directly, for tests); :meth:`proxy_for` answers
    per request URL. Values are immutable, so one can be shared between threads.
    """

    http: str | None = None
    https: str | None = None
    no_proxy: tuple[_Entry, ...] = ()
    no_proxy_at_all: bool = False

    @classmethod
    def parse(cls, http: str = "", https: str = "", no_proxy: str = "") -> ProxyRules:
        """Rules from the three values as they are written in the environment."""
        items = [part.strip() for part in no_proxy.split(",")]
        entries = tuple(entry for entry in map(_parse_entry, items) if entry is not None)
        return cls(_proxy_url(http), _proxy_url(https), entries, "*" in items)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ProxyRules:
        """Rules from ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``NO_PROXY`` (or their lower-case
        spellings, read when the upper-case one is unset or empty)."""
        env = os.environ if environ is None else environ

        def first(*names: str) -> str:
            return next((env[name] for name in names if env.get(name)), "")

        return cls.parse(
            first("HTTP_PROXY", "http_proxy"), first("HTTPS_PROXY", "https_proxy"), first("NO_PROXY", "no_proxy")
        )

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL for a request to ``url``, or ``None`` to connect directly."""
        parts = urlsplit(url)
        proxy = self.https if parts.scheme == "https" else self.http if parts.scheme == "http" else None
        if proxy is None or self.no_proxy_at_all:
            return None
        host = _ascii(parts.hostname or "")
        ip = _ip(host)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1, as Go reads it
        if host == "localhost" or (ip is not None and ip.is_loopback):
            return None
        try:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
        except ValueError:
            port = 0
        if any(entry.matches(host, ip, port) for entry in self.no_proxy):
            return None
        return proxy
