"""Thread-safe memoisation of an object's small, derived values (never of blob bytes)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
S = TypeVar("S")

_LOCKS_KEY = "_ocimodel_memo_locks"
_GUARD = threading.Lock()


def _lock(instance: Any, name: str) -> threading.Lock:
    with _GUARD:
        locks: dict[str, threading.Lock] = instance.__dict__.setdefault(_LOCKS_KEY, {})
        return locks.setdefault(name, threading.Lock())


def memoized(method: Callable[[S], T]) -> Callable[[S], T]:
    """Compute a zero-argument method once per instance, even when threads race to ask.

    Only the first caller computes; the others wait for its result. A raised error is not
    remembered, so a later call tries again (a network error is not forever).
    """
    key = f"_ocimodel_memo_{method.__name__}"

    @functools.wraps(method)
    def wrapper(self: S) -> T:
        cache = self.__dict__
        if key in cache:
            return cache[key]  # type: ignore[no-any-return]
        with _lock(self, key):
            if key not in cache:
                cache[key] = method(self)
            return cache[key]  # type: ignore[no-any-return]

    return wrapper


def peek(instance: object, name: str) -> Any:
    """The memoised result of ``instance.name()`` if it has been computed, else ``None``."""
    return instance.__dict__.get(f"_ocimodel_memo_{name}")
