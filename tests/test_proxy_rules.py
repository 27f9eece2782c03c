"""Proxy decisions against Go's own tables (``golang.org/x/net/http/httpproxy``'s tests), since
the users of crane, skopeo, docker and podman write their proxy settings for Go's rules."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocimodel.transport import ProxyRules

# Go's TestUseProxy: NO_PROXY below, each host asked for on port 80; True: proxied.
GO_NO_PROXY = (
    "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, 10.0.0.0/30, "
    "2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64"
)
GO_USE_PROXY = [
    ("localhost", False),  # never proxied
    ("127.0.0.1", False),
    ("127.0.0.2", False),
    ("[::1]", False),
    ("[::2]", True),  # not a loopback address
    ("192.168.1.1", False),  # exact IPv4
    ("192.168.1.2", True),  # the port does not match
    ("192.168.1.3", False),  # exact IPv4:port
    ("192.168.1.4", True),
    ("10.0.0.2", False),  # IPv4 CIDR
    ("[2001:db8::52:0:1]", False),  # exact IPv6
    ("[2001:db8::52:0:2]", True),  # port does not match
    ("[2001:db8::52:0:3]", False),  # exact [IPv6]:port
    ("[2002:db8:a::123]", False),  # IPv6 CIDR
    ("[fe80::424b:c8be:1643:a1b6]", True),
    ("barbaz.net", True),  # ".barbaz.net" matches subdomains only
    ("www.barbaz.net", False),
    ("foobar.com", False),  # "foobar.com" matches itself
    ("www.foobar.com", False),  # ... and its subdomains
    ("foofoobar.com", True),  # but not a longer name that ends the same
    ("baz.com", True),
    ("localhost.net", True),
    ("local.localhost", True),
    ("barbarbaz.net", True),
    ("wildcard.io", True),  # "*.wildcard.io" matches subdomains only
    ("nested.wildcard.io", False),
    ("awildcard.io", True),
]


@pytest.mark.parametrize(("host", "proxied"), GO_USE_PROXY)
def test_no_proxy_as_go_reads_it(host: str, proxied: bool) -> None:
    rules = ProxyRules.parse(http="proxy.corp:3128", no_proxy=GO_NO_PROXY)
    assert (rules.proxy_for(f"http://{host}:80/v2/") is not None) is proxied


@pytest.mark.parametrize(("host", "_"), GO_USE_PROXY)
def test_no_proxy_star_means_no_proxy_at_all(host: str, _: bool) -> None:
    assert ProxyRules.parse(http="proxy", https="proxy", no_proxy="*").proxy_for(f"http://{host}:80/") is None


# Go's TestProxyForURL: (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, request URL, the proxy used).
GO_PROXY_FOR_URL = [
    ("127.0.0.1:8080", "", "", "http://example.com", "http://127.0.0.1:8080"),
    ("cache.corp.example.com:1234", "", "", "http://example.com", "http://cache.corp.example.com:1234"),
    ("cache.corp.example.com", "", "", "http://example.com", "http://cache.corp.example.com"),
    ("localhost", "", "", "http://example.com", "http://localhost"),
    ("https://cache.corp.example.com", "", "", "http://example.com", "https://cache.corp.example.com"),
    ("http://127.0.0.1:8080", "", "", "http://example.com", "http://127.0.0.1:8080"),
    ("http.proxy.tld", "secure.proxy.tld", "", "http://insecure.tld/", "http://http.proxy.tld"),
    ("http.proxy.tld", "secure.proxy.tld", "", "https://secure.tld/", "http://secure.proxy.tld"),
    ("http.proxy.tld", "https://secure.proxy.tld", "", "https://secure.tld/", "https://secure.proxy.tld"),
    ("http.proxy.tld", "", "", "https://secure.tld/", None),  # HTTP_PROXY is for http only
    ("http.proxy.tld", "", "", "ftp://insecure.tld/", None),
    ("", "", "", "http://example.com", None),
    ("proxy", "", "example.com", "http://example.com/", None),
    ("proxy", "", ".example.com", "http://example.com/", "http://proxy"),
    ("proxy", "", "ample.com", "http://example.com/", "http://proxy"),
    ("proxy", "", "example.com", "http://foo.example.com/", None),
    ("proxy", "", ".foo.com", "http://example.com/", "http://proxy"),
    ("proxy", "", ".示例.com", "http://www.示例.com", None),
    ("proxy", "", "xn--fsq092h.com", "http://www.示例.com", None),
    ("proxy", "", "示例.com", "http://www.xn--fsq092h.com", None),
    # beyond Go's table: ports written in NO_PROXY, the scheme's default port when the URL has none
    ("proxy", "proxy", "registry.corp:443", "https://registry.corp/v2/", None),
    ("proxy", "proxy", "registry.corp:443", "http://registry.corp/v2/", "http://proxy"),
    ("proxy", "proxy", "registry.corp:5000", "https://registry.corp:5000/v2/", None),
    ("proxy", "", " , :1, [::1]:, example.com", "http://example.com/", None),  # unreadable entries ignored
    # an IPv4-mapped IPv6 address is its IPv4 address, as Go's net.IP reads it
    ("proxy", "", "", "http://[::ffff:127.0.0.1]/v2/", None),  # loopback
    ("proxy", "", "192.168.1.0/24", "http://[::ffff:192.168.1.9]/v2/", None),
    ("proxy", "", "192.168.1.9", "http://[::ffff:192.168.1.9]/v2/", None),
    ("proxy", "", "::/0", "http://[::ffff:192.168.1.9]/v2/", "http://proxy"),  # an IPv6 block holds no IPv4
]


@pytest.mark.parametrize(("http", "https", "no_proxy", "url", "expected"), GO_PROXY_FOR_URL)
def test_proxy_for_url_as_go_decides(http: str, https: str, no_proxy: str, url: str, expected: str | None) -> None:
    assert ProxyRules.parse(http, https, no_proxy).proxy_for(url) == expected


def test_the_environment_upper_case_first_then_lower_case() -> None:
    upper = ProxyRules.from_environment({"HTTP_PROXY": "up", "http_proxy": "down", "no_proxy": "skip.me"})
    assert upper.proxy_for("http://a.example/") == "http://up"
    assert upper.proxy_for("http://skip.me/") is None
    lower = ProxyRules.from_environment({"HTTP_PROXY": "", "http_proxy": "down", "HTTPS_PROXY": "sec"})
    assert lower.proxy_for("http://a.example/") == "http://down"
    assert lower.proxy_for("https://a.example/") == "http://sec"
    assert ProxyRules.from_environment({"ALL_PROXY": "all"}).proxy_for("http://a.example/") is None


def _url(scheme: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return f"{scheme}://{f'[{ip}]' if ip.version == 6 else ip}/v2/"


@given(
    st.ip_addresses().filter(lambda ip: not (ip.version == 6 and ip.ipv4_mapped)),  # those: the table above
    st.integers(0, 128),
    st.sampled_from(["http", "https"]),
)
def test_a_cidr_entry_bypasses_exactly_the_addresses_inside_it(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, bits: int, scheme: str
) -> None:
    """For any address and prefix: inside the block, direct; just past its end, proxied (unless
    that is loopback, which is never proxied)."""
    block = ipaddress.ip_network(f"{ip}/{bits % (ip.max_prefixlen + 1)}", strict=False)
    rules = ProxyRules.parse("proxy", "proxy", str(block))
    assert rules.proxy_for(_url(scheme, ip)) is None
    after = int(block.broadcast_address) + 1
    if after < 2**ip.max_prefixlen:
        outside = ipaddress.ip_address(after) if ip.version == 4 else ipaddress.IPv6Address(after)
        assert rules.proxy_for(_url(scheme, outside)) == (None if outside.is_loopback else "http://proxy")
