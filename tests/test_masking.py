"""Masking what we sent wherever an answer echoes it (:mod:`ocimodel._mask`), and the
one-line, control-free, short form of outside text in messages (:mod:`ocimodel._shown`).

The property: take a credential, spell what we sent every way a server could (each reversible
encoding: URL-encoding once to three times, JSON, HTML, base64 in any case or alphabet, padded or
not, cut into lines, at any alignment inside other base64, hex, UTF-8 read as Latin-1, …; then
perhaps cut by a line break, or put in another case), put it in random text, and the masked text
holds none of it. And the converse: innocent text is left as it is.
"""

from __future__ import annotations

import base64
import html
import json
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ocimodel._mask import FOLDED_MIN, GRAM, MASK, mask, mask_json
from ocimodel._shown import SHOWN, printable, shorten, shown
from ocimodel.errors import Diagnostic
from ocimodel.transport import registry_error


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _inside_base64(prefix: bytes) -> Callable[[str], str]:
    """The secret inside other bytes, all base64-encoded (a server re-encoding a larger value)."""
    return lambda text: base64.b64encode(prefix + text.encode() + b"!?").decode()


#: Reversible spellings a server could give what we sent, by name.
SPELLINGS: dict[str, Callable[[str], str]] = {
    "as sent": lambda t: t,
    "URL-encoded": lambda t: quote(t, safe=""),
    "URL-encoded, / kept": lambda t: quote(t),
    "form-encoded": quote_plus,
    "URL-encoded twice": lambda t: quote(quote(t, safe=""), safe=""),
    "form-encoded twice": lambda t: quote_plus(quote_plus(t)),
    "URL-encoded three times": lambda t: quote(quote(quote(t, safe=""), safe=""), safe=""),
    "every byte URL-encoded": lambda t: "".join(f"%{b:02X}" for b in t.encode()),
    "JSON": lambda t: json.dumps(t)[1:-1],
    "JSON, UTF-8 kept": lambda t: json.dumps(t, ensure_ascii=False)[1:-1],
    "every character \\u-escaped": lambda t: "".join(
        f"\\u{ord(c):04x}" if ord(c) < 0x10000 else json.dumps(c)[1:-1] for c in t
    ),
    "HTML": html.escape,
    "HTML numeric references": lambda t: "".join(f"&#{ord(c)};" for c in t),
    "HTML hex references": lambda t: "".join(f"&#x{ord(c):X};" for c in t),
    "base64": _b64,
    "base64, upper case": lambda t: _b64(t).upper(),
    "base64, lower case": lambda t: _b64(t).lower(),
    "base64, unpadded": lambda t: _b64(t).rstrip("="),
    "base64, URL-safe": lambda t: base64.urlsafe_b64encode(t.encode()).decode().rstrip("="),
    "base64 in MIME lines": lambda t: base64.encodebytes(t.encode() * 3).decode(),
    "base64 after one byte": _inside_base64(b"x"),
    "base64 after two bytes": _inside_base64(b"xy"),
    "hex": lambda t: t.encode().hex(),
    "hex, upper case": lambda t: t.encode().hex().upper(),
    "UTF-8 read as Latin-1": lambda t: t.encode().decode("latin-1"),
    "Python bytes repr": lambda t: str(t.encode())[2:-1],
    "upper case": str.upper,
    "lower case": str.lower,
}

#: What else may happen to a spelling on its way into a message.
AFTERWARDS: dict[str, Callable[[str, int], str]] = {
    "nothing": lambda t, _: t,
    "a line break": lambda t, at: t[:at] + "\n" + t[at:],
    "a CRLF and indent": lambda t, at: t[:at] + "\r\n    " + t[at:],
    "upper case": lambda t, _: t.upper(),
}

