"""One lazy wrapper for every change to an image: layers appended, config edited, fields set."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ocimodel._frozen import FrozenMap
from ocimodel._memo import memoized
from ocimodel.configfile import ConfigFile, History
from ocimodel.descriptor import Descriptor
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.layer import Layer
from ocimodel.layer._family import counterpart, fitted
from ocimodel.manifest import Manifest
from ocimodel.mediatype import Family, MediaType

ConfigEdit = Callable[[ConfigFile], ConfigFile]


class _Keep:
    """A change left unset (for fields where ``None`` is a value: clearing a subject)."""


KEEP = _Keep()


@attrs.frozen
class Addendum:
    """A layer to append, with what the config and manifest should say about it.

    ``layer`` may be ``None`` for a history-only step (``history.empty_layer`` should then be
    true). ``annotations``, ``urls`` and ``media_type`` override the layer's own descriptor.
    Without ``media_type``, a layer whose type is of the other family than the image's manifest
    (Docker's in an OCI manifest, or OCI's in a Docker one) is described by its counterpart in the
    manifest's family, as crane's ``append`` does (see :func:`ocimodel.layer._family.fitted`).
    """

    layer: Layer | None = None
    history: History | None = None
    annotations: Mapping[str, str] = attrs.field(factory=dict)
    urls: Sequence[str] = ()
    media_type: str | None = None


@attrs.frozen
class _Changes:
    adds: tuple[Addendum, ...] = ()
    config_edit: ConfigEdit | None = None
    media_type: MediaType | None = None
    config_media_type: MediaType | None = None
    annotations: Mapping[str, str] | None = None
    subject: Descriptor | _Keep | None = KEEP


@attrs.frozen
class _Computed:
    raw_manifest: bytes
    raw_config: bytes
    added: dict[Hash, Layer]


class MutatedImage(Image):
    """An image computed lazily from a base and a set of changes; see :mod:`ocimodel.mutate`.

    Nothing is read from the base until something is asked of the result. A config that is an
    image config is rebuilt only if a change touches it; otherwise (and always for artifact
    configs) the base's config bytes are kept as they are, and so is its digest. A new manifest
    media type of the other family (OCI for a Docker image, or the reverse) moves the base's
    layer and image config types to their counterparts too, so that the manifest does not mix
    the families; the blobs, and their digests, do not change.
    """

    def __init__(self, base: Image, changes: _Changes) -> None:
        self._base = base
        self._changes = changes

    def media_type(self) -> MediaType:
        return self._changes.media_type or self._base.media_type()

    def raw_manifest(self) -> bytes:
        return self._computed().raw_manifest

    def raw_config_file(self) -> bytes:
        return self._computed().raw_config

    def layers(self) -> list[Layer]:
        """The base's layers and the appended ones; needs no digest, so single-pass layers can be
        listed (and uploaded) before the manifest that names them is computed."""
        return self._base_layers() + [added for _, added in self._added()]

    @memoized
    def _moved_to(self) -> Family | None:
        """The family the base's types move to, if the change of media type changes the family."""
        new = self._changes.media_type
        if new is None or not new.is_image() or new.family() == self._base.media_type().family():
            return None
        return new.family()

    @memoized
    def _base_layers(self) -> list[Layer]:
        """The base's layers, in the new family if the media type moves the image to it (the same
        objects every time: a writer knows a single-pass layer by identity)."""
        family = self._moved_to()
        return [fitted(each, family) for each in self._base.layers()]

    @memoized
    def _added(self) -> list[tuple[Addendum, Layer]]:
        """Each addendum with a layer, and that layer in the manifest's family (unless the addendum
        gives its media type)."""
        kind = self.media_type()
        family = kind.family() if kind.is_image() else None
        return [
            (add, add.layer if add.media_type else fitted(add.layer, family))
            for add in self._changes.adds
            if add.layer is not None
        ]

    def layer_by_digest(self, digest: Hash) -> Layer:
        added = self._computed().added
        return added[digest] if digest in added else fitted(self._base.layer_by_digest(digest), self._moved_to())

    @memoized
    def _computed(self) -> _Computed:
        changes = self._changes
        base_manifest = self._base.manifest()
        config_descriptor = base_manifest.config
        config_type = changes.config_media_type or config_descriptor.media_type
        raw_config = self._base.raw_config_file()
        if config_type.is_config() and (changes.adds or changes.config_edit):
            raw_config = self._edited_config().to_json()
            config_descriptor = attrs.evolve(
                config_descriptor,
                size=len(raw_config),
                digest=Hash.sha256(raw_config),
                data=raw_config if config_descriptor.data is not None else None,
            )
        moved = self._moved_to()
        if changes.config_media_type is not None:
            config_descriptor = attrs.evolve(config_descriptor, media_type=changes.config_media_type)
        elif moved is not None:
            config_descriptor = attrs.evolve(config_descriptor, media_type=counterpart(config_type, moved))

        layers = list(base_manifest.layers)
        if moved is not None:
            layers = [attrs.evolve(each, media_type=counterpart(each.media_type, moved)) for each in layers]
        added: dict[Hash, Layer] = {}
        for add, layer in self._added():
            descriptor = layer.descriptor()
            descriptor = attrs.evolve(
                descriptor,
                media_type=add.media_type or descriptor.media_type,
                urls=add.urls or descriptor.urls,
                annotations=add.annotations or descriptor.annotations,
            )
            layers.append(descriptor)
            added[descriptor.digest] = layer

        fields = common_fields(changes, base_manifest.annotations)
        manifest: Manifest = attrs.evolve(base_manifest, config=config_descriptor, layers=layers, **fields)
        raw_manifest = self._base.raw_manifest() if manifest == base_manifest else manifest.to_json()
        return _Computed(raw_manifest, raw_config, added)

    def _edited_config(self) -> ConfigFile:
        changes = self._changes
        config_file = self._base.config_file()
        if changes.config_edit is not None:
            config_file = changes.config_edit(config_file)
        if not changes.adds:
            return config_file
        history = list(config_file.history)
        diff_ids = list(config_file.rootfs.diff_ids)
        for add in changes.adds:
            history.append(add.history or History())
            if add.layer is not None:
                diff_ids.append(add.layer.diff_id())
        return attrs.evolve(config_file, history=history, rootfs=attrs.evolve(config_file.rootfs, diff_ids=diff_ids))


def common_fields(changes: _Changes | Any, annotations: Mapping[str, str]) -> dict[str, Any]:
    """The manifest fields that image and index changes share: media type, annotations (merged
    over ``annotations``, the new values winning) and subject."""
    fields: dict[str, Any] = {}
    if changes.media_type is not None:
        fields["media_type"] = changes.media_type
    if changes.annotations is not None:
        fields["annotations"] = FrozenMap({**annotations, **changes.annotations})
    if not isinstance(changes.subject, _Keep):
        fields["subject"] = changes.subject
    return fields


def changed(base: Image, **changes: Any) -> MutatedImage:
    """``base`` with ``changes`` (the fields of :class:`_Changes`) applied lazily."""
    return MutatedImage(base, _Changes(**changes))
