"""ocimodel: container images and registries, per the OCI image-spec and distribution-spec.

The value types are importable from here; everything is loaded on first use, so that
``import ocimodel`` (and the command line) start quickly.

>>> import ocimodel
>>> ocimodel.Hash.sha256(b"").hex[:12]
'e3b0c44298fc'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ocimodel._version import __version__

if TYPE_CHECKING:
    from ocimodel import (
        authn,
        codec,
        compression,
        empty,
        errors,
        layer,
        layout,
        limits,
        mutate,
        name,
        random,
        registry,
        remote,
        transport,
        validate,
    )
    from ocimodel.codec import from_json, to_json
    from ocimodel.configfile import Config, ConfigFile, HealthConfig, History, RootFS
    from ocimodel.descriptor import Descriptor
    from ocimodel.errors import OCIError
    from ocimodel.hashing import Hash, Hasher, VerifyingReader
    from ocimodel.image import Image, UncompressedImage
    from ocimodel.index import ImageIndex
    from ocimodel.layer import Layer, UncompressedLayer
    from ocimodel.manifest import IndexManifest, Manifest
    from ocimodel.mediatype import MediaType
    from ocimodel.platform import Platform

__all__ = [
    "Config",
    "ConfigFile",
    "Descriptor",
    "Hash",
    "Hasher",
    "HealthConfig",
    "History",
    "Image",
    "ImageIndex",
    "IndexManifest",
    "Layer",
    "Manifest",
    "MediaType",
    "OCIError",
    "Platform",
    "RootFS",
    "UncompressedImage",
    "UncompressedLayer",
    "VerifyingReader",
    "__version__",
    "authn",
    "codec",
    "compression",
    "empty",
    "errors",
    "from_json",
    "layer",
    "layout",
    "limits",
    "mutate",
    "name",
    "random",
    "registry",
    "remote",
    "to_json",
    "transport",
    "validate",
]

_ATTRIBUTES = {
    "Config": "configfile",
    "ConfigFile": "configfile",
    "HealthConfig": "configfile",
    "History": "configfile",
    "RootFS": "configfile",
    "Descriptor": "descriptor",
    "OCIError": "errors",
    "Hash": "hashing",
    "Hasher": "hashing",
    "VerifyingReader": "hashing",
    "IndexManifest": "manifest",
    "Image": "image",
    "UncompressedImage": "image",
    "ImageIndex": "index",
    "Layer": "layer",
    "UncompressedLayer": "layer",
    "Manifest": "manifest",
    "MediaType": "mediatype",
    "Platform": "platform",
    "from_json": "codec",
    "to_json": "codec",
}
_SUBMODULES = {
    "authn",
    "codec",
    "compression",
    "empty",
    "errors",
    "hypothesis",
    "layer",
    "layout",
    "limits",
    "mutate",
    "name",
    "random",
    "registry",
    "remote",
    "transport",
    "validate",
}


def __getattr__(attribute: str) -> Any:
    if attribute in _ATTRIBUTES:
        value = getattr(importlib.import_module(f"ocimodel.{_ATTRIBUTES[attribute]}"), attribute)
    elif attribute in _SUBMODULES:
        value = importlib.import_module(f"ocimodel.{attribute}")
    else:
        raise AttributeError(f"module 'ocimodel' has no attribute {attribute!r}")
    globals()[attribute] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | {"hypothesis"})
