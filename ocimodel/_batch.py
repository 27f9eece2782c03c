"""Batches: one verb over many inputs in one process, several at a time, results in input order.

A script that asks about a hundred images pays the interpreter's start-up once, and one session
(its connections, its tokens) serves every input. The command line's batch forms are built on
this: the inputs come from the arguments and from stdin (:func:`inputs`), and :func:`run` works
on them ``jobs`` at a time, handing each result back in the order the inputs came, each failure
as the exception it raised, so that one bad input does not stop the others.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

T = TypeVar("T")
R = TypeVar("R")

#: The argument that stands for the inputs read from stdin.
STDIN = "-"

#: How many inputs may be under way, or done and waiting for an earlier one to be handed back,
#: for each worker: enough that a slow input does not leave the workers idle, few enough that
#: the results waiting (a manifest is at most a few MiB) stay small.
_WINDOW_PER_JOB = 2

#: What JSON allows unescaped inside a string but some readers take for a line break (the other
#: characters ``str.splitlines`` breaks at are control characters, which JSON always escapes).
_SEPARATORS = ("\x85", "\u2028", "\u2029")


def is_batch(arguments: Sequence[str]) -> bool:
    """Whether arguments ask for the batch form: more than one, or ``-`` (stdin) among them."""
    return len(arguments) > 1 or STDIN in arguments


def lines(stream: IO[str]) -> Iterator[str]:
    """The inputs ``stream`` holds, one per line, read as they come: whitespace around each is
    dropped, and so are blank lines and comments (from ``#`` to the end of the line: no
    reference holds a ``#``)."""
    for line in stream:
        item = line.partition("#")[0].strip()
        if item:
            yield item


def inputs(arguments: Sequence[str], stdin: Callable[[], IO[str]]) -> Iterator[str]:
    """``arguments`` in order, ``-`` replaced by the lines of ``stdin()`` (:func:`lines`), read
    only when the inputs before it have been taken.

    :raises ValueError: ``-`` is given more than once (stdin can be read only once); raised
        here, before any input is taken.
    """
    if list(arguments).count(STDIN) > 1:
        raise ValueError("'-' (stdin) can be given only once")
    return _expanded(arguments, stdin)


def _expanded(arguments: Sequence[str], stdin: Callable[[], IO[str]]) -> Iterator[str]:
    for argument in arguments:
        if argument == STDIN:
            yield from lines(stdin())
        else:
            yield argument


def run(
    items: Iterable[T],
    work: Callable[[T], R],
    *,
    jobs: int,
    cancel: threading.Event | None = None,
) -> Generator[tuple[T, R | Exception], None, None]:
    """``(item, work(item))`` for each item, in the order of ``items``, ``jobs`` items being
    worked on at once (``1``: one after the other, in this thread). What ``work`` raises (an
    :class:`Exception`) takes its result's place; a :class:`BaseException` that is not one
    (Ctrl-C) ends the batch.

    ``items`` is read as the work goes (stdin is not read to its end first) and results come back
    as soon as every earlier one has; at most ``2 * jobs`` are under way or waiting. When the
    batch ends early (the caller stops asking, or an interruption), ``cancel`` is set, so that
    work under way stops at its next request, and work not started is dropped.

    :raises ValueError: ``jobs`` below 1.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs == 1:
        yield from ((item, _outcome(work, item)) for item in items)
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="ocimodel-batch")
    pending: deque[tuple[T, Future[R | Exception]]] = deque()
    source = iter(items)
    finished = False
    try:
        exhausted = False
        while pending or not exhausted:
            while pending and pending[0][1].done():
                item, future = pending.popleft()
                yield item, future.result()
            if not exhausted and len(pending) < _WINDOW_PER_JOB * jobs:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                else:
                    pending.append((item, pool.submit(_outcome, work, item)))
                continue
            if pending:
                item, future = pending.popleft()
                yield item, future.result()
        finished = True
    finally:
        if not finished and cancel is not None:
            cancel.set()
        pool.shutdown(wait=finished, cancel_futures=True)


def _outcome(work: Callable[[T], R], item: T) -> R | Exception:
    """``work(item)``, or the :class:`Exception` it raised."""
    try:
        return work(item)
    except Exception as error:  # handed back in the result's place, for the caller to judge
        return error


def json_line(fields: Mapping[str, str], name: str, document: bytes, what: str) -> bytes:
    """One line of JSON (no line break in it; the ``\\n`` that ends it included): an object of
    ``fields`` and, under ``name``, ``document`` as it is, byte for byte but its line breaks
    (whitespace between tokens, as JSON holds none inside strings) made spaces, and the
    characters JSON allows inside strings that some readers take for line breaks (U+0085, U+2028,
    U+2029: Python's ``str.splitlines``, JavaScript) escaped: the same JSON value, its numbers,
    key order and duplicate keys kept as they were written.

    :raises ~ocimodel.errors.BadJSONError: ``document`` is not JSON in UTF-8 (``what`` names it).
    """
    import json

    from ocimodel._json import loads
    from ocimodel.errors import BadJSONError

    try:
        text = document.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadJSONError(what, [f"not UTF-8: {error}"]) from None
    loads(text, what)  # a str: a byte-order mark or another encoding is refused, not guessed
    flat = text.replace("\r", " ").replace("\n", " ")
    for separator in _SEPARATORS:
        flat = flat.replace(separator, f"\\u{ord(separator):04x}")
    head = json.dumps(dict(fields), separators=(",", ":"))
    return f"{head[:-1]}{',' if fields else ''}{json.dumps(name)}:{flat}}}\n".encode()
