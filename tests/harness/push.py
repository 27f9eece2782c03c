"""Putting images into the registry for read tests, with the low-level client only.

(The writer of the remote-write work will replace this; until then tests need content to read.)
"""

from __future__ import annotations

from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.index import ImageIndex
from ocimodel.name import Repository
from ocimodel.transport import Client


def push_blob(client: Client, repository: Repository, data: bytes) -> Hash:
    digest = Hash.sha256(data)
    if client.head_blob(repository, digest) is None:
        upload = client.start_upload(repository)
        client.finish_upload(repository, upload.location, digest, data)
    return digest


def push(client: Client, repository: Repository, target: Image | ImageIndex, tag: str | None = None) -> Hash:
    """Push ``target`` (children, layers and config first), tagged ``tag`` or by digest."""
    if isinstance(target, ImageIndex):
        for _, child in target.children():
            if isinstance(child, Image | ImageIndex):
                push(client, repository, child)
            else:
                with child.compressed() as stream:
                    push_blob(client, repository, stream.read())
    else:
        for layer in target.layers():
            with layer.compressed() as stream:
                push_blob(client, repository, stream.read())
        push_blob(client, repository, target.raw_config_file())
    return client.put_manifest(repository, tag or str(target.digest()), target.raw_manifest(), target.media_type())
