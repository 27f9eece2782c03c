"""Rebasing: the layers an image added on top of one base, moved onto another."""

from __future__ import annotations

import attrs

from ocimodel.configfile import Config, ConfigFile, History
from ocimodel.descriptor import Descriptor
from ocimodel.errors import ValidationError
from ocimodel.image import Image
from ocimodel.mutate._image import Addendum, changed


def rebase(original: Image, old_base: Image, new_base: Image) -> Image:
    """``original``'s own layers and history on top of ``new_base`` instead of ``old_base``.

    The result takes ``new_base``'s layers, platform and history, then ``original``'s run-time
    config and every layer (with its history entry) that ``original`` added above ``old_base``;
    those layers take ``new_base``'s media-type family, as appended layers do.
    Raises :class:`~ocimodel.errors.ValidationError` if ``original`` does not start with
    ``old_base``'s layers.
    """
    original_layers = original.manifest().layers
    old_layers = old_base.manifest().layers
    if [d.digest for d in original_layers[: len(old_layers)]] != [d.digest for d in old_layers]:
        raise ValidationError(f"image {original.digest()} is not based on {old_base.digest()}: its first layers differ")
    own_layers = iter(original_layers[len(old_layers) :])
    addenda = []
    for entry in original.config_file().history[len(old_base.config_file().history) :]:
        if entry.empty_layer:
            addenda.append(Addendum(history=entry))
            continue
        descriptor = next(own_layers, None)
        if descriptor is None:
            break
        addenda.append(_addendum(original, descriptor, entry))
    addenda.extend(_addendum(original, descriptor, None) for descriptor in own_layers)
    run_config = original.config_file().config
    return changed(new_base, adds=tuple(addenda), config_edit=lambda config_file: _with(config_file, run_config))


def _addendum(original: Image, descriptor: Descriptor, history: History | None) -> Addendum:
    return Addendum(
        layer=original.layer_by_digest(descriptor.digest),
        history=history,
        annotations=descriptor.annotations,
        urls=descriptor.urls,
    )


def _with(config_file: ConfigFile, run_config: Config) -> ConfigFile:
    return attrs.evolve(config_file, config=run_config)
