"""Reading a 1 GiB layer from the real registry: throughput and peak memory.

Run with ``.venv/bin/python -m benchmarks.remote_read [--size-mib 1024]``. Starts the distribution
registry on 127.0.0.1, uploads one blob of random bytes (streamed, so this process stays small
too), then, in a fresh process, reads it through ``remote.layer(...).compressed()`` (resumable,
verified) in 1 MiB reads. Peak memory growth must stay under 50 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks import _child
from ocimodel._streams import Reader, binary
from ocimodel.hashing import Hash
from ocimodel.name import Repository
from ocimodel.transport import Client
from tests.harness.distribution import DistributionRegistry

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MiB = 1 << 20
LIMIT_MIB = 50

CHILD = r"""
import json, time
from ocimodel import remote
made = remote.layer({reference!r})
base = high_water_kib()
started = time.perf_counter()
with made.compressed() as stream:
    while stream.read(1 << 20):
        pass
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "base_kib": base, "peak_kib": high_water_kib()}}))
"""


class RandomStream(Reader):
    """``size`` random bytes, hashed as they are read."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.left = size
        self.hasher = hashlib.sha256()

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = os.urandom(min(len(view), self.left, 4 * MiB))
        view[: len(data)] = data
        self.left -= len(data)
        self.hasher.update(data)
        return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * MiB
    with (
        tempfile.TemporaryDirectory(prefix="ocimodel-bench-") as folder,
        DistributionRegistry(Path(folder)) as registry,
    ):
        client = Client(registry.host)
        repository = Repository(f"{registry.host}/bench/big")
        source = RandomStream(size)
        upload = client.start_upload(repository)
        state = client.patch_upload(repository, upload.location, binary(source))
        digest = Hash("sha256", source.hasher.hexdigest())
        client.finish_upload(repository, state.location, digest)
        reference = f"{registry.host}/bench/big@{digest}"
        figures = _child.run(CHILD.format(reference=reference))
    _child.report_growth("blob", "seconds", args.size_mib, figures, LIMIT_MIB)


if __name__ == "__main__":
    main()
