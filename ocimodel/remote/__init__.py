"""Images in registries: read them lazily, write them by walking the graph.

Every function takes a reference (a :mod:`ocimodel.name` object, or text parsed with the
defaults) and keyword options, the :class:`SessionOptions` (``auth``, ``keychain``, ``platform``,
``jobs``, ``timeout`` in seconds, ``retry``, ``progress``, ``insecure``, ``ca_file``, …; the
functions that push take the :class:`WriterOptions` too), or a :class:`Session` (``session=``)
made with those options and reused across calls. Nothing is fetched until needed: :func:`image`
fetches the manifest (and, for an index, the platform's child manifest); the config is fetched
when asked for, layers when read. Every byte is verified; a blob download broken mid-way resumes
with ``Range``.

Writing (:func:`write`, :func:`write_index`, :func:`multi_write`, :func:`write_layer`) uploads
blobs first (skipping those present, mounting those in another repository of the registry,
``jobs`` at a time), then manifests, children before parents; :func:`copy_repository` copies
every tag of a repository, ``jobs`` tags at a time; :func:`tag`, :func:`delete` and
:func:`check_push_permission` are single requests.

What every function may raise (each is an :class:`~ocimodel.errors.OCIError`, except the first):

- :class:`TypeError`: an option that is not one of :class:`SessionOptions` (or given beside
  ``session=``);
- :class:`~ocimodel.errors.BadNameError`: a reference that cannot be parsed;
- :class:`~ocimodel.errors.RegistryError` and its kinds: :class:`~ocimodel.errors.Unauthorized`
  (401), :class:`~ocimodel.errors.Denied` (403), :class:`~ocimodel.errors.NotFound` (404 or
  ``MANIFEST_UNKNOWN``, ``BLOB_UNKNOWN``, ``NAME_UNKNOWN``),
  :class:`~ocimodel.errors.TooManyRequests` (429 after the retries), …, each with the status,
  the registry's error codes and the redacted URL;
- :class:`~ocimodel.errors.TransportError`: no answer (refused, reset, timed out after the
  retries; :class:`~ocimodel.errors.UntrustedCertificate` for TLS);
- :class:`~ocimodel.errors.CredentialsError`: credentials or a CA file that cannot be read;
- :class:`~ocimodel.errors.Cancelled`: the ``cancel`` event was set;
- :class:`~ocimodel.errors.DigestMismatch`: bytes that do not hash to the digest naming them
  (when they are read: lazily, for images and layers).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, Unpack, cast

import attrs

from ocimodel._options import check_options, option_names
from ocimodel.descriptor import Descriptor as SpecDescriptor
from ocimodel.errors import BadNameError, InvalidRequest, NotFound, RegistryError, TransportError, UnsupportedMediaType
from ocimodel.hashing import Hash
from ocimodel.mediatype import MediaType
from ocimodel.name import Digest, Reference, Registry, Repository
from ocimodel.remote._session import DEFAULT_PLATFORM, Progress, Session, SessionOptions, session_from
from ocimodel.transport import Client, ManifestBody, ManifestHead, Page

if TYPE_CHECKING:
    from ocimodel.image import Image
    from ocimodel.index import ImageIndex
    from ocimodel.layer import Layer
    from ocimodel.remote._blob import BlobReader
    from ocimodel.remote._objects import Descriptor, RemoteImage, RemoteIndex, RemoteLayer
    from ocimodel.remote._pull import BlobSink, DirectorySink, pull
    from ocimodel.remote._repository import Copied
    from ocimodel.remote._write import MountableLayer, WriteOptions, Writer, WriterOptions

# What only reading images or writing needs is imported on first use, so that the single-request
# functions (head, list_tags, catalog, tag, delete) load neither the image model nor the writer.
_LAZY = {
    "BlobReader": "_blob",
    "Descriptor": "_objects",
    "RemoteImage": "_objects",
    "RemoteIndex": "_objects",
    "RemoteLayer": "_objects",
    "BlobSink": "_pull",
    "DirectorySink": "_pull",
    "pull": "_pull",
    "Copied": "_repository",
    "MountableLayer": "_write",
    "WriteOptions": "_write",
    "Writer": "_write",
    "WriterOptions": "_write",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_PLATFORM",
    "BlobReader",
    "BlobSink",
    "Copied",
    "Descriptor",
    "DirectorySink",
    "MountableLayer",
    "Progress",
    "RemoteImage",
    "RemoteIndex",
    "RemoteLayer",
    "Session",
    "SessionOptions",
    "Taggable",
    "WriteOptions",
    "Writer",
    "WriterOptions",
    "catalog",
    "catalog_page",
    "check_push_permission",
    "copy_repository",
    "delete",
    "get",
    "head",
    "image",
    "index",
    "layer",
    "list_tags",
    "multi_write",
    "pull",
    "referrers",
    "tag",
    "write",
    "write_index",
    "write_layer",
]


def _describe(session: Session, reference: Reference, body: ManifestBody) -> Descriptor:
    from ocimodel.manifest import IndexManifest, Manifest
    from ocimodel.remote._objects import Descriptor

    described = SpecDescriptor(body.media_type, len(body.data), body.digest)
    try:
        if body.media_type.is_image():
            manifest = Manifest.from_json(body.data)
            artifact = manifest.artifact_type or manifest.config.media_type
            described = attrs.evolve(described, artifact_type=artifact, annotations=manifest.annotations)
        elif body.media_type.is_index():
            index_manifest = IndexManifest.from_json(body.data)
            described = attrs.evolve(
                described, artifact_type=index_manifest.artifact_type, annotations=index_manifest.annotations
            )
    except ValueError:
        pass  # described by what the registry said; interpreting it later will say what is wrong
    return Descriptor(reference, described, body, session)


def get(reference: Reference | str, *, session: Session | None = None, **options: Unpack[SessionOptions]) -> Descriptor:
    """Fetch a manifest of any kind (image, index, schema 1) without interpreting it.

    The result exposes the descriptor's fields directly (``got.digest``, ``got.size``,
    ``got.media_type``, ``got.annotations``, ``got.artifact_type``, …), as go-containerregistry's
    ``remote.Descriptor`` does, keeps the whole :class:`~ocimodel.Descriptor` as ``.descriptor``,
    and turns into an image or index on demand (:meth:`Descriptor.image`,
    :meth:`Descriptor.image_index`).

    :raises ~ocimodel.errors.NotFound: nothing is there.
    :raises ~ocimodel.errors.DigestMismatch: a digest reference whose manifest hashes otherwise.
    :raises ~ocimodel.errors.ManifestTooLarge: a manifest over the limit (4 MiB).
    """
    from ocimodel.remote._objects import fetch_manifest

    session = session_from(session, options)
    parsed = session.reference(reference)
    return _describe(session, parsed, fetch_manifest(session, parsed))


def head(
    reference: Reference | str, *, session: Session | None = None, **options: Unpack[SessionOptions]
) -> SpecDescriptor:
    """What a reference points at (media type, size, digest), by ``HEAD`` only: it does not count
    against pull rate limits.

    :raises ~ocimodel.errors.NotFound: nothing is there.
    :raises ~ocimodel.errors.RegistryError: the registry's answer leaves out a header the
        descriptor needs (they are optional in the spec: ECR left ``Docker-Content-Digest`` out),
        or it refuses ``HEAD`` (some answer 401, 403 or 405 where ``GET`` works); :func:`get` asks
        by ``GET`` instead.
    """
    session = session_from(session, options)
    parsed = session.reference(reference)
    found = session.client(parsed.registry).head_manifest(parsed.repository, parsed.identifier)
    if found is None:
        raise NotFound(f"HEAD {parsed.name}: no manifest there", status=404, method="HEAD")
    if found.media_type is None or found.size is None or found.digest is None:
        missing = [
            header
            for header, value in (
                ("Content-Type", found.media_type),
                ("Content-Length", found.size),
                ("Docker-Content-Digest", found.digest),
            )
            if value is None
        ]
        raise RegistryError(
            f"HEAD {parsed.name}: the registry's answer has no {' or '.join(missing)}; remote.get() asks by GET",
            status=200,
            method="HEAD",
        )
    return SpecDescriptor(found.media_type, found.size, found.digest)


def image(reference: Reference | str, *, session: Session | None = None, **options: Unpack[SessionOptions]) -> Image:
    """The image at ``reference``; from an index, the child for ``platform=`` (linux/amd64 by
    default, matched with :meth:`ocimodel.Platform.matches`).

    :raises ~ocimodel.errors.NotFound: nothing is there.
    :raises ~ocimodel.errors.NoMatchingPlatform: an index with no child for the platform (the
        message lists those it has).
    :raises ~ocimodel.errors.UnsupportedMediaType: a Docker schema 1 manifest (:func:`get` can
        still copy it).
    """
    return get(reference, session=session, **options).image()


def index(
    reference: Reference | str, *, session: Session | None = None, **options: Unpack[SessionOptions]
) -> ImageIndex:
    """The index at ``reference`` (asked for with index media types only).

    :raises ~ocimodel.errors.NotFound: nothing is there (or only an image, for registries that
        honour ``Accept``).
    :raises ~ocimodel.errors.UnsupportedMediaType: the registry answered with an image.
    """
    from ocimodel.remote._objects import INDEX_TYPES, RemoteIndex, fetch_manifest

    session = session_from(session, options)
    parsed = session.reference(reference)
    body = fetch_manifest(session, parsed, INDEX_TYPES)
    # the registry's Content-Type says what it sent (a generic one, application/json, says nothing)
    if body.media_type.is_image() or body.media_type.is_schema1():
        raise UnsupportedMediaType(f"{parsed} is an image, not an index (the registry answered {body.media_type})")
    return RemoteIndex(session, parsed, body)


def layer(reference: Digest | str, *, session: Session | None = None, **options: Unpack[SessionOptions]) -> Layer:
    """The blob ``repo@sha256:…`` as a layer (its size comes from a ``HEAD`` when first asked).

    Nothing is requested until the layer is used.

    :raises ~ocimodel.errors.BadNameError: ``reference`` is a tag, not a digest (a ``ValueError``).
    """
    from ocimodel.remote._objects import RemoteLayer

    session = session_from(session, options)
    parsed = session.reference(reference)
    if not isinstance(parsed, Digest):
        raise BadNameError(f"a layer is named by digest ('repo@sha256:…'), not by tag: {parsed}")
    return RemoteLayer(session, parsed.repository, None, parsed.digest)


def list_tags(
    repository: Repository | str,
    *,
    page_size: int | None = 1000,
    session: Session | None = None,
    **options: Unpack[SessionOptions],
) -> list[str]:
    """Every tag of a repository, following the registry's pages (``Link``, on the same host
    only), ``page_size`` tags a request (``None``, or a size the registry refuses with 400: as
    many as the registry gives).

    :raises ~ocimodel.errors.NotFound: no such repository.
    :raises ~ocimodel.errors.ManifestTooLarge: more than ``list_limit`` tags (or a page over
        ``manifest_limit`` bytes).
    """
    session = session_from(session, options)
    parsed = session.repository(repository)
    client = session.client(parsed.registry)
    first = _first_page(lambda n: client.tags_page(parsed, n=n), page_size)
    return client.listing(first, lambda url: client.tags_page(parsed, url=url), f"tags of {parsed.name}")


def catalog(
    registry: Registry | str,
    *,
    page_size: int | None = 1000,
    session: Session | None = None,
    **options: Unpack[SessionOptions],
) -> list[str]:
    """Every repository of a registry, following its pages (``page_size`` names a request, as
    :func:`list_tags`).

    :raises ~ocimodel.errors.RegistryError: registries that do not offer the catalog answer
        401, 403 or 404 (:class:`~ocimodel.errors.Unauthorized`, …).
    """
    session = session_from(session, options)
    parsed = registry if isinstance(registry, Registry) else Registry(registry, insecure=session.insecure)
    client = session.client(parsed)
    first = _first_page(lambda n: client.catalog_page(n=n), page_size)
    return client.listing(first, lambda url: client.catalog_page(url=url), f"catalog of {parsed}")


def _first_page(fetch: Callable[[int | None], Page], page_size: int | None) -> Page:
    """The first page of a listing, ``page_size`` names long; where the registry refuses that
    size (400: distribution answers ``PAGINATION_NUMBER_INVALID`` above its ``maxentries``, ECR
    above 1000), in the registry's own page size instead. The pages after it follow ``Link``."""
    try:
        return fetch(page_size)
    except InvalidRequest as error:
        if page_size is None or error.status != 400:
            raise
        return fetch(None)


