"""``docker save`` tarballs: read images out of them, write images into them.

Reading scans the tarball once and remembers where each member's bytes are, so opening a
multi-GiB tarball and reading one layer costs one pass over the headers (go-containerregistry scans
the whole file again for every member). Docker's ``manifest.json`` says which files make each
image; when the tarball also holds an OCI layout (Docker 25 and later, and what :func:`write`
produces) the image's own manifest is used, so its digest survives the trip, but only if it
agrees with ``manifest.json`` and the config (:mod:`ocimodel._save_check`): Docker 25.0.0 wrote
it wrong, and docker load never reads it. The tarball must be a regular file (a FIFO, a device or a
directory is refused at once: it is read at several places), and the documents in it are refused
unread when larger than the document cap (:mod:`ocimodel.limits`).

Writing produces that same shape: every blob once under ``blobs/sha256/<hex>``, ``index.json`` and
``oci-layout``, Docker's ``manifest.json`` and the legacy ``repositories`` file, in a fixed
order, to a file (atomically: a temporary name, then a rename) or to any binary stream (a pipe).
Foreign layers keep their descriptors in ``LayerSources``; one read from a docker save, whose
compressed bytes are not at hand, is written uncompressed under its diff_id, as docker saves it.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tarfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs

from ocimodel import codec, limits
from ocimodel._files import write_file
from ocimodel._json import loads
from ocimodel._mask import logger as masked_logger
from ocimodel._memo import memoized
from ocimodel._reading import document_limit, open_file, read_capped, too_large
from ocimodel._save_check import Saved, blob_path, disagreements
from ocimodel._streams import Reader, binary, read_head
from ocimodel.compression import Compression, detect
from ocimodel.configfile import ConfigFile
from ocimodel.descriptor import Descriptor
from ocimodel.errors import (
    BadJSONError,
    BadLayerError,
    DigestMismatch,
    DocumentTooLarge,
    IndexTooDeep,
    NoSuchBlob,
    UnsupportedMediaType,
)
from ocimodel.hashing import Hash, VerifyingReader
from ocimodel.image import DescribedLayer, Image, SynthesisedImage
from ocimodel.index import deeper
from ocimodel.layer import Layer, UncompressedLayer, from_file
from ocimodel.layer._family import fitted
from ocimodel.layer._members import end_problem, unreadable
from ocimodel.layer._tar import TarChunks
from ocimodel.layer._tarinfo import members, open_bounded
from ocimodel.manifest import IndexManifest, Manifest
from ocimodel.mediatype import MediaType
from ocimodel.name import Digest, Reference, Tag, parse_reference

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["image", "layer", "manifest", "size", "write", "write_legacy"]

log = masked_logger("ocimodel.tarball")

Opener = Callable[[], IO[bytes]]
_CHUNK = 1 << 20
_REF_NAME = "org.opencontainers.image.ref.name"
_IMAGE_NAME = "io.containerd.image.name"


@attrs.frozen
class _Member:
    offset: int
    size: int
    kind: bytes
    linkname: str


def _clean(name: str) -> str:
    return posixpath.normpath(name.lstrip("/")).removeprefix("./")


class _Slice(Reader):
    """``size`` bytes of a file from ``offset``."""

    def __init__(self, stream: IO[bytes], offset: int, size: int) -> None:
        super().__init__()
        stream.seek(offset)
        self._stream, self._left = stream, size

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(min(len(view), self._left))
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
            super().close()


class TarIndex:
    """Where each member of a tarball is, from one scan of its headers; ``name`` (the file)
    names it in errors. A tarball cut short or with a corrupt header raises
    :class:`~ocimodel.errors.BadLayerError` naming the entry."""

    def __init__(self, opener: Opener, name: str = "the tarball") -> None:
        self._opener = opener
        self.name = name
        self.members: dict[str, _Member] = {}
        with opener() as stream:
            head = read_head(stream, 4)
            if detect(head) is not Compression.NONE:
                raise UnsupportedMediaType(
                    f"{name}: compressed tarballs cannot be read without decompressing them whole for every "
                    "layer: decompress it first (gunzip / zstd -d)"
                )
            if not stream.seekable():
                raise UnsupportedMediaType(f"{name}: a tarball is read from a file (something seekable), not a pipe")
            stream.seek(0)
            self._scan(stream)

    def _scan(self, stream: IO[bytes]) -> None:
        last = None
        try:
            with open_bounded(stream, "r:") as archive:
                for member in members(archive):
                    last = member.name
                    self.members[_clean(member.name)] = _Member(
                        member.offset_data, member.size, member.type, member.linkname
                    )
                stop = archive.offset
        except (tarfile.TarError, EOFError, ValueError, OverflowError) as error:  # sparse maps, seeks: ValueError
            raise unreadable(self.name, last, error) from error
        stream.seek(stop)
        problem = end_problem(read_head(stream, tarfile.BLOCKSIZE), last)
        if problem is not None:
            raise BadLayerError(f"{self.name}: {problem} (at byte {stop})")

    def _resolve(self, name: str) -> tuple[str, _Member]:
        seen = set()
        current = _clean(name)
        while True:
            member = self.members.get(current)
            if member is None:
                raise NoSuchBlob(f"{self.name} has no file {name!r}")
            if member.kind == tarfile.SYMTYPE:
                current = _clean(posixpath.join(posixpath.dirname(current), member.linkname))
            elif member.kind == tarfile.LNKTYPE:
                current = _clean(member.linkname)
            else:
                return current, member
            if current in seen:
                raise BadLayerError(f"{self.name}: the links around {name!r} form a loop")
            seen.add(current)

    def __contains__(self, name: str) -> bool:
        return _clean(name) in self.members

    def located(self, name: str) -> tuple[str, int] | None:
        """The member ``name`` is (links followed) and its size; ``None`` if there is none."""
        try:
            found, member = self._resolve(name)
        except NoSuchBlob:
            return None
        return found, member.size

    def open(self, name: str) -> IO[bytes]:
        _, member = self._resolve(name)
        return binary(_Slice(self._opener(), member.offset, member.size))

    def read(self, name: str, *, manifest: bool = False) -> bytes:
        """A document's bytes: the member ``name``, refused unread if it is larger than the
        document cap (:mod:`ocimodel.limits`; :class:`~ocimodel.errors.DocumentTooLarge`, or
        :class:`~ocimodel.errors.ManifestTooLarge` for a ``manifest``)."""
        _, member = self._resolve(name)
        cap = limits.current().document
        if member.size > cap:
            raise too_large(f"{name} in {self.name}", member.size, cap, manifest=manifest)
        with self.open(name) as stream:
            return stream.read()

    def where(self, name: str) -> str:
        """``name`` in this tarball, for messages."""
        return f"{self.name}: {name}"


@attrs.frozen
class ManifestEntry:
    """One image of Docker's ``manifest.json``."""

    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]
    layer_sources: Mapping[str, Any]


