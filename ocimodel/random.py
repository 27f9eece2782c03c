"""Random images, indexes and layers for tests and benchmarks; deterministic when given a seed.

Each layer is a tar of one file ``random_file_<n>.txt`` holding ``byte_size`` random bytes, as
go-containerregistry's ``random`` package makes them. The same seed gives the same content, and
(with the same compressor) the same digests.
"""

from __future__ import annotations

import random as _random

from ocimodel import empty, mutate
from ocimodel.configfile import History
from ocimodel.image import Image
from ocimodel.index import ImageIndex, MemoryIndex
from ocimodel.layer import Layer, from_files
from ocimodel.manifest import IndexManifest
from ocimodel.mediatype import MediaType

__all__ = ["image", "index", "layer"]


def _rng(seed: int | None, rng: _random.Random | None) -> _random.Random:
    return rng if rng is not None else _random.Random(seed)  # noqa: S311 (test data, not secrets)


def layer(
    byte_size: int,
    media_type: str = MediaType.DOCKER_LAYER,
    *,
    seed: int | None = None,
    rng: _random.Random | None = None,
) -> Layer:
    """A layer holding one file of ``byte_size`` random bytes."""
    source = _rng(seed, rng)
    name = f"random_file_{source.getrandbits(63)}.txt"
    return from_files({name: source.randbytes(byte_size)}, media_type=media_type)


def image(byte_size: int, layers: int, *, seed: int | None = None, rng: _random.Random | None = None) -> Image:
    """An image (Docker schema 2, on :data:`ocimodel.empty.image`) of ``layers`` random layers."""
    source = _rng(seed, rng)
    addenda = [
        mutate.Addendum(
            layer(byte_size, rng=source),
            History(
                author="random.Image", created_by="random", comment=f"this is a random history {i + 1} of {layers}"
            ),
        )
        for i in range(layers)
    ]
    return mutate.append(empty.image, *addenda)


def index(byte_size: int, layers: int, count: int, *, seed: int | None = None) -> ImageIndex:
    """An OCI index of ``count`` random images (entries carry no platform)."""
    source = _rng(seed, None)
    images = [image(byte_size, layers, rng=source) for _ in range(count)]
    manifest = IndexManifest(media_type=MediaType.OCI_INDEX, manifests=[img.descriptor() for img in images])
    return MemoryIndex(manifest.to_json(), images)