def catalog_page(
    registry: Registry | str,
    last: str | None = None,
    n: int | None = None,
    *,
    session: Session | None = None,
    **options: Unpack[SessionOptions],
) -> list[str]:
    """One page of the catalog: up to ``n`` repositories after ``last`` (as :func:`catalog`)."""
    session = session_from(session, options)
    parsed = registry if isinstance(registry, Registry) else Registry(registry, insecure=session.insecure)
    return list(session.client(parsed).catalog_page(n=n, last=last).items)


def referrers(
    reference: Digest | str,
    artifact_type: str | None = None,
    *,
    session: Session | None = None,
    **options: Unpack[SessionOptions],
) -> ImageIndex:
    """The manifests that name ``reference`` as their subject, as an OCI index: from the referrers
    API, or else the ``sha256-<hex>`` fallback tag; empty if there are none. ``artifact_type``
    keeps only the entries of that type.

    The list is the registry's claim: each manifest of it, when fetched (``.image(d)``,
    ``.image_index(d)``), must name ``reference`` as its subject
    (:class:`~ocimodel.errors.DigestMismatch` otherwise).

    :raises ValueError: a tag rather than a digest reference.
    """
    from ocimodel.manifest import IndexManifest
    from ocimodel.remote._objects import RemoteIndex
    from ocimodel.remote._referrers import fallback_index

    session = session_from(session, options)
    parsed = session.reference(reference)
    if not isinstance(parsed, Digest):
        raise BadNameError(f"referrers are asked for by digest ('repo@sha256:…'), not by tag: {parsed}")
    client = session.client(parsed.registry)
    data = client.referrers(parsed.repository, parsed.digest, artifact_type=artifact_type)
    if data is None:
        fallback = fallback_index(client, parsed.repository, parsed.digest)
        data = (fallback or IndexManifest(media_type=MediaType.OCI_INDEX)).to_json()
    found = IndexManifest.from_json(data)
    if artifact_type is not None:
        kept = [d for d in found.manifests if d.artifact_type == artifact_type]
        if len(kept) != len(found.manifests):
            data = attrs.evolve(found, manifests=kept).to_json()
    body = ManifestBody(data, MediaType.OCI_INDEX, Hash.sha256(data))
    return RemoteIndex(session, parsed.repository.digest(body.digest), body, referrers_of=parsed.digest)


