"""Whether the two descriptions of an image in a ``docker save`` tarball agree.

Docker 25 and later write each image twice: an OCI layout (``index.json``, a manifest blob) and
the classic ``manifest.json`` entry with the config. ``docker load``, go-containerregistry and
skopeo's ``docker-archive:`` read only ``manifest.json``; Docker 25.0.0 wrote the OCI manifest's
layers in map order (moby/moby#47150), and its siblings wrote it with no layers (moby/moby#47065)
or wrong sizes (moby/moby#47072). So the OCI manifest is used (its digest survives the trip)
only when every check here passes: the config digest, the number of layers, and for each layer
its place (the same file as ``manifest.json`` lists), its size, ``LayerSources`` and, for an
uncompressed layer, its digest against the config's ``diff_id``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import attrs

from ocimodel.descriptor import Descriptor
from ocimodel.hashing import Hash
from ocimodel.manifest import Manifest


@attrs.frozen
class Saved:
    """The ``manifest.json`` side: the config's digest and ``diff_ids``, the layer paths listed,
    and ``LayerSources`` (descriptors by diff_id)."""

    config: Hash
    diff_ids: tuple[Hash, ...]
    paths: tuple[str, ...]
    sources: Mapping[str, Descriptor]


def blob_path(digest: Hash) -> str:
    """Where an OCI layout keeps a blob."""
    return f"blobs/{digest.algorithm}/{digest.hex}"


def disagreements(manifest: Manifest, saved: Saved, located: Callable[[str], tuple[str, int] | None]) -> list[str]:
    """Every way ``manifest`` (the OCI side) disagrees with ``saved``; empty if they agree.

    ``located(path)`` is the tarball member a path resolves to (links followed) and its size, or
    ``None`` if the tarball has no such file.
    """
    problems = []
    if manifest.config.digest != saved.config:
        problems.append(f"the OCI manifest's config is {manifest.config.digest}, manifest.json's {saved.config}")
    counts = (len(manifest.layers), len(saved.paths), len(saved.diff_ids))
    if len(set(counts)) != 1:
        problems.append(
            f"the OCI manifest lists {counts[0]} layers, manifest.json {counts[1]}, the config's diff_ids {counts[2]}"
        )
        return problems
    for position, (descriptor, path, diff_id) in enumerate(
        zip(manifest.layers, saved.paths, saved.diff_ids, strict=True)
    ):
        problems.extend(
            f"layer {position}: {problem}"
            for problem in _layer(descriptor, path, diff_id, saved.sources.get(str(diff_id)), located)
        )
    return problems


def _layer(
    descriptor: Descriptor,
    path: str,
    diff_id: Hash,
    source: Descriptor | None,
    located: Callable[[str], tuple[str, int] | None],
) -> Sequence[str]:
    problems = []
    if source is not None and source.digest != descriptor.digest:
        problems.append(f"the OCI manifest names {descriptor.digest}, LayerSources[{diff_id}] {source.digest}")
    blob = located(blob_path(descriptor.digest))
    if blob is None:
        if source is None:  # a foreign layer's blob is absent: LayerSources must say what it is
            problems.append(f"the OCI manifest's {descriptor.digest} is not in the tarball")
        return problems
    listed = located(path)
    if listed is None or listed[0] != blob[0]:
        problems.append(f"the OCI manifest's {blob_path(descriptor.digest)} is not manifest.json's {path}")
    elif blob[1] != descriptor.size:
        problems.append(f"{path} holds {blob[1]} bytes, the OCI manifest says {descriptor.size}")
    uncompressed = descriptor.media_type.is_layer() and descriptor.media_type.compression() is None
    if uncompressed and descriptor.digest != diff_id:
        problems.append(f"the OCI manifest's uncompressed {descriptor.digest} is not the config's diff_id {diff_id}")
    return problems
