"""Transport pieces that need no server: challenges, redaction, error messages, the retry policy."""

from __future__ import annotations

import base64
import email.utils
import html
import json
import time
from urllib.parse import quote

import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from ocimodel._mask import MASK, mask
from ocimodel.errors import (
    Denied,
    DigestMismatch,
    InsecureRedirect,
    InvalidRequest,
    NotFound,
    RegistryError,
    ServerError,
    TooManyRequests,
    Unauthorized,
)
from ocimodel.hashing import Hash
from ocimodel.name import Registry
from ocimodel.transport import (
    Challenge,
    RetryPolicy,
    check_target,
    is_private_host,
    parse_challenges,
    parse_retry_after,
    preferred,
    redact_headers,
    redact_url,
    registry_error,
)
from ocimodel.transport._client import _check_said


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            [
                'Bearer realm="https://auth.example.com/token",service="registry.example.com",other=fun,slashed="he\\"\\l\\lo"'
            ],
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://auth.example.com/token",
                        "service": "registry.example.com",
                        "other": "fun",
                        "slashed": 'he"llo',
                    },
                )
            ],
        ),
        (["BASIC"], [Challenge("basic")]),
        (['Basic realm="ocimodel-test"'], [Challenge("basic", {"realm": "ocimodel-test"})]),
        (["Negotiate", 'Basic realm="x"'], [Challenge("negotiate"), Challenge("basic", {"realm": "x"})]),
        (
            ['Negotiate, Basic realm="x", charset="UTF-8", Bearer realm="y",scope="a b"'],
            [
                Challenge("negotiate"),
                Challenge("basic", {"realm": "x", "charset": "UTF-8"}),
                Challenge("bearer", {"realm": "y", "scope": "a b"}),
            ],
        ),
        (['Bearer Realm="r", SCOPE="s"'], [Challenge("bearer", {"realm": "r", "scope": "s"})]),
        ([""], []),
    ],
)
def test_challenge_parsing(headers: list[str], expected: list[Challenge]) -> None:
    assert parse_challenges(headers) == expected


@pytest.mark.parametrize(
    ("headers", "scheme"),
    [
        (["BASIC"], "basic"),
        (["Negotiate", 'Basic realm="x"'], "basic"),
        (["Negotiate", "Digest"], "negotiate"),
        ([], None),
    ],
)
def test_preferred_challenge(headers: list[str], scheme: str | None) -> None:
    chosen = preferred(parse_challenges(headers))
    assert (chosen.scheme if chosen else None) == scheme


def test_challenge_scopes() -> None:
    challenge = parse_challenges(['Bearer realm="r",scope="repository:a:pull repository:b:pull,push"'])[0]
    assert challenge.scopes == ("repository:a:pull", "repository:b:pull,push")
    assert (challenge.realm, challenge.service) == ("r", "")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://r.example/v2/x/blobs/uploads/abc?_state=SECRET&digest=sha256:00",
            "https://r.example/v2/x/blobs/uploads/abc?_state=REDACTED&digest=sha256:00",
        ),
        (
            "https://auth.example/token?scope=repository:x:pull&service=reg&account=me&password=p",
            "https://auth.example/token?scope=repository:x:pull&service=reg&account=REDACTED&password=REDACTED",
        ),
        ("https://user:pass@r.example/v2/", "https://r.example/v2/"),
        (
            "https://s3.example/blob?X-Amz-Signature=abc&n=10&last=t",
            "https://s3.example/blob?X-Amz-Signature=REDACTED&n=10&last=t",
        ),
    ],
)
def test_urls_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_headers_are_redacted() -> None:
    assert redact_headers({"Authorization": "Bearer x", "Accept": "a", "cookie": "c"}) == {
        "Authorization": "<redacted>",
        "Accept": "a",
        "cookie": "<redacted>",
    }


URL = "https://r.example/v2/x/manifests/v1?_state=secret"