class Taggable(Protocol):
    """Anything with a raw manifest (and, ideally, its media type) can be put under a tag."""

    def raw_manifest(self) -> bytes: ...


def _split(session: Session | None, options: WriteOptions) -> tuple[Session, WriterOptions]:
    """The session (from ``session`` or the session options) and the writer options."""
    from ocimodel.remote._write import WriteOptions, WriterOptions

    check_options(options, WriteOptions, "remote write")
    writer_keys = option_names(WriterOptions)
    writer_options = cast(WriterOptions, {k: v for k, v in options.items() if k in writer_keys})
    session_options = cast(SessionOptions, {k: v for k, v in options.items() if k not in writer_keys})
    return session_from(session, session_options), writer_options


def _writer(session: Session | None, options: WriteOptions) -> tuple[Session, Writer]:
    """The session (from ``session`` or the session options) and a writer (the writer options)."""
    from ocimodel.remote._write import Writer

    session, writer_options = _split(session, options)
    return session, Writer(session, **writer_options)


def write(
    reference: Reference | str, image: Image, *, session: Session | None = None, **options: Unpack[WriteOptions]
) -> None:
    """Push an image: its layers and config, then its manifest under ``reference``.

    Options: the session's and the :class:`WriterOptions` (``chunk_size``, ``monolithic_limit``,
    ``chunked_threshold`` in bytes: blobs over it go in resumable ``chunk_size`` chunks, while by
    default every blob goes in one streaming request; ``allow_nondistributable`` pushes foreign
    layers too).

    :raises ~ocimodel.errors.Unauthorized: no credentials, or ones refused (``Denied`` when they
        may not push here).
    :raises ~ocimodel.errors.DigestMismatch: a layer whose bytes do not match its digest (nothing
        is tagged then).
    :raises ~ocimodel.errors.NotComputed: a single-pass layer that another target needs before
        it has been read.
    """
    multi_write({reference: image}, session=session, **options)


