"""OCI image layouts: a directory with ``oci-layout``, ``index.json`` and ``blobs/<alg>/<hex>``.

A :class:`Layout` is a source (:meth:`Layout.image_index`, :meth:`Layout.image`; every blob read
is verified) and a sink (:meth:`Layout.write_blob`, :meth:`Layout.append_image`, …; a blob sink for
:func:`ocimodel.remote.pull` too). Every file is written to a temporary name and renamed, blobs
before the ``index.json`` that names them, so a writer that dies half-way leaves a valid layout;
``index.json`` is changed under a file lock, so appenders in several processes do not lose
each other's entries.

A layout may have been made by an attacker: ``index.json`` and blobs that are not regular files
(a FIFO, a link to ``/dev/zero``, a directory) are refused without blocking, manifests, indexes
and configs are read within their descriptor's size and the document cap, and indexes nested
past the cap are an :class:`~ocimodel.errors.IndexTooDeep` (see :mod:`ocimodel.limits`).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import attrs

from ocimodel._files import describe, staged, write_file
from ocimodel._memo import memoized
from ocimodel._reading import document_limit, open_file, read_capped, read_file, too_large
from ocimodel._streams import binary, chunks, piece_for
from ocimodel.descriptor import Descriptor
from ocimodel.errors import BadJSONError, NoSuchBlob, NotReadable, NotWritable
from ocimodel.hashing import Hash, VerifyingReader
from ocimodel.image import DescribedLayer, Image, KnownDiffID
from ocimodel.index import ImageIndex, deeper, unseen_children
from ocimodel.layer import Layer, StreamLayer
from ocimodel.manifest import IndexManifest, Manifest
from ocimodel.mediatype import MediaType
from ocimodel.platform import Platform

__all__ = ["LAYOUT_VERSION", "REF_NAME", "Layout", "write"]

#: The ``oci-layout`` file's content.
LAYOUT_VERSION = b'{"imageLayoutVersion":"1.0.0"}'
#: The annotation that names an ``index.json`` entry (a tag, usually).
REF_NAME = "org.opencontainers.image.ref.name"

Matcher = Callable[[Descriptor], bool]


@attrs.frozen
class Layout:
    """An OCI image layout at ``path`` (which need not exist until something is written)."""

    path: Path = attrs.field(converter=Path)

    # ------------------------------------------------------------ reading

    def blob_path(self, digest: Hash) -> Path:
        return self.path / "blobs" / digest.algorithm / digest.hex

    def has(self, digest: Hash) -> bool:
        """Whether the blob is present (a sink's question)."""
        return self.blob_path(digest).is_file()

    def open_blob(self, digest: Hash) -> IO[bytes]:
        """The blob's bytes, unverified. Anything but a regular file (a symbolic link, a FIFO, a
        directory) is refused at once, as if the blob were missing: :class:`~ocimodel.errors.NoSuchBlob`."""
        try:
            return open_file(self.blob_path(digest), self._named(digest), follow=False)
        except FileNotFoundError:
            raise NoSuchBlob(f"layout {self.path} has no blob {digest}") from None
        except NotReadable as error:  # it says what is there instead
            raise NoSuchBlob(str(error)) from None
        except OSError as error:
            raise NoSuchBlob(f"cannot read {self._named(digest)}: {error}") from None

    def _named(self, digest: Hash) -> str:
        return f"blob {digest} in {self.path}"

    def blob(self, digest: Hash, size: int | None = None) -> IO[bytes]:
        """The blob's bytes, verified against its digest (and ``size``) as they are read."""
        return binary(VerifyingReader(self.open_blob(digest), digest, size, what=self._named(digest)))

    def read_blob(self, digest: Hash, size: int | None = None) -> bytes:
        """The blob's bytes, verified: ``size`` of them if given, else no more than the document
        cap (:mod:`ocimodel.limits`; :class:`~ocimodel.errors.DocumentTooLarge` beyond it)."""
        if size is not None:
            with self.blob(digest, size) as stream:
                return stream.read()
        return self.read_document(digest, None)

    def read_document(self, digest: Hash, size: int | None, *, manifest: bool = False) -> bytes:
        """A manifest, index or config blob, verified, read with its descriptor's ``size`` as the
        limit and never more than the document cap: one larger (by its descriptor, or on disk)
        is refused before it is read (:class:`~ocimodel.errors.DocumentTooLarge`, or
        :class:`~ocimodel.errors.ManifestTooLarge` for a ``manifest``)."""
        what = self._named(digest)
        limit = document_limit(what, size, manifest=manifest)
        raw = self.open_blob(digest)
        on_disk = os.fstat(raw.fileno()).st_size
        if size is None and on_disk > limit:
            raw.close()
            raise too_large(what, on_disk, limit, manifest=manifest)
        with binary(VerifyingReader(raw, digest, size, what=what)) as stream:
            return read_capped(stream, what, limit, manifest=manifest)

    def _index_json(self) -> bytes:
        try:
            return read_file(self.path / "index.json", manifest=True)
        except FileNotFoundError:
            raise NoSuchBlob(f"{self.path} is not an OCI image layout: it has no index.json") from None

    def image_index(self) -> ImageIndex:
        """``index.json`` as an index; its children are read from the blobs. Reading refuses an
        ``index.json`` (or blob) that is not a regular file, or is larger than the document cap."""
        return LayoutIndex(self, self._index_json(), None)

    def image(self, digest: Hash) -> Image:
        """The image whose manifest has ``digest``."""
        return LayoutImage(self, digest, None)

    def images(self) -> Iterator[tuple[Descriptor, Image]]:
        """Every image ``index.json`` names directly, with its entry."""
        for descriptor, child in self.image_index().children():
            if isinstance(child, Image):
                yield descriptor, child

    # ------------------------------------------------------------ writing

    def write(self, digest: Hash, stream: IO[bytes]) -> None:
        """:meth:`write_blob` under the name a blob sink uses."""
        self.write_blob(digest, stream)

    def write_blob(self, digest: Hash, stream: IO[bytes]) -> None:
        """Store a blob, atomically, verifying it on the way; skipped if it is there already."""
        if self.has(digest):
            return
        self._init()
        if isinstance(stream, VerifyingReader) and stream.expected == digest and not stream.bytes_read:
            # checked as it is read already (a pull hands its blobs over so): hash it once, not twice
            write_file(self.blob_path(digest), chunks(stream, piece_for(stream)), folders=True)
            return
        with binary(VerifyingReader(stream, digest, what=f"blob {digest} for {self.path}")) as verified:
            write_file(self.blob_path(digest), chunks(verified), folders=True)

    def _write_bytes(self, data: bytes) -> Hash:
        digest = Hash.sha256(data)
        self.write_blob(digest, io.BytesIO(data))
        return digest

    def _write_layer(self, layer: Layer) -> None:
        if isinstance(layer, StreamLayer):  # its name is known only once it has been read
            with layer.compressed() as stream, staged(self.path, "stream", shown=self.path, folders=True) as new:
                for piece in chunks(stream):
                    new.file.write(piece)
                new.commit(self.blob_path(layer.digest()))
            return
        if not self.has(layer.digest()):
            with layer.compressed() as stream:
                self.write_blob(layer.digest(), stream)

    def write_image(self, image: Image) -> Descriptor:
        """Store an image's blobs (layers, config, manifest; not ``index.json``)."""
        self._init()
        for layer in image.layers():
            if layer.media_type().is_distributable():
                self._write_layer(layer)
        self._write_bytes(image.raw_config_file())
        self._write_bytes(image.raw_manifest())
        return image.descriptor()

    def write_index(self, index: ImageIndex) -> Descriptor:
        """Store an index's children (recursively, each distinct one once; no deeper than the
        cap, :class:`~ocimodel.errors.IndexTooDeep`) and the index itself as blobs."""
        self._write_children(index, 1, set())
        self._write_bytes(index.raw_manifest())
        return index.descriptor()

    def _write_children(self, index: ImageIndex, depth: int, seen: set[Hash]) -> None:
        self._init()
        for _, child, nested in unseen_children(index, depth, seen):
            if isinstance(child, Image):
                self.write_image(child)
            elif isinstance(child, ImageIndex):
                self._write_children(child, nested, seen)
                self._write_bytes(child.raw_manifest())
            else:
                self._write_layer(child)

    def _init(self) -> None:
        self._make_folder()
        marker = self.path / "oci-layout"
        if not marker.exists():
            write_file(marker, LAYOUT_VERSION)
        if not (self.path / "index.json").exists():
            with self._locked():
                if not (self.path / "index.json").exists():
                    write_file(self.path / "index.json", IndexManifest(media_type=MediaType.OCI_INDEX).to_json())

    def _make_folder(self) -> None:
        """Make the layout's folder (and its parents), or say in one line why there cannot be one."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise NotWritable(
                f"cannot write an OCI layout to {self.path}: it is {describe(self.path)}, a layout is a folder"
            ) from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._make_folder()
        with (self.path / ".index.json.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _update_index(self, change: Callable[[list[Descriptor]], list[Descriptor]]) -> None:
        """Read, change and atomically rewrite ``index.json`` under the lock."""
        self._init()
        with self._locked():
            current = IndexManifest.from_json(self._index_json())
            updated = attrs.evolve(current, manifests=change(list(current.manifests)))
            write_file(self.path / "index.json", updated.to_json())

    def append_descriptor(self, descriptor: Descriptor) -> None:
        """Add an entry to ``index.json`` (its blobs should be there already)."""
        self._update_index(lambda entries: [*entries, descriptor])

    def append_image(
        self,
        image: Image,
        *,
        annotations: Mapping[str, str] | None = None,
        platform: Platform | None = None,
        urls: Sequence[str] = (),
    ) -> Descriptor:
        """Store an image and add its entry (with these annotations, platform, URLs)."""
        descriptor = self._described(self.write_image(image), annotations, platform, urls)
        self.append_descriptor(descriptor)
        return descriptor

    def append_index(
        self, index: ImageIndex, *, annotations: Mapping[str, str] | None = None, urls: Sequence[str] = ()
    ) -> Descriptor:
        """Store an index and add its entry."""
        descriptor = self._described(self.write_index(index), annotations, None, urls)
        self.append_descriptor(descriptor)
        return descriptor

    @staticmethod
    def _described(
        descriptor: Descriptor, annotations: Mapping[str, str] | None, platform: Platform | None, urls: Sequence[str]
    ) -> Descriptor:
        return attrs.evolve(
            descriptor,
            annotations=annotations or descriptor.annotations,
            platform=platform or descriptor.platform,
            urls=urls or descriptor.urls,
        )

    def replace_image(self, image: Image, matches: Matcher, **options: object) -> Descriptor:
        """Store an image; its entry replaces those for which ``matches`` is true."""
        descriptor = self._described(self.write_image(image), *_entry_options(options))
        self._update_index(lambda entries: [*(e for e in entries if not matches(e)), descriptor])
        return descriptor

    def replace_index(self, index: ImageIndex, matches: Matcher, **options: object) -> Descriptor:
        """Store an index; its entry replaces those for which ``matches`` is true."""
        descriptor = self._described(self.write_index(index), *_entry_options(options))
        self._update_index(lambda entries: [*(e for e in entries if not matches(e)), descriptor])
        return descriptor

    def remove_descriptors(self, matches: Matcher) -> None:
        """Drop the ``index.json`` entries for which ``matches`` is true (blobs stay until :meth:`gc`)."""
        self._update_index(lambda entries: [e for e in entries if not matches(e)])

    def gc(self) -> list[Hash]:
        """Remove every blob nothing in ``index.json`` reaches; returns what was removed."""
        with self._locked():
            reachable = self._reachable()
            removed = []
            folder = self.path / "blobs"
            for path in sorted(folder.glob("*/*")) if folder.exists() else []:
                try:
                    digest = Hash(path.parent.name, path.name)
                except ValueError:
                    continue  # not a blob (a leftover temporary file is one too old to matter)
                if digest not in reachable:
                    path.unlink()
                    removed.append(digest)
            return removed

    def _reachable(self) -> set[Hash]:
        """Every blob ``index.json`` reaches; raises rather than give less (a blob that cannot be
        read, an index nested past the cap), so that :meth:`gc` never removes what is used."""
        found: set[Hash] = set()
        pending = [(entry, 1) for entry in IndexManifest.from_json(self._index_json()).manifests]
        while pending:
            entry, depth = pending.pop()
            if entry.digest in found:
                continue
            found.add(entry.digest)
            if entry.media_type.is_index():
                nested = deeper(depth, entry.digest)
                data = self.read_document(entry.digest, entry.size, manifest=True)
                pending.extend((each, nested) for each in IndexManifest.from_json(data).manifests)
            elif entry.media_type.is_image():
                manifest = Manifest.from_json(self.read_document(entry.digest, entry.size, manifest=True))
                found.add(manifest.config.digest)
                found.update(layer.digest for layer in manifest.layers)
                if manifest.subject is not None:
                    found.add(manifest.subject.digest)
        return found


def _entry_options(options: Mapping[str, object]) -> tuple[Mapping[str, str] | None, Platform | None, Sequence[str]]:
    unknown = set(options) - {"annotations", "platform", "urls"}
    if unknown:
        raise TypeError(f"unknown options: {', '.join(sorted(unknown))}")
    return options.get("annotations"), options.get("platform"), options.get("urls", ())  # type: ignore[return-value]


def LayoutLayer(layout: Layout, descriptor: Descriptor, diff_id: KnownDiffID = None) -> Layer:  # noqa: N802
    """A blob of a layout, described by the manifest (or index entry) that names it."""
    return DescribedLayer(descriptor, lambda: layout.open_blob(descriptor.digest), diff_id)


class LayoutImage(Image):
    """An image in a layout; its manifest and config are verified as they are read."""

    def __init__(self, layout: Layout, digest: Hash, descriptor: Descriptor | None) -> None:
        self._layout, self._digest, self._descriptor = layout, digest, descriptor

    @memoized
    def raw_manifest(self) -> bytes:
        size = self._descriptor.size if self._descriptor is not None else None
        return self._layout.read_document(self._digest, size, manifest=True)

    def media_type(self) -> MediaType:
        if self._descriptor is not None:
            return self._descriptor.media_type
        return self.manifest().media_type or MediaType.OCI_MANIFEST

    @memoized
    def raw_config_file(self) -> bytes:
        config = self.manifest().config
        return self._layout.read_document(config.digest, config.size)

    @memoized
    def layers(self) -> list[Layer]:
        """One layer per manifest entry, each with its own descriptor (the same blob may be listed
        twice with different media types)."""
        return [
            LayoutLayer(self._layout, d, functools.partial(self._listed_diff_id, position))
            for position, d in enumerate(self.manifest().layers)
        ]

    def layer_by_digest(self, digest: Hash) -> Layer:
        found = self._listed_layer(digest)
        if found is None:
            raise NoSuchBlob(f"image {self._digest} in {self._layout.path} has no layer {digest}")
        return found


class LayoutIndex(ImageIndex):
    """``index.json`` (``digest`` None) or an index blob of a layout (``size``: its entry's)."""

    def __init__(self, layout: Layout, raw: bytes | None, digest: Hash | None, size: int | None = None) -> None:
        self._layout, self._raw, self._digest_given, self._size = layout, raw, digest, size

    @memoized
    def raw_manifest(self) -> bytes:
        if self._raw is not None:
            return self._raw
        assert self._digest_given is not None
        return self._layout.read_document(self._digest_given, self._size, manifest=True)

    @memoized
    def index_manifest(self) -> IndexManifest:
        """The parsed index; one that is not the JSON of an index is a :class:`BadJSONError`
        naming the file (``index.json``, or the blob, of this layout)."""
        try:
            return IndexManifest.from_json(self.raw_manifest())
        except BadJSONError as error:
            digest = self._digest_given
            where = self._layout.path / "index.json" if digest is None else f"blob {digest} of {self._layout.path}"
            raise BadJSONError(f"{error.what} {where}", error.problems) from None

    def _entry(self, digest: Hash) -> Descriptor:
        found = self._entries().get(digest)
        if found is None:
            raise NoSuchBlob(f"index in {self._layout.path} has no entry {digest}")
        return found

    def image(self, digest: Hash) -> Image:
        return LayoutImage(self._layout, digest, self._entry(digest))

    def image_index(self, digest: Hash) -> ImageIndex:
        return LayoutIndex(self._layout, None, digest, self._entry(digest).size)

    def layer(self, digest: Hash) -> Layer:
        return LayoutLayer(self._layout, self._entry(digest))


def write(path: str | os.PathLike[str], index: ImageIndex) -> Layout:
    """A layout whose ``index.json`` is ``index`` itself, with every child stored (go-containerregistry's
    ``layout.Write``): an existing ``index.json`` there is replaced, atomically, after the blobs."""
    layout = Layout(Path(path))
    layout._write_children(index, 1, set())
    with layout._locked():
        write_file(layout.path / "index.json", index.raw_manifest())
    return layout