@pytest.mark.parametrize(
    ("method", "status", "body", "cls", "message"),
    [
        (
            "GET",
            400,
            b"",
            InvalidRequest,
            "GET https://r.example/v2/x/manifests/v1?_state=REDACTED: unexpected status code 400 Bad Request",
        ),
        (
            "HEAD",
            404,
            b"",
            NotFound,
            "unexpected status code 404 Not Found (HEAD responses have no body, use GET for details)",
        ),
        ("GET", 401, b"go away", Unauthorized, "unexpected status code 401 Unauthorized: go away"),
        (
            "GET",
            404,
            b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v1"}}]}',
            NotFound,
            "MANIFEST_UNKNOWN: manifest unknown; {'Tag': 'v1'}",
        ),
        (
            "PUT",
            400,
            b'{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown"},'
            b'{"code":"MANIFEST_INVALID","message":"bad"}]}',
            InvalidRequest,
            "multiple errors returned: MANIFEST_BLOB_UNKNOWN: blob unknown; MANIFEST_INVALID: bad",
        ),
        ("GET", 403, b'{"errors":[{"code":"DENIED","message":"no"}]}', Denied, "DENIED: no"),
        ("GET", 429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', TooManyRequests, "slow down"),
        ("GET", 503, b"<html>maintenance</html>", ServerError, "503 Service Unavailable: <html>maintenance</html>"),
        ("GET", 599, b"", ServerError, "unexpected status code 599"),
    ],
)
def test_registry_errors(method: str, status: int, body: bytes, cls: type[RegistryError], message: str) -> None:
    error = registry_error(method, URL, status, body)
    assert type(error) is cls
    assert message in str(error)
    assert "secret" not in str(error)
    assert error.status == status
    assert error.method == method
    assert error.url.endswith("_state=REDACTED")


def test_long_bodies_are_cut_in_messages() -> None:
    error = registry_error("GET", URL, 500, b"x" * 10_000)
    assert len(str(error)) < 700


def test_retry_policy_backoff_and_retry_after() -> None:
    policy = RetryPolicy(backoff=1.0, factor=3.0, jitter=0.0, max_delay=5.0)
    assert [policy.delay(n) for n in (1, 2, 3)] == [1.0, 3.0, 5.0]
    assert policy.delay(1, "2") == 2.0
    assert policy.delay(1, "120") == 5.0
    in_two = email.utils.formatdate(time.time() + 2, usegmt=True)
    assert 0.5 < policy.delay(1, in_two) <= 2.0
    assert policy.retries_status(503)
    assert not policy.retries_status(404)
    assert RetryPolicy.never().attempts == 1
    jittery = RetryPolicy(backoff=1.0, jitter=0.5)
    assert all(1.0 <= jittery.delay(1) <= 1.5 for _ in range(50))
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    ("value", "seconds"), [("3", 3.0), ("0", 0.0), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)]
)
def test_parse_retry_after(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_the_default_policy_gives_up_well_within_a_minute() -> None:
    policy = RetryPolicy()
    worst = sum(policy.max_delay for _ in range(policy.attempts - 1))
    assert min(worst, policy.budget) < 60


PRIVATE_SPELLINGS = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "::1",
    "[::1]",
    "::ffff:127.0.0.1",
    "10.0.0.1",
    "10.1",
    "192.168.1.1",
    "169.254.169.254",
    "0.0.0.0",  # noqa: S104 (an address to refuse, not one to bind)
    "localhost",
    "db.localhost",
    "fe80::1",
]


@pytest.mark.parametrize("host", PRIVATE_SPELLINGS)
def test_every_spelling_of_a_private_address_is_private(host: str) -> None:
    """The resolver connects ``127.1`` or ``0x7f000001`` to 127.0.0.1: a guard that knows only the
    dotted-quad form would let a public registry redirect there."""
    assert is_private_host(host)
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    with pytest.raises(InsecureRedirect, match="a private address"):
        check_target(f"http://{bracketed}/x", Registry("registry.example.com"), "redirect")


@pytest.mark.parametrize("host", ["registry.example.com", "8.8.8.8", "1.example", "2001:4860:4860::8888"])
def test_public_addresses_and_names_are_not_private(host: str) -> None:
    assert not is_private_host(host)


