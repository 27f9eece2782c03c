"""``WWW-Authenticate`` challenges (RFC 7235): which scheme a registry wants, with what parameters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from ocimodel._convert import string_map
from ocimodel._frozen import FrozenMap

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@attrs.frozen
class Challenge:
    """One challenge: a lower-cased scheme (``bearer``, ``basic``, …) and its parameters (keys
    lower-cased, values unquoted)."""

    scheme: str
    parameters: Mapping[str, str] = attrs.field(factory=FrozenMap, converter=string_map)

    @property
    def realm(self) -> str:
        return self.parameters.get("realm", "")

    @property
    def service(self) -> str:
        return self.parameters.get("service", "")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes the registry asked for (space-separated in the ``scope`` parameter)."""
        return tuple(self.parameters.get("scope", "").split())


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def skip(self, characters: str) -> None:
        while self.at < len(self.text) and self.text[self.at] in characters:
            self.at += 1

    def token(self) -> str:
        start = self.at
        while self.at < len(self.text) and self.text[self.at] in _TOKEN_CHARS:
            self.at += 1
        return self.text[start : self.at]

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def quoted(self) -> str:
        self.at += 1  # the opening quote
        out = []
        while self.at < len(self.text):
            char = self.text[self.at]
            self.at += 1
            if char == "\\" and self.at < len(self.text):
                out.append(self.text[self.at])
                self.at += 1
            elif char == '"':
                break
            else:
                out.append(char)
        return "".join(out)


def parse_challenges(headers: Iterable[str]) -> list[Challenge]:
    """Every challenge in the ``WWW-Authenticate`` header values, in order.

    Several challenges may share one header, separated by commas; parameters are
    ``key=token`` or ``key="quoted string"`` with backslash escapes. Malformed pieces are skipped.
    """
    challenges: list[Challenge] = []
    for header in headers:
        scanner = _Scanner(header)
        while True:
            scanner.skip(" \t,")
            scheme = scanner.token()
            if not scheme:
                break
            parameters: dict[str, str] = {}
            while True:
                scanner.skip(" \t")
                mark = scanner.at
                key = scanner.token()
                scanner.skip(" \t")
                if not key or scanner.peek() != "=":
                    scanner.at = mark  # not a parameter: the next challenge's scheme, or the end
                    break
                scanner.at += 1
                scanner.skip(" \t")
                value = scanner.quoted() if scanner.peek() == '"' else scanner.token()
                parameters[key.lower()] = value
                scanner.skip(" \t")
                if scanner.peek() != ",":
                    break
                scanner.at += 1
            challenges.append(Challenge(scheme.lower(), parameters))
    return challenges


def preferred(challenges: list[Challenge]) -> Challenge | None:
    """The challenge to answer: the first ``basic`` or ``bearer`` one, else the first of any."""
    for challenge in challenges:
        if challenge.scheme in ("basic", "bearer"):
            return challenge
    return challenges[0] if challenges else None
