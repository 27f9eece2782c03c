"""Keyword options declared once, as a ``TypedDict``: its names, and the run-time check that
catches a misspelt one (type checkers catch it before that, through ``Unpack``)."""

from __future__ import annotations

from collections.abc import Mapping


def option_names(options: type) -> frozenset[str]:
    """The keys a ``TypedDict`` declares."""
    return frozenset(options.__required_keys__ | options.__optional_keys__)  # type: ignore[attr-defined]


def check_options(given: Mapping[str, object], options: type, what: str) -> None:
    """Raise :class:`TypeError`, as Python does for an unexpected keyword, naming the unknown
    names in ``given`` and those the ``TypedDict`` ``options`` allows."""
    allowed = option_names(options)
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise TypeError(
            f"{what} got unexpected keyword(s) {', '.join(unknown)}; it takes: {', '.join(sorted(allowed))}"
        )
