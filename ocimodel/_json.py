"""JSON parsed within bounds: every document ocimodel reads (from a file or a registry) goes
through :func:`loads`, so that nesting is a typed error at one depth everywhere.

Python's parser recurses, and stops with a ``RecursionError`` somewhere near 1,000 levels,
depending on how deep the caller already is; everything that walks the parsed value afterwards
(the converter, writers that copy unknown fields) recurses too. So a value nested deeper than
``json_depth`` (:mod:`ocimodel.limits`, 64 by default) is refused, as is one the parser could not
finish, both as a :class:`~ocimodel.errors.BadJSONError` naming the document, in time linear in
its size.
"""

from __future__ import annotations

import json
from typing import Any

from ocimodel import limits
from ocimodel.errors import BadJSONError

__all__ = ["loads"]


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _too_deep(what: str, depth: int) -> BadJSONError:
    return BadJSONError(
        what, [f"$: arrays and objects nested more than {depth} deep (the limit is {limits.JSON_DEPTH_VARIABLE})"]
    )


def _deeper_than(value: object, depth: int) -> bool:
    """Whether arrays and objects nest more than ``depth`` deep in ``value`` (without recursing)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if level > depth:
            return True
        pending.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return False


def loads(data: bytes | str, what: str) -> Any:
    """``data`` parsed (``NaN`` and ``Infinity`` refused, as JSON has them not).

    :param what: the document, for the error: ``"image manifest"``, ``"manifest.json of x.tar"``.
    :raises ~ocimodel.errors.BadJSONError: not JSON, or nested deeper than the cap.
    """
    depth = limits.current().json_depth
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise _too_deep(what, depth) from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadJSONError(what, [f"not valid JSON: {error}"]) from None
    if isinstance(value, dict | list) and _deeper_than(value, depth):
        raise _too_deep(what, depth)
    return value
