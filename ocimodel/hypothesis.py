"""Hypothesis strategies for ocimodel's values, for property tests of code that uses them.

Every strategy returns valid values: digests that are real digests, references that parse,
documents that serialise and parse back equal. Use them as any Hypothesis strategy::

    from hypothesis import given
    from ocimodel.hypothesis import manifests


    @given(manifests())
    def test_my_tool_keeps_the_digest(manifest):
        assert my_tool(manifest.to_json()).digest() == manifest.digest()

This module needs ``hypothesis`` installed (it is not a dependency of ocimodel itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from ocimodel import codec, empty, mutate
from ocimodel.compression import zstd_backends
from ocimodel.configfile import Config, ConfigFile, HealthConfig, History, RootFS
from ocimodel.descriptor import Descriptor
from ocimodel.hashing import Hash
from ocimodel.image import Image
from ocimodel.index import ImageIndex
from ocimodel.layer import Layer, from_files
from ocimodel.manifest import IndexManifest, Manifest
from ocimodel.mediatype import MediaType
from ocimodel.name import Reference, Repository, parse_reference
from ocimodel.platform import Platform

__all__ = [
    "annotation_maps",
    "config_files",
    "descriptors",
    "file_maps",
    "hashes",
    "images",
    "index_manifests",
    "indexes",
    "layer_descriptors",
    "layers",
    "manifests",
    "media_types",
    "platforms",
    "raw_config_files",
    "reference_strings",
    "references",
    "repositories",
    "time_texts",
    "times",
]

_LAYER_TYPES = [
    MediaType.OCI_LAYER,
    MediaType.OCI_LAYER_GZIP,
    MediaType.OCI_LAYER_ZSTD,
    MediaType.DOCKER_LAYER,
    MediaType.DOCKER_UNCOMPRESSED_LAYER,
    MediaType.DOCKER_FOREIGN_LAYER,
    MediaType.OCI_RESTRICTED_LAYER_GZIP,
]
_KNOWN_TYPES = sorted(value for key, value in vars(MediaType).items() if key.isupper())
_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_SHORT_TEXT = st.text(max_size=24)


def hashes(algorithms: Sequence[str] = ("sha256",)) -> st.SearchStrategy[Hash]:
    """Digests of random content, with one of ``algorithms``."""
    return st.builds(
        lambda algorithm, data: Hash.of(data, algorithm), st.sampled_from(algorithms), st.binary(max_size=32)
    )


def media_types() -> st.SearchStrategy[MediaType]:
    """Well-known media types and made-up artifact types."""
    made_up = _WORDS.map(lambda word: MediaType(f"application/vnd.example.{word}+json"))
    return st.one_of(st.sampled_from(_KNOWN_TYPES), made_up)


def annotation_maps() -> st.SearchStrategy[dict[str, str]]:
    """Annotation maps with OCI-style keys (possibly empty)."""
    keys = _WORDS.map(lambda word: f"org.opencontainers.image.{word}")
    return st.dictionaries(keys, _SHORT_TEXT, max_size=3)


def platforms() -> st.SearchStrategy[Platform]:
    """Platforms whose string form parses back (no empty part, no ``/`` or ``:`` inside one)."""
    return st.builds(
        Platform,
        architecture=st.sampled_from(["amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64"]),
        os=st.sampled_from(["linux", "windows", "darwin", "freebsd"]),
        os_version=st.none() | st.from_regex(r"10\.0\.[0-9]{1,5}(\.[0-9]{1,4})?", fullmatch=True),
        os_features=st.lists(st.sampled_from(["win32k", "sse4"]), max_size=2, unique=True),
        variant=st.none() | st.sampled_from(["v5", "v6", "v7", "v8", "v2", "v3"]),
        features=st.lists(st.sampled_from(["sse4", "avx2"]), max_size=2, unique=True),
    )


def times() -> st.SearchStrategy[datetime]:
    """Timezone-aware times that RFC 3339 can express (whole-minute UTC offsets)."""
    offsets = st.just(UTC) | st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )
    return st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets)


@st.composite
def descriptors(draw: st.DrawFn, media_type: st.SearchStrategy[MediaType] | None = None) -> Descriptor:
    """Descriptors with any mix of optional fields; inline ``data`` matches size and digest."""
    data = draw(st.none() | st.binary(max_size=32))
    if data is None:
        size, digest = draw(st.integers(0, 2**40)), draw(hashes(("sha256", "sha512")))
    else:
        size, digest = len(data), Hash.sha256(data)
    return Descriptor(
        draw(media_type if media_type is not None else media_types()),
        size,
        digest,
        data=data,
        urls=draw(st.lists(_WORDS.map(lambda word: f"https://example.com/{word}"), max_size=2)),
        annotations=draw(annotation_maps()),
        platform=draw(st.none() | platforms()),
        artifact_type=draw(st.none() | media_types()),
    )


def layer_descriptors() -> st.SearchStrategy[Descriptor]:
    """Descriptors of layers (any layer media type)."""
    return descriptors(st.sampled_from(_LAYER_TYPES))


def manifests() -> st.SearchStrategy[Manifest]:
    """Image (and artifact) manifests."""
    return st.builds(
        Manifest,
        media_type=st.sampled_from([None, MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST_SCHEMA2]),
        config=descriptors(st.sampled_from([MediaType.OCI_CONFIG, MediaType.DOCKER_CONFIG, MediaType.OCI_EMPTY])),
        layers=st.lists(layer_descriptors(), max_size=4),
        annotations=annotation_maps(),
        subject=st.none() | descriptors(st.just(MediaType.OCI_MANIFEST)),
        artifact_type=st.none() | media_types(),
    )


def index_manifests() -> st.SearchStrategy[IndexManifest]:
    """Image indexes whose entries point at manifests (most with a platform)."""
    manifest_types = st.sampled_from(
        [MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST_SCHEMA2, MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST]
    )
    return st.builds(
        IndexManifest,
        media_type=st.sampled_from([None, MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST]),
        manifests=st.lists(descriptors(manifest_types), max_size=4),
        annotations=annotation_maps(),
        subject=st.none() | descriptors(st.just(MediaType.OCI_MANIFEST)),
        artifact_type=st.none() | media_types(),
    )


def _configs() -> st.SearchStrategy[Config]:
    words = st.lists(_SHORT_TEXT, max_size=3)
    optional_text = st.none() | _SHORT_TEXT
    return st.builds(
        Config,
        cmd=words,
        entrypoint=words,
        env=st.lists(_WORDS.map(lambda word: f"{word.upper()}=1"), max_size=3),
        user=optional_text,
        working_dir=st.none() | _WORDS.map(lambda word: f"/{word}"),
        labels=annotation_maps(),
        exposed_ports=st.frozensets(st.integers(1, 65535).map(lambda port: f"{port}/tcp"), max_size=3),
        volumes=st.frozensets(_WORDS.map(lambda word: f"/{word}"), max_size=2),
        stop_signal=st.none() | st.sampled_from(["SIGTERM", "SIGINT"]),
        args_escaped=st.booleans(),
        tty=st.booleans(),
        healthcheck=st.none()
        | st.builds(
            HealthConfig,
            test=st.lists(_SHORT_TEXT, max_size=3),
            interval=st.integers(0, 10**12),
            retries=st.integers(0, 10),
        ),
    )


def config_files() -> st.SearchStrategy[ConfigFile]:
    """Image configurations with history, diff_ids and run-time settings."""
    history = st.builds(
        History,
        author=st.none() | _SHORT_TEXT,
        created=st.none() | times(),
        created_by=st.none() | _SHORT_TEXT,
        comment=st.none() | _SHORT_TEXT,
        empty_layer=st.booleans(),
    )
    return st.builds(
        ConfigFile,
        architecture=st.sampled_from(["amd64", "arm64", "arm", ""]),
        os=st.sampled_from(["linux", "windows", ""]),
        author=st.none() | _SHORT_TEXT,
        created=st.none() | times(),
        history=st.lists(history, max_size=3),
        rootfs=st.builds(RootFS, diff_ids=st.lists(hashes(), max_size=4)),
        config=_configs(),
        variant=st.none() | st.sampled_from(["v7", "v8"]),
        os_version=st.none() | st.just("10.0.17763.1234"),
    )


@st.composite
def time_texts(draw: st.DrawFn) -> str:
    """RFC 3339 times as Docker and other tools write them: 0 to 9 digits of fraction (Docker
    writes nanoseconds), ``Z`` or an offset such as ``+05:30``."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
    digits = draw(st.integers(0, 9))
    if digits:
        text += "." + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits)))
    minutes = draw(st.none() | st.integers(-23 * 60 - 59, 23 * 60 + 59))
    if minutes is None:
        return text + "Z"
    sign = "-" if minutes < 0 else "+"
    return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _SHORT_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_SHORT_TEXT, inner, max_size=3),
    max_leaves=6,
)


