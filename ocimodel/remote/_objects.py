"""Images, indexes and layers that live in a registry, fetched lazily and verified."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING

import attrs
import urllib3

from ocimodel._mask import logger as masked_logger
from ocimodel._memo import memoized
from ocimodel._streams import Reader, binary, read_into
from ocimodel.descriptor import Descriptor as SpecDescriptor
from ocimodel.errors import (
    BlobTooLarge,
    DigestMismatch,
    DocumentTooLarge,
    InsecureRedirect,
    NoSuchBlob,
    NotFound,
    RegistryError,
    TransportError,
    UnsupportedMediaType,
)
from ocimodel.hashing import Hash, VerifyingReader
from ocimodel.image import Image, KnownDiffID, known_diff_id
from ocimodel.index import ImageIndex
from ocimodel.layer import Layer
from ocimodel.manifest import IndexManifest, Manifest
from ocimodel.mediatype import MediaType
from ocimodel.name import Digest, Reference, Repository
from ocimodel.platform import Platform
from ocimodel.remote._blob import BlobReader
from ocimodel.remote._session import Session
from ocimodel.transport import ManifestBody, discard, redact_url, release

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = masked_logger("ocimodel.remote")
IMAGE_TYPES = (MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST_SCHEMA2)
INDEX_TYPES = (MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST)


def fetch_manifest(session: Session, reference: Reference, accept: tuple[str, ...] | None = None) -> ManifestBody:
    """GET a manifest; a digest reference must hash to its digest."""
    client = session.client(reference.repository.registry)
    body = (
        client.get_manifest(reference.repository, reference.identifier, accept=accept)
        if accept
        else client.get_manifest(reference.repository, reference.identifier)
    )
    if isinstance(reference, Digest) and body.digest != reference.digest:
        raise DigestMismatch(f"manifest {reference.name}", reference.digest, body.digest)
    return body


def inline_data(descriptor: SpecDescriptor, what: str) -> bytes | None:
    """A descriptor's embedded ``data``, verified against its size and digest (``None`` if absent)."""
    if descriptor.data is None:
        return None
    actual = Hash.of(descriptor.data, descriptor.digest.algorithm)
    if actual != descriptor.digest or len(descriptor.data) != descriptor.size:
        raise DigestMismatch(f"{what} (inline data)", descriptor.digest, actual)
    return descriptor.data


