"""An in-process OCI registry (memory or disk storage) for tests and demos: :class:`Registry`.

>>> from ocimodel.registry import Registry
>>> with Registry() as served:
...     served.host.startswith("127.0.0.1:")
True

It shares only values (digests, media types, manifests) with the client, never the client
itself, so testing the client against it tests something independent.
"""

from ocimodel.registry._server import Registry
from ocimodel.registry._storage import Storage

__all__ = ["Registry", "Storage"]