def manifest(source: str | os.PathLike[str] | Opener) -> list[ManifestEntry]:
    """The entries of a tarball's ``manifest.json``."""
    return _entries(TarIndex(_opener(source), _name(source)))


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _entries(index: TarIndex) -> list[ManifestEntry]:
    what = f"manifest.json of {index.name}"
    raw = loads(index.read("manifest.json"), what)
    if not isinstance(raw, list):
        raise BadJSONError(what, ["$: expected an array of images"])
    entries = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("Config"), str):
            raise BadJSONError(what, [f"$[{position}]: expected an object with a Config path"])
        problems = [
            f"$[{position}].{key}: expected {expected}"
            for key, expected, good in (
                ("RepoTags", "an array of names", _strings),
                ("Layers", "an array of paths", _strings),
                ("LayerSources", "an object of descriptors by diff_id", lambda value: isinstance(value, dict)),
            )
            if item.get(key) is not None and not good(item[key])
        ]
        if problems:
            raise BadJSONError(what, problems)
        entries.append(
            ManifestEntry(
                item["Config"],
                tuple(item.get("RepoTags") or ()),
                tuple(item.get("Layers") or ()),
                item.get("LayerSources") or {},
            )
        )
    return entries


def _layer_sources(index: TarIndex, entry: ManifestEntry) -> dict[str, Descriptor]:
    """``LayerSources`` as descriptors (kept whole: urls, annotations, unknown fields)."""
    found = {}
    for key, value in entry.layer_sources.items():
        try:
            found[key] = codec.structure(value, Descriptor)
        except BadJSONError as error:
            problems = [problem.replace("$", f"LayerSources[{key!r}]", 1) for problem in error.problems]
            raise BadJSONError(f"manifest.json of {index.name}", problems) from None
    return found


