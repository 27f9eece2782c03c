"""Copying every tag of a repository (``remote.copy_repository``, ``ocimodel copy --all-tags``) and
listing in pages: across pages, where a registry refuses the page size asked for, without
re-authenticating or re-probing shared blobs per tag, and stopping at the first tag that fails.

The real distribution registry throughout; its tag lists come whole (distribution 2.8 does not
page them), so pages are made by a quirk site in front of it; its catalog it pages itself.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from ocimodel import authn, empty, mutate, random, remote
from ocimodel.errors import NoMatchingPlatform
from ocimodel.image import Image
from ocimodel.index import ImageIndex
from ocimodel.mutate import IndexAddendum
from ocimodel.platform import Platform
from ocimodel.remote import _repository
from tests.harness.distribution import DistributionRegistry
from tests.harness.faultproxy import FaultProxy
from tests.harness.quirk_behaviours import Paginate
from tests.harness.quirk_site import Site, Upstream
from tests.harness.quirks import Profile
from tests.harness.tokenserver import PASSWORD, USER, TokenServer

pytestmark = pytest.mark.registry

#: Tags in pages of two; a page of more than three is refused with 400 (ECR refuses over 1000).
PAGED = Profile("paged", "a registry with small pages and a cap on n", (Paginate(2, max_n=3),))


def family(seed: int, count: int) -> list[Image]:
    """``count`` images sharing a base layer, each with a layer of its own."""
    base = random.image(500, 1, seed=seed)
    return [mutate.append_layers(base, random.layer(200, seed=seed + 1 + n)) for n in range(count)]


def seed_tags(repository: str, images: list[Image]) -> dict[str, str]:
    """Push ``images`` as ``t0``, ``t1``, …; their digests by tag."""
    session = remote.Session()
    for number, image in enumerate(images):
        remote.write(f"{repository}:t{number}", image, session=session)
    return {f"t{number}": str(image.digest()) for number, image in enumerate(images)}


def digests(repository: str, tags: Iterator[str] | list[str]) -> dict[str, str]:
    return {tag: str(remote.head(f"{repository}:{tag}").digest) for tag in tags}


def test_every_tag_is_copied_across_pages_where_the_registry_refuses_the_page_size(
    registry: DistributionRegistry,
) -> None:
    """Five tags in pages of two: the first page asked for 1000 names is refused (400), asked
    again in the registry's own size, and every page after it followed; each tag copied, once."""
    wanted = seed_tags(f"{registry.host}/paged/src", family(1801, 5))
    with Site(PAGED, Upstream(registry.port)) as site:
        reported: list[str] = []
        remote.copy_repository(
            f"{site.host}/paged/src", f"{site.host}/paged/dst", copied=lambda tag, _: reported.append(tag)
        )
        listings = [seen for seen in site.log if "/paged/src/tags/list" in seen.target]
    assert sorted(reported) == sorted(wanted)
    assert digests(f"{registry.host}/paged/dst", list(wanted)) == wanted
    assert [(seen.target.partition("?")[2], seen.status) for seen in listings] == [
        ("n=1000", 400),
        ("", 200),
        ("n=2&last=t1", 200),
        ("n=2&last=t3", 200),
    ]
    with Site(PAGED, Upstream(registry.port)) as site:
        assert remote.list_tags(f"{site.host}/paged/src", page_size=3) == sorted(wanted)  # a size it takes


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionRegistry]:
    """A registry whose catalog pages hold at most three names (``maxentries``), with seven repositories."""
    with DistributionRegistry(
        tmp_path_factory.mktemp("small-catalog"), extra_config="catalog:\n  maxentries: 3\n"
    ) as r:
        image = random.image(100, 1, seed=1802)
        session = remote.Session()
        for number in range(7):
            remote.write(f"{r.host}/listed/r{number}:v1", image, session=session)
        yield r