#: Secrets people and registries use: printable, no line breaks (a header cannot hold one).
SECRETS = st.text(
    st.characters(whitelist_categories=("L", "N", "P", "S"), blacklist_characters=":"), min_size=GRAM + 1, max_size=40
)
SHORT_SECRETS = st.text(
    st.characters(whitelist_categories=("L", "N", "P", "S"), blacklist_characters=":"),
    min_size=FOLDED_MIN,
    max_size=GRAM,
)
USERS = st.text(st.characters(whitelist_categories=("L", "N"), max_codepoint=0x2FF), min_size=1, max_size=12)
AROUND = st.text(max_size=30)


def _sent(kind: str, user: str, secret: str) -> tuple[str, list[str]]:
    """What we sent (an ``Authorization`` value) and what of it is secret, for a credential kind."""
    if kind == "bearer":
        return f"Bearer {secret}", [secret]
    basic = _b64(f"{user}:{secret}")
    return f"Basic {basic}", [secret, basic, f"{user}:{secret}"]


def _never_comes_out(
    kind: str, user: str, secret: str, which: int, spelling: str, afterwards: str, cut: float, before: str, after: str
) -> None:
    """Spell a part of what we sent (:data:`SPELLINGS`, then :data:`AFTERWARDS`), put it between
    ``before`` and ``after``, mask: none of it is left."""
    sent, secrets = _sent(kind, user, secret)
    echoed = secrets[which % len(secrets)]
    spelt = SPELLINGS[spelling](echoed)
    spelt = AFTERWARDS[afterwards](spelt, round(cut * len(spelt)))
    assume(spelt not in before + after)
    masked = mask(f"{before}{spelt}{after}", {sent})
    assert MASK in masked
    rest = masked.replace(MASK, "\x00")  # what is left of the text
    assert spelt not in rest
    joined = "; ".join(line.strip() for line in rest.splitlines() if line.strip())  # the CLI's one line
    for secret_part in secrets:
        assert secret_part not in rest
        assert secret_part not in joined
        assert secret_part.upper() not in rest.upper()


SPELT = {
    "kind": st.sampled_from(["basic", "bearer"]),
    "user": USERS,
    "which": st.integers(0, 2),
    "spelling": st.sampled_from(sorted(SPELLINGS)),
    "afterwards": st.sampled_from(sorted(AFTERWARDS)),
    "cut": st.floats(0, 1),
    "before": AROUND,
    "after": AROUND,
}


@given(secret=SECRETS, **SPELT)
def test_a_secret_never_comes_out_however_it_is_spelt(secret: str, **spelt: Any) -> None:
    _never_comes_out(secret=secret, **spelt)


@given(secret=SHORT_SECRETS, **SPELT)
def test_a_short_secret_standing_apart_never_comes_out_however_it_is_spelt(secret: str, **spelt: Any) -> None:
    """A secret too short for its runs to be masked (:data:`GRAM`) is masked whole: in any
    spelling where the text beside it does not run into its escapes (``%4`` before ``1…``)."""
    _never_comes_out(secret=secret, **(spelt | {"before": spelt["before"] + " ", "after": " " + spelt["after"]}))


@given(secret=SECRETS, before=AROUND, after=AROUND, keep=st.integers(GRAM, 40), start=st.integers(0, 40))
def test_a_long_run_of_a_secret_is_masked(secret: str, before: str, after: str, keep: int, start: int) -> None:
    """An echo cut short (a server that shows the start of a token) still shows nothing of it
    :data:`GRAM` characters long."""
    start = min(start, len(secret) - GRAM)
    run = secret[start : start + keep]
    masked = mask(f"{before}{run}{after}", {f"Bearer {secret}"})
    assert run not in masked
    assert MASK in masked


@pytest.mark.parametrize(
    "text",
    [
        '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
        "user alice may not push to library/app",  # the user name is no secret
        "alice:<redacted>",
        "manifest sha256:" + "ab" * 32 + " unknown to registry",
        "<html><body><h1>401 Authorization Required</h1><hr><center>nginx</center></body></html>",
        "GET https://registry.example.com/v2/library/app/manifests/latest?scope=repository%3Aapp%3Apull",
        "the password is wrong; the token has expired (Basic and Bearer both refused)",
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9 is another token's header",
        "Passwort falsch für Benutzer „alice“, Zugriff verweigert",
    ],
)
def test_innocent_text_is_left_alone(text: str) -> None:
    sent = {f"Basic {_b64('alice:s3cr3t-Pa55word')}", "Bearer eyJhbGciOiJub25lIn0.hostile-token-value.c2lnbmF0dXJl"}
    assert mask(text, sent) == text
    assert mask_json({"detail": [text, {text: 1}]}, sent) == {"detail": [text, {text: 1}]}


