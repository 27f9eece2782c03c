"""Every operation through every hosted registry's quirks: push, pull, copy, list, referrers,
``ocimodel copy`` and the copy of every tag of a repository, each against the real distribution
registry behind a profile of ``tests/harness/quirks.py`` (and against the embedded registry where
no token auth is involved).

Each cell checks the result (digests, tags, referrers) against the registry itself, read behind
the quirks, and that no credential of one host went to another. A cell that fails because of a
library bug is marked ``xfail`` (strict) with the behaviour that is wrong.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import urllib3

from ocimodel import Descriptor, authn, layout, mutate, random, remote
from ocimodel.errors import OCIError
from ocimodel.image import Image
from ocimodel.registry import Registry
from ocimodel.transport import RetryPolicy
from tests.harness.distribution import DistributionRegistry
from tests.harness.quirk_behaviours import Behaviour, Forward, Request, Response
from tests.harness.quirk_site import HarnessError, QuirkProxy, Site, Upstream
from tests.harness.quirks import ADMIN, PROFILES, Profile

pytestmark = pytest.mark.registry

#: Quick retries: the quirks are about what is retried, not about waiting (Retry-After is honoured).
RETRY = RetryPolicy(backoff=0.05, factor=2.0, max_delay=2.0, budget=6.0)


class Cell:
    """One test's names and sessions: the repositories it uses, a client session with the
    profile's credentials, and an admin session that reads and seeds behind the quirks."""

    def __init__(self, site: Site, name: str) -> None:
        self.site = site
        self.namespace = name
        self.seed = zlib.crc32(name.encode())
        self.session = remote.Session(keychain=site.keychain(), retry=RETRY)
        admin = authn.Basic(*ADMIN) if site.content.tokens is not None else authn.Anonymous
        self.admin = remote.Session(auth=admin, retry=RETRY)

    def ref(self, repository: str, tag: str) -> str:
        """``repository:tag`` through the registry under test."""
        return f"{self.site.host}/{self.namespace}/{repository}:{tag}"

    def write_ref(self, repository: str, tag: str) -> str:
        """``repository:tag`` where pushes go (the registry, or a read-only gateway's mirror)."""
        return f"{self.site.write_host}/{self.namespace}/{repository}:{tag}"

    def behind(self, repository: str, tag: str) -> str:
        """``repository:tag`` on the registry itself, behind the quirks."""
        return f"{self.site.content.host}/{self.namespace}/{repository}:{tag}"

    def seeded(self, repository: str, tag: str, image: Image) -> Image:
        remote.write(self.behind(repository, tag), image, session=self.admin)
        return image

    def digest_behind(self, repository: str, tag: str) -> str:
        return str(remote.head(self.behind(repository, tag), session=self.admin).digest)


def _compressed(image: Image) -> list[bytes]:
    blobs = []
    for each in image.layers():
        with each.compressed() as stream:
            blobs.append(stream.read())
    return blobs


# ---------------------------------------------------------------------------------- operations


def push(cell: Cell, tmp_path: Path) -> None:
    """An image in Content-Range chunks (resumable), then another over the same tag."""
    first = random.image(40_000, 2, seed=cell.seed)
    chunked: remote.WriterOptions = {"monolithic_limit": 0, "chunked_threshold": 0, "chunk_size": 16 << 10}
    remote.write(cell.ref("app", "v1"), first, session=cell.session, **chunked)
    assert cell.digest_behind("app", "v1") == str(first.digest())
    second = random.image(3_000, 1, seed=cell.seed + 1)
    remote.write(cell.ref("app", "v1"), second, session=cell.session)
    assert cell.digest_behind("app", "v1") == str(second.digest())


def pull(cell: Cell, tmp_path: Path) -> None:
    """Manifest, config and every layer; the whole image into a layout; a layer by digest."""
    original = cell.seeded("app", "v1", random.image(30_000, 2, seed=cell.seed))
    pulled = remote.image(cell.ref("app", "v1"), session=cell.session)
    assert pulled.digest() == original.digest()
    assert pulled.raw_config_file() == original.raw_config_file()
    assert _compressed(pulled) == _compressed(original)
    into = layout.Layout(tmp_path / "layout")
    remote.pull(pulled, into)
    assert into.read_blob(original.digest()) == original.raw_manifest()
    assert into.read_blob(original.config_name()) == original.raw_config_file()
    assert [into.read_blob(each.digest()) for each in original.layers()] == _compressed(original)
    layer = original.manifest().layers[0].digest
    with remote.layer(f"{cell.site.host}/{cell.namespace}/app@{layer}", session=cell.session).compressed() as stream:
        assert stream.read() == _compressed(original)[0]


