"""A deadline on what urllib3's per-read timeouts cannot bound: an answer's status line and headers.

A timeout per read lets a server that sends a byte now and then, each in time, go on for as long
as it likes. So the transport's connections (:data:`POOL_CLASSES`, installed in every pool it
makes) must have an answer's status line and headers whole within the read timeout of its
request, counted from when the request has been sent. Past it one watchdog thread shuts the
socket down (plain and TLS sockets alike: a blocked read returns at once) and the answer fails
with :class:`TooLate`, which the transport does not retry; an answer of which not a byte came is a
read timeout, as before (retried as every read timeout is). A TLS handshake needs no such watch:
Python bounds the whole handshake by the socket's timeout. Bodies are not watched here: small
ones are read whole within ``timeout`` by the transport
(:func:`~ocimodel.transport._policy.read_within`), blobs take as long as they keep moving.
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import os
import socket
import threading
import time
from typing import Final, Protocol

import urllib3
from urllib3 import connectionpool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.response import HTTPResponse


class TooLate(urllib3.exceptions.HTTPError):
    """An answer's status line and headers were not whole by their deadline. Raised inside
    urllib3, which passes it on as it is (it is none of the errors its pools handle); the
    transport makes it a :class:`~ocimodel.errors.TransportError`, not retried."""


class _HasFileno(Protocol):
    """A socket, a TLS socket, or urllib3's TLS-in-TLS transport."""

    def fileno(self) -> int: ...


class _Watch:
    """One socket's deadline; ``fired`` once the watchdog has shut it down."""

    __slots__ = ("deadline", "fired", "sock")

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.sock: socket.socket | None = sock
        self.fired = False


class Watchdog:
    """One daemon thread (started on first use) that shuts sockets down when their deadline
    passes; :meth:`arm` and :meth:`disarm` are cheap (a lock, a heap entry, a ``dup``)."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # the parent's thread is not the child's

    def _reset(self) -> None:
        self._wake = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, sock: _HasFileno, seconds: float) -> _Watch:
        """Shut ``sock`` down ``seconds`` from now unless :meth:`disarm` comes first. The watchdog
        holds a duplicate of the descriptor: the connection may close its own meanwhile, and the
        number be reused by another; the duplicate names this connection, and only it."""
        # family and type given, not detected: the duplicate is only ever shut down and closed
        watch = _Watch(socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, os.dup(sock.fileno())), seconds)
        with self._wake:
            while self._heap and self._heap[0][2].sock is None:  # disarmed: the oldest, most often
                heapq.heappop(self._heap)
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ocimodel-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is watch:
                self._wake.notify()
        return watch

    def disarm(self, watch: _Watch) -> bool:
        """Stop watching; whether the deadline had passed (and the socket was shut down)."""
        with self._wake:
            held, watch.sock = watch.sock, None
        if held is not None:
            held.close()
        return watch.fired

    def _run(self) -> None:
        with self._wake:
            while True:
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline, _, watch = self._heap[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                heapq.heappop(self._heap)
                if watch.sock is not None:  # still armed: too late
                    watch.fired = True
                    with contextlib.suppress(OSError):
                        watch.sock.shutdown(socket.SHUT_RDWR)
                    watch.sock.close()
                    watch.sock = None


WATCHDOG: Final = Watchdog()


def _seconds(timeout: object) -> float | None:
    """A connection's timeout as seconds, or ``None`` where there is none (no deadline then)."""
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        return float(timeout)
    return None


class DeadlineHTTPConnection(HTTPConnection):
    """An HTTP connection whose answers' status lines and headers must be whole within its read
    timeout (see the module's documentation)."""

    def _where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3 says it
        seconds = _seconds(self.timeout)  # the read timeout: urllib3 sets it after sending
        if seconds is None or self.sock is None:
            return super().getresponse()
        watch = WATCHDOG.arm(self.sock, seconds)
        try:
            response = super().getresponse()
        except Exception as error:
            if not WATCHDOG.disarm(watch) or isinstance(error, TimeoutError):
                raise
            if isinstance(error, http.client.RemoteDisconnected):  # not a byte: a read timeout, as ever
                raise TimeoutError(f"read timed out (no answer within {seconds:g} s)") from error
            raise self._late(seconds) from error
        if WATCHDOG.disarm(watch):  # whole just as the socket was shut: too late all the same
            response.close()
            raise self._late(seconds)
        return response

    def _late(self, seconds: float) -> TooLate:
        return TooLate(
            f"{self._where()} sent no whole status line and headers within {seconds:g} s (timeout= gives it longer)"
        )


class DeadlineHTTPSConnection(DeadlineHTTPConnection, HTTPSConnection):
    """:class:`DeadlineHTTPConnection` over TLS."""


# urllib3's names, which its messages show ("HTTPConnectionPool(host=…): Read timed out."), kept
class HTTPConnectionPool(connectionpool.HTTPConnectionPool):
    """A pool of :class:`DeadlineHTTPConnection`."""

    ConnectionCls = DeadlineHTTPConnection


class HTTPSConnectionPool(connectionpool.HTTPSConnectionPool):
    """A pool of :class:`DeadlineHTTPSConnection`."""

    ConnectionCls = DeadlineHTTPSConnection


#: ``PoolManager.pool_classes_by_scheme`` for pools whose connections keep the deadline.
POOL_CLASSES: Final[dict[str, type[connectionpool.HTTPConnectionPool]]] = {
    "http": HTTPConnectionPool,
    "https": HTTPSConnectionPool,
}


def too_late(error: BaseException) -> bool:
    """Whether a failure was a deadline passing (:class:`TooLate`), however it was wrapped."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, TooLate):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
