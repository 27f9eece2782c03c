"""A pytest plugin (registered on install): the ``oci_registry`` fixture, an embedded registry.

Use it in your own tests::

    def test_my_tool_pushes(oci_registry):
        my_tool.push(f"{oci_registry.host}/app:v1")
        assert remote.head(f"{oci_registry.host}/app:v1")

Each test gets a fresh, empty registry in memory on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ocimodel.registry import Registry


@pytest.fixture
def oci_registry() -> Iterator[Registry]:
    """An empty in-memory OCI registry on 127.0.0.1 for one test (its address is ``.host``)."""
    from ocimodel.registry import Registry  # here, so that pytest starting up imports nothing more

    with Registry() as served:
        yield served
