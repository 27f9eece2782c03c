"""Masking what we sent (credentials, tokens) wherever an answer echoes it, however it is spelt.

A registry or token server that echoes our ``Authorization`` header in its error may have
encoded it on the way: URL-encoded (once or more), JSON- or HTML-escaped, as the ``user:password``
it decoded, re-encoded as base64 (upper-case, URL-safe, unpadded, or with line breaks) or hex,
its UTF-8 read as Latin-1, split over lines, cut short. Each is a reversible spelling of the
secret, so each is masked. Three ways of looking cover them:

1. every *spelling* of each secret (:func:`secret_forms`: the encodings above, applied forwards)
   is looked for;
2. in the text *normalised*, each character remembering where in the text it came from: case
   folded, whitespace and control characters dropped (a secret split by a line break, or a
   base64 in upper case, reads whole), and then with its escapes decoded, a round at a time
   (``%xx`` runs as UTF-8 or Latin-1, HTML character references, JSON's ``\\uXXXX``, ``\\xNN``
   and backslash escapes), each round looked at too (URL-encoding twice or three times, or
   spellings the forwards list lacks: every byte percent-encoded, numeric references);
3. in every normalised view, any run of :data:`GRAM` characters of a long secret (a token, a
   password, a base64 credential) is masked as well: an echo cut short, or an escape the rounds
   did not undo at its edge (``%4`` before an encoded ``1…``), still shows nothing useful of it.

What matches is replaced, in the original text, by :data:`MASK`, from the first character the
match came from to the last (the line breaks or escapes between them included). A spelling
shorter than :data:`FOLDED_MIN` characters once normalised is looked for only exactly as it
stands: matching a short password case-insensitively would mask innocent words. User names are
not secrets: ``user:password`` is masked whole, and runs of it only from the password.

Every credential the transport sends is also remembered for the process (:func:`remember`, the
last :data:`REMEMBERED` of them): the command line masks them in every line it prints on stderr
(its error line, ``-v`` logs and tracebacks: :func:`ocimodel._shown.scrubbed`), so that a
credential a server echoes anywhere (in a redirect's ``Location``, a realm, a header a message
quotes) never reaches the terminal.
"""

from __future__ import annotations

import base64
import codecs
import functools
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from urllib.parse import quote, quote_plus

import attrs

__all__ = [
    "FOLDED_MIN",
    "GRAM",
    "MASK",
    "REMEMBERED",
    "forget",
    "mask",
    "mask_json",
    "remember",
    "secret_forms",
    "sent",
]

#: What stands in a message where a secret was.
MASK = "<redacted>"
#: A spelling of a secret shorter than this, once normalised, is masked only as sent.
FOLDED_MIN = 6
#: Any run of this many characters of a longer secret (normalised) is masked.
GRAM = 12
#: How many of the credentials sent the process remembers (:func:`remember`), the latest kept.
REMEMBERED = 64
_ROUNDS = 3  # escape-decoding rounds: URL-encoding three deep is the most a chain of servers does

_ESCAPES = re.compile(
    r"(?:%[0-9a-f]{2})+"  # a run of percent-escapes: UTF-8 bytes, or Latin-1 ones
    r"|&(?:#[0-9]{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});?"  # an HTML character reference
    r"|(?:\\u[0-9a-f]{4})+"  # JSON's \uXXXX (surrogate pairs too)
    r"|\\x[0-9a-f]{2}"  # Python's and C's \xNN
    r"|\\[\\/\"'nrtbf]"  # backslash escapes
)
_BACKSLASHED = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _parts(value: str) -> list[tuple[str, bool]]:
    """The secrets in a value we sent, each with whether runs of it are masked too: an
    ``Authorization`` value, the credential after its scheme, and for ``Basic`` the decoded
    ``user:password`` (whole only: the user name is no secret) and the password; a value without
    a scheme (a token, a refresh token) is itself the secret."""
    scheme, _, credential = value.partition(" ")
    credential = credential.strip()
    if not credential or not scheme.isalpha():
        return [(value, True)]
    parts = [(value, False), (credential, True)]
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True).decode()
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            decoded = ""
        if decoded:
            parts.append((decoded, False))
            password = decoded.partition(":")[2]
            if password:
                parts.append((password, True))
    return parts


