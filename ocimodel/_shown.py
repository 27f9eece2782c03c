"""What of someone else's text goes into a message: on one line, with nothing a terminal would act
on, and short.

A registry's error body, a challenge's realm, a redirect's ``Location``, a credential helper's
complaint: a message quotes such text to say what happened, and prints it on the user's terminal.
It may be written by an attacker, so :func:`shown` makes it :func:`printable` (line breaks
folded, escape sequences and other control characters shown as ``\\x1b``, never sent raw) and
cuts it to :data:`SHOWN` characters (:func:`shorten`): the message stays one readable line
whatever the server sent. The command line passes every line it prints on stderr through
:func:`scrubbed` as well, which also masks every credential the process has sent, in any
spelling (:mod:`ocimodel._mask`): a server may echo one back anywhere, not only in an error body.

>>> shown("denied\\r\\n\\x1b[2Jgone " + "x" * 600)[:24]
'denied \\\\x1b[2Jgone xxxxx'
>>> len(shown("x" * 600))
513
"""

from __future__ import annotations

import re

from ocimodel._mask import mask, sent

__all__ = ["SHOWN", "printable", "scrubbed", "shorten", "shown"]

#: How many characters of outside text a message shows.
SHOWN = 512

_BREAKS = re.compile(r"\s+")  # runs of whitespace (any: line breaks, tabs, Unicode spaces)
_UNPRINTABLE = re.compile(r"[^ -~]")  # anything but printable ASCII: looked at one by one


def _fold(match: re.Match[str]) -> str:
    run = match.group()
    return run if run.strip(" ") == "" else " "  # plain spaces kept as they are


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` on one line with nothing a terminal acts on: each run of whitespace holding a line
    break, a tab or another non-space (``\\r\\n``, U+2028, a no-break space) becomes one space,
    and every other character Python does not call printable (C0 and C1 controls such as ESC and
    BEL, DEL, bidirectional overrides, zero-width and other format characters, surrogates,
    unassigned code points) is written as its escape (``\\x1b``, ``\\u202e``). Printable text,
    non-ASCII letters included, is returned as it is."""
    if text.isprintable():
        return text
    return _UNPRINTABLE.sub(_escape, _BREAKS.sub(_fold, text))


def shorten(text: str, limit: int = SHOWN) -> str:
    """``text``, cut to its first ``limit`` characters and ``…`` if it is longer."""
    return text if len(text) <= limit else text[:limit] + "…"


def scrubbed(text: str) -> str:
    """``text`` with every credential the process sent masked (:func:`ocimodel._mask.sent`; their
    spellings of at least :data:`~ocimodel._mask.FOLDED_MIN` characters), then :func:`printable`."""
    return printable(mask(text, sent(), short=False))


def shown(text: str, limit: int = SHOWN) -> str:
    """``text`` as a message may quote it: :func:`printable`, then :func:`shorten` to ``limit``."""
    return shorten(printable(text), limit)
