"""A hostile registry for tests: a small server that answers what a test tells it to (endless
bodies, echoed headers, wrong digests, redirects to internal addresses), and children that run
ocimodel against it confined (:mod:`tests.harness.confined`).

Names: the server listens on 127.0.0.1, but a registry on a loopback address is trusted to name
other local addresses (that is how local registries and their token servers are set up). A
hostile *public* registry is therefore named ``<anything>.hostile.test`` (a reserved top-level
domain, RFC 2606): the children run with a resolver that maps those names, and only those, to
127.0.0.1, so ocimodel treats the registry as the public host it claims to be while every byte
stays on this machine. Proxies are cleared from the children's environment (a ``.test`` name is
not loopback and would otherwise be proxied), and so are the user's credentials: each child gets
a home of its own, with the ``config.json`` a test gives it.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Literal

import attrs

from ocimodel.registry._server import read_body
from tests.harness import confined
from tests.harness.faultproxy import LocalServer

#: The domain whose names the children resolve to 127.0.0.1 (and nothing else does).
DOMAIN = "hostile.test"
_PIECE = b"x" * (64 << 10)

#: Run first in each child: ``*.hostile.test`` resolves to 127.0.0.1, every other name as usual.
PRELUDE = f"""
import socket as _socket
_resolve = _socket.getaddrinfo
def _hostile_getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str) and (name == {DOMAIN!r} or name.endswith({"." + DOMAIN!r})):
        host = "127.0.0.1"
    return _resolve(host, *args, **kwargs)
_socket.getaddrinfo = _hostile_getaddrinfo
"""


def endless(piece: bytes = _PIECE) -> Iterator[bytes]:
    """A body that never ends."""
    while True:
        yield piece


@attrs.frozen
class Seen:
    """A request the server received."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@attrs.frozen
class Reply:
    """An answer: ``body`` is bytes or an iterable of pieces (:func:`endless`); ``framing`` says
    how its end is told: a ``Content-Length`` (of the bytes, or ``length`` if given: a claim),
    chunked, or the connection closing. ``trickle``: seconds between the bytes of the status line
    and headers, sent one at a time, and the headers never end (padding lines follow for ever,
    each byte in time for any per-read timeout)."""

    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes | Iterable[bytes] = b""
    framing: Literal["length", "chunked", "close"] = "length"
    length: int | None = None
    trickle: float = 0.0


Route = Callable[[Seen], Reply]


class HostileServer(LocalServer):
    """A threaded HTTP/1.1 server on 127.0.0.1 answering each request with ``route(request)``
    (one server can stand for several registries: the request's ``Host`` tells them apart).

    ``seen`` logs the requests; ``sent`` counts the body bytes written (what a client took, give
    or take the sockets' buffers), ``sent_to`` the same per ``Host``: a test of a bounded read
    asserts it stays small. ``tls``: (certificate, key) files to serve https with."""

    def __init__(self, route: Route, tls: tuple[Path, Path] | None = None) -> None:
        self.route = route
        self.seen: list[Seen] = []
        self.sent = 0
        self.sent_to: Counter[str] = Counter()
        self._lock = threading.Lock()
        super().__init__(self._handler())
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)

    @property
    def scheme(self) -> str:
        return "https" if isinstance(self._server.socket, ssl.SSLSocket) else "http"

    def requests(self, host: str) -> list[Seen]:
        """The requests that named ``host`` (``name:port``) in their ``Host`` header."""
        with self._lock:
            return [seen for seen in self.seen if seen.header("Host") == host]

    def __enter__(self) -> HostileServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def name(self, label: str = "registry") -> str:
        """``host:port`` of this server under a public-looking name (see the module's documentation)."""
        return f"{label}.{DOMAIN}:{self.port}"

    def _count(self, host: str, count: int) -> None:
        with self._lock:
            self.sent += count
            self.sent_to[host] += count

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go as written: no 40 ms stall per answer

            def log_message(self, *_: object) -> None:
                pass

            def _handle(self) -> None:
                seen = Seen(self.command, self.path, dict(self.headers.items()), read_body(self))
                with server._lock:
                    server.seen.append(seen)
                reply = server.route(seen)
                if reply.trickle:
                    self._trickle(reply)
                    return
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                pieces: Iterable[bytes] = [reply.body] if isinstance(reply.body, bytes) else reply.body
                if reply.framing == "length":
                    if reply.length is not None:
                        length = reply.length
                    elif isinstance(reply.body, bytes):
                        length = len(reply.body)
                    else:
                        raise ValueError("a streamed body framed by length needs its length")
                    self.send_header("Content-Length", str(length))
                elif reply.framing == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    for piece in pieces:
                        if not piece:
                            continue
                        if reply.framing == "chunked":
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        else:
                            self.wfile.write(piece)
                        server._count(seen.header("Host") or "", len(piece))
                    if reply.framing == "chunked":
                        self.wfile.write(b"0\r\n\r\n")
                except OSError:  # the client went away: what a bounded reader does
                    self.close_connection = True

            def _trickle(self, reply: Reply) -> None:
                """The status line and headers a byte at a time, and padding headers after them for ever."""
                self.close_connection = True
                lines = [f"HTTP/1.1 {reply.status} OK\r\n", *(f"{k}: {v}\r\n" for k, v in reply.headers.items())]
                padding = (f"X-Pad-{count}: x\r\n" for count in itertools.count())
                with contextlib.suppress(OSError):  # the client went away: what a deadline does
                    for line in itertools.chain(lines, padding):
                        for byte in line.encode():
                            time.sleep(reply.trickle)
                            self.wfile.write(bytes([byte]))

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle  # noqa: N815

        return Handler