#: (the registry, how it is spoken to, the URL it names, whether it is followed): the guard's rule
#: (transport/_guard.py), table by table row.
TARGETS = [
    # a public registry: public hosts only, whatever the spelling of the private one
    ("registry.example.com", "https", "https://auth.example.com/token", True),
    ("registry.example.com", "https", "https://8.8.8.8/token", True),
    ("registry.example.com", "https", "https://127.0.0.1:5001/token", False),
    ("registry.example.com", "https", "https://localhost./token", False),
    ("registry.example.com", "https", "https://%31%32%37.0.0.1/token", False),
    ("registry.example.com", "https", "https://127.0.0.1\\@auth.example.com/token", False),
    ("registry.example.com", "https", "https://auth.example.com\\@127.0.0.1/token", False),
    ("registry.example.com", "https", "https://[::ffff:7f00:1]/token", False),
    ("registry.example.com", "https", "https://[::127.0.0.1]/token", False),
    ("registry.example.com", "https", "https://100.64.0.1/token", False),
    ("registry.example.com", "https", "https://10.0.0.1/token", False),
    ("registry.example.com", "https", "https://169.254.169.254/token", False),
    # plain http only for a registry spoken to over plain http
    ("registry.example.com", "https", "http://auth.example.com/token", False),
    ("registry.example.com", "http", "http://auth.example.com/token", True),
    ("registry.example.com", "https", "ftp://auth.example.com/token", False),
    # a loopback registry: loopback and private addresses too (a local registry, its token
    # server on another port; a tunnel to a registry on a private network)
    ("127.0.0.1:5000", "http", "http://127.0.0.1:5001/token", True),
    ("localhost:5000", "http", "http://[::1]:5001/token", True),
    ("127.0.0.1:5000", "http", "http://10.0.0.1/token", True),
    ("127.0.0.1:5000", "http", "http://169.254.169.254/token", False),
    ("127.0.0.1:5000", "http", "http://0.0.0.0:5001/token", False),
    # a private registry: private addresses too, not this machine's
    ("10.0.0.5:5000", "http", "http://10.0.0.6/token", True),
    ("10.0.0.5:5000", "http", "http://127.0.0.1:5001/token", False),
    ("10.0.0.5:5000", "http", "http://169.254.169.254/token", False),
    ("10.0.0.5:5000", "http", "http://[64:ff9b::a9fe:a9fe]/token", False),  # NAT64 of the metadata service
    ("registry.example.com", "https", "https://[64:ff9b::7f00:1]/token", False),  # NAT64 of 127.0.0.1
    ("registry.example.com", "https", "https://[64:ff9b:1::a00:1]/token", False),  # local-use NAT64 of 10.0.0.1
    ("registry.example.com", "https", "https://[64:ff9b::808:808]/token", True),  # NAT64 of a public address
    # the registry's own host and port, whatever it is
    ("169.254.1.1:5000", "http", "http://169.254.1.1:5000/token", True),
    ("169.254.1.1:5000", "http", "http://169.254.1.1:5001/token", False),
]


@pytest.mark.parametrize(("registry", "scheme", "url", "followed"), TARGETS)
def test_where_a_registry_may_send_us(registry: str, scheme: str, url: str, followed: bool) -> None:
    def check() -> None:
        check_target(url, Registry(registry), "token realm", registry_scheme=scheme, allow_http=False)

    if followed:
        check()
    else:
        with pytest.raises(InsecureRedirect, match="token realm"):
            check()


def test_insecure_allows_plain_http_but_not_private_addresses() -> None:
    public = Registry("registry.example.com")
    check_target("http://cdn.example.com/x", public, "redirect", registry_scheme="https", allow_http=True)
    with pytest.raises(InsecureRedirect, match="private address"):
        check_target("http://127.0.0.1/x", public, "redirect", registry_scheme="https", allow_http=True)


@given(
    st.text(min_size=1, max_size=40),
    st.text(max_size=40),
    st.sampled_from(["plain", "json", "quoted", "basic", "html"]),
)
def test_a_secret_sent_is_masked_in_every_spelling(secret: str, around: str, spelling: str) -> None:
    credential = "Basic " + base64.b64encode(f"user:{secret}".encode()).decode()
    shown = {
        "plain": secret,
        "json": json.dumps(secret)[1:-1],
        "quoted": quote(secret, safe=""),
        "basic": credential,
        "html": html.escape(secret),  # an HTML error page's echo
    }[spelling]
    masked = mask(f"{around}{shown}{around}", {credential})
    assert all(shown not in piece for piece in masked.split(MASK))


ASKED = Hash.sha256(b"asked")
OTHER = Hash.sha256(b"other")


@pytest.mark.parametrize(
    ("header", "refused"),
    [
        (str(ASKED), False),
        (str(ASKED).upper().replace("SHA256", "sha256"), False),  # the same digest, upper-case hex
        (None, False),  # the header is optional
        ("sha512:" + "ab" * 64, False),  # another algorithm: neither checked nor refuted
        (str(OTHER), True),
        ("sha256:" + OTHER.hex.upper(), True),  # another digest, spelt in upper case
        (f"{ASKED}, {OTHER}", True),  # two headers, one of them another digest
        ("sha256:not-a-digest", True),
    ],
)
def test_a_digest_claim_that_contradicts_what_was_asked_is_refused(header: str | None, refused: bool) -> None:
    response = urllib3.HTTPResponse(body=b"", headers={"Docker-Content-Digest": header} if header else {})
    if refused:
        with pytest.raises(DigestMismatch):
            _check_said(response, ASKED, "GET x")
    else:
        _check_said(response, ASKED, "GET x")