def _config_file(index: TarIndex, path: str, raw: bytes) -> ConfigFile:
    try:
        return ConfigFile.from_json(raw)
    except BadJSONError as error:
        raise BadJSONError(f"image config {index.where(path)}", error.problems) from None


def _opener(source: str | os.PathLike[str] | Opener) -> Opener:
    """How to open the tarball again: a regular file only (a FIFO, a device, a directory is
    refused at once, :class:`~ocimodel.errors.NotReadable`: the file is read at several places)."""
    if callable(source):
        return source
    location = Path(source)
    return lambda: open_file(location, f"tarball {location}")


def _name(source: str | os.PathLike[str] | Opener) -> str:
    return "the tarball" if callable(source) else os.fspath(source)


def _matches(repo_tag: str, wanted: Tag) -> bool:
    try:
        return Tag(repo_tag).name == wanted.name
    except ValueError:
        return False


def image(source: str | os.PathLike[str] | Opener, tag: Tag | str | None = None) -> Image:
    """The image in a tarball (a path, or an opener of a seekable stream); ``tag`` picks one when
    there are several.

    Classic saves (``<id>/layer.tar`` files, a 0-byte one being an empty layer), pre-1.10 saves
    (``repositories`` only) and Docker 25's (an OCI layout inside) are read. When the tarball holds
    an OCI manifest for the image, it is used (so the image keeps its digest) only if it agrees
    with ``manifest.json`` and the config (see :mod:`ocimodel._save_check`); otherwise the image
    follows ``manifest.json`` and the config's ``diff_ids``, as ``docker load``,
    go-containerregistry and skopeo do, and the ``ocimodel.tarball`` logger says why at DEBUG.
    A layer that ``LayerSources`` describes keeps that descriptor whole (``urls`` included); when
    the file holds its uncompressed content (foreign layers), that is read, verified by diff_id.

    Raises :class:`~ocimodel.errors.NoSuchBlob` (no such image or file),
    :class:`~ocimodel.errors.BadJSONError` (``manifest.json`` or a config is not what the format
    says) and :class:`~ocimodel.errors.BadLayerError` (the tarball is cut short or corrupt).
    """
    index = TarIndex(_opener(source), _name(source))
    if "manifest.json" not in index and "repositories" in index:
        return _legacy_image(index, tag)
    entries = _entries(index)
    if tag is None:
        if len(entries) != 1:
            raise NoSuchBlob(f"{index.name} holds {len(entries)} images: say which, by tag")
        entry = entries[0]
    else:
        wanted = tag if isinstance(tag, Tag) else Tag(tag)
        found = [e for e in entries if any(_matches(t, wanted) for t in e.repo_tags)]
        if not found:
            available = ", ".join(t for e in entries for t in e.repo_tags) or "none"
            raise NoSuchBlob(f"{index.name} has no image tagged {wanted}; it has: {available}")
        entry = found[0]
    oci = _oci_image(index, entry)
    return oci if oci is not None else TarballImage(index, entry)


