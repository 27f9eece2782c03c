"""The watchdog behind the deadline on answers' headers (``transport/_deadline.py``), on real sockets.

The deadline itself, against servers that trickle their headers over http and https, is proved
in ``tests/test_hostile_registry.py``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ocimodel.transport._deadline import WATCHDOG


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(5.0)
        yield ours, theirs


def test_a_socket_still_reading_at_its_deadline_is_shut_down(pair: tuple[socket.socket, socket.socket]) -> None:
    """A peer that sends a byte every 50 ms never lets a 5 s read timeout pass; the deadline
    ends the reading at 0.2 s all the same, and says it did."""
    ours, theirs = pair
    stop = threading.Event()

    def trickle() -> None:
        with contextlib.suppress(OSError):
            while not stop.wait(0.05):
                theirs.send(b"x")

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    started = time.monotonic()
    watch = WATCHDOG.arm(ours, 0.2)
    received = b""
    while piece := ours.recv(1):
        received += piece
    elapsed = time.monotonic() - started
    stop.set()
    sender.join()
    assert WATCHDOG.disarm(watch)
    assert received  # it was reading, byte after byte, when the deadline came
    assert 0.15 < elapsed < 2.0


def test_a_disarmed_watch_leaves_its_socket_alone(pair: tuple[socket.socket, socket.socket]) -> None:
    """Disarmed in time, a watch never fires: the connection goes on past the deadline (and a
    watch per request leaves no pile of stale ones behind)."""
    ours, theirs = pair
    watches = [WATCHDOG.arm(ours, 0.1) for _ in range(1000)]
    fired = [WATCHDOG.disarm(watch) for watch in watches]
    assert not any(fired)
    time.sleep(0.3)
    theirs.send(b"still here")
    assert ours.recv(64) == b"still here"
    assert not WATCHDOG.disarm(WATCHDOG.arm(ours, 30.0))
    assert len(WATCHDOG._heap) <= 2
