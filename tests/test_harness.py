"""The registry harness itself, proven with plain urllib3 before any client code exists."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urljoin

import pytest
import urllib3

from tests.harness.distribution import DistributionRegistry, RegistryStartError

pytestmark = pytest.mark.registry


def _upload(http: urllib3.PoolManager, base: str, repo: str, blob: bytes, digest: str) -> urllib3.BaseHTTPResponse:
    started = http.request("POST", f"{base}/v2/{repo}/blobs/uploads/")
    assert started.status == 202, started.data
    location = urljoin(base, started.headers["Location"])
    separator = "&" if "?" in location else "?"
    return http.request(
        "PUT",
        f"{location}{separator}digest={digest}",
        body=blob,
        headers={"Content-Type": "application/octet-stream"},
    )


def test_blob_pushed_and_read_back_through_the_real_registry(registry: DistributionRegistry) -> None:
    http = urllib3.PoolManager()
    blob = os.urandom(64 * 1024)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()

    committed = _upload(http, registry.url, "harness/smoke", blob, digest)
    assert committed.status == 201
    assert committed.headers["Docker-Content-Digest"] == digest

    head = http.request("HEAD", f"{registry.url}/v2/harness/smoke/blobs/{digest}")
    assert head.status == 200
    assert int(head.headers["Content-Length"]) == len(blob)
    fetched = http.request("GET", f"{registry.url}/v2/harness/smoke/blobs/{digest}")
    assert fetched.status == 200
    assert fetched.data == blob
    ranged = http.request("GET", f"{registry.url}/v2/harness/smoke/blobs/{digest}", headers={"Range": "bytes=5-9"})
    assert ranged.status == 206
    assert ranged.data == blob[5:10]


def test_registry_refuses_a_blob_whose_digest_is_wrong(registry: DistributionRegistry) -> None:
    http = urllib3.PoolManager()
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    refused = _upload(http, registry.url, "harness/wrong", b"payload", wrong)
    assert refused.status == 400
    assert b"DIGEST_INVALID" in refused.data
    missing = http.request("HEAD", f"{registry.url}/v2/harness/wrong/blobs/{wrong}")
    assert missing.status == 404


def test_registry_stops_and_frees_its_port(tmp_path: Path) -> None:
    http = urllib3.PoolManager(retries=False, timeout=2.0)
    with DistributionRegistry(tmp_path / "own") as own:
        assert http.request("GET", f"{own.url}/v2/").status == 200
        url = own.url
    assert not own.running
    with pytest.raises(urllib3.exceptions.HTTPError):
        http.request("GET", f"{url}/v2/")


def test_a_registry_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    broken = DistributionRegistry(tmp_path / "broken", extra_config="storage: [this is not a mapping\n")
    with pytest.raises(RegistryStartError, match="exited with status"):
        broken.start()
    assert not broken.running