def _base64_runs(data: bytes) -> set[str]:
    """The base64 characters that encode ``data`` wherever it sits in a longer base64 text: for
    each of the three alignments, the characters that depend on ``data`` alone (no padding), in
    the standard and the URL-safe alphabets."""
    runs = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode()
        start, end = -(-8 * offset // 6), 8 * (offset + len(data)) // 6
        run = encoded[start:end]
        runs |= {run, run.translate(str.maketrans("+/", "-_"))}
    return {run for run in runs if run}


_CP1252 = {code: bytes([code]).decode("cp1252") for code in range(0x80, 0xA0) if code not in b"\x81\x8d\x8f\x90\x9d"}


def _mojibake(text: str) -> set[str]:
    """``text``'s UTF-8 read as Latin-1 or Windows-1252 (once, and Latin-1 twice); nothing for
    ASCII, which reads the same."""
    if text.isascii():
        return set()
    once = text.encode("utf-8", "surrogatepass").decode("latin-1")
    return {once, once.translate(_CP1252), once.encode("utf-8").decode("latin-1")}


def _escaped(secret: str) -> set[str]:
    """``secret`` as it stands, URL-encoded (once and twice), JSON- and HTML-escaped."""
    import html  # here: masking is for messages, which most runs never make

    return {
        secret,
        quote(secret, safe="", errors="surrogatepass"),
        quote(secret, errors="surrogatepass"),
        quote_plus(secret, errors="surrogatepass"),
        quote(quote(secret, safe="", errors="surrogatepass"), safe=""),
        quote_plus(quote_plus(secret, errors="surrogatepass")),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
    }


def _encoded(secret: str) -> set[str]:
    """``secret`` re-encoded: its UTF-8 read as Latin-1, and that or its UTF-8 in hex or base64."""
    mojibake = _mojibake(secret) - {secret}
    spelt = set(mojibake)
    for raw in (secret.encode("utf-8", "surrogatepass"), *(text.encode("utf-8") for text in mojibake)):
        spelt.add(raw.hex())
        spelt |= _base64_runs(raw)
    return spelt


def _spellings(secret: str) -> tuple[set[str], set[str]]:
    """``secret``'s spellings a server could echo, applied forwards (see the module): the escaped
    ones, and the re-encoded ones (looked for only from :data:`FOLDED_MIN` characters on: the hex
    or base64 of a short secret is a few letters any text may hold)."""
    escaped = {form for form in _escaped(secret) if form}
    return escaped, {form for form in _encoded(secret) - escaped if len(form) >= FOLDED_MIN}


def secret_forms(value: str) -> set[str]:
    """The spellings of a value we sent (an ``Authorization`` value, a token, a password) that a
    server could echo back, as they would stand in its answer: the value, the credential after
    its scheme, a basic credential decoded (``user:password``) and its password, each also URL-
    (once and twice), JSON- and HTML-escaped, hex, base64 (any alignment, both alphabets) and its
    UTF-8 read as Latin-1. :func:`mask` looks for more than these: see the module."""
    forms: set[str] = set()
    for part, _ in _parts(value):
        escaped, encoded = _spellings(part)
        forms |= escaped | encoded
    return forms


_sent: OrderedDict[str, None] = OrderedDict()
_sent_lock = threading.Lock()


def remember(*values: str) -> None:
    """Note values the process sent (``Authorization`` values, tokens), for :func:`sent`."""
    with _sent_lock:
        for value in values:
            if value:
                _sent[value] = None
                _sent.move_to_end(value)
        while len(_sent) > REMEMBERED:
            _sent.popitem(last=False)


def sent() -> frozenset[str]:
    """The values :func:`remember` was given (the latest :data:`REMEMBERED`)."""
    with _sent_lock:
        return frozenset(_sent)


def forget() -> None:
    """Forget every value :func:`remember` was given: for a process that starts over (a test
    suite, between tests: one test's password must not mask another's words)."""
    with _sent_lock:
        _sent.clear()


# ------------------------------------------------------------------------ normalised views


_DROPPED = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")  # whitespace and controls: runs between kept text


@attrs.frozen
class _View:
    """Normalised text, and for each of its characters the span of the original it came from."""

    text: str
    starts: list[int]
    ends: list[int]


class _Builder:
    """A :class:`_View` put together: text taken as it is from another view, or normalised (upper-
    cased then case folded, so that every case of a character meets; whitespace, control and
    other unprintable characters dropped) with its spans."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []

    def copy(self, view: _View, first: int, last: int) -> None:
        """``view``'s characters ``first`` to ``last`` (already normalised)."""
        self.chars.append(view.text[first:last])
        self.starts += view.starts[first:last]
        self.ends += view.ends[first:last]

    def add(self, piece: str, start: int, end: int) -> None:
        """``piece`` normalised, every character of it coming from ``start``…``end``."""
        if len(piece) == 1 and "!" <= piece <= "~":  # printable ASCII, the usual case
            self.chars.append(piece.lower())
            self.starts.append(start)
            self.ends.append(end)
            return
        for char in piece:
            if char.isspace() or not char.isprintable():
                continue
            folded = char.upper().casefold()  # upper first: dotless i meets its upper case, I
            self.chars.append(folded)
            self.starts += [start] * len(folded)
            self.ends += [end] * len(folded)

    def add_text(self, text: str) -> None:
        """``text`` normalised, each character coming from its own place (runs of plain ASCII, the
        usual case, at C speed)."""
        at = 0
        for gap in [*_DROPPED.finditer(text), None]:
            first, last = (gap.start(), gap.end()) if gap is not None else (len(text), len(text))
            run = text[at:first]
            folded = run.lower() if run.isascii() else run.upper().casefold()
            if len(folded) == len(run) and (run.isascii() or run.isprintable()):
                self.chars.append(folded)
                self.starts += range(at, first)
                self.ends += range(at + 1, first + 1)
            else:
                for i in range(at, first):
                    self.add(text[i], i, i + 1)
            at = last

    def view(self) -> _View:
        return _View("".join(self.chars), self.starts, self.ends)


def _fold(text: str) -> str:
    """``text`` normalised as views are (without their spans)."""
    if text.isascii():
        return _DROPPED.sub("", text).lower()
    built = _Builder()
    built.add_text(text)
    return built.view().text


def _percent(run: str) -> list[str]:
    """A run of ``%xx`` escapes decoded, one entry per escape (``""`` for one that does not end a
    character): as UTF-8 if it is, else as Latin-1."""
    data = bytes.fromhex(run.replace("%", ""))
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        out = [decoder.decode(data[i : i + 1]) for i in range(len(data))]
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return list(data.decode("latin-1"))
    return out


def _units(run: str) -> list[tuple[str, int]]:
    """A run of ``\\uXXXX`` escapes decoded: each character with how many escapes it took (a
    surrogate pair is one character from two)."""
    codes = [int(run[i + 2 : i + 6], 16) for i in range(0, len(run), 6)]
    out, i = [], 0
    while i < len(codes):
        high = codes[i]
        if 0xD800 <= high < 0xDC00 and i + 1 < len(codes) and 0xDC00 <= codes[i + 1] < 0xE000:
            out.append((chr(0x10000 + ((high - 0xD800) << 10) + (codes[i + 1] - 0xDC00)), 2))
            i += 2
        else:
            out.append((chr(high), 1))
            i += 1
    return out


def _decoded(view: _View) -> _View | None:
    """``view`` with one round of escapes decoded (``None``: it holds none)."""
    import html

    built = _Builder()
    starts, ends = view.starts, view.ends
    at, decoded = 0, False
    for match in _ESCAPES.finditer(view.text):
        found, first, last = match.group(), match.start(), match.end()
        built.copy(view, at, first)
        at = last
        if found[0] == "&" and html.unescape(found) == found:  # a name that is no entity: "&digest"
            built.copy(view, first, last)
            continue
        decoded = True
        if found[0] == "%":
            begun = first  # where the character being decoded began (UTF-8 takes up to four escapes)
            for i, char in enumerate(_percent(found)):
                if char:
                    built.add(char, starts[begun], ends[first + 3 * i + 2])
                    begun = first + 3 * i + 3
        elif found[0] == "&":
            built.add(html.unescape(found), starts[first], ends[last - 1])
        elif found[1] == "u":
            i = first
            for char, count in _units(found):
                built.add(char, starts[i], ends[i + 6 * count - 1])
                i += 6 * count
        elif found[1] == "x":
            built.add(chr(int(found[2:], 16)), starts[first], ends[last - 1])
        else:
            built.add(_BACKSLASHED.get(found[1], found[1]), starts[first], ends[last - 1])
    if not decoded:
        return None
    built.copy(view, at, len(view.text))
    return built.view()


def _views(text: str) -> Iterable[_View]:
    """The normalised view of ``text``, then one per round of decoding while there is any."""
    built = _Builder()
    built.add_text(text)
    view: _View | None = built.view()
    for _ in range(_ROUNDS + 1):
        if view is None:
            return
        yield view
        if not any(mark in view.text for mark in "%&\\"):
            return
        view = _decoded(view)


# ------------------------------------------------------------------------ matching


@attrs.frozen
class _Matcher:
    """What to look for: the spellings too short to look for normalised, as they stand; the
    others normalised, by their first :data:`FOLDED_MIN` characters (so that a text is scanned
    once, however many spellings there are); and the :data:`GRAM`-character runs of long secrets."""

    short: frozenset[str] = frozenset()
    folded: Mapping[str, frozenset[str]] = attrs.field(factory=dict)
    grams: frozenset[str] = frozenset()


@functools.lru_cache(maxsize=2 * REMEMBERED)
def _compiled(value: str) -> _Matcher:
    """One value's matcher. Runs (:data:`GRAM`) are taken of the secrets themselves, not of their
    re-encodings: escapes are decoded in the views, and a token's hex or base64 cut short is not
    an echo any server makes (and would cost several times the token's length in runs)."""
    short: set[str] = set()
    folded: dict[str, set[str]] = {}
    grams: set[str] = set()
    for part, runs in _parts(value):
        escaped, encoded = _spellings(part)
        for spelling in escaped | encoded:
            normal = _fold(spelling)
            if len(normal) >= FOLDED_MIN:
                folded.setdefault(normal[:FOLDED_MIN], set()).add(normal)
            else:
                short.add(spelling)
        normal = _fold(part)
        if runs and len(normal) > GRAM:
            grams |= {normal[i : i + GRAM] for i in range(len(normal) - GRAM + 1)}
    return _Matcher(frozenset(short), {key: frozenset(forms) for key, forms in folded.items()}, frozenset(grams))


@functools.lru_cache(maxsize=16)
def _matcher(secrets: frozenset[str], short: bool) -> _Matcher:
    """The matcher of a set of values: their own (each compiled once), together; without the
    short spellings unless ``short``."""
    compiled = [_compiled(value) for value in secrets]
    folded: dict[str, frozenset[str]] = {}
    for each in compiled:
        for key, forms in each.folded.items():
            folded[key] = folded.get(key, frozenset()) | forms
    return _Matcher(
        frozenset().union(*(each.short for each in compiled)) if short else frozenset(),
        folded,
        frozenset().union(*(each.grams for each in compiled)),
    )


def _occurrences(text: str, wanted: str) -> Iterable[int]:
    at = text.find(wanted)
    while at != -1:
        yield at
        at = text.find(wanted, at + 1)


def _spans(text: str, matcher: _Matcher) -> list[tuple[int, int]]:
    """The spans of ``text`` to mask."""
    spans = [(at, at + len(form)) for form in matcher.short for at in _occurrences(text, form)]
    folded, grams = matcher.folded, matcher.grams
    for view in _views(text):
        seen, starts, ends = view.text, view.starts, view.ends
        for at in range(len(seen) - FOLDED_MIN + 1):
            forms = folded.get(seen[at : at + FOLDED_MIN])
            if forms is not None:
                spans += [(starts[at], ends[at + len(form) - 1]) for form in forms if seen.startswith(form, at)]
            if grams and seen[at : at + GRAM] in grams:
                spans.append((starts[at], ends[at + GRAM - 1]))
    return spans


def mask(text: str, secrets: Collection[str], *, short: bool = True) -> str:
    """``text`` with every spelling of every value in ``secrets`` (what we sent: ``Authorization``
    values, tokens, passwords) replaced by :data:`MASK` (see the module for which spellings);
    overlapping and adjacent matches make one mask.

    :param short: mask spellings shorter than :data:`FOLDED_MIN` too, where they stand exactly as
        sent (``False`` where ``secrets`` are not this text's: everything the process sent, of
        which a password ``2`` would otherwise mask every ``2``).
    """
    if not secrets or not text:
        return text
    spans = sorted(_spans(text, _matcher(frozenset(secrets), short)))
    if not spans:
        return text
    out, at = [], 0
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in merged:
        out += [text[at:start], MASK]
        at = end
    out.append(text[at:])
    return "".join(out)


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


class MaskingFilter(logging.Filter):
    """A filter for the library's loggers: every credential the process sent (:func:`sent`) is
    masked in a record's message, so that a program logging ``ocimodel.*`` at DEBUG sees no
    secret a registry echoed (in a redirect target, a header). It runs only for records that are
    logged, after the level check: nothing is masked, and nothing costs, while logging is off."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = sent()
        if secrets:
            message = record.getMessage()
            masked = mask(message, secrets, short=False)
            if masked != message:
                record.msg, record.args = masked, None
        return True


def logger(name: str) -> logging.Logger:
    """The logger ``name`` (one of ``ocimodel.*``) with a :class:`MaskingFilter` (a logger's
    filters see only the records logged on it, so each of the library's loggers needs its own)."""
    found = logging.getLogger(name)
    if not any(isinstance(each, MaskingFilter) for each in found.filters):
        found.addFilter(MaskingFilter())
    return found