def copy(cell: Cell, tmp_path: Path) -> None:
    """From one repository to another in one session (blobs mounted where the registry can)."""
    original = cell.seeded("src", "v1", random.image(20_000, 2, seed=cell.seed))
    source = remote.image(cell.ref("src", "v1"), session=cell.session)
    remote.write(cell.write_ref("dst", "v1"), source, session=cell.session)
    assert cell.digest_behind("dst", "v1") == str(original.digest())


def list_tags(cell: Cell, tmp_path: Path) -> None:
    """Five tags, asked for two at a time and then in the default page size."""
    image = cell.seeded("app", "t1", random.image(500, 1, seed=cell.seed))
    for tag in ("t2", "t3", "t4", "t5"):
        remote.tag(cell.behind("app", tag), image, session=cell.admin)
    repository = f"{cell.site.host}/{cell.namespace}/app"
    assert sorted(remote.list_tags(repository, page_size=2, session=cell.session)) == ["t1", "t2", "t3", "t4", "t5"]
    assert sorted(remote.list_tags(repository, session=cell.session)) == ["t1", "t2", "t3", "t4", "t5"]


def copy_all_tags(cell: Cell, tmp_path: Path) -> None:
    """Every tag of a repository (five: two images under three tags, an index under two; listed
    in the profile's pages) to another, as ``copy --all-tags`` does, reported once each."""
    first = cell.seeded("src", "t1", random.image(700, 2, seed=cell.seed))
    second = cell.seeded("src", "t2", mutate.append_layers(first, random.layer(300, seed=cell.seed + 1)))
    remote.tag(cell.behind("src", "t3"), first, session=cell.admin)
    index = random.index(200, 1, 2, seed=cell.seed + 2)
    remote.write_index(cell.behind("src", "i1"), index, session=cell.admin)
    remote.tag(cell.behind("src", "i2"), index, session=cell.admin)
    reported: dict[str, str] = {}
    source, destination = cell.ref("src", "x").rpartition(":")[0], cell.write_ref("dst", "x").rpartition(":")[0]
    remote.copy_repository(
        source, destination, copied=lambda tag, digest: reported.update({tag: str(digest)}), session=cell.session
    )
    want = {
        "t1": first.digest(),
        "t2": second.digest(),
        "t3": first.digest(),
        "i1": index.digest(),
        "i2": index.digest(),
    }
    assert reported == {tag: str(digest) for tag, digest in want.items()}
    assert {tag: cell.digest_behind("dst", tag) for tag in want} == reported


def referrers(cell: Cell, tmp_path: Path) -> None:
    """A signature attached to a multi-platform index is its only referrer, before and after."""
    subject = random.index(300, 1, 2, seed=cell.seed)
    remote.write_index(cell.behind("app", "v1"), subject, session=cell.admin)
    at = f"{cell.site.host}/{cell.namespace}/app@{subject.digest()}"
    assert remote.referrers(at, session=cell.session).index_manifest().manifests == ()
    signature = random.image(100, 1, seed=cell.seed + 1)
    signature = mutate.config_media_type(signature, "application/vnd.example.sig.v1+json")
    signature = mutate.subject(signature, Descriptor(subject.media_type(), subject.size(), subject.digest()))
    remote.write(cell.write_ref("app", "sig"), signature, session=cell.session)
    found = remote.referrers(at, session=cell.session).index_manifest().manifests
    assert [d.digest for d in found] == [signature.digest()]


