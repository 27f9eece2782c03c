"""The classic ``docker save`` tarball (go-containerregistry's ``legacy/tarball``, crane's
``pull --format legacy``): a folder per layer named by its v1 layer ID, holding the uncompressed
``layer.tar``, a v1 ``json`` and ``VERSION``; the config as ``<hex>.json``; ``manifest.json``
and ``repositories`` (tags to the top layer's ID). What docker before 25 wrote and every docker
loads.

Layers go in uncompressed, and a tar header states a member's size before its bytes: a layer
whose uncompressed size is not known is decompressed once into a scratch file (no name, so
nothing stays behind), then copied out; memory stays bounded whatever the layer's size.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from typing import IO, Any

import attrs

from ocimodel import codec
from ocimodel._files import scratch_file
from ocimodel._json import loads
from ocimodel.configfile import History
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.layer import Layer
from ocimodel.name import Digest, Reference

_CHUNK = 1 << 20


@attrs.frozen
class Member:
    """One file of the tarball: its bytes, or a layer whose uncompressed bytes it holds."""

    name: str
    data: bytes = b""
    layer: Layer | None = None


def _layer_id(layer: Layer, parent: str, raw_config: bytes = b"") -> str:
    """go-containerregistry's v1 layer ID: sha256 of ``"<digest hex> <parent ID>"``, with ``"
    <raw config>"`` after it for the top layer, so an image's top ID names the image."""
    text = f"{layer.digest().hex} {parent}".encode()
    if raw_config:
        text += b" " + raw_config
    return Hash.sha256(text).hex


def _layer_json(layer_id: str, parent: str, history: History, top: dict[str, Any] | None) -> bytes:
    """A layer's v1 ``json``: its ID, parent and history entry; the top one carries the image's
    platform and run config, as docker wrote it."""
    entry: dict[str, Any] = {"id": layer_id}
    if parent:
        entry["parent"] = parent
    if history.created is not None:
        entry["created"] = codec.converter.unstructure(history)["created"]
    if history.author:
        entry["author"] = history.author
    if history.created_by:
        entry["container_config"] = {"Cmd": [history.created_by]}
    if history.comment:
        entry["comment"] = history.comment
    if top is not None:
        entry.update({key: value for key, value in top.items() if key in _TOP_KEYS})
    return json.dumps(entry, separators=(",", ":")).encode()


_TOP_KEYS = ("architecture", "os", "variant", "os.version", "config", "container", "docker_version", "created")


def _histories(image: Image, count: int) -> list[History]:
    """One history entry per layer: the config's entries that made layers; blank ones if the
    config's history does not say which made which."""
    made = [entry for entry in image.config_file().history if not entry.empty_layer]
    return made if len(made) == count else [History() for _ in range(count)]


def plan(pairs: list[tuple[Reference, Image]]) -> list[Member]:
    """The members of the tarball for ``(reference, image)`` pairs: every image once (ordered
    by config digest, as go-containerregistry orders them), a layer folder once however many
    images share it, ``manifest.json`` and ``repositories`` last."""
    tags: dict[Hash, list[str]] = {}
    images: dict[Hash, Image] = {}
    for reference, image in pairs:
        images.setdefault(image.digest(), image)
        named = tags.setdefault(image.digest(), [])
        if not isinstance(reference, Digest):
            text = str(reference)
            named.append(text if text.endswith(f":{reference.identifier}") else f"{text}:{reference.identifier}")
    members: list[Member] = []
    manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    seen: set[str] = set()
    for digest, image in sorted(images.items(), key=lambda item: item[1].config_name().hex):
        raw_config = image.raw_config_file()
        config_name = f"{image.config_name().hex}.json"
        members.append(Member(config_name, raw_config))
        layers = image.layers()
        descriptors = image.manifest().layers
        diff_ids = image.config_file().rootfs.diff_ids
        top = loads(raw_config, "image config")
        parent, files, sources = "", [], {}
        for number, (layer, history) in enumerate(zip(layers, _histories(image, len(layers)), strict=True)):
            last = number == len(layers) - 1
            layer_id = _layer_id(layer, parent, raw_config if last else b"")
            files.append(f"{layer_id}/layer.tar")
            if not descriptors[number].media_type.is_distributable():
                sources[str(diff_ids[number])] = codec.converter.unstructure(descriptors[number])
            if layer_id not in seen:
                seen.add(layer_id)
                members.append(Member(f"{layer_id}/layer.tar", layer=layer))
                members.append(
                    Member(f"{layer_id}/json", _layer_json(layer_id, parent, history, top if last else None))
                )
                members.append(Member(f"{layer_id}/VERSION", b"1.0"))
            parent = layer_id
        item: dict[str, Any] = {"Config": config_name, "RepoTags": sorted(tags[digest]), "Layers": files}
        if sources:
            item["LayerSources"] = sources
        manifest.append(item)
        for tag in tags[digest]:
            repository, _, name = tag.rpartition(":")
            repositories.setdefault(repository, {})[name] = parent
    members.append(Member("manifest.json", json.dumps(manifest, separators=(",", ":")).encode()))
    members.append(Member("repositories", json.dumps(repositories, separators=(",", ":"), sort_keys=True).encode()))
    return members


def contents(member: Member) -> tuple[int, Callable[[], Iterator[bytes]]]:
    """A member's size and its bytes: a layer's uncompressed ones, spooled to a scratch file first
    when their size is not known (a layer read from a registry)."""
    if member.layer is None:
        data = member.data
        return len(data), lambda: iter((data,))
    layer = member.layer
    known = getattr(layer, "uncompressed_size", None)
    if callable(known):
        return int(known()), lambda: _read(layer.uncompressed())
    spool = scratch_file()
    with layer.uncompressed() as stream:
        shutil.copyfileobj(stream, spool, _CHUNK)
    size = spool.tell()
    spool.seek(0)
    return size, lambda: _read(spool)


def _read(stream: IO[bytes]) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(_CHUNK):
            yield chunk
