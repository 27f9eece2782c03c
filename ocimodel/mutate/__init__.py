"""Changing images and indexes: every function returns a new, lazy object; nothing is read until used.

Images: :func:`append` / :func:`append_layers` (with history, annotations, URLs, media type),
:func:`config` and :func:`config_file` (a whole new value, or keyword fields:
``config(image, cmd=["/app"])``), :func:`created_at`, :func:`media_type`,
:func:`config_media_type`, :func:`annotations`, :func:`subject`, :func:`time`, :func:`canonical`,
:func:`rebase`, and :func:`extract` (the flattened filesystem). Indexes: :func:`append_manifests`,
:func:`remove_manifests`, :func:`media_type`, :func:`annotations`, :func:`subject`.

An image config is rewritten only when a change touches it; artifact configs (any media type that
is not an image config) are always kept byte for byte.
"""

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import IO, Unpack, overload

import attrs

from ocimodel import codec
from ocimodel._streams import IteratorReader, binary
from ocimodel.configfile import Config, ConfigFile
from ocimodel.descriptor import Descriptor
from ocimodel.image import Image
from ocimodel.index import ImageIndex
from ocimodel.layer import Layer
from ocimodel.mediatype import MediaType
from ocimodel.mutate._extract import flattened_tar
from ocimodel.mutate._fields import ConfigChanges, ConfigFileChanges, checked
from ocimodel.mutate._image import Addendum, MutatedImage, changed
from ocimodel.mutate._index import IndexAddendum, MutatedIndex, changed_index
from ocimodel.mutate._rebase import rebase
from ocimodel.mutate._time import RetimedImage