def test_a_catalog_whose_page_size_is_refused_is_listed_in_the_registrys_own(
    small_catalog: DistributionRegistry,
) -> None:
    """distribution refuses ``n`` over its ``maxentries`` (400 ``PAGINATION_NUMBER_INVALID``): the
    catalog is asked again without ``n`` and its ``Link`` pages followed, by the library and the CLI."""
    names = [f"listed/r{number}" for number in range(7)]
    assert remote.catalog(small_catalog.host) == names
    assert remote.catalog(small_catalog.host, page_size=2) == names
    assert remote.catalog(small_catalog.host, page_size=None) == names
    done = subprocess.run(
        [sys.executable, "-m", "ocimodel", "catalog", small_catalog.host], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout.split()) == (0, names), done.stderr


def test_token_exchanges_do_not_grow_with_the_tags(
    token_registry: DistributionRegistry, token_server: TokenServer
) -> None:
    """Behind token auth, copying six tags at once asks the token server as often as copying one
    (a token per scope set, kept for the session: threads that need it at the same time wait for
    one exchange rather than each making its own)."""
    auth = authn.Basic(USER, PASSWORD)
    images = family(1803, 6)
    session = remote.Session(auth=auth)
    for number, image in enumerate(images):
        remote.write(f"{token_registry.host}/tokens/many:t{number}", image, session=session)
    remote.write(f"{token_registry.host}/tokens/one:t0", images[0], session=session)
    exchanges = {}
    for name in ("one", "many"):
        before = token_server.count()
        copy = f"{token_registry.host}/tokens/{name}-copy"
        remote.copy_repository(f"{token_registry.host}/tokens/{name}", copy, auth=auth, jobs=4)
        exchanges[name] = token_server.count() - before
    assert exchanges["many"] == exchanges["one"]
    wanted = {f"t{number}": str(image.digest()) for number, image in enumerate(images)}
    copied = {tag: str(remote.head(f"{copy}:{tag}", session=session).digest) for tag in wanted}
    assert copied == wanted


