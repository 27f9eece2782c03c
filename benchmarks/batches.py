"""Batches against one process per reference: what a script pays to ask about many images.

Run with ``.venv/bin/python -m benchmarks.batches`` (``--count`` references, ``--runs`` counted
runs after one warm-up). Starts the distribution registry on 127.0.0.1 (storage on a tmpfs where
there is one, as :mod:`benchmarks.peers` does), pushes ``count`` small images (a few tags in each
of several repositories), then times, each the median of the runs:

- one ``ocimodel digest -`` reading every reference on stdin (``-j 4``, and ``-j 1``), and one
  ``ocimodel manifest -``;
- one process per reference, one after another, as a shell loop runs them: ``ocimodel digest
  REF``, ``ocimodel manifest REF``, ``skopeo inspect --raw`` (the manifest, which a script then
  hashes) and ``skopeo inspect --format {{.Digest}}`` (which reads the config too).

Prints a Markdown table: wall time, per reference, the requests the registry logged, peak RSS
(of the one batch process; ``—`` for loops) and each row's wall time over the batch's
(``ocimodel digest -``). Writes no file.
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from benchmarks.peers import compile_ocimodel, count_requests, machine, registry_at, scratch_root, timed
from ocimodel import random, remote
from tests.harness.distribution import DistributionRegistry

OCIMODEL = str(Path(sys.executable).with_name("ocimodel"))
SKOPEO_FLAGS = ("--tls-verify=false",)
#: Tags in each repository: a script's list usually names several tags of a few repositories.
TAGS_PER_REPOSITORY = 5


@attrs.frozen
class Way:
    """One way to get the answer for every reference: a batch (one process, the list on stdin)
    or a loop (one process per reference)."""

    name: str
    batch: bool
    argv: Callable[[str], list[str]]  # the command line: for a reference, or (batch) for none


@attrs.frozen
class Figure:
    way: str
    seconds: float
    requests: int
    peak_mib: float | None


WAYS = (
    Way("ocimodel digest - (-j 4)", True, lambda _: [OCIMODEL, "--insecure", "digest", "-"]),
    Way("ocimodel digest - (-j 1)", True, lambda _: [OCIMODEL, "--insecure", "digest", "-j", "1", "-"]),
    Way("ocimodel manifest - (-j 4)", True, lambda _: [OCIMODEL, "--insecure", "manifest", "-"]),
    Way("ocimodel digest REF, each", False, lambda ref: [OCIMODEL, "--insecure", "digest", ref]),
    Way("ocimodel manifest REF, each", False, lambda ref: [OCIMODEL, "--insecure", "manifest", ref]),
    Way(
        "skopeo inspect --raw, each",
        False,
        lambda ref: ["skopeo", "inspect", *SKOPEO_FLAGS, "--raw", f"docker://{ref}"],
    ),
    Way(
        "skopeo inspect --format {{.Digest}}, each",
        False,
        lambda ref: ["skopeo", "inspect", *SKOPEO_FLAGS, "--format", "{{.Digest}}", f"docker://{ref}"],
    ),
)
BASELINE = WAYS[0].name


def seed(registry: DistributionRegistry, count: int) -> dict[str, str]:
    """``count`` small images, each its own, by reference: their digests."""
    digests = {}
    for number in range(count):
        reference = f"{registry.host}/batch/repo{number // TAGS_PER_REPOSITORY}:tag{number % TAGS_PER_REPOSITORY}"
        image = random.image(256, 1, seed=number)
        remote.write(reference, image)
        digests[reference] = str(image.digest())
    return digests


def check(way: Way, references: Sequence[str], digests: dict[str, str], listing: Path) -> None:
    """Run ``way`` once and check what it printed: every answer right, in order."""
    if way.batch:
        with listing.open("rb") as stdin:
            done = subprocess.run(way.argv(""), stdin=stdin, capture_output=True, check=False)
        outputs = done.stdout.decode().splitlines()
        if "manifest" in way.name:
            import json

            found = [json.loads(line)["digest"] for line in outputs]
        else:
            found = [line.split()[1] for line in outputs]
    else:
        found = []
        for reference in references[:3]:  # a few: the loop is timed, not checked, past them
            done = subprocess.run(way.argv(reference), capture_output=True, check=False)
            answer = done.stdout
            if "raw" in way.name or "manifest" in way.name:
                found.append("sha256:" + hashlib.sha256(answer).hexdigest())
            else:
                found.append(answer.decode().strip())
            if done.returncode != 0:
                break
        references = references[: len(found)]
    if done.returncode != 0 or found != [digests[r] for r in references]:
        raise RuntimeError(f"{way.name}: wrong answers (status {done.returncode}): {done.stderr.decode()[-1000:]}")


def measure(way: Way, references: Sequence[str], listing: Path, registry: DistributionRegistry) -> Figure:
    since = registry.log_path.stat().st_size
    if way.batch:
        # through sh, which execs the command, stdin the list: peers' timer measures that process
        command = f"exec {shlex.join(way.argv(''))} < {shlex.quote(str(listing))} > /dev/null"
        seconds, _cpu, peak = timed(["sh", "-c", command])
        return Figure(way.name, seconds, count_requests(registry, since), peak)
    started = time.perf_counter()
    for reference in references:
        subprocess.run(way.argv(reference), stdout=subprocess.DEVNULL, check=True)
    return Figure(way.name, time.perf_counter() - started, count_requests(registry, since), None)


def table(figures: dict[str, list[Figure]], count: int, runs: int) -> str:
    base = statistics.median(f.seconds for f in figures[BASELINE])
    lines = [
        f"`python -m benchmarks.batches`, {time.strftime('%Y-%m-%d')}: {count} references "
        f"({TAGS_PER_REPOSITORY} tags a repository), median of {runs} runs. Machine: {machine()}.",
        "",
        "| way | processes | wall s | ms per reference | requests | peak RSS MiB | ratio to the batch |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for way in WAYS:
        found = figures[way.name]
        seconds = statistics.median(f.seconds for f in found)
        requests = round(statistics.median(f.requests for f in found))
        peaks = [f.peak_mib for f in found if f.peak_mib is not None]
        peak = f"{max(peaks):.1f}" if peaks else "—"
        lines.append(
            f"| `{way.name}` | {1 if way.batch else count} | {seconds:.2f} | {1000 * seconds / count:.1f} | "
            f"{requests} | {peak} | {seconds / base:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="references asked about")
    parser.add_argument("--runs", type=int, default=3, help="counted runs (after one warm-up)")
    args = parser.parse_args()
    compile_ocimodel()
    with tempfile.TemporaryDirectory(prefix="ocimodel-batches-", dir=scratch_root()) as folder:
        scratch = Path(folder)
        with registry_at(scratch / "registry") as registry:
            digests = seed(registry, args.count)
            references = list(digests)
            listing = scratch / "references.txt"
            listing.write_text("".join(f"{reference}\n" for reference in references))
            figures: dict[str, list[Figure]] = {}
            for way in WAYS:
                check(way, references, digests, listing)  # and the warm-up
                figures[way.name] = [measure(way, references, listing, registry) for _ in range(args.runs)]
                middle = statistics.median(f.seconds for f in figures[way.name])
                print(f"{way.name:45} {middle:7.2f} s", file=sys.stderr, flush=True)
    print(table(figures, args.count, args.runs))


if __name__ == "__main__":
    main()
