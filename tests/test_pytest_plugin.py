"""The ``oci_registry`` fixture users get from the installed pytest plugin."""

from __future__ import annotations

from ocimodel import random, remote
from ocimodel.registry import Registry


def test_the_fixture_is_an_empty_registry(oci_registry: Registry) -> None:
    assert remote.catalog(oci_registry.host) == []
    image = random.image(100, 1, seed=1)
    remote.write(f"{oci_registry.host}/mine:v1", image)
    assert remote.head(f"{oci_registry.host}/mine:v1").digest == image.digest()