class RemoteLayer(Layer):
    """A blob in a repository: size, digest and media type from its descriptor, bytes on demand.

    Reads resume with ``Range`` after a broken connection and are verified. A foreign layer's
    ``urls`` are tried, when the session allows it, if the registry does not have the blob.
    """

    def __init__(
        self,
        session: Session,
        repository: Repository,
        descriptor: SpecDescriptor | None,
        digest: Hash,
        diff_id: KnownDiffID = None,
    ) -> None:
        self._session = session
        self.repository = repository
        self._descriptor = descriptor
        self._digest = digest
        self._diff_id = diff_id

    def mount_source(self) -> Repository:
        """The repository this blob can be mounted from (same registry, another repository)."""
        return self.repository

    def digest(self) -> Hash:
        return self._digest

    @memoized
    def size(self) -> int:
        """From the descriptor; for a blob named by digest alone, from a ``HEAD``, or, where that
        says nothing useful, from the ``GET`` answer's ``Content-Length`` (checked when the bytes
        are read), else by counting the bytes (at most ``blob_limit``). ECR Public refuses
        ``HEAD`` (401, 403) where ``GET`` works; Artifactory answers 404 for a remote blob it has
        not cached yet."""
        if self._descriptor is not None:
            return self._descriptor.size
        stated = self._stated_size()
        if stated is not None:
            return stated
        try:
            with self.compressed() as stream:
                declared = getattr(stream, "size", None)
                if isinstance(declared, int):
                    return declared
                return sum(len(piece) for piece in iter(lambda: stream.read(1 << 20), b""))
        except NotFound:
            raise NoSuchBlob(f"{self.repository} has no blob {self._digest}") from None

    @memoized
    def _stated_size(self) -> int | None:
        """The size a ``HEAD`` states, or ``None``: no ``Content-Length``, the blob is not there
        (404), or the ``HEAD`` was refused or failed (it is optional: ``GET`` says the rest).

        :raises ~ocimodel.errors.DigestMismatch: the answer names another blob.
        """
        client = self._session.client(self.repository.registry)
        try:
            found = client.head_blob(self.repository, self._digest)
        except (RegistryError, TransportError) as error:
            log.debug("HEAD of blob %s in %s gave no answer (%s): asking by GET", self._digest, self.repository, error)
            return None
        return found if found is not None and found >= 0 else None

    def compressed(self) -> IO[bytes]:
        """The verified bytes; a blob named by digest alone is read by ``GET``, as crane does, and
        stops at the size its answer's ``Content-Length`` states or, where it states none, at the
        size a ``HEAD`` states (more is a :class:`~ocimodel.errors.SizeMismatch`); where nothing
        states a size, at ``blob_limit`` bytes (:class:`~ocimodel.errors.BlobTooLarge`): a
        registry never decides how long we read. The digest is checked at the end."""
        if self._descriptor is not None:
            return super().compressed()
        what = f"layer {self._digest}"
        stream = self.open_compressed()
        try:
            size = getattr(stream, "declared_size", None)
            if size is None:
                size = self._stated_size()
        except BaseException:
            stream.close()
            raise
        if size is None:
            stream = binary(_Capped(stream, self._session.blob_limit, f"{what} in {self.repository}"))
        return binary(VerifyingReader(stream, self._digest, size, what=what))

    def media_type(self) -> MediaType:
        return self._descriptor.media_type if self._descriptor is not None else MediaType.DOCKER_LAYER

    def diff_id(self) -> Hash:
        return known_diff_id(self._diff_id) or super().diff_id()

    def descriptor(self) -> SpecDescriptor:
        """The manifest's descriptor of this layer, whole (``urls``, annotations, unknown fields)."""
        return self._descriptor if self._descriptor is not None else super().descriptor()

    def open_compressed(self) -> IO[bytes]:
        client = self._session.client(self.repository.registry)
        urls = self._descriptor.urls if self._descriptor is not None else ()
        try:
            return binary(BlobReader(client, self.repository, self._digest))
        except (RegistryError, TransportError) as error:
            if not (urls and self._session.allow_foreign):
                raise
            return self._from_urls(urls, error)

    def _from_urls(self, urls: tuple[str, ...], first: Exception) -> IO[bytes]:
        """The first of a foreign layer's ``urls`` that answers, each vetted as a URL the registry
        names (:meth:`~ocimodel.transport.Client.check_url`: https unless the registry is spoken
        to over http, no private address unless the registry is as local), its redirects too."""
        client = self._session.client(self.repository.registry)
        last: Exception = first
        for url in urls:
            try:
                client.check_url(url, "foreign layer URL")
            except InsecureRedirect as error:
                last = error
                continue
            try:  # under the session's request policy, with no credentials
                response = client.get_url(url)
            except (TransportError, InsecureRedirect) as error:
                last = error
                continue
            if response.status == 200:
                return binary(_Raw(response))
            discard(response)
            last = TransportError(f"GET {redact_url(url)}: status {response.status}")
        raise last


class _Capped(Reader):
    """A blob whose size nothing states, cut off past ``limit`` bytes (see
    :meth:`RemoteLayer.compressed`)."""

    def __init__(self, raw: IO[bytes], limit: int, what: str) -> None:
        super().__init__()
        self._raw, self._limit, self._what = raw, limit, what
        self._count = 0

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")[: self._limit + 1 - self._count]
        count = read_into(self._raw, view) if view else 0
        self._count += count
        if self._count > self._limit:
            self.close()
            raise BlobTooLarge(
                f"{self._what}: the registry states no size for it, and it goes on past {self._limit} bytes "
                "(blob_limit= changes the limit)"
            )
        return count

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
            super().close()


