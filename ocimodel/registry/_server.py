"""The embedded registry's HTTP side: the distribution-spec endpoints a client uses."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import parse_qs, quote, urlsplit

import attrs

from ocimodel._mask import logger as masked_logger
from ocimodel.descriptor import Descriptor
from ocimodel.errors import BadDigestError, BadJSONError
from ocimodel.hashing import Hash
from ocimodel.manifest import IndexManifest, Manifest
from ocimodel.mediatype import MediaType
from ocimodel.registry._storage import MANIFEST_LIMIT, Storage

_NAME = r"(?P<name>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
_ROUTES = [
    ("base", re.compile(r"/v2/?")),
    ("catalog", re.compile(r"/v2/_catalog")),
    ("manifest", re.compile(rf"/v2/{_NAME}/manifests/(?P<reference>[^/]+)")),
    ("uploads", re.compile(rf"/v2/{_NAME}/blobs/uploads/?")),
    ("upload", re.compile(rf"/v2/{_NAME}/blobs/uploads/(?P<id>[^/]+)")),
    ("blob", re.compile(rf"/v2/{_NAME}/blobs/(?P<digest>[^/]+)")),
    ("tags", re.compile(rf"/v2/{_NAME}/tags/list")),
    ("referrers", re.compile(rf"/v2/{_NAME}/referrers/(?P<digest>[^/]+)")),
]
_PIECE = 1 << 20
_NUMBER = re.compile(r"[0-9]{1,19}")  # what a client sends as a number: ASCII digits, 64 bits at most


log = masked_logger("ocimodel.registry")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request is its business: log it, do not print a traceback."""
        log.debug("request from %s failed", client_address, exc_info=True)


