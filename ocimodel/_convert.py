"""attrs converters and validators shared by the spec types."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ocimodel._frozen import FrozenMap, freeze
from ocimodel.hashing import Hash
from ocimodel.mediatype import MediaType


def strings(items: Iterable[str]) -> tuple[str, ...]:
    """Any iterable of strings as a tuple (a lone string is refused, not split into letters)."""
    if isinstance(items, str):
        raise TypeError(f"expected a sequence of strings, got the string {items!r}")
    return tuple(items)


def names(items: Iterable[str]) -> frozenset[str]:
    """Any iterable of strings as a frozenset (a lone string is refused)."""
    return frozenset(strings(items))


def string_map(items: Mapping[str, str] | None) -> FrozenMap[str, str]:
    """Any mapping of strings (or ``None``) as an immutable map."""
    return freeze(items)


def media_type(value: str) -> MediaType:
    return value if isinstance(value, MediaType) else MediaType(value)


def optional_media_type(value: str | None) -> MediaType | None:
    return None if value is None else media_type(value)


def digest(value: Hash | str) -> Hash:
    """A :class:`Hash`, parsing a ``"sha256:…"`` string if given one."""
    return value if isinstance(value, Hash) else Hash.parse(value)


#: The largest size a descriptor can state: the image-spec's ``int64`` (Go's, every registry's).
SIZE_LIMIT = (1 << 63) - 1


def non_negative(_: object, attribute: object, value: int) -> None:
    """A size: not negative, and within the image-spec's ``int64`` (JSON has numbers of any
    length; one of 4,000 digits is no size, and no message should quote it whole)."""
    name = getattr(attribute, "name", "value")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    if value > SIZE_LIMIT:
        raise ValueError(f"{name} must be at most {SIZE_LIMIT} (an int64), got a number of {value.bit_length()} bits")