def _object(draw: st.DrawFn, known: dict[str, object], prefix: str) -> dict[str, object]:
    """``known`` plus fields ocimodel does not model, the keys in any order."""
    unknown = draw(st.dictionaries(_WORDS.map(lambda word: prefix + word), _JSON_VALUES, max_size=3))
    fields = {**known, **unknown}
    return {key: fields[key] for key in draw(st.permutations(list(fields)))}


def _some(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[object]]) -> dict[str, object]:
    return {key: draw(strategy) for key, strategy in fields.items() if draw(st.booleans())}


@st.composite
def raw_config_files(draw: st.DrawFn) -> bytes:
    """Image configs as Docker and other tools write them, as bytes: times with nanoseconds and
    offsets (:func:`time_texts`), keys in any order, ``null`` for empty lists and maps, and fields
    ocimodel does not model at the top, in ``config`` and in history entries; compact JSON
    escaped as Go writes it. For checking that tools keep what they do not change."""
    words = st.lists(_SHORT_TEXT, max_size=3)
    run = _some(
        draw,
        {
            "Env": st.lists(_WORDS.map(lambda word: f"{word.upper()}=1"), max_size=3),
            "Cmd": st.none() | words,
            "Labels": st.none() | st.dictionaries(_WORDS, _SHORT_TEXT, max_size=3),
            "User": _SHORT_TEXT,
            "WorkingDir": _WORDS.map(lambda word: f"/{word}"),
            "ExposedPorts": st.dictionaries(st.integers(1, 65535).map(lambda port: f"{port}/tcp"), st.just({})),
        },
    )
    entry = st.composite(
        lambda draw_entry: _object(
            draw_entry,
            _some(
                draw_entry,
                {
                    "created": time_texts(),
                    "created_by": _SHORT_TEXT,
                    "comment": _SHORT_TEXT,
                    "empty_layer": st.just(True),
                },
            ),
            "x-",
        )
    )()
    known = {
        "architecture": draw(st.sampled_from(["amd64", "arm64", ""])),
        "os": draw(st.sampled_from(["linux", "windows"])),
        "rootfs": {"type": "layers", "diff_ids": [str(h) for h in draw(st.lists(hashes(), max_size=3))]},
        **_some(
            draw,
            {
                "created": time_texts(),
                "docker_version": _WORDS,
                "history": st.lists(entry, max_size=3),
                "config": st.just(_object(draw, run, "x-")),
            },
        ),
    }
    return codec.dumps(_object(draw, known, "x."))