def write_index(
    reference: Reference | str, index: ImageIndex, *, session: Session | None = None, **options: Unpack[WriteOptions]
) -> None:
    """Push an index: every child (by digest, nested indexes too) and its blobs, then the index
    (options and errors as :func:`write`)."""
    multi_write({reference: index}, session=session, **options)


def multi_write(
    targets: Mapping[Reference | str, Image | ImageIndex],
    *,
    session: Session | None = None,
    **options: Unpack[WriteOptions],
) -> None:
    """Push several images and indexes at once, each blob at most once (options and errors as
    :func:`write`)."""
    session, writer = _writer(session, options)
    writer.write({session.reference(reference): target for reference, target in targets.items()})


def write_layer(
    repository: Repository | str, layer: Layer, *, session: Session | None = None, **options: Unpack[WriteOptions]
) -> None:
    """Upload one blob to a repository (skipped if there, mounted if it can be; options and errors
    as :func:`write`)."""
    session, writer = _writer(session, options)
    writer.upload(session.repository(repository), layer)


def copy_repository(
    source: Repository | str,
    destination: Repository | str,
    *,
    no_clobber: bool = False,
    platform_only: bool = False,
    copied: Copied | None = None,
    session: Session | None = None,
    **options: Unpack[WriteOptions],
) -> None:
    """Copy every tag of ``source`` to the same tag in ``destination`` (go-containerregistry's
    ``CopyRepository``): the tags are listed (every page), then copied ``jobs`` at a time, each
    image or index whole, by digest, mounting blobs within a registry; a blob the tags share is
    moved (or probed) once per hundred-odd tags, not once per tag, and memory stays flat however
    many tags there are. ``copied(tag, digest)`` is called as each tag is done (in the order they
    finish, from the copying threads, one at a time).

    :param no_clobber: leave out the tags ``destination`` has already (listed once, before
        copying), as crane does.
    :param platform_only: from an index, copy only the image for the session's ``platform``.

    Options and errors as :func:`write`; an error names the tag being copied, and stops the copy
    (tags under way finish, the others are not started).
    """
    from ocimodel.remote._repository import copy_tags
    from ocimodel.remote._write import Writer

    session, writer_options = _split(session, options)
    here, there = session.repository(source), session.repository(destination)
    tags = list_tags(here, session=session)
    if no_clobber:
        try:
            present = set(list_tags(there, session=session))
        except NotFound:
            present = set()
        tags = [tag for tag in tags if tag not in present]
    writers = functools.partial(Writer, session, **writer_options)
    copy_tags(session, here, there, tags, writers, platform_only=platform_only, copied=copied)


