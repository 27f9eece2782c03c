"""A fault-injecting reverse proxy in front of the real registry.

Tests talk to the proxy as if it were the registry. Each :class:`Fault` matches requests by
method and path and, a given number of times, answers with a status of its own (``Retry-After``
and all), delays, resets the connection after some bytes of the body, or flips a byte. Everything
else is passed through untouched (the ``Host`` header too, so the registry's upload locations point
back at the proxy). Every request is logged, for tests that assert what went over the wire.
"""

from __future__ import annotations

import http.client
import io
import re
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

import attrs

from ocimodel.registry._server import read_body

_CHUNK = 64 * 1024
_SLOW_PIECE = 16 * 1024
_UNAVAILABLE = b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}'
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Connections the proxy breaks on purpose (and upstreams gone at shutdown) are expected."""


class LocalServer:
    """A threaded HTTP server on a free port of 127.0.0.1, served from a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@attrs.define
class Fault:
    """What to do to matching requests, ``times`` times (then they pass)."""

    method: str
    path: str  # a regular expression searched in the request path (query included)
    times: int = 1
    skip: int = 0  # let this many matching requests through untouched first
    status: int | None = None  # answer this instead of forwarding
    body: bytes | None = None  # with this body (default: a distribution-spec UNAVAILABLE error)
    headers: dict[str, str] = attrs.Factory(dict)  # "{path}" in a value becomes the request's path
    delay: float = 0.0  # wait this long before forwarding
    body_rate: float | None = None  # take the request body at this many bytes a second (a slow uplink)
    reset_after: int | None = None  # forward, but cut the connection after this many body bytes
    clean_cut: bool = False  # with reset_after: end the connection in order (FIN), not with a reset
    corrupt_at: int | None = None  # forward, but flip the body byte at this offset
    stall_after: int | None = None  # forward, but send nothing more after this many body bytes ...
    stall_for: float = 60.0  # ... for this long, the connection kept open (a network that stalls)
    drop_headers: tuple[str, ...] = ()  # forward without these request headers (a proxy that eats Range)
    drop_response_headers: tuple[str, ...] = ()  # answer without these headers of the registry's
    drop_response: bool = False  # forward, then reset the connection instead of answering

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and re.search(self.path, path) is not None


@attrs.frozen
class Logged:
    method: str
    path: str
    headers: dict[str, str]
    status: int
    fault: bool


class _Throttled:
    """A request body read at ``rate`` bytes a second, as a slow uplink delivers it: the sender's
    socket fills and its writes wait."""

    def __init__(self, raw: io.BufferedIOBase, rate: float) -> None:
        self._raw, self._rate = raw, rate

    def readline(self, limit: int = -1) -> bytes:
        return self._raw.readline(limit)

    def read(self, size: int) -> bytes:
        got = bytearray()
        while len(got) < size:
            piece = self._raw.read(min(_SLOW_PIECE, size - len(got)))
            if not piece:
                break
            got += piece
            time.sleep(len(piece) / self._rate)
        return bytes(got)


class FaultProxy(LocalServer):
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.faults: list[Fault] = []
        self.log: list[Logged] = []
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.log.clear()

    def requests(self, method: str | None = None, path: str = "") -> list[Logged]:
        with self._lock:
            return [r for r in self.log if (method is None or r.method == method) and re.search(path, r.path)]

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.skip:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    return fault
        return None

    def _record(self, method: str, path: str, headers: dict[str, str], status: int, fault: bool) -> None:
        with self._lock:
            self.log.append(Logged(method, path, headers, status, fault))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            upstream: http.client.HTTPConnection | None = None

            def log_message(self, *_: object) -> None:
                pass

            def finish(self) -> None:
                """Close the upstream connection however the request ended (a client that went
                away mid-answer makes writing to it fail, before the handler closes it itself)."""
                if self.upstream is not None:
                    self.upstream.close()
                super().finish()

            def _body(self, fault: Fault | None) -> bytes:
                if fault is None or fault.body_rate is None:
                    return read_body(self)
                connection = self.rfile
                self.rfile = cast(io.BufferedIOBase, _Throttled(connection, fault.body_rate))
                try:
                    return read_body(self)
                finally:
                    self.rfile = connection

            def _handle(self) -> None:
                fault = proxy._take(self.command, self.path)
                body = self._body(fault)
                headers = dict(self.headers.items())
                if fault is not None and fault.status is not None:
                    payload = fault.body if fault.body is not None else _UNAVAILABLE
                    # recorded before answering, so a test that has its answer sees it in the log
                    proxy._record(self.command, self.path, headers, fault.status, True)
                    self.send_response(fault.status)
                    for key, value in fault.headers.items():
                        self.send_header(key, value.replace("{path}", self.path))
                    if "Content-Type" not in fault.headers:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault is not None and fault.delay:
                    time.sleep(fault.delay)
                upstream = self.upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                dropped = {name.lower() for name in fault.drop_headers} if fault is not None else set()
                forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP | dropped}
                if body or self.command in ("PUT", "POST", "PATCH"):
                    forwarded["Content-Length"] = str(len(body))
                upstream.request(self.command, self.path, body=body, headers=forwarded)
                answer = upstream.getresponse()
                proxy._record(self.command, self.path, headers, answer.status, fault is not None)
                if fault is not None and fault.drop_response:
                    answer.read()
                    upstream.close()
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                self.send_response(answer.status)
                hidden = {name.lower() for name in fault.drop_response_headers} if fault is not None else set()
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP_BY_HOP | hidden:
                        self.send_header(key, value)
                self.end_headers()
                sent = 0
                while chunk := answer.read(_CHUNK):
                    if (
                        fault is not None
                        and fault.corrupt_at is not None
                        and sent <= fault.corrupt_at < sent + len(chunk)
                    ):
                        index = fault.corrupt_at - sent
                        chunk = chunk[:index] + bytes([chunk[index] ^ 0xFF]) + chunk[index + 1 :]
                    if fault is not None and fault.stall_after is not None and sent + len(chunk) > fault.stall_after:
                        self.wfile.write(chunk[: fault.stall_after - sent])
                        self.wfile.flush()
                        time.sleep(fault.stall_for)
                        upstream.close()
                        return
                    if fault is not None and fault.reset_after is not None and sent + len(chunk) > fault.reset_after:
                        self.wfile.write(chunk[: fault.reset_after - sent])
                        self.wfile.flush()
                        # Give the client time to take what was sent: a reset throws away whatever
                        # still waits in its socket, and the test wants a resumption from mid-body.
                        time.sleep(0.3)
                        if fault.clean_cut:  # a server that gave up: the body just stops short
                            self.connection.shutdown(socket.SHUT_RDWR)
                        else:  # SO_LINGER 0: close with a reset, as a broken network would
                            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()
                        upstream.close()
                        return
                    self.wfile.write(chunk)
                    sent += len(chunk)
                upstream.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle  # noqa: N815

        return Handler
