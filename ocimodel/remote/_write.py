"""The writer: walks images and indexes, uploads blobs (or mounts them), then the manifests."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, TypedDict, Unpack

import attrs

from ocimodel._mask import logger as masked_logger
from ocimodel._options import check_options
from ocimodel._streams import CountingReader, binary, chunks
from ocimodel.descriptor import Descriptor as SpecDescriptor
from ocimodel.errors import NotComputed, OCIError, RegistryError, TransportError
from ocimodel.hashing import Hash
from ocimodel.image import DescribedLayer, Image
from ocimodel.index import ImageIndex, unseen_children
from ocimodel.layer import Layer, StreamLayer
from ocimodel.manifest import IndexManifest, Manifest
from ocimodel.mediatype import MediaType
from ocimodel.name import Reference, Repository
from ocimodel.remote._referrers import fallback_index, fallback_tag
from ocimodel.remote._session import Progress, Session, SessionOptions
from ocimodel.transport import Client, UploadState
from ocimodel.transport import refused as nothing_listens

log = masked_logger("ocimodel.remote")

#: Blobs up to this size are sent in one request after the POST (monolithic upload).
MONOLITHIC_LIMIT = 1 << 20
#: Blobs over this size are sent in ``Content-Range`` chunks, each resumable; below it, in one
#: streaming PATCH. ``None`` (the default, as in crane and skopeo) never chunks: one streaming
#: PATCH reads the blob once with constant memory and the fewest requests, where chunks cost a
#: request each and hold each chunk in memory until the registry has it (measured with
#: distribution, 256 MiB: 1.4 s and 33 MiB streaming, 1.75 s and 63 MiB in 8 MiB chunks).
CHUNKED_THRESHOLD: int | None = None
#: The default chunk size for chunked uploads (a registry's ``OCI-Chunk-Min-Length`` wins if larger).
DEFAULT_CHUNK_SIZE = 8 << 20

Pushable = Image | ImageIndex


class WriterOptions(TypedDict, total=False):
    """How a :class:`Writer` uploads blobs (sizes in bytes).

    - ``chunk_size``: the size of each ``Content-Range`` chunk of a chunked upload (default
      8 MiB; a registry's ``OCI-Chunk-Min-Length`` wins if larger).
    - ``monolithic_limit``: blobs up to this size go in one request after the ``POST``
      (default 1 MiB).
    - ``chunked_threshold``: blobs over this size go in resumable chunks; ``None`` (the default)
      sends every larger blob in one streaming ``PATCH``.
    - ``allow_nondistributable``: push foreign and non-distributable layers too (default: they
      are left out, as the spec allows).
    """

    chunk_size: int
    monolithic_limit: int
    chunked_threshold: int | None
    allow_nondistributable: bool


class WriteOptions(SessionOptions, WriterOptions, total=False):
    """The keyword options of the functions that push (:func:`ocimodel.remote.write` and its
    kin): a :class:`~ocimodel.remote.SessionOptions` and the :class:`WriterOptions`."""


def in_context(error: OCIError, context: str) -> OCIError:
    """The same error, its message now starting with ``context`` (what was being pushed)."""
    if error.args and isinstance(error.args[0], str) and not error.args[0].startswith(context):
        error.args = (f"{context}: {error.args[0]}", *error.args[1:])
    return error


class MountableLayer(Layer):
    """A layer that can be mounted from ``reference``'s repository when pushed to another
    repository of the same registry (no bytes move). Everything else is the wrapped layer's."""

    def __init__(self, layer: Layer, reference: Reference | Repository) -> None:
        self._layer = layer
        self.repository = reference if isinstance(reference, Repository) else reference.repository

    def mount_source(self) -> Repository:
        return self.repository

    def digest(self) -> Hash:
        return self._layer.digest()

    def size(self) -> int:
        return self._layer.size()

    def media_type(self) -> MediaType:
        return self._layer.media_type()

    def open_compressed(self) -> IO[bytes]:
        return self._layer.open_compressed()

    def compressed(self) -> IO[bytes]:
        return self._layer.compressed()

    def uncompressed(self) -> IO[bytes]:
        return self._layer.uncompressed()

    def diff_id(self) -> Hash:
        return self._layer.diff_id()

    def descriptor(self) -> SpecDescriptor:
        return self._layer.descriptor()


class _Progress:
    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._total = 0
        self._done = 0
        self._lock = threading.Lock()

    def expect(self, size: int) -> None:
        with self._lock:
            self._total += size

    def advance(self, digest: str, done: int, size: int, delta: int) -> None:
        if self._progress is None:
            return
        with self._lock:
            self._done += delta
            overall, total = self._done, self._total
        self._progress(digest, done, size)
        self._progress("", overall, max(total, overall))


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    parts, left = [], size
    while left:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


@attrs.frozen
class _Job:
    repository: Repository
    layer: Layer


class Writer:
    """Pushes images and indexes to one session's registries.

    For each target: if a tag already names the same digest, one ``HEAD`` and done. Otherwise
    every blob (layers and configs; a config after the layers only when it names single-pass
    ones) is uploaded with a bounded pool of ``jobs`` workers shared by everything being written
    (nested indexes do not multiply it; an index's child manifests are read by the same workers),
    skipping blobs the repository has (one ``HEAD``), mounting those that live in another
    repository of the same registry (the mount asked for at once, the ``HEAD`` only if it is not
    made), and deduplicating across all targets. Manifests follow, children before parents (those
    of one height at once), so the registry never holds a manifest whose blobs are missing.
    """

    def __init__(self, session: Session, **options: Unpack[WriterOptions]) -> None:
        check_options(options, WriterOptions, "Writer")
        self._session = session
        self._chunk_size = options.get("chunk_size", DEFAULT_CHUNK_SIZE)
        self._monolithic_limit = options.get("monolithic_limit", MONOLITHIC_LIMIT)
        self._chunked_threshold = options.get("chunked_threshold", CHUNKED_THRESHOLD)
        self._allow_nondistributable = options.get("allow_nondistributable", False)
        self._chunkless: set[str] = set()  # registries that refused a chunked upload
        self._progress = _Progress(session.progress)
        self._blobs: dict[tuple[str, object], Future[None]] = {}
        # child manifests (put by digest) this writer has put or is putting: one PUT each, however
        # many writes share them (two tags of one index), never two at once (distribution reads a
        # manifest being written again as missing, and refuses a parent naming it meanwhile)
        self._children: dict[tuple[str, str], Future[None]] = {}
        self._lock = threading.Lock()
        self._refer_lock = threading.Lock()

    # ---------------------------------------------------------------- the walk

    def write(self, targets: Mapping[Reference, Pushable]) -> None:
        """Push every ``reference: image or index``."""
        pending = {ref: target for ref, target in targets.items() if not self._already_there(ref, target)}
        if not pending:
            return
        manifests = [each for reference, target in pending.items() for each in _manifests(reference, target)]
        with ThreadPoolExecutor(max_workers=self._session.jobs, thread_name_prefix="ocimodel-push") as pool:
            # Each image's manifest is read in a worker (a remote child is fetched then), which
            # hands its blobs to the pool and returns without waiting for them: no worker ever
            # waits on another, so ``jobs=1`` cannot deadlock.
            images = [(each.repository, each.target) for each in manifests if isinstance(each.target, Image)]
            plans = [pool.submit(self._plan, pool, repository, image) for repository, image in images]
            _wait(plans)
            _wait([future for plan in plans for future in plan.result()[0]])
            # a config that names single-pass layers is known once they have been read
            later = [each for each, plan in zip(images, plans, strict=True) if plan.result()[1]]
            _wait([self._submit(pool, repository, _config_blob(image)) for repository, image in later])
            # then the manifests, children before parents: those of one height at once
            for height in sorted({each.height for each in manifests}):
                level = [each for each in manifests if each.height == height]
                _wait([self._submit_put(pool, each) for each in level])

    def _plan(self, pool: ThreadPoolExecutor, repository: Repository, image: Image) -> tuple[list[Future[None]], bool]:
        """Hand ``image``'s blobs to the pool: its layers, and its config unless it names
        single-pass layers (then ``True``: it is uploaded once they have been)."""
        layers = list(self._layers(image))
        futures = [self._submit(pool, repository, layer) for layer in layers]
        if any(isinstance(layer, StreamLayer) for layer in image.layers()):
            return futures, True
        futures.append(self._submit(pool, repository, _config_blob(image)))
        return futures, False

    def _already_there(self, reference: Reference, target: Pushable) -> bool:
        try:
            digest = target.digest()  # from the manifest alone: no layer or config is looked at
        except NotComputed:
            return False  # a stream layer's digest exists only once it has been read
        client = self._session.client(reference.registry)
        try:
            found = client.head_manifest(reference.repository, reference.identifier)
        except (RegistryError, TransportError) as error:  # an optional probe: no answer means "unknown"
            log.debug("HEAD of %s gave no answer (%s): pushing", reference, error)
            return False
        return found is not None and found.digest == digest

    def _layers(self, image: Image) -> Iterator[Layer]:
        layers = image.layers()
        if self._allow_nondistributable:
            yield from layers
            return
        if any(isinstance(layer, StreamLayer) for layer in layers):  # no manifest yet: the layers' own types
            kinds = [layer.media_type() for layer in layers]
        else:  # the manifest may say what the layer object does not (an addendum's media type)
            kinds = [descriptor.media_type for descriptor in image.manifest().layers]
        for layer, kind in zip(layers, kinds, strict=True):
            if kind.is_distributable():
                yield layer

    def _submit(self, pool: ThreadPoolExecutor, repository: Repository, layer: Layer) -> Future[None]:
        key: tuple[str, object] = (repository.name, layer if isinstance(layer, StreamLayer) else layer.digest())
        with self._lock:
            if key in self._blobs:
                return self._blobs[key]
            future = pool.submit(self._upload, repository, layer)
            self._blobs[key] = future
            return future

    def _submit_put(self, pool: ThreadPoolExecutor, manifest: _Manifest) -> Future[None]:
        """The PUT of ``manifest``: a tag's every time; a child's (named by its digest) once."""
        if not _is_digest(manifest.identifier):
            return pool.submit(self._put, manifest)
        key = (manifest.repository.name, manifest.identifier)
        with self._lock:
            if key not in self._children:
                self._children[key] = pool.submit(self._put, manifest)
            return self._children[key]

    def _put(self, manifest: _Manifest) -> None:
        self.put_manifest(manifest.repository, manifest.identifier, manifest.target)

    def put_manifest(self, repository: Repository, identifier: str, target: Image | ImageIndex) -> None:
        """PUT one manifest (its blobs must be there), then update referrers if it has a subject."""
        client = self._session.client(repository.registry)
        data = target.raw_manifest()
        context = f"pushing manifest {target.digest()} to {repository}:{identifier}"
        try:
            client.put_manifest(repository, identifier, data, target.media_type())
            self._progress.advance(str(target.digest()), len(data), len(data), len(data))
            subject = (target.manifest() if isinstance(target, Image) else target.index_manifest()).subject
            if subject is not None:
                with self._refer_lock:  # the fallback tag is read, changed and written back
                    self._refer(client, repository, subject, target)
        except OCIError as error:
            raise in_context(error, context) from None

    # ---------------------------------------------------------------- one blob

    def upload(self, repository: Repository, layer: Layer) -> None:
        """Upload one blob now (skipped if present, mounted if it can be)."""
        self._upload(repository, layer)

    def _upload(self, repository: Repository, layer: Layer) -> None:
        streaming = isinstance(layer, StreamLayer)
        client = self._session.client(repository.registry)
        name = "a single-pass layer" if streaming else str(layer.digest())
        context = f"pushing blob {name} to {repository}"
        policy = client.retry
        attempts = 1 if streaming else policy.attempts
        waited = 0.0
        for attempt in range(1, attempts + 1):
            try:
                self._upload_once(client, repository, layer, streaming)
                return
            except _RestartBlob as restart:
                if attempt >= attempts:
                    raise in_context(restart.error, context) from None
                log.debug("restarting the upload of %s: %s", name, restart.error)
            except _ChunksRefused as refused:
                # chunks are an optimisation (resumable pieces): the plain path is one request
                log.debug("%s takes no chunks (%s): one request instead", repository.registry, refused.error)
                with self._lock:
                    self._chunkless.add(repository.registry.name)
                if attempt >= attempts:
                    raise in_context(refused.error, context) from None
            except (TransportError, RegistryError) as error:
                # The whole blob again, under the same policy as a single request: connection
                # failures and retryable statuses, Retry-After honoured, within the budget; not a
                # refused connection, which the request has been retried for already (nothing
                # listens there: a closed port is reported at once)
                if isinstance(error, TransportError):
                    retryable = not nothing_listens(error)
                else:
                    retryable = policy.retries_status(error.status)
                delay = policy.delay(attempt, getattr(error, "retry_after", None))
                if attempt >= attempts or not retryable or waited + delay > policy.budget:
                    raise in_context(error, context) from None
                log.debug("retrying the upload of %s in %.2f s: %s", name, delay, error)
                client.transport.pause(delay, context)
                waited += delay
            except OCIError as error:
                raise in_context(error, context) from None

    def _upload_once(self, client: Client, repository: Repository, layer: Layer, streaming: bool) -> None:
        if streaming:
            upload = client.start_upload(repository)
            with layer.compressed() as stream:
                state = client.patch_upload(repository, upload.location, stream)
            client.finish_upload(repository, state.location, layer.digest())
            return
        digest, size = layer.digest(), layer.size()
        self._progress.expect(size)
        source = getattr(layer, "mount_source", None)
        mount_from = source() if callable(source) else None
        if isinstance(mount_from, Repository) and (
            mount_from.registry.name != repository.registry.name or mount_from == repository
        ):
            mount_from = None
        if mount_from is None:
            if _blob_present(client, repository, digest):
                self._progress.advance(str(digest), size, size, size)
                return
            upload = client.start_upload(repository)
        else:
            # A mount is asked for at once: it succeeds whether the blob is in the source or here
            # already, so the HEAD that would come first is spent only when the mount is not
            # made (refused, or the source lacks the blob); an upload started for a blob that
            # is here after all is given up.
            upload = client.start_upload(repository, mount=digest, source=mount_from)
            if not upload.mounted and _blob_present(client, repository, digest):
                _give_up(client, repository, upload)
                upload = attrs.evolve(upload, mounted=True)
        if upload.mounted:
            self._progress.advance(str(digest), size, size, size)
            return
        if size <= self._monolithic_limit:
            with layer.compressed() as stream:
                body = stream.read()
            client.finish_upload(repository, upload.location, digest, body)
            self._progress.advance(str(digest), size, size, size)
        elif (
            self._chunked_threshold is None
            or size <= self._chunked_threshold
            or repository.registry.name in self._chunkless
        ):
            with layer.compressed() as stream:
                counted = binary(CountingReader(stream, str(digest), size, self._progress.advance))
                # pieces of one reused buffer: no copy of the blob is made on its way to the socket
                state = client.patch_upload(repository, upload.location, chunks(counted), length=size)
            client.finish_upload(repository, state.location, digest)
        else:
            self._chunked(client, repository, layer, upload)

    def _chunked(self, client: Client, repository: Repository, layer: Layer, upload: UploadState) -> None:
        """Content-Range chunks, each kept in memory until the registry has it: after a failure,
        ask the registry how far it got and go on from there (or give up if it lost more than the
        chunk in hand, which the caller then restarts)."""
        digest, size = layer.digest(), layer.size()
        chunk_size = max(self._chunk_size, upload.min_chunk)
        location, offset, failures = upload.location, 0, 0
        with layer.compressed() as stream:
            while offset < size:
                chunk = _read_exactly(stream, min(chunk_size, size - offset))
                end = offset + len(chunk)
                start = offset
                while start < end:
                    try:
                        state = client.patch_upload(repository, location, chunk[start - offset :], start=start)
                        location, start = state.location, end
                    except (TransportError, RegistryError) as error:
                        if start == 0 and isinstance(error, RegistryError) and error.status in _NO_CHUNKS:
                            raise _ChunksRefused(error) from None  # the very first chunk: it takes none
                        failures += 1
                        if failures >= client.retry.attempts:
                            raise
                        if isinstance(error, RegistryError) and error.status == 416:
                            # the registry holds something other than what we thought (an ambiguous
                            # Range, a lost answer): the blob starts over
                            raise _RestartBlob(error) from None
                        try:
                            status = client.upload_status(repository, location)
                        except (TransportError, RegistryError):
                            # the registry moved on without telling us where (a lost answer): start over
                            raise _RestartBlob(error) from None
                        log.debug("chunk at %d failed (%s); the registry holds %d bytes", start, error, status.offset)
                        if not offset <= status.offset <= end:
                            raise _RestartBlob(error) from None
                        location, start = status.location, status.offset
                self._progress.advance(str(digest), end, size, len(chunk))
                offset = end
        client.finish_upload(repository, location, digest)

    # ---------------------------------------------------------------- referrers

    def _refer(self, client: Client, repository: Repository, subject: SpecDescriptor, target: Pushable) -> None:
        """Add ``target`` to ``subject``'s referrers fallback index, unless the registry keeps them."""
        if client.referrers(repository, subject.digest) is not None:
            return
        existing = fallback_index(client, repository, subject.digest) or IndexManifest(media_type=MediaType.OCI_INDEX)
        if any(entry.digest == target.digest() for entry in existing.manifests):
            return
        manifest: Manifest | IndexManifest
        artifact: MediaType | None
        if isinstance(target, Image):
            manifest = target.manifest()
            artifact = manifest.artifact_type or manifest.config.media_type
        else:
            manifest = target.index_manifest()
            artifact = manifest.artifact_type
        entry = SpecDescriptor(
            target.media_type(),
            target.size(),
            target.digest(),
            annotations=manifest.annotations,
            artifact_type=artifact,
        )
        entries = sorted([*existing.manifests, entry], key=lambda d: str(d.digest))
        index = attrs.evolve(existing, media_type=MediaType.OCI_INDEX, manifests=entries)
        client.put_manifest(repository, fallback_tag(subject.digest), index.to_json(), MediaType.OCI_INDEX)


#: Answers to a first Content-Range chunk that say the registry takes no chunks: some proxies and
#: registries refuse Content-Range (400, 416), the method (405, 501) or the size (411, 413).
_NO_CHUNKS = frozenset({400, 405, 411, 413, 416, 501})


class _ChunksRefused(Exception):
    """The registry refused the first chunk of a chunked upload: the blob goes in one request."""

    def __init__(self, error: RegistryError) -> None:
        super().__init__(str(error))
        self.error = error


class _RestartBlob(Exception):
    """An upload the registry cannot resume: the blob is uploaded again from the start."""

    def __init__(self, error: TransportError | RegistryError) -> None:
        super().__init__(str(error))
        self.error = error


def _blob_present(client: Client, repository: Repository, digest: Hash) -> bool:
    """Whether the repository has the blob, by ``HEAD``: an optimisation, so a registry that
    refuses the probe (ECR Public answers 401 or 403 where GET works; some answer 403 or 405 for
    "not there") gets the upload instead."""
    try:
        return client.head_blob(repository, digest) is not None
    except (RegistryError, TransportError) as error:
        log.debug("HEAD of blob %s in %s gave no answer (%s): uploading", digest, repository, error)
        return False


def _give_up(client: Client, repository: Repository, upload: UploadState) -> None:
    """Cancel an upload that is not needed; a registry that will not is left to expire it."""
    try:
        client.cancel_upload(repository, upload.location)
    except (RegistryError, TransportError) as error:
        log.debug("cancelling the upload at %s failed (%s): the registry expires it", upload.location, error)


def _config_blob(image: Image) -> Layer:
    """The config as a blob known by its manifest's descriptor: its bytes are asked for (fetched,
    for a remote image) only if they are uploaded, not when the registry has them or mounts them."""
    descriptor = image.manifest().config
    blob: Layer = DescribedLayer(descriptor, lambda: io.BytesIO(image.raw_config_file()), where="config")
    source = getattr(image, "mount_source", None)
    return MountableLayer(blob, source()) if callable(source) else blob


@attrs.frozen
class _Manifest:
    """One manifest to put: where, under what name, and its height (0 for an image and for an
    index with no manifest among its children; else one more than its highest child's)."""

    repository: Repository
    identifier: str
    target: Pushable
    height: int


def _manifests(reference: Reference, target: Pushable) -> list[_Manifest]:
    """Every manifest of ``target`` (each distinct child once, by the digest its parent names;
    no deeper than the cap: :func:`~ocimodel.index.deeper`), children before parents. Nothing is
    fetched but nested indexes: an image's manifest is read when its blobs are planned."""
    found: list[_Manifest] = []
    seen: set[Hash] = set()

    def visit(node: Pushable, identifier: str, depth: int) -> int:
        height = 0
        if isinstance(node, ImageIndex):
            for descriptor, child, nested in unseen_children(node, depth, seen):
                if isinstance(child, Image | ImageIndex):
                    height = max(height, 1 + visit(child, str(descriptor.digest), nested))
        found.append(_Manifest(reference.repository, identifier, node, height))
        return height

    visit(target, reference.identifier, 1)
    return found


def _is_digest(identifier: str) -> bool:
    return identifier.startswith(("sha256:", "sha512:"))


def _wait(futures: list[Future[Any]]) -> None:
    errors = []
    for future in futures:
        error = future.exception()
        if error is not None:
            errors.append(error)
    if errors:
        raise errors[0]
