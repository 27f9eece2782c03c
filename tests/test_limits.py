"""The caps of :mod:`ocimodel.limits`: where they come from, and the JSON depth's exact edge."""

from __future__ import annotations

import pytest

from ocimodel import Manifest, limits
from ocimodel._json import loads
from ocimodel.errors import BadJSONError, IndexTooDeep, OCIError
from ocimodel.index import deeper
from ocimodel.limits import Limits


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, Limits(4 << 20, 64, 16)),
        ({"OCIMODEL_DOCUMENT_LIMIT": "100"}, Limits(100, 64, 16)),
        ({"OCIMODEL_JSON_DEPTH": " 8 ", "OCIMODEL_INDEX_DEPTH": "2"}, Limits(4 << 20, 8, 2)),
        ({"OCIMODEL_INDEX_DEPTH": ""}, Limits()),
    ],
)
def test_caps_come_from_the_environment(environ: dict[str, str], expected: Limits) -> None:
    assert Limits.from_environment(environ) == expected


@pytest.mark.parametrize("value", ["0", "-1", "4MiB", "1.5", "lots"])
def test_a_cap_that_is_not_a_positive_integer_is_refused_naming_it(value: str) -> None:
    with pytest.raises(OCIError, match=f"OCIMODEL_JSON_DEPTH must be a positive integer, got '{value}'"):
        Limits.from_environment({"OCIMODEL_JSON_DEPTH": value})
    with pytest.raises(ValueError, match="json_depth"):
        Limits(json_depth=0)


def test_use_puts_caps_in_force_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIMODEL_INDEX_DEPTH", "5")
    assert limits.current().index_depth == 5
    try:
        limits.use(Limits(index_depth=2))
        assert deeper(1, "x") == 2
        with pytest.raises(IndexTooDeep, match="index x is nested more than 2 indexes deep"):
            deeper(2, "x")
    finally:
        limits.use(None)
    assert limits.current().index_depth == 5


@pytest.mark.parametrize(("depth", "accepted"), [(63, True), (64, True), (65, False), (900, False), (30_000, False)])
def test_json_depth_edge(depth: int, accepted: bool) -> None:
    """The document object is the first level: 63 arrays inside it make 64."""
    data = '{"x":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    if accepted:
        assert isinstance(loads(data, "test"), dict)
    else:
        with pytest.raises(BadJSONError, match=r"invalid test: \$: arrays and objects nested more than 64 deep"):
            loads(data, "test")


def test_nan_is_not_json() -> None:
    with pytest.raises(BadJSONError, match="NaN is not valid JSON"):
        Manifest.from_json(b'{"schemaVersion": NaN}')
