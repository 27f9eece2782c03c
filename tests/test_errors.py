"""The error hierarchy and the mapping from registry answers to it."""

from __future__ import annotations

import pickle

import pytest

from ocimodel import errors
from ocimodel.errors import (
    BadDigestError,
    BadJSONError,
    BadLayerError,
    BadNameError,
    BadPlatformError,
    Denied,
    Diagnostic,
    DigestMismatch,
    InvalidRequest,
    ManifestTooLarge,
    NotFound,
    OCIError,
    RegistryError,
    ServerError,
    SizeMismatch,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    registry_error_class,
)


def test_every_public_error_is_an_oci_error() -> None:
    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    exceptions = [c for c in classes if issubclass(c, BaseException)]
    assert len(exceptions) == 29
    assert all(issubclass(c, OCIError) for c in exceptions)


def test_an_output_that_cannot_be_written_is_an_os_error_too() -> None:
    assert issubclass(errors.NotWritable, OSError)
    assert str(errors.NotWritable("cannot write to x: it is a socket")) == "cannot write to x: it is a socket"


@pytest.mark.parametrize("cls", [BadNameError, BadDigestError, BadPlatformError, BadJSONError, BadLayerError])
def test_parse_errors_are_value_errors(cls: type[Exception]) -> None:
    assert issubclass(cls, ValueError)


def test_branches() -> None:
    assert issubclass(SizeMismatch, DigestMismatch)
    registry_errors: list[type[Exception]] = [Unauthorized, Denied, NotFound, TooManyRequests, InvalidRequest]
    assert all(issubclass(cls, RegistryError) for cls in [*registry_errors, ServerError])
    not_value_errors: list[type[Exception]] = [UnsupportedMediaType, ManifestTooLarge, RegistryError, DigestMismatch]
    assert not any(issubclass(cls, ValueError) for cls in not_value_errors)


# The codes of the distribution-spec (plus distribution's UNAVAILABLE and the test registries' METHOD_UNKNOWN).
@pytest.mark.parametrize(
    ("status", "codes", "expected"),
    [
        (401, ["UNAUTHORIZED"], Unauthorized),
        (403, ["DENIED"], Denied),
        (404, ["BLOB_UNKNOWN"], NotFound),
        (404, ["BLOB_UPLOAD_UNKNOWN"], NotFound),
        (404, ["MANIFEST_UNKNOWN"], NotFound),
        (404, ["NAME_UNKNOWN"], NotFound),
        (429, ["TOOMANYREQUESTS"], TooManyRequests),
        (400, ["BLOB_UPLOAD_INVALID"], InvalidRequest),
        (400, ["DIGEST_INVALID"], InvalidRequest),
        (400, ["MANIFEST_BLOB_UNKNOWN"], InvalidRequest),
        (400, ["MANIFEST_INVALID"], InvalidRequest),
        (400, ["MANIFEST_UNVERIFIED"], InvalidRequest),
        (400, ["NAME_INVALID"], InvalidRequest),
        (400, ["SIZE_INVALID"], InvalidRequest),
        (400, ["TAG_INVALID"], InvalidRequest),
        (405, ["UNSUPPORTED"], InvalidRequest),
        (405, ["METHOD_UNKNOWN"], InvalidRequest),
        (500, ["UNKNOWN"], ServerError),
        (503, ["UNAVAILABLE"], ServerError),
        # the code wins over the status; unknown codes fall back to the status
        (401, ["DENIED"], Denied),
        (400, ["NAME_UNKNOWN"], NotFound),
        (404, ["SOMETHING_NEW", "MANIFEST_UNKNOWN"], NotFound),
        (401, [], Unauthorized),
        (403, [], Denied),
        (404, [], NotFound),
        (429, [], TooManyRequests),
        (400, [], InvalidRequest),
        (418, ["SOMETHING_NEW"], InvalidRequest),
        (502, [], ServerError),
        (302, [], RegistryError),
    ],
)
def test_registry_error_class(status: int, codes: list[str], expected: type[RegistryError]) -> None:
    assert registry_error_class(status, codes) is expected


def test_registry_error_carries_the_request_and_diagnostics() -> None:
    diagnostics = [Diagnostic("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": "v1"}), Diagnostic("NAME_UNKNOWN")]
    error = NotFound(
        "GET https://r.example/v2/x/manifests/v1: MANIFEST_UNKNOWN",
        status=404,
        method="GET",
        url="https://r.example/v2/x/manifests/v1",
        diagnostics=diagnostics,
    )
    assert error.codes == ("MANIFEST_UNKNOWN", "NAME_UNKNOWN")
    assert str(diagnostics[0]) == "MANIFEST_UNKNOWN: manifest unknown; {'Tag': 'v1'}"
    assert str(diagnostics[1]) == "NAME_UNKNOWN"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is NotFound
    assert (copy.status, copy.method, copy.url, copy.diagnostics, str(copy)) == (
        404,
        "GET",
        "https://r.example/v2/x/manifests/v1",
        tuple(diagnostics),
        str(error),
    )


def test_bad_json_error_lists_its_problems_and_pickles() -> None:
    error = BadJSONError("image manifest", ["$.config: required field missing", "$.layers[0].size: negative"])
    assert str(error) == "invalid image manifest: $.config: required field missing; $.layers[0].size: negative"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.what, copy.problems, str(copy)) == (error.what, error.problems, str(error))
