"""Building a layer from a big tar: throughput and peak memory for each compressor.

Run with ``.venv/bin/python -m benchmarks.layers [--size-mib 512]``. A tar of half random, half
repetitive text is made once; then, each in a fresh process (so peak memory is its own), a layer
is made from it with :func:`ocimodel.layer.from_file` and its digest asked for: one pass that
compresses into a temporary file and hashes both sides. The gzip backend is asked for by name
(``compression_backend=``; the default is the standard library's zlib, whose digests are the same
on every machine). Reading the compressed form afterwards (what an upload does) must not compress
again, so it is timed too. Peak memory must stay under 100 MiB.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import tarfile
import time
from pathlib import Path

from benchmarks import _child

OUT = Path(__file__).resolve().parent / "out"
MiB = 1 << 20
LIMIT_MIB = 100

# name, media type, the backend asked for (None: the default)
CASES = [
    ("gzip (stdlib zlib, the default)", "application/vnd.oci.image.layer.v1.tar+gzip", None),
    ("gzip (zlib-ng)", "application/vnd.oci.image.layer.v1.tar+gzip", "zlib-ng"),
    ("gzip (isal)", "application/vnd.oci.image.layer.v1.tar+gzip", "isal"),
    ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd", None),
    ("none (plain tar)", "application/vnd.oci.image.layer.v1.tar", None),
]

CHILD = r"""
import json, sys, time
from ocimodel import layer
from ocimodel.compression import gzip_backend, zstd_backends
base = high_water_kib()
made = layer.from_file({path!r}, media_type={media_type!r}, compression_backend={backend!r})
started = time.perf_counter()
made.digest()
built = time.perf_counter() - started
started = time.perf_counter()
with made.compressed() as stream:
    while stream.read(1 << 20):
        pass
reread = time.perf_counter() - started
peak = high_water_kib()
print(json.dumps({{"build": built, "reread": reread, "size": made.size(), "base_kib": base, "peak_kib": peak,
                  "gzip": gzip_backend({backend!r}), "zstd": (zstd_backends() or ["-"])[0]}}))
"""


def make_tar(path: Path, size: int) -> None:
    """A tar of ``size`` bytes of content: random files and text files, alternating."""
    if path.exists() and path.stat().st_size >= size:
        return
    text = b"".join(b"line %d of a log that repeats itself quite a lot\n" % i for i in range(20000))
    with tarfile.open(path, "w") as archive:
        written, index = 0, 0
        while written < size:
            data = os.urandom(8 * MiB) if index % 2 == 0 else (text * (8 * MiB // len(text) + 1))[: 8 * MiB]
            info = tarfile.TarInfo(f"data/file-{index:04d}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            written += len(data)
            index += 1


def hash_floor(path: Path) -> float:
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(MiB):
            digest.update(chunk)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    tar = OUT / f"layer-input-{args.size_mib}MiB.tar"
    make_tar(tar, args.size_mib * MiB)
    size_mib = tar.stat().st_size / MiB
    floor = hash_floor(tar)
    rows = []
    for name, media_type, backend in CASES:
        script = CHILD.format(backend=backend, path=str(tar), media_type=media_type)
        figures = _child.run(script)
        rows.append(
            {
                "compressor": name,
                "backend": figures["gzip"] if "gzip" in name else figures["zstd"] if name == "zstd" else "-",
                "build_s": round(figures["build"], 3),
                "MiB_per_s": round(size_mib / figures["build"], 1),
                "ratio_to_sha256_floor": round(figures["build"] / floor, 2),
                "compressed_MiB": round(figures["size"] / MiB, 1),
                "reread_s": round(figures["reread"], 3),
                "peak_rss_MiB": round(figures["peak_kib"] / 1024, 1),
                "rss_growth_MiB": round((figures["peak_kib"] - figures["base_kib"]) / 1024, 1),
            }
        )
    with (OUT / "layers.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"input: {size_mib:.0f} MiB tar; sha256 of it alone: {floor:.3f} s ({size_mib / floor:.0f} MiB/s)\n")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + " --- |" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(value) for value in row.values()) + " |")
    over = [row["compressor"] for row in rows if float(row["peak_rss_MiB"]) >= LIMIT_MIB]
    if over:
        raise SystemExit(f"peak memory at or over {LIMIT_MIB} MiB: {', '.join(map(str, over))}")


if __name__ == "__main__":
    main()
