"""Asking another program (a credential helper) within bounds: what it writes is read only up to
a cap, and only for so long.

A credential helper is a program named in a config file; what it prints is read whole to be
parsed, so a broken or hostile one (``yes``, a helper stuck in a loop) must not decide how much
memory that takes or how long it lasts. :func:`ask` reads its stdout and stderr together, as they
come, stops the program at the first byte past a cap or at the deadline, and raises a
:class:`~ocimodel.errors.CredentialsError` saying which.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Sequence

import attrs

from ocimodel.errors import CredentialsError

__all__ = ["Answer", "ask"]

_PIECE = 64 << 10


@attrs.frozen
class Answer:
    """How a program ended, and what it wrote."""

    returncode: int
    stdout: bytes
    stderr: bytes


def ask(argv: Sequence[str], given: bytes, *, what: str, limit: int, error_limit: int, seconds: float) -> Answer:
    """Run ``argv`` with ``given`` on its stdin; its exit status and output.

    :param what: how messages name the program and the question (``"credential helper
        docker-credential-x for r.example"``).
    :param limit: the most bytes taken from its stdout; ``error_limit``: from its stderr.
    :param seconds: how long it may take, output included.
    :raises ~ocimodel.errors.CredentialsError: it cannot be started, writes more than a cap, or
        is not done in time (it is killed then).
    """
    try:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True
        )
    except OSError as error:
        raise CredentialsError(f"{what} could not be started: {error}") from None
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    deadline = time.monotonic() + seconds
    out, err = process.stdout.fileno(), process.stderr.fileno()
    found = {out: bytearray(), err: bytearray()}
    caps = {out: (limit, "stdout"), err: (error_limit, "stderr")}
    try:
        try:
            process.stdin.write(given)  # a few bytes: they fit the pipe whether it reads them or not
            process.stdin.close()
        except BrokenPipeError:
            pass
        with selectors.DefaultSelector() as selector:
            for handle in found:
                selector.register(handle, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CredentialsError(f"{what} failed: no answer after {seconds:g} s")
                for key, _ in selector.select(left):
                    piece = os.read(key.fd, _PIECE)
                    if not piece:
                        selector.unregister(key.fd)
                        continue
                    found[key.fd] += piece
                    cap, name = caps[key.fd]
                    if len(found[key.fd]) > cap:
                        raise CredentialsError(f"{what} failed: it wrote more than {cap} bytes to its {name}")
        try:
            returncode = process.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            raise CredentialsError(f"{what} failed: it did not end after {seconds:g} s") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            stream.close()
    return Answer(returncode, bytes(found[out]), bytes(found[err]))
