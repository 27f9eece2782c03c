"""Foundation micro-benchmarks: what verification and parsing cost next to their floors.

Run with ``.venv/bin/python -m benchmarks.foundation``. Each row is the median of several runs,
with the ratio to the floor it is compared against (plain ``hashlib``, plain ``json.loads``), so
the numbers mean something on any machine.
"""

from __future__ import annotations

import hashlib
import io
import json
import statistics
import time
from collections.abc import Callable

from ocimodel.descriptor import Descriptor
from ocimodel.hashing import Hash, VerifyingReader
from ocimodel.manifest import Manifest
from ocimodel.mediatype import MediaType
from ocimodel.name import parse_reference

MiB = 1 << 20
RUNS = 5


def median_seconds(work: Callable[[], object], runs: int = RUNS) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def hash_floor(data: bytes) -> None:
    hasher = hashlib.sha256()
    view = memoryview(data)
    for offset in range(0, len(data), MiB):
        hasher.update(view[offset : offset + MiB])
    hasher.hexdigest()


def verified_read(data: bytes, digest: Hash) -> None:
    reader = VerifyingReader(io.BytesIO(data), digest, len(data))
    buffer = bytearray(MiB)
    while reader.readinto(buffer):
        pass
    assert reader.verified


def sample_manifest(layers: int) -> bytes:
    descriptors = [Descriptor(MediaType.OCI_LAYER_GZIP, 100 * 1024 + i, Hash.sha256(b"%d" % i)) for i in range(layers)]
    config = Descriptor(MediaType.OCI_CONFIG, 1234, Hash.sha256(b"config"))
    return Manifest(media_type=MediaType.OCI_MANIFEST, config=config, layers=descriptors).to_json()


def main() -> None:
    rows: list[tuple[str, str, float, float | None]] = []

    data = bytes(range(256)) * (256 * MiB // 256)
    digest = Hash.sha256(data)
    floor = median_seconds(lambda: hash_floor(data))
    ours = median_seconds(lambda: verified_read(data, digest))
    rows.append(("verify 256 MiB (1 MiB reads)", f"{256 / ours:.0f} MiB/s", ours, ours / floor))

    raw = sample_manifest(50)
    count = 2000
    floor = median_seconds(lambda: [json.loads(raw) for _ in range(count)])
    ours = median_seconds(lambda: [Manifest.from_json(raw) for _ in range(count)])
    rows.append(("parse a 50-layer manifest", f"{count / ours:.0f} /s", ours / count, ours / floor))

    texts = [f"registry.example.com:5000/team/app{i}:v{i}" for i in range(count)]
    ours = median_seconds(lambda: [parse_reference(text) for text in texts])
    rows.append(("parse a reference", f"{count / ours:.0f} /s", ours / count, None))

    print("| operation | rate | median seconds (per item) | ratio to floor |")
    print("| --- | --- | --- | --- |")
    for operation, rate, seconds, ratio in rows:
        print(f"| {operation} | {rate} | {seconds:.6f} | {'-' if ratio is None else f'{ratio:.2f}'} |")


if __name__ == "__main__":
    main()