def test_a_shared_blob_is_probed_once_per_writer_span(
    distribution_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tags share their base layer: one writer moves it once for all the tags it copies, and a
    fresh writer every ``WRITER_SPAN`` tags (memory stays flat) asks for it once more."""
    monkeypatch.setattr(_repository, "WRITER_SPAN", 2)
    host = distribution_proxy.host
    images = family(1804, 5)
    wanted = seed_tags(f"{host}/span/src", images)
    distribution_proxy.reset()
    remote.copy_repository(f"{host}/span/src", f"{host}/span/dst", jobs=3)
    shared = images[0].manifest().layers[0].digest.hex
    # asked for once per writer (a HEAD, or a mount asked for at once): tags 0-1, 2-3, 4
    assert len(distribution_proxy.requests(None, rf"^/v2/span/dst/blobs/.*{shared}")) == 3
    assert len(distribution_proxy.requests("GET", "/v2/span/src/manifests/")) == 5  # each tag's manifest, once
    assert digests(f"{host}/span/dst", list(wanted)) == wanted


def test_tags_of_one_index_put_each_child_manifest_once(distribution_proxy: FaultProxy) -> None:
    """Four tags naming one index, copied at once on one writer: each child manifest is put
    once, not once a tag and at the same moment (distribution reads a manifest being written
    again as missing, and then refuses the index that names it: MANIFEST_BLOB_UNKNOWN)."""
    host = distribution_proxy.host
    index = random.index(300, 1, 3, seed=1809)
    remote.write_index(f"{host}/children/src:i0", index)
    for number in range(1, 4):
        remote.tag(f"{host}/children/src:i{number}", index)
    distribution_proxy.reset()
    remote.copy_repository(f"{host}/children/src", f"{host}/children/dst", jobs=4)
    children = [str(entry.digest) for entry in index.index_manifest().manifests]
    for child in children:
        assert len(distribution_proxy.requests("PUT", f"^/v2/children/dst/manifests/{child}$")) == 1, child
    assert len(distribution_proxy.requests("PUT", "^/v2/children/dst/manifests/i")) == 4  # each tag, once
    assert digests(f"{host}/children/dst", [f"i{n}" for n in range(4)]) == dict.fromkeys(
        [f"i{n}" for n in range(4)], str(index.digest())
    )


def test_no_clobber_leaves_out_the_tags_the_destination_has(registry: DistributionRegistry) -> None:
    """``copy -a -n`` lists the destination's tags once and copies only the others (crane's
    ``CopyRepository``), printing one line per tag copied; a tag already there keeps its image."""
    images = family(1805, 3)
    wanted = seed_tags(f"{registry.host}/clobber/src", images)
    other = random.image(300, 1, seed=1806)
    remote.write(f"{registry.host}/clobber/dst:t1", other)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocimodel",
            "copy",
            "-a",
            "-n",
            f"{registry.host}/clobber/src",
            f"{registry.host}/clobber/dst",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    repository = f"{registry.host}/clobber/dst"
    assert sorted(done.stdout.split()) == sorted(f"{repository}@{wanted[tag]}" for tag in ("t0", "t2"))
    assert digests(repository, list(wanted)) == {**wanted, "t1": str(other.digest())}
    # into a repository that does not exist yet: nothing to leave out
    remote.copy_repository(f"{registry.host}/clobber/src", f"{registry.host}/clobber/new", no_clobber=True)
    assert digests(f"{registry.host}/clobber/new", list(wanted)) == wanted


def _two_platforms(seed: int) -> tuple[ImageIndex, Image]:
    amd64, arm64 = random.image(300, 1, seed=seed), random.image(300, 1, seed=seed + 1)
    index = mutate.append_manifests(
        empty.index,
        IndexAddendum(amd64, platform=Platform.parse("linux/amd64")),
        IndexAddendum(arm64, platform=Platform.parse("linux/arm64")),
    )
    return index, amd64


def test_platform_only_copies_the_platforms_image_from_each_index(registry: DistributionRegistry) -> None:
    index, amd64 = _two_platforms(1807)
    plain = random.image(300, 1, seed=1809)
    src = f"{registry.host}/platform/src"
    remote.write_index(f"{src}:multi", index)
    remote.write(f"{src}:plain", plain)
    remote.copy_repository(src, f"{registry.host}/platform/whole")
    remote.copy_repository(src, f"{registry.host}/platform/one", platform_only=True)
    assert digests(f"{registry.host}/platform/whole", ["multi", "plain"]) == {
        "multi": str(index.digest()),
        "plain": str(plain.digest()),
    }
    assert digests(f"{registry.host}/platform/one", ["multi", "plain"]) == {
        "multi": str(amd64.digest()),
        "plain": str(plain.digest()),
    }


def test_the_first_tag_that_fails_stops_the_copy_and_is_named(registry: DistributionRegistry) -> None:
    """An index with no image for the platform asked for (linux/amd64): the error names the tag,
    is an OCIError, and the copy stops. With one job, tags are copied in the order listed: every
    tag before the failing one is copied, and after it at most the one already handed to the pool."""
    src = f"{registry.host}/failing/src"
    session = remote.Session()
    arm_only = mutate.append_manifests(
        empty.index, IndexAddendum(random.image(200, 1, seed=1811), platform=Platform.parse("linux/arm64"))
    )
    remote.write_index(f"{src}:e", arm_only, session=session)
    for name, image in zip("abcdfghi", family(1810, 8), strict=True):
        remote.write(f"{src}:{name}", image, session=session)
    with pytest.raises(NoMatchingPlatform, match=r"copying .*/failing/src:e to .*/failing/dst:e: "):
        remote.copy_repository(src, f"{registry.host}/failing/dst", platform_only=True, jobs=1)
    order = remote.list_tags(src)  # distribution lists them newest first
    before, after = set(order[: order.index("e")]), order[order.index("e") + 1 :]
    copied = set(remote.list_tags(f"{registry.host}/failing/dst"))
    assert before <= copied <= before | set(after[:1])
