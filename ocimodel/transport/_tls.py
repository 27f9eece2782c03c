"""The client's TLS settings as one :class:`ssl.SSLContext` that all its connections share.

Left to itself urllib3 builds a context for every new connection and reads the system's CA store
into it each time (25-50 ms of CPU); a shared context reads it once, and not at all when
verification is off (``verify=False``) or when only plain http is spoken.
"""

from __future__ import annotations

import os
import socket
import ssl
from typing import Any

from urllib3.util.ssl_ import create_urllib3_context


def tls_context(
    ca_file: str | None, client_cert: str | tuple[str, str] | None, verify: bool, *, system: bool = False
) -> ssl.SSLContext:
    """A context trusting ``ca_file`` (else ``SSL_CERT_FILE``, else the system's CAs; with
    ``system``, the system's CAs as well) and presenting ``client_cert`` (a file, or
    ``(certificate, key)`` files); :class:`OSError` (``ssl.SSLError`` included) when a file cannot
    be read or does not hold what it should."""
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
    if verify:
        ca = ca_file or os.environ.get("SSL_CERT_FILE")
        if system or not ca:
            context.load_default_certs()
        if ca:
            context.load_verify_locations(cafile=ca)
    if isinstance(client_cert, tuple):
        context.load_cert_chain(*client_cert)
    elif client_cert:
        context.load_cert_chain(client_cert)
    return context


#: What OpenSSL says when the server answered a handshake in plain http, not TLS.
_PLAIN_SIGNS = ("WRONG_VERSION_NUMBER", "RECORD LAYER FAILURE", "HTTP_REQUEST", "UNKNOWN_PROTOCOL")


def answered_in_plain(error: Exception) -> bool:
    """Whether a failed handshake (an :class:`ssl.SSLError`, or urllib3's wrapping of one) met a
    server that does not speak TLS (a plain http one)."""
    text = str(error).upper()
    return any(sign in text for sign in _PLAIN_SIGNS)


def speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether the server at ``host:port`` answers a TLS handshake, asked with a context that
    reads no CA store and checks nothing (so it costs a connection, not the 25-50 ms of CPU of
    reading the store): ``False`` for a plain http server, and for one that cannot be reached
    at all (refused, timed out, unresolvable), which an https request would fail on too.

    A server that answers in TLS is ``True`` whatever its certificate: the request that
    follows is verified as every https request is.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, context.wrap_socket(raw):
            return True
    except ssl.SSLError as error:
        return not answered_in_plain(error)
    except OSError:
        return False


def https_pool_options(context: ssl.SSLContext) -> dict[str, Any]:
    """Keyword arguments for a :class:`urllib3.PoolManager` whose connections use ``context``."""
    options: dict[str, Any] = {"ssl_context": context, "cert_reqs": context.verify_mode}
    if context.verify_mode == ssl.CERT_NONE:
        options["assert_hostname"] = False
    return options
