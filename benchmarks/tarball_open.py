"""Opening a big ``docker save`` tarball and reading one layer: one scan, against rescanning.

Run with ``.venv/bin/python -m benchmarks.tarball_open [--size-mib 2048 --layers 50]``. Writes a
tarball of one image with ``--layers`` layers of random bytes, then reads the last layer two ways
in fresh processes: with :func:`ocimodel.tarball.image`, which scans the headers once and then
seeks, and with a baseline that, as go-containerregistry does, scans the tarball from the start
for every file it needs (``manifest.json``, the config, the layer). Reported: seconds and bytes
read from the file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ocimodel import empty, layer, mutate, tarball

MiB = 1 << 20

OURS = r"""
import json, time
from pathlib import Path
from ocimodel import tarball
path = Path({path!r})
read = 0
def opener():
    global read
    stream = path.open("rb")
    original = stream.read
    def counted(size=-1):
        global read
        data = original(size)
        read += len(data)
        return data
    stream.read = counted
    return stream
started = time.perf_counter()
image = tarball.image(opener)
with image.layers()[-1].compressed() as stream:
    while stream.read(1 << 20):
        pass
print(json.dumps({{"seconds": time.perf_counter() - started, "bytes": read}}))
"""

RESCANNING = r"""
import json, tarfile, time
from pathlib import Path
path = Path({path!r})
read = 0
def member(name):
    global read
    with path.open("rb") as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        for info in archive:
            if info.name == name:
                data = archive.extractfile(info).read()
                read += stream.tell()
                return data
started = time.perf_counter()
entry = json.loads(member("manifest.json"))[0]
member(entry["Config"])
member(entry["Layers"][-1])
print(json.dumps({{"seconds": time.perf_counter() - started, "bytes": read}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=50)
    args = parser.parse_args()
    each = args.size_mib * MiB // args.layers
    with tempfile.TemporaryDirectory(prefix="ocimodel-bench-") as folder:
        layers = [
            layer.from_files({f"data{i}": os.urandom(each)}, media_type="application/vnd.oci.image.layer.v1.tar")
            for i in range(args.layers)
        ]
        path = Path(folder) / "big.tar"
        tarball.write(path, mutate.append_layers(empty.image, *layers), tag="bench/big:v1")
        del layers
        size_mib = path.stat().st_size / MiB
        rows = []
        for name, script in (("ocimodel (one scan, then seeks)", OURS), ("rescanning baseline", RESCANNING)):
            done = subprocess.run(
                [sys.executable, "-c", script.format(path=str(path))], capture_output=True, text=True, check=True
            )
            figures = json.loads(done.stdout)
            rows.append((name, figures["seconds"], figures["bytes"] / MiB))
    print(f"tarball: {size_mib:.0f} MiB, {args.layers} layers; reading the last layer\n")
    print("| reader | seconds | MiB read from the file |")
    print("| --- | --- | --- |")
    for name, seconds, read in rows:
        print(f"| {name} | {seconds:.3f} | {read:.1f} |")


if __name__ == "__main__":
    main()