_COMPONENT = st.from_regex(r"[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
# A first component that is never mistaken for a registry (no '.', not 'localhost').
_PLAIN_COMPONENT = st.from_regex(r"[a-z0-9]{1,8}(?:[_-][a-z0-9]{1,8}){0,2}", fullmatch=True).filter(
    lambda text: text != "localhost"
)
_REGISTRIES = st.sampled_from(
    [
        "gcr.io",
        "us-docker.pkg.dev",
        "registry.example.com:5000",
        "localhost:5000",
        "localhost",
        "127.0.0.1:5000",
        "[::1]:5000",
        "10.0.0.2:5000",
        "docker.io",
        "index.docker.io",
        "ghcr.io",
    ]
)


@st.composite
def _repository_strings(draw: st.DrawFn) -> str:
    registry = draw(st.none() | _REGISTRIES)
    rest = draw(st.lists(_COMPONENT, min_size=1 if registry else 0, max_size=3))
    if registry:
        return "/".join([registry, *rest])
    return "/".join([draw(_PLAIN_COMPONENT), *rest])


@st.composite
def reference_strings(draw: st.DrawFn) -> str:
    """Strings that :func:`ocimodel.name.parse_reference` accepts: tags, digests, and both."""
    text = draw(_repository_strings())
    tag = draw(st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True))
    digest = draw(st.none() | hashes(("sha256", "sha512")))
    if tag is not None:
        text += f":{tag}"
    if digest is not None:
        text += f"@{digest}"
    return text