class StalledHandshake:
    """A TCP server on 127.0.0.1 that meets a TLS ClientHello with the header of a 16 KiB
    handshake record and then its bytes, one every ``every`` seconds: a TLS handshake that never
    ends, though each read is in time for any per-read timeout (``every=None``: nothing after the
    ClientHello, a silent server). ``connections`` counts the connections it was asked for."""

    def __init__(self, every: float | None = 0.05) -> None:
        self.connections = 0
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer.connections += 1
                connection: socket.socket = self.request
                with contextlib.suppress(OSError):  # the client went away
                    connection.recv(1 << 16)  # the ClientHello
                    if every is None:
                        connection.recv(1)  # until the client gives up
                        return
                    connection.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16 KiB follows
                    while True:
                        time.sleep(every)
                        connection.sendall(b"\x00")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def name(self, label: str = "registry") -> str:
        """``host:port`` under a public-looking name (see the module's documentation)."""
        return f"{label}.{DOMAIN}:{self.port}"

    def __enter__(self) -> StalledHandshake:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def basic(user: str, password: str) -> str:
    """The ``Authorization`` value of basic credentials."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def environment(home: Path, credentials: Mapping[str, tuple[str, str]] | None = None) -> dict[str, str]:
    """A child's environment: a home of its own (``credentials``: ``host -> (user, password)`` in
    its docker ``config.json``), no proxies, no credentials of the user's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and k not in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR")
    }
    docker = home / ".docker"
    docker.mkdir(parents=True, exist_ok=True)
    auths = {
        host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
        for host, (user, password) in (credentials or {}).items()
    }
    (docker / "config.json").write_text(json.dumps({"auths": auths}))
    env |= {"HOME": str(home), "DOCKER_CONFIG": str(docker), "XDG_CONFIG_HOME": str(home / ".config")}
    return env


def python(code: str, home: Path, credentials: Mapping[str, tuple[str, str]] | None = None) -> confined.Outcome:
    """Run ``code`` confined, with the hostile names resolving (see :data:`PRELUDE`)."""
    return confined.python(PRELUDE + code, env=environment(home, credentials))


def cli(*arguments: str, home: Path, credentials: Mapping[str, tuple[str, str]] | None = None) -> confined.Outcome:
    """Run ``ocimodel ARGUMENTS`` confined, with the hostile names resolving."""
    code = PRELUDE + "import sys\nfrom ocimodel.cli import main\nsys.exit(main())\n"
    return confined.run([sys.executable, "-c", code, *arguments], env=environment(home, credentials))


#: Run in a child before the cases of :func:`cases`: ``attempt(name, call)`` prints one JSON line
#: per case, how it ended.
_ATTEMPT = """
import json as _json, time as _time
def attempt(case, call):
    started = _time.monotonic()
    try:
        result = call()
    except Exception as error:
        from ocimodel.errors import OCIError
        line = {"case": case, "error": type(error).__name__, "typed": isinstance(error, OCIError),
                "message": str(error)[:2000]}
    else:
        line = {"case": case, "error": None, "typed": True, "message": repr(result)[:2000]}
    line["seconds"] = round(_time.monotonic() - started, 3)
    print(_json.dumps(line), flush=True)
"""


@attrs.frozen
class Ended:
    """How one case of :func:`cases` ended: the error's class name (``None``: it returned),
    whether that is an :class:`~ocimodel.errors.OCIError`, its message (or the result), and how
    long it took."""

    error: str | None
    typed: bool
    message: str
    seconds: float


def cases(
    setup: str,
    calls: Mapping[str, str],
    home: Path,
    credentials: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[confined.Outcome, dict[str, Ended]]:
    """Run ``setup``, then each of ``calls`` (a name: a Python expression), in one confined child
    (see :func:`python`); how each ended, by name. A case missing from the answer did not end (the
    child ran out of time or memory first: the outcome says which)."""
    lines = [setup, _ATTEMPT]
    lines += [f"attempt({name!r}, lambda: {call})" for name, call in calls.items()]
    outcome = python("\n".join(lines), home, credentials)
    ended = {}
    for line in outcome.stdout.splitlines():
        if line.startswith("{"):
            found = json.loads(line)
            ended[found["case"]] = Ended(found["error"], found["typed"], found["message"], found["seconds"])
    return outcome, ended