def _oci_manifests(index: TarIndex) -> Iterator[tuple[Descriptor, Manifest]]:
    """The image manifests ``index.json`` reaches (through nested indexes, each once, no deeper
    than the cap) that the tarball holds intact; a broken OCI side (too large, too deep, not JSON)
    is only logged, as docker load never reads it."""
    pending: deque[tuple[str, Descriptor | None, int]] = deque([("index.json", None, 1)])
    seen: set[str] = set()
    while pending:
        path, descriptor, depth = pending.popleft()
        if path not in index or path in seen:
            continue
        seen.add(path)
        try:
            data = index.read(path, manifest=True)
            if descriptor is not None and Hash.sha256(data) != descriptor.digest:
                log.debug("%s: %s does not match its digest; not used", index.name, path)
                continue
            if descriptor is None or descriptor.media_type.is_index():
                entries = IndexManifest.from_json(data).manifests
                pending.extend(
                    (blob_path(d.digest), d, deeper(depth, d.digest) if d.media_type.is_index() else depth)
                    for d in entries
                )
            elif descriptor.media_type.is_image():
                yield descriptor, Manifest.from_json(data)
        except (BadJSONError, DocumentTooLarge, IndexTooDeep) as error:
            log.debug("%s: %s is not used: %s", index.name, path, error)


def _names_entry(descriptor: Descriptor, entry: ManifestEntry) -> bool:
    """Whether an ``index.json`` entry is named (``io.containerd.image.name``) as one of ``entry``'s tags."""
    name = descriptor.annotations.get(_IMAGE_NAME)
    try:
        wanted = Tag(name) if name is not None else None
    except ValueError:
        return False
    return wanted is not None and any(_matches(each, wanted) for each in entry.repo_tags)


def _oci_image(index: TarIndex, entry: ManifestEntry) -> Image | None:
    """The image's own OCI manifest, when the tarball carries one that agrees with ``manifest.json``."""
    if "index.json" not in index:
        return None
    raw_config = index.read(entry.config)
    diff_ids = _config_file(index, entry.config, raw_config).rootfs.diff_ids
    saved = Saved(Hash.sha256(raw_config), diff_ids, entry.layers, _layer_sources(index, entry))
    considered, related = 0, False
    for descriptor, candidate in _oci_manifests(index):
        considered += 1
        if candidate.config.digest != saved.config and not _names_entry(descriptor, entry):
            continue
        related = True
        problems = disagreements(candidate, saved, index.located)
        if not problems:
            return _OCIImage(index, descriptor, entry, saved)
        log.debug(
            "%s: the OCI manifest %s disagrees with manifest.json (%s): following manifest.json and the config, "
            "as docker load does",
            index.name,
            descriptor.digest,
            "; ".join(problems),
        )
    if considered and not related:
        log.debug(
            "%s: none of the %d OCI manifests in index.json has manifest.json's config %s or names %s: "
            "following manifest.json and the config, as docker load does",
            index.name,
            considered,
            saved.config,
            ", ".join(entry.repo_tags) or "the image",
        )
    return None


class _OCIImage(Image):
    """An image whose manifest is one of the tarball's blobs, checked against ``manifest.json``."""

    def __init__(self, index: TarIndex, descriptor: Descriptor, entry: ManifestEntry, saved: Saved) -> None:
        self._index, self._descriptor, self._entry, self._saved = index, descriptor, entry, saved

    @memoized
    def raw_manifest(self) -> bytes:
        data = self._index.read(blob_path(self._descriptor.digest), manifest=True)
        if Hash.sha256(data) != self._descriptor.digest:
            raise DigestMismatch(self._index.where("index.json's manifest"), self._descriptor.digest, Hash.sha256(data))
        return data

    def media_type(self) -> MediaType:
        return self._descriptor.media_type

    @memoized
    def raw_config_file(self) -> bytes:
        """From ``manifest.json``'s config file, as docker load reads it (the two sides agree on
        its digest; the OCI side's copy of it is not needed)."""
        config = self.manifest().config
        where = self._index.where(self._entry.config)
        limit = document_limit(where, config.size)
        with binary(_verified(self._index.open(self._entry.config), config, where)) as stream:
            return read_capped(stream, where, limit)

    @memoized
    def layers(self) -> list[Layer]:
        """One layer per manifest entry, each with its own descriptor; a foreign layer (its blob
        absent, described in LayerSources) from manifest.json's uncompressed file."""
        made: list[Layer] = []
        for descriptor, path, diff_id in zip(
            self.manifest().layers, self._saved.paths, self._saved.diff_ids, strict=True
        ):
            blob = blob_path(descriptor.digest)
            if blob in self._index:
                made.append(_described(self._index, blob, descriptor, diff_id))
            else:
                made.append(_SourcedLayer(self._index, path, descriptor, diff_id))
        return made

    def layer_by_digest(self, digest: Hash) -> Layer:
        found = self._listed_layer(digest)
        if found is None:
            raise NoSuchBlob(f"image {self.digest()} in {self._index.name} has no layer {digest}")
        return found