class _Raw(Reader):
    """An HTTP response's body as a reader (for foreign layers, fetched from their URLs)."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__()
        self._response = response

    def readinto(self, buffer: WriteableBuffer) -> int:
        return self._response.readinto(memoryview(buffer).cast("B"))

    def close(self) -> None:
        if not self.closed:
            release(self._response)
            super().close()


@attrs.frozen
class Referrer:
    """What a referrers index says of each manifest it lists: that it names ``subject`` as its
    subject. A claim, checked when the manifest is fetched (:func:`check_referrer`)."""

    subject: Hash


def check_referrer(body: ManifestBody, referrer: Referrer | None, reference: Reference) -> ManifestBody:
    """``body``, if it is what its referrers index said (see :class:`Referrer`).

    :raises ~ocimodel.errors.DigestMismatch: it names another subject, or none.
    """
    if referrer is None:
        return body
    try:
        document: Manifest | IndexManifest = (
            IndexManifest.from_json(body.data) if body.media_type.is_index() else Manifest.from_json(body.data)
        )
    except ValueError:
        return body  # not a manifest at all: reading it says so
    subject = document.subject.digest if document.subject is not None else None
    if subject != referrer.subject:
        raise DigestMismatch(
            f"{reference.name}, listed as a referrer of {referrer.subject}",
            referrer.subject,
            subject,
            f"{reference.name} is listed as a referrer of {referrer.subject}, but its subject is "
            f"{subject or 'missing'}",
        )
    return body


class RemoteImage(Image):
    """An image in a registry: the manifest is fetched on first use, the config when asked,
    layers when read; every byte verified. ``referrer``: what a referrers index claimed of it,
    checked when it is fetched."""

    def __init__(
        self,
        session: Session,
        reference: Reference,
        body: ManifestBody | None = None,
        *,
        referrer: Referrer | None = None,
    ) -> None:
        self._session = session
        self.reference = reference
        self._body = body
        self._referrer = referrer

    def mount_source(self) -> Repository:
        """Where this image's blobs (its config too) can be mounted from."""
        return self.reference.repository

    @memoized
    def _fetched(self) -> ManifestBody:
        body = self._body or fetch_manifest(self._session, self.reference, IMAGE_TYPES)
        return check_referrer(body, self._referrer, self.reference)

    def raw_manifest(self) -> bytes:
        return self._fetched().data

    def media_type(self) -> MediaType:
        given = self._fetched().media_type
        return given if given.is_image() else (self.manifest().media_type or given)

    @memoized
    def raw_config_file(self) -> bytes:
        config = self.manifest().config
        data = inline_data(config, f"config of {self.reference}")
        if data is not None:
            return data
        repository = self.reference.repository
        client = self._session.client(repository.registry)
        limit = self._session.config_limit
        if config.size > limit:
            raise DocumentTooLarge(
                f"config of {self.reference} is {config.size} bytes, more than the {limit}-byte limit "
                "(config_limit= changes it)"
            )
        reader = VerifyingReader(
            BlobReader(client, repository, config.digest), config.digest, config.size, what=f"config {config.digest}"
        )
        with reader:
            return reader.read()

    @memoized
    def layers(self) -> list[Layer]:
        """One layer per manifest entry, each with its own descriptor (the same blob may be listed
        twice with different media types). Their diff IDs come from the config when first asked
        for: a pull or a copy never needs the config parsed."""
        repository = self.reference.repository
        return [
            RemoteLayer(self._session, repository, d, d.digest, functools.partial(self._listed_diff_id, position))
            for position, d in enumerate(self.manifest().layers)
        ]

    def layer_by_digest(self, digest: Hash) -> Layer:
        layer = self._listed_layer(digest)
        if layer is not None:
            return layer
        config = self.manifest().config
        if config.digest == digest:
            return RemoteLayer(self._session, self.reference.repository, config, digest)
        raise NoSuchBlob(f"image {self.reference} has no layer {digest}")


