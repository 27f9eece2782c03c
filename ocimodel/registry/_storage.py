"""Where the embedded registry keeps things: blobs by digest, manifests and tags per repository,
uploads in progress. In memory, or on disk (one file per blob, written atomically).

On disk, its own files are read within bounds too: a blob is opened and streamed
(:meth:`Storage.open_blob`), never read whole to be served; ``state.json`` is read within the
document cap (:mod:`ocimodel.limits`) and each manifest within :data:`MANIFEST_LIMIT`, through
the same checked opening as every other input (:mod:`ocimodel._reading`: a FIFO or a device put
in a blob's place is refused, not waited on), and as depth-capped JSON.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import attrs

from ocimodel._files import write_file
from ocimodel._json import loads
from ocimodel._reading import open_file, read_capped, read_file
from ocimodel.hashing import Hash, Hasher

#: The largest manifest the registry takes (and reads back from its storage), as distribution.
MANIFEST_LIMIT = 4 << 20


@attrs.define
class Upload:
    """An upload in progress: the bytes so far (in memory), and their running digest."""

    repository: str
    data: bytearray = attrs.Factory(bytearray)
    hasher: Hasher = attrs.Factory(Hasher)


class Storage:
    """Blobs, manifests, tags and uploads; thread-safe. ``root=None`` keeps everything in memory."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._blobs: dict[Hash, bytes] = {}
        self._links: dict[str, set[Hash]] = {}  # repository -> blobs it may serve
        self._manifests: dict[str, dict[Hash, tuple[bytes, str]]] = {}
        self._tags: dict[str, dict[str, Hash]] = {}
        self._uploads: dict[str, Upload] = {}
        if root is not None:
            self._load()

    # ---------------------------------------------------------------- persistence (disk mode)

    def _blob_path(self, digest: Hash) -> Path:
        assert self._root is not None
        return self._root / "blobs" / digest.algorithm / digest.hex

    def _save_index(self) -> None:
        if self._root is None:
            return
        state = {
            "links": {repo: sorted(map(str, digests)) for repo, digests in self._links.items()},
            "manifests": {
                repo: {str(d): media_type for d, (_, media_type) in entries.items()}
                for repo, entries in self._manifests.items()
            },
            "tags": {repo: {tag: str(d) for tag, d in tags.items()} for repo, tags in self._tags.items()},
        }
        write_file(self._root / "state.json", json.dumps(state, sort_keys=True).encode(), folders=True)

    def _load(self) -> None:
        assert self._root is not None
        path = self._root / "state.json"
        if not path.exists():
            return
        state = loads(read_file(path, f"embedded registry state {path}"), f"embedded registry state {path}")
        self._links = {repo: {Hash.parse(d) for d in digests} for repo, digests in state["links"].items()}
        self._tags = {repo: {t: Hash.parse(d) for t, d in tags.items()} for repo, tags in state["tags"].items()}
        for repo, entries in state["manifests"].items():
            self._manifests[repo] = {
                Hash.parse(d): (self._read_manifest(Hash.parse(d)), media_type) for d, media_type in entries.items()
            }

    def _read_manifest(self, digest: Hash) -> bytes:
        path = self._blob_path(digest)
        with open_file(path, f"manifest {digest} at {path}", follow=False) as stream:
            return read_capped(stream, f"manifest {digest} at {path}", MANIFEST_LIMIT, manifest=True)

    # ---------------------------------------------------------------- blobs

    def open_blob(self, repository: str, digest: Hash) -> IO[bytes] | None:
        """The blob's bytes as a file at its start (the caller closes it), or ``None`` if
        ``repository`` has no such blob. On disk, the file is opened as any input is
        (:func:`~ocimodel._reading.open_file`: a regular file, not a symbolic link)."""
        with self._lock:
            if digest not in self._links.get(repository, set()):
                return None
            if self._root is None:
                data = self._blobs.get(digest)
                return None if data is None else io.BytesIO(data)
        try:
            return open_file(self._blob_path(digest), f"blob {digest} at {self._blob_path(digest)}", follow=False)
        except FileNotFoundError:
            return None

    def blob(self, repository: str, digest: Hash) -> bytes | None:
        """The blob's bytes, whole (for tests of small blobs; the server streams
        :meth:`open_blob`), or ``None``."""
        stream = self.open_blob(repository, digest)
        if stream is None:
            return None
        with stream:
            return stream.read()

    def has_blob(self, repository: str, digest: Hash) -> bool:
        with self._lock:
            return digest in self._links.get(repository, set())

    def put_blob(self, repository: str, digest: Hash, data: bytes) -> None:
        if self._root is not None and not self._blob_path(digest).exists():
            write_file(self._blob_path(digest), data, folders=True)
        with self._lock:
            if self._root is None:
                self._blobs[digest] = data
            self._links.setdefault(repository, set()).add(digest)
            self._save_index()

    def mount(self, repository: str, source: str, digest: Hash) -> bool:
        with self._lock:
            if digest not in self._links.get(source, set()):
                return False
            self._links.setdefault(repository, set()).add(digest)
            self._save_index()
            return True

    def delete_blob(self, repository: str, digest: Hash) -> bool:
        with self._lock:
            links = self._links.get(repository, set())
            if digest not in links:
                return False
            links.discard(digest)
            self._save_index()
            return True

    # ---------------------------------------------------------------- manifests and tags

    def manifest(self, repository: str, reference: str) -> tuple[bytes, str, Hash] | None:
        with self._lock:
            digest = self._tags.get(repository, {}).get(reference)
            if digest is None:
                try:
                    digest = Hash.parse(reference)
                except ValueError:
                    return None
            found = self._manifests.get(repository, {}).get(digest)
            return None if found is None else (found[0], found[1], digest)

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> Hash:
        digest = Hash.sha256(data)
        if self._root is not None:
            write_file(self._blob_path(digest), data, folders=True)
        with self._lock:
            self._manifests.setdefault(repository, {})[digest] = (data, media_type)
            if reference != str(digest):
                self._tags.setdefault(repository, {})[reference] = digest
            self._save_index()
        return digest

    def delete_manifest(self, repository: str, digest: Hash) -> bool:
        with self._lock:
            entries = self._manifests.get(repository, {})
            if digest not in entries:
                return False
            del entries[digest]
            tags = self._tags.get(repository, {})
            for tag in [t for t, d in tags.items() if d == digest]:
                del tags[tag]
            self._save_index()
            return True

    def delete_tag(self, repository: str, tag: str) -> bool:
        """Remove a tag, leaving the manifest it named (and its other tags) in place."""
        with self._lock:
            if self._tags.get(repository, {}).pop(tag, None) is None:
                return False
            self._save_index()
            return True

    def tags(self, repository: str) -> list[str] | None:
        with self._lock:
            if repository not in self._manifests and repository not in self._links:
                return None
            return sorted(self._tags.get(repository, {}))

    def repositories(self) -> list[str]:
        with self._lock:
            return sorted(set(self._manifests) | set(self._links))

    def manifests(self, repository: str) -> Iterator[tuple[Hash, bytes, str]]:
        with self._lock:
            entries = list(self._manifests.get(repository, {}).items())
        for digest, (data, media_type) in entries:
            yield digest, data, media_type

    # ---------------------------------------------------------------- uploads

    def start_upload(self, repository: str) -> str:
        identifier = str(uuid.uuid4())
        with self._lock:
            self._uploads[identifier] = Upload(repository)
        return identifier

    def upload(self, repository: str, identifier: str) -> Upload | None:
        with self._lock:
            found = self._uploads.get(identifier)
            return found if found is not None and found.repository == repository else None

    def end_upload(self, identifier: str) -> None:
        with self._lock:
            self._uploads.pop(identifier, None)