def _described(index: TarIndex, path: str, descriptor: Descriptor, diff_id: Hash | None = None) -> Layer:
    return DescribedLayer(descriptor, lambda: index.open(path), diff_id, where=index.where(path))


def _verified(stream: IO[bytes], descriptor: Descriptor, where: str) -> Reader:
    return VerifyingReader(stream, descriptor.digest, descriptor.size, what=f"blob {descriptor.digest} ({where})")


def _saved_layer(index: TarIndex, path: str, diff_id: Hash, described: Descriptor | None) -> Layer:
    """The layer in file ``path``: described by ``LayerSources`` if it says, else by its content."""
    with index.open(path) as stream:
        found = detect(read_head(stream, 4))
    if described is not None:
        declared = Compression.of(described.media_type.compression())
        if found is declared:
            return _described(index, path, described, diff_id)
        if found is Compression.NONE:  # docker save writes foreign layers uncompressed
            return _SourcedLayer(index, path, described, diff_id)
        raise BadLayerError(
            f"{index.where(path)} is {found.value}-compressed, but LayerSources describes it as {described.media_type}"
        )
    if found is Compression.NONE:
        return _TarFileLayer(index, path, diff_id)
    kind = MediaType.DOCKER_LAYER if found is Compression.GZIP else MediaType.OCI_LAYER_ZSTD
    return _FileLayer(index, path, kind, diff_id)


class _FileLayer(Layer):
    """A compressed layer file of a classic ``docker save``: digest and size by hashing it once."""

    def __init__(self, index: TarIndex, path: str, media_type: MediaType, diff_id: Hash | None) -> None:
        self._index, self._path, self._media_type, self._diff_id = index, path, media_type, diff_id
        self.where = index.where(path)

    @memoized
    def _measure(self) -> tuple[Hash, int]:
        with self._index.open(self._path) as stream:
            return Hash.of_stream(stream)

    def digest(self) -> Hash:
        return self._measure()[0]

    def size(self) -> int:
        return self._measure()[1]

    def media_type(self) -> MediaType:
        return self._media_type

    def open_compressed(self) -> IO[bytes]:
        return self._index.open(self._path)

    def diff_id(self) -> Hash:
        return self._diff_id or super().diff_id()


class _TarFileLayer(UncompressedLayer):
    """An uncompressed layer file (``layer.tar``), gzip'd once when its digest is needed."""

    def __init__(self, index: TarIndex, path: str, diff_id: Hash | None) -> None:
        self._index, self._path, self._diff_id = index, path, diff_id
        self.where = index.where(path)

    def open_uncompressed(self) -> IO[bytes]:
        return self._index.open(self._path)

    def known_diff_id(self) -> Hash | None:
        return self._diff_id