def test_a_short_password_is_masked_only_as_sent() -> None:
    """Matching a five-letter password case-insensitively, or its base64 (a few letters), would
    mask innocent words: it is masked where it stands as sent."""
    sent = {f"Basic {_b64('bob:Token')}"}
    assert mask("Token Token TOKEN token", sent) == f"{MASK} {MASK} TOKEN token"


# ------------------------------------------------------------------------ what messages show


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text, ünïcödé and 漢字 too", "plain text, ünïcödé and 漢字 too"),
        ("two  spaces stay", "two  spaces stay"),
        ("line one\nline two\r\n\tindented", "line one line two indented"),
        ("\x1b[2J\x1b]0;pwned\x07cleared", "\\x1b[2J\\x1b]0;pwned\\x07cleared"),
        ("csi \x9b31m in C1", "csi \\x9b31m in C1"),
        ("right\u202eto left", "right\\u202eto left"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("para\u2029graph and\u00a0no-break", "para graph and no-break"),
        ("del\x7f nul\x00", "del\\x7f nul\\x00"),
        ("surrogate \udc80", "surrogate \\udc80"),
    ],
)
def test_printable(text: str, expected: str) -> None:
    assert printable(text) == expected


@given(st.text())
def test_printable_text_is_one_line_a_terminal_cannot_act_on(text: str) -> None:
    seen = printable(text)
    assert seen.isprintable()
    assert len(seen.splitlines()) <= 1
    assert printable(seen) == seen  # printing it again changes nothing
    if text.isprintable():
        assert seen == text


def test_shorten() -> None:
    assert shorten("x" * SHOWN) == "x" * SHOWN
    assert shorten("x" * (SHOWN + 1)) == "x" * SHOWN + "…"
    assert shown("a\nb" * 1000, 10) == "a ba ba ba…"


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"\x1b[31m" + b"x" * 60_000, "a long text body"),
        (json.dumps({"errors": [{"code": "DENIED", "message": "m" * 60_000}]}).encode(), "a long message"),
        (
            json.dumps({"errors": [{"code": "D", "message": "m", "detail": {"d": "\n" * 9 + "x" * 60_000}}]}).encode(),
            "a long detail",
        ),
        (json.dumps({"errors": [{"code": "DENIED", "message": "m" * 500}] * 100}).encode(), "many errors"),
        (b"line\r\none\x07\x00\xff\xfe", "control characters and bytes that are not UTF-8"),
    ],
)
def test_what_a_registry_wrote_is_shown_on_one_short_line(body: bytes, what: str) -> None:
    error = registry_error("GET", "https://r.example/v2/x/manifests/t", 403, body)
    message = str(error)
    assert message.isprintable(), what
    assert len(message) < 5 * SHOWN, what
    assert error.diagnostics == () or isinstance(error.diagnostics[0], Diagnostic)


def test_a_body_not_in_utf8_is_read_as_latin1_so_its_echo_is_masked() -> None:
    """A password sent as UTF-8 (``ä``), echoed by a server that wrote it in Latin-1: the body
    is not UTF-8, so it is read as Latin-1 and the echo is the password again."""
    password = "pässwörd-geheim"
    sent = {f"Basic {_b64('alice:' + password)}"}
    body = b"bad password " + password.encode("latin-1")
    error = registry_error("GET", "https://r.example/v2/", 401, body, None, sent)
    assert MASK in str(error)
    assert password not in str(error)
    assert unicodedata.normalize("NFC", password) not in str(error)