class _Error(Exception):
    def __init__(self, status: int, code: str, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


@attrs.frozen
class _Stream:
    """An answer's body to send from a file: ``length`` bytes from where ``source`` stands, a
    piece at a time (a blob is never read whole to be served)."""

    source: IO[bytes]
    length: int

    def __len__(self) -> int:
        return self.length

    def send(self, write: Callable[[bytes], object]) -> None:
        left = self.length
        while left > 0:
            piece = self.source.read(min(left, _PIECE))
            if not piece:
                raise OSError(f"a blob ended {left} bytes early")
            write(piece)
            left -= len(piece)


def _digest(text: str) -> Hash:
    try:
        return Hash.parse(text)
    except BadDigestError as error:
        raise _Error(400, "DIGEST_INVALID", str(error)) from None


def _page(items: list[str], query: dict[str, list[str]], path: str) -> tuple[list[str], str | None]:
    last = query.get("last", [""])[0]
    if last:
        items = [item for item in items if item > last]
    n_text = query.get("n", [""])[0]
    if not n_text:
        return items, None
    if not _NUMBER.fullmatch(n_text):
        raise _Error(400, "PAGINATION_NUMBER_INVALID", f"n must be a number of entries, not {n_text[:40]!r}")
    n = int(n_text)
    if len(items) <= n or n == 0:
        return items[:n], None
    page = items[:n]
    return page, f'<{path}?n={n}&last={quote(page[-1], safe="")}>; rel="next"'


class BodyTooLarge(Exception):
    """A request body over the cap :func:`read_body` was given: it was not read."""


def read_body(request: BaseHTTPRequestHandler, limit: int | None = None) -> bytes:
    """A request's whole body, sent with ``Content-Length`` or chunked; over ``limit`` bytes (if
    given) :class:`BodyTooLarge`, after reading at most ``limit`` bytes of it, and
    :class:`ValueError` for framing that is not HTTP's."""
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(request.rfile.readline(1024).split(b";")[0].strip(), 16)
            if size == 0:
                request.rfile.readline(1024)
                return b"".join(parts)
            total += size
            if limit is not None and total > limit:
                raise BodyTooLarge(f"a body of more than {limit} bytes")
            parts.append(request.rfile.read(size))
            request.rfile.readline(1024)
    length = int(request.headers.get("Content-Length") or 0)
    if limit is not None and length > limit:
        raise BodyTooLarge(f"a body of {length} bytes, over {limit}")
    return request.rfile.read(length) if length > 0 else b""


class Registry:
    """An in-process OCI registry for tests and demos: memory or disk storage, no auth.

    It implements the distribution-spec surface ocimodel's client uses: manifests (HEAD, GET, PUT,
    DELETE of a tag or, by digest, of a manifest; blobs a manifest names must be there), blobs (HEAD, GET with
    ``Range``, DELETE), uploads (monolithic, streaming PATCH, ``Content-Range`` chunks, status,
    cancel, cross-repository mount; digests verified), tags and catalog with pagination, and the
    referrers API. Upload locations are relative, and ``chunk_min_length`` makes it send
    ``OCI-Chunk-Min-Length``, so clients meet what real registries do.

    What a client sends is read within caps, as a registry on a network must: a manifest within
    4 MiB, a blob (all of an upload's requests together) within ``upload_limit`` bytes (1 GiB);
    past them the answer is 413 and the connection is closed without reading the rest.

    Use it as a context manager or with :meth:`start` and :meth:`stop`; :attr:`host` is what
    references to it start with.
    """

    def __init__(
        self,
        storage: str | Path | None = None,
        *,
        address: str = "127.0.0.1:0",
        chunk_min_length: int | None = None,
        referrers_api: bool = True,
        upload_limit: int = 1 << 30,
    ) -> None:
        self.upload_limit = upload_limit
        self.storage = Storage(Path(storage) if storage is not None else None)
        host, _, port = address.rpartition(":")
        self.chunk_min_length = chunk_min_length
        self.referrers_api = referrers_api
        self._server = _Server((host or "127.0.0.1", int(port or 0)), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def host(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> Registry:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (``ocimodel registry serve``)."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- endpoints

    def _handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes | _Stream]:
        for route, pattern in _ROUTES:
            match = pattern.fullmatch(path)
            if match is not None:
                handler = getattr(self, f"_{route}_{method.lower()}", None)
                if handler is None:
                    raise _Error(405, "UNSUPPORTED", f"{method} is not supported on {route}")
                return handler(query=query, headers=headers, body=body, **match.groupdict())  # type: ignore[no-any-return]
        raise _Error(404, "NAME_UNKNOWN" if path.startswith("/v2/") else "UNSUPPORTED", f"no route for {path}")

    def _base_get(self, **_: Any) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/json"}, b"{}"

    def _manifest_head(self, name: str, reference: str, **_: Any) -> tuple[int, dict[str, str], bytes]:
        status, headers, data = self._manifest_get(name, reference)
        return status, headers | {"Content-Length": str(len(data))}, b""

    def _manifest_get(self, name: str, reference: str, **_: Any) -> tuple[int, dict[str, str], bytes]:
        found = self.storage.manifest(name, reference)
        if found is None:
            raise _Error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"reference": reference})
        data, media_type, digest = found
        return 200, {"Content-Type": media_type, "Docker-Content-Digest": str(digest)}, data

    def _manifest_put(
        self, name: str, reference: str, headers: Any, body: bytes, **_: Any
    ) -> tuple[int, dict[str, str], bytes]:
        media_type = MediaType(headers.get("Content-Type", ""))
        answer: dict[str, str] = {}
        try:
            if media_type.is_image():
                manifest = Manifest.from_json(body)
                needed = [manifest.config, *manifest.layers]
                missing = [
                    d for d in needed if d.media_type.is_distributable() and not self.storage.has_blob(name, d.digest)
                ]
                if missing:
                    raise _Error(
                        400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", {"digest": str(missing[0].digest)}
                    )
                subject = manifest.subject
            elif media_type.is_index():
                index = IndexManifest.from_json(body)
                for entry in index.manifests:
                    if entry.media_type.is_manifest() and self.storage.manifest(name, str(entry.digest)) is None:
                        raise _Error(
                            400, "MANIFEST_BLOB_UNKNOWN", "manifest unknown to registry", {"digest": str(entry.digest)}
                        )
                subject = index.subject
            else:
                raise _Error(400, "MANIFEST_INVALID", f"unsupported manifest media type {media_type!r}")
        except BadJSONError as error:
            raise _Error(400, "MANIFEST_INVALID", str(error)) from None
        if reference.startswith(("sha256:", "sha512:")) and _digest(reference) != Hash.sha256(body):
            raise _Error(400, "DIGEST_INVALID", "the manifest does not match the digest it was put under")
        digest = self.storage.put_manifest(name, reference, body, media_type)
        if subject is not None and self.referrers_api:
            answer["OCI-Subject"] = str(subject.digest)
        answer |= {"Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": str(digest)}
        return 201, answer, b""

    def _manifest_delete(self, name: str, reference: str, **_: Any) -> tuple[int, dict[str, str], bytes]:
        """A digest removes the manifest and every tag on it; a tag, that tag alone
        (distribution-spec 1.1, "Deleting tags")."""
        if ":" not in reference:  # a tag: a digest always has its algorithm before a colon
            if not self.storage.delete_tag(name, reference):
                raise _Error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            return 202, {}, b""
        if not self.storage.delete_manifest(name, _digest(reference)):
            raise _Error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        return 202, {}, b""

    def _blob_head(self, name: str, digest: str, headers: Any, **_: Any) -> tuple[int, dict[str, str], bytes]:
        status, answer, data = self._blob_get(name, digest, headers)
        data.source.close()
        return status, answer | {"Content-Length": str(len(data))}, b""

    def _blob_get(self, name: str, digest: str, headers: Any, **_: Any) -> tuple[int, dict[str, str], _Stream]:
        hash_ = _digest(digest)
        source = self.storage.open_blob(name, hash_)
        if source is None:
            raise _Error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
        try:
            size = source.seek(0, io.SEEK_END)
            answer = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": str(hash_)}
            start, end, status = 0, size - 1, 200
            wanted = re.fullmatch(r"bytes=([0-9]{1,19})-([0-9]{0,19})", headers.get("Range", "") or "")
            if wanted:
                start = int(wanted.group(1))
                end = int(wanted.group(2)) if wanted.group(2) else size - 1
                if start >= size or end < start:
                    raise _Error(416, "BLOB_UNKNOWN", "range not satisfiable")
                end, status = min(end, size - 1), 206
                answer["Content-Range"] = f"bytes {start}-{end}/{size}"
            source.seek(start)
        except BaseException:
            source.close()
            raise
        return status, answer, _Stream(source, end + 1 - start)

    def _blob_delete(self, name: str, digest: str, **_: Any) -> tuple[int, dict[str, str], bytes]:
        if not self.storage.delete_blob(name, _digest(digest)):
            raise _Error(404, "BLOB_UNKNOWN", "blob unknown to registry")
        return 202, {}, b""

    def _session_headers(self, name: str, identifier: str, offset: int) -> dict[str, str]:
        headers = {"Location": f"/v2/{name}/blobs/uploads/{identifier}", "Range": f"0-{max(offset - 1, 0)}"}
        headers["Docker-Upload-UUID"] = identifier
        if self.chunk_min_length:
            headers["OCI-Chunk-Min-Length"] = str(self.chunk_min_length)
        return headers

    def _uploads_post(
        self, name: str, query: dict[str, list[str]], body: bytes, **_: Any
    ) -> tuple[int, dict[str, str], bytes]:
        if "mount" in query and "from" in query:
            digest = _digest(query["mount"][0])
            if self.storage.mount(name, query["from"][0], digest):
                return 201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": str(digest)}, b""
        if "digest" in query:
            digest = _digest(query["digest"][0])
            if Hash.of(body, digest.algorithm) != digest:
                raise _Error(400, "DIGEST_INVALID", "the content does not match the digest")
            self.storage.put_blob(name, digest, body)
            return 201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": str(digest)}, b""
        identifier = self.storage.start_upload(name)
        return 202, self._session_headers(name, identifier, 0), b""

    def _upload_or_fail(self, name: str, identifier: str) -> Any:
        upload = self.storage.upload(name, identifier)
        if upload is None:
            raise _Error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
        return upload

    def _upload_patch(
        self, name: str, id: str, headers: Any, body: bytes, **_: Any
    ) -> tuple[int, dict[str, str], bytes]:
        upload = self._upload_or_fail(name, id)
        content_range = headers.get("Content-Range")
        if content_range:
            found = re.fullmatch(r"\s*([0-9]{1,19})-[0-9]{1,19}\s*", content_range)
            if found is None:
                raise _Error(416, "BLOB_UPLOAD_INVALID", f"Content-Range is not <first>-<last>: {content_range[:40]!r}")
            start = int(found.group(1))
            if start != len(upload.data):
                raise _Error(416, "BLOB_UPLOAD_INVALID", f"expected the chunk at {len(upload.data)}, got {start}")
        self._fits(len(upload.data) + len(body))
        upload.data += body
        upload.hasher.update(body)
        return 202, self._session_headers(name, id, len(upload.data)), b""

    def _fits(self, size: int) -> None:
        if size > self.upload_limit:
            raise _Error(413, "SIZE_INVALID", f"a blob of more than {self.upload_limit} bytes")

    def _upload_get(self, name: str, id: str, **_: Any) -> tuple[int, dict[str, str], bytes]:
        upload = self._upload_or_fail(name, id)
        return 204, self._session_headers(name, id, len(upload.data)), b""

    def _upload_put(
        self, name: str, id: str, query: dict[str, list[str]], body: bytes, **_: Any
    ) -> tuple[int, dict[str, str], bytes]:
        upload = self._upload_or_fail(name, id)
        if "digest" not in query:
            raise _Error(400, "DIGEST_INVALID", "a digest= is required to finish an upload")
        digest = _digest(query["digest"][0])
        self._fits(len(upload.data) + len(body))
        upload.data += body
        upload.hasher.update(body)
        if Hash.of(bytes(upload.data), digest.algorithm) != digest:
            raise _Error(400, "DIGEST_INVALID", "the content does not match the digest")
        self.storage.put_blob(name, digest, bytes(upload.data))
        self.storage.end_upload(id)
        return 201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": str(digest)}, b""

    def _upload_delete(self, name: str, id: str, **_: Any) -> tuple[int, dict[str, str], bytes]:
        self._upload_or_fail(name, id)
        self.storage.end_upload(id)
        return 204, {}, b""

    def _tags_get(self, name: str, query: dict[str, list[str]], **_: Any) -> tuple[int, dict[str, str], bytes]:
        tags = self.storage.tags(name)
        if tags is None:
            raise _Error(404, "NAME_UNKNOWN", "repository name not known to registry")
        page, link = _page(tags, query, f"/v2/{name}/tags/list")
        headers = {"Content-Type": "application/json"} | ({"Link": link} if link else {})
        return 200, headers, json.dumps({"name": name, "tags": page}).encode()

    def _catalog_get(self, query: dict[str, list[str]], **_: Any) -> tuple[int, dict[str, str], bytes]:
        page, link = _page(self.storage.repositories(), query, "/v2/_catalog")
        headers = {"Content-Type": "application/json"} | ({"Link": link} if link else {})
        return 200, headers, json.dumps({"repositories": page}).encode()

    def _referrers_get(
        self, name: str, digest: str, query: dict[str, list[str]], **_: Any
    ) -> tuple[int, dict[str, str], bytes]:
        if not self.referrers_api:
            raise _Error(404, "UNSUPPORTED", "no referrers API here")
        subject = _digest(digest)
        wanted = query.get("artifactType", [None])[0]
        found = []
        for manifest_digest, data, media_type in self.storage.manifests(name):
            parsed: Manifest | IndexManifest
            artifact: MediaType | None
            if MediaType(media_type).is_image():
                parsed = Manifest.from_json(data)
                artifact = parsed.artifact_type or parsed.config.media_type
            elif MediaType(media_type).is_index():
                parsed = IndexManifest.from_json(data)
                artifact = parsed.artifact_type
            else:
                continue
            if parsed.subject is None or parsed.subject.digest != subject or (wanted and artifact != wanted):
                continue
            found.append(
                Descriptor(
                    media_type, len(data), manifest_digest, annotations=parsed.annotations, artifact_type=artifact
                )
            )
        index = IndexManifest(media_type=MediaType.OCI_INDEX, manifests=sorted(found, key=lambda d: str(d.digest)))
        headers = {"Content-Type": MediaType.OCI_INDEX} | ({"OCI-Filters-Applied": "artifactType"} if wanted else {})
        return 200, headers, index.to_json()

    # ---------------------------------------------------------------- HTTP plumbing

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                limit = MANIFEST_LIMIT if "/manifests/" in parts.path else registry.upload_limit
                try:
                    body = read_body(self, limit)
                except (BodyTooLarge, ValueError) as refused:
                    self.close_connection = True  # the rest of the body is not read
                    too_large = isinstance(refused, BodyTooLarge)
                    self._answer_error(
                        413 if too_large else 400, "SIZE_INVALID" if too_large else "UNSUPPORTED", str(refused)
                    )
                    return
                try:
                    try:
                        status, headers, data = registry._handle(
                            self.command, parts.path, parse_qs(parts.query), self.headers, body
                        )
                    except OSError as failed:  # its storage failed: a file replaced by a FIFO, a disk error
                        raise _Error(500, "UNKNOWN", f"the registry's storage failed: {failed}") from None
                except _Error as error:
                    self._answer_error(error.status, error.code, error.message, error.detail)
                    return
                self._answer(status, headers, data)

            def _answer_error(self, status: int, code: str, message: str, detail: object = None) -> None:
                entry: dict[str, Any] = {"code": code, "message": message}
                if detail is not None:
                    entry["detail"] = detail
                data = json.dumps({"errors": [entry]}).encode() if self.command != "HEAD" else b""
                self._answer(status, {"Content-Type": "application/json"}, data)

            def _answer(self, status: int, headers: dict[str, str], data: bytes | _Stream) -> None:
                self.send_response(status)
                headers.setdefault("Content-Length", str(len(data)))
                headers["Docker-Distribution-API-Version"] = "registry/2.0"
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if isinstance(data, _Stream):
                    with data.source:
                        data.send(self.wfile.write)
                elif self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815

        return Handler