class _SourcedLayer(UncompressedLayer):
    """A layer whose descriptor names compressed bytes the tarball does not hold, only the
    uncompressed content (a foreign layer: docker save writes every layer's ``layer.tar``).

    The descriptor is kept whole (digest, size, media type, ``urls``: what a manifest says and
    what ``docker load`` registers); the content is read from the file, verified by diff_id
    (go-containerregistry's ``foreignUncompressedLayer``). Its compressed bytes are made by
    compressing the content, and given only if they hash to the descriptor's digest; the
    originals are at the descriptor's ``urls``.
    """

    def __init__(self, index: TarIndex, path: str, descriptor: Descriptor, diff_id: Hash) -> None:
        self._index, self._path, self._descriptor, self._diff_id = index, path, descriptor, diff_id
        self.where = index.where(path)

    def open_uncompressed(self) -> IO[bytes]:
        return self._index.open(self._path)

    def uncompressed_size(self) -> int:
        """The length of the uncompressed content (the file's size)."""
        located = self._index.located(self._path)
        if located is None:
            raise NoSuchBlob(f"{self._index.name} has no file {self._path!r}")
        return located[1]

    def known_diff_id(self) -> Hash:
        return self._diff_id

    def media_type(self) -> MediaType:
        return self._descriptor.media_type

    def digest(self) -> Hash:
        return self._descriptor.digest

    def size(self) -> int:
        return self._descriptor.size

    def descriptor(self) -> Descriptor:
        return self._descriptor

    def compressed(self) -> IO[bytes]:
        made = super().digest()
        if made != self._descriptor.digest:
            raise NoSuchBlob(
                f"{self.where}: the tarball holds layer {self._descriptor.digest} uncompressed only (diff_id "
                f"{self._diff_id}), and compressing it again gives {made}; its bytes are at its urls: "
                + (", ".join(self._descriptor.urls) or "none given")
            )
        return super().compressed()


class TarballImage(SynthesisedImage):
    """An image of a classic ``docker save``: the config and layer files of a ``manifest.json``
    entry; the manifest is made from them (Docker schema 2, or OCI when ``LayerSources`` gives
    OCI media types), layers compressed as needed."""

    def __init__(self, index: TarIndex, entry: ManifestEntry) -> None:
        self._index, self._entry = index, entry

    @memoized
    def raw_config_file(self) -> bytes:
        return self._index.read(self._entry.config)

    @memoized
    def config_file(self) -> ConfigFile:
        return _config_file(self._index, self._entry.config, self.raw_config_file())

    def media_type(self) -> MediaType:
        oci = any(each.media_type().family() == "oci" for each in self.layers())
        return MediaType.OCI_MANIFEST if oci else MediaType.DOCKER_MANIFEST_SCHEMA2

    @memoized
    def layers(self) -> list[Layer]:
        """The layers; when one has an OCI type (from ``LayerSources``, or zstd), the manifest is
        OCI and the others take their OCI counterparts, so that it does not mix the families."""
        diff_ids = self.config_file().rootfs.diff_ids
        if len(diff_ids) != len(self._entry.layers):
            raise BadJSONError(
                f"manifest.json of {self._index.name}",
                [f"the config names {len(diff_ids)} layers but manifest.json lists {len(self._entry.layers)}"],
            )
        sources = _layer_sources(self._index, self._entry)
        saved = [
            _saved_layer(self._index, path, diff_id, sources.get(str(diff_id)))
            for path, diff_id in zip(self._entry.layers, diff_ids, strict=True)
        ]
        oci = any(each.media_type().family() == "oci" for each in saved)
        return [fitted(each, "oci") for each in saved] if oci else saved


def _legacy_image(index: TarIndex, tag: Tag | str | None) -> Image:
    """An image of a pre-1.10 ``docker save`` (``repositories`` and ``<id>/json``, no manifest.json)."""
    repositories = loads(index.read("repositories"), index.where("repositories"))
    if not isinstance(repositories, dict):
        raise BadJSONError(index.where("repositories"), ["$: expected an object"])
    named = {
        f"{repository}:{name}": top
        for repository, tags in repositories.items()
        if isinstance(tags, dict)
        for name, top in tags.items()
    }
    if tag is None:
        if len(named) != 1:
            raise NoSuchBlob(f"{index.name} holds {len(named)} tagged images: say which, by tag")
        (top,) = named.values()
    else:
        wanted = tag if isinstance(tag, Tag) else Tag(tag)
        found = [top for text, top in named.items() if _matches(text, wanted)]
        if not found:
            raise NoSuchBlob(f"{index.name} has no image tagged {wanted}; it has: {', '.join(named) or 'none'}")
        top = found[0]
    return _LegacyImage(index, str(top))


