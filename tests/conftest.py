"""Shared fixtures: the real registry, and hypothesis profiles."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.harness.distribution import DistributionRegistry

settings.register_profile("default", deadline=None, max_examples=100)
settings.register_profile(
    "ci", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionRegistry]:
    """One real distribution registry for the whole session (plain http, no auth).

    Tests share it, so each should use repository names of its own.
    """
    with DistributionRegistry(tmp_path_factory.mktemp("registry")) as running:
        yield running
