"""Layers: the abstract :class:`Layer`, its cores, and layers made from anything.

- :func:`from_bytes`, :func:`from_file`, :func:`from_opener`: a tar, gzip'd, zstd'd or plain (the
  compression is found from the content, not the name; content that does not start as a tar is
  refused, unless a media type that is not a layer's says it is an artifact's blob);
- :func:`from_files` and :func:`from_directory`: reproducible tars (sorted entries, one mtime,
  uid and gid 0), generated as they are read;
- :func:`stream`: a single-pass layer over a stream, for content that can be read only once.

A layer made from uncompressed content is compressed once, into a temporary file, the first time
its digest or compressed bytes are needed, by the standard library's zlib unless a
``compression_backend`` is given: the same content gives the same digest on every machine (see
:mod:`ocimodel.compression`). The makers (and the tar code under them) are loaded
on first use: code that only reads or pushes existing layers does not pay for them at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ocimodel.layer._base import Layer, UncompressedLayer
from ocimodel.layer._stream import StreamLayer

if TYPE_CHECKING:
    from ocimodel.layer._sources import from_bytes, from_directory, from_file, from_files, from_opener, stream

__all__ = [
    "Layer",
    "StreamLayer",
    "UncompressedLayer",
    "from_bytes",
    "from_directory",
    "from_file",
    "from_files",
    "from_opener",
    "stream",
]
_MAKERS = {"from_bytes", "from_directory", "from_file", "from_files", "from_opener", "stream"}


def __getattr__(name: str) -> Any:
    if name not in _MAKERS:
        raise AttributeError(f"module 'ocimodel.layer' has no attribute {name!r}")
    value = getattr(importlib.import_module("ocimodel.layer._sources"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
