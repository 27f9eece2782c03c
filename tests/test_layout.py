"""OCI image layouts: round trips, index.json edits, gc, verification, crashes and concurrency."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings

from ocimodel import empty, layout, mutate, random, remote, validate
from ocimodel.errors import DigestMismatch, NoSuchBlob
from ocimodel.hashing import Hash
from ocimodel.hypothesis import images
from ocimodel.image import Image
from ocimodel.layout import REF_NAME, Layout
from ocimodel.platform import Platform
from tests.harness import skopeo

ROOT = Path(__file__).resolve().parent.parent


@settings(max_examples=15)
@given(images())
def test_image_round_trips_through_a_layout(tmp_path_factory: pytest.TempPathFactory, image: Image) -> None:
    place = Layout(tmp_path_factory.mktemp("layout"))
    place.append_image(image, annotations={REF_NAME: "v1"})
    ((_, read),) = place.images()
    assert read.digest() == image.digest()
    assert read.media_type() == image.media_type()
    validate.image(read)
    validate.index(place.image_index())


def test_layout_write_keeps_the_index_itself(tmp_path: Path) -> None:
    amd, arm = random.image(100, 2, seed=1), random.image(100, 2, seed=2)
    nested = mutate.append_manifests(empty.index, mutate.IndexAddendum(arm, platform=Platform.parse("linux/arm64")))
    index = mutate.append_manifests(
        empty.index, mutate.IndexAddendum(amd, platform=Platform.parse("linux/amd64")), nested
    )
    written = layout.write(tmp_path / "out", index)
    assert (tmp_path / "out" / "index.json").read_bytes() == index.raw_manifest()
    assert json.loads((tmp_path / "out" / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    read = written.image_index()
    assert read.digest() == index.digest()
    assert read.image_for(Platform.parse("linux/arm64")).digest() == arm.digest()
    validate.index(read)


def test_index_json_edits(tmp_path: Path) -> None:
    place = Layout(tmp_path)
    first, second, third = (random.image(100, 1, seed=s) for s in (3, 4, 5))
    place.append_image(first, annotations={REF_NAME: "first"})
    place.append_image(
        second, annotations={REF_NAME: "second"}, platform=Platform.parse("linux/arm64"), urls=["https://example.com/x"]
    )
    entries = place.image_index().index_manifest().manifests
    assert [e.annotations[REF_NAME] for e in entries] == ["first", "second"]
    assert str(entries[1].platform) == "linux/arm64"
    assert entries[1].urls == ("https://example.com/x",)
    place.replace_image(third, lambda d: d.annotations.get(REF_NAME) == "first", annotations={REF_NAME: "first"})
    assert {e.digest for e in place.image_index().index_manifest().manifests} == {second.digest(), third.digest()}
    index = random.index(100, 1, 2, seed=6)
    place.append_index(index, annotations={REF_NAME: "many"})
    place.remove_descriptors(lambda d: d.annotations.get(REF_NAME) == "second")
    removed = set(place.gc())
    assert second.digest() in removed
    assert first.digest() in removed
    assert {each.digest() for each in second.layers()} <= removed
    validate.index(place.image_index())
    assert place.gc() == []


def test_write_blob_is_atomic_verified_and_skipped_when_present(tmp_path: Path) -> None:
    place = Layout(tmp_path)
    data = b"some blob"
    digest = Hash.sha256(data)
    place.write_blob(digest, io.BytesIO(data))
    path = place.blob_path(digest)
    before = path.stat().st_mtime_ns
    time.sleep(0.01)
    place.write_blob(digest, io.BytesIO(b"never read"))
    assert path.stat().st_mtime_ns == before
    wrong = Hash.sha256(b"other")
    with pytest.raises(DigestMismatch):
        place.write_blob(wrong, io.BytesIO(b"not other"))
    assert not place.has(wrong)
    assert list(tmp_path.rglob("*.partial")) == []


def test_reads_are_verified_and_links_refused(tmp_path: Path) -> None:
    place = Layout(tmp_path)
    image = random.image(1000, 1, seed=7)
    place.append_image(image)
    target = place.blob_path(image.layers()[0].digest())
    tampered = bytearray(target.read_bytes())
    tampered[-5] ^= 1
    target.write_bytes(bytes(tampered))
    ((_, read),) = place.images()
    with pytest.raises(DigestMismatch), read.layers()[0].compressed() as stream:
        stream.read()
    config = place.blob_path(image.config_name())
    config.rename(tmp_path / "elsewhere")
    config.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(NoSuchBlob, match="not a regular file"):
        Layout(tmp_path).image(image.digest()).raw_config_file()


def test_a_layout_is_a_pull_sink(registry: object, tmp_path: Path) -> None:
    from tests.harness.distribution import DistributionRegistry

    assert isinstance(registry, DistributionRegistry)
    image = random.image(5000, 2, seed=8)
    remote.write(f"{registry.host}/layout/pull:v1", image)
    place = Layout(tmp_path / "pulled")
    fetched = remote.image(f"{registry.host}/layout/pull:v1")
    remote.pull(fetched, place)
    place.append_descriptor(fetched.descriptor())
    ((_, read),) = place.images()
    assert read.digest() == image.digest()
    validate.image(read)
    remote.write(f"{registry.host}/layout/pushed:v1", read)
    assert remote.head(f"{registry.host}/layout/pushed:v1").digest == image.digest()


APPENDER = textwrap.dedent(
    """
    import sys
    from ocimodel import random
    from ocimodel.layout import Layout, REF_NAME
    place, name, count, size = Layout(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    for i in range(count):
        place.append_image(random.image(size, 1, seed=hash((name, i)) & 0xFFFF), annotations={REF_NAME: f"{name}-{i}"})
        print(i, flush=True)
    """
)


def test_concurrent_appenders_lose_nothing(tmp_path: Path) -> None:
    runs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(tmp_path), name, "8", "2000"], cwd=ROOT)
        for name in ("a", "b")
    ]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    names = {e.annotations[REF_NAME] for e in Layout(tmp_path).image_index().index_manifest().manifests}
    assert names == {f"{n}-{i}" for n in "ab" for i in range(8)}
    validate.index(Layout(tmp_path).image_index())


def test_a_writer_killed_half_way_leaves_a_valid_layout(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    run = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(tmp_path / "layout"), "big", "50", "3000000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert run.stdout is not None
    run.stdout.readline()  # one image is in
    time.sleep(0.3)  # and the next one is being written
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    run.stdout.close()
    assert list(scratch.iterdir()) == []  # the layer compressed for its digest had no name: gone
    place = Layout(tmp_path / "layout")
    entries = place.image_index().index_manifest().manifests
    assert len(entries) >= 1
    validate.index(place.image_index())
    place.gc()
    validate.index(place.image_index())


def test_missing_layout_says_so(tmp_path: Path) -> None:
    with pytest.raises(NoSuchBlob, match=r"no index\.json"):
        Layout(tmp_path / "nothing").image_index()
    assert not (tmp_path / "nothing").exists()  # reading creates nothing


def test_skopeo_and_layouts_both_ways(registry: object, tmp_path: Path) -> None:

    from ocimodel.mediatype import MediaType
    from tests.harness.distribution import DistributionRegistry

    assert isinstance(registry, DistributionRegistry)
    image = mutate.config_media_type(
        mutate.media_type(random.image(3000, 2, seed=9), MediaType.OCI_MANIFEST), MediaType.OCI_CONFIG
    )
    ours = Layout(tmp_path / "ours")
    ours.append_image(image, annotations={REF_NAME: "v1"})
    copied = skopeo.copy(f"oci:{ours.path}:v1", f"docker://{registry.host}/layout/skopeo:v1")
    assert copied == str(image.digest())
    skopeo.copy(f"docker://{registry.host}/layout/skopeo:v1", f"oci:{tmp_path / 'theirs'}:v1")
    theirs = Layout(tmp_path / "theirs")
    validate.index(theirs.image_index())
    ((_, read),) = theirs.images()
    assert read.digest() == image.digest()