def cli_copy(cell: Cell, tmp_path: Path) -> None:
    """``ocimodel copy`` as a user runs it, credentials in a docker config of its own."""
    original = cell.seeded("src", "v1", random.image(20_000, 2, seed=cell.seed))
    repositories = [f"{cell.namespace}/src", f"{cell.namespace}/dst"]
    config = cell.site.docker_config(tmp_path / "docker", repositories)
    isolated = {"DOCKER_CONFIG": str(config), "REGISTRY_AUTH_FILE": "", "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "ocimodel", "copy", cell.ref("src", "v1"), cell.write_ref("dst", "v1")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **isolated, "XDG_CONFIG_HOME": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"/dst@{original.digest()}")
    assert cell.digest_behind("dst", "v1") == str(original.digest())


OPERATIONS: dict[str, Callable[[Cell, Path], None]] = {
    "push": push,
    "pull": pull,
    "copy": copy,
    "list": list_tags,
    "referrers": referrers,
    "cli-copy": cli_copy,
    "copy-all-tags": copy_all_tags,
}

#: Cells that fail because of the library: (profile, operation) -> the behaviour that is wrong
#: (each becomes a strict xfail, so a fix shows as an unexpected pass). None today.
LIBRARY_BUGS: dict[tuple[str, str], str] = {}


def _upstreams(profile: Profile) -> list[str]:
    """The embedded registry has no token auth: it stands behind the profiles that need none."""
    return ["distribution"] if profile.needs_tokens else ["distribution", "embedded"]


def _cells() -> Iterator[object]:
    for profile in PROFILES.values():
        for upstream in _upstreams(profile):
            for operation in OPERATIONS:
                marks = []
                if operation == "push" and not profile.writable:
                    marks.append(pytest.mark.skip(reason=f"{profile.registry}: nothing is pushed through it"))
                reason = LIBRARY_BUGS.get((profile.name, operation))
                if reason is not None:
                    marks.append(pytest.mark.xfail(reason=reason, strict=True, raises=(OCIError, AssertionError)))
                name = f"{profile.name}-{upstream}-{operation}"
                yield pytest.param(profile.name, upstream, operation, marks=marks, id=name)


@pytest.fixture(scope="module")
def upstreams(registry: DistributionRegistry, embedded_registry: Registry) -> dict[str, Upstream]:
    """The registries a profile stands in front of when it needs no token service."""
    return {"distribution": Upstream(registry.port), "embedded": Upstream(embedded_registry.port)}


#: What each profile's behaviours did, and which of its cells ran (for test_every_behaviour_was_met,
#: which runs after them).
MET: dict[str, Counter[str]] = defaultdict(Counter)
RAN: dict[str, set[str]] = defaultdict(set)


@pytest.mark.parametrize(("profile", "upstream", "operation"), list(_cells()))
def test_operation_through_profile(
    profile: str,
    upstream: str,
    operation: str,
    upstreams: dict[str, Upstream],
    quirks_token_registry: Upstream,
    tmp_path: Path,
) -> None:
    with Site(PROFILES[profile], upstreams[upstream], quirks_token_registry) as site:
        cell = Cell(site, f"{profile}-{operation}-{os.urandom(3).hex()}")
        try:
            OPERATIONS[operation](cell, tmp_path)
        finally:
            cell.session.close()
            cell.admin.close()
            MET[profile].update(site.fired)
            RAN[profile].add(f"{upstream}-{operation}")
        site.assert_no_cross_host_credentials()


#: Profiles whose behaviours cannot all be met because a library bug stops their cells first.
_MASKED: dict[str, str] = {}


@pytest.mark.parametrize(
    "profile",
    [
        pytest.param(name, marks=[pytest.mark.xfail(reason=_MASKED[name], strict=True)] if name in _MASKED else [])
        for name in PROFILES
    ],
)
def test_every_behaviour_was_met(profile: str) -> None:
    """After the profile's cells: each of its behaviours acted in at least one of them, so none
    passes for want of meeting its quirk (a pattern that never matches, say)."""
    quirks = PROFILES[profile]
    ran = {
        f"{upstream}-{op}" for upstream in _upstreams(quirks) for op in OPERATIONS if quirks.writable or op != "push"
    }
    if RAN[profile] != ran:
        pytest.skip("only part of the profile's matrix ran")
    behaviours = [*quirks.behaviours, *(quirks.token.quirks if quirks.token else ())]
    assert [repr(b) for b in behaviours if not MET[profile][repr(b)]] == []


# ---------------------------------------------------------------------------------- the harness


def test_storage_refuses_credentials_and_the_harness_sees_the_leak(
    registry: DistributionRegistry, quirks_token_registry: Upstream
) -> None:
    """The pre-signed storage answers S3's 400 to a request carrying Authorization, and the
    credential check names the credential that went there."""
    with Site(PROFILES["ecr"], Upstream(registry.port), quirks_token_registry) as site:
        url = site.storage.put(b"blob")
        http = urllib3.PoolManager()
        assert http.request("GET", url).data == b"blob"
        password = authn.Basic("AWS", "ecr-authorization-token")
        leaked = http.request("GET", url, headers={"Authorization": password.header()})
        assert leaked.status == 400
        assert b"Only one auth mechanism allowed" in leaked.data
        with pytest.raises(AssertionError, match=r"Basic AWS:\*\*\* \(ecr's\) sent to storage"):
            site.assert_no_cross_host_credentials()


class _Broken(Behaviour):
    def handle(self, request: Request, *, proxy: QuirkProxy, forward: Forward) -> Response:
        raise RuntimeError("a bug in a behaviour")


def test_a_harness_failure_is_not_a_finding(registry: DistributionRegistry, quirks_token_registry: Upstream) -> None:
    """A bug in a behaviour fails the test as the harness's, whatever the client made of the 500."""
    site = Site(PROFILES["zot"], Upstream(registry.port), quirks_token_registry)
    site.front.behaviours = (_Broken(),)
    with pytest.raises(HarnessError, match="registry: GET /v2/x/tags/list: RuntimeError"), site:  # noqa: PT012
        answer = urllib3.PoolManager().request("GET", f"http://{site.host}/v2/x/tags/list")
        assert answer.status == 500