def tag(
    reference: Reference | str, taggable: Taggable, *, session: Session | None = None, **options: Unpack[SessionOptions]
) -> None:
    """Put ``taggable``'s manifest under a tag, as it is: nothing else is uploaded or checked.

    :raises ~ocimodel.errors.InvalidRequest: the registry refuses the manifest (a blob it names
        is missing: ``MANIFEST_BLOB_UNKNOWN``).
    """
    session = session_from(session, options)
    parsed = session.reference(reference)
    found = getattr(taggable, "media_type", None)  # a method on images, a property on get()'s result
    media_type = (found() if callable(found) else found) or MediaType.DOCKER_MANIFEST_SCHEMA2
    data = taggable.raw_manifest()
    session.client(parsed.registry).put_manifest(parsed.repository, parsed.identifier, data, media_type)


def delete(reference: Reference | str, *, session: Session | None = None, **options: Unpack[SessionOptions]) -> None:
    """Delete what ``reference`` names, and nothing more (distribution-spec 1.1, "Deleting
    tags" and "Deleting manifests"): ``repo:tag`` removes that tag only, with a ``DELETE`` of
    the tag; ``repo@digest`` removes the manifest, and every tag on it goes with it.

    :raises ~ocimodel.errors.InvalidRequest: the registry refuses to delete tags (400 or 405,
        as distribution 2.x answers ``DIGEST_INVALID``); the message names the ``repo@digest``
        that would delete the manifest with all its tags, which is never done in the tag's place.
    :raises ~ocimodel.errors.NotFound: nothing is there.
    """
    session = session_from(session, options)
    parsed = session.reference(reference)
    client = session.client(parsed.registry)
    try:
        client.delete_manifest(parsed.repository, parsed.identifier)
    except InvalidRequest as error:
        if isinstance(parsed, Digest) or error.status not in (400, 405):
            raise
        digest = _tagged(client, parsed)  # NotFound if there is no such tag
        answer = " ".join([str(error.status), *error.codes])
        raise InvalidRequest(
            f"cannot delete the tag {parsed.name}: {parsed.registry.name} does not delete tags (it answered "
            f"{answer}); delete {parsed.repository.name}@{digest} removes the manifest with every tag on it",
            status=error.status,
            method=error.method,
            url=error.url,
            diagnostics=error.diagnostics,
        ) from error


