"""Subclass hooks take what a user naturally returns: a ``str`` for a media type or a digest,
``bytes``, ``str`` or a ``dict`` for a manifest, ``bytes`` for a stream, any iterable for a list.

:class:`~ocimodel.Layer`, :class:`~ocimodel.Image` and :class:`~ocimodel.ImageIndex` call
:func:`normalise_hooks` from ``__init_subclass__``: every hook a subclass defines is wrapped, once,
where the class is made, so every reader of it (the base class's derived methods, writers,
``validate``) gets the declared type, and a value that cannot stand for it is reported naming the
method, not met later as an ``AttributeError`` deep inside.
"""

from __future__ import annotations

import functools
import inspect
import io
import os
from collections.abc import Callable, Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

from ocimodel import codec
from ocimodel._reading import open_file
from ocimodel._streams import IteratorReader, binary
from ocimodel.errors import BadDigestError, BadReturnValue
from ocimodel.hashing import Hash
from ocimodel.mediatype import MediaType

if TYPE_CHECKING:
    from ocimodel.layer import Layer

#: Turns what a hook returned into the declared type; ``where`` names the hook for messages.
Normaliser = Callable[[Any, str], Any]

_MARK = "_ocimodel_normalised"


def normalise_hooks(cls: type, hooks: Mapping[str, Normaliser]) -> None:
    """Wrap each of ``hooks`` that ``cls`` itself defines as a plain function, so that what it
    returns goes through its normaliser. Inherited hooks were wrapped where they were defined."""
    for name, normalise in hooks.items():
        method = cls.__dict__.get(name)
        if not inspect.isfunction(method) or getattr(method, _MARK, False):
            continue
        setattr(cls, name, _wrapped(method, normalise, f"{cls.__qualname__}.{name}()"))


def _wrapped(method: Callable[..., Any], normalise: Normaliser, where: str) -> Callable[..., Any]:
    @functools.wraps(method)  # keeps __isabstractmethod__, the docstring and the signature
    def hook(self: object, *args: Any, **kwargs: Any) -> Any:
        return normalise(method(self, *args, **kwargs), where)

    setattr(hook, _MARK, True)
    return hook


def _refuse(value: object, where: str, expected: str) -> BadReturnValue:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return BadReturnValue(f"{where} returned {shown} (type {type(value).__name__}); expected {expected}")


def media_type(value: Any, where: str) -> MediaType:
    """A :class:`MediaType` from itself or any ``str``."""
    if isinstance(value, MediaType):
        return value
    if isinstance(value, str):
        return MediaType(value)
    raise _refuse(value, where, "a media type string, such as 'application/vnd.oci.image.layer.v1.tar+gzip'")


def digest(value: Any, where: str) -> Hash:
    """A :class:`Hash` from itself or its ``"sha256:<hex>"`` string."""
    if isinstance(value, Hash):
        return value
    if isinstance(value, str):
        try:
            return Hash.parse(value)
        except BadDigestError as error:
            raise BadDigestError(f"{where} returned {value!r}: {error}") from None
    raise _refuse(value, where, "a digest: an ocimodel.Hash or a string 'sha256:<64 hex digits>'")


def optional_digest(value: Any, where: str) -> Hash | None:
    """As :func:`digest`, with ``None`` for "not known"."""
    return None if value is None else digest(value, where)


def document(value: Any, where: str) -> bytes:
    """A JSON document's bytes from ``bytes`` (or any bytes-like), a ``str`` (UTF-8), a ``dict``
    or ``list`` (written compactly, as Go writes JSON) or a spec value (its :meth:`to_json`). The
    bytes are the truth: the digest is of what this returns."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict | list):
        try:
            return codec.dumps(value)
        except (TypeError, ValueError) as error:
            raise _refuse(value, where, f"JSON bytes, text or a dict that JSON can hold ({error})") from None
    if isinstance(value, codec.Parsed):
        return codec.to_json(value)
    raise _refuse(value, where, "JSON: bytes, a str, a dict, or a spec value such as ocimodel.Manifest")


def stream(value: Any, where: str) -> IO[bytes]:
    """A binary stream from a file object (as it is), bytes (in memory), a path (opened), or an
    iterable of byte chunks (a generator, read as it goes)."""
    if hasattr(value, "read"):
        return value  # type: ignore[no-any-return]
    if isinstance(value, bytes | bytearray | memoryview):
        return io.BytesIO(value)
    if isinstance(value, os.PathLike):
        return open_file(value)
    if isinstance(value, Iterable) and not isinstance(value, str):
        return binary(IteratorReader(iter(value)))
    raise _refuse(value, where, "a binary stream: a file object opened 'rb', bytes, a path, or byte chunks")


def layer_list(value: Any, where: str) -> list[Layer]:
    """A list of layers from any iterable of them (a list is given back as it is: memoised lists
    stay the same object)."""
    from ocimodel.layer import Layer

    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        found = value if isinstance(value, list) else list(value)
        wrong = [each for each in found if not isinstance(each, Layer)]
        if not wrong:
            return found
        raise _refuse(wrong[0], f"an item of what {where}", "an ocimodel.Layer")
    raise _refuse(value, where, "a list (or any iterable) of ocimodel.Layer")


#: The hooks of :class:`~ocimodel.Layer` and :class:`~ocimodel.UncompressedLayer`.
LAYER_HOOKS: Mapping[str, Normaliser] = {
    "media_type": media_type,
    "digest": digest,
    "diff_id": digest,
    "known_diff_id": optional_digest,
    "open_compressed": stream,
    "open_uncompressed": stream,
    "compressed": stream,
    "uncompressed": stream,
}

#: The hooks of :class:`~ocimodel.ImageIndex` (and what images share with it).
MANIFESTED_HOOKS: Mapping[str, Normaliser] = {
    "media_type": media_type,
    "raw_manifest": document,
    "digest": digest,
}

#: The hooks of :class:`~ocimodel.Image`.
IMAGE_HOOKS: Mapping[str, Normaliser] = {
    **MANIFESTED_HOOKS,
    "raw_config_file": document,
    "config_name": digest,
    "layers": layer_list,
}