def references() -> st.SearchStrategy[Reference]:
    """Parsed :class:`~ocimodel.name.Tag` and :class:`~ocimodel.name.Digest` references."""
    return reference_strings().map(parse_reference)


def repositories() -> st.SearchStrategy[Repository]:
    """Parsed repositories, on Docker Hub and elsewhere."""
    return _repository_strings().map(Repository)


def file_maps() -> st.SearchStrategy[dict[str, bytes]]:
    """``{path: content}`` mappings for :func:`ocimodel.layer.from_files` (nested paths, small files)."""
    paths = st.lists(_WORDS, min_size=1, max_size=3).map("/".join)
    return st.dictionaries(paths, st.binary(max_size=2048), max_size=5)


def layers() -> st.SearchStrategy[Layer]:
    """Reproducible layers of generated files, gzip'd, zstd'd (when available) or plain."""
    kinds = [MediaType.DOCKER_LAYER, MediaType.OCI_LAYER_GZIP, MediaType.OCI_LAYER]
    if zstd_backends():
        kinds.append(MediaType.OCI_LAYER_ZSTD)
    return st.builds(lambda files, kind: from_files(files, media_type=kind), file_maps(), st.sampled_from(kinds))


@st.composite
def images(draw: st.DrawFn) -> Image:
    """Valid images: generated layers (with history) on the empty image, maybe re-configured,
    annotated or turned into an OCI manifest. The layers take the manifest's family; an image with
    a zstd layer is OCI from the start (Docker's manifest has no zstd type)."""
    addenda = [
        mutate.Addendum(each, History(created_by=draw(st.none() | _SHORT_TEXT)))
        for each in draw(st.lists(layers(), max_size=3))
    ]
    zstd = any(add.layer is not None and add.layer.media_type().compression() == "zstd" for add in addenda)
    image = mutate.append(mutate.media_type(empty.image, MediaType.OCI_MANIFEST) if zstd else empty.image, *addenda)
    if draw(st.booleans()):
        image = mutate.config(image, draw(_configs()))
    if draw(st.booleans()):
        image = mutate.annotations(image, draw(annotation_maps()))
    if draw(st.booleans()):
        image = mutate.config_media_type(mutate.media_type(image, MediaType.OCI_MANIFEST), MediaType.OCI_CONFIG)
    return image


@st.composite
def indexes(draw: st.DrawFn) -> ImageIndex:
    """Valid indexes of generated images, each entry with a platform, sometimes nested."""
    children = draw(st.lists(images(), min_size=1, max_size=3))
    index = mutate.append_manifests(
        empty.index, *(mutate.IndexAddendum(child, platform=draw(platforms())) for child in children)
    )
    if draw(st.booleans()):
        index = mutate.append_manifests(empty.index, index)
    return index