def _tagged(client: Client, tag: Reference) -> str:
    """The digest of the manifest a tag names, for a message: by HEAD, else by GET (HEAD is
    optional), else ``DIGEST``; :class:`~ocimodel.errors.NotFound` if there is no such tag."""
    try:
        found = client.head_manifest(tag.repository, tag.identifier)
    except (RegistryError, TransportError):
        found = ManifestHead(None, None, None)
    if found is None:
        raise NotFound(f"DELETE {tag.name}: no manifest there", status=404, method="HEAD")
    if found.digest is not None:
        return str(found.digest)
    try:
        return str(client.get_manifest(tag.repository, tag.identifier).digest)
    except NotFound:
        raise
    except (RegistryError, TransportError):
        return "DIGEST"


def check_push_permission(
    reference: Reference | str, *, session: Session | None = None, **options: Unpack[SessionOptions]
) -> None:
    """Raise unless the credentials may push to ``reference``'s repository: starts an upload
    and cancels it (go-containerregistry's way, for want of a better one in the spec).

    :raises ~ocimodel.errors.Unauthorized: no credentials, or ones refused.
    :raises ~ocimodel.errors.Denied: the credentials may not push there.
    """
    session = session_from(session, options)
    parsed = session.reference(reference)
    client = session.client(parsed.registry)
    upload = client.start_upload(parsed.repository)
    if upload.location:
        client.cancel_upload(parsed.repository, upload.location)