__all__ = [
    "Addendum",
    "ConfigChanges",
    "ConfigFileChanges",
    "IndexAddendum",
    "MutatedImage",
    "MutatedIndex",
    "annotations",
    "append",
    "append_layers",
    "append_manifests",
    "canonical",
    "config",
    "config_file",
    "config_media_type",
    "created_at",
    "extract",
    "media_type",
    "rebase",
    "remove_manifests",
    "subject",
    "time",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def append(base: Image, *addenda: Addendum | Layer) -> Image:
    """``base`` with layers (or history-only steps) added on top, in order.

    For an image config, each addendum adds a history entry (empty if none is given) and each
    layer its diff_id; the manifest gets each layer's descriptor with the addendum's overrides.
    """
    if not addenda:
        return base
    adds = tuple(item if isinstance(item, Addendum) else Addendum(layer=item) for item in addenda)
    return changed(base, adds=adds)


def append_layers(base: Image, *layers: Layer) -> Image:
    """``base`` with ``layers`` added on top, each with an empty history entry."""
    return append(base, *layers)


def config_file(image: Image, /, new: ConfigFile | None = None, **changes: Unpack[ConfigFileChanges]) -> Image:
    """``image`` with its whole config replaced by ``new``, or with some of its fields set:
    ``mutate.config_file(image, architecture="arm64", author="me")``. Keywords are the fields of
    :class:`~ocimodel.ConfigFile` (:class:`ConfigFileChanges`); each replaces the field's value
    in the image's config (in ``new``, if both are given), and the rest is kept as it was.

    :raises TypeError: a keyword that is not a field, or a value the field refuses.
    """
    checked(ConfigFile, changes, "mutate.config_file")
    if not changes:
        return changed(image, config_edit=lambda old: old if new is None else new)
    return changed(image, config_edit=lambda old: attrs.evolve(old if new is None else new, **changes))


def config(image: Image, /, new: Config | None = None, **changes: Unpack[ConfigChanges]) -> Image:
    """``image`` with the run-time part of its config (``config``: cmd, env, …) replaced by
    ``new``, or with some of its fields set: ``mutate.config(image, cmd=["/app"], env=["A=1"])``.
    Keywords are the fields of :class:`~ocimodel.Config` (:class:`ConfigChanges`); each replaces
    the field's whole value (``env=`` is the new environment, not an addition) in the image's
    ``config`` (in ``new``, if both are given), and the rest is kept as it was.

    :raises TypeError: a keyword that is not a field, or a value the field refuses (``cmd="sh"``:
        a command is a list of arguments).
    """
    checked(Config, changes, "mutate.config")

    def edit(old: ConfigFile) -> ConfigFile:
        start = old.config if new is None else new
        return attrs.evolve(old, config=attrs.evolve(start, **changes) if changes else start)

    return changed(image, config_edit=edit)


def created_at(image: Image, when: datetime) -> Image:
    """``image`` with its config's ``created`` time set."""
    return changed(image, config_edit=lambda old: attrs.evolve(old, created=when))


@overload
def media_type(target: Image, new: str) -> Image: ...
@overload
def media_type(target: ImageIndex, new: str) -> ImageIndex: ...
def media_type(target: Image | ImageIndex, new: str) -> Image | ImageIndex:
    """``target`` with its manifest's ``mediaType`` set."""
    if isinstance(target, ImageIndex):
        return changed_index(target, media_type=MediaType(new))
    return changed(target, media_type=MediaType(new))


def config_media_type(image: Image, new: str) -> Image:
    """``image`` with its config descriptor's media type set (a non-config type makes it an artifact)."""
    return changed(image, config_media_type=MediaType(new))


@overload
def annotations(target: Image, new: Mapping[str, str]) -> Image: ...
@overload
def annotations(target: ImageIndex, new: Mapping[str, str]) -> ImageIndex: ...
def annotations(target: Image | ImageIndex, new: Mapping[str, str]) -> Image | ImageIndex:
    """``target`` with ``new`` merged into its manifest's annotations (``new`` wins)."""
    if isinstance(target, ImageIndex):
        return changed_index(target, annotations=dict(new))
    return changed(target, annotations=dict(new))


@overload
def subject(target: Image, new: Descriptor | None) -> Image: ...
@overload
def subject(target: ImageIndex, new: Descriptor | None) -> ImageIndex: ...
def subject(target: Image | ImageIndex, new: Descriptor | None) -> Image | ImageIndex:
    """``target`` with its ``subject`` (what it refers to, for the referrers API) set or cleared."""
    if isinstance(target, ImageIndex):
        return changed_index(target, subject=new)
    return changed(target, subject=new)


def append_manifests(index: ImageIndex, *addenda: IndexAddendum | Image | ImageIndex) -> ImageIndex:
    """``index`` with entries added for images, indexes or blobs (overrides from each addendum)."""
    adds = tuple(item if isinstance(item, IndexAddendum) else IndexAddendum(item) for item in addenda)
    return changed_index(index, adds=adds)


def remove_manifests(index: ImageIndex, matches: Callable[[Descriptor], bool]) -> ImageIndex:
    """``index`` without the entries for which ``matches(descriptor)`` is true."""
    return changed_index(index, remove=matches)


def time(image: Image, when: datetime) -> Image:
    """``image`` with every layer member's times and the config's ``created`` times set to ``when``.

    Layers are rewritten one member at a time (never held whole in memory) and recompressed as
    their media type says.
    """
    return RetimedImage(image, when)


def canonical(image: Image) -> Image:
    """``image`` made reproducible: all times set to the epoch, ``container``,
    ``config.Hostname`` and ``docker_version`` cleared, and the config written canonically (the
    fields ocimodel does not model, such as Docker's ``container_config``, dropped), as
    go-containerregistry's ``mutate.Canonical``."""
    return changed(time(image, _EPOCH), config_edit=_canonical_config)


def _canonical_config(old: ConfigFile) -> ConfigFile:
    cleared = attrs.evolve(old, container=None, docker_version=None, config=attrs.evolve(old.config, hostname=None))
    return codec.canonical(cleared)


def extract(image: Image) -> IO[bytes]:
    """The image's filesystem flattened into one tar stream (a context manager; close it), by the
    image-spec's layer rules (layer.md), as ``umoci unpack`` builds it.

    Whiteouts and opaque directories are applied; a hard link keeps the content its target had in
    the link's own layer, even when a higher layer deletes or replaces the target (written as a
    hard link to a surviving name, else as a file); AUFS metadata (``.wh..wh.*`` at the root) is
    dropped; sparse members come out as plain files. A path that would escape the root raises
    :class:`~ocimodel.errors.BadLayerError`, as do a broken tar (naming the layer and the entry)
    and a hard link to nothing or to a directory; links whose relative target escapes the root
    are dropped. Every layer is read to its end so its digest is checked; a layer whose hard links
    lost every other name is read a second time.
    """
    return binary(IteratorReader(flattened_tar(image)))
