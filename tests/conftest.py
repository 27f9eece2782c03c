"""Shared fixtures: the real registry in its three set-ups, a token server, a fault proxy."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ocimodel._mask import forget
from ocimodel.registry import Registry
from tests.harness import quirks
from tests.harness.distribution import DistributionRegistry
from tests.harness.faultproxy import FaultProxy
from tests.harness.quirk_site import Upstream
from tests.harness.tls import client_certificate, self_signed
from tests.harness.tokenserver import ISSUER, PASSWORD, SERVICE, USER, TokenServer

# The command-line tests send SIGINT as Ctrl-C would, to children started as a terminal starts
# them. A shell that runs the suite in the background starts it with SIGINT ignored, which every
# child would inherit (an ignored signal stays ignored across exec, and the command line keeps it
# so, as it should): give the children the default disposition back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

settings.register_profile("default", deadline=None, max_examples=100)
settings.register_profile(
    "ci", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(autouse=True)
def _nothing_sent_yet() -> None:
    """Each test starts with no credential remembered as sent: every error masks those the
    process sent (ocimodel._mask), and one test's password ("unknown") must not mask the words
    of another's messages."""
    forget()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionRegistry]:
    """One real distribution registry for the whole session (plain http, no auth).

    Tests share it, so each should use repository names of its own.
    """
    with DistributionRegistry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionRegistry]:
    """The registry over https (a self-signed certificate) with htpasswd basic auth
    (``testuser``/``testpass``); its certificate is ``basic_registry.tls[0]``."""
    folder = tmp_path_factory.mktemp("basic-registry")
    cert, key, _ = self_signed(folder)
    htpasswd = folder / "htpasswd"
    assert shutil.which("htpasswd"), "htpasswd is not on PATH: run scripts/install-system-deps"
    made = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True)
    htpasswd.write_text(made.stdout)
    auth = f"auth:\n  htpasswd:\n    realm: ocimodel-test\n    path: {htpasswd}\n"
    with DistributionRegistry(folder, tls=(cert, key), extra_config=auth) as running:
        yield running


@pytest.fixture(scope="session")
def mtls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DistributionRegistry, tuple[Path, Path]]]:
    """The registry over https, requiring a client certificate; yields it and a (cert, key) it accepts."""
    folder = tmp_path_factory.mktemp("mtls-registry")
    cert, key, key_object = self_signed(folder)
    client = client_certificate(folder / "client", cert, key_object)
    with DistributionRegistry(folder, tls=(cert, key), client_cas=cert, probe_cert=client) as running:
        yield running, client


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    server = TokenServer(tmp_path_factory.mktemp("token-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, token_server: TokenServer
) -> Iterator[DistributionRegistry]:
    """The registry in ``auth: token`` mode, trusting :func:`token_server`'s signing key."""
    auth = (
        "auth:\n  token:\n"
        f"    realm: {token_server.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
        f"    rootcertbundle: {token_server.bundle}\n"
    )
    with DistributionRegistry(tmp_path_factory.mktemp("token-registry"), extra_config=auth) as running:
        yield running


@pytest.fixture(scope="session")
def embedded_registry() -> Iterator[Registry]:
    """ocimodel's own in-process registry, for the tests that run against both."""
    with Registry() as running:
        yield running


@pytest.fixture(params=["distribution", "embedded"])
def any_registry(
    request: pytest.FixtureRequest, registry: DistributionRegistry, embedded_registry: Registry
) -> DistributionRegistry | Registry:
    """The real distribution registry, then the embedded one: the same client tests run against
    both, so they behave alike where the spec says so."""
    return registry if request.param == "distribution" else embedded_registry


def _proxy(upstream: DistributionRegistry | Registry) -> Iterator[FaultProxy]:
    proxy = FaultProxy("127.0.0.1", upstream.port)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def fault_proxy(any_registry: DistributionRegistry | Registry) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of each plain registry in turn, fresh for each test."""
    yield from _proxy(any_registry)


@pytest.fixture
def distribution_proxy(registry: DistributionRegistry) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the distribution registry only (for its own quirks)."""
    yield from _proxy(registry)


@pytest.fixture
def token_fault_proxy(token_registry: DistributionRegistry) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the token-auth registry."""
    yield from _proxy(token_registry)


@pytest.fixture(scope="session")
def quirks_token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    """The registry in ``auth: token`` mode for the quirks harness: its token server knows the
    accounts of the hosted-registry profiles and grants what each is allowed."""
    tokens = TokenServer(tmp_path_factory.mktemp("quirks-tokens"), users=quirks.token_users(), policy=quirks.grant)
    tokens.start()
    folder = tmp_path_factory.mktemp("quirks-token-registry")
    with DistributionRegistry(folder, extra_config=tokens.registry_config()) as running:
        yield Upstream(running.port, tokens)
    tokens.stop()
