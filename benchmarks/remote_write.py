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
import os
import tarfile
import tempfile
from pathlib import Path

from benchmarks import _child
from tests.harness.distribution import DistributionRegistry

MiB = 1 << 20
LIMIT_MIB = 50

CHILD = r"""
import json, time
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
            figures = _child.run(script)
    _child.report_growth("layer", "seconds (hash + upload)", args.size_mib, figures, LIMIT_MIB)


if __name__ == "__main__":
    main()