class _LegacyImage(SynthesisedImage):
    """The v1 layer chain from ``top`` down, with a config made from the top layer's v1 JSON."""

    def __init__(self, index: TarIndex, top: str) -> None:
        self._index, self._top = index, top

    @memoized
    def _chain(self) -> list[tuple[str, dict[str, Any]]]:
        chain: list[tuple[str, dict[str, Any]]] = []
        current: str | None = self._top
        while current:
            if any(identifier == current for identifier, _ in chain):
                raise BadLayerError(f"{self._index.name}: the legacy layer parents loop at {current}")
            described = loads(self._index.read(f"{current}/json"), self._index.where(f"{current}/json"))
            if not isinstance(described, dict):
                raise BadJSONError(self._index.where(f"{current}/json"), ["$: expected an object"])
            chain.append((current, described))
            current = described.get("parent")
        return list(reversed(chain))

    @memoized
    def layers(self) -> list[Layer]:
        made: list[Layer] = []
        for identifier, _ in self._chain():
            with self._index.open(f"{identifier}/layer.tar") as stream:
                diff_id = Hash.of_stream(stream)[0]
            made.append(_TarFileLayer(self._index, f"{identifier}/layer.tar", diff_id))
        return made

    @memoized
    def raw_config_file(self) -> bytes:
        chain = self._chain()
        top = chain[-1][1]
        copied = ("architecture", "os", "created", "author", "container", "docker_version", "config")
        kept: dict[str, Any] = {key: top[key] for key in copied if key in top}
        kept["rootfs"] = {"type": "layers", "diff_ids": [str(each.diff_id()) for each in self.layers()]}
        kept["history"] = [
            {
                **({"created": described["created"]} if described.get("created") else {}),
                "created_by": " ".join((described.get("container_config") or {}).get("Cmd") or []),
            }
            for _, described in chain
        ]
        return codec.structure(kept, ConfigFile).to_json()


def layer(path: str | os.PathLike[str], *, media_type: str | None = None) -> Layer:
    """A layer from a tar file on disk, compressed or not (go-containerregistry's
    ``tarball.LayerFromFile``; the same as :func:`ocimodel.layer.from_file`)."""
    return from_file(path, media_type=media_type)


# ---------------------------------------------------------------------------------------------- writing


@attrs.frozen
class _Entry:
    name: str
    size: int
    open: Callable[[], IO[bytes]]


def _repo_tag(reference: Reference) -> str | None:
    if isinstance(reference, Digest):
        return None
    text = str(reference)
    return text if text.endswith(f":{reference.tag}") else f"{text}:{reference.tag}"


def _normalise(
    images: Mapping[Reference | str, Image] | Image, tag: Reference | str | None
) -> list[tuple[Reference, Image]]:
    if isinstance(images, Image):
        if tag is None:
            raise ValueError("a single image needs a tag= to be written under")
        images = {tag: images}
    pairs = [(r if isinstance(r, Tag | Digest) else parse_reference(r), i) for r, i in images.items()]
    return sorted(pairs, key=lambda pair: pair[0].name)


