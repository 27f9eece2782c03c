"""Every error ocimodel raises on purpose, in one place.

All of them derive from :class:`OCIError`, so ``except ocimodel.errors.OCIError`` catches anything
the library means to report. The branches are the things a caller can act on::

    OCIError
    ├── BadNameError           (ValueError)  a registry, repository, tag or digest reference is malformed
    ├── BadDigestError         (ValueError)  a digest string is malformed or names an unsupported algorithm
    ├── BadPlatformError       (ValueError)  a platform string is malformed
    ├── BadJSONError           (ValueError)  a document is not JSON, or not the JSON the spec describes
    ├── DigestMismatch                       content does not hash to the digest that names it
    │   └── SizeMismatch                     content is longer or shorter than its descriptor says
    ├── UnsupportedMediaType                 a media type that cannot be handled here (schema 1 included)
    ├── BackendNotInstalled    (ValueError)  a compressor asked for by name is not installed
    ├── DocumentTooLarge                     a document read whole is larger than its descriptor or the cap
    │   └── ManifestTooLarge                 a manifest or index is larger than the cap
    ├── BlobTooLarge                         a blob whose size nothing stated ran past the cap on such blobs
    ├── IndexTooDeep                         indexes nest indexes deeper than the cap
    ├── NoSuchBlob             (LookupError) an image or index has no layer, blob or child with that digest
    ├── NoMatchingPlatform     (LookupError) no child of an index suits the platform asked for
    ├── BadLayerError          (ValueError)  content that cannot be a layer, a layer or tarball that cannot be read
    ├── NotComputed                          a single-pass layer was asked for its digest before being read
    ├── StreamConsumed                       a single-pass layer was read a second time
    ├── BadReturnValue         (TypeError)   a subclass's method returned what cannot stand for its type
    ├── ValidationError                      an image, index or layer disagrees with itself (``validate``)
    ├── CredentialsError                     a credentials file, credential helper or TLS file could not be used
    ├── Cancelled                            the caller's ``cancel`` event was set
    ├── NotWritable            (OSError)     an output path is a directory, a socket or a block device
    ├── NotReadable            (OSError)     an input path is not a regular file: a FIFO, a device, a directory
    ├── TransportError                       no answer from a registry: connection refused, reset, timed out
    │   └── UntrustedCertificate             the registry's TLS certificate is not trusted
    ├── InsecureRedirect                     a registry sent us somewhere we must not go (SSRF guard)
    └── RegistryError                        a registry answered with an error status
        ├── Unauthorized                     401 / UNAUTHORIZED: credentials missing or rejected
        ├── Denied                           403 / DENIED: authenticated, but not allowed
        ├── NotFound                         404 / *_UNKNOWN: no such repository, manifest, blob or upload
        ├── TooManyRequests                  429 / TOOMANYREQUESTS: rate limited
        ├── InvalidRequest                   400 / *_INVALID, UNSUPPORTED: the registry refused what was sent
        └── ServerError                      5xx / UNKNOWN, UNAVAILABLE: the registry failed

The ``Bad*Error`` classes are also :class:`ValueError`, so code that already guards parsing with
``except ValueError`` keeps working. Messages say what was expected; they never contain
credentials (URLs in registry errors are redacted by the transport before they get here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ocimodel.hashing import Hash

__all__ = [
    "BackendNotInstalled",
    "BadDigestError",
    "BadJSONError",
    "BadLayerError",
    "BadNameError",
    "BadPlatformError",
    "BadReturnValue",
    "BlobTooLarge",
    "Cancelled",
    "CredentialsError",
    "Denied",
    "Diagnostic",
    "DigestMismatch",
    "DocumentTooLarge",
    "IndexTooDeep",
    "InsecureRedirect",
    "InvalidRequest",
    "ManifestTooLarge",
    "NoMatchingPlatform",
    "NoSuchBlob",
    "NotComputed",
    "NotFound",
    "NotReadable",
    "NotWritable",
    "OCIError",
    "RegistryError",
    "ServerError",
    "SizeMismatch",
    "StreamConsumed",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "UnsupportedMediaType",
    "UntrustedCertificate",
    "ValidationError",
    "registry_error_class",
]


class OCIError(Exception):
    """Root of every error ocimodel raises on purpose.

    Its message never holds a credential the process sent: a server may echo one anywhere (in a
    redirect's ``Location``, a realm, a header a message quotes, not only in an error body), so
    every one sent so far (:func:`ocimodel._mask.sent`) is masked as ``<redacted>``, in the
    spellings :func:`ocimodel._mask.mask` knows, when the error is made."""

    def __init__(self, *args: object) -> None:
        super().__init__(*_masked(args))


def _masked(args: tuple[object, ...]) -> tuple[object, ...]:
    """``args`` with the credentials sent masked in the message (the first, if it is text)."""
    if not args or not isinstance(args[0], str):
        return args
    from ocimodel._mask import mask, sent  # here: most errors come where nothing was ever sent

    secrets = sent()
    return (mask(args[0], secrets, short=False), *args[1:]) if secrets else args


class BadNameError(OCIError, ValueError):
    """A registry, repository, tag or digest reference could not be parsed.

    The message names the part that is wrong and what it may contain.
    """


class BadDigestError(OCIError, ValueError):
    """A digest string (``algorithm:hex``) is malformed or uses an unsupported algorithm."""


class BadPlatformError(OCIError, ValueError):
    """A platform string is not ``os/arch[/variant][:os.version]``."""


class BadJSONError(OCIError, ValueError):
    """A document is not valid JSON, or does not have the shape the spec describes.

    :ivar what: the kind of document, e.g. ``"image manifest"``.
    :ivar problems: one entry per bad field, each naming its JSON path (``$.layers[3].digest``).
    """

    def __init__(self, what: str, problems: Sequence[str]) -> None:
        self.what = what
        self.problems = tuple(problems)
        super().__init__(f"invalid {what}: " + "; ".join(self.problems))

    def __reduce__(self) -> tuple[type[BadJSONError], tuple[str, tuple[str, ...]]]:
        return (type(self), (self.what, self.problems))


class DigestMismatch(OCIError):
    """Content does not hash to the digest that names it.

    Raised by every verifying reader when a blob or manifest turns out not to be what its
    descriptor promised. Nothing that failed verification is handed on as verified.

    :ivar what: what was being read, e.g. ``"blob sha256:ab…"``.
    :ivar expected: the digest the content should have had.
    :ivar actual: the digest the content really had (``None`` if the read stopped early).
    """

    def __init__(self, what: str, expected: Hash, actual: Hash | None, message: str = "") -> None:
        self.what = what
        self.expected = expected
        self.actual = actual
        super().__init__(message or f"{what}: content does not match its digest: expected {expected}, got {actual}")

    def __reduce__(self) -> tuple[type[DigestMismatch], tuple[str, Hash, Hash | None, str]]:
        return (type(self), (self.what, self.expected, self.actual, str(self)))


class SizeMismatch(DigestMismatch):
    """Content is longer or shorter than its descriptor says (a kind of digest mismatch).

    :ivar expected_size: the size the descriptor promised.
    :ivar actual_size: the bytes seen (for an over-long stream, at least this many).
    """

    def __init__(self, what: str, expected: Hash, expected_size: int, actual_size: int, message: str = "") -> None:
        self.expected_size = expected_size
        self.actual_size = actual_size
        relation = "at least " if actual_size > expected_size else ""
        super().__init__(
            what,
            expected,
            None,
            message or f"{what}: expected {expected_size} bytes, got {relation}{actual_size}",
        )

    def __reduce__(self) -> tuple[type[SizeMismatch], tuple[str, Hash, int, int, str]]:  # type: ignore[override]
        return (type(self), (self.what, self.expected, self.expected_size, self.actual_size, str(self)))


class UnsupportedMediaType(OCIError):
    """A media type that cannot be handled where it was met (Docker schema 1 included)."""


class BackendNotInstalled(OCIError, ValueError):
    """A gzip or zstd implementation asked for by name (``backend=``, ``compression_backend=``,
    ``$OCIMODEL_GZIP_BACKEND``) is not installed or not known; the message lists those installed."""


class DocumentTooLarge(OCIError):
    """A document that is read whole (a config, docker's ``manifest.json``, a credentials file) is
    larger than the cap on documents (:data:`ocimodel.limits.Limits.document`, 4 MiB by default)
    or than its descriptor says: it is refused before it is read. The message names the document
    and the option that moves the cap."""


class ManifestTooLarge(DocumentTooLarge):
    """A manifest or index body is larger than the configured cap (4 MiB by default, the
    distribution registry's own limit: ``manifest_limit=`` for one fetched from a registry), or a
    registry's listing is longer than its own (``list_limit=``)."""


class BlobTooLarge(OCIError):
    """A blob whose size nothing stated (no descriptor, no ``Content-Length`` on its ``GET`` nor
    on its ``HEAD``) ran past the cap on such blobs (``blob_limit=``, 1 GiB by default): it is not
    read on, so a registry cannot decide how long we read. The message names the blob and the
    option that moves the cap."""


class IndexTooDeep(OCIError):
    """An index nests indexes deeper than the cap (:data:`ocimodel.limits.Limits.index_depth`, 16
    by default): every walk through an index (validating, writing, pushing, choosing a platform)
    stops there, in bounded time and stack. The message names the index and the option."""


class NoSuchBlob(OCIError, LookupError):
    """An image or index has no layer, blob or child with the digest asked for."""


class NoMatchingPlatform(OCIError, LookupError):
    """No child of an index suits the platform asked for; the message lists those available."""


class BadLayerError(OCIError, ValueError):
    """Content that cannot become a layer (a socket, a file that changed while read), a layer
    that cannot be unpacked safely (a path that escapes the root) or at all (a tar cut short or
    corrupt: the message names the layer and the entry), or a tarball of images (``docker save``)
    that cannot be read (the message names the file and the entry)."""


class NotComputed(OCIError):
    """A single-pass (stream) layer was asked for its digest, diff_id or size before its content
    was read once through :meth:`~ocimodel.Layer.compressed`; read it first (writers do)."""


class StreamConsumed(OCIError):
    """A single-pass (stream) layer's content was asked for a second time."""


class BadReturnValue(OCIError, TypeError):
    """A method of an :class:`~ocimodel.Image`, :class:`~ocimodel.ImageIndex` or
    :class:`~ocimodel.Layer` subclass returned something that cannot stand for what it should (a
    media type that is not a string, a stream that is not a file, bytes or chunks, …); the
    message names the method and the value. Plain values are accepted where they can: a ``str``
    for a media type or a digest, ``bytes``, ``str`` or a ``dict`` for a manifest."""


class Cancelled(OCIError):
    """The caller set the ``cancel`` event it passed: the operation stopped between requests or
    chunks (what it had finished stays done; nothing half-written is left)."""


class NotWritable(OCIError, OSError):
    """An output path holds something a file cannot be written to: a directory, a socket or a
    block device (a FIFO or a character device is written into; a regular file or a symbolic link
    to one is replaced atomically). Also an :class:`OSError`, as ``open`` would raise."""


class NotReadable(OCIError, OSError):
    """An input path holds something ocimodel does not read from: a FIFO, a socket, a device or
    a directory where a file (a layout's ``index.json`` or blob, a tarball, a layer file, a
    credentials file) was expected. Refused at once, without waiting for a writer or reading a
    device; an :class:`OSError` too, as ``open`` would raise."""


class CredentialsError(OCIError):
    """A credentials file could not be read, a credential helper failed or is missing, or a CA
    file or client certificate given to a client cannot be used."""


class TransportError(OCIError):
    """A registry did not answer: the connection was refused, reset or timed out (after retries).

    :ivar method: the request method.
    :ivar url: the request URL, with secrets redacted.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        self.method = method
        self.url = url
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_transport_error, (type(self), str(self), self.method, self.url))


def _rebuild_transport_error(cls: type[TransportError], message: str, method: str, url: str) -> TransportError:
    return cls(message, method=method, url=url)


class UntrustedCertificate(TransportError):
    """The registry's TLS certificate did not verify: pass ``ca_file=`` (or set ``SSL_CERT_FILE``)
    to trust its CA, or, knowingly, ``verify=False``."""


class InsecureRedirect(OCIError):
    """A registry pointed at a place ocimodel refuses to go: a token realm, upload location or
    link on a private or loopback address the registry itself is not on, or a non-http scheme."""


class ValidationError(OCIError):
    """An image, index or layer disagrees with itself: ``validate`` names the first inconsistency."""


@attrs.frozen
class Diagnostic:
    """One entry of a distribution-spec error body: ``{"code", "message", "detail"}``."""

    code: str
    message: str = ""
    detail: object = None

    def __str__(self) -> str:
        text = f"{self.code}: {self.message}" if self.message else self.code
        if self.detail not in (None, "", {}, []):
            text += f"; {self.detail}"
        return text


class RegistryError(OCIError):
    """A registry answered with an error status.

    :ivar status: the HTTP status code.
    :ivar method: the request method.
    :ivar url: the request URL, with secrets redacted.
    :ivar diagnostics: the parsed distribution-spec ``errors`` list (may be empty).
    :ivar retry_after: the answer's ``Retry-After`` header, as sent (``None`` if absent): how long
        the registry asked to be left alone before a retry.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str = "",
        url: str = "",
        diagnostics: Sequence[Diagnostic] = (),
        retry_after: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.diagnostics = tuple(diagnostics)
        self.retry_after = retry_after
        super().__init__(message)

    @property
    def codes(self) -> tuple[str, ...]:
        """The distribution-spec error codes the registry sent, in order."""
        return tuple(d.code for d in self.diagnostics)

    def __reduce__(self) -> tuple[object, ...]:
        state = {
            "status": self.status,
            "method": self.method,
            "url": self.url,
            "diagnostics": self.diagnostics,
            "retry_after": self.retry_after,
        }
        return (_rebuild_registry_error, (type(self), str(self), state))


def _rebuild_registry_error(cls: type[RegistryError], message: str, state: dict[str, object]) -> RegistryError:
    return cls(message, **state)  # type: ignore[arg-type]


class Unauthorized(RegistryError):
    """401 or ``UNAUTHORIZED``: credentials are missing or were rejected."""


class Denied(RegistryError):
    """403 or ``DENIED``: the credentials are valid but not allowed to do this."""


class NotFound(RegistryError):
    """404 or ``BLOB_UNKNOWN``, ``MANIFEST_UNKNOWN``, ``NAME_UNKNOWN``, ``BLOB_UPLOAD_UNKNOWN``."""


class TooManyRequests(RegistryError):
    """429 or ``TOOMANYREQUESTS``: the registry is rate limiting this client."""


class InvalidRequest(RegistryError):
    """400-class refusal: ``*_INVALID``, ``MANIFEST_BLOB_UNKNOWN``, ``UNSUPPORTED``, …"""


class ServerError(RegistryError):
    """5xx, ``UNKNOWN`` or ``UNAVAILABLE``: the registry itself failed."""


# Distribution-spec codes (plus distribution's UNAVAILABLE), each mapped to the branch a caller acts on.
_CODE_CLASSES: dict[str, type[RegistryError]] = {
    "UNAUTHORIZED": Unauthorized,
    "DENIED": Denied,
    "BLOB_UNKNOWN": NotFound,
    "BLOB_UPLOAD_UNKNOWN": NotFound,
    "MANIFEST_UNKNOWN": NotFound,
    "NAME_UNKNOWN": NotFound,
    "TOOMANYREQUESTS": TooManyRequests,
    "BLOB_UPLOAD_INVALID": InvalidRequest,
    "DIGEST_INVALID": InvalidRequest,
    "MANIFEST_BLOB_UNKNOWN": InvalidRequest,
    "MANIFEST_INVALID": InvalidRequest,
    "MANIFEST_UNVERIFIED": InvalidRequest,
    "NAME_INVALID": InvalidRequest,
    "SIZE_INVALID": InvalidRequest,
    "TAG_INVALID": InvalidRequest,
    "UNSUPPORTED": InvalidRequest,
    "METHOD_UNKNOWN": InvalidRequest,
    "UNKNOWN": ServerError,
    "UNAVAILABLE": ServerError,
}

_STATUS_CLASSES: dict[int, type[RegistryError]] = {
    401: Unauthorized,
    403: Denied,
    404: NotFound,
    429: TooManyRequests,
}


def registry_error_class(status: int, codes: Sequence[str] = ()) -> type[RegistryError]:
    """Pick the :class:`RegistryError` subclass for an HTTP status and its error codes.

    The first known error code decides, since registries are more precise in codes than in
    statuses (some answer 400 or 401 where 404 or 403 is meant); without one, the status decides.
    """
    for code in codes:
        if code in _CODE_CLASSES:
            return _CODE_CLASSES[code]
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return InvalidRequest
    return RegistryError
