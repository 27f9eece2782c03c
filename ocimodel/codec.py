"""JSON for the spec types: one cattrs converter, :func:`to_json` and :func:`from_json`.

The rules are the image-spec's, written the way go-containerregistry writes them, so that what
ocimodel synthesises hashes the same as what crane would:

- JSON keys come from each field's metadata (:func:`json_key`); required fields are always
  written, optional ones are left out when empty (``None``, ``""``, ``()``, an empty map, ``False``),
  and a few fields the spec requires but that have a default are marked ``always``;
- output is compact (no spaces), map keys are sorted, field order is declaration order, and
  ``<``, ``>``, ``&``, U+2028 and U+2029 are escaped as Go's ``encoding/json`` does;
- input may carry unknown fields (ignored) and ``null`` for an empty list or map; a wrong type
  anywhere raises :class:`~ocimodel.errors.BadJSONError` naming the field path (``$.layers[3].digest``);
  so does JSON nested deeper than the cap (64 arrays and objects, :mod:`ocimodel.limits`), however
  deep: a document nested 30,000 deep is that error, never a ``RecursionError``.

Documents (manifests, indexes, configs) keep the exact bytes they were parsed from: see
:class:`Document`. Their digest is computed over those bytes, never over a re-serialisation.
Every value parsed from JSON (a :class:`Parsed`: documents, descriptors, platforms, the parts of a
config) also keeps the JSON object it came from, so a value changed with ``attrs.evolve`` is
written back with only the changed fields rewritten: unknown fields, key order and values the
model cannot hold exactly (times to the nanosecond, their offsets) are kept as they were.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self, TypeVar, cast

import attrs

from ocimodel._frozen import FrozenMap
from ocimodel._json import loads
from ocimodel.errors import BadJSONError
from ocimodel.hashing import Hash
from ocimodel.mediatype import MediaType

if TYPE_CHECKING:
    import cattrs

    converter: cattrs.Converter
    """The one converter every spec type goes through (a :class:`cattrs.Converter`), made on
    first use: commands that parse no JSON do not import cattrs."""

__all__ = ["Document", "Parsed", "canonical", "converter", "from_json", "json_key", "to_json"]

T = TypeVar("T")

_META: Final = "ocimodel.json"


@attrs.frozen
class _JSONField:
    key: str
    always: bool


def json_key(key: str, *, always: bool = False) -> dict[str, object]:
    """Field metadata naming the field's JSON key.

    ``always=True`` writes the field even when it is empty (for fields the spec requires but that
    have a convenient default, such as a manifest's ``layers``).
    """
    return {_META: _JSONField(key, always)}


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    names[float] = "a number"
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _structure_str(value: object, _: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {_json_type(value)}")


def _structure_int(value: object, _: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"expected an integer, got {_json_type(value)}")


def _structure_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected true or false, got {_json_type(value)}")


def _structure_bytes(value: object, _: object) -> bytes:
    try:
        return base64.b64decode(_structure_str(value, None), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"expected base64 data: {exc}") from None


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _structure_datetime(value: object, _: object) -> datetime:
    text = _structure_str(value, None).upper()
    if not _RFC3339.fullmatch(text):
        raise ValueError(f"expected an RFC 3339 time such as '2024-01-31T12:00:00Z', got {value!r}")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected an RFC 3339 time, got {value!r} (out of range)") from None


def format_time(moment: datetime) -> str:
    """RFC 3339 with trailing zeros of the fraction dropped, as Go's ``time.RFC3339Nano``.

    A naive datetime is taken to be UTC.
    """
    offset = moment.utcoffset() or timedelta(0)
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    if not offset:
        return text + "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return text + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _structure_names(value: object, _: object) -> frozenset[str]:
    """Docker's ``{"80/tcp": {}}`` sets (ExposedPorts, Volumes)."""
    if value is None:
        return frozenset()
    if not isinstance(value, dict):
        raise TypeError(f"expected an object whose keys are the entries, got {_json_type(value)}")
    return frozenset(value)


def _unstructure_names(value: frozenset[str]) -> dict[str, dict[str, object]]:
    return {name: {} for name in sorted(value)}


def _is_tuple(type_: Any) -> bool:
    return getattr(type_, "__origin__", None) is tuple


def _tuple_hook_factory(type_: Any, conv: cattrs.Converter) -> Callable[[Any, Any], tuple[Any, ...]]:
    from cattrs.cols import homogenous_tuple_structure_factory

    inner = homogenous_tuple_structure_factory(type_, conv)

    def structure(value: Any, _: Any) -> tuple[Any, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise TypeError(f"expected an array, got {_json_type(value)}")
        return tuple(inner(value, type_))

    return structure


def _mapping_hook_factory(type_: Any, conv: cattrs.Converter) -> Callable[[Any, Any], FrozenMap[Any, Any]]:
    from cattrs.cols import mapping_structure_factory

    inner = mapping_structure_factory(type_, conv)

    def structure(value: Any, _: Any) -> FrozenMap[Any, Any]:
        if value is None:
            return FrozenMap()
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {_json_type(value)}")
        return FrozenMap(inner(value, type_))

    return structure


def _unstructure_mapping(value: Mapping[Any, Any]) -> dict[Any, Any]:
    unstructure = _converter().unstructure
    return {key: unstructure(value[key]) for key in sorted(value)}


def _is_spec_class(type_: Any) -> bool:
    return attrs.has(type_) and any(_META in field.metadata for field in attrs.fields(type_))


def _json_fields(cls: type[Any]) -> list[tuple[attrs.Attribute[Any], _JSONField]]:
    attrs.resolve_types(cls)
    return [(field, field.metadata[_META]) for field in attrs.fields(cls) if _META in field.metadata]


@attrs.frozen(eq=False)
class Origin:
    """The JSON object a value was parsed from, and the field values parsing gave (in declaration
    order), so that writing the value back can tell which fields were changed since."""

    source: dict[str, Any]
    values: tuple[Any, ...]
    #: The exact bytes, for a top-level document: what an unchanged copy is written as.
    raw: bytes | None = None

    def unchanged(self, value: object) -> bool:
        """Whether ``value`` still holds every field value parsing gave."""
        return tuple(getattr(value, field.name) for field, _ in _json_fields(type(value))) == self.values


@attrs.frozen
class Parsed:
    """Base of the spec values that remember the JSON object they were parsed from.

    ``attrs.evolve`` carries that origin to the changed copy; writing the copy rewrites only the
    fields whose value differs from what was parsed (in place, new keys after the old ones) and
    keeps every other key, unknown ones included, with its value exactly as it was. Equality and
    hashing ignore the origin. A value built in code has none and is written canonically.
    """

    _origin: Origin | None = attrs.field(default=None, kw_only=True, eq=False, repr=False, hash=False, alias="_origin")


def canonical(value: T) -> T:
    """``value`` (and every value in it) as if built in code, without the JSON it was parsed
    from: written canonically, as go-containerregistry writes it, so without the fields ocimodel
    does not model and with times at the precision it holds. For reproducible output
    (:func:`ocimodel.mutate.canonical`)."""
    if isinstance(value, tuple):
        return cast(T, tuple(canonical(item) for item in value))
    if not isinstance(value, Parsed):
        return value
    fields = {field.alias: canonical(getattr(value, field.name)) for field in attrs.fields(type(value)) if field.init}
    fields["_origin"] = None
    return cast(T, type(value)(**fields))


def _structure_factory(cls: type[T], conv: cattrs.Converter) -> Callable[[Any, Any], T]:
    from cattrs.gen import make_dict_structure_fn, override

    fields = _json_fields(cls)
    renames: dict[str, Any] = {field.name: override(rename=spec.key) for field, spec in fields}
    keeps_origin = issubclass(cls, Parsed)
    if keeps_origin:
        renames["_origin"] = override(omit=True)
    inner = make_dict_structure_fn(cls, conv, **renames)
    names = [field.name for field, _ in fields]

    def structure(value: Any, _: Any) -> T:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {_json_type(value)}")
        made = inner(value, cls)
        if keeps_origin:
            object.__setattr__(made, "_origin", Origin(value, tuple(getattr(made, name) for name in names)))
        return made

    return structure


_DROP: Final = object()


def _copied(value: Any) -> Any:
    """A copy of decoded JSON, so changing what :func:`converter.unstructure` gives cannot change
    the origin a parsed value keeps."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


def _unstructure_factory(cls: type[Any], conv: cattrs.Converter) -> Callable[[Any], dict[str, Any]]:
    """Fields in declaration order; optional ones left out while they hold their (empty) default.
    A :class:`Parsed` value with an origin is its source object with the changed fields rewritten."""
    plan = []
    for field, spec in _json_fields(cls):
        default: Any = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        always = spec.always or default is attrs.NOTHING
        plan.append((field.name, spec.key, always, default, conv.get_unstructure_hook(field.type)))

    def unstructure(value: Any) -> dict[str, Any]:
        origin: Origin | None = getattr(value, "_origin", None)
        if origin is not None:
            return _rewritten(value, origin)
        out = {}
        for name, key, always, default, hook in plan:
            item = getattr(value, name)
            if always or item != default:
                out[key] = hook(item)
        return out

    def _rewritten(value: Any, origin: Origin) -> dict[str, Any]:
        changed: dict[str, Any] = {}
        for (name, key, always, default, hook), parsed in zip(plan, origin.values, strict=True):
            item = getattr(value, name)
            if item != parsed:
                changed[key] = hook(item) if always or item != default else _DROP
        out = {key: changed[key] if key in changed else _copied(raw) for key, raw in origin.source.items()}
        out.update((key, new) for key, new in changed.items() if key not in out)
        return {key: item for key, item in out.items() if item is not _DROP}

    return unstructure


_made: list[cattrs.Converter] = []
_making = threading.Lock()


def _converter() -> cattrs.Converter:
    """The converter, made (and its hooks registered) on first use."""
    if _made:
        return _made[0]
    with _making:
        if not _made:
            _made.append(_new_converter())
    return _made[0]


def _new_converter() -> cattrs.Converter:
    import cattrs
    from cattrs.cols import is_mapping

    made = cattrs.Converter(detailed_validation=True)
    made.register_structure_hook(str, _structure_str)
    made.register_structure_hook(int, _structure_int)
    made.register_structure_hook(bool, _structure_bool)
    made.register_structure_hook(bytes, _structure_bytes)
    made.register_unstructure_hook(bytes, lambda data: base64.b64encode(data).decode("ascii"))
    made.register_structure_hook(datetime, _structure_datetime)
    made.register_unstructure_hook(datetime, format_time)
    made.register_structure_hook(Hash, lambda value, _: Hash.parse(_structure_str(value, None)))
    made.register_unstructure_hook(Hash, str)
    made.register_structure_hook(MediaType, lambda value, _: MediaType(_structure_str(value, None)))
    made.register_unstructure_hook(MediaType, str)
    made.register_structure_hook_func(lambda t: t == frozenset[str], _structure_names)
    made.register_unstructure_hook_func(lambda t: t == frozenset[str], _unstructure_names)
    made.register_structure_hook_factory(_is_tuple, _tuple_hook_factory)
    made.register_structure_hook_factory(is_mapping, _mapping_hook_factory)
    made.register_unstructure_hook_func(lambda t: is_mapping(t) or t is FrozenMap, _unstructure_mapping)
    made.register_structure_hook_factory(_is_spec_class, _structure_factory)
    made.register_unstructure_hook_factory(_is_spec_class, _unstructure_factory)
    return made


def __getattr__(name: str) -> Any:
    if name == "converter":
        return _converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Go's encoding/json escapes these inside strings; so must we, for byte-identical output.
_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def dumps(value: object) -> bytes:
    """Compact JSON bytes, escaped as Go's ``encoding/json`` escapes them."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.translate(_GO_ESCAPES).encode("utf-8")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    return str(exc) or type(exc).__name__


def _problems(exc: BaseException, path: str = "$") -> list[str]:
    """One ``path: problem`` line per failure in a cattrs error tree, with JSON keys in the path."""
    import cattrs

    if isinstance(exc, cattrs.ClassValidationError):
        keys = {field.name: spec.key for field, spec in _json_fields(exc.cl)} if _is_spec_class(exc.cl) else {}
        fields, without = exc.group_exceptions()
        problems = [p for inner, note in fields for p in _problems(inner, f"{path}.{keys.get(note.name, note.name)}")]
    elif isinstance(exc, cattrs.IterableValidationError):
        items, without = exc.group_exceptions()
        problems = [p for inner, note in items for p in _problems(inner, f"{path}[{json.dumps(note.index)}]")]
    else:
        return [f"{path}: {_describe(exc)}"]
    return problems + [f"{path}: {_describe(inner)}" for inner in without]


def _kind(cls: type[Any]) -> str:
    return str(getattr(cls, "json_kind", cls.__name__))


def structure(value: object, cls: type[T]) -> T:
    """Build ``cls`` from already-decoded JSON, raising :class:`BadJSONError` on any mismatch."""
    try:
        return _converter().structure(value, cls)
    except Exception as exc:  # cattrs groups and plain errors raised by validators alike
        import cattrs

        if isinstance(exc, (cattrs.BaseValidationError, TypeError, ValueError, KeyError)):
            raise BadJSONError(_kind(cls), _problems(exc)) from None
        raise


def from_json(data: bytes | str, cls: type[T]) -> T:
    """Parse JSON into ``cls``; a :class:`Document` also keeps ``data`` as its raw bytes."""
    if isinstance(cls, type) and issubclass(cls, Document):
        return cls.from_json(data)
    return structure(loads(data, _kind(cls)), cls)


def to_json(value: object) -> bytes:
    """Serialise a spec value; a :class:`Document` returns the bytes it was parsed from, if any."""
    if isinstance(value, Document):
        return value.to_json()
    return dumps(_converter().unstructure(value))


@attrs.frozen
class Document(Parsed):
    """Base of the top-level documents (manifest, index, config) that are addressed by digest.

    A document parsed with :meth:`from_json` remembers the exact bytes it came from, and
    :meth:`to_json` and :meth:`digest` use those bytes; one built in code is serialised once, on
    first use. Changing a field (``attrs.evolve``) makes a new document, whose JSON is the parsed
    one with the changed fields rewritten (see :class:`Parsed`): editing one label of a Docker
    config changes that label's bytes only, not the nanoseconds of every ``created`` time nor the
    fields ocimodel does not model. Equality compares the parsed fields, not the bytes.
    """

    json_kind: ClassVar[str] = "document"
    _raw: bytes | None = attrs.field(default=None, init=False, eq=False, repr=False, hash=False)

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """Parse a document and keep its bytes; raise :class:`BadJSONError` if it is not one."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        document = structure(loads(raw, cls.json_kind), cls)
        object.__setattr__(document, "_raw", raw)
        if document._origin is not None:
            object.__setattr__(document, "_origin", attrs.evolve(document._origin, raw=raw))
        return document

    def to_json(self) -> bytes:
        """The document's bytes: as parsed (also for a copy in which nothing was changed), or the
        parsed JSON with the changed fields rewritten, or the canonical serialisation."""
        if self._raw is None:
            origin = self._origin
            if origin is not None and origin.raw is not None and origin.unchanged(self):
                object.__setattr__(self, "_raw", origin.raw)
            else:
                object.__setattr__(self, "_raw", dumps(_converter().unstructure(self)))
        assert self._raw is not None
        return self._raw

    def digest(self, algorithm: str = "sha256") -> Hash:
        """The digest of :meth:`to_json`, which is how registries address the document."""
        return Hash.of(self.to_json(), algorithm)
