"""The client's TLS settings as one :class:`ssl.SSLContext` that all its connections share.

Left to itself urllib3 builds a context for every new connection and reads the system's CA store
into it each time (25-50 ms of CPU); a shared context reads it once, and not at all when
verification is off (``verify=False``) or when only plain http is spoken.
"""

from __future__ import annotations

import os
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


def https_pool_options(context: ssl.SSLContext) -> dict[str, Any]:
    """Keyword arguments for a :class:`urllib3.PoolManager` whose connections use ``context``."""
    options: dict[str, Any] = {"ssl_context": context, "cert_reqs": context.verify_mode}
    if context.verify_mode == ssl.CERT_NONE:
        options["assert_hostname"] = False
    return options
