"""Reading a blob from a registry, resuming with ``Range`` when the connection breaks mid-body."""

from __future__ import annotations

import http.client
import io
import re
from typing import IO, TYPE_CHECKING, cast

import urllib3

from ocimodel._mask import logger as masked_logger
from ocimodel._streams import Reader
from ocimodel.errors import RegistryError, TransportError
from ocimodel.hashing import Hash
from ocimodel.name import Repository
from ocimodel.transport import Client, content_length, redact_url, release

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = masked_logger("ocimodel.remote")
_SKIP = 1 << 20
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+([0-9]{1,19})-[0-9]+/(?:[0-9]+|\*)\s*$", re.IGNORECASE)


def _read_body_into(response: urllib3.BaseHTTPResponse, view: memoryview) -> int:
    """Read the next bytes of ``response`` into ``view``, at most one read from the connection,
    so that a failure loses nothing that arrived before it.

    A body sent as it is (no ``Content-Encoding``, not chunked) is read straight from the
    connection into ``view``: urllib3's own ``readinto`` makes a temporary copy of every piece
    (about 0.3 s of CPU per GiB), and http.client's fills the whole buffer in a loop whose partly
    filled buffer is lost when the connection breaks. The body's length is kept as http.client
    keeps it, so the connection can be reused. A body that ends before its ``Content-Length``
    raises, as urllib3 would."""
    raw = getattr(response, "_fp", None)
    if (
        not isinstance(raw, http.client.HTTPResponse)
        or raw.chunked
        or response.headers.get("Content-Encoding", "identity") != "identity"
    ):
        return response.readinto(view)
    connection: IO[bytes] | None = raw.fp  # None once http.client has seen the whole body
    if connection is None:
        return 0
    if raw.length is not None:
        view = view[: raw.length]
    count = cast(io.BufferedReader, connection).readinto1(view) if view else 0
    if raw.length is not None:
        raw.length -= count
        if count == 0 and raw.length:
            raise urllib3.exceptions.ProtocolError(f"the connection ended with {raw.length} bytes of the body unread")
    if count == 0 or raw.length == 0:
        raw.close()  # the body is whole: the connection goes back to the pool for reuse
    return count


def _range_start(response: urllib3.BaseHTTPResponse) -> int | None:
    """The first byte a 206 answer holds, from its ``Content-Range`` (``None`` if it does not say)."""
    found = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    return int(found.group(1)) if found else None


class BlobReader(Reader):
    """The bytes of one blob, in order, whatever happens to the connection.

    When a read fails part-way (a reset, a timeout, a body cut short), the blob is asked for again
    from the first byte not yet handed out (``Range: bytes=<offset>-``). Every byte that arrived
    before the failure is kept: a read fills the caller's buffer one read from the connection at
    a time, and a failure after some returns those (the next read resumes), so a whole blob read
    in one call does not start over. A registry that honours the range answers 206 and the stream goes on;
    one that ignores it answers 200, and the bytes already handed out are skipped. Verification is
    not this reader's job: wrap it in a :class:`~ocimodel.VerifyingReader`, whose hash state
    simply carries on across resumptions. The number of resumptions is bounded by the client's
    retry policy.
    """

    def __init__(self, client: Client, repository: Repository, digest: Hash) -> None:
        super().__init__()
        self._client = client
        self._repository = repository
        self._digest = digest
        self._offset = 0
        self._failures = 0
        self._response: urllib3.BaseHTTPResponse | None = client.get_blob(repository, digest)
        #: The blob's length as the first answer's ``Content-Length`` claims it (``None`` if it
        #: did not say): a claim for a verifying reader to check, not a fact.
        self.declared_size = content_length(self._response.headers.get("Content-Length"))
        #: How many times the download was resumed (for tests and logs).
        self.resumptions = 0

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        self._client.check_cancelled()
        filled = 0
        while filled < len(view):
            try:
                if self._response is None:
                    self._resume()
                    continue
                count = _read_body_into(self._response, view[filled:])
            except (urllib3.exceptions.HTTPError, OSError) as error:
                self._broken(error)
                if filled:
                    break  # hand out what arrived; the next read resumes after it
                continue
            if not count:
                break
            filled += count
            self._offset += count
        return filled

    def _broken(self, error: Exception) -> None:
        self._failures += 1
        self._close_response()
        if self._failures >= self._client.retry.attempts:
            raise TransportError(
                f"GET blob {self._digest} from {self._repository}: gave up after {self._failures} broken reads "
                f"at byte {self._offset}: {error}"
            ) from error
        log.debug("blob %s broke at byte %d (%s); resuming", self._digest, self._offset, error)

    def _resume(self) -> None:
        """Ask for the rest from ``Range: bytes=<offset>-``. A 206 must start where asked (its
        ``Content-Range`` says); one that starts earlier has its extra bytes skipped, and a 200
        (the range ignored) has everything already handed out skipped. A 416, or a 206 that
        starts later or does not say where, gets the whole blob again, skipped up to the offset."""
        self.resumptions += 1
        try:
            response = self._client.get_blob(self._repository, self._digest, start=self._offset)
        except RegistryError as error:
            if error.status != 416:
                raise
            # Range is an optimisation: a registry (or a proxy) that refuses it gets the plain GET
            log.debug("blob %s: Range refused (%s); reading from the start", self._digest, error)
            response = self._client.get_blob(self._repository, self._digest)
        starts_at = 0 if response.status == 200 else _range_start(response)
        if starts_at is None or starts_at > self._offset:
            log.debug("blob %s: the 206 does not start at byte %d; reading from the start", self._digest, self._offset)
            release(response)
            response = self._client.get_blob(self._repository, self._digest)
            starts_at = 0
        self._response = response  # kept before skipping: a break while skipping is a break like any
        remaining = self._offset - starts_at
        while remaining:
            skipped = response.read(min(_SKIP, remaining))
            if not skipped:
                raise urllib3.exceptions.ProtocolError(f"the answer ended {remaining} bytes before byte {self._offset}")
            remaining -= len(skipped)
        log.debug("resumed blob %s at byte %d (%s)", self._digest, self._offset, response.status)

    def _close_response(self) -> None:
        if self._response is not None:
            release(self._response)
            self._response = None

    def close(self) -> None:
        if not self.closed:
            self._close_response()
            super().close()

    def __repr__(self) -> str:
        return f"<BlobReader {redact_url(str(self._digest))}>"