class RemoteIndex(ImageIndex):
    """An index in a registry: children are fetched (or taken from inline ``data``) when used.

    ``referrer``: what a referrers index claimed of this one, checked when it is fetched;
    ``referrers_of``: this index lists the referrers of that digest, so each child fetched must
    name it as its subject."""

    def __init__(
        self,
        session: Session,
        reference: Reference,
        body: ManifestBody | None = None,
        *,
        referrer: Referrer | None = None,
        referrers_of: Hash | None = None,
    ) -> None:
        self._session = session
        self.reference = reference
        self._body = body
        self._referrer = referrer
        self._referrers_of = referrers_of

    @memoized
    def _fetched(self) -> ManifestBody:
        body = self._body or fetch_manifest(self._session, self.reference, INDEX_TYPES)
        return check_referrer(body, self._referrer, self.reference)

    def _claim(self, digest: Hash) -> Referrer | None:
        """What this index, if it lists referrers, claims of its child ``digest``."""
        return None if self._referrers_of is None else Referrer(self._referrers_of)

    def raw_manifest(self) -> bytes:
        return self._fetched().data

    def media_type(self) -> MediaType:
        given = self._fetched().media_type
        return given if given.is_index() else (self.index_manifest().media_type or given)

    def _child_body(self, digest: Hash) -> tuple[Reference, ManifestBody | None]:
        reference = self.reference.repository.digest(digest)
        descriptor = self._entries().get(digest)
        if descriptor is None:
            raise NoSuchBlob(f"index {self.reference} has no entry {digest}")
        data = inline_data(descriptor, f"entry {digest} of {self.reference}")
        return reference, None if data is None else ManifestBody(data, descriptor.media_type, digest)

    def image(self, digest: Hash) -> Image:
        return RemoteImage(self._session, *self._child_body(digest), referrer=self._claim(digest))

    def image_index(self, digest: Hash) -> ImageIndex:
        return RemoteIndex(self._session, *self._child_body(digest), referrer=self._claim(digest))

    def layer(self, digest: Hash) -> Layer:
        descriptor = self._entries().get(digest)
        if descriptor is None:
            raise NoSuchBlob(f"index {self.reference} has no entry {digest}")
        return RemoteLayer(self._session, self.reference.repository, descriptor, digest)


@attrs.frozen
class Descriptor:
    """What :func:`ocimodel.remote.get` fetched: a manifest of any kind, not yet interpreted.

    ``descriptor`` describes it (media type from the registry, size, digest, and the manifest's
    ``artifactType`` or config media type, and annotations, where it has them), and its fields
    are this object's too, as go-containerregistry's ``remote.Descriptor`` embeds its
    ``v1.Descriptor``: ``got.digest``, ``got.size``, ``got.media_type``, ``got.platform``,
    ``got.annotations``, ``got.artifact_type``, ``got.urls``, ``got.data``. :meth:`image` and
    :meth:`image_index` interpret it; raw access works for every kind, schema 1 included, so it can
    be copied byte for byte.
    """

    reference: Reference
    descriptor: SpecDescriptor
    _body: ManifestBody
    _session: Session = attrs.field(repr=False)

    def raw_manifest(self) -> bytes:
        return self._body.data

    @property
    def media_type(self) -> MediaType:
        """The manifest's media type, as the registry gave it (``Content-Type``)."""
        return self.descriptor.media_type

    @property
    def digest(self) -> Hash:
        """The manifest's digest (of the bytes fetched, checked against a digest reference)."""
        return self.descriptor.digest

    @property
    def size(self) -> int:
        """The manifest's length in bytes."""
        return self.descriptor.size

    @property
    def platform(self) -> Platform | None:
        """The descriptor's platform: ``None`` for a manifest fetched by reference (only an index's
        entries carry one)."""
        return self.descriptor.platform

    @property
    def annotations(self) -> Mapping[str, str]:
        """The manifest's annotations (empty if it has none)."""
        return self.descriptor.annotations

    @property
    def artifact_type(self) -> MediaType | None:
        """The manifest's ``artifactType``, else (for an image) its config's media type."""
        return self.descriptor.artifact_type

    @property
    def urls(self) -> tuple[str, ...]:
        """The descriptor's ``urls`` (empty: a manifest fetched from a registry has none)."""
        return self.descriptor.urls

    @property
    def data(self) -> bytes | None:
        """The descriptor's embedded ``data`` (``None``: the bytes are in :meth:`raw_manifest`)."""
        return self.descriptor.data

    def image(self) -> Image:
        """The image; from an index, the child for the session's platform (linux/amd64 by default)."""
        media_type = self.media_type
        if media_type.is_schema1():
            raise UnsupportedMediaType(
                f"{self.reference} is a Docker schema 1 manifest ({media_type}): it can be copied as it is, "
                "but not read as an image"
            )
        if media_type.is_index():
            return RemoteIndex(self._session, self.reference, self._body).image_for(self._session.platform)
        return RemoteImage(self._session, self.reference, self._body)

    def image_index(self) -> ImageIndex:
        """The index; an image is not one (call :meth:`image`)."""
        if self.media_type.is_image() or self.media_type.is_schema1():
            raise UnsupportedMediaType(f"{self.reference} is an image ({self.media_type}), not an index: call image()")
        return RemoteIndex(self._session, self.reference, self._body)
