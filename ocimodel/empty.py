"""The empty image and the empty index, byte for byte as go-containerregistry makes them.

``empty.image`` is a Docker schema 2 image with no layers
(``sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4``), the usual base for
building an image in code; ``empty.index`` is an OCI index with no entries
(``sha256:dff9de10919148711140d349bf03f1a99eb06f94b03e51715ccebfa7cdc518e2``).
"""

from __future__ import annotations

from typing import Final

from ocimodel.errors import NoSuchBlob
from ocimodel.hashing import Hash
from ocimodel.image import Image, UncompressedImage
from ocimodel.index import ImageIndex, MemoryIndex
from ocimodel.layer import Layer
from ocimodel.manifest import IndexManifest
from ocimodel.mediatype import MediaType

__all__ = ["CONFIG", "image", "index"]

#: The empty image's config, as go-containerregistry serialises an empty ``ConfigFile``.
CONFIG: Final = (
    b'{"architecture":"","created":"0001-01-01T00:00:00Z","os":"",'
    b'"rootfs":{"type":"layers","diff_ids":null},"config":{}}'
)


class _EmptyImage(UncompressedImage):
    def raw_config_file(self) -> bytes:
        return CONFIG

    def layer_by_diff_id(self, diff_id: Hash) -> Layer:
        raise NoSuchBlob(f"the empty image has no layers (asked for {diff_id})")


image: Final[Image] = _EmptyImage()
index: Final[ImageIndex] = MemoryIndex(IndexManifest(media_type=MediaType.OCI_INDEX).to_json())