def _plan(pairs: list[tuple[Reference, Image]]) -> list[_Entry]:
    entries: dict[str, _Entry] = {}

    def add_bytes(data: bytes) -> str:
        name = blob_path(Hash.sha256(data))
        entries.setdefault(name, _Entry(name, len(data), lambda data=data: io.BytesIO(data)))  # type: ignore[misc]
        return name

    manifest_json: list[dict[str, Any]] = []
    index_entries: list[Descriptor] = []
    repositories: dict[str, dict[str, str]] = {}
    by_image: dict[Hash, dict[str, Any]] = {}
    for reference, target in pairs:
        layer_names, sources = [], {}
        diff_ids = target.config_file().rootfs.diff_ids
        for descriptor, diff_id, each in zip(target.manifest().layers, diff_ids, target.layers(), strict=True):
            if isinstance(each, _SourcedLayer):  # only its uncompressed content is at hand: as docker saves it
                name = blob_path(diff_id)
                entries.setdefault(name, _Entry(name, each.uncompressed_size(), each.uncompressed))
            else:
                name = blob_path(each.digest())
                entries.setdefault(name, _Entry(name, each.size(), each.compressed))
            layer_names.append(name)
            if not descriptor.media_type.is_distributable() or isinstance(each, _SourcedLayer):
                sources[str(diff_id)] = codec.converter.unstructure(descriptor)  # URLs and all: docker load needs them
        config_name = add_bytes(target.raw_config_file())
        add_bytes(target.raw_manifest())
        repo_tag = _repo_tag(reference)
        item = by_image.get(target.digest())
        if item is None:
            item = {"Config": config_name, "RepoTags": [], "Layers": layer_names}
            if sources:
                item["LayerSources"] = sources
            by_image[target.digest()] = item
            manifest_json.append(item)
        annotations = {_IMAGE_NAME: reference.name}
        if repo_tag is not None:
            item["RepoTags"].append(repo_tag)
            annotations[_REF_NAME] = reference.identifier
            repository = repo_tag.rpartition(":")[0]
            repositories.setdefault(repository, {})[reference.identifier] = target.config_name().hex
        index_entries.append(attrs.evolve(target.descriptor(), annotations=annotations))
    index = IndexManifest(media_type=MediaType.OCI_INDEX, manifests=index_entries).to_json()
    files = [
        ("index.json", index),
        ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        ("manifest.json", json.dumps(manifest_json, separators=(",", ":")).encode()),
        ("repositories", json.dumps(repositories, separators=(",", ":"), sort_keys=True).encode()),
    ]
    plan = list(entries.values())
    plan.extend(_Entry(name, len(data), lambda data=data: io.BytesIO(data)) for name, data in files)  # type: ignore[misc]
    return plan


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uname = info.gname = ""
    return info


def _chunks(plan: Iterable[_Entry]) -> Iterator[bytes]:
    out = TarChunks()
    for entry in plan:
        with entry.open() as stream:
            yield from out.member(_info(entry.name, entry.size), iter(lambda stream=stream: stream.read(_CHUNK), b""))  # type: ignore[misc]
    yield out.end()


def size(images: Mapping[Reference | str, Image] | Image, *, tag: Reference | str | None = None) -> int:
    """The exact size in bytes of what :func:`write` would write (layers made from uncompressed
    content are compressed to know theirs)."""
    out = TarChunks()
    total = 0
    for entry in _plan(_normalise(images, tag)):
        header = _info(entry.name, entry.size).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        total += len(header) + entry.size + (-entry.size % tarfile.BLOCKSIZE)
    out.offset = total
    return total + len(out.end())


def write(
    target: str | os.PathLike[str] | IO[bytes],
    images: Mapping[Reference | str, Image] | Image,
    *,
    tag: Reference | str | None = None,
) -> None:
    """Write images into a tarball ``docker load`` and ``skopeo`` read: ``{tag: image}``, or one
    image and ``tag=``. A path is written as every output of ocimodel is, never destroying what is
    there: a new path or a regular file atomically (a temporary file renamed), a symbolic link
    through to its target, a FIFO or a character device streamed into; a directory, a socket or a
    block device raises :class:`~ocimodel.errors.NotWritable`. A stream (a pipe) is written as it
    goes."""
    write_file(target, _chunks(_plan(_normalise(images, tag))))


def write_legacy(
    target: str | os.PathLike[str] | IO[bytes],
    images: Mapping[Reference | str, Image] | Image,
    *,
    tag: Reference | str | None = None,
) -> None:
    """Write images into a classic ``docker save`` tarball (go-containerregistry's legacy format,
    ``crane pull --format legacy``): a folder per layer named by its v1 ID, with the uncompressed
    ``layer.tar``, ``json`` and ``VERSION``; ``<config hex>.json``, ``manifest.json`` and
    ``repositories``; no OCI layout. Written as :func:`write` writes; a layer whose uncompressed
    size is not known is decompressed into a scratch file first, one at a time."""
    from ocimodel._legacy_tar import contents, plan

    def chunks() -> Iterator[bytes]:
        out = TarChunks()
        for member in plan(_normalise(images, tag)):
            size, data = contents(member)
            yield from out.member(_info(member.name, size), data())
        yield out.end()

    write_file(target, chunks())
