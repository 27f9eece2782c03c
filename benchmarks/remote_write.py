"""Pushing a 1 GiB layer to the real registry: throughput and peak memory.

Run with ``.venv/bin/python -m benchmarks.remote_write [--size-mib 1024]``. Starts the
distribution registry on 127.0.0.1, writes a tar file of random bytes, and in a fresh process
pushes an image holding it as an uncompressed OCI layer (so compression does not blur the figure)
with ``remote.write``: one hashing pass for the digest, then chunked, resumable uploads. Peak
memory growth must stay under 50 MiB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from tests.harness.distribution import DistributionRegistry

MiB = 1 << 20
LIMIT_MIB = 50

CHILD = r"""
import json, time
def high_water_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
from ocimodel import empty, layer, mutate, remote
made = layer.from_file({path!r}, media_type="application/vnd.oci.image.layer.v1.tar")
image = mutate.append_layers(empty.image, made)
base = high_water_kib()
started = time.perf_counter()
remote.write({reference!r}, image, **{options!r})
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "base_kib": base, "peak_kib": high_water_kib()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=8, help="chunk size of chunked uploads")
    parser.add_argument("--chunked-from-mib", type=int, default=128, help="blobs over this are sent in chunks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ocimodel-bench-") as folder:
        tar = Path(folder) / "big.tar"
        with tarfile.open(tar, "w") as archive:
            for index in range(args.size_mib // 64 or 1):
                data = os.urandom(64 * MiB)
                info = tarfile.TarInfo(f"data/{index:04d}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        with DistributionRegistry(Path(folder) / "registry") as registry:
            options = {"chunk_size": args.chunk_mib * MiB, "chunked_threshold": args.chunked_from_mib * MiB}
            script = CHILD.format(path=str(tar), reference=f"{registry.host}/bench/push:v1", options=options)
            result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout)
    growth = (figures["peak_kib"] - figures["base_kib"]) / 1024
    print("| layer | seconds (hash + upload) | MiB/s | peak RSS MiB | growth MiB |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| {args.size_mib} MiB | {figures['seconds']:.2f} | {args.size_mib / figures['seconds']:.0f} "
        f"| {figures['peak_kib'] / 1024:.1f} | {growth:.1f} |"
    )
    if growth >= LIMIT_MIB:
        raise SystemExit(f"peak memory grew by {growth:.1f} MiB, at or over {LIMIT_MIB} MiB")


if __name__ == "__main__":
    main()
