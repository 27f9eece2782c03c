"""Content digests: the :class:`Hash` value, a streaming :class:`Hasher`, and a :class:`VerifyingReader`.

A digest is ``algorithm:hex`` as the OCI image-spec defines it. ``sha256`` is what every registry
speaks; ``sha512`` is accepted wherever the spec allows it (a registry may still refuse it).
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Final

import attrs

from ocimodel._streams import Readable, Reader, read_into
from ocimodel.errors import BadDigestError, DigestMismatch, SizeMismatch

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

__all__ = ["ALGORITHMS", "Hash", "Hasher", "VerifyingReader"]

#: The digest algorithms ocimodel can compute and verify, with the length of their hex encoding.
ALGORITHMS: Final = {"sha256": 64, "sha512": 128}

_LOWER_HEX = re.compile(r"[0-9a-f]*")
_CHUNK = 1 << 20


def _check_algorithm(_: object, __: object, algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        supported = ", ".join(ALGORITHMS)
        raise BadDigestError(f"unsupported digest algorithm {algorithm!r}: expected one of {supported}")


@attrs.frozen(order=True)
class Hash:
    """A content digest such as ``sha256:e3b0c442…``: immutable, hashable, ordered.

    >>> h = Hash.parse("sha256:" + 64 * "a")
    >>> h.algorithm, len(h.hex)
    ('sha256', 64)
    >>> str(Hash.sha256(b""))
    'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

    The constructor validates: the algorithm must be one of :data:`ALGORITHMS` and the hex must
    be lower case and exactly as long as that algorithm's digest, else :class:`BadDigestError`
    (a :class:`ValueError`) is raised.
    """

    algorithm: str = attrs.field(validator=_check_algorithm)
    hex: str = attrs.field()

    @hex.validator
    def _check_hex(self, _: object, value: str) -> None:
        want = ALGORITHMS[self.algorithm]
        if len(value) != want or not _LOWER_HEX.fullmatch(value):
            raise BadDigestError(
                f"bad {self.algorithm} digest {value!r}: expected {want} lower-case hexadecimal characters"
            )

    @classmethod
    def parse(cls, text: str) -> Hash:
        """Parse ``algorithm:hex``; raise :class:`BadDigestError` if it is not a valid digest."""
        if not isinstance(text, str):
            raise BadDigestError(f"a digest must be a string like 'sha256:<hex>', not {type(text).__name__}")
        algorithm, sep, hex_ = text.partition(":")
        if not sep:
            raise BadDigestError(f"bad digest {text!r}: expected 'algorithm:hex', e.g. 'sha256:<64 hex digits>'")
        return cls(algorithm, hex_)

    @classmethod
    def of(cls, data: ReadableBuffer, algorithm: str = "sha256") -> Hash:
        """The digest of some bytes."""
        _check_algorithm(None, None, algorithm)
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    @classmethod
    def sha256(cls, data: ReadableBuffer) -> Hash:
        """The sha256 digest of some bytes."""
        return cls("sha256", hashlib.sha256(data).hexdigest())

    @classmethod
    def of_stream(cls, stream: Readable, algorithm: str = "sha256") -> tuple[Hash, int]:
        """Read a binary stream to its end; return its digest and its length in bytes."""
        hasher = Hasher(algorithm)
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
        return hasher.digest(), hasher.size

    def hasher(self) -> Hasher:
        """A new, empty :class:`Hasher` of this digest's algorithm."""
        return Hasher(self.algorithm)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class Hasher:
    """A streaming digest that also counts bytes: feed it with :meth:`update`, read :meth:`digest`.

    :meth:`digest` may be called at any time and does not end the stream, so a download can be
    resumed with the state it had (see :meth:`copy`).
    """

    __slots__ = ("_hash", "algorithm", "size")

    def __init__(self, algorithm: str = "sha256") -> None:
        _check_algorithm(None, None, algorithm)
        self.algorithm = algorithm
        self.size = 0
        self._hash = hashlib.new(algorithm)

    def update(self, data: ReadableBuffer) -> None:
        """Add bytes to the stream."""
        self._hash.update(data)
        self.size += memoryview(data).nbytes

    def digest(self) -> Hash:
        """The digest of everything seen so far."""
        return Hash(self.algorithm, self._hash.hexdigest())

    def copy(self) -> Hasher:
        """An independent hasher with the same state."""
        twin = Hasher.__new__(Hasher)
        twin.algorithm, twin.size, twin._hash = self.algorithm, self.size, self._hash.copy()
        return twin


class VerifyingReader(Reader):
    """A binary reader that checks its content against a digest and, if known, a size.

    It wraps another binary stream (a file, an HTTP response) and passes bytes through. When the
    expected size is known, the bytes that complete it are not returned until the digest has been
    checked, and any byte beyond it raises; when the size is unknown, the digest is checked when the
    underlying stream ends. A failed check raises :class:`~ocimodel.errors.DigestMismatch` (or its
    subclass :class:`~ocimodel.errors.SizeMismatch`), and every later read raises it again.

    Closing the reader closes the wrapped stream.
    """

    def __init__(self, raw: Readable, expected: Hash, size: int | None = None, *, what: str = "") -> None:
        super().__init__()
        if size is not None and size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        self._raw = raw
        self._expected = expected
        self._size = size
        self._what = what or f"content {expected}"
        self._hasher = expected.hasher()
        self._error: DigestMismatch | None = None
        self._done = False

    @property
    def expected(self) -> Hash:
        """The digest the content must have."""
        return self._expected

    @property
    def size(self) -> int | None:
        """The size the content must have, if it was given."""
        return self._size

    @property
    def bytes_read(self) -> int:
        """How many bytes have passed through so far."""
        return self._hasher.size

    @property
    def verified(self) -> bool:
        """Whether the whole content has been read and matched its digest (and size)."""
        return self._done and self._error is None

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._error is not None:
            raise self._error
        if self._done:
            return 0
        view = memoryview(buffer).cast("B")
        if self._size is not None:
            remaining = self._size - self._hasher.size
            if remaining == 0:
                self._expect_end()
                return 0
            view = view[:remaining]
        count = self._read_raw(view)
        if count == 0:
            self._finish()
            return 0
        self._hasher.update(view[:count])
        if self._size is not None and self._hasher.size == self._size:
            self._check_digest()
        return count

    def close(self) -> None:
        if not self.closed:
            try:
                close = getattr(self._raw, "close", None)
                if close is not None:
                    close()
            finally:
                super().close()

    def _read_raw(self, view: memoryview) -> int:
        return read_into(self._raw, view)

    def _expect_end(self) -> None:
        extra = self._raw.read(1)
        if extra:
            assert self._size is not None
            self._fail(SizeMismatch(self._what, self._expected, self._size, self._size + len(extra)))
        self._done = True

    def _finish(self) -> None:
        if self._size is not None and self._hasher.size != self._size:
            self._fail(SizeMismatch(self._what, self._expected, self._size, self._hasher.size))
        self._check_digest()
        self._done = True

    def _check_digest(self) -> None:
        actual = self._hasher.digest()
        if actual != self._expected:
            self._fail(DigestMismatch(self._what, self._expected, actual))

    def _fail(self, error: DigestMismatch) -> None:
        self._error = error
        raise error
