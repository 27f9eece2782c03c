"""An immutable, hashable mapping, so value types holding annotations or labels stay frozen."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V]):
    """A read-only mapping that keeps insertion order, compares like a dict and can be hashed."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._data: dict[K, V] = dict(items) if items else {}
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __or__(self, other: Mapping[K, V]) -> FrozenMap[K, V]:
        """A new map with ``other``'s entries added (or replacing), like ``dict | dict``."""
        return FrozenMap({**self._data, **other})


def freeze(items: Mapping[K, V] | None) -> FrozenMap[K, V]:
    """Turn any mapping (or ``None``) into a :class:`FrozenMap`, reusing one that already is."""
    if isinstance(items, FrozenMap):
        return items
    return FrozenMap(items)
