"""Reading a 1 GiB layer from the real registry: throughput and peak memory.

Run with ``.venv/bin/python -m benchmarks.remote_read [--size-mib 1024]``. Starts the distribution
registry on 127.0.0.1, uploads one blob of random bytes (streamed, so this process stays small
too), then, in a fresh process, reads it through ``remote.layer(...).compressed()`` (resumable,
verified) in 1 MiB reads. Peak memory growth must stay under 50 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

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
def high_water_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
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
        result = subprocess.run(
            [sys.executable, "-c", CHILD.format(reference=reference)], capture_output=True, text=True, check=True
        )
    figures = json.loads(result.stdout)
    growth = (figures["peak_kib"] - figures["base_kib"]) / 1024
    print("| blob | seconds | MiB/s | peak RSS MiB | growth MiB |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| {args.size_mib} MiB | {figures['seconds']:.2f} | {args.size_mib / figures['seconds']:.0f} "
        f"| {figures['peak_kib'] / 1024:.1f} | {growth:.1f} |"
    )
    if growth >= LIMIT_MIB:
        raise SystemExit(f"peak memory grew by {growth:.1f} MiB, at or over {LIMIT_MIB} MiB")


if __name__ == "__main__":
    main()
